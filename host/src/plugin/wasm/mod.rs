//! The WASM runtime: one engine, components compiled once (and cached on disk), and a fresh
//! store per call from a cached `InstancePre`, under epoch-based CPU deadlines, a wall-clock
//! timeout and a memory cap.

pub mod cache;
pub mod hook;
pub mod state;
pub mod v1;
pub mod v1_1;
pub mod v1_2;
pub mod v1_3;

use crate::net::Policy;
use crate::plugin::PluginError;
use crate::plugin::cloner::{Call, ClonerCalls};
use crate::plugin::grant::Grant;
use crate::plugin::manifest::Limits;
use crate::plugin::types::{GuestError, KindInfo, Resource, Stored};
use anyhow::Context;
use cache::ComponentCache;
use state::{HostState, LimitHit};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, UpdateDeadline};

/// How often the epoch advances: the granularity of CPU deadlines and of yielding to the
/// async executor.
const TICK: Duration = Duration::from_millis(10);

/// The engine, the linker and the epoch ticker, shared by every WASM plugin of a run.
pub struct WasmRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ComponentCache,
    _ticker: Ticker,
}

impl WasmRuntime {
    /// `cache_dir = None` compiles every load (tests that must not touch `~/.cache`).
    pub fn new(cache_dir: Option<std::path::PathBuf>) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true).wasm_component_model(true);
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("creating the WASM engine")?;
        let mut linker = Linker::new(&engine);
        // WASI is linked so that components built by a plain `cargo build` for wasm32-wasip2
        // instantiate, but its context is empty: no preopened dirs, env, args or sockets.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Only the newest contract's imports are defined: they satisfy 1.0.0 imports too.
        v1_3::ClonerPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let ticker = Ticker::start(engine.clone());
        let cache = ComponentCache::new(&engine, cache_dir);
        Ok(WasmRuntime {
            engine,
            linker,
            cache,
            _ticker: ticker,
        })
    }

    /// Compile (or load from the cache) and link a cloner component.
    pub fn load_cloner(
        &self,
        name: &str,
        bytes: &[u8],
        limits: Limits,
        policy: Policy,
    ) -> Result<WasmCloner, PluginError> {
        let (sha256, version, pre) =
            self.prepare(name, bytes, "cloner", "cannot link against this host")?;
        let missing = |e: wasmtime::Error| {
            load_error(
                name,
                anyhow::Error::from(e).context(format!(
                    "does not export the ferry:plugin/cloner@{version} interface"
                )),
            )
        };
        let pre = match version {
            v1::VERSION => Contract::V1_0(v1::ClonerPluginPre::new(pre).map_err(missing)?),
            v1_1::VERSION => Contract::V1_1(v1_1::ClonerPluginPre::new(pre).map_err(missing)?),
            v1_2::VERSION => Contract::V1_2(v1_2::ClonerPluginPre::new(pre).map_err(missing)?),
            _ => Contract::V1_3(v1_3::ClonerPluginPre::new(pre).map_err(missing)?),
        };
        Ok(WasmCloner {
            name: Arc::from(name),
            sha256,
            limits,
            policy: Arc::new(policy),
            pre,
        })
    }

    /// Compile (or load from the cache) and link a transform hook component. Hooks get no
    /// network and no files: only `log`.
    pub fn load_hook(
        &self,
        name: &str,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<hook::WasmHook, PluginError> {
        let (sha256, version, pre) = self.prepare(
            name,
            bytes,
            "transform",
            "cannot link against this host (a hook may import only ferry:plugin/log)",
        )?;
        let pre = hook::TransformHookPre::new(version, pre).map_err(|e| {
            load_error(
                name,
                anyhow::Error::from(e).context(format!(
                    "does not export the ferry:plugin/transform@{version} interface"
                )),
            )
        })?;
        Ok(hook::WasmHook::new(name, sha256, limits, pre))
    }

    /// What loading any component takes: check it is WebAssembly, compile it (or load it
    /// from the cache), check it exports `interface` of this contract version, and link it.
    /// Returns its sha256, the contract version it was built against and the linked component.
    fn prepare(
        &self,
        name: &str,
        bytes: &[u8],
        interface: &str,
        link_hint: &str,
    ) -> Result<
        (
            String,
            &'static str,
            wasmtime::component::InstancePre<HostState>,
        ),
        PluginError,
    > {
        let load = |e: anyhow::Error| load_error(name, e);
        if !bytes.starts_with(b"\0asm") {
            return Err(load(anyhow::anyhow!("not a WebAssembly file")));
        }
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        let component = self
            .cache
            .load(&self.engine, &sha256, bytes)
            .map_err(|e| load(e.context("not a valid WebAssembly component")))?;
        let version = check_contract(&self.engine, &component, interface).map_err(load)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load(anyhow::Error::from(e).context(link_hint.to_string())))?;
        Ok((sha256, version, pre))
    }
}

