//! The sandbox's data: per org, one collection of JSON rows per kind, described by a table of
//! [`Spec`]s (route, id field, filters, required, writable and unique fields, paging, secret
//! fields). Generic list / detail / create / update handlers work from the table; the kinds
//! with special behaviour (workflows, prompt studio, files, ...) add to it in `api`.

use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

/// How one kind behaves in the Platform API.
pub struct Spec {
    pub kind: &'static str,
    /// the path below the org, without the trailing slash: `adapter`, `api/deployment`
    pub route: &'static str,
    pub id: &'static str,
    /// DRF-paged (50 a page) even without `page`/`page_size`
    pub paged: bool,
    /// exact-match query filters: (query parameter, field)
    pub filters: &'static [(&'static str, &'static str)],
    pub required: &'static [&'static str],
    /// what `OPTIONS` lists as writable under `actions.POST`, and what POST/PATCH accept
    pub writable: &'static [&'static str],
    /// sets of fields unique together within the org
    pub unique: &'static [&'static [&'static str]],
    /// fields a list row shows (empty: every field but the secret ones)
    pub list_fields: &'static [&'static str],
    /// returned decrypted on detail only
    pub secret: &'static [&'static str],
}

const SHARING: [&str; 3] = ["shared_users", "shared_to_org", "shared_groups"];

