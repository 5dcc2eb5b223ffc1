//! A run's progress events, for whoever shows them: a progress bar, plain lines, a job
//! server's event stream, or nobody.

use super::outcome::Outcome;
pub use crate::plugin::grant::{NoProgress, PluginProgress};

/// A run's listener. What plugins say of their long calls arrives through the supertrait
/// (the plugin runtimes know only that part).
pub trait Progress: PluginProgress {
    /// The run entered a phase: `waiting for the target`, `planning`, `applying`,
    /// `pruning`, `exporting`.
    fn phase(&self, _name: &str) {}
    /// The plan is made (a report of it, nothing applied yet).
    fn planned(&self, _plan: &super::report::Report) {}
    /// The plan is being applied: `total` items.
    fn started(&self, _total: usize) {}
    /// One item ended.
    fn finished(&self, _kind: &str, _key: &str, _outcome: &Outcome) {}
}

impl Progress for NoProgress {}
