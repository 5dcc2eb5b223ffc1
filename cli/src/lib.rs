//! The `ferry` command: argument parsing, logging setup, exit codes. One module per
//! subcommand.

mod args;
mod clone;
mod demo;
mod diff;
mod errors;
mod hook;
mod jobs;
mod package;
mod plugins;
mod render;
mod rollout;
mod sandbox;
mod serve;
mod unlock;

/// The defaults of the flags (for the benchmarks, which report against them).
pub use args::defaults;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit codes (documented in the README).
pub mod exit {
    pub const OK: u8 = 0;
    /// some item failed, or the run was aborted
    pub const FAILED: u8 = 1;
    /// bad usage or a fatal error before any work
    pub const USAGE: u8 = 2;
    /// stopped by Ctrl-C or SIGTERM (after writing the report of what was done)
    pub const INTERRUPTED: u8 = 130;
}

/// Waiting for Ctrl-C or SIGTERM.
pub mod signals {
    pub async fn stop_requested() {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "ferry",
    version,
    about = "Promote a platform's configuration between environments, safely"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Promote: clone the source org's resources into the target org.
    Clone(clone::CloneArgs),
    /// Read and match both orgs and print what a clone would do; write nothing.
    Plan(clone::PlanArgs),
    /// Show, field by field, how what the source would write differs from the target; exit
    /// 0 when nothing differs, 2 when something does, 1 on error.
    Diff(diff::DiffArgs),
    /// Export the source to a package file: the source flags, selection and promotion file
    /// of clone, and --out FILE (restore with plan/clone --from-package FILE).
    Export(package::ExportArgs),
    /// Inspect a package (every entry checked), or make a key pair to sign packages with.
    #[command(subcommand)]
    Package(package::PackageCommand),
    /// Start the sandbox with a seeded DEV and an empty PROD org, plan, clone, report.
    Demo(demo::DemoArgs),
    /// Develop transform hooks: run one on a resource from a file, list the bundled ones.
    #[command(subcommand)]
    Hook(hook::HookCommand),
    /// Inspect the plugins ferry can load.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Promote one source to many targets: the promotion file's [[targets]], in the waves of
    /// its [rollout] table, within its failure budget; the source is read once.
    Rollout(rollout::RolloutArgs),
    /// Serve an emulated Unstract Platform API (several orgs, seeds, faults) until stopped.
    Sandbox(sandbox::SandboxArgs),
    /// List the targets' locks (--list), or break a stale one by its id.
    Unlock(unlock::UnlockArgs),
    /// Serve promotions as jobs: a REST API, a job store, one writer per target, a dashboard.
    Serve(serve::ServeArgs),
    /// Talk to a job server: list, show, start, cancel jobs and read their logs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Clone(a) => clone::clone(a).await,
            Command::Plan(a) => clone::plan_cmd(a).await,
            Command::Diff(a) => diff::run(a).await,
            Command::Export(a) => package::export(a).await,
            Command::Package(c) => package::run(c).await,
            Command::Demo(a) => demo::run(a).await,
            Command::Hook(c) => hook::run(c).await,
            Command::Plugins(c) => plugins::run(c).await,
            Command::Rollout(a) => rollout::run(a).await,
            Command::Sandbox(a) => sandbox::run(a).await,
            Command::Unlock(a) => unlock::run(a).await,
            Command::Serve(a) => serve::run(a).await,
            Command::Jobs(c) => jobs::run(c).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", errors::text(&e));
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Logs go to stderr, so stdout stays clean for JSON output.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "ferry=info,info",
        2 => "ferry=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use tracing_subscriber::prelude::*;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    // A job server's jobs log into their own logs too, whatever stderr shows.
    let jobs =
        ferry_server::logs::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(jobs)
        .try_init();
}
