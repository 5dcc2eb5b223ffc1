//! The emulated Versori Platform API: several organisations on one address, each at
//! `{url}/api/v2/o/{org}/...` (its id a ULID) with its own token, and what cloning an
//! environment needs: projects and environments (the clone call with its options and the
//! five-environment cap, sync, delete, execution pools, config), the variables schema,
//! systems, connection templates, connections (secrets redacted on read), the static user's
//! variables, versions and deploy. Facts: `../shared/reference/versori.md`.
//!
//! - `server`: the request path (tokens, faults, log); `api`: the endpoints; `store`: the
//!   data and its wire form; `seed`: what organisations start with; `admin`: the admin API.

pub mod admin;
pub mod api;
pub mod contract;
pub mod seed;
pub mod server;
pub mod shared;
pub mod store;

use crate::kit::faults::{Faults, OrgFaults};
use crate::kit::log::LogEntry;
pub use seed::Seed;
use serde::Serialize;
use shared::Shared;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug, Clone)]
pub struct OrgSpec {
    pub name: String,
    pub seed: Option<Seed>,
}

impl OrgSpec {
    pub fn new(name: &str) -> Self {
        OrgSpec {
            name: name.into(),
            seed: None,
        }
    }
    pub fn seeded(name: &str, seed: Seed) -> Self {
        OrgSpec {
            seed: Some(seed),
            ..OrgSpec::new(name)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub orgs: Vec<OrgSpec>,
    pub faults: Faults,
    /// The judge mode: every request's endpoint and query keys, and every answer, checked
    /// against `contract.toml`; a breach answers 500 and fails the test when the sandbox is
    /// dropped (see [`Sandbox::breaches`]). On in `Config::local` (the tests), off for
    /// `ferry sandbox`.
    pub judge: bool,
}

impl Config {
    pub fn local(orgs: Vec<OrgSpec>) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            orgs,
            faults: Faults::default(),
            judge: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectBanner {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgBanner {
    pub org: String,
    pub name: String,
    /// the API key (`Bearer`)
    pub token: String,
    /// the signed user token (`JWT`)
    pub jwt: String,
    pub projects: Vec<ProjectBanner>,
}

/// The line `ferry sandbox --platform versori` prints on start.
#[derive(Debug, Clone, Serialize)]
pub struct Banner {
    pub platform: &'static str,
    pub url: String,
    pub prefix: &'static str,
    pub admin_key: String,
    pub orgs: Vec<OrgBanner>,
}

pub struct Sandbox {
    pub banner: Banner,
    shared: Arc<Shared>,
    /// taken by `stop`; the sandbox is `Drop` (the judge's verdict)
    server: Option<crate::kit::Stopper>,
}

impl Sandbox {
    pub async fn start(config: Config) -> anyhow::Result<Sandbox> {
        config
            .faults
            .check()
            .map_err(|e| anyhow::anyhow!("sandbox faults: {e}"))?;
        let mut orgs = BTreeMap::new();
        let mut faults = BTreeMap::new();
        for spec in &config.orgs {
            let n = &spec.name;
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!("organisation name {n:?}: use letters, digits, '-' and '_'");
            }
            if faults.contains_key(n) {
                anyhow::bail!("organisation {n:?} is given twice");
            }
            let mut org = store::Org {
                id: store::ulid(),
                name: n.clone(),
                token: format!(
                    "vrs_{n}_{:016x}{:016x}",
                    fastrand::u64(..),
                    fastrand::u64(..)
                ),
                jwt: jwt(n),
                pools: seed::POOLS.iter().map(|p| p.to_string()).collect(),
                systems: vec![],
                connections: vec![],
                projects: vec![],
                writes: 0,
            };
            if let Some(s) = &spec.seed {
                seed::fill(&mut org, s);
            }
            faults.insert(n.clone(), OrgFaults::new(config.faults.clone()));
            orgs.insert(org.id.clone(), org);
        }
        let admin_key = format!(
            "sbx_admin_{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let shared = Arc::new(Shared {
            admin_key: admin_key.clone(),
            orgs: Mutex::new(orgs),
            faults: RwLock::new(faults),
            log: Default::default(),
            judge: config.judge,
            breaches: Default::default(),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let (addr, server) = crate::kit::serve(config.listen, app).await?;
        let banner = Banner {
            platform: "versori",
            url: format!("http://{addr}"),
            prefix: server::PREFIX,
            admin_key,
            orgs: config
                .orgs
                .iter()
                .map(|spec| {
                    let orgs = shared.orgs.lock().unwrap();
                    let o = orgs.values().find(|o| o.name == spec.name).unwrap();
                    OrgBanner {
                        org: o.id.clone(),
                        name: o.name.clone(),
                        token: o.token.clone(),
                        jwt: o.jwt.clone(),
                        projects: o
                            .projects
                            .iter()
                            .map(|p| ProjectBanner {
                                id: p.id.clone(),
                                name: p.name.clone(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        };
        Ok(Sandbox {
            banner,
            shared,
            server: Some(server),
        })
    }

    pub fn url(&self) -> &str {
        &self.banner.url
    }

    pub fn org(&self, name: &str) -> &OrgBanner {
        self.banner
            .orgs
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no organisation {name}"))
    }

    /// A project's id by organisation and project name (projects made after the start too).
    pub fn project_id(&self, org: &str, project: &str) -> Option<String> {
        let orgs = self.shared.orgs.lock().unwrap();
        let o = orgs.values().find(|o| o.name == org)?;
        o.projects
            .iter()
            .find(|p| p.name == project)
            .map(|p| p.id.clone())
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.entries().clone()
    }

    pub fn writes_to(&self, org: &str) -> Vec<LogEntry> {
        crate::kit::log::writes_to(&self.log(), org)
    }

    pub fn dump(&self, org: &str) -> serde_json::Value {
        let id = self
            .shared
            .org_id(org)
            .unwrap_or_else(|| panic!("no organisation {org}"));
        admin::dump(&self.shared.orgs.lock().unwrap()[&id])
    }

    pub fn set_faults(&self, org: &str, faults: Faults) -> anyhow::Result<()> {
        faults.check().map_err(|e| anyhow::anyhow!(e))?;
        let mut f = self.shared.faults.write().unwrap();
        let slot = f
            .get_mut(org)
            .ok_or_else(|| anyhow::anyhow!("no organisation {org}"))?;
        *slot = OrgFaults::new(faults);
        Ok(())
    }

    /// Make a project in `org` (as `POST projects` would): its id.
    pub fn add_project(&self, org: &str, name: &str) -> String {
        let id = self.shared.org_id(org).expect("an organisation");
        let mut orgs = self.shared.orgs.lock().unwrap();
        let o = orgs.get_mut(&id).unwrap();
        let r = api::route(
            o,
            &axum::http::Method::POST,
            &["projects"],
            &Default::default(),
            serde_json::json!({"name": name}),
        );
        assert!(r.status().is_success());
        o.projects.last().unwrap().id.clone()
    }

    /// Delete an environment of a project by name (as its user would, with
    /// `POST projects/{id}/environments/{envId}`).
    pub fn delete_environment(&self, org: &str, project: &str, env: &str) {
        let id = self.shared.org_id(org).expect("an organisation");
        let mut orgs = self.shared.orgs.lock().unwrap();
        let o = orgs.get_mut(&id).unwrap();
        let p = o
            .projects
            .iter()
            .find(|p| p.name == project)
            .expect("a project");
        let (pid, eid) = (
            p.id.clone(),
            p.environments
                .iter()
                .find(|e| e.name == env)
                .expect("an environment")
                .id
                .clone(),
        );
        let r = api::route(
            o,
            &axum::http::Method::POST,
            &["projects", &pid, "environments", &eid],
            &Default::default(),
            serde_json::Value::Null,
        );
        assert!(r.status().is_success());
    }

    /// What the judge found so far, and forget it (a test that breaks the contract on
    /// purpose takes its breaches).
    pub fn take_breaches(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.breaches.lock().unwrap())
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

/// A token shaped as a JWT (three base64url parts) for organisation `name`: the emulator
/// checks no signature, only that it was sent with the `JWT` scheme.
fn jwt(name: &str) -> String {
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.{:016x}{:016x}",
        b64(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        b64(serde_json::json!({"sub": format!("user@{name}"), "org": name})),
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

impl Drop for Sandbox {
    /// A test whose run broke the contract fails, though it never asked: the judge is on in
    /// every test and no test should have to remember to look.
    fn drop(&mut self) {
        let breaches = self.take_breaches();
        if !breaches.is_empty() && !std::thread::panicking() {
            panic!(
                "the Versori emulator's judge found {} breach(es) of contract.toml:\n  {}",
                breaches.len(),
                breaches.join("\n  ")
            );
        }
    }
}
