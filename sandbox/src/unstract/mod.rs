//! The emulated Unstract Platform API serving several orgs on one
//! address, for the demo, the tests and the benchmarks. Start it with `ferry sandbox` or, in
//! process, with [`Sandbox::start`].
//!
//! - `server`: the request path (log, keys and tiers, faults), `api` and `studio`/`files`:
//!   the Platform API, `store`: the data, `seed`: generated orgs (faults: `crate::kit::faults`),
//!   `admin`: the admin API (`/_admin/...`), `keys`: platform keys.

pub mod admin;
pub mod api;
pub mod files;
pub mod keys;
pub mod records;
pub mod seed;
pub mod server;
pub mod shared;
pub mod store;
pub mod studio;

use crate::kit::faults::{Faults, OrgFaults};
use keys::{OrgKeys, Tier};
use serde::Serialize;
use shared::{LogEntry, Org, Shared};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

/// What to fill an org with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// a small, realistic org: a few of each kind, all wired together
    Demo,
    /// a minimal org: one of each kind
    Small,
    /// about this many resources, with the demo's mix
    Scale(usize),
    /// the environment's own services, named for the org: the adapters and connectors the
    /// demo's DEV names, as `openai-{org}`, `s3-{org}-inbox`, ... (a QA or PROD org that a
    /// promotion maps DEV's services onto)
    Services,
    /// one Prompt Studio project (with its adapters) holding one generated PDF of this many
    /// bytes: the large-file benchmark
    File(u64),
}

