//! Plugins: cloners (WASM components or Rhai scripts) and transform hooks, each run in a
//! sandbox. `registry` finds and loads them; `wasm` and `rhai` are the two runtimes.

pub mod cloner;
pub mod grant;
pub mod hook;
pub mod hooks;
pub(crate) mod log_budget;
pub mod manifest;
pub mod platform;
pub mod registry;
pub mod rhai;
pub mod stats;
pub mod types;
pub mod wasm;

pub use cloner::{Call, Cloner};
pub use registry::{PluginInfo, Registry};
pub use types::{CallContext, GuestError, KindInfo, Packed, RefBy, Reference, Resource, Stored};

/// Why a plugin call failed. Every variant names the plugin (or the rule) so that a user
/// reading a report knows whom to blame.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The plugin ran and returned an error of its own.
    #[error("plugin {plugin}, {call}: {error}")]
    Guest {
        plugin: String,
        call: String,
        error: GuestError,
    },
    /// The plugin broke a resource limit and was stopped.
    #[error("plugin {plugin}, {call}: stopped at its limit of {limit}")]
    Limit {
        plugin: String,
        call: String,
        limit: String,
    },
    /// The plugin asked for something the sandbox forbids (the message names plugin and rule).
    #[error("{message} (during {call})")]
    Violation { call: String, message: String },
    /// The plugin crashed (panic, out-of-bounds access, ...).
    #[error("plugin {plugin}, {call}: crashed: {message}{}", stderr_tail(stderr))]
    Trap {
        plugin: String,
        call: String,
        message: String,
        stderr: String,
    },
    /// The plugin could not be loaded.
    #[error("plugin {plugin} cannot be loaded: {message}")]
    Load { plugin: String, message: String },
}

impl PluginError {
    /// Whether retrying the same call later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PluginError::Guest {
                error: GuestError::Transient(_),
                ..
            }
        )
    }
}

fn stderr_tail(stderr: &str) -> String {
    if stderr.is_empty() {
        return String::new();
    }
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(" ({})", tail.join(" | "))
}
