//! The flags of `ferry clone` and `ferry plan`, and how they combine with a promotion file
//! (`--config`): the flags are the run's overrides (`ferry::settings`), which win over the
//! file, which wins over the defaults.

use super::plugins::PluginArgs;
use clap::{Args, ValueEnum};
use ferry::Short;
use ferry::engine::OnConflict;
use ferry::promotion::{Loaded, parse_size};
use ferry::session::{Settings, Sides};
use ferry::settings::{Overrides, SideOverrides};
use std::path::PathBuf;

pub use ferry::defaults;

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct Endpoints {
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
    /// The source's short form `org` (Unstract's manifest: --source-param org=ORG).
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
    /// The target's short form `org` (Unstract's manifest: --target-param org=ORG).
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
    /// The short form `api_prefix`, both sides (Unstract's manifest: --source-param
    /// api_prefix=P --target-param api_prefix=P).
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
    /// Items one listing may hold, whatever its server says [default: 1000000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_list_items: Option<u64>,
    /// Bytes one listing may hold, all its pages together: 512MB, 2GB [default: 2GB]
    #[arg(long, value_parser = parse_size)]
    pub max_list_bytes: Option<u64>,
}

#[derive(Copy, Clone, Debug, ValueEnum, Default, PartialEq, Eq)]
pub(crate) enum Output {
    #[default]
    Table,
    Json,
}

/// What `clone` and `plan` share.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct RunArgs {
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
    pub on_name_conflict: Option<Conflict>,
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
    /// The short form `clone_group_members` (Unstract's manifest: --option
    /// clone-group-members=true, the flag of Unstract's clone tool).
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
    #[arg(long, value_name = "SECS", default_value_t = defaults::LOCK_WAIT)]
    pub lock_wait: u64,
    /// Where target leases live: a postgres:// URL (runs on several machines) or a SQLite
    /// file [env: FERRY_LOCK_STORE; default: locks.sqlite in the state directory]
    #[arg(long, value_name = "URL|FILE")]
    pub lock_store: Option<String>,
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
    let p = p.parse::<OnConflict>().map_err(|e| format!("{s:?}: {e}"))?;
    Ok((k.to_string(), p))
}

/// `--on-name-conflict`'s values: clap's enum over the library's policy, so the library
/// does not depend on the command line's parser.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Conflict {
    /// use the target's resource as it is
    Adopt,
    /// make the target's writable fields equal the source's
    Update,
    /// stop before any write
    Abort,
}

impl From<Conflict> for OnConflict {
    fn from(c: Conflict) -> Self {
        match c {
            Conflict::Adopt => OnConflict::Adopt,
            Conflict::Update => OnConflict::Update,
            Conflict::Abort => OnConflict::Abort,
        }
    }
}

/// A run: the session's settings, and where its report goes.
pub(crate) struct Run {
    pub settings: Settings,
    pub emit: Emit,
}

/// Where a run's report goes.
pub(crate) struct Emit {
    pub report: Option<PathBuf>,
    pub output: Output,
}

impl RunArgs {
    /// Read the promotion file (if any) and combine it with the flags.
    pub(crate) fn settings(&self) -> anyhow::Result<Run> {
        let file = self.config.as_deref().map(Loaded::read).transpose()?;
        self.settings_with(file)
    }

    /// The settings of an export: the source alone.
    pub(crate) fn export_settings(&self) -> anyhow::Result<Run> {
        let e = &self.endpoints;
        if e.target_url.is_some() || !e.target_param.is_empty() || e.target_org.is_some() {
            anyhow::bail!("an export has no target: leave out the --target-* flags");
        }
        if self.from_package.is_some() || self.prune {
            anyhow::bail!(
                "an export reads a live source: --from-package and --prune are for plan and clone"
            );
        }
        let file = self.config.as_deref().map(Loaded::read).transpose()?;
        self.settings_for(file, Sides::Export)
    }

    /// Combine the flags with an already loaded promotion file.
    pub(crate) fn settings_with(&self, file: Option<Loaded>) -> anyhow::Result<Run> {
        let sides = match &self.from_package {
            None => Sides::Live,
            Some(path) => Sides::FromPackage(self.open_package(path)?),
        };
        self.settings_for(file, sides)
    }

    /// A package to restore from, checked as `--verify` and `--require-signature` say.
    pub(crate) fn open_package(
        &self,
        path: &std::path::Path,
    ) -> anyhow::Result<std::sync::Arc<ferry::package::Package>> {
        let trust = ferry::package::Trust {
            verify: self
                .verify
                .as_deref()
                .map(ferry::package::sign::verifying_key)
                .transpose()?,
            require_signature: self.require_signature,
        };
        Ok(std::sync::Arc::new(ferry::package::Package::open(
            path, &trust,
        )?))
    }

    fn settings_for(&self, file: Option<Loaded>, sides: Sides) -> anyhow::Result<Run> {
        let settings = self
            .overrides()
            .settings(file, sides, self.plugins.discovery())?;
        Ok(Run {
            settings,
            emit: Emit {
                report: self.report.clone(),
                output: self.output,
            },
        })
    }

    /// The flags as the run's overrides.
    pub(crate) fn overrides(&self) -> Overrides {
        let e = &self.endpoints;
        Overrides {
            platform: e.platform.clone(),
            source: SideOverrides {
                url: e.source_url.clone(),
                params: e.source_param.clone(),
                aliases: alias("org", "--source-org", &e.source_org),
                key: e.source_key.clone(),
                user: e.source_user.clone(),
                password_file: e.source_password_file.clone(),
            },
            target: SideOverrides {
                url: e.target_url.clone(),
                params: e.target_param.clone(),
                aliases: alias("org", "--target-org", &e.target_org),
                key: e.target_key.clone(),
                user: e.target_user.clone(),
                password_file: e.target_password_file.clone(),
            },
            // Unstract's clone tool's flags, as the short forms its manifest declares.
            aliases: [
                alias("api_prefix", "--api-prefix", &e.api_prefix),
                alias(
                    "clone_group_members",
                    "--clone-group-members",
                    &self.clone_group_members.then(|| "true".to_string()),
                ),
            ]
            .concat(),
            rate_limit: e.rate_limit,
            max_in_flight: e.max_in_flight,
            attempts: e.attempts,
            connect_timeout: e.connect_timeout,
            request_timeout: e.request_timeout,
            max_list_items: e.max_list_items,
            max_list_bytes: e.max_list_bytes,
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            select: self.select.clone(),
            select_tag: self.select_tag.clone(),
            on_name_conflict: self.on_name_conflict.map(OnConflict::from),
            on_name_conflict_kind: self.on_name_conflict_kind.clone(),
            concurrency: self.concurrency,
            max_file_size: self.max_file_size,
            skip_files: self.skip_files,
            options: self.option.clone(),
            prune: ferry::engine::prune::PruneOptions {
                enabled: self.prune,
                max_deletes: self.max_deletes,
                allow_delete: self.allow_delete,
                allow_empty: self.allow_empty,
            },
            lock_wait: std::time::Duration::from_secs(self.lock_wait),
            lock_store: self.lock_store.clone(),
            holder: None,
        }
    }
}

/// A flag given as the short form `name` the platform's manifest resolves.
fn alias(name: &str, flag: &str, value: &Option<String>) -> Vec<Short> {
    value
        .iter()
        .map(|v| Short {
            name: name.to_string(),
            value: v.clone(),
            at: flag.to_string(),
        })
        .collect()
}
