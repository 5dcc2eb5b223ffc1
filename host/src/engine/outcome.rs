//! What happened to an item when a plan was applied: the outcome, and what the apply
//! returns for it. A leaf of the engine: applying, pruning, the report and the progress
//! listener all speak of outcomes.

use crate::plugin::Stored;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "reason")]
pub enum Outcome {
    Created,
    Adopted,
    Updated,
    Skipped(String),
    Failed(String),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Adopted => "adopted",
            Outcome::Updated => "updated",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
        }
    }
    pub(super) fn done_ok(&self) -> bool {
        matches!(self, Outcome::Created | Outcome::Adopted | Outcome::Updated)
    }
}

/// The result of applying one item.
#[derive(Debug, Clone)]
pub struct Done {
    pub outcome: Outcome,
    pub target: Option<Stored>,
    pub files: Option<Value>,
    pub duration: Duration,
    /// an earlier attempt of this run created the resource; this one adopted or completed it
    pub created_earlier: bool,
}

/// The reason given to items not started because the run was interrupted.
pub const INTERRUPTED: &str = "not started: the run was interrupted (a re-run finishes the job)";
