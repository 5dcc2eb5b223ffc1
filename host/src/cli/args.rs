//! The flags of `ferry clone` and `ferry plan`, and how they combine with a promotion file
//! (`--config`): a flag overrides the file, the file overrides the defaults. Keys come from
//! `--source-key`/`--target-key`, else the file's `key_env`/`key_file`, else the
//! `UNSTRACT_SRC_PLATFORM_KEY`/`UNSTRACT_TGT_PLATFORM_KEY` environment variables.

use super::plugins::PluginArgs;
use crate::engine::select::Selection;
use crate::engine::{OnConflict, Options};
use crate::net::client::ClientConfig;
use crate::net::retry::RetryPolicy;
use crate::net::{Connection, Credential, Environments, HttpClient, Secret, Side};
use crate::promotion::{EnvToml, Loaded, parse_size};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Defaults, when neither a flag nor the promotion file says.
pub mod defaults {
    pub const API_PREFIX: &str = "api/v1";
    pub const MAX_IN_FLIGHT: u32 = 32;
    pub const ATTEMPTS: u32 = 5;
    pub const CONNECT_TIMEOUT: u64 = 10;
    pub const REQUEST_TIMEOUT: u64 = 120;
    /// Plugin calls in flight. A create is a chain of requests, one after another, so this
    /// is about how many requests apply keeps in flight: as many calls as the host has
    /// slots keeps the slots full. Requests per host stay under MAX_IN_FLIGHT whatever it is.
    pub const CONCURRENCY: u16 = 32;
    pub const MAX_FILE_SIZE: u64 = 25 << 20;
}

#[derive(Args, Debug, Clone, Default)]
pub struct Endpoints {
    /// Base URL of the source platform, e.g. https://us-central.unstract.com
    #[arg(long, value_name = "URL")]
    pub source_url: Option<String>,
    /// Organisation id of the source.
    #[arg(long, value_name = "ORG")]
    pub source_org: Option<String>,
    /// Platform key of the source (a read key is enough) [env: UNSTRACT_SRC_PLATFORM_KEY].
    #[arg(long, value_name = "KEY")]
    pub source_key: Option<String>,
    /// Base URL of the target platform.
    #[arg(long, value_name = "URL")]
    pub target_url: Option<String>,
    /// Organisation id of the target.
    #[arg(long, value_name = "ORG")]
    pub target_org: Option<String>,
    /// Platform key of the target (read_write) [env: UNSTRACT_TGT_PLATFORM_KEY].
    #[arg(long, value_name = "KEY")]
    pub target_key: Option<String>,
    /// API prefix: {url}/{prefix}/unstract/{org}/ [default: api/v1]
    #[arg(long)]
    pub api_prefix: Option<String>,
    /// Requests per second per environment (0: no limit) [default: 0]
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Requests in flight per host; two environments on one host share them [default: 32]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: Option<u32>,
    /// Tries per request when a retry is safe (1: no retry) [default: 5]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: Option<u32>,
    /// Seconds to wait for a connection [default: 10]
    #[arg(long)]
    pub connect_timeout: Option<u64>,
    /// Seconds for one request, body included [default: 120]
    #[arg(long)]
    pub request_timeout: Option<u64>,
}

#[derive(Copy, Clone, Debug, ValueEnum, Default, PartialEq, Eq)]
pub enum Output {
    #[default]
    Table,
    Json,
}

/// What `clone` and `plan` share.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// A promotion file (TOML): source, target, selection, rules and hooks. Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Only these kinds (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub include: Vec<String>,
    /// Leave these kinds out (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub exclude: Vec<String>,
    /// Only resources whose key matches KIND:GLOB (repeatable), plus what they need.
    #[arg(long, value_name = "KIND:GLOB")]
    pub select: Vec<String>,
    /// Only resources tagged NAME (repeatable), plus what they need.
    #[arg(long, value_name = "NAME")]
    pub select_tag: Vec<String>,
    /// What to do with a resource that already exists on the target [default: adopt]
    #[arg(long, value_enum)]
    pub on_name_conflict: Option<OnConflict>,
    /// The same per kind: KIND=adopt|update|abort (repeatable).
    #[arg(long, value_name = "KIND=POLICY", value_parser = parse_kind_policy)]
    pub on_name_conflict_kind: Vec<(String, OnConflict)>,
    /// Plugin calls in flight at once [default: 32]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// Largest file to copy: 25, 25MB, 1.5GB (bytes without a unit; powers of 1024) [default: 25MB]
    #[arg(long, value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Copy no file contents.
    #[arg(long)]
    pub skip_files: bool,
    /// Also clone groups' members (matched by email).
    #[arg(long)]
    pub clone_group_members: bool,
    /// Write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// What to print: a table for people, or the JSON report.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

fn parse_kind_policy(s: &str) -> Result<(String, OnConflict), String> {
    let (k, p) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} must be KIND=adopt|update|abort"))?;
    let p = OnConflict::from_str(p, true)
        .map_err(|_| format!("{s:?}: the policy must be adopt, update or abort"))?;
    Ok((k.to_string(), p))
}

/// One environment, resolved.
#[derive(Debug, Clone)]
pub struct Env {
    /// its name for hooks (`dev`)
    pub name: String,
    pub url: String,
    pub org: String,
    pub api_prefix: String,
    pub key: Secret,
}

impl Env {
    pub fn base(&self) -> String {
        format!(
            "{}/{}/unstract/{}/",
            self.url.trim_end_matches('/'),
            self.api_prefix.trim_matches('/'),
            self.org
        )
    }
    pub fn describe(&self) -> String {
        format!("{} @ {}", self.org, self.url)
    }
}

