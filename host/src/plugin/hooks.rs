//! Finding and loading transform hooks. A hook is named by `uses`: a path
//! (`scripts/rename.rhai`, `hooks/scrub.wasm`, relative to the promotion file) or a hook
//! bundled into ferry (`bundled:rename.rhai`, `bundled:rename.wasm`; `ferry hook list` shows
//! them).

use super::hook::Hook;
use super::manifest::Limits;
use super::rhai::{RhaiHook, RhaiLimits};
use super::wasm::WasmRuntime;
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

impl Hook {
    /// Load the hook `uses` names; relative paths are taken from `base`.
    pub fn load(uses: &str, base: &Path, runtime: &WasmRuntime) -> anyhow::Result<Hook> {
        if let Some(name) = uses.strip_prefix("bundled:") {
            if let Some((_, text)) = BUNDLED_SCRIPTS.iter().find(|(n, _)| *n == name) {
                return Ok(RhaiHook::compile(uses, text, RhaiLimits::HOOK)?.into());
            }
            if let Some(b) = super::registry::BUNDLED_HOOKS
                .iter()
                .find(|b| format!("{}.wasm", b.name) == name)
            {
                return Ok(runtime.load_hook(uses, b.wasm, Limits::HOOK)?.into());
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
                Ok(RhaiHook::compile(uses, &text, RhaiLimits::HOOK)?.into())
            }
            Some("wasm") => {
                let bytes = std::fs::read(&path).map_err(|e| {
                    anyhow::anyhow!("hook {uses:?}: cannot read {}: {e}", path.display())
                })?;
                Ok(runtime.load_hook(uses, &bytes, Limits::HOOK)?.into())
            }
            _ => anyhow::bail!(
                "hook {uses:?}: a hook is a Rhai script (.rhai) or a WASM component (.wasm)"
            ),
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
