//! What a process keeps across its runs: the one wasmtime engine, with its epoch thread,
//! linker and compile cache. A front end that runs many sessions (the job server: one per
//! job) makes one `Host` and opens every session on it, rather than an engine and a thread
//! per session.

use crate::plugin::wasm::WasmRuntime;
use crate::plugin::wasm::cache::ComponentCache;
use crate::session::{Session, Settings};
use std::sync::Arc;

/// The process's plugin runtime; cheap to clone.
#[derive(Clone)]
pub struct Host {
    runtime: Arc<WasmRuntime>,
}

impl Host {
    /// A host caching compiled plugins in the default folder (`$FERRY_CACHE_DIR`, else
    /// `~/.cache/ferry/wasm`).
    pub fn new() -> anyhow::Result<Host> {
        Host::with_cache(ComponentCache::default_dir())
    }

    /// A host caching compiled plugins in `dir` (`None`: compile every load).
    pub fn with_cache(dir: Option<std::path::PathBuf>) -> anyhow::Result<Host> {
        Ok(Host {
            runtime: Arc::new(WasmRuntime::new(dir)?),
        })
    }

    /// Open a promotion on this host's runtime.
    pub async fn open(&self, settings: Settings) -> Result<Session, crate::Error> {
        Session::open_on(self.runtime.clone(), settings).await
    }
}
