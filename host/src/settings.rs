//! How a run's settings come together: what its front end says (the `ferry` command's flags,
//! a job server's request) overrides the promotion file, and the file overrides the
//! defaults. Credentials come from the overrides, else the file's `[side.auth]`, else the
//! variables the platform's manifest declares (then `FERRY_SOURCE_KEY`, `FERRY_SOURCE_USER`,
//! `FERRY_SOURCE_PASSWORD` and their `TARGET` twins). What a side's parameters mean is the
//! platform's: the session checks them against its `[connection]`.

use crate::defaults;
use crate::engine::prune::PruneOptions;
use crate::engine::select::Selection;
use crate::engine::{OnConflict, Options};
use crate::error::{Error, ErrorKind, Mark};
use crate::net::Secret;
use crate::net::auth::AuthInput;
use crate::net::client::ClientConfig;
use crate::net::retry::RetryPolicy;
use crate::plugin::platform::{Given, Short};
use crate::plugin::registry::Discovery;
use crate::promotion::{EnvToml, Loaded, read_secret_file};
use crate::session::{EnvSpec, Settings, Sides};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One side, as the front end gives it (`None`/empty: not given).
#[derive(Debug, Clone, Default)]
pub struct SideOverrides {
    pub url: Option<String>,
    pub params: Vec<(String, String)>,
    /// the platform's short forms for parameters (`org` for Unstract's `params.org`)
    pub aliases: Vec<Short>,
    pub key: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// What the front end says about a run; what it leaves out, the promotion file or the
/// defaults decide.
#[derive(Debug, Clone)]
pub struct Overrides {
    pub platform: Option<String>,
    pub source: SideOverrides,
    pub target: SideOverrides,
    /// run-wide short forms the platform declares: an option's, or a parameter's for both
    /// sides (Unstract's `api_prefix`, `clone_group_members`)
    pub aliases: Vec<Short>,
    pub rate_limit: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub attempts: Option<u32>,
    pub connect_timeout: Option<u64>,
    pub request_timeout: Option<u64>,
    pub max_list_items: Option<u64>,
    pub max_list_bytes: Option<u64>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub select: Vec<String>,
    pub select_tag: Vec<String>,
    pub on_name_conflict: Option<OnConflict>,
    pub on_name_conflict_kind: Vec<(String, OnConflict)>,
    pub concurrency: Option<u16>,
    pub max_file_size: Option<u64>,
    pub skip_files: bool,
    pub options: Vec<(String, String)>,
    pub prune: PruneOptions,
    pub lock_wait: Duration,
    /// where leases are (`--lock-store`): a postgres:// URL or a SQLite file
    pub lock_store: Option<String>,
    /// who the target's lease names as its holder (a job server names its job); default
    /// `ferry`
    pub holder: Option<String>,
}

impl Default for Overrides {
    fn default() -> Overrides {
        Overrides {
            platform: None,
            source: Default::default(),
            target: Default::default(),
            aliases: vec![],
            rate_limit: None,
            max_in_flight: None,
            attempts: None,
            connect_timeout: None,
            request_timeout: None,
            max_list_items: None,
            max_list_bytes: None,
            include: vec![],
            exclude: vec![],
            select: vec![],
            select_tag: vec![],
            on_name_conflict: None,
            on_name_conflict_kind: vec![],
            concurrency: None,
            max_file_size: None,
            skip_files: false,
            options: vec![],
            prune: PruneOptions::default(),
            lock_wait: Duration::from_secs(defaults::LOCK_WAIT),
            lock_store: None,
            holder: None,
        }
    }
}

impl Overrides {
    /// The settings of a run: these overrides over the promotion file (if any) over the
    /// defaults. A restore's source and an export's target are not read.
    pub fn settings(
        &self,
        file: Option<Loaded>,
        sides: Sides,
        discovery: Discovery,
    ) -> Result<Settings, Error> {
        self.read(file, sides, discovery)
            .map_err(|e| Error::or(e, ErrorKind::Config))
    }

