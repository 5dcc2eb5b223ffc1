//! What a plugin call may reach, whichever runtime runs it: the run's HTTP client (absent for
//! calls such as `kinds`, and for hooks, that need no network), the run's stop signal, the
//! run's counters and the run's progress listener (where `timer.progress` goes).

use super::stats::Stats;
use crate::net::HttpClient;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where a plugin's `timer.progress` goes: the run's progress listener, as far as plugins
/// reach it.
pub trait PluginProgress: Send + Sync {
    /// A plugin said how its long call is going: a server-side job's status and percent,
    /// say. `message` is the plugin's, cut to 512 characters.
    fn plugin(&self, _plugin: &str, _percent: u8, _message: &str) {}
}

/// Nobody listens (the engine's `Progress` is implemented for it too).
pub struct NoProgress;
impl PluginProgress for NoProgress {}

#[derive(Clone)]
pub struct Grant {
    pub http: Option<HttpClient>,
    pub cancel: CancellationToken,
    pub stats: Arc<Stats>,
    pub progress: Arc<dyn PluginProgress>,
    /// Secret values masked in what the plugin logs (a hook's resource's).
    pub mask: crate::redact::Secrets,
}

impl Grant {
    /// No network, a stop signal of its own, counters nobody reads.
    pub fn offline() -> Self {
        Grant::offline_for(Arc::default())
    }

    /// The network through `http`, a stop signal of its own, counters nobody reads.
    pub fn online(http: HttpClient) -> Self {
        Grant {
            http: Some(http),
            ..Grant::offline()
        }
    }

    /// No network, counting into `stats` (a hook's call).
    pub fn offline_for(stats: Arc<Stats>) -> Self {
        Grant {
            http: None,
            cancel: CancellationToken::new(),
            stats,
            progress: Arc::new(NoProgress),
            mask: crate::redact::Secrets::default(),
        }
    }

    /// The same grant, masking `secrets` in the plugin's log lines.
    pub fn masking(self, secrets: crate::redact::Secrets) -> Self {
        Grant {
            mask: secrets,
            ..self
        }
    }

    /// The same grant, telling `progress` what happens.
    pub fn reporting_to(&self, progress: Arc<dyn PluginProgress>) -> Self {
        Grant {
            progress,
            ..self.clone()
        }
    }
}
