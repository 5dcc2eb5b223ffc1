//! `ferry clone` and `ferry plan`: one promotion from a source org to a target org, with
//! flags and environment variables compatible with Unstract's clone tool.

use super::exit;
use super::plugins::PluginArgs;
use crate::engine::apply::{Outcome, Progress, apply};
use crate::engine::plan::{PlanError, plan};
use crate::engine::report::Report;
use crate::engine::select::Selection;
use crate::engine::{OnConflict, Options};
use crate::net::client::ClientConfig;
use crate::net::{Connection, Credential, Environments, HttpClient, Secret, Side};
use crate::plugin::registry::Registry;
use crate::plugin::wasm::WasmRuntime;
use crate::plugin::wasm::cache::ComponentCache;
use crate::plugin::wasm::state::Grant;
use clap::{Args, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct Endpoints {
    /// Base URL of the source platform, e.g. https://us-central.unstract.com
    #[arg(long, value_name = "URL")]
    pub source_url: String,
    /// Organisation id of the source.
    #[arg(long, value_name = "ORG")]
    pub source_org: String,
    /// Platform key of the source (a read key is enough).
    #[arg(long, value_name = "KEY", env = "UNSTRACT_SRC_PLATFORM_KEY", hide_env_values = true)]
    pub source_key: String,
    /// Base URL of the target platform.
    #[arg(long, value_name = "URL")]
    pub target_url: String,
    /// Organisation id of the target.
    #[arg(long, value_name = "ORG")]
    pub target_org: String,
    /// Platform key of the target (read_write).
    #[arg(long, value_name = "KEY", env = "UNSTRACT_TGT_PLATFORM_KEY", hide_env_values = true)]
    pub target_key: String,
    /// API prefix: {url}/{prefix}/unstract/{org}/
    #[arg(long, default_value = "api/v1")]
    pub api_prefix: String,
    /// Requests per second per environment (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub rate_limit: u32,
    /// Requests in flight per environment.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: u32,
    /// Tries per request when a retry is safe (1: no retry).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds for one request, body included.
    #[arg(long, default_value_t = 120)]
    pub request_timeout: u64,
}

impl Endpoints {
    pub fn base(url: &str, prefix: &str, org: &str) -> String {
        format!("{}/{}/unstract/{}/", url.trim_end_matches('/'), prefix.trim_matches('/'), org)
    }

    pub fn client(&self) -> anyhow::Result<HttpClient> {
        let conn = |side, url: &str, org: &str, key: &str| -> anyhow::Result<Connection> {
            if key.trim().is_empty() {
                anyhow::bail!("the {side} key is empty (--{side}-key or its environment variable)");
            }
            Connection::new(side, &Self::base(url, &self.api_prefix, org), Credential::Bearer(Secret::new(key.trim())))
        };
        let envs = Environments { source: conn(Side::Source, &self.source_url, &self.source_org, &self.source_key)?, target: conn(Side::Target, &self.target_url, &self.target_org, &self.target_key)? };
        let config = ClientConfig {
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout.max(1)),
            request_timeout: std::time::Duration::from_secs(self.request_timeout.max(1)),
            retry: crate::net::retry::RetryPolicy { attempts: self.attempts, ..Default::default() },
            rate_limit: (self.rate_limit > 0).then_some(self.rate_limit),
            max_in_flight: self.max_in_flight as usize,
        };
        HttpClient::new(envs, &config)
    }

    pub fn describe(&self) -> (String, String) {
        (format!("{} @ {}", self.source_org, self.source_url), format!("{} @ {}", self.target_org, self.target_url))
    }
}

#[derive(Copy, Clone, Debug, ValueEnum, Default, PartialEq, Eq)]
pub enum Output {
    #[default]
    Table,
    Json,
}

/// What `clone` and `plan` share.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
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
    /// What to do with a resource that already exists on the target.
    #[arg(long, value_enum, default_value = "adopt")]
    pub on_name_conflict: OnConflict,
    /// The same per kind: KIND=adopt|update|abort (repeatable).
    #[arg(long, value_name = "KIND=POLICY", value_parser = parse_kind_policy)]
    pub on_name_conflict_kind: Vec<(String, OnConflict)>,
    /// Plugin calls in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Largest file to copy: 25, 25MB, 1.5GB (bytes without a unit; powers of 1024).
    #[arg(long, default_value = "25MB", value_parser = parse_size)]
    pub max_file_size: u64,
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
    let (k, p) = s.split_once('=').ok_or_else(|| format!("{s:?} must be KIND=adopt|update|abort"))?;
    let p = OnConflict::from_str(p, true).map_err(|_| format!("{s:?}: the policy must be adopt, update or abort"))?;
    Ok((k.to_string(), p))
}

/// `25` (bytes), `25MB`, `1.5GB`, `512K`: powers of 1024, as Unstract's tool reads them.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size (examples: 25, 25MB, 1.5GB)"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use B, KB, MB or GB)")),
    };
    Ok((n * mult as f64) as u64)
}

