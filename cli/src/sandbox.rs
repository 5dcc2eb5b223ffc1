//! `ferry sandbox`: serve an emulated platform (Unstract's Platform API, or Strategy's
//! Library REST API) until stopped.

use clap::Args;
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::strategy;
use ferry_sandbox::unstract::keys::Tier;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use ferry_sandbox::versori;
use std::net::SocketAddr;

#[derive(Args, Debug)]
pub(crate) struct SandboxArgs {
    /// Address to listen on (port 0 picks a free one; the banner says which).
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// The platform to emulate: unstract (orgs), strategy (environments) or versori (orgs).
    #[arg(long, default_value = "unstract")]
    platform: String,
    /// Unstract, Versori: an org to serve; repeatable. An org without --seed starts empty.
    #[arg(long = "org", value_name = "ORG")]
    orgs: Vec<String>,
    /// Strategy: an environment to serve, at {url}/ENV/MicroStrategyLibrary; repeatable.
    #[arg(long = "env", value_name = "ENV")]
    envs: Vec<String>,
    /// Fill an org or environment; repeatable. Unstract: ORG=demo, ORG=small, ORG=services
    /// (its own adapters and connectors), ORG=N (about N resources) or ORG=file:SIZE (one
    /// project with one file of SIZE, e.g. 1GB). Strategy: ENV=demo (two projects with
    /// objects, users, groups and roles), ENV=N (N small projects) or ENV=package:SIZE (one
    /// project whose package is SIZE).
    #[arg(long = "seed", value_name = "NAME=SEED", value_parser = parse_pair)]
    seeds: Vec<(String, String)>,
    /// Strategy: how long one phase of a duplication job lasts, in milliseconds (exporting
    /// and importing take two).
    #[arg(long, default_value_t = 300)]
    job_step_ms: u64,
    /// Strategy: seconds an idle session lives.
    #[arg(long, default_value_t = 600)]
    session_timeout: u64,
    /// Use this key instead of the derived one: ORG.TIER=KEY, TIER one of read, read_write,
    /// full_access; repeatable.
    #[arg(long = "key", value_name = "ORG.TIER=KEY", value_parser = parse_key)]
    keys: Vec<(String, Tier, String)>,
    /// The API prefix in URLs: {url}/{prefix}/unstract/{org}/...
    #[arg(long, default_value = "api/v1")]
    api_prefix: String,
    /// Fixed latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Random extra latency, 0..=N milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Requests per second per org; beyond it: 429 with Retry-After (0: no limit).
    #[arg(long, default_value_t = 0)]
    rate_limit: u32,
    /// Share of requests answered with a 5xx, between 0 and 1.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of connections dropped mid-answer, between 0 and 1.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Share of answers whose body trickles out slowly, between 0 and 1.
    #[arg(long, default_value_t = 0.0)]
    slow_rate: f64,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    let (name, seed) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} must be NAME=SEED (for example dev=demo)"))?;
    Ok((name.to_string(), seed.to_string()))
}

fn parse_key(s: &str) -> Result<(String, Tier, String), String> {
    let (left, key) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} must be ORG.TIER=KEY"))?;
    let (org, tier) = left
        .rsplit_once('.')
        .ok_or_else(|| format!("{s:?} must be ORG.TIER=KEY"))?;
    let tier = Tier::parse(tier)
        .ok_or_else(|| format!("{s:?}: tier must be read, read_write or full_access"))?;
    if key.is_empty() {
        return Err(format!("{s:?}: the key is empty"));
    }
    Ok((org.to_string(), tier, key.to_string()))
}

impl SandboxArgs {
    fn faults(&self) -> anyhow::Result<Faults> {
        let faults = Faults {
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
            rate_limit: self.rate_limit,
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            slow_rate: self.slow_rate,
        };
        faults
            .check()
            .map_err(|e| anyhow::anyhow!("--{}", e.replace('_', "-")))?;
        Ok(faults)
    }

    pub(crate) fn config(&self) -> anyhow::Result<Config> {
        if self.orgs.is_empty() {
            anyhow::bail!("the unstract sandbox serves orgs: give at least one --org ORG");
        }
        if !self.envs.is_empty() {
            anyhow::bail!("--env is for --platform strategy; Unstract has orgs (--org)");
        }
        let mut orgs: Vec<OrgSpec> = self.orgs.iter().map(|o| OrgSpec::new(o)).collect();
        for (org, seed) in &self.seeds {
            let spec = orgs
                .iter_mut()
                .find(|o| &o.name == org)
                .ok_or_else(|| anyhow::anyhow!("--seed {org}=...: no --org {org}"))?;
            spec.seed = Some(
                seed.parse::<Seed>()
                    .map_err(|e| anyhow::anyhow!("--seed {org}={seed}: {e}"))?,
            );
        }
        for (org, tier, key) in &self.keys {
            let spec = orgs
                .iter_mut()
                .find(|o| &o.name == org)
                .ok_or_else(|| anyhow::anyhow!("--key {org}.{}: no --org {org}", tier.name()))?;
            spec.keys.push((*tier, key.clone()));
        }
        Ok(Config {
            listen: self.listen,
            prefix: self.api_prefix.clone(),
            orgs,
            faults: self.faults()?,
            judge: false,
        })
    }

