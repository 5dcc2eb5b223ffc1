//! Where a run's time went inside the plugin runtimes: process-wide counters that the report
//! shows under `runtime`, and that the benchmark reads to give the cost of sandboxing.
//!
//! WASM time is measured per call from entering the store to leaving it, instantiation
//! included, minus the time spent in host calls (HTTP, files, sleeps): the guest's own work.
//! Rhai hook time is the whole script run on its blocking thread.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct Counter {
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl Counter {
    const fn new() -> Counter {
        Counter {
            calls: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
        }
    }

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

/// Guest time in WASM components: cloners and hooks.
pub static WASM: Counter = Counter::new();
/// Time in Rhai transform hooks.
pub static RHAI_HOOKS: Counter = Counter::new();
/// Time in Rhai cloner scripts (host calls included: a script's HTTP is synchronous).
pub static RHAI_CLONERS: Counter = Counter::new();

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spent {
    pub calls: u64,
    pub ms: f64,
}

/// The counters as the report shows them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Runtime {
    pub wasm: Spent,
    pub rhai_hooks: Spent,
    pub rhai_cloners: Spent,
}

pub fn snapshot() -> Runtime {
    Runtime {
        wasm: WASM.read(),
        rhai_hooks: RHAI_HOOKS.read(),
        rhai_cloners: RHAI_CLONERS.read(),
    }
}
