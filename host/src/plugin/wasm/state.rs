//! The per-call state of one WASM instance: an empty WASI context, the memory limiter, the
//! CPU budget, and the capabilities the call was granted.

use crate::net::Policy;
use crate::plugin::grant::Grant;
use crate::plugin::manifest::Limits;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Which limit stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Cpu,
    Memory,
}

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    store_limits: StoreLimits,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) plugin: Arc<str>,
    pub(crate) limits: Limits,
    pub(crate) policy: Arc<Policy>,
    pub(crate) grant: Grant,
    /// The instant the guest's CPU budget runs out; pushed forward by the time spent in
    /// host calls, so only guest execution counts.
    pub(crate) deadline: Instant,
    pub(crate) hit: Option<LimitHit>,
    /// time spent in host calls during this store's call (for `plugin::stats`)
    pub(crate) in_host: Duration,
}

impl HostState {
    pub fn new(plugin: Arc<str>, limits: Limits, policy: Arc<Policy>, grant: Grant) -> Self {
        // Keep the tail of what the guest writes to stderr: a Rust panic message lands there.
        let stderr = MemoryOutputPipe::new(4096);
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes as usize)
            .instances(16)
            .tables(64)
            .memories(4)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            store_limits,
            stderr,
            plugin,
            limits,
            policy,
            grant,
            deadline: Instant::now() + limits.cpu,
            hit: None,
            in_host: Duration::ZERO,
        }
    }

    /// Credit time spent outside the guest back to its CPU budget.
    pub(crate) fn credit(&mut self, since: Instant) {
        let spent = since.elapsed();
        self.deadline += spent;
        self.in_host += spent;
    }

    pub(crate) fn start_budget(&mut self) {
        self.deadline = Instant::now() + self.limits.cpu;
    }

    pub(crate) fn over_budget(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// StoreLimits does the capping; this wrapper remembers that the cap was hit, so the error
/// can name the limit rather than a bare trap.
impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.store_limits.memory_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.hit = Some(LimitHit::Memory);
        }
        r
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.store_limits.table_growing(current, desired, maximum)
    }
    fn instances(&self) -> usize {
        self.store_limits.instances()
    }
    fn tables(&self) -> usize {
        self.store_limits.tables()
    }
    fn memories(&self) -> usize {
        self.store_limits.memories()
    }
}