impl std::str::FromStr for Seed {
    type Err = String;
    fn from_str(s: &str) -> Result<Seed, String> {
        match s {
            "demo" => Ok(Seed::Demo),
            "small" => Ok(Seed::Small),
            "services" => Ok(Seed::Services),
            f if f.starts_with("file:") => crate::kit::parse_size(&f[5..]).map(Seed::File),
            n => n.parse::<usize>().map(Seed::Scale).map_err(|_| {
                format!(
                    "seed {n:?} must be demo, small, services, file:SIZE or a number of resources"
                )
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OrgSpec {
    pub name: String,
    pub seed: Option<Seed>,
    /// keys to use instead of the derived ones
    pub keys: Vec<(Tier, String)>,
}

impl OrgSpec {
    pub fn new(name: &str) -> Self {
        OrgSpec {
            name: name.to_string(),
            seed: None,
            keys: vec![],
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
    pub prefix: String,
    pub orgs: Vec<OrgSpec>,
    pub faults: Faults,
    /// The judge mode: a write's field that the platform's serializer would drop silently
    /// (undeclared or read-only; see `OrgData::note_ignored`) fails the test when the sandbox
    /// is dropped, unless the test took it ([`Sandbox::take_ignored`]). On in `Config::local`
    /// (the tests and benchmarks), off for `ferry sandbox` and `ferry demo`.
    pub judge: bool,
}

impl Config {
    pub fn local(orgs: Vec<OrgSpec>) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            prefix: "api/v1".into(),
            orgs,
            faults: Faults::default(),
            judge: true,
        }
    }
}

/// The line `ferry sandbox` prints on start.
#[derive(Debug, Clone, Serialize)]
pub struct Banner {
    pub url: String,
    pub prefix: String,
    /// the admin API's key (`Authorization: Bearer`), new every run
    pub admin_key: String,
    pub orgs: Vec<OrgBanner>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgBanner {
    pub org: String,
    pub keys: OrgKeys,
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    pub banner: Banner,
    shared: Arc<Shared>,
    /// taken by `stop`; the sandbox is `Drop` (the judge's verdict)
    server: Option<crate::kit::Stopper>,
    judge: bool,
}

impl Sandbox {
    pub async fn start(config: Config) -> anyhow::Result<Sandbox> {
        config
            .faults
            .check()
            .map_err(|e| anyhow::anyhow!("sandbox faults: {e}"))?;
        let mut orgs = BTreeMap::new();
        for spec in &config.orgs {
            if spec.name.is_empty()
                || !spec
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!("org name {:?}: use letters, digits, '-' and '_'", spec.name);
            }
            if orgs.contains_key(&spec.name) {
                anyhow::bail!("org {:?} is given twice", spec.name);
            }
            let mut keys = OrgKeys::derived(&spec.name);
            for (tier, key) in &spec.keys {
                keys.set(*tier, key.clone());
            }
            let mut data = store::OrgData::default();
            seed::base(&mut data, &spec.name);
            if let Some(s) = &spec.seed {
                seed::fill(&mut data, &spec.name, s);
            }
            let org = Org {
                name: spec.name.clone(),
                keys,
                data: Mutex::new(data),
                faults: RwLock::new(OrgFaults::new(config.faults.clone())),
            };
            orgs.insert(spec.name.clone(), Arc::new(org));
        }
        let admin_key = format!(
            "sbx_admin_{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let shared = Arc::new(Shared {
            admin_key: admin_key.clone(),
            prefix: config.prefix.trim_matches('/').to_string(),
            orgs: RwLock::new(orgs),
            log: Default::default(),
            default_faults: config.faults.clone(),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let (addr, server) = crate::kit::serve(config.listen, app).await?;
        let banner = Banner {
            url: format!("http://{addr}"),
            prefix: shared.prefix.clone(),
            admin_key,
            orgs: shared
                .orgs
                .read()
                .unwrap()
                .values()
                .map(|o| OrgBanner {
                    org: o.name.clone(),
                    keys: o.keys.clone(),
                })
                .collect(),
        };
        Ok(Sandbox {
            banner,
            shared,
            server: Some(server),
            judge: config.judge,
        })
    }

    pub fn admin_key(&self) -> &str {
        &self.banner.admin_key
    }

    pub fn url(&self) -> &str {
        &self.banner.url
    }

    /// The base URL of an org's Platform API: `http://host:port/api/v1/unstract/{org}/`.
    pub fn org_url(&self, org: &str) -> String {
        format!("{}/{}/unstract/{org}/", self.banner.url, self.banner.prefix)
    }

    pub fn keys(&self, org: &str) -> OrgKeys {
        self.shared
            .org(org)
            .map(|o| o.keys.clone())
            .unwrap_or_else(|| panic!("no org {org}"))
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.entries().clone()
    }

    /// Requests other than GET/HEAD/OPTIONS that reached `org`.
    pub fn writes_to(&self, org: &str) -> Vec<LogEntry> {
        crate::kit::log::writes_to(&self.log(), org)
    }

    /// A canonical dump of an org (see `admin::dump`): equal for two orgs with the same
    /// content, whatever their ids.
    pub fn dump(&self, org: &str) -> serde_json::Value {
        let o = self
            .shared
            .org(org)
            .unwrap_or_else(|| panic!("no org {org}"));
        let data = o.data.lock().unwrap();
        admin::dump(&data)
    }

    pub fn set_faults(&self, org: &str, faults: Faults) -> anyhow::Result<()> {
        faults.check().map_err(|e| anyhow::anyhow!(e))?;
        let o = self
            .shared
            .org(org)
            .ok_or_else(|| anyhow::anyhow!("no org {org}"))?;
        *o.faults.write().unwrap() = OrgFaults::new(faults);
        Ok(())
    }

    /// The fields writes carried that Unstract would have dropped silently, in every org,
    /// and forget them: a test that sends them on purpose, or lists known ones with the
    /// reason, takes them.
    pub fn take_ignored(&self) -> Vec<String> {
        let orgs = self.shared.orgs.read().unwrap();
        let mut out = vec![];
        for o in orgs.values() {
            let mut data = o.data.lock().unwrap();
            out.extend(
                std::mem::take(&mut data.ignored)
                    .into_iter()
                    .map(|f| format!("{}: {f}", o.name)),
            );
        }
        out
    }

    /// Stop serving and wait for the server task to end.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

impl Drop for Sandbox {
    /// A test whose writes carried a field Unstract would drop fails, though it never asked.
    fn drop(&mut self) {
        if !self.judge || std::thread::panicking() {
            return;
        }
        let ignored = self.take_ignored();
        if !ignored.is_empty() {
            panic!(
                "the Unstract emulator's judge: writes carried {} field(s) Unstract's serializers drop silently:\n  {}",
                ignored.len(),
                ignored.join("\n  ")
            );
        }
    }
}
