//! `ferry clone` and `ferry plan`: one promotion from a source org to a target org, with
//! flags and environment variables compatible with Unstract's clone tool.

use super::args::{Emit, Output, Run, RunArgs};
use super::exit;
use clap::Args;
use ferry::engine::report::Report;
use ferry::session::Session;
use ferry::{Outcome, PluginProgress, Progress};
use std::io::IsTerminal;

#[derive(Args, Debug)]
pub(crate) struct CloneArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Plan only: read and match, write nothing (same as `ferry plan`).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Exit 0 when there is nothing to do, 2 when creates or updates are pending, 3 when
    /// deletes are (with --prune), 1 on error.
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
            None => eprintln!(
                "{} {kind} {key:?}{}",
                outcome.name(),
                match outcome {
                    Outcome::Skipped(r) | Outcome::Failed(r) => format!(": {r}"),
                    _ => String::new(),
                }
            ),
        }
    }
}

impl PluginProgress for Bar {
    fn plugin(&self, plugin: &str, percent: u8, message: &str) {
        match &self.0 {
            Some(b) => b.set_message(format!("{plugin}: {percent}% {message}")),
            None => eprintln!("{plugin}: {percent}% {message}"),
        }
    }
}

impl Bar {
    fn new(quiet: bool) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
                .expect("a valid template"),
        );
        Bar(Some(b))
    }
}

fn emit(report: &Report, run: &Emit) -> anyhow::Result<()> {
    if let Some(path) = &run.report {
        std::fs::write(path, serde_json::to_string_pretty(report)?)
            .map_err(|e| anyhow::anyhow!("writing the report to {}: {e}", path.display()))?;
    }
    match run.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Output::Table => print!("{}", crate::render::report(report)),
    }
    Ok(())
}

/// Plan, and apply unless `dry_run`, with a progress bar unless `quiet` or JSON output.
pub(crate) async fn promote(
    session: &Session,
    output: Output,
    dry_run: bool,
    quiet: bool,
) -> Result<Report, ferry::Error> {
    let bar = Bar::new(quiet || output == Output::Json);
    session.promote(dry_run, std::sync::Arc::new(bar)).await
}

/// Open the session of a run.
pub(crate) async fn open_run(run: Run) -> anyhow::Result<(Session, Emit)> {
    Ok((Session::open(run.settings).await?, run.emit))
}

pub(crate) async fn clone(args: CloneArgs) -> anyhow::Result<u8> {
    let opened = match args.run.settings() {
        Ok(run) => open_run(run).await,
        Err(e) => Err(e),
    };
    let (session, run) =
        opened.map_err(|e| anyhow::anyhow!("{}\nnothing was written", crate::errors::text(&e)))?;
    let cancel = session.cancel_token();
    // Ctrl-C or SIGTERM: stop starting work, let what is in flight finish, report, exit 130.
    let watcher = tokio::spawn(async move {
        super::signals::stop_requested().await;
        eprintln!(
            "interrupted: finishing what is in flight, then writing the report (a re-run finishes the job)"
        );
        cancel.cancel();
    });
    let result = promote(&session, run.output, args.dry_run, false).await;
    watcher.abort();
    session.close().await;
    match result {
        Ok(report) => {
            emit(&report, &run)?;
            Ok(if session.cancel_token().is_cancelled() {
                exit::INTERRUPTED
            } else if report.failed() > 0 {
                exit::FAILED
            } else {
                exit::OK
            })
        }
        Err(e) => {
            let e = anyhow::Error::new(e);
            let text = crate::errors::text(&e);
            if crate::errors::stopped_by_plan(&e) {
                eprintln!("error: {text}");
                eprintln!("nothing was written");
                Ok(exit::FAILED)
            } else {
                Err(anyhow::anyhow!("{text}\nnothing was written"))
            }
        }
    }
}

pub(crate) async fn plan_cmd(args: PlanArgs) -> anyhow::Result<u8> {
    let run = async {
        let (session, run) = open_run(args.run.settings()?).await?;
        let report = promote(&session, run.output, true, true).await;
        session.close().await;
        let report = report?;
        emit(&report, &run)?;
        Ok::<_, anyhow::Error>((report.pending() > 0, report.pending_deletes() > 0))
    };
    match run.await {
        // 3: deletes pending (whatever else is); 2: creates or updates pending.
        Ok((_, true)) if args.detailed_exitcode => Ok(3),
        Ok((pending, _)) if args.detailed_exitcode => Ok(if pending { 2 } else { 0 }),
        Ok(_) => Ok(exit::OK),
        Err(e) if crate::errors::stopped_by_plan(&e) => {
            eprintln!("error: {}", crate::errors::text(&e));
            Ok(exit::FAILED)
        }
        Err(e) if args.detailed_exitcode => {
            eprintln!("error: {}", crate::errors::text(&e));
            Ok(1)
        }
        Err(e) => Err(e),
    }
}