    pub(crate) fn versori_config(&self) -> anyhow::Result<versori::Config> {
        if self.orgs.is_empty() {
            anyhow::bail!("the versori sandbox serves organisations: give at least one --org NAME");
        }
        if !self.envs.is_empty() {
            anyhow::bail!("--env is for --platform strategy; Versori has organisations (--org)");
        }
        let mut orgs: Vec<versori::OrgSpec> =
            self.orgs.iter().map(|o| versori::OrgSpec::new(o)).collect();
        for (org, seed) in &self.seeds {
            let spec = orgs
                .iter_mut()
                .find(|o| &o.name == org)
                .ok_or_else(|| anyhow::anyhow!("--seed {org}=...: no --org {org}"))?;
            spec.seed = Some(
                seed.parse::<versori::Seed>()
                    .map_err(|e| anyhow::anyhow!("--seed {org}={seed}: {e}"))?,
            );
        }
        Ok(versori::Config {
            listen: self.listen,
            orgs,
            faults: self.faults()?,
            // the judge costs a check per answer: for the tests, not the demo's pace
            judge: false,
        })
    }

    pub(crate) fn strategy_config(&self) -> anyhow::Result<strategy::Config> {
        if self.envs.is_empty() {
            anyhow::bail!("the strategy sandbox serves environments: give at least one --env ENV");
        }
        if !self.orgs.is_empty() {
            anyhow::bail!("--org is for --platform unstract; Strategy has environments (--env)");
        }
        let mut envs: Vec<strategy::EnvSpec> = self
            .envs
            .iter()
            .map(|e| strategy::EnvSpec::new(e))
            .collect();
        for (env, seed) in &self.seeds {
            let spec = envs
                .iter_mut()
                .find(|e| &e.name == env)
                .ok_or_else(|| anyhow::anyhow!("--seed {env}=...: no --env {env}"))?;
            spec.seed = Some(
                seed.parse::<strategy::Seed>()
                    .map_err(|e| anyhow::anyhow!("--seed {env}={seed}: {e}"))?,
            );
        }
        if self.job_step_ms == 0 {
            anyhow::bail!("--job-step-ms must be at least 1");
        }
        Ok(strategy::Config {
            listen: self.listen,
            envs,
            faults: self.faults()?,
            step: std::time::Duration::from_millis(self.job_step_ms),
            session_timeout: self.session_timeout,
            keep_bodies: false,
        })
    }
}

pub(crate) async fn run(args: SandboxArgs) -> anyhow::Result<u8> {
    match args.platform.as_str() {
        "unstract" => {
            let sandbox = Sandbox::start(args.config()?).await?;
            serve(
                "unstract",
                serde_json::to_string(&sandbox.banner)?,
                sandbox.url(),
            )
            .await?;
            sandbox.stop().await;
        }
        "strategy" => {
            let sandbox = strategy::Sandbox::start(args.strategy_config()?).await?;
            serve(
                "strategy",
                serde_json::to_string(&sandbox.banner)?,
                sandbox.url(),
            )
            .await?;
            sandbox.stop().await;
        }
        "versori" => {
            let sandbox = versori::Sandbox::start(args.versori_config()?).await?;
            serve(
                "versori",
                serde_json::to_string(&sandbox.banner)?,
                sandbox.url(),
            )
            .await?;
            sandbox.stop().await;
        }
        other => {
            anyhow::bail!("--platform {other}: the sandbox emulates unstract, strategy and versori")
        }
    }
    Ok(super::exit::OK)
}

/// Announce a started emulator (its start line on stdout) and serve until SIGINT or SIGTERM.
async fn serve(platform: &str, banner: String, url: &str) -> anyhow::Result<()> {
    // Listen for the stop signals before announcing the server, so a caller that reads the
    // banner and signals at once is never missed.
    let stop = Stop::install()?;
    println!("{banner}");
    tracing::info!("{platform} sandbox serving on {url}; Ctrl-C stops it");
    stop.wait().await;
    Ok(())
}

/// SIGINT or SIGTERM.
struct Stop {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Stop {
    fn install() -> anyhow::Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Stop {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Stop {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
