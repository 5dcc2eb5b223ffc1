//! Transform hooks, whichever runtime runs them: a Rhai script or a WASM component, under
//! one contract (a context and a resource in; the resource, a skip or an error out) and the
//! same sandbox rules (no network, no files, CPU, memory and output limits).
//! Finding and loading one by its `uses` name is in `hooks`.

use super::PluginError;
use super::stats::Stats;
use super::types::{HookContext, HookOutcome, Resource};
use std::sync::Arc;

/// The hook contract, as a runtime answers it.
#[async_trait::async_trait]
pub trait HookCalls: Send + Sync {
    fn name(&self) -> &str;
    /// The same hook, counting its time into a run's `stats`.
    fn counting_into(&self, stats: Arc<Stats>) -> Hook;
    async fn apply(&self, ctx: &HookContext, res: &Resource) -> Result<HookOutcome, PluginError>;
}

/// A loaded hook, whichever runtime runs it.
#[derive(Clone)]
pub struct Hook(Arc<dyn HookCalls>);

impl<H: HookCalls + 'static> From<H> for Hook {
    fn from(h: H) -> Hook {
        Hook(Arc::new(h))
    }
}

impl Hook {
    /// The same hook, counting its time into a run's `stats`.
    pub fn counting_into(self, stats: Arc<Stats>) -> Hook {
        self.0.counting_into(stats)
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub async fn apply(
        &self,
        ctx: &HookContext,
        res: &Resource,
    ) -> Result<HookOutcome, PluginError> {
        self.0.apply(ctx, res).await
    }
}
