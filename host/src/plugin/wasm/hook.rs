//! WASM transform hooks (world `transform-hook` of `ferry:plugin@1.0.0`): one resource in,
//! the resource (changed), a skip or an error out. A hook imports only `log`: it has no
//! network and no files, and runs under the hook limits (CPU, memory, wall clock, output).

use super::state::{Grant, HostState};
use super::{guarded, v1_1 as v1};
use crate::net::Policy;
use crate::plugin::PluginError;
use crate::plugin::manifest::Limits;
use crate::plugin::types::{GuestError, HookContext, HookOutcome, Resource};
use std::sync::Arc;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "transform-hook",
        imports: { default: async | trappable },
        exports: { default: async },
        // Share the cloner world's types and `log` host implementation.
        with: {
            "ferry:plugin/types": crate::plugin::wasm::v1_1::types,
            "ferry:plugin/log": crate::plugin::wasm::v1_1::ferry::plugin::log,
        },
    });
}

pub use bindings::TransformHookPre;
use bindings::exports::ferry::plugin::transform as wt;

/// Largest body a hook may return, as JSON text.
pub const MAX_OUTPUT: usize = 4 << 20;

#[derive(Clone)]
pub struct WasmHook {
    name: Arc<str>,
    sha256: String,
    limits: Limits,
    pre: TransformHookPre<HostState>,
}

impl WasmHook {
    pub(super) fn new(name: &str, sha256: String, limits: Limits, pre: TransformHookPre<HostState>) -> Self {
        WasmHook { name: Arc::from(name), sha256, limits, pre }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub async fn apply(&self, ctx: &HookContext, res: &Resource) -> Result<HookOutcome, PluginError> {
        let what = format!("transform {} {:?}", res.kind, res.key);
        let wctx = wt::HookContext { source_env: ctx.source_env.clone(), target_env: ctx.target_env.clone(), kind: ctx.kind.clone(), params: ctx.params.to_string() };
        let wres = v1::to_wit(res);
        let pre = self.pre.clone();
        let out = guarded(&self.name, self.limits, Arc::new(Policy::default()), Grant::offline(), &what, pre.engine().clone(), move |store| {
            Box::pin(async move {
                let hook = pre.instantiate_async(&mut *store).await?;
                hook.ferry_plugin_transform().call_apply(store, &wctx, &wres).await
            })
        })
        .await?;
        let fail = |error: GuestError| PluginError::Guest { plugin: self.name.to_string(), call: what.clone(), error };
        match out {
            Err(message) => Err(fail(GuestError::Fatal(message))),
            Ok(wt::Outcome::Skip(why)) => Ok(HookOutcome::Skip(why)),
            Ok(wt::Outcome::Keep(r)) => {
                if r.body.len() > MAX_OUTPUT {
                    return Err(PluginError::Limit { plugin: self.name.to_string(), call: what, limit: format!("output of {} MiB (the resource it returned is {} bytes)", MAX_OUTPUT >> 20, r.body.len()) });
                }
                v1::from_wit(&self.name, r).map(HookOutcome::Keep).map_err(fail)
            }
        }
    }
}
