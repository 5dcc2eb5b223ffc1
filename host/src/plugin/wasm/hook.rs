//! WASM transform hooks (world `transform-hook` of `ferry:plugin@1.0.0`): one resource in,
//! the resource (changed), a skip or an error out. A hook imports only `log`: it has no
//! network and no files, and runs under the hook limits (CPU, memory, wall clock, output).

use super::state::HostState;
use super::{guarded, v1_3 as v1};
use crate::net::Policy;
use crate::plugin::PluginError;
use crate::plugin::grant::Grant;
use crate::plugin::manifest::Limits;
use crate::plugin::types::{GuestError, HookContext, HookOutcome, Resource};
use std::sync::Arc;

/// Hooks of every contract version. The transform world did not change in 1.1.0, 1.2.0 or 1.3.0; its types
/// are shared, its exports are bound per version (bindgen's `with` covers imports only).
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "transform-hook",
        imports: { default: async | trappable },
        exports: { default: async },
        // Share the cloner world's types and `log` host implementation.
        with: {
            "ferry:plugin/types": crate::plugin::wasm::v1_3::types,
            "ferry:plugin/log": crate::plugin::wasm::v1_3::ferry::plugin::log,
        },
    });
}

mod bindings_1_1 {
    wasmtime::component::bindgen!({
        path: "../wit/v1.1.0",
        world: "transform-hook",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "ferry:plugin/types": crate::plugin::wasm::v1_3::types,
            "ferry:plugin/log": crate::plugin::wasm::v1_3::ferry::plugin::log,
        },
    });
}

mod bindings_1_2 {
    wasmtime::component::bindgen!({
        path: "../wit/v1.2.0",
        world: "transform-hook",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "ferry:plugin/types": crate::plugin::wasm::v1_3::types,
            "ferry:plugin/log": crate::plugin::wasm::v1_3::ferry::plugin::log,
        },
    });
}

mod bindings_1_3 {
    wasmtime::component::bindgen!({
        path: "../wit/v1.3.0",
        world: "transform-hook",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "ferry:plugin/types": crate::plugin::wasm::v1_3::types,
            "ferry:plugin/log": crate::plugin::wasm::v1_3::ferry::plugin::log,
        },
    });
}

use bindings::exports::ferry::plugin::transform as wt;

/// A hook's linked component, by the contract version it was built against.
#[derive(Clone)]
pub enum TransformHookPre {
    V1_0(bindings::TransformHookPre<HostState>),
    V1_1(bindings_1_1::TransformHookPre<HostState>),
    V1_2(bindings_1_2::TransformHookPre<HostState>),
    V1_3(bindings_1_3::TransformHookPre<HostState>),
}

impl TransformHookPre {
    pub(super) fn new(
        version: &str,
        pre: wasmtime::component::InstancePre<HostState>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            super::v1::VERSION => TransformHookPre::V1_0(bindings::TransformHookPre::new(pre)?),
            super::v1_1::VERSION => {
                TransformHookPre::V1_1(bindings_1_1::TransformHookPre::new(pre)?)
            }
            super::v1_2::VERSION => {
                TransformHookPre::V1_2(bindings_1_2::TransformHookPre::new(pre)?)
            }
            _ => TransformHookPre::V1_3(bindings_1_3::TransformHookPre::new(pre)?),
        })
    }
}

/// Largest body a hook may return, as JSON text.
pub const MAX_OUTPUT: usize = 4 << 20;

#[derive(Clone)]
pub struct WasmHook {
    name: Arc<str>,
    sha256: String,
    limits: Limits,
    pre: TransformHookPre,
    stats: Arc<crate::plugin::stats::Stats>,
}

impl WasmHook {
    pub(super) fn new(name: &str, sha256: String, limits: Limits, pre: TransformHookPre) -> Self {
        WasmHook {
            name: Arc::from(name),
            sha256,
            limits,
            pre,
            stats: Arc::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub async fn apply(
        &self,
        ctx: &HookContext,
        res: &Resource,
    ) -> Result<HookOutcome, PluginError> {
        let what = format!("transform {} {:?}", res.kind, res.key);
        let wctx = wt::HookContext {
            source_env: ctx.source_env.clone(),
            target_env: ctx.target_env.clone(),
            kind: ctx.kind.clone(),
            params: ctx.params.to_string(),
        };
        let wres = v1::to_wit(res);
        let pre = self.pre.clone();
        let engine = match &pre {
            TransformHookPre::V1_0(p) => p.engine().clone(),
            TransformHookPre::V1_1(p) => p.engine().clone(),
            TransformHookPre::V1_2(p) => p.engine().clone(),
            TransformHookPre::V1_3(p) => p.engine().clone(),
        };
        // Same shapes, distinct Rust types: exports are bound per version.
        macro_rules! later {
            ($p:ident, $b:ident, $store:ident) => {{
                use $b::exports::ferry::plugin::transform as w;
                let ctx = w::HookContext {
                    source_env: wctx.source_env,
                    target_env: wctx.target_env,
                    kind: wctx.kind,
                    params: wctx.params,
                };
                let out = $p
                    .instantiate_async(&mut *$store)
                    .await?
                    .ferry_plugin_transform()
                    .call_apply($store, &ctx, &wres)
                    .await?;
                Ok(out.map(|o| match o {
                    w::Outcome::Keep(r) => wt::Outcome::Keep(r),
                    w::Outcome::Skip(why) => wt::Outcome::Skip(why),
                }))
            }};
        }
        let out = guarded(
            &self.name,
            self.limits,
            Arc::new(Policy::default()),
            Grant::offline_for(self.stats.clone()).masking(ctx.secrets.clone()),
            &what,
            engine,
            move |store| {
                Box::pin(async move {
                    match pre {
                        TransformHookPre::V1_0(p) => {
                            p.instantiate_async(&mut *store)
                                .await?
                                .ferry_plugin_transform()
                                .call_apply(store, &wctx, &wres)
                                .await
                        }
                        TransformHookPre::V1_1(p) => later!(p, bindings_1_1, store),
                        TransformHookPre::V1_2(p) => later!(p, bindings_1_2, store),
                        TransformHookPre::V1_3(p) => later!(p, bindings_1_3, store),
                    }
                })
            },
        )
        .await?;
        let fail = |error: GuestError| PluginError::Guest {
            plugin: self.name.to_string(),
            call: what.clone(),
            error,
        };
        match out {
            Err(message) => Err(fail(GuestError::Fatal(message))),
            Ok(wt::Outcome::Skip(why)) => Ok(HookOutcome::Skip(why)),
            Ok(wt::Outcome::Keep(r)) => {
                if r.body.len() > MAX_OUTPUT {
                    return Err(PluginError::Limit {
                        plugin: self.name.to_string(),
                        call: what,
                        limit: format!(
                            "output of {} MiB (the resource it returned is {} bytes)",
                            MAX_OUTPUT >> 20,
                            r.body.len()
                        ),
                    });
                }
                v1::from_wit(&self.name, r)
                    .map(HookOutcome::Keep)
                    .map_err(fail)
            }
        }
    }
}

#[async_trait::async_trait]
impl crate::plugin::hook::HookCalls for WasmHook {
    fn name(&self) -> &str {
        WasmHook::name(self)
    }
    fn counting_into(&self, stats: Arc<crate::plugin::stats::Stats>) -> crate::plugin::hook::Hook {
        WasmHook {
            stats,
            ..self.clone()
        }
        .into()
    }
    async fn apply(&self, ctx: &HookContext, res: &Resource) -> Result<HookOutcome, PluginError> {
        WasmHook::apply(self, ctx, res).await
    }
}
