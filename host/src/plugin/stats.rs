//! Where a run's time went inside the plugin runtimes: counters per run (one [`Stats`] per
//! session, shared by its grant and its hooks), which the report shows under `runtime` and
//! the benchmark reads to give the cost of sandboxing. Two sessions in one process (a job
//! server) keep their figures apart.
//!
//! WASM time is measured per call from entering the store to leaving it, instantiation
//! included, minus the time spent in host calls (HTTP, files, sleeps): the guest's own work.
//! Rhai hook time is the whole script run on its blocking thread.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Counter {
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl Counter {
    pub fn add(&self, spent: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos
            .fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
    }

    fn read(&self) -> Spent {
        Spent {
            calls: self.calls.load(Ordering::Relaxed),
            ms: self.nanos.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// One run's counters.
#[derive(Default)]
pub struct Stats {
    /// guest time in WASM components: cloners and hooks
    pub wasm: Counter,
    /// time in Rhai transform hooks
    pub rhai_hooks: Counter,
    /// time in Rhai cloner scripts (host calls included: a script's HTTP is synchronous)
    pub rhai_cloners: Counter,
}

impl Stats {
    /// The counters as the report shows them.
    pub fn snapshot(&self) -> Runtime {
        Runtime {
            wasm: self.wasm.read(),
            rhai_hooks: self.rhai_hooks.read(),
            rhai_cloners: self.rhai_cloners.read(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spent {
    pub calls: u64,
    pub ms: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Runtime {
    pub wasm: Spent,
    pub rhai_hooks: Spent,
    pub rhai_cloners: Spent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_keep_their_figures_apart() {
        let (a, b) = (Stats::default(), Stats::default());
        a.wasm.add(Duration::from_millis(3));
        a.wasm.add(Duration::from_millis(1));
        b.rhai_hooks.add(Duration::from_millis(2));
        let (a, b) = (a.snapshot(), b.snapshot());
        assert_eq!((a.wasm.calls, a.rhai_hooks.calls), (2, 0));
        assert_eq!((b.wasm.calls, b.rhai_hooks.calls), (0, 1));
        assert!((a.wasm.ms - 4.0).abs() < 1e-9);
    }
}
