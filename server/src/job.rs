//! A job as the API shows it and the store keeps it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// read both sides and say what a clone would do
    Plan,
    /// promote the source to the target
    Clone,
    /// write the source to a package (`GET /v1/jobs/{id}/package`)
    Export,
    /// promote an export job's package to the target
    Restore,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Clone => "clone",
            Mode::Export => "export",
            Mode::Restore => "restore",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    /// planned; applies once its plan is approved (`POST /v1/jobs/{id}/approve`)
    #[serde(rename = "awaiting_approval")]
    AwaitingApproval,
    Succeeded,
    Failed,
    Cancelling,
    Cancelled,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::AwaitingApproval => "awaiting_approval",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelling => "cancelling",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    pub fn finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    /// done of total, 0 to 100
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// a ULID: sorts by creation
    pub id: String,
    pub promotion: String,
    pub mode: Mode,
    pub status: Status,
    /// `queued`, `waiting for the target`, `opening`, `planning`, `applying`, `pruning`,
    /// `exporting`, `done`
    pub phase: String,
    pub progress: Progress,
    /// the name of the token that started it
    pub started_by: String,
    /// RFC 3339 times
    pub created: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// `dev @ http://…` (never a credential)
    pub source: String,
    pub target: String,
    /// items per action (a plan: create, update, adopt, …) or per outcome (a run: created,
    /// updated, adopted, skipped, failed, deleted, …); for a job that ran more than once,
    /// across its attempts (what an earlier attempt created counts as created)
    pub counts: BTreeMap<String, usize>,
    /// a job that ran more than once: the last attempt's own counts
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attempt_counts: BTreeMap<String, usize>,
    /// how it ended, or why it failed
    pub message: Option<String>,
    /// what kind of failure, when it failed before its items ran: `config`, `credentials`,
    /// `platform`, `plugin`, `plan`, `locked`, `package`, `network` or `internal`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "credentials")]
    pub error: Option<ferry::ErrorKind>,
    /// it was running when the server stopped, and was started again
    pub resumed: bool,
    /// times it was started
    pub attempts: u32,
    /// a restore's export job
    pub from_export: Option<String>,
    /// for a clone or restore of a promotion that asks for approval: who must approve, the
    /// plan awaiting it, and every decision
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalState>,
    /// where an export's package is downloaded, once it succeeded
    pub package: Option<String>,
}

impl Job {
    /// A new job, queued now under a new id, that has run no attempt.
    pub fn queued(
        promotion: String,
        mode: Mode,
        started_by: String,
        source: String,
        target: String,
    ) -> Job {
        Job {
            id: ulid::Ulid::new().to_string(),
            promotion,
            mode,
            status: Status::Queued,
            phase: "queued".into(),
            progress: Progress::default(),
            started_by,
            created: now(),
            started: None,
            finished: None,
            source,
            target,
            counts: Default::default(),
            attempt_counts: Default::default(),
            message: None,
            error: None,
            resumed: false,
            attempts: 0,
            from_export: None,
            approval: None,
            package: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalState {
    /// approvals of one plan it takes, and of whom: `1 by the approver role or above`
    pub needed: String,
    /// how many approvals of one plan it takes
    pub count: u32,
    /// the digest of the plan awaiting approval, once planned (`sha256:…`)
    pub digest: Option<String>,
    /// the digest approved: the plan the job applies, and only that plan
    pub approved: Option<String>,
    /// every approval and rejection, in order
    pub decisions: Vec<Decision>,
}

impl ApprovalState {
    /// Approvals of the plan awaiting approval.
    pub fn approvals(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| d.verdict == Verdict::Approved && Some(&d.digest) == self.digest.as_ref())
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// the token's name
    pub by: String,
    /// RFC 3339
    pub at: String,
    /// the plan decided on
    pub digest: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approved,
    Rejected,
}

/// A line of a job's log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub seq: i64,
    pub at: String,
    pub level: String,
    pub message: String,
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
