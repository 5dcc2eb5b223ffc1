//! A run's progress events, for whoever shows them: a progress bar, plain lines, a job
//! server's event stream, or nobody.

use super::apply::Outcome;

pub trait Progress: Send + Sync {
    /// The run entered a phase: `waiting for the target`, `planning`, `applying`,
    /// `pruning`, `exporting`.
    fn phase(&self, _name: &str) {}
    /// The plan is made (a report of it, nothing applied yet).
    fn planned(&self, _plan: &super::report::Report) {}
    /// The plan is being applied: `total` items.
    fn started(&self, _total: usize) {}
    /// One item ended.
    fn finished(&self, _kind: &str, _key: &str, _outcome: &Outcome) {}
    /// A plugin said how its long call is going (`timer.progress`): a server-side job's
    /// status and percent, say. `message` is the plugin's, cut to 512 characters.
    fn plugin(&self, _plugin: &str, _percent: u8, _message: &str) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}