    fn read(
        &self,
        file: Option<Loaded>,
        sides: Sides,
        discovery: Discovery,
    ) -> anyhow::Result<Settings> {
        if let Some(l) = file.as_ref().filter(|l| !l.file.targets.is_empty()) {
            anyhow::bail!(
                "{}: it has [[targets]], a rollout's: run it with `ferry rollout --config {}`",
                l.name,
                l.name
            );
        }
        let empty = crate::promotion::RunToml::default();
        let run = file.as_ref().map(|l| &l.file.run).unwrap_or(&empty);
        let platform = match &sides {
            // A package knows its platform: the overrides may only agree with it.
            Sides::FromPackage(p)
                if self.platform.is_none()
                    && file
                        .as_ref()
                        .is_none_or(|l| l.file.target.platform.is_none()) =>
            {
                p.manifest.platform.clone()
            }
            _ => platform(&self.platform, &file)?,
        };
        let source = match sides {
            Sides::FromPackage(_) => EnvSpec::default(),
            _ => env(&file, "source", &self.source)?,
        };
        let target = match sides {
            Sides::Export => EnvSpec::default(),
            _ => env(&file, "target", &self.target)?,
        };
        let concurrency = self
            .concurrency
            .or(run.concurrency)
            .unwrap_or(defaults::CONCURRENCY)
            .clamp(1, 64) as usize;
        let max_in_flight = self
            .max_in_flight
            .or(run.max_in_flight)
            .unwrap_or(defaults::MAX_IN_FLIGHT)
            .clamp(1, 1024) as usize;
        let max_file_size = self
            .max_file_size
            .or(run.max_file_size.map(|s| s.0))
            .unwrap_or(defaults::MAX_FILE_SIZE);
        let net = ClientConfig {
            connect_timeout: Duration::from_secs(
                self.connect_timeout
                    .or(run.connect_timeout)
                    .unwrap_or(defaults::CONNECT_TIMEOUT)
                    .max(1),
            ),
            request_timeout: Duration::from_secs(
                self.request_timeout
                    .or(run.request_timeout)
                    .unwrap_or(defaults::REQUEST_TIMEOUT)
                    .max(1),
            ),
            retry: RetryPolicy {
                attempts: self
                    .attempts
                    .or(run.attempts)
                    .unwrap_or(defaults::ATTEMPTS)
                    .clamp(1, 20),
                ..Default::default()
            },
            rate_limit: self.rate_limit.or(run.rate_limit).filter(|&r| r > 0),
            max_in_flight,
            // One plugin call's batch may fill the environment's pipe; the in-flight cap
            // shares it with the other calls.
            batch: max_in_flight,
            list: crate::net::paging::ListBounds {
                items: self
                    .max_list_items
                    .or(run.max_list_items)
                    .unwrap_or(defaults::MAX_LIST_ITEMS)
                    .max(1),
                bytes: self
                    .max_list_bytes
                    .or(run.max_list_bytes.map(|s| s.0))
                    .unwrap_or(defaults::MAX_LIST_BYTES)
                    .max(1),
                ..Default::default()
            },
            max_file_size,
        };
        let pick = |given: &Vec<String>, file: &Vec<String>| {
            if given.is_empty() {
                file.clone()
            } else {
                given.clone()
            }
        };
        let mut on_conflict_kind: BTreeMap<String, OnConflict> = file
            .iter()
            .flat_map(|l| {
                l.file
                    .kinds
                    .iter()
                    .filter_map(|(k, r)| r.on_name_conflict.map(|p| (k.get_ref().clone(), p)))
            })
            .collect();
        on_conflict_kind.extend(self.on_name_conflict_kind.iter().cloned());
        // The file's options, then the overrides' (a later one wins when the session checks them).
        let mut plugin_options: Vec<(String, String)> = run
            .options
            .iter()
            .map(|(k, v)| (k.clone(), crate::plugin::platform::option_text(v)))
            .collect();
        plugin_options.extend(self.options.iter().cloned());
        // Short forms: the file's, then the front end's; the session resolves them.
        let mut aliases: Vec<Short> = file
            .iter()
            .flat_map(|l| {
                l.file.run.short.iter().map(|(k, v)| Short {
                    name: k.clone(),
                    value: crate::plugin::platform::option_text(v.get_ref()),
                    at: l.at(v),
                })
            })
            .collect();
        aliases.extend(self.aliases.iter().cloned());
        let options = Options {
            concurrency,
            on_conflict: self
                .on_name_conflict
                .or(run.on_name_conflict)
                .unwrap_or(OnConflict::Adopt),
            on_conflict_kind,
            selection: Selection {
                include: pick(&self.include, &run.include),
                exclude: pick(&self.exclude, &run.exclude),
                select: pick(&self.select, &run.select),
                tags: pick(&self.select_tag, &run.select_tag),
            },
            skip_files: self.skip_files || run.skip_files == Some(true),
            max_file_size,
            plugin_options: vec![],
            environment: vec![],
            transform: Default::default(),
            journal: std::sync::Arc::new(crate::engine::journal::Journal::none()),
            managed: std::sync::Arc::new(crate::engine::managed::Managed::none()),
            prune: self.prune.clone(),
            lock_wait: self.lock_wait,
            lock_store: self.lock_store.clone(),
            from_package: None,
            // set by the session, which knows both sides' identities
            one_place: false,
        };
        Ok(Settings {
            sides,
            platform,
            source,
            target,
            net,
            options,
            plugin_options,
            aliases,
            file,
            discovery,
            holder: self.holder.clone(),
        })
    }
}

/// The run's platform: the override, else the promotion file's (both sides must agree),
/// else the default.
fn platform(given: &Option<String>, file: &Option<Loaded>) -> anyhow::Result<String> {
    let (s, t) = match file {
        Some(l) => (
            l.file.source.platform.clone(),
            l.file.target.platform.clone(),
        ),
        None => (None, None),
    };
    if let (Some(s), Some(t)) = (&s, &t)
        && s != t
    {
        anyhow::bail!(
            "[source] platform = {s:?} and [target] platform = {t:?}: a run promotes within one platform"
        );
    }
    Ok(given
        .clone()
        .or(s)
        .or(t)
        .unwrap_or_else(|| defaults::PLATFORM.into()))
}

/// One side: the overrides, else the file; credentials the platform's variables fill in later.
fn env(file: &Option<Loaded>, side: &str, given: &SideOverrides) -> anyhow::Result<EnvSpec> {
    let empty = EnvToml::default();
    let t = file
        .as_ref()
        .map(|l| {
            if side == "source" {
                &l.file.source
            } else {
                &l.file.target
            }
        })
        .unwrap_or(&empty);
    let url = given
        .url
        .clone()
        .or_else(|| t.url.as_ref().map(|u| u.0.clone()))
        .ok_or_else(|| anyhow::anyhow!("no {side} url: give `{side}.url`"))?;
    // The file's parameters, then its short forms, then the overrides': a later one wins.
    let file_params = t
        .params
        .iter()
        .map(|(k, v)| (Given::Param(k.clone()), &v.0));
    let file_short = t.short.iter().map(|(k, v)| {
        let at = file.as_ref().map(|l| l.at(v)).unwrap_or_default();
        (
            Given::Alias {
                name: k.clone(),
                at,
            },
            &v.get_ref().0,
        )
    });
    let given_params = given
        .params
        .iter()
        .map(|(k, v)| (Given::Param(k.clone()), v));
    let given_short = given.aliases.iter().map(|s| {
        let (name, at) = (s.name.clone(), s.at.clone());
        (Given::Alias { name, at }, &s.value)
    });
    let params: Vec<(Given, String)> = file_params
        .chain(file_short)
        .chain(given_params)
        .chain(given_short)
        .map(|(k, v)| (k, v.clone()))
        .collect();
    let key = match (&given.key, file) {
        (Some(k), _) => Some(k.trim().to_string()).filter(|k| !k.is_empty()),
        (None, Some(l)) => l.key(side).kind(ErrorKind::Credentials)?,
        (None, None) => None,
    };
    let password = match (&given.password_file, file) {
        (Some(f), _) => {
            let read =
                read_secret_file(f).map_err(|e| anyhow::anyhow!("--{side}-password-file: {e}"));
            Some(read.kind(ErrorKind::Credentials)?)
        }
        (None, Some(l)) => l.password(side).kind(ErrorKind::Credentials)?,
        (None, None) => None,
    };
    Ok(EnvSpec {
        name: t.name.clone(),
        url,
        params,
        auth: AuthInput {
            key: key.map(Secret::new),
            username: given.user.clone().or_else(|| t.auth.username.clone()),
            password: password.map(Secret::new),
        },
    })
}