fn load_error(plugin: &str, e: anyhow::Error) -> PluginError {
    PluginError::Load {
        plugin: plugin.to_string(),
        message: format!("{e:#}"),
    }
}

/// The contract versions this host loads, oldest first.
pub const VERSIONS: [&str; 4] = [v1::VERSION, v1_1::VERSION, v1_2::VERSION, v1_3::VERSION];

/// The contract version a component was built against, from its export names
/// (`ferry:plugin/cloner@1.0.0`). A component of a version this host does not know, or one
/// that exports the other interface (a hook where a cloner is wanted), gets a clear error.
fn check_contract(
    engine: &Engine,
    component: &Component,
    wanted: &str,
) -> anyhow::Result<&'static str> {
    let ty = component.component_type();
    let names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let prefix = format!("ferry:plugin/{wanted}@");
    if let Some(v) = VERSIONS
        .iter()
        .find(|v| names.iter().any(|n| *n == format!("{prefix}{v}")))
    {
        return Ok(v);
    }
    if let Some(other) = names.iter().find(|n| n.starts_with(&prefix)) {
        let version = other.trim_start_matches(&prefix);
        anyhow::bail!(
            "built against ferry:plugin@{version}, but this host speaks ferry:plugin@{}; rebuild the plugin with a matching ferry-sdk",
            VERSIONS.join(" and @")
        );
    }
    if wanted == "cloner"
        && names
            .iter()
            .any(|n| n.starts_with("ferry:plugin/transform@"))
    {
        anyhow::bail!("is a transform hook, not a cloner; use it as a hook in a promotion file");
    }
    if wanted == "transform" && names.iter().any(|n| n.starts_with("ferry:plugin/cloner@")) {
        anyhow::bail!("is a cloner plugin, not a transform hook; load it with `plugins`");
    }
    anyhow::bail!(
        "exports no ferry:plugin/{wanted} interface (it exports: {})",
        if names.is_empty() {
            "nothing".into()
        } else {
            names.join(", ")
        }
    )
}

/// A cloner's linked component, by the contract version it was built against.
#[derive(Clone)]
enum Contract {
    V1_0(v1::ClonerPluginPre<HostState>),
    V1_1(v1_1::ClonerPluginPre<HostState>),
    V1_2(v1_2::ClonerPluginPre<HostState>),
    V1_3(v1_3::ClonerPluginPre<HostState>),
}

/// One export call on a fresh instance of one version's linked component `$pre` (for calls
/// that not every version exports; `call_cloner!` picks the version).
macro_rules! call_on {
    ($self:ident, $pre:ident, $grant:expr, $what:expr, |$c:ident, $s:ident| $call:expr) => {{
        let pre = $pre.clone();
        $self
            .call($grant, $what, move |$s| {
                Box::pin(async move {
                    let p = pre.instantiate_async(&mut *$s).await?;
                    let $c = p.ferry_plugin_cloner();
                    $call.await
                })
            })
            .await
    }};
}

/// Run one export call on a fresh instance of whichever version `$self` was built against:
/// `$call` is the same code for every version (the types are shared), with `$c` bound to
/// the instance's `cloner` exports and `$s` to its store.
macro_rules! call_cloner {
    ($self:ident, $grant:expr, $what:expr, |$c:ident, $s:ident| $call:expr) => {
        match &$self.pre {
            Contract::V1_0(pre) => call_on!($self, pre, $grant, $what, |$c, $s| $call),
            Contract::V1_1(pre) => call_on!($self, pre, $grant, $what, |$c, $s| $call),
            Contract::V1_2(pre) => call_on!($self, pre, $grant, $what, |$c, $s| $call),
            Contract::V1_3(pre) => call_on!($self, pre, $grant, $what, |$c, $s| $call),
        }
    };
}

/// Like `call_cloner!`, for a call that 1.2.0 added: `$older` is what a component built
/// against an older version gets.
macro_rules! call_since_1_2 {
    ($self:ident, $grant:expr, $what:expr, |$c:ident, $s:ident| $call:expr, else $older:expr) => {
        match &$self.pre {
            Contract::V1_2(pre) => call_on!($self, pre, $grant, $what, |$c, $s| $call),
            Contract::V1_3(pre) => call_on!($self, pre, $grant, $what, |$c, $s| $call),
            _ => $older,
        }
    };
}

