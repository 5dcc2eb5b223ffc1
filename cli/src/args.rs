//! The flags of `ferry clone` and `ferry plan`, and how they combine with a promotion file
//! (`--config`): a flag overrides the file, the file overrides the defaults. Credentials
//! come from the flags, else the file's `[side.auth]`, else the variables the platform's
//! manifest declares (then `FERRY_SOURCE_KEY`, `FERRY_SOURCE_USER`, `FERRY_SOURCE_PASSWORD`
//! and their `TARGET` twins). What a side's parameters mean is the platform's: the session
//! checks them against its `[connection]`.

use super::plugins::PluginArgs;
use clap::{Args, ValueEnum};
use ferry::engine::select::Selection;
use ferry::engine::{OnConflict, Options};
use ferry::net::Secret;
use ferry::net::auth::AuthInput;
use ferry::net::client::ClientConfig;
use ferry::net::retry::RetryPolicy;
use ferry::promotion::{EnvToml, Loaded, parse_size, read_secret_file};
use ferry::session::{EnvSpec, Settings, Sides};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Defaults, when neither a flag nor the promotion file says.
pub mod defaults {
    /// the platform of a run that names none (every flag of Unstract's clone tool works)
    pub const PLATFORM: &str = "unstract";
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
    /// The platform of the run: its plugins alone are loaded, its manifest says what the
    /// parameters, credentials and options are (`ferry plugins list`) [default: unstract]
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,
    /// Base URL of the source environment, e.g. https://us-central.unstract.com
    #[arg(long, value_name = "URL")]
    pub source_url: Option<String>,
    /// A connection parameter of the source, as the platform declares them (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub source_param: Vec<(String, String)>,
    /// Short for --source-param org=ORG.
    #[arg(long, value_name = "ORG")]
    pub source_org: Option<String>,
    /// Key of the source (a read key is enough); also from the platform's variable.
    #[arg(long, value_name = "KEY")]
    pub source_key: Option<String>,
    /// User name on the source, for platforms that log in.
    #[arg(long, value_name = "NAME")]
    pub source_user: Option<String>,
    /// A file holding the source's password [env: FERRY_SOURCE_PASSWORD].
    #[arg(long, value_name = "FILE")]
    pub source_password_file: Option<PathBuf>,
    /// Base URL of the target environment.
    #[arg(long, value_name = "URL")]
    pub target_url: Option<String>,
    /// A connection parameter of the target (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub target_param: Vec<(String, String)>,
    /// Short for --target-param org=ORG.
    #[arg(long, value_name = "ORG")]
    pub target_org: Option<String>,
    /// Key of the target (read_write); also from the platform's variable.
    #[arg(long, value_name = "KEY")]
    pub target_key: Option<String>,
    /// User name on the target, for platforms that log in.
    #[arg(long, value_name = "NAME")]
    pub target_user: Option<String>,
    /// A file holding the target's password [env: FERRY_TARGET_PASSWORD].
    #[arg(long, value_name = "FILE")]
    pub target_password_file: Option<PathBuf>,
    /// Short for --source-param api_prefix=P --target-param api_prefix=P.
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
    /// A run option of the platform, NAME=VALUE (repeatable; `ferry plugins list` shows them).
    #[arg(long = "option", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub option: Vec<(String, String)>,
    /// Short for --option clone-group-members=true (the flag of Unstract's clone tool).
    #[arg(long)]
    pub clone_group_members: bool,
    /// Delete from the target what the source no longer has, of what ferry created or
    /// adopted there (never what was made by hand), after every create and update.
    #[arg(long)]
    pub prune: bool,
    /// More deletes than this are refused unless --allow-delete names their count.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_deletes: usize,
    /// Allow exactly N deletes past --max-deletes and the 30 %-of-a-kind guard.
    #[arg(long, value_name = "N")]
    pub allow_delete: Option<usize>,
    /// Allow a prune that leaves a kind with none of the resources ferry manages.
    #[arg(long)]
    pub allow_empty: bool,
    /// Seconds to wait while another run holds the target's lock (default 600).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub lock_wait: u64,
    /// Restore this package (`ferry export`) instead of reading a source: it takes the
    /// source's place, and no source flag is needed.
    #[arg(long, value_name = "FILE")]
    pub from_package: Option<PathBuf>,
    /// Check the package's signature with this public key (`ferry package keygen`); an
    /// unsigned package is refused.
    #[arg(long, value_name = "PUBKEY", requires = "from_package")]
    pub verify: Option<PathBuf>,
    /// Refuse a package that is not signed and verified (needs --verify).
    #[arg(long, requires = "verify")]
    pub require_signature: bool,
    /// Write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// What to print: a table for people, or the JSON report.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} must be NAME=VALUE")),
    }
}

