//! The promotion engine: read the source, select, resolve references, match on the target,
//! decide an action per resource (`plan`), then apply the plan as a dependency graph with
//! bounded concurrency (`apply`), remapping references from the kinds' declarations, and
//! report what happened (`report`).
//!
//! The engine knows nothing of any platform: everything specific comes from the cloners'
//! declarations (key, references, secrets, files) and calls.

pub mod apply;
pub mod digest;
pub mod drift;
pub mod export;
pub mod journal;
pub mod managed;
pub mod order;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod prune;
pub mod report;
pub mod select;

use crate::plugin::Stored;
use crate::transform::Transformer;
use crate::transform::diff::Rewrite;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::transform::rules::OnConflict;

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
    /// what plugins are told of the environments: `ferry.source-url`, `ferry.target-url`,
    /// `ferry.source-param.NAME`, `ferry.target-param.NAME`
    pub environment: Vec<(String, String)>,
    /// the promotion file's rules and hooks
    pub transform: Arc<Transformer>,
    /// creates started by earlier runs and not seen through
    pub journal: Arc<journal::Journal>,
    /// what ferry manages on the target (created or adopted), for `--prune`
    pub managed: Arc<managed::Managed>,
    pub prune: prune::PruneOptions,
    /// how long a run waits for another to release the target (`crate::lock`)
    pub lock_wait: std::time::Duration,
    /// where the target's lease is taken: a postgres:// URL or a SQLite file (default:
    /// `FERRY_LOCK_STORE`, else the state directory's `locks.sqlite`)
    pub lock_store: Option<String>,
    /// the package that is the run's source (`--from-package`): listing reads its resources
    pub from_package: Option<Arc<crate::package::Package>>,
    /// source and target are one environment (one identity: a copy within one project or
    /// org): a source resource the target matches with its own id is the target's own, not
    /// something to copy, and is left out of the run
    pub one_place: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: crate::defaults::CONCURRENCY as usize,
            on_conflict: OnConflict::Adopt,
            on_conflict_kind: BTreeMap::new(),
            selection: select::Selection::default(),
            skip_files: false,
            max_file_size: crate::defaults::MAX_FILE_SIZE,
            plugin_options: vec![],
            environment: vec![],
            transform: Arc::new(Transformer::default()),
            journal: Arc::new(journal::Journal::none()),
            managed: Arc::new(managed::Managed::none()),
            prune: prune::PruneOptions::default(),
            lock_wait: std::time::Duration::from_secs(crate::defaults::LOCK_WAIT),
            lock_store: None,
            from_package: None,
            one_place: false,
        }
    }
}

impl Options {
    pub fn conflict_for(&self, kind: &str) -> OnConflict {
        self.on_conflict_kind
            .get(kind)
            .copied()
            .unwrap_or(self.on_conflict)
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
    /// a hook failed on it: it fails, what depends on it is skipped
    Fail(String),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Update => "update",
            Action::Skip(_) => "skip",
            Action::Fail(_) => "fail",
        }
    }

    /// Skipped or failed: nothing will be written for it.
    pub fn is_out(&self) -> bool {
        matches!(self, Action::Skip(_) | Action::Fail(_))
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
    /// false for a field that may be empty (sharing, say): it does not decide whether the
    /// resource can already exist on the target
    pub required: bool,
}

/// One source resource and what becomes of it.
#[derive(Debug, Clone)]
pub struct Item {
    /// the resource as read, then as the rules and hooks made it (its id stays the source's)
    pub source: Stored,
    /// its key as read from the source, before any rename
    pub source_key: String,
    /// what the rules and hooks changed
    pub rewrites: Vec<Rewrite>,
    /// set when this item is never written, only looked up on the target (mapped to the
    /// target's own resource, or named by a rewritten reference): why
    pub lookup_only: Option<String>,
    pub action: Action,
    /// the matching target resource, when one exists (or once created)
    pub target: Option<Stored>,
    /// references to other items, rewritten before writing
    pub edges: Vec<Edge>,
    /// kinds whose every item this one waits for, without a reference (kind-level
    /// `depends_on`); apply waits on one barrier per kind, not on each of its items
    pub after: Vec<String>,
    /// why it is in the run when selection did not name it
    pub pulled_in: Option<String>,
    /// for a resource the target has: how what the source would write differs from it
    /// (`None`: not compared)
    pub differences: Option<Vec<drift::FieldDiff>>,
    /// one place only (`Options::one_place`): the resource is its own match on the target;
    /// it is never written and the report leaves it out
    pub itself: bool,
}

impl Item {
    pub fn new(source: Stored, action: Action) -> Item {
        Item {
            source_key: source.key.clone(),
            source,
            action,
            rewrites: vec![],
            lookup_only: None,
            target: None,
            edges: vec![],
            after: vec![],
            pulled_in: None,
            differences: None,
            itself: false,
        }
    }
}