/// One loaded cloner component. Cheap to clone; every call runs in a fresh instance.
#[derive(Clone)]
pub struct WasmCloner {
    name: Arc<str>,
    sha256: String,
    limits: Limits,
    policy: Arc<Policy>,
    pre: Contract,
}

impl WasmCloner {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Run `f` in a fresh store under this plugin's limits; `call_cloner!` instantiates.
    async fn call<R, F>(&self, grant: Grant, what: &str, f: F) -> Result<R, PluginError>
    where
        R: Send,
        F: for<'a> FnOnce(
                &'a mut Store<HostState>,
            ) -> futures::future::BoxFuture<'a, wasmtime::Result<R>>
            + Send,
    {
        let engine = match &self.pre {
            Contract::V1_0(pre) => pre.engine().clone(),
            Contract::V1_1(pre) => pre.engine().clone(),
            Contract::V1_2(pre) => pre.engine().clone(),
            Contract::V1_3(pre) => pre.engine().clone(),
        };
        guarded(
            &self.name,
            self.limits,
            self.policy.clone(),
            grant,
            what,
            engine,
            f,
        )
        .await
    }

    fn guest(&self, call: String, error: GuestError) -> PluginError {
        PluginError::Guest {
            plugin: self.name.to_string(),
            call,
            error,
        }
    }
}

#[async_trait::async_trait]
impl ClonerCalls for WasmCloner {
    async fn kinds(&self) -> Result<Vec<KindInfo>, PluginError> {
        let kinds = call_cloner!(self, Grant::offline(), "kinds", |g, s| g.call_kinds(s))?;
        let mut kinds: Vec<KindInfo> = kinds.into_iter().map(KindInfo::from).collect();
        let support = call_since_1_2!(self, Grant::offline(), "support", |g, s| g.call_support(s), else Ok(vec![]))?;
        {
            for s in support {
                let Some(k) = kinds.iter_mut().find(|k| k.name == s.kind) else {
                    return Err(self.guest(
                        "support".into(),
                        GuestError::Invalid(format!(
                            "support names kind {:?}, which kinds() does not declare",
                            s.kind
                        )),
                    ));
                };
                k.support = crate::plugin::types::Support {
                    not_compared: s.not_compared,
                    comparable: s.comparable,
                    deletes: s.deletes,
                    partial_update: s.partial_update,
                };
            }
        }
        Ok(kinds)
    }

    async fn list(&self, call: Call<'_>) -> Result<Vec<Stored>, PluginError> {
        let Call { grant, ctx, kind } = call;
        let (c, k) = (v1_3::context(ctx), kind.to_string());
        let out = call_cloner!(self, grant, &format!("list {kind}"), |g, s| g
            .call_list(s, &c, &k))?;
        let list = out.map_err(|e| self.guest(format!("list {kind}"), e.into()))?;
        list.into_iter()
            .map(|r| {
                v1_3::from_wit(&self.name, r).map_err(|e| self.guest(format!("list {kind}"), e))
            })
            .collect()
    }

    async fn find(
        &self,
        call: Call<'_>,
        wanted: &Resource,
    ) -> Result<Option<Resource>, PluginError> {
        let Call { grant, ctx, kind } = call;
        let (c, k, w) = (v1_3::context(ctx), kind.to_string(), v1_3::to_wit(wanted));
        let what = format!("find {kind} {:?}", wanted.key);
        let out = call_cloner!(self, grant, &what, |g, s| g.call_find(s, &c, &k, &w))?;
        match out.map_err(|e| self.guest(what.clone(), e.into()))? {
            None => Ok(None),
            Some(r) => v1_3::from_wit(&self.name, r)
                .map(Some)
                .map_err(|e| self.guest(what, e)),
        }
    }