pub static SPECS: &[Spec] = &[
    Spec {
        kind: "adapter",
        route: "adapter",
        id: "id",
        paged: false,
        filters: &[
            ("adapter_name", "adapter_name"),
            ("adapter_type", "adapter_type"),
        ],
        required: &[
            "adapter_name",
            "adapter_id",
            "adapter_type",
            "adapter_metadata",
        ],
        writable: &[
            "adapter_name",
            "adapter_id",
            "adapter_type",
            "adapter_metadata",
            "description",
            "is_friction_less",
            "is_usable",
        ],
        unique: &[&["adapter_name", "adapter_type"]],
        list_fields: &[
            "id",
            "adapter_id",
            "adapter_name",
            "adapter_type",
            "description",
            "is_friction_less",
            "is_usable",
            "is_owner",
            "created_by_email",
        ],
        secret: &["adapter_metadata"],
    },
    Spec {
        kind: "connector",
        route: "connector",
        id: "id",
        paged: false,
        filters: &[
            ("connector_name", "connector_name"),
            ("connector_type", "connector_type"),
        ],
        required: &["connector_name", "connector_id", "connector_metadata"],
        writable: &[
            "connector_name",
            "connector_id",
            "connector_metadata",
            "connector_type",
            "connector_mode",
            "workflow",
        ],
        unique: &[&["connector_name"]],
        list_fields: &[
            "id",
            "connector_id",
            "connector_name",
            "connector_type",
            "connector_mode",
            "is_owner",
            "created_by_email",
        ],
        secret: &["connector_metadata"],
    },
    Spec {
        kind: "tag",
        route: "tags",
        id: "id",
        paged: true,
        filters: &[("name", "name")],
        required: &["name"],
        writable: &["name", "description"],
        unique: &[&["name"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "custom_tool",
        route: "prompt-studio",
        id: "tool_id",
        paged: false,
        filters: &[("tool_name", "tool_name")],
        required: &["tool_name"],
        writable: &[
            "tool_name",
            "description",
            "author",
            "icon",
            "output",
            "preamble",
            "postamble",
            "summarize_llm_profile",
            "summarize_context",
            "summarize_as_source",
            "monitor_llm",
            "single_pass_extraction_mode",
            "challenge_llm",
            "enable_challenge",
            "enable_highlight",
            "exclude_failed",
            "prompt_grammer",
        ],
        unique: &[&["tool_name"]],
        list_fields: &[
            "tool_id",
            "tool_name",
            "description",
            "author",
            "icon",
            "created_by_email",
            "is_owner",
        ],
        secret: &[],
    },
    Spec {
        kind: "profile",
        route: "prompt-studio/profile-manager",
        id: "profile_id",
        paged: false,
        filters: &[("tool_id", "prompt_studio_tool")],
        required: &["profile_name", "prompt_studio_tool"],
        writable: &[
            "profile_name",
            "prompt_studio_tool",
            "llm",
            "vector_store",
            "embedding_model",
            "x2text",
            "chunk_size",
            "chunk_overlap",
            "retrieval_strategy",
            "similarity_top_k",
            "section",
            "reindex",
            "is_default",
            "is_summarize_llm",
        ],
        unique: &[&["prompt_studio_tool", "profile_name"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "prompt",
        route: "prompt-studio/prompt",
        id: "prompt_id",
        paged: false,
        filters: &[("tool_id", "tool_id")],
        required: &["prompt_key", "tool_id"],
        writable: &[
            "prompt_key",
            "prompt",
            "enforce_type",
            "tool_id",
            "sequence_number",
            "prompt_type",
            "profile_manager",
            "output",
            "assert_prompt",
            "assertion_failure_prompt",
            "is_assert",
            "active",
            "required",
        ],
        unique: &[&["tool_id", "prompt_key"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "document",
        route: "prompt-studio/prompt-document",
        id: "document_id",
        paged: false,
        filters: &[("tool_id", "tool")],
        required: &["document_name", "tool"],
        writable: &["document_name", "tool"],
        unique: &[&["tool", "document_name"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "registry",
        route: "prompt-studio/registry",
        id: "prompt_registry_id",
        paged: false,
        filters: &[("custom_tool", "custom_tool")],
        required: &[],
        writable: &[],
        unique: &[&["custom_tool"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "workflow",
        route: "workflow",
        id: "id",
        paged: false,
        filters: &[("workflow_name", "workflow_name")],
        required: &["workflow_name"],
        writable: &[
            "workflow_name",
            "description",
            "is_active",
            "deployment_type",
            "source_settings",
            "destination_settings",
            "prompt_name",
            "llm_response",
        ],
        unique: &[&["workflow_name"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "tool_instance",
        route: "tool_instance",
        id: "id",
        paged: false,
        filters: &[("workflow", "workflow")],
        required: &["workflow_id", "tool_id"],
        writable: &[
            "workflow_id",
            "tool_id",
            "metadata",
            "step",
            "input",
            "output",
        ],
        unique: &[],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "workflow_endpoint",
        route: "workflow/endpoint",
        id: "id",
        paged: false,
        filters: &[("workflow", "workflow"), ("endpoint_type", "endpoint_type")],
        required: &[],
        writable: &["configuration", "connection_type", "connector_instance_id"],
        unique: &[],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "pipeline",
        route: "pipeline",
        id: "id",
        paged: true,
        filters: &[
            ("pipeline_name", "pipeline_name"),
            ("type", "pipeline_type"),
            ("workflow", "workflow"),
        ],
        required: &["pipeline_name", "workflow", "pipeline_type"],
        writable: &[
            "pipeline_name",
            "workflow",
            "pipeline_type",
            "cron_string",
            "active",
            "app_id",
            "app_icon",
            "app_url",
            "access_control_bundle_id",
            "is_api",
        ],
        unique: &[&["pipeline_name"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "api_deployment",
        route: "api/deployment",
        id: "id",
        paged: true,
        filters: &[("api_name", "api_name"), ("workflow", "workflow")],
        required: &["api_name", "display_name", "workflow"],
        writable: &[
            "display_name",
            "description",
            "workflow",
            "is_active",
            "api_name",
        ],
        unique: &[&["api_name"]],
        list_fields: &[],
        secret: &[],
    },
    Spec {
        kind: "group",
        route: "groups",
        id: "id",
        paged: false,
        filters: &[("name", "name")],
        required: &["name"],
        writable: &["name", "description"],
        unique: &[&["name"]],
        list_fields: &[],
        secret: &[],
    },
];

pub fn spec(kind: &str) -> &'static Spec {
    SPECS
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("no sandbox spec for {kind}"))
}

/// Fields the server sets; a client's values for them are ignored.
pub const SERVER_MANAGED: [&str; 8] = [
    "id",
    "organization",
    "created_by",
    "modified_by",
    "created_at",
    "modified_at",
    "created_by_email",
    "is_owner",
];

impl Spec {
    /// A list row: the list fields, or everything but the secrets.
    pub fn row(&self, v: &Value) -> Value {
        let Some(obj) = v.as_object() else {
            return v.clone();
        };
        let keep = |k: &str| {
            if self.list_fields.is_empty() {
                !self.secret.contains(&k)
            } else {
                self.list_fields.contains(&k) || k == self.id
            }
        };
        Value::Object(
            obj.iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The `OPTIONS` answer: writable fields under `actions.POST`.
    pub fn options(&self) -> Value {
        let mut post = Map::new();
        post.insert(
            self.id.to_string(),
            json!({"type": "field", "required": false, "read_only": true, "label": self.id}),
        );
        for f in self.writable.iter().chain(SHARING.iter()) {
            post.insert(f.to_string(), json!({"type": "field", "required": self.required.contains(f), "read_only": false, "label": f.replace('_', " ")}));
        }
        for f in SERVER_MANAGED.iter().filter(|f| **f != "id") {
            post.insert(
                f.to_string(),
                json!({"type": "field", "required": false, "read_only": true, "label": f}),
            );
        }
        json!({"name": self.kind, "description": "", "renders": ["application/json"], "parses": ["application/json", "multipart/form-data"], "actions": {"POST": post}})
    }

    pub fn accepts(&self, field: &str) -> bool {
        self.writable.contains(&field) || SHARING.contains(&field)
    }
}

/// The rows of one kind in one org, in creation order, indexed by id and by the fields clients
/// filter on or that must be unique (as a real database would be), so that a lookup does not
/// scan the kind: the sandbox must not be what grows superlinearly in a large clone.
#[derive(Default, Clone)]
pub struct Collection {
    rows: Vec<Value>,
    index: HashMap<String, usize>,
    /// field -> value (as [`id_text`]) -> positions in `rows`, ascending
    by: HashMap<&'static str, HashMap<String, BTreeSet<usize>>>,
}

pub fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Collection {
    /// An empty collection that indexes `fields`.
    pub fn indexed(fields: impl IntoIterator<Item = &'static str>) -> Collection {
        Collection {
            by: fields.into_iter().map(|f| (f, HashMap::new())).collect(),
            ..Collection::default()
        }
    }
    pub fn insert(&mut self, id_field: &str, row: Value) {
        let id = id_text(&row[id_field]);
        let i = match self.index.get(&id) {
            Some(&i) => {
                self.unlink(i);
                self.rows[i] = row;
                i
            }
            None => {
                self.index.insert(id, self.rows.len());
                self.rows.push(row);
                self.rows.len() - 1
            }
        };
        self.link(i);
    }
    pub fn get(&self, id: &str) -> Option<&Value> {
        self.index.get(id).map(|&i| &self.rows[i])
    }
    /// Change a row in place (its id must stay); the field indexes follow.
    pub fn modify<R>(&mut self, id: &str, change: impl FnOnce(&mut Value) -> R) -> Option<R> {
        let i = *self.index.get(id)?;
        self.unlink(i);
        let r = change(&mut self.rows[i]);
        self.link(i);
        Some(r)
    }
    pub fn remove(&mut self, id_field: &str, id: &str) -> Option<Value> {
        let i = self.index.remove(id)?;
        let row = self.rows.remove(i);
        // Positions after `i` moved: rebuild (deletes are rare).
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (id_text(&r[id_field]), i))
            .collect();
        for values in self.by.values_mut() {
            values.clear();
        }
        (0..self.rows.len()).for_each(|i| self.link(i));
        Some(row)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Value> {
        self.rows.iter()
    }
    /// The rows whose `field` reads `value` (compared as [`id_text`]), in creation order; an
    /// unindexed field is scanned.
    pub fn with<'a>(
        &'a self,
        field: &'a str,
        value: &'a str,
    ) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        match self.by.get(field) {
            Some(values) => Box::new(
                values
                    .get(value)
                    .into_iter()
                    .flatten()
                    .map(|&i| &self.rows[i]),
            ),
            None => Box::new(
                self.rows
                    .iter()
                    .filter(move |r| id_text(&r[field]) == value),
            ),
        }
    }
    fn link(&mut self, i: usize) {
        for (field, values) in self.by.iter_mut() {
            values
                .entry(id_text(&self.rows[i][*field]))
                .or_default()
                .insert(i);
        }
    }
    fn unlink(&mut self, i: usize) {
        for (field, values) in self.by.iter_mut() {
            let key = id_text(&self.rows[i][*field]);
            if let Some(set) = values.get_mut(&key) {
                set.remove(&i);
                if set.is_empty() {
                    values.remove(&key);
                }
            }
        }
    }
}

/// A stored file: small ones as bytes; generated ones (seeds' large files) as a size and a
/// seed, produced on download so they cost no memory.
#[derive(Clone, Debug)]
pub enum Blob {
    Bytes(std::sync::Arc<Vec<u8>>),
    Generated {
        size: u64,
        seed: u64,
    },
    /// an upload too large to keep: its size and digest only
    Digest {
        size: u64,
        sha256: String,
    },
}

impl Blob {
    pub fn len(&self) -> u64 {
        match self {
            Blob::Bytes(b) => b.len() as u64,
            Blob::Generated { size, .. } | Blob::Digest { size, .. } => *size,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything one org holds.
#[derive(Default)]
pub struct OrgData {
    pub collections: HashMap<&'static str, Collection>,
    /// document id -> (mime type, contents)
    pub files: HashMap<String, (String, Blob)>,
    /// users: (id, email, is_service_account)
    pub users: Vec<(u64, String, bool)>,
    /// group id -> member user ids
    pub members: HashMap<u64, Vec<u64>>,
    /// pipeline or deployment id -> api keys
    pub api_keys: HashMap<String, Vec<Value>>,
    /// platform-owned adapters that the org key cannot list but profiles may name
    pub hidden_adapters: Collection,
    /// The judge's findings (see [`OrgData::note_ignored`]): `kind METHOD field: why`.
    pub ignored: BTreeSet<String>,
    next_int: u64,
    next_uuid: u64,
}

/// The most findings an org keeps: a client sending made-up field names cannot grow it further.
const MAX_IGNORED: usize = 1000;

impl OrgData {
    /// A write's fields that a DRF view would drop without a word: ones its serializer does
    /// not declare, or declares read-only. The emulator drops them too, as the platform does;
    /// it notes them, because a field a pack sends that is dropped is a setting that silently
    /// does not happen on the real server.
    pub fn note_ignored(&mut self, s: &Spec, method: &str, body: &Map<String, Value>) {
        for k in body.keys() {
            let why = if SERVER_MANAGED.contains(&k.as_str()) {
                "read-only in its serializer"
            } else if !s.accepts(k) {
                "not a field of its serializer"
            } else {
                continue;
            };
            if self.ignored.len() < MAX_IGNORED {
                self.ignored
                    .insert(format!("{} {method} {k}: {why}", s.kind));
            }
        }
    }

    pub fn col(&mut self, kind: &'static str) -> &mut Collection {
        self.collections.entry(kind).or_insert_with(|| {
            // Index what clients filter on and what must be unique.
            let s = SPECS.iter().find(|s| s.kind == kind);
            let mut fields: Vec<&'static str> = s
                .into_iter()
                .flat_map(|s| {
                    s.filters
                        .iter()
                        .map(|f| f.1)
                        .chain(s.unique.iter().flat_map(|set| set.iter().copied()))
                })
                .collect();
            fields.sort_unstable();
            fields.dedup();
            Collection::indexed(fields)
        })
    }
    pub fn rows(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.collections
            .get(kind)
            .into_iter()
            .flat_map(|c| c.iter())
    }
    /// The rows of `kind` whose `field` reads `value` (see [`Collection::with`]).
    pub fn rows_with<'a>(
        &'a self,
        kind: &str,
        field: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.collections
            .get(kind)
            .into_iter()
            .flat_map(move |c| c.with(field, value))
    }
    pub fn find(&self, kind: &str, id: &str) -> Option<&Value> {
        self.collections.get(kind).and_then(|c| c.get(id))
    }
    pub fn next_int(&mut self) -> u64 {
        self.next_int += 1;
        self.next_int
    }
    /// A deterministic UUID: the same org name and sequence give the same ids, so seeded orgs
    /// are identical from run to run.
    pub fn next_uuid(&mut self, org: &str) -> String {
        use sha2::{Digest, Sha256};
        self.next_uuid += 1;
        let d = Sha256::digest(format!("{org}/{}", self.next_uuid).as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: &Collection, field: &str, value: &str) -> Vec<String> {
        c.with(field, value).map(|r| id_text(&r["id"])).collect()
    }

    #[test]
    fn the_field_index_follows_inserts_changes_and_removals() {
        let mut c = Collection::indexed(["name"]);
        for (id, name) in [("a", "x"), ("b", "y"), ("c", "x")] {
            c.insert("id", json!({"id": id, "name": name}));
        }
        assert_eq!(names(&c, "name", "x"), ["a", "c"]);
        c.modify("a", |r| r["name"] = json!("y"));
        assert_eq!(names(&c, "name", "x"), ["c"]);
        assert_eq!(names(&c, "name", "y"), ["a", "b"]);
        c.remove("id", "a");
        assert_eq!(names(&c, "name", "y"), ["b"]);
        c.insert("id", json!({"id": "c", "name": "z"}));
        assert!(names(&c, "name", "x").is_empty());
        assert_eq!(names(&c, "name", "z"), ["c"]);
        // An unindexed field is scanned, with the same answer.
        assert_eq!(names(&c, "id", "b"), ["b"]);
    }
}
