//! The emulated Strategy (MicroStrategy) Library REST API: several environments on one
//! address, each under its own base URL (`{url}/{env}/MicroStrategyLibrary`), with what
//! project duplication needs and what Strategy's own SDK (mstrio-py) calls: login with a
//! token header and a cookie, sessions that expire, the server's status, projects, and
//! `api/projectDuplications` with its status machine, packages and restorations.
//!
//! - `server`: the request path (environments, faults, sessions, log); `api`: login,
//!   sessions, status, projects, objects; `management`: a project's status, settings and
//!   languages, the nodes, the server's settings; `jobs`: the duplication endpoints;
//!   `duplication`: the status machine and what an export takes; `package`: the `.projdup`
//!   archive; `store`: an environment's data and imports under conflict rules; `seed`: what
//!   environments start with; `admin`: the admin API.

pub mod admin;
pub mod api;
pub mod duplication;
pub mod jobs;
pub mod management;
pub mod package;
pub mod seed;
pub mod server;
pub mod shared;
pub mod store;

use crate::kit::faults::{Faults, OrgFaults};
use crate::kit::log::LogEntry;
pub use seed::Seed;
use serde::Serialize;
use shared::{Credentials, Shared};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
pub use store::JobFaults;

#[derive(Debug, Clone)]
pub struct EnvSpec {
    pub name: String,
    pub seed: Option<Seed>,
}

impl EnvSpec {
    pub fn new(name: &str) -> Self {
        EnvSpec {
            name: name.into(),
            seed: None,
        }
    }
    pub fn seeded(name: &str, seed: Seed) -> Self {
        EnvSpec {
            seed: Some(seed),
            ..EnvSpec::new(name)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub envs: Vec<EnvSpec>,
    pub faults: Faults,
    /// how long one phase of a duplication lasts (exporting and importing take two)
    pub step: Duration,
    /// seconds an idle session lives
    pub session_timeout: u64,
    /// keep the JSON body of each request in the request log (and a restoration's
    /// metadata): the tests compare what clients send
    pub keep_bodies: bool,
}

impl Config {
    pub fn local(envs: Vec<EnvSpec>) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            envs,
            faults: Faults::default(),
            step: Duration::from_millis(300),
            session_timeout: 600,
            keep_bodies: false,
        }
    }
}

/// The line `ferry sandbox --platform strategy` prints on start.
#[derive(Debug, Clone, Serialize)]
pub struct Banner {
    pub platform: &'static str,
    pub admin_url: String,
    pub admin_key: String,
    pub envs: Vec<EnvBanner>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvBanner {
    pub env: String,
    pub url: String,
    pub username: String,
    pub password: String,
}

/// A running Strategy sandbox; dropping it stops the server.
pub struct Sandbox {
    pub banner: Banner,
    shared: Arc<Shared>,
    server: crate::kit::Stopper,
}

impl Sandbox {
    pub async fn start(config: Config) -> anyhow::Result<Sandbox> {
        config
            .faults
            .check()
            .map_err(|e| anyhow::anyhow!("sandbox faults: {e}"))?;
        if config.step.is_zero() {
            anyhow::bail!("the duplication step must be longer than 0 ms");
        }
        let mut envs = BTreeMap::new();
        let mut credentials = BTreeMap::new();
        let mut faults = BTreeMap::new();
        for spec in &config.envs {
            let n = &spec.name;
            if n.is_empty()
                || n == "_admin"
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!("environment name {n:?}: use letters, digits, '-' and '_'");
            }
            if envs.contains_key(n) {
                anyhow::bail!("environment {n:?} is given twice");
            }
            let mut data = store::EnvData::default();
            seed::base(&mut data);
            if let Some(s) = &spec.seed {
                seed::fill(&mut data, s);
            }
            envs.insert(n.clone(), data);
            credentials.insert(
                n.clone(),
                Credentials {
                    username: "administrator".into(),
                    password: format!("sbx-{n}-{:08x}", fastrand::u32(..)),
                },
            );
            faults.insert(n.clone(), OrgFaults::new(config.faults.clone()));
        }
        let admin_key = format!(
            "sbx_admin_{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let shared = Arc::new(Shared {
            admin_key: admin_key.clone(),
            url: OnceLock::new(),
            envs: Mutex::new(envs),
            credentials,
            faults: RwLock::new(faults),
            log: Default::default(),
            pace: duplication::Pace { step: config.step },
            session_timeout: config.session_timeout,
            keep_bodies: config.keep_bodies,
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let (addr, server) = crate::kit::serve(config.listen, app).await?;
        shared.url.set(format!("http://{addr}")).unwrap();
        let banner = Banner {
            platform: "strategy",
            admin_url: format!("http://{addr}/_admin"),
            admin_key,
            envs: shared
                .credentials
                .iter()
                .map(|(e, c)| EnvBanner {
                    env: e.clone(),
                    url: shared.env_url(e),
                    username: c.username.clone(),
                    password: c.password.clone(),
                })
                .collect(),
        };
        Ok(Sandbox {
            banner,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        self.shared.url()
    }

    /// An environment's base URL, as Strategy's clients take it.
    pub fn env_url(&self, env: &str) -> String {
        self.shared.env_url(env)
    }

    pub fn env(&self, env: &str) -> &EnvBanner {
        self.banner
            .envs
            .iter()
            .find(|e| e.env == env)
            .unwrap_or_else(|| panic!("no environment {env}"))
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.entries().clone()
    }

    /// Requests other than GET/HEAD/OPTIONS that reached `env`.
    pub fn writes_to(&self, env: &str) -> Vec<LogEntry> {
        crate::kit::log::writes_to(&self.log(), env)
    }

    /// The canonical dump of an environment (see `admin::dump`).
    pub fn dump(&self, env: &str) -> serde_json::Value {
        admin::dump(&self.shared.world()[env])
    }

    pub fn stats(&self) -> serde_json::Value {
        admin::stats(&self.shared)
    }

    pub fn set_faults(&self, env: &str, faults: Faults) -> anyhow::Result<()> {
        faults.check().map_err(|e| anyhow::anyhow!(e))?;
        let mut f = self.shared.faults.write().unwrap();
        let slot = f
            .get_mut(env)
            .ok_or_else(|| anyhow::anyhow!("no environment {env}"))?;
        *slot = OrgFaults::new(faults);
        Ok(())
    }

    /// Make the next jobs of `env` fail (or not).
    pub fn set_jobs(&self, env: &str, jobs: JobFaults) {
        self.shared
            .world()
            .get_mut(env)
            .expect("an environment")
            .jobs = jobs;
    }

    /// Remove a project from `env` by name, as an administrator deleting it would.
    pub fn remove_project(&self, env: &str, name: &str) {
        let mut envs = self.shared.world();
        let e = envs.get_mut(env).expect("an environment");
        let before = e.projects.len();
        e.projects.retain(|p| p.name != name);
        assert_eq!(e.projects.len() + 1, before, "no project {name:?} in {env}");
    }

    /// Give the configuration object `name` of `env` (a user, a group, a role) these grants,
    /// as an administrator editing it would.
    pub fn set_grants(&self, env: &str, name: &str, grants: &[&str]) {
        let mut envs = self.shared.world();
        let o = envs
            .get_mut(env)
            .expect("an environment")
            .config
            .iter_mut()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no {name:?} in {env}"));
        o.grants = grants.iter().map(|g| g.to_string()).collect();
    }

    /// Expire every session of `env` now.
    pub fn expire_sessions(&self, env: &str) {
        self.shared
            .world()
            .get_mut(env)
            .expect("an environment")
            .sessions
            .clear();
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
