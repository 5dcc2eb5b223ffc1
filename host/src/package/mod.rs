//! Packages: an environment exported to one portable, verifiable file (`ferry export`), which
//! later takes the source's place in a plan or a clone (`--from-package`). The format is
//! documented in `docs/package-format.md`; in short, a zstd-compressed tar whose entries are,
//! in this order:
//!
//! - `manifest.json`: what the package holds, every other entry with its size and sha256;
//! - `manifest.sha256`: the manifest's own sha256 (a changed byte in it is caught unsigned);
//! - `manifest.sig`: optional, an ed25519 signature of the manifest's bytes (`sign`);
//! - `resources/<kind>.jsonl`: the resources as the source listed them, secrets left out;
//! - `source/answers.jsonl`: what the source answered the plugins' `export` calls;
//! - `files/<sha256>`: file contents.
//!
//! Writing spools each entry to a temporary directory first (the manifest, which comes first,
//! needs every entry's sha256); reading checks each entry's sha256 as it streams by, and
//! refuses the whole package, naming the entry, before anything is written to a target.

pub mod read;
pub mod sign;
mod write;

pub use read::{Package, PackageError, Trust};
pub use write::Builder;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format this ferry writes and reads.
pub const FORMAT: u32 = 1;

pub const MANIFEST: &str = "manifest.json";
pub const MANIFEST_SHA: &str = "manifest.sha256";
pub const SIGNATURE: &str = "manifest.sig";
pub const ANSWERS: &str = "source/answers.jsonl";

/// The entry of a kind's resources.
pub fn resources_entry(kind: &str) -> String {
    format!("resources/{kind}.jsonl")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// the format's version ([`FORMAT`]); a reader refuses one it does not know
    pub format: u32,
    /// the ferry that wrote it
    pub ferry: String,
    pub platform: String,
    /// the plugin contract the host spoke
    pub contract: String,
    pub plugins: Vec<PluginUsed>,
    pub source: SourceInfo,
    /// when it was made (RFC 3339, UTC)
    pub created: String,
    pub selection: SelectionInfo,
    /// resources per kind
    pub counts: BTreeMap<String, usize>,
    /// every entry after the manifest (and its signature), in archive order
    pub entries: Vec<Entry>,
    /// the files saved, and which source download each answers
    pub files: Vec<crate::net::tape::SavedFile>,
    /// the files an export's transfers did not save (too large, not accepted): a restore's
    /// transfer of one ends the same way
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_left: Vec<crate::net::tape::LeftFile>,
    /// secret fields left out: a target needs them set (rules can, with `${env:NAME}`)
    pub credentials: Vec<CredentialNeeded>,
    /// what each plugin's `export` said it saved
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExportNote>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginUsed {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// the kinds it served in this package
    pub kinds: Vec<String>,
}

/// The source without any credential: its URL, its platform's parameters, its name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    pub name: String,
    pub url: String,
    pub params: BTreeMap<String, String>,
    /// how reports name it: `dev @ https://…`
    pub describe: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelectionInfo {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub select: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CredentialNeeded {
    pub kind: String,
    pub key: String,
    /// the JSON pointer of the field left out
    pub field: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExportNote {
    pub kind: String,
    pub key: String,
    pub note: serde_json::Value,
}

/// One line of `resources/<kind>.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub id: String,
    pub key: String,
    pub body: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}
