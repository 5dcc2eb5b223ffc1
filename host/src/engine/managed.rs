//! What ferry manages on a target: every resource it created or adopted there, recorded per
//! target (one JSON file under ferry's state directory, beside the creates journal), so that
//! `--prune` deletes only what this tool brought, never what someone made by hand. A record
//! keeps what a delete and the reference guard need (id, key, key fields, references), never
//! a secret. The file is replaced whole (write, then rename), so a killed run leaves the old
//! records or the new ones, never a torn file.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// One managed resource on the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub kind: String,
    /// its key on the target
    pub key: String,
    /// its key on the source, when a rule renamed it
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    pub id: String,
    /// "created" or "adopted"
    pub how: String,
    /// the key fields and the fields other kinds reference it by (JSON pointer → value)
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// its own references as it was written
    #[serde(default)]
    pub refs: Vec<RefRecord>,
}

/// One reference a managed resource holds: at `pointer`, to a `kind` resource named by its
/// id, its key, or the value of a field (`by`: "id", "key" or the field's JSON pointer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefRecord {
    pub pointer: String,
    pub kind: String,
    pub by: String,
    pub value: String,
}

impl Record {
    /// The key the source had it under.
    pub fn source_key(&self) -> &str {
        self.source_key.as_deref().unwrap_or(&self.key)
    }

    /// What a delete is given: the id, key and recorded fields.
    pub fn resource(&self) -> crate::plugin::Resource {
        let mut body = serde_json::json!({});
        for (p, v) in &self.fields {
            crate::json::put(&mut body, p, v.clone());
        }
        for r in &self.refs {
            crate::json::put(&mut body, &r.pointer, Value::String(r.value.clone()));
        }
        crate::plugin::Resource::new(&self.kind, &self.id, &self.key, body)
    }
}

#[derive(Debug)]
pub struct Managed {
    path: Option<PathBuf>,
    records: Mutex<BTreeMap<(String, String), Record>>,
}

impl Managed {
    /// No records: nothing is remembered, nothing can be pruned.
    pub fn none() -> Managed {
        Managed {
            path: None,
            records: Mutex::new(BTreeMap::new()),
        }
    }

    /// The records of one target (`target`: its identity), under `dir`. A file that cannot be
    /// read as records is an error: pruning from a guess would be worse than not pruning.
    pub fn open(dir: PathBuf, target: &str) -> anyhow::Result<Managed> {
        let name = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(target.as_bytes())[..12]);
        let path = dir.join(format!("{name}.managed.json"));
        let records = match std::fs::read(&path) {
            Ok(bytes) => {
                let list: Vec<Record> = serde_json::from_slice(&bytes).map_err(|e| {
                    anyhow::anyhow!(
                        "the managed-resources file {} is damaged ({e}); move it away to start the records afresh (nothing will be pruned until they are rebuilt)",
                        path.display()
                    )
                })?;
                list.into_iter()
                    .map(|r| ((r.kind.clone(), r.key.clone()), r))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        Ok(Managed {
            path: Some(path),
            records: Mutex::new(records),
        })
    }

    /// The records of a target under ferry's state directory (see [`crate::state::state_dir`]).
    pub fn for_target(target: &str) -> anyhow::Result<Managed> {
        match crate::state::state_dir() {
            Some(d) => Managed::open(d, target),
            None => Ok(Managed::none()),
        }
    }

    /// Every record, in (kind, key) order.
    pub fn all(&self) -> Vec<Record> {
        self.lock().values().cloned().collect()
    }

    pub fn record(&self, r: Record) {
        self.lock().insert((r.kind.clone(), r.key.clone()), r);
    }

    pub fn forget(&self, kind: &str, key: &str) {
        self.lock().remove(&(kind.to_string(), key.to_string()));
    }

    /// Write the records to disk (a temporary file renamed over the old one).
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(&self.all())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reopen_and_a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = Managed::open(dir.path().into(), "unstract https://prod").unwrap();
        m.record(Record {
            kind: "tag".into(),
            key: "t1".into(),
            source_key: None,
            id: "9".into(),
            how: "created".into(),
            fields: [("/name".to_string(), Value::from("t1"))].into(),
            refs: vec![],
        });
        m.save().unwrap();
        let again = Managed::open(dir.path().into(), "unstract https://prod").unwrap();
        assert_eq!(again.all().len(), 1);
        assert_eq!(
            again.all()[0].resource().body,
            serde_json::json!({"name": "t1"})
        );
        let other = Managed::open(dir.path().into(), "unstract https://qa").unwrap();
        assert!(other.all().is_empty(), "records are per target");
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&file, "{torn").unwrap();
        let err = Managed::open(dir.path().into(), "unstract https://prod").unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