fn parse_kind_policy(s: &str) -> Result<(String, OnConflict), String> {
    let (k, p) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} must be KIND=adopt|update|abort"))?;
    let p = OnConflict::from_str(p, true)
        .map_err(|_| format!("{s:?}: the policy must be adopt, update or abort"))?;
    Ok((k.to_string(), p))
}

/// A run: the session's settings, and where its report goes.
pub struct Run {
    pub settings: Settings,
    pub emit: Emit,
}

/// Where a run's report goes.
pub struct Emit {
    pub report: Option<PathBuf>,
    pub output: Output,
}

impl RunArgs {
    /// Read the promotion file (if any) and combine it with the flags.
    pub fn settings(&self) -> anyhow::Result<Run> {
        let file = self.config.as_deref().map(Loaded::read).transpose()?;
        self.settings_with(file)
    }

    /// The settings of an export: the source alone.
    pub fn export_settings(&self) -> anyhow::Result<Run> {
        let e = &self.endpoints;
        if e.target_url.is_some() || !e.target_param.is_empty() || e.target_org.is_some() {
            anyhow::bail!("an export has no target: leave out the --target-* flags");
        }
        if self.from_package.is_some() || self.prune {
            anyhow::bail!("an export reads a live source: --from-package and --prune are for plan and clone");
        }
        let file = self.config.as_deref().map(Loaded::read).transpose()?;
        self.settings_for(file, Sides::Export)
    }

    /// Combine the flags with an already loaded promotion file.
    pub fn settings_with(&self, file: Option<Loaded>) -> anyhow::Result<Run> {
        let sides = match &self.from_package {
            None => Sides::Live,
            Some(path) => {
                let trust = ferry::package::Trust {
                    verify: self
                        .verify
                        .as_deref()
                        .map(ferry::package::sign::verifying_key)
                        .transpose()?,
                    require_signature: self.require_signature,
                };
                Sides::FromPackage(std::sync::Arc::new(ferry::package::Package::open(path, &trust)?))
            }
        };
        self.settings_for(file, sides)
    }

