//! Plain Rust types for what crosses the contract, and the [`Kind`] trait a cloner implements.

use crate::bindings::cloner::ferry::plugin::types as wit;
use serde_json::Value;

pub use wit::Side;

/// What a plugin call can fail with; the host decides from the case whether to retry.
#[derive(Debug, Clone)]
pub enum Error {
    NotFound(String),
    Conflict(String),
    Invalid(String),
    Denied(String),
    Transient(String),
    Cancelled,
    Fatal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn into_wit(self) -> wit::Error {
        match self {
            Error::NotFound(m) => wit::Error::NotFound(m),
            Error::Conflict(m) => wit::Error::Conflict(m),
            Error::Invalid(m) => wit::Error::Invalid(m),
            Error::Denied(m) => wit::Error::Denied(m),
            Error::Transient(m) => wit::Error::Transient(m),
            Error::Cancelled => wit::Error::Cancelled,
            Error::Fatal(m) => wit::Error::Fatal(m),
        }
    }
}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::NotFound(m) => Error::NotFound(m),
            wit::Error::Conflict(m) => Error::Conflict(m),
            wit::Error::Invalid(m) => Error::Invalid(m),
            wit::Error::Denied(m) => Error::Denied(m),
            wit::Error::Transient(m) => Error::Transient(m),
            wit::Error::Cancelled => Error::Cancelled,
            wit::Error::Fatal(m) => Error::Fatal(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Invalid(format!("bad JSON: {e}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Conflict(m) => write!(f, "conflict: {m}"),
            Error::Invalid(m) => write!(f, "invalid: {m}"),
            Error::Denied(m) => write!(f, "denied: {m}"),
            Error::Transient(m) => write!(f, "transient: {m}"),
            Error::Cancelled => write!(f, "cancelled"),
            Error::Fatal(m) => write!(f, "{m}"),
        }
    }
}

/// The run's options that concern plugins, e.g. `clone-group-members`.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub options: Vec<(String, String)>,
}

impl Ctx {
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.option(name), Some("true" | "1" | "yes"))
    }
}

impl From<wit::CallContext> for Ctx {
    fn from(c: wit::CallContext) -> Self {
        Ctx { options: c.options }
    }
}

/// One resource: its kind, id on the side it came from, natural key and JSON body.
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub id: String,
    pub key: String,
    pub body: Value,
    /// why this resource cannot be cloned (set in `list`; the host skips it and its dependants)
    pub skip: Option<String>,
}

impl Resource {
    /// Build a resource from a body, taking the id at `id_pointer` and the key from the
    /// kind's declared key fields.
    pub fn from_body(info: &KindInfo, id_pointer: &str, body: Value) -> Resource {
        let id = body
            .pointer(id_pointer)
            .map(scalar_text)
            .unwrap_or_default();
        let key = info.key_of(&body);
        Resource {
            kind: info.name.clone(),
            id,
            key,
            body,
            skip: None,
        }
    }

    /// Mark this resource as one that cannot be cloned, with the reason.
    pub fn skipped(mut self, reason: impl Into<String>) -> Resource {
        self.skip = Some(reason.into());
        self
    }

