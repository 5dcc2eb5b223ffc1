//! The per-call state of one WASM instance: an empty WASI context, the memory limiter, the
//! CPU budget, and the capabilities the call was granted.

use crate::net::Policy;
use crate::plugin::grant::Grant;
use crate::plugin::manifest::Limits;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
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
    allowance: Allowance,
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
    /// what this call may still log
    pub(crate) logged: crate::plugin::log_budget::LogBudget,
}

impl HostState {
    pub fn new(plugin: Arc<str>, limits: Limits, policy: Arc<Policy>, grant: Grant) -> Self {
        // Keep the tail of what the guest writes to stderr: a Rust panic message lands there.
        let stderr = MemoryOutputPipe::new(4096);
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        let allowance = Allowance::new(limits.memory_bytes);
        HostState {
            wasi,
            table: ResourceTable::new(),
            allowance,
            stderr,
            plugin,
            limits,
            policy,
            grant,
            deadline: Instant::now() + limits.cpu,
            hit: None,
            in_host: Duration::ZERO,
            logged: Default::default(),
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

    /// After a growth: a refusal of the memory budget names that limit in the error.
    fn note_memory_hit(&mut self) {
        if self.allowance.hit {
            self.hit = Some(LimitHit::Memory);
        }
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

/// What one instance may hold. Linear memory and tables draw on one budget, the plugin's
/// `memory-mib`: wasmtime's `StoreLimits` caps each memory on its own and tables not at all,
/// so a 2 KB component could grow a table of 2^29 elements (4 GB) or four memories of the
/// full budget each. A Rust component needs one memory; the shims of the component model
/// bring a few small tables and instances.
#[derive(Debug)]
pub(crate) struct Allowance {
    budget: usize,
    /// bytes granted so far: every memory's, and every table's elements
    used: usize,
    pub(crate) hit: bool,
}

/// What a table element is counted as: a function reference, with room for wasmtime's own
/// bookkeeping beside it.
const TABLE_ELEMENT_BYTES: usize = 16;

impl Allowance {
    pub(crate) fn new(budget: u64) -> Allowance {
        Allowance {
            budget: usize::try_from(budget).unwrap_or(usize::MAX),
            used: 0,
            hit: false,
        }
    }

    /// Grow a memory or a table from `current` to `desired` units of `unit_bytes` each, if
    /// its own maximum and the budget allow it; remember a refusal of the budget.
    fn grow(
        &mut self,
        what: &str,
        (current, desired, maximum): (usize, usize, Option<usize>),
        unit_bytes: usize,
    ) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current).saturating_mul(unit_bytes);
        let fits = self.used.saturating_add(more) <= self.budget;
        if maximum.is_some_and(|m| desired > m) || !fits {
            self.hit |= !fits;
            return Err(wasmtime::format_err!(
                "memory limit: growing a {what} to {desired} passes the plugin's budget of {} bytes",
                self.budget
            ));
        }
        self.used += more;
        Ok(true)
    }
}

impl ResourceLimiter for Allowance {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow("memory (bytes)", (current, desired, maximum), 1)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            "table (elements)",
            (current, desired, maximum),
            TABLE_ELEMENT_BYTES,
        )
    }

    fn instances(&self) -> usize {
        16
    }
    fn tables(&self) -> usize {
        16
    }
    fn memories(&self) -> usize {
        1
    }
}

/// The instance's allowance does the capping; `hit` lets the error name the limit rather
/// than a bare trap.
impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.allowance.memory_growing(current, desired, maximum);
        self.note_memory_hit();
        r
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.allowance.table_growing(current, desired, maximum);
        self.note_memory_hit();
        r
    }
    fn instances(&self) -> usize {
        self.allowance.instances()
    }
    fn tables(&self) -> usize {
        self.allowance.tables()
    }
    fn memories(&self) -> usize {
        self.allowance.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Config, Engine, Instance, Module, Store};

    /// A store whose instances live on an allowance of `budget` bytes.
    fn store(budget: u64) -> Store<Allowance> {
        let engine = Engine::new(&Config::new()).unwrap();
        let mut store = Store::new(&engine, Allowance::new(budget));
        store.limiter(|a| a);
        store
    }

    #[test]
    fn tables_and_memories_draw_on_one_budget() {
        let mut a = Allowance::new(1 << 20);
        // A table of 2^29 elements: refused at once, whatever its own maximum.
        assert!(a.table_growing(0, 1 << 29, None).is_err());
        assert!(a.hit);
        let mut a = Allowance::new(1 << 20);
        assert!(a.memory_growing(0, 768 << 10, None).unwrap());
        // 16 Ki elements are 256 KiB, all that the memory left: one more is over.
        assert!(a.table_growing(0, (16 << 10) + 1, None).is_err());
        assert!(a.table_growing(0, 1 << 10, None).unwrap());
        // A second memory of the full budget is refused too.
        assert!(a.memory_growing(0, 1 << 20, None).is_err());
        assert_eq!(a.memories(), 1);
    }

    #[test]
    fn a_module_that_grows_a_table_past_the_budget_traps() {
        let mut store = store(16 << 20);
        // Written in binary, to need no text parser:
        // (module (table 1 funcref)
        //   (func (export "grow") (param i32) (result i32)
        //     (table.grow 0 (ref.null func) (local.get 0))))
        let wasm: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
            0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type: (i32) -> i32
            0x03, 0x02, 0x01, 0x00, // func 0: type 0
            0x04, 0x04, 0x01, 0x70, 0x00, 0x01, // table: funcref, min 1
            0x07, 0x08, 0x01, 0x04, b'g', b'r', b'o', b'w', 0x00, 0x00, // export "grow"
            0x0a, 0x0b, 0x01, 0x09, 0x00, // code: 1 body, 9 bytes, no locals
            0xd0, 0x70, // ref.null func
            0x20, 0x00, // local.get 0
            0xfc, 0x0f, 0x00, // table.grow 0
            0x0b, // end
        ];
        let module = Module::new(store.engine(), wasm).unwrap();
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let grow = instance
            .get_typed_func::<i32, i32>(&mut store, "grow")
            .unwrap();
        assert_eq!(
            grow.call(&mut store, 1000).unwrap(),
            1,
            "a small growth is fine"
        );
        let e = grow.call(&mut store, 1 << 29).unwrap_err();
        assert!(format!("{e:#}").contains("memory limit"), "{e:#}");
        assert!(store.data().hit);
    }
}
