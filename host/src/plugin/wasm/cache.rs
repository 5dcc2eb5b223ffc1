//! Compiled components cached on disk, keyed by the component's sha256 and the engine's
//! compatibility hash, so a plugin is compiled once per host build. Only files this cache
//! wrote itself are ever deserialized: a `.cwasm` handed in by a user is never loaded.

use anyhow::Context;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_hash: String,
}

impl ComponentCache {
    /// `dir = None` disables the disk cache (every load compiles).
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ComponentCache {
            dir,
            engine_hash: format!("{:016x}", h.finish()),
        }
    }

    /// The default location: `$FERRY_CACHE_DIR`, else `$XDG_CACHE_HOME/ferry/wasm`, else
    /// `~/.cache/ferry/wasm`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("FERRY_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("ferry").join("wasm"))
    }

    /// Compile `bytes` (whose sha256 is `sha256`), or load the cached compilation.
    pub fn load(&self, engine: &Engine, sha256: &str, bytes: &[u8]) -> anyhow::Result<Component> {
        let Some(dir) = &self.dir else {
            return Ok(Component::new(engine, bytes)?);
        };
        let path = dir.join(format!("{sha256}-{}.cwasm", self.engine_hash));
        if path.exists() {
            // SAFETY: the file was written by `store` below from a component this engine
            // compiled, under a name that binds it to the bytes' hash and this engine's
            // configuration; it is not user input.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!("ignoring unreadable cache entry {}: {e:#}", path.display())
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = store(dir, &path, &component) {
            tracing::debug!(
                "could not cache compiled plugin at {}: {e:#}",
                path.display()
            );
        }
        Ok(component)
    }
}

fn store(dir: &Path, path: &Path, component: &Component) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = component.serialize()?;
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