    /// Look up many resources at once. `None` when the plugin has no batch lookup for the
    /// kind (every 1.0.0 plugin): the caller then calls `find` per resource.
    async fn find_all(
        &self,
        call: Call<'_>,
        wanted: &[&Resource],
    ) -> Result<Option<Vec<Option<Stored>>>, PluginError> {
        let Call { grant, ctx, kind } = call;
        let (c, k, w) = (
            v1_3::context(ctx),
            kind.to_string(),
            wanted.iter().map(|r| v1_3::to_wit(r)).collect::<Vec<_>>(),
        );
        let what = format!("find-all {kind} ({} resources)", wanted.len());
        let out = match &self.pre {
            // 1.0.0 has no batch lookup.
            Contract::V1_0(_) => return Ok(None),
            Contract::V1_1(pre) => call_on!(self, pre, grant, &what, |g, s| g
                .call_find_all(s, &c, &k, &w))?,
            Contract::V1_2(pre) => call_on!(self, pre, grant, &what, |g, s| g
                .call_find_all(s, &c, &k, &w))?,
            Contract::V1_3(pre) => call_on!(self, pre, grant, &what, |g, s| g
                .call_find_all(s, &c, &k, &w))?,
        };
        let Some(found) = out.map_err(|e| self.guest(what.clone(), e.into()))? else {
            return Ok(None);
        };
        if found.len() != wanted.len() {
            return Err(self.guest(
                what,
                GuestError::Invalid(format!(
                    "find-all answered {} entries for {} resources",
                    found.len(),
                    wanted.len()
                )),
            ));
        }
        found
            .into_iter()
            .map(|f| {
                f.map(|r| v1_3::from_wit(&self.name, r))
                    .transpose()
                    .map_err(|e| self.guest(what.clone(), e))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    async fn create(&self, call: Call<'_>, res: &Resource) -> Result<Resource, PluginError> {
        let Call { grant, ctx, kind } = call;
        let (c, k, r) = (v1_3::context(ctx), kind.to_string(), v1_3::to_wit(res));
        let what = format!("create {kind} {:?}", res.key);
        let out = call_cloner!(self, grant, &what, |g, s| g.call_create(s, &c, &k, &r))?;
        let r = out.map_err(|e| self.guest(what.clone(), e.into()))?;
        v1_3::from_wit(&self.name, r).map_err(|e| self.guest(what, e))
    }

    async fn update(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
    ) -> Result<Resource, PluginError> {
        let Call { grant, ctx, kind } = call;
        let (c, k, id, r) = (
            v1_3::context(ctx),
            kind.to_string(),
            target_id.to_string(),
            v1_3::to_wit(res),
        );
        let what = format!("update {kind} {:?}", res.key);
        let out = call_cloner!(self, grant, &what, |g, s| g.call_update(s, &c, &k, &id, &r))?;
        let r = out.map_err(|e| self.guest(what.clone(), e.into()))?;
        v1_3::from_wit(&self.name, r).map_err(|e| self.guest(what, e))
    }

    async fn update_fields(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
        fields: &[String],
    ) -> Result<Resource, PluginError> {
        let Call { grant, ctx, kind } = call;
        if matches!(self.pre, Contract::V1_0(_) | Contract::V1_1(_)) {
            return self
                .update(Call::new(grant, ctx, kind), target_id, res)
                .await;
        }
        let (c, k, id, r, f) = (
            v1_3::context(ctx),
            kind.to_string(),
            target_id.to_string(),
            v1_3::to_wit(res),
            fields.to_vec(),
        );
        let what = format!("update {kind} {:?}", res.key);
        let out = call_since_1_2!(self, grant, &what, |g, s| g
            .call_update_fields(s, &c, &k, &id, &r, &f), else unreachable!("older contracts update whole"))?;
        let r = out.map_err(|e| self.guest(what.clone(), e.into()))?;
        v1_3::from_wit(&self.name, r).map_err(|e| self.guest(what, e))
    }

    async fn delete(&self, call: Call<'_>, target: &Resource) -> Result<(), PluginError> {
        let Call { grant, ctx, kind } = call;
        let what = format!("delete {kind} {:?}", target.key);
        if matches!(self.pre, Contract::V1_0(_) | Contract::V1_1(_)) {
            return Err(self.guest(
                what,
                GuestError::Denied(
                    "built against a contract older than 1.2.0, which has no delete".into(),
                ),
            ));
        }
        let (c, k, t) = (v1_3::context(ctx), kind.to_string(), v1_3::to_wit(target));
        let out = call_since_1_2!(self, grant, &what, |g, s| g.call_delete(s, &c, &k, &t), else unreachable!("checked above"))?;
        out.map_err(|e| self.guest(what, e.into()))
    }

    async fn export(
        &self,
        call: Call<'_>,
        res: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        let Call { grant, ctx, kind } = call;
        let Contract::V1_3(pre) = &self.pre else {
            return Ok(serde_json::Value::Null);
        };
        let (c, k, r) = (v1_3::context(ctx), kind.to_string(), v1_3::to_wit(res));
        let what = format!("export {kind} {:?}", res.key);
        let out = call_on!(self, pre, grant, &what, |g, s| g.call_export(s, &c, &k, &r))?;
        let text = out.map_err(|e| self.guest(what.clone(), e.into()))?;
        serde_json::from_str(&text).map_err(|e| {
            self.guest(
                what,
                GuestError::Invalid(format!("export returned a note that is not JSON: {e}")),
            )
        })
    }

    async fn copy_files(
        &self,
        call: Call<'_>,
        source: &Resource,
        target: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        let Call { grant, ctx, kind } = call;
        let (c, k, s_, t) = (
            v1_3::context(ctx),
            kind.to_string(),
            v1_3::to_wit(source),
            v1_3::to_wit(target),
        );
        let what = format!("copy-files {kind} {:?}", source.key);
        let out = call_cloner!(self, grant, &what, |g, s| g
            .call_copy_files(s, &c, &k, &s_, &t))?;
        let text = out.map_err(|e| self.guest(what.clone(), e.into()))?;
        serde_json::from_str(&text).map_err(|e| {
            self.guest(
                what,
                GuestError::Invalid(format!(
                    "copy-files returned a report that is not JSON: {e}"
                )),
            )
        })
    }
}

/// Run `f` in a fresh store under `limits`: a CPU budget counted in epoch ticks (time in host
/// calls excluded), a memory cap, and a wall-clock timeout. A broken limit or rule becomes a
/// [`PluginError`] that names the plugin, the call and the limit.
pub(crate) async fn guarded<R, F>(
    name: &Arc<str>,
    limits: Limits,
    policy: Arc<Policy>,
    grant: Grant,
    what: &str,
    engine: Engine,
    f: F,
) -> Result<R, PluginError>
where
    R: Send,
    F: for<'a> FnOnce(
            &'a mut Store<HostState>,
        ) -> futures::future::BoxFuture<'a, wasmtime::Result<R>>
        + Send,
{
    let state = HostState::new(name.clone(), limits, policy, grant);
    let mut store = Store::new(&engine, state);
    store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        if state.over_budget() {
            state.hit = Some(LimitHit::Cpu);
            wasmtime::bail!("cpu budget exhausted");
        }
        // Yield to the executor at each tick so a busy guest cannot starve other tasks.
        Ok(UpdateDeadline::Yield(1))
    });
    let entered = std::time::Instant::now();
    let run = async {
        store.data_mut().start_budget();
        f(&mut store).await
    };
    let outcome = tokio::time::timeout(limits.wall, run).await;
    store.data().logged.report(name);
    store
        .data()
        .grant
        .stats
        .wasm
        .add(entered.elapsed().saturating_sub(store.data().in_host));
    let limit = |limit: String| PluginError::Limit {
        plugin: name.to_string(),
        call: what.to_string(),
        limit,
    };
    match outcome {
        Err(_) => Err(limit(format!(
            "wall-clock time of {} ms (wall-ms)",
            limits.wall.as_millis()
        ))),
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            let state = store.data();
            match state.hit {
                Some(LimitHit::Cpu) => Err(limit(format!(
                    "CPU time of {} ms (cpu-ms)",
                    limits.cpu.as_millis()
                ))),
                Some(LimitHit::Memory) => Err(limit(format!(
                    "memory of {} MiB (memory-mib)",
                    limits.memory_bytes >> 20
                ))),
                None => {
                    if let Some(v) = e.downcast_ref::<v1_3::Violation>() {
                        return Err(PluginError::Violation {
                            call: what.to_string(),
                            message: v.0.clone(),
                        });
                    }
                    let stderr = String::from_utf8_lossy(&state.stderr.contents())
                        .trim()
                        .to_string();
                    Err(PluginError::Trap {
                        plugin: name.to_string(),
                        call: what.to_string(),
                        message: trap_message(&e),
                        stderr,
                    })
                }
            }
        }
    }
}

/// The useful part of a trap: wasmtime's message, without the backtrace noise.
fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(t) = e.downcast_ref::<wasmtime::Trap>() {
        return match t {
            wasmtime::Trap::UnreachableCodeReached => {
                "the plugin panicked or aborted (unreachable)".to_string()
            }
            t => t.to_string(),
        };
    }
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A thread that advances the engine's epoch every [`TICK`]; stops when dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ferry-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