/// Everything a run needs, from flags, the promotion file and defaults.
pub struct Settings {
    pub source: Env,
    pub target: Env,
    pub net: ClientConfig,
    /// the run's options; the rules and hooks are added when plugins are loaded
    pub options: Options,
    pub file: Option<Loaded>,
    pub report: Option<PathBuf>,
    pub output: Output,
    pub plugins: PluginArgs,
}

impl Settings {
    /// The client for both environments.
    pub fn client(&self) -> anyhow::Result<HttpClient> {
        let conn = |side, env: &Env| {
            Connection::new(side, &env.base(), Credential::Bearer(env.key.clone()))
        };
        HttpClient::new(
            Environments {
                source: conn(Side::Source, &self.source)?,
                target: conn(Side::Target, &self.target)?,
            },
            &self.net,
        )
    }
}

impl RunArgs {
    /// Read the promotion file (if any) and combine it with the flags.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let file = self.config.as_deref().map(Loaded::read).transpose()?;
        self.settings_with(file)
    }

    /// Combine the flags with an already loaded promotion file.
    pub fn settings_with(&self, file: Option<Loaded>) -> anyhow::Result<Settings> {
        let empty = crate::promotion::RunToml::default();
        let run = file.as_ref().map(|l| &l.file.run).unwrap_or(&empty);
        let e = &self.endpoints;
        let source = env(
            &file,
            "source",
            &e.source_url,
            &e.source_org,
            &e.source_key,
            &e.api_prefix,
            "UNSTRACT_SRC_PLATFORM_KEY",
        )?;
        let target = env(
            &file,
            "target",
            &e.target_url,
            &e.target_org,
            &e.target_key,
            &e.api_prefix,
            "UNSTRACT_TGT_PLATFORM_KEY",
        )?;
        let concurrency = self
            .concurrency
            .or(run.concurrency)
            .unwrap_or(defaults::CONCURRENCY)
            .clamp(1, 64) as usize;
        let max_in_flight = e
            .max_in_flight
            .or(run.max_in_flight)
            .unwrap_or(defaults::MAX_IN_FLIGHT)
            .clamp(1, 1024) as usize;
        let net = ClientConfig {
            connect_timeout: Duration::from_secs(
                e.connect_timeout
                    .or(run.connect_timeout)
                    .unwrap_or(defaults::CONNECT_TIMEOUT)
                    .max(1),
            ),
            request_timeout: Duration::from_secs(
                e.request_timeout
                    .or(run.request_timeout)
                    .unwrap_or(defaults::REQUEST_TIMEOUT)
                    .max(1),
            ),
            retry: RetryPolicy {
                attempts: e
                    .attempts
                    .or(run.attempts)
                    .unwrap_or(defaults::ATTEMPTS)
                    .clamp(1, 20),
                ..Default::default()
            },
            rate_limit: e.rate_limit.or(run.rate_limit).filter(|&r| r > 0),
            max_in_flight,
            // One plugin call's batch may fill the environment's pipe; the in-flight cap
            // shares it with the other calls.
            batch: max_in_flight,
        };
        let pick = |flag: &Vec<String>, file: &Vec<String>| {
            if flag.is_empty() {
                file.clone()
            } else {
                flag.clone()
            }
        };
        let mut on_conflict_kind: std::collections::BTreeMap<String, OnConflict> = file
            .iter()
            .flat_map(|l| {
                l.file
                    .kinds
                    .iter()
                    .filter_map(|(k, r)| r.on_name_conflict.map(|p| (k.get_ref().clone(), p)))
            })
            .collect();
        on_conflict_kind.extend(self.on_name_conflict_kind.iter().cloned());
        let mut plugin_options = vec![];
        if self.clone_group_members || run.clone_group_members == Some(true) {
            plugin_options.push(("clone-group-members".into(), "true".into()));
        }
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
            max_file_size: self
                .max_file_size
                .or(run.max_file_size.map(|s| s.0))
                .unwrap_or(defaults::MAX_FILE_SIZE),
            plugin_options,
            transform: Default::default(),
            journal: std::sync::Arc::new(crate::engine::journal::Journal::none()),
        };
        Ok(Settings {
            source,
            target,
            net,
            options,
            file,
            report: self.report.clone(),
            output: self.output,
            plugins: self.plugins.clone(),
        })
    }
}

/// One side: flag, else the file, else (for the key) the Unstract tool's variable.
fn env(
    file: &Option<Loaded>,
    side: &str,
    url: &Option<String>,
    org: &Option<String>,
    key: &Option<String>,
    prefix: &Option<String>,
    key_var: &str,
) -> anyhow::Result<Env> {
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
    let missing = |what: &str| {
        anyhow::anyhow!(
            "no {side} {what}: give --{side}-{what} or [{side}] {what} in a promotion file (--config)"
        )
    };
    let url = url
        .clone()
        .or_else(|| t.url.as_ref().map(|u| u.0.clone()))
        .ok_or_else(|| missing("url"))?;
    let org = org
        .clone()
        .or_else(|| t.org.as_ref().map(|o| o.0.clone()))
        .ok_or_else(|| missing("org"))?;
    let from_file = match file {
        Some(l) if key.is_none() => l.key(side)?,
        _ => None,
    };
    let key = key
        .clone()
        .or(from_file)
        .or_else(|| std::env::var(key_var).ok())
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty());
    let key = key.ok_or_else(|| anyhow::anyhow!("no {side} key: give --{side}-key, set {key_var}, or name key_env or key_file in [{side}] of a promotion file"))?;
    let api_prefix = prefix
        .clone()
        .or_else(|| t.api_prefix.clone())
        .unwrap_or_else(|| defaults::API_PREFIX.into());
    let name = t.name.clone().unwrap_or_else(|| org.clone());
    Ok(Env {
        name,
        url,
        org,
        api_prefix,
        key: Secret::new(&key),
    })
}
