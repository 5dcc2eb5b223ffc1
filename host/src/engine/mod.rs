//! The promotion engine: read the source, select, resolve references, match on the target,
//! decide an action per resource (`plan`), then apply the plan as a dependency graph with
//! bounded concurrency (`apply`), remapping references from the kinds' declarations, and
//! report what happened (`report`).
//!
//! The engine knows nothing of any platform: everything specific comes from the cloners'
//! declarations (key, references, secrets, files) and calls.

pub mod apply;
pub mod order;
pub mod plan;
pub mod refs;
pub mod report;
pub mod select;

use crate::plugin::Resource;
use serde::Serialize;
use std::collections::BTreeMap;

/// What to do when a resource already exists on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// use the target's resource as it is
    Adopt,
    /// make the target's writable fields equal the source's
    Update,
    /// stop before any write
    Abort,
}

/// The options of one promotion.
#[derive(Debug, Clone)]
pub struct Options {
    pub concurrency: usize,
    pub on_conflict: OnConflict,
    /// per-kind overrides of `on_conflict`
    pub on_conflict_kind: BTreeMap<String, OnConflict>,
    pub selection: select::Selection,
    pub skip_files: bool,
    pub max_file_size: u64,
    /// options passed to every plugin call (`clone-group-members=true`, ...)
    pub plugin_options: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 8,
            on_conflict: OnConflict::Adopt,
            on_conflict_kind: BTreeMap::new(),
            selection: select::Selection::default(),
            skip_files: false,
            max_file_size: 25 << 20,
            plugin_options: vec![],
        }
    }
}

impl Options {
    pub fn conflict_for(&self, kind: &str) -> OnConflict {
        self.on_conflict_kind.get(kind).copied().unwrap_or(self.on_conflict)
    }
}

/// What the plan says to do with one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "action", content = "reason")]
pub enum Action {
    Create,
    Adopt,
    Update,
    Skip(String),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Update => "update",
            Action::Skip(_) => "skip",
        }
    }
}

/// One edge of the graph: the item `of` is referenced at `pointer` (a concrete pointer in
/// the body), to be rewritten with what the referenced item's target resource holds.
#[derive(Debug, Clone)]
pub struct Edge {
    pub to: usize,
    pub pointer: String,
    pub by: crate::plugin::RefBy,
    pub source_value: serde_json::Value,
}

/// One source resource and what becomes of it.
#[derive(Debug, Clone)]
pub struct Item {
    pub source: Resource,
    pub action: Action,
    /// the matching target resource, when one exists (or once created)
    pub target: Option<Resource>,
    /// references to other items, rewritten before writing
    pub edges: Vec<Edge>,
    /// items this one waits for without a reference (kind-level `depends_on`)
    pub after: Vec<usize>,
    /// why it is in the run when selection did not name it
    pub pulled_in: Option<String>,
}
