//! What a process keeps across its runs: the one wasmtime engine, with its epoch thread,
//! linker and compile cache, and the plugin registries it has loaded. A front end that runs
//! many sessions (the job server: one per job) makes one `Host` and opens every session on
//! it, rather than an engine, a thread and a registry per session.

use crate::error::{Error, ErrorKind, Mark};
use crate::net::Side;
use crate::plugin::Registry;
use crate::plugin::hook::Hook;
use crate::plugin::platform::Given;
use crate::plugin::registry::Discovery;
use crate::plugin::wasm::WasmRuntime;
use crate::plugin::wasm::cache::ComponentCache;
use crate::promotion::EnvToml;
use crate::session::{Session, Settings, identity_of};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The process's plugin runtime and registries; cheap to clone.
#[derive(Clone)]
pub struct Host {
    runtime: Arc<WasmRuntime>,
    registries: Arc<Mutex<Loaded>>,
}

/// Per place to look (the discovery, as text): what was found there when it was loaded (its
/// stamp), and the registry loaded from it.
type Loaded = HashMap<String, (String, Arc<Registry>)>;

impl Host {
    /// A host caching compiled plugins in the default folder (`$FERRY_CACHE_DIR`, else
    /// `~/.cache/ferry/wasm`).
    pub fn new() -> Result<Host, Error> {
        Host::with_cache(ComponentCache::default_dir())
    }

    /// A host caching compiled plugins in `dir` (`None`: compile every load).
    pub fn with_cache(dir: Option<std::path::PathBuf>) -> Result<Host, Error> {
        Ok(Host {
            runtime: Arc::new(WasmRuntime::new(dir).kind(ErrorKind::Plugin)?),
            registries: Default::default(),
        })
    }

    /// Open a promotion on this host's runtime and registries.
    pub async fn open(&self, settings: Settings) -> Result<Session, Error> {
        let registry = self.registry(&Session::discovery(&settings)).await?;
        Session::open_with(self.runtime.clone(), registry, settings).await
    }

    /// The plugins `discovery` finds, loaded once: again only when a plugin file there has
    /// changed (its size or time), so a server picks up a new build without a restart.
    pub async fn registry(&self, discovery: &Discovery) -> Result<Arc<Registry>, Error> {
        let key = format!("{discovery:?}");
        let stamp = Registry::stamp(discovery).kind(ErrorKind::Plugin)?;
        if let Some((seen, r)) = self.cached().get(&key)
            && *seen == stamp
        {
            return Ok(r.clone());
        }
        let loaded = Arc::new(
            Registry::load(&self.runtime, discovery)
                .await
                .kind(ErrorKind::Plugin)?,
        );
        self.cached().insert(key, (stamp, loaded.clone()));
        Ok(loaded)
    }

    /// The identity of the target `env` names on `platform`, as a session opened on it
    /// keys the target's lease, journal and records: every spelling of one target (`HTTP://`
    /// or `http://`, a trailing slash, the default port, a short form or the parameter) is
    /// one identity. Nothing is sent and no credential is read.
    pub async fn target_identity(
        &self,
        discovery: &Discovery,
        platform: &str,
        env: &EnvToml,
    ) -> Result<String, Error> {
        let discovery = Discovery {
            platform: Some(platform.to_string()),
            ..discovery.clone()
        };
        let registry = self.registry(&discovery).await?;
        let config = |e: anyhow::Error| Error::new(ErrorKind::Config, e);
        let platform = registry.platform().ok_or_else(|| {
            config(anyhow::anyhow!(
                "no plugin declares the platform {platform:?}"
            ))
        })?;
        let url = env
            .url
            .as_ref()
            .ok_or_else(|| config(anyhow::anyhow!("no target url: give `target.url`")))?;
        let params = env
            .params
            .iter()
            .map(|(k, v)| (Given::Param(k.clone()), v.0.clone()));
        let short = env.short.iter().map(|(k, v)| {
            let name = k.clone();
            (
                Given::Alias {
                    name,
                    at: "target".into(),
                },
                v.get_ref().0.clone(),
            )
        });
        let given: Vec<(Given, String)> = params.chain(short).collect();
        identity_of(platform, Side::Target, &url.0, &given).map_err(config)
    }

    /// A transform hook (`bundled:NAME`, or a `.rhai` or `.wasm` file relative to `dir`) on
    /// this host's runtime.
    pub fn hook(&self, uses: &str, dir: &Path) -> Result<Hook, Error> {
        Hook::load(uses, dir, &self.runtime)
            .kind(ErrorKind::Plugin)
            .map_err(Error::from)
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.registries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
