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
    /// what the kind supports beyond creating and updating (contract 1.2.0)
    pub support: Support,
}

/// What a kind supports beyond 1.1.0's calls: `cloner.support` of contract 1.2.0. A kind of
/// an older plugin gets the default: compared field by field, no deletes, whole updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Support {
    /// fields that are never differences: JSON pointers, or bare names matched at any depth
    pub not_compared: Vec<String>,
    /// false when a resource as read does not show all it holds: never compared
    pub comparable: bool,
    /// `cloner.delete` removes resources of the kind (`--prune`)
    pub deletes: bool,
    /// `cloner.update-fields` writes only the fields that differ
    pub partial_update: bool,
}

impl Default for Support {
    fn default() -> Self {
        Support {
            not_compared: vec![],
            comparable: true,
            deletes: false,
            partial_update: false,
        }
    }
}

impl KindInfo {
    /// The natural key of a body: the key fields' values joined by " / " (as the SDK renders
    /// it, so host and plugins agree).
    pub fn key_of(&self, body: &Value) -> String {
        self.key
            .iter()
            .map(|p| body.pointer(p).map(crate::json::text).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// A resource: its body parsed (`Resource`, what plugins and hooks are given) or packed
/// ([`Stored`], what the engine holds between steps).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource<B = Value> {
    pub kind: String,
    pub id: String,
    pub key: String,
    pub body: B,
    /// why this resource cannot be cloned, when its cloner says so
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

/// A resource as the engine keeps it for the length of a run: its body as compact JSON text.
/// A run holds every resource of the org (and, once written or matched, its target too);
/// parsed, a body takes about seven times the memory of its text.
pub type Stored = Resource<Packed>;

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

    pub fn pack(self) -> Stored {
        Resource {
            body: Packed::from_value(&self.body),
            kind: self.kind,
            id: self.id,
            key: self.key,
            skip: self.skip,
        }
    }
}

impl Stored {
    /// The resource with its body parsed.
    pub fn unpack(&self) -> Resource {
        Resource {
            kind: self.kind.clone(),
            id: self.id.clone(),
            key: self.key.clone(),
            body: self.body.value(),
            skip: self.skip.clone(),
        }
    }
}

/// A body read from a plugin's JSON text: parsed, or kept as text.
pub trait FromJson: Sized {
    fn from_json_text(text: String) -> serde_json::Result<Self>;
}

impl FromJson for Value {
    fn from_json_text(text: String) -> serde_json::Result<Value> {
        serde_json::from_str(&text)
    }
}

impl FromJson for Packed {
    fn from_json_text(text: String) -> serde_json::Result<Packed> {
        Packed::from_json(text)
    }
}

/// A JSON value kept as its compact text. Parse it ([`Packed::value`]) to read or change it.
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct Packed(Box<serde_json::value::RawValue>);

impl Packed {
    pub fn null() -> Packed {
        Packed::from_value(&Value::Null)
    }
    pub fn from_value(v: &Value) -> Packed {
        Packed(
            serde_json::value::RawValue::from_string(v.to_string())
                .expect("a Value prints as JSON"),
        )
    }
    /// Keep JSON text as it is (without a copy when it has no surrounding whitespace and no
    /// spare capacity); an error when it is not JSON.
    pub fn from_json(text: String) -> serde_json::Result<Packed> {
        serde_json::value::RawValue::from_string(text).map(Packed)
    }
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).expect("a packed body is JSON")
    }
    pub fn json(&self) -> &str {
        self.0.get()
    }
    pub fn is_null(&self) -> bool {
        self.json() == "null"
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        self.json() == other.json()
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.json())
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
    /// The resource's secret values: the host masks them in what the hook prints or logs.
    /// Never given to the hook.
    #[serde(skip)]
    pub secrets: crate::redact::Secrets,
}

/// A hook's answer: the resource (changed or not), or a request to leave it behind.
#[derive(Debug, Clone, PartialEq)]
pub enum HookOutcome {
    Keep(Resource),
    Skip(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_packed_body_keeps_its_json_and_refuses_what_is_not() {
        let r = Resource::new("tag", "1", "a", json!({"name": "a", "n": [1, {"x": null}]}));
        let stored = r.clone().pack();
        assert_eq!(stored.body.json(), r#"{"n":[1,{"x":null}],"name":"a"}"#);
        assert_eq!(stored.unpack(), r);
        assert_eq!(serde_json::to_value(&stored).unwrap()["body"], r.body);
        assert!(Packed::from_json("{\"a\": 1} ".into()).is_ok());
        assert!(Packed::from_json("{\"a\": ".into()).is_err());
        assert!(Packed::null().is_null());
    }
}
