//! The creates journal: a line is appended before each create and after it completes (its
//! files included), per target. A run killed between the two (SIGKILL, power cut, OOM)
//! leaves a resource that may exist half-made on the target (a project imported but not yet
//! published or shared); the next run finds it there and, instead of adopting it as it is,
//! completes it with `update`. Lines go to the kernel with every append, so a killed process
//! loses none; the file is rewritten at the end of a run with only what is still open.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::state::state_dir;

#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    file: Mutex<Option<std::fs::File>>,
    /// (kind, key) of creates started and not completed by earlier runs
    open: BTreeSet<(String, String)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    /// "started" or "done"
    event: String,
    kind: String,
    key: String,
}

impl Journal {
    /// No journal: nothing is remembered between runs.
    pub fn none() -> Journal {
        Journal {
            path: None,
            file: Mutex::new(None),
            open: BTreeSet::new(),
        }
    }

    /// The journal of one target (`target` identifies it: its base URL), under `dir`.
    pub fn open(dir: PathBuf, target: &str) -> Journal {
        let name = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(target.as_bytes())[..12]);
        let path = dir.join(format!("{name}.jsonl"));
        let open = std::fs::read_to_string(&path)
            .map(|text| still_open(&text))
            .unwrap_or_default();
        let file = std::fs::create_dir_all(&dir)
            .and_then(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
            })
            .and_then(|mut f| {
                // End a torn last line, so the next line stands on its own.
                if std::fs::read(&path).is_ok_and(|b| b.last().is_some_and(|&c| c != b'\n')) {
                    writeln!(f)?;
                }
                Ok(f)
            });
        match file {
            Ok(f) => Journal {
                path: Some(path),
                file: Mutex::new(Some(f)),
                open,
            },
            Err(e) => {
                tracing::warn!(
                    "cannot write the creates journal {}: {e}; a run killed midway may leave half-made resources that a re-run adopts",
                    path.display()
                );
                Journal {
                    path: None,
                    file: Mutex::new(None),
                    open,
                }
            }
        }
    }

    /// The journal of a target under ferry's state directory (see [`crate::state::state_dir`]).
    pub fn for_target(target: &str) -> Journal {
        match state_dir() {
            Some(d) => Journal::open(d, target),
            None => Journal::none(),
        }
    }

    /// Whether an earlier run started creating this resource and did not see it through.
    pub fn unfinished(&self, kind: &str, key: &str) -> bool {
        self.open.contains(&(kind.to_string(), key.to_string()))
    }

    pub fn started(&self, kind: &str, key: &str) {
        self.append("started", kind, key);
    }

    pub fn done(&self, kind: &str, key: &str) {
        self.append("done", kind, key);
    }

    fn append(&self, event: &str, kind: &str, key: &str) {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = guard.as_mut() {
            let line = serde_json::to_string(&Line {
                event: event.into(),
                kind: kind.into(),
                key: key.into(),
            })
            .unwrap_or_default();
            let _ = writeln!(f, "{line}");
        }
    }

    /// Rewrite the file with only the creates still open (after a run).
    pub fn compact(&self) {
        let Some(path) = &self.path else { return };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let body: String = still_open(&text)
            .into_iter()
            .map(|(kind, key)| {
                serde_json::to_string(&Line {
                    event: "started".into(),
                    kind,
                    key,
                })
                .unwrap_or_default()
                    + "\n"
            })
            .collect();
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, body).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

/// The creates a journal's text started and did not finish, as (kind, key). A torn last line
/// (killed mid-write) is ignored.
fn still_open(text: &str) -> BTreeSet<(String, String)> {
    let mut open = BTreeSet::new();
    for line in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
    {
        let k = (line.kind, line.key);
        if line.event == "started" {
            open.insert(k);
        } else {
            open.remove(&k);
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_started_and_not_done_is_unfinished_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().to_path_buf(), "http://t/org/");
        j.started("tag", "a");
        j.started("tag", "b");
        j.done("tag", "a");
        drop(j);
        // A torn last line, as a kill mid-write leaves.
        let path = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"event\":\"do")
            .unwrap();
        let j = Journal::open(dir.path().to_path_buf(), "http://t/org/");
        assert!(j.unfinished("tag", "b") && !j.unfinished("tag", "a"));
        assert!(
            !Journal::open(dir.path().to_path_buf(), "http://other/").unfinished("tag", "b"),
            "per target"
        );
        j.done("tag", "b");
        j.compact();
        assert!(!Journal::open(dir.path().to_path_buf(), "http://t/org/").unfinished("tag", "b"));
    }
}
