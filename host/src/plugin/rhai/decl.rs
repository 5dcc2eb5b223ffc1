//! What a cloner script's `kinds()` answers, read strictly and turned into the host's
//! `KindInfo`.

use crate::plugin::types::{KindInfo, RefBy, Reference};
use serde::Deserialize;

/// A kind as a script declares it; every field but the name and key is optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KindDecl {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    depends_on: Vec<String>,
    key: Vec<String>,
    #[serde(default)]
    references: Vec<RefDecl>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    has_files: bool,
    /// fields never compared by `ferry diff`
    #[serde(default)]
    not_compared: Vec<String>,
    #[serde(default = "yes")]
    comparable: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefDecl {
    pointer: String,
    kind: String,
    #[serde(default)]
    by: Option<String>,
    #[serde(default = "yes")]
    required: bool,
}

fn yes() -> bool {
    true
}

impl KindDecl {
    /// `deletes` and `partial` say whether the script has `fn delete(ctx, kind, target)` and
    /// `fn update_fields(ctx, kind, target_id, res, fields)`.
    pub(super) fn into_info(self, deletes: bool, partial: bool) -> KindInfo {
        KindInfo {
            name: self.name,
            description: self.description,
            depends_on: self.depends_on,
            key: self.key,
            references: self
                .references
                .into_iter()
                .map(|r| Reference {
                    pointer: r.pointer,
                    by: match r.by.as_deref() {
                        Some("key") => RefBy::Key,
                        Some(f) if f.starts_with('/') => RefBy::Field(f.to_string()),
                        _ => RefBy::Id,
                    },
                    kind: r.kind,
                    required: r.required,
                })
                .collect(),
            secrets: self.secrets,
            has_files: self.has_files,
            support: crate::plugin::types::Support {
                not_compared: self.not_compared,
                comparable: self.comparable,
                deletes,
                partial_update: partial,
            },
        }
    }
}