impl RunArgs {
    pub fn options(&self) -> Options {
        let mut plugin_options = vec![];
        if self.clone_group_members {
            plugin_options.push(("clone-group-members".into(), "true".into()));
        }
        Options {
            concurrency: self.concurrency as usize,
            on_conflict: self.on_name_conflict,
            on_conflict_kind: self.on_name_conflict_kind.iter().cloned().collect(),
            selection: Selection { include: self.include.clone(), exclude: self.exclude.clone(), select: self.select.clone(), tags: self.select_tag.clone() },
            skip_files: self.skip_files,
            max_file_size: self.max_file_size,
            plugin_options,
        }
    }
}

#[derive(Args, Debug)]
pub struct CloneArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Plan only: read and match, write nothing (same as `ferry plan`).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Exit 0 when there is nothing to do, 2 when changes are pending, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Plain lines when stdout is not a terminal, a progress bar when it is.
struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn started(&self, total: usize) {
        if let Some(b) = &self.0 {
            b.set_length(total as u64);
        }
    }
    fn finished(&self, kind: &str, key: &str, outcome: &Outcome) {
        match &self.0 {
            Some(b) => {
                b.inc(1);
                b.set_message(format!("{kind} {key}"));
            }
            None => eprintln!("{} {kind} {key:?}{}", outcome.name(), match outcome {
                Outcome::Skipped(r) | Outcome::Failed(r) => format!(": {r}"),
                _ => String::new(),
            }),
        }
    }
}

impl Bar {
    fn new(quiet: bool) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let b = indicatif::ProgressBar::new(0);
        b.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}").expect("a valid template"));
        Bar(Some(b))
    }
}

/// Everything one promotion needs, loaded once.
pub struct Session {
    _runtime: WasmRuntime,
    pub registry: Registry,
    pub grant: Grant,
}

impl Session {
    pub async fn open(args: &RunArgs) -> anyhow::Result<Session> {
        let runtime = WasmRuntime::new(ComponentCache::default_dir())?;
        let registry = Registry::load(&runtime, &args.plugins.discovery()).await?;
        let grant = Grant { http: Some(args.endpoints.client()?), cancel: Default::default() };
        Ok(Session { _runtime: runtime, registry, grant })
    }
}

fn emit(report: &Report, args: &RunArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(report)?).map_err(|e| anyhow::anyhow!("writing the report to {}: {e}", path.display()))?;
    }
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Output::Table => print!("{}", report.render()),
    }
    Ok(())
}

/// Plan, and apply unless `dry_run`. Returns the report.
pub async fn promote(session: &Session, args: &RunArgs, dry_run: bool, quiet: bool) -> Result<Report, PlanError> {
    let opts = args.options();
    let (source, target) = args.endpoints.describe();
    let started = Instant::now();
    let mut p = plan(&session.registry, &session.grant, &opts).await?;
    if dry_run {
        return Ok(Report::build(&p, None, &source, &target, started.elapsed().as_millis() as u64));
    }
    let done = apply(&mut p, &session.registry, &session.grant, &opts, &Bar::new(quiet || args.output == Output::Json)).await;
    Ok(Report::build(&p, Some(&done), &source, &target, started.elapsed().as_millis() as u64))
}

pub async fn clone(args: CloneArgs) -> anyhow::Result<u8> {
    let session = Session::open(&args.run).await?;
    let cancel = session.grant.cancel.clone();
    // Ctrl-C or SIGTERM: stop starting work, let what is in flight finish, report, exit 130.
    let watcher = tokio::spawn(async move {
        super::signals::stop_requested().await;
        eprintln!("interrupted: finishing what is in flight, then writing the report (a re-run finishes the job)");
        cancel.cancel();
    });
    let result = promote(&session, &args.run, args.dry_run, false).await;
    watcher.abort();
    match result {
        Ok(report) => {
            emit(&report, &args.run)?;
            Ok(if session.grant.cancel.is_cancelled() {
                exit::INTERRUPTED
            } else if report.failed() > 0 {
                exit::FAILED
            } else {
                exit::OK
            })
        }
        Err(PlanError::Conflicts(c)) => {
            eprintln!("error: {}", PlanError::Conflicts(c));
            eprintln!("nothing was written");
            Ok(exit::FAILED)
        }
        Err(e) => Err(anyhow::anyhow!("{e}\nnothing was written")),
    }
}

pub async fn plan_cmd(args: PlanArgs) -> anyhow::Result<u8> {
    let run = async {
        let session = Session::open(&args.run).await?;
        let report = promote(&session, &args.run, true, true).await?;
        emit(&report, &args.run)?;
        Ok::<_, anyhow::Error>(report.pending() > 0)
    };
    match run.await {
        Ok(pending) if args.detailed_exitcode => Ok(if pending { 2 } else { 0 }),
        Ok(_) => Ok(exit::OK),
        Err(e) if args.detailed_exitcode => {
            eprintln!("error: {e:#}");
            Ok(1)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_like_unstracts_tool() {
        assert_eq!(parse_size("25").unwrap(), 25);
        assert_eq!(parse_size("25MB").unwrap(), 25 << 20);
        assert_eq!(parse_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_size(" 512 kb ").unwrap(), 512 << 10);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("5TB").unwrap_err().contains("unknown unit"));
    }
}
