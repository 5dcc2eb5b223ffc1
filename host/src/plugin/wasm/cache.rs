//! Compiled components cached on disk, keyed by the component's sha256 and the engine's
//! compatibility hash, so a plugin is compiled once per host build. Only files this cache
//! wrote itself are ever deserialized: a `.cwasm` handed in by a user is never loaded.
//! Deserializing runs native code, so the cache is used only where no one else could have
//! written: the folder and the file belong to this user, and neither is writable by group
//! or others (a shared folder such as `/tmp` with a planted file is refused, and plugins
//! are compiled in memory instead). Files are written under unique names, then renamed.

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
        if let Err(why) = private_dir(dir) {
            tracing::warn!(
                "not using the plugin cache {}: {why}; compiling in memory",
                dir.display()
            );
            return Ok(Component::new(engine, bytes)?);
        }
        let path = dir.join(format!("{sha256}-{}.cwasm", self.engine_hash));
        let cached = match private_file(&path) {
            Ok(exists) => exists,
            Err(why) => {
                tracing::warn!("ignoring cache entry {}: {why}", path.display());
                false
            }
        };
        if cached {
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
    let bytes = component.serialize()?;
    // A file of a unique name, readable by this user only (O_EXCL, 0600); then renamed, so
    // a concurrent reader never sees half a file.
    let mut tmp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.persist(path)?;
    Ok(())
}

/// Create `dir` (0700) if it is missing; then check that only this user can write in it.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("it is not a folder (a link?)".into());
    }
    owned_and_private(&meta)
}

/// Whether a cache entry is there; an error if it is there but not this user's own file.
fn private_file(path: &Path) -> Result<bool, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    owned_and_private(&meta).map(|()| true)
}

fn owned_and_private(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "it belongs to user {}, not to this one ({me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "group or others may write to it (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}
