//! What the host knows about plugins' kinds and resources, independent of the WIT version
//! a plugin was built against.

use serde::Serialize;
use serde_json::Value;

/// What a reference field holds of the resource it references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefBy {
    Id,
    Key,
    /// the value at this JSON pointer of the referenced resource's body
    Field(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub pointer: String,
    pub kind: String,
    pub by: RefBy,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindInfo {
    pub name: String,
    pub description: String,
    pub depends_on: Vec<String>,
    pub key: Vec<String>,
    pub references: Vec<Reference>,
    pub secrets: Vec<String>,
    pub has_files: bool,
}

impl KindInfo {
    /// The natural key of a body: the key fields' values joined by " / " (as the SDK renders
    /// it, so host and plugins agree).
    pub fn key_of(&self, body: &Value) -> String {
        self.key
            .iter()
            .map(|p| {
                body.pointer(p)
                    .map(crate::engine::refs::text)
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    pub kind: String,
    pub id: String,
    pub key: String,
    pub body: Value,
    /// why this resource cannot be cloned, when its cloner says so
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

impl Resource {
    pub fn new(kind: &str, id: &str, key: &str, body: Value) -> Self {
        Resource {
            kind: kind.into(),
            id: id.into(),
            key: key.into(),
            body,
            skip: None,
        }
    }
}

/// Options of the run that plugins see (e.g. `clone-group-members=true`).
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub options: Vec<(String, String)>,
}

/// An error a plugin returned (not a limit or a trap: those are [`super::PluginError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("transient: {0}")]
    Transient(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Fatal(String),
}

/// What a transform hook is told besides the resource.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HookContext {
    pub source_env: String,
    pub target_env: String,
    pub kind: String,
    /// the hook's `with = { ... }` table from the promotion file
    pub params: Value,
}

/// A hook's answer: the resource (changed or not), or a request to leave it behind.
#[derive(Debug, Clone, PartialEq)]
pub enum HookOutcome {
    Keep(Resource),
    Skip(String),
}