    fn settings_for(&self, file: Option<Loaded>, sides: Sides) -> anyhow::Result<Run> {
        let empty = ferry::promotion::RunToml::default();
        let run = file.as_ref().map(|l| &l.file.run).unwrap_or(&empty);
        let e = &self.endpoints;
        let platform = match &sides {
            // A package knows its platform: --platform may only agree with it.
            Sides::FromPackage(p) if e.platform.is_none() && file.as_ref().is_none_or(|l| l.file.target.platform.is_none()) => {
                p.manifest.platform.clone()
            }
            _ => platform(e, &file)?,
        };
        let source = if let Sides::FromPackage(_) = sides {
            EnvSpec::default()
        } else {
            env(
            &file,
            "source",
            Side {
                url: &e.source_url,
                params: &e.source_param,
                org: &e.source_org,
                key: &e.source_key,
                user: &e.source_user,
                password_file: &e.source_password_file,
            },
            &e.api_prefix,
        )?
        };
        let target = if let Sides::Export = sides {
            EnvSpec::default()
        } else {
            env(
            &file,
            "target",
            Side {
                url: &e.target_url,
                params: &e.target_param,
                org: &e.target_org,
                key: &e.target_key,
                user: &e.target_user,
                password_file: &e.target_password_file,
            },
            &e.api_prefix,
        )?
        };
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
        // The file's options, then the flags' (a later one wins when the session checks them).
        let mut plugin_options: Vec<(String, String)> = run
            .options
            .iter()
            .map(|(k, v)| (k.clone(), ferry::plugin::platform::option_text(v)))
            .collect();
        if self.clone_group_members || run.clone_group_members == Some(true) {
            plugin_options.push(("clone-group-members".into(), "true".into()));
        }
        plugin_options.extend(self.option.iter().cloned());
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
            plugin_options: vec![],
            environment: vec![],
            transform: Default::default(),
            journal: std::sync::Arc::new(ferry::engine::journal::Journal::none()),
            managed: std::sync::Arc::new(ferry::engine::managed::Managed::none()),
            prune: ferry::engine::prune::PruneOptions {
                enabled: self.prune,
                max_deletes: self.max_deletes,
                allow_delete: self.allow_delete,
                allow_empty: self.allow_empty,
            },
            lock_wait: std::time::Duration::from_secs(self.lock_wait),
            from_package: None,
        };
        Ok(Run {
            settings: Settings {
                sides,
                platform,
                source,
                target,
                net,
                options,
                plugin_options,
                file,
                discovery: self.plugins.discovery(),
            },
            emit: Emit {
                report: self.report.clone(),
                output: self.output,
            },
        })
    }
}

/// The run's platform: the flag, else the promotion file's (both sides must agree), else
/// the default.
fn platform(e: &Endpoints, file: &Option<Loaded>) -> anyhow::Result<String> {
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
    Ok(e.platform
        .clone()
        .or(s)
        .or(t)
        .unwrap_or_else(|| defaults::PLATFORM.into()))
}

/// One side's flags.
struct Side<'a> {
    url: &'a Option<String>,
    params: &'a [(String, String)],
    org: &'a Option<String>,
    key: &'a Option<String>,
    user: &'a Option<String>,
    password_file: &'a Option<PathBuf>,
}

/// One side: flags, else the file; credentials the platform's variables fill in later.
fn env(
    file: &Option<Loaded>,
    side: &str,
    flags: Side,
    prefix: &Option<String>,
) -> anyhow::Result<EnvSpec> {
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
    let url = flags
        .url
        .clone()
        .or_else(|| t.url.as_ref().map(|u| u.0.clone()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no {side} url: give --{side}-url or [{side}] url in a promotion file (--config)"
            )
        })?;
    // The file's parameters, then its short forms, then the flags: a flag wins.
    let mut params: BTreeMap<String, String> = t
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    if let Some(o) = &t.org {
        params.insert("org".into(), o.0.clone());
    }
    if let Some(p) = &t.api_prefix {
        params.insert("api_prefix".into(), p.clone());
    }
    params.extend(flags.params.iter().cloned());
    if let Some(o) = flags.org {
        params.insert("org".into(), o.clone());
    }
    if let Some(p) = prefix {
        params.insert("api_prefix".into(), p.clone());
    }
    let key = match (flags.key, file) {
        (Some(k), _) => Some(k.trim().to_string()).filter(|k| !k.is_empty()),
        (None, Some(l)) => l.key(side)?,
        (None, None) => None,
    };
    let password = match (flags.password_file, file) {
        (Some(f), _) => {
            Some(read_secret_file(f).map_err(|e| anyhow::anyhow!("--{side}-password-file: {e}"))?)
        }
        (None, Some(l)) => l.password(side)?,
        (None, None) => None,
    };
    Ok(EnvSpec {
        name: t.name.clone(),
        url,
        params,
        auth: AuthInput {
            key: key.map(Secret::new),
            username: flags.user.clone().or_else(|| t.auth.username.clone()),
            password: password.map(Secret::new),
        },
    })
}
