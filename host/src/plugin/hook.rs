//! Transform hooks, whichever runtime runs them: a Rhai script or a WASM component, under
//! one contract (a context and a resource in; the resource, a skip or an error out) and the
//! same sandbox rules (no network, no files, CPU, memory and output limits).
//!
//! A hook is named by `uses`: a path (`scripts/rename.rhai`, `hooks/scrub.wasm`, relative
//! to the promotion file) or a hook bundled into ferry (`bundled:rename.rhai`,
//! `bundled:rename.wasm`; `ferry hook list` shows them).

use super::PluginError;
use super::manifest::Limits;
use super::rhai::{RhaiHook, RhaiLimits};
use super::types::{HookContext, HookOutcome, Resource};
use super::wasm::WasmRuntime;
use super::wasm::hook::WasmHook;
use std::path::Path;

/// The ready-made Rhai hooks of `scripts/`, compiled into the binary.
pub const BUNDLED_SCRIPTS: &[(&str, &str)] = &[
    ("rename.rhai", include_str!("../../../scripts/rename.rhai")),
    (
        "map-names.rhai",
        include_str!("../../../scripts/map-names.rhai"),
    ),
    ("scrub.rhai", include_str!("../../../scripts/scrub.rhai")),
];

#[derive(Clone)]
pub enum Hook {
    Rhai(RhaiHook),
    Wasm(WasmHook),
}

impl Hook {
    /// Load the hook `uses` names; relative paths are taken from `base`.
    pub fn load(uses: &str, base: &Path, runtime: &WasmRuntime) -> anyhow::Result<Hook> {
        if let Some(name) = uses.strip_prefix("bundled:") {
            if let Some((_, text)) = BUNDLED_SCRIPTS.iter().find(|(n, _)| *n == name) {
                return Ok(Hook::Rhai(RhaiHook::compile(uses, text, RhaiLimits::HOOK)?));
            }
            if let Some(b) = super::registry::BUNDLED_HOOKS
                .iter()
                .find(|b| format!("{}.wasm", b.name) == name)
            {
                return Ok(Hook::Wasm(runtime.load_hook(uses, b.wasm, Limits::HOOK)?));
            }
            anyhow::bail!(
                "hook {uses:?}: no such bundled hook (bundled: {})",
                bundled_names().join(", ")
            );
        }
        let path = base.join(uses);
        match path.extension().and_then(|e| e.to_str()) {
            Some("rhai") => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("hook {uses:?}: cannot read {}: {e}", path.display())
                })?;
                Ok(Hook::Rhai(RhaiHook::compile(
                    uses,
                    &text,
                    RhaiLimits::HOOK,
                )?))
            }
            Some("wasm") => {
                let bytes = std::fs::read(&path).map_err(|e| {
                    anyhow::anyhow!("hook {uses:?}: cannot read {}: {e}", path.display())
                })?;
                Ok(Hook::Wasm(runtime.load_hook(uses, &bytes, Limits::HOOK)?))
            }
            _ => anyhow::bail!(
                "hook {uses:?}: a hook is a Rhai script (.rhai) or a WASM component (.wasm)"
            ),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Hook::Rhai(h) => h.name(),
            Hook::Wasm(h) => h.name(),
        }
    }

    pub async fn apply(
        &self,
        ctx: &HookContext,
        res: &Resource,
    ) -> Result<HookOutcome, PluginError> {
        match self {
            Hook::Rhai(h) => h.apply(ctx, res).await,
            Hook::Wasm(h) => h.apply(ctx, res).await,
        }
    }
}

/// Every bundled hook's `uses` name.
pub fn bundled_names() -> Vec<String> {
    BUNDLED_SCRIPTS
        .iter()
        .map(|(n, _)| format!("bundled:{n}"))
        .chain(
            super::registry::BUNDLED_HOOKS
                .iter()
                .map(|b| format!("bundled:{}.wasm", b.name)),
        )
        .collect()
}