    /// A string field of the body, or "".
    pub fn str(&self, pointer: &str) -> &str {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The string at `pointer` in the body, or an error naming the field: for a value that
    /// goes into a URL, where an empty one would address something else.
    pub fn require_str(&self, pointer: &str) -> Result<&str> {
        require_str(
            &self.body,
            pointer,
            &format!("{} {:?}", self.kind, self.key),
        )
    }
}

/// The non-empty string at `pointer` in `answer`, or an error naming the field and what
/// answered (`what`: `"POST systems"`, say). Use it wherever a value read from a server goes
/// into the next URL: a missing id must fail the call, not address another resource. The
/// error lists the answer's top-level fields, never their values (they may be secret).
pub fn require_str<'a>(answer: &'a Value, pointer: &str, what: &str) -> Result<&'a str> {
    match answer.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        found => {
            let fields = match answer {
                Value::Object(o) => o.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
                other => format!("not an object but {}", kind_of(other)),
            };
            let problem = match found {
                Some(_) => "is empty",
                None => "is missing or not a string",
            };
            Err(Error::Fatal(format!(
                "{what}: {pointer} {problem} in the answer (its fields: {fields})"
            )))
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl From<Resource> for wit::Resource {
    fn from(r: Resource) -> Self {
        wit::Resource {
            kind: r.kind,
            id: r.id,
            key: r.key,
            body: r.body.to_string(),
            skip: r.skip,
        }
    }
}

impl TryFrom<wit::Resource> for Resource {
    type Error = Error;
    fn try_from(r: wit::Resource) -> Result<Self> {
        let body = serde_json::from_str(&r.body).map_err(|e| {
            Error::Invalid(format!("body of {} {:?} is not JSON: {e}", r.kind, r.key))
        })?;
        Ok(Resource {
            kind: r.kind,
            id: r.id,
            key: r.key,
            body,
            skip: r.skip,
        })
    }
}

/// Text of a JSON scalar: strings as they are, numbers and booleans printed, null as "".
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What a reference field holds of the resource it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefBy {
    Id,
    Key,
    /// the value at this JSON pointer of the referenced resource's body
    Field(String),
}

/// One reference field: where it is and what kind it points at.
#[derive(Debug, Clone)]
pub struct Reference {
    pub pointer: String,
    pub kind: String,
    pub by: RefBy,
    pub required: bool,
}

/// What a cloner declares about its kind. Build it with the chained setters.
#[derive(Debug, Clone, Default)]
pub struct KindInfo {
    pub name: String,
    pub description: String,
    pub depends_on: Vec<String>,
    pub key: Vec<String>,
    pub references: Vec<Reference>,
    pub secrets: Vec<String>,
    pub has_files: bool,
    /// fields `ferry diff` never counts as differences (1.2.0's `kind-support`)
    pub not_compared: Vec<String>,
    /// a resource as read does not show all it holds: never compared
    pub not_comparable: bool,
    /// [`Kind::delete`] is written for this kind
    pub deletes: bool,
    /// [`Kind::update_fields`] sends only the fields asked for
    pub partial_update: bool,
}

impl KindInfo {
    pub fn new(name: &str, description: &str) -> Self {
        KindInfo {
            name: name.into(),
            description: description.into(),
            ..Default::default()
        }
    }
    /// JSON pointers of the natural key fields.
    pub fn key<const N: usize>(mut self, pointers: [&str; N]) -> Self {
        self.key = pointers.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn depends_on<const N: usize>(mut self, kinds: [&str; N]) -> Self {
        self.depends_on.extend(kinds.iter().map(|s| s.to_string()));
        self
    }
    /// A field holding the id of a resource of `kind` (remapped by the host).
    pub fn reference(mut self, pointer: &str, kind: &str) -> Self {
        self.push_ref(pointer, kind, RefBy::Id, true);
        self
    }
    /// A field holding the natural key (name) of a resource of `kind`.
    pub fn reference_by_key(mut self, pointer: &str, kind: &str) -> Self {
        self.push_ref(pointer, kind, RefBy::Key, true);
        self
    }
    /// A field holding the value at `field` (a JSON pointer) of a resource of `kind`.
    pub fn reference_by_field(mut self, pointer: &str, kind: &str, field: &str) -> Self {
        self.push_ref(pointer, kind, RefBy::Field(field.into()), true);
        self
    }
    /// Like [`KindInfo::reference`], for a field that may be null or absent.
    pub fn optional_reference(mut self, pointer: &str, kind: &str) -> Self {
        self.push_ref(pointer, kind, RefBy::Id, false);
        self
    }
    /// Like [`KindInfo::reference_by_key`], for a field that may be null or absent.
    pub fn optional_reference_by_key(mut self, pointer: &str, kind: &str) -> Self {
        self.push_ref(pointer, kind, RefBy::Key, false);
        self
    }
    pub fn secret(mut self, pointer: &str) -> Self {
        self.secrets.push(pointer.into());
        self
    }
    pub fn with_files(mut self) -> Self {
        self.has_files = true;
        self
    }
    /// Fields that are never differences (server-managed, or different by nature between
    /// environments): JSON pointers, or bare names matched at any depth.
    pub fn not_compared<const N: usize>(mut self, fields: [&str; N]) -> Self {
        self.not_compared
            .extend(fields.iter().map(|s| s.to_string()));
        self
    }
    /// A resource as listed does not show all it holds: the host never compares it, and an
    /// update always writes.
    pub fn not_comparable(mut self) -> Self {
        self.not_comparable = true;
        self
    }
    /// [`Kind::delete`] removes resources of this kind (`ferry clone --prune`).
    pub fn deletes(mut self) -> Self {
        self.deletes = true;
        self
    }
    /// [`Kind::update_fields`] writes only the fields that differ.
    pub fn partial_updates(mut self) -> Self {
        self.partial_update = true;
        self
    }

    fn push_ref(&mut self, pointer: &str, kind: &str, by: RefBy, required: bool) {
        if !self.depends_on.iter().any(|k| k == kind) && kind != self.name {
            self.depends_on.push(kind.into());
        }
        self.references.push(Reference {
            pointer: pointer.into(),
            kind: kind.into(),
            by,
            required,
        });
    }

    /// The natural key of a body: the key fields' values joined by " / ".
    pub fn key_of(&self, body: &Value) -> String {
        self.key
            .iter()
            .map(|p| body.pointer(p).map(scalar_text).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

impl From<&KindInfo> for wit::KindSupport {
    fn from(k: &KindInfo) -> Self {
        wit::KindSupport {
            kind: k.name.clone(),
            not_compared: k.not_compared.clone(),
            comparable: !k.not_comparable,
            deletes: k.deletes,
            partial_update: k.partial_update,
        }
    }
}

impl From<KindInfo> for wit::KindInfo {
    fn from(k: KindInfo) -> Self {
        wit::KindInfo {
            name: k.name,
            description: k.description,
            depends_on: k.depends_on,
            key: k.key,
            references: k
                .references
                .into_iter()
                .map(|r| wit::Reference {
                    pointer: r.pointer,
                    kind: r.kind,
                    by: match r.by {
                        RefBy::Id => wit::RefBy::Id,
                        RefBy::Key => wit::RefBy::Key,
                        RefBy::Field(f) => wit::RefBy::Field(f),
                    },
                    required: r.required,
                })
                .collect(),
            secrets: k.secrets,
            has_files: k.has_files,
        }
    }
}

/// One kind of resource a plugin clones. Implement it for a unit struct with `Default`
/// and export it with [`crate::export_cloner!`]. Each call runs in a fresh instance.
pub trait Kind {
    /// What the host needs to know to order, match and remap this kind.
    fn info(&self) -> KindInfo;
    /// Every resource of this kind on the source, detail included.
    fn list(&self, ctx: &Ctx) -> Result<Vec<Resource>>;
    /// The target's resource with the natural key of `wanted`, if there is one.
    fn find(&self, ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>>;
    /// Look up many at once: one entry per wanted resource, in order, as [`Kind::find`] would
    /// answer. Worth writing when the target can be listed once and matched in memory,
    /// instead of one lookup per resource. `None` (the default): the host calls `find` per
    /// resource, several at a time.
    fn find_all(&self, _ctx: &Ctx, _wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        Ok(None)
    }
    /// Create `res` on the target; return it with its new id.
    fn create(&self, ctx: &Ctx, res: &Resource) -> Result<Resource>;
    /// Make the target's writable fields equal `res`'s.
    fn update(&self, _ctx: &Ctx, _target_id: &str, _res: &Resource) -> Result<Resource> {
        Err(Error::Invalid(format!(
            "kind {} cannot be updated",
            self.info().name
        )))
    }
    /// Make the target's `fields` (top-level JSON pointers of what differs) equal `res`'s,
    /// sending only those; for a kind declared with [`KindInfo::partial_updates`]. The
    /// default writes the whole resource.
    fn update_fields(
        &self,
        ctx: &Ctx,
        target_id: &str,
        res: &Resource,
        _fields: &[String],
    ) -> Result<Resource> {
        self.update(ctx, target_id, res)
    }
    /// Delete `target` (its id, key, and the key and reference fields of its body) from the
    /// target; for a kind declared with [`KindInfo::deletes`]. Already gone: `NotFound`.
    fn delete(&self, _ctx: &Ctx, _target: &Resource) -> Result<()> {
        Err(Error::Denied(format!(
            "kind {} cannot be deleted",
            self.info().name
        )))
    }
    /// Move file contents; returns a JSON summary (see the WIT).
    fn copy_files(&self, _ctx: &Ctx, _source: &Resource, _target: &Resource) -> Result<Value> {
        Ok(serde_json::json!({"moved": [], "too_large": [], "unsupported": [], "failed": []}))
    }
    /// During `ferry export`: read from the source what a later [`Kind::create`],
    /// [`Kind::update`] or [`Kind::copy_files`] of `res` reads there, beyond what
    /// [`Kind::list`] gave. The host records the answers in the package (and the files a
    /// `files::transfer` downloads), and a restore serves them back as the source. Read
    /// nothing secret: what is read here is stored. Returns a note for the manifest. The
    /// default reads nothing, which suits a kind whose writes read only the target.
    fn export(&self, _ctx: &Ctx, _res: &Resource) -> Result<Value> {
        Ok(Value::Null)
    }
}
