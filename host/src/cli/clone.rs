//! `ferry clone` and `ferry plan`: one promotion from a source org to a target org, with
//! flags and environment variables compatible with Unstract's clone tool.

use super::args::{Output, RunArgs, Settings};
use super::exit;
use crate::engine::Options;
use crate::engine::apply::{Outcome, Progress, apply};
use crate::engine::plan::{PlanError, plan};
use crate::engine::report::Report;
use crate::plugin::hook::Hook;
use crate::plugin::registry::Registry;
use crate::plugin::wasm::WasmRuntime;
use crate::plugin::wasm::cache::ComponentCache;
use crate::plugin::wasm::state::Grant;
use crate::transform::{HookStep, Transformer};
use clap::Args;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

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

/// Everything one promotion needs, loaded once.
pub struct Session {
    _runtime: WasmRuntime,
    pub registry: Registry,
    pub grant: Grant,
    pub settings: Settings,
    /// the settings' options, with the promotion file's rules and hooks
    pub options: Options,
}

impl Session {
    pub async fn open(settings: Settings) -> anyhow::Result<Session> {
        let runtime = WasmRuntime::new(ComponentCache::default_dir())?;
        let registry = Registry::load(&runtime, &settings.plugins.discovery()).await?;
        let mut options = settings.options.clone();
        options.transform = Arc::new(transformer(&settings, &registry, &runtime)?);
        options.journal = Arc::new(crate::engine::journal::Journal::for_target(
            &settings.target.base(),
        ));
        let grant = Grant {
            http: Some(settings.client()?),
            cancel: Default::default(),
        };
        Ok(Session {
            _runtime: runtime,
            registry,
            grant,
            settings,
            options,
        })
    }
}

/// The promotion file's rules and hooks, checked against the loaded kinds.
fn transformer(
    settings: &Settings,
    registry: &Registry,
    runtime: &WasmRuntime,
) -> anyhow::Result<Transformer> {
    let mut t = Transformer {
        source_env: settings.source.name.clone(),
        target_env: settings.target.name.clone(),
        ..Default::default()
    };
    let Some(l) = &settings.file else {
        return Ok(t);
    };
    l.check_kinds(&registry.kinds().map(|(k, _)| k.name.clone()).collect())?;
    t.kinds = l
        .file
        .kinds
        .iter()
        .map(|(k, r)| (k.get_ref().clone(), r.clone()))
        .collect();
    for h in &l.file.hooks {
        let hook = Hook::load(h.uses.get_ref(), &l.dir, runtime)
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", l.at(&h.uses)))?;
        let params = h
            .with
            .as_ref()
            .map(|w| w.value.clone())
            .unwrap_or_else(|| serde_json::json!({}));
        t.hooks.push(HookStep {
            hook,
            kinds: h.kinds.iter().map(|k| k.get_ref().clone()).collect(),
            params,
        });
    }
    Ok(t)
}

fn emit(report: &Report, settings: &Settings) -> anyhow::Result<()> {
    if let Some(path) = &settings.report {
        std::fs::write(path, serde_json::to_string_pretty(report)?)
            .map_err(|e| anyhow::anyhow!("writing the report to {}: {e}", path.display()))?;
    }
    match settings.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Output::Table => print!("{}", report.render()),
    }
    Ok(())
}

/// Plan, and apply unless `dry_run`. Returns the report.
pub async fn promote(session: &Session, dry_run: bool, quiet: bool) -> Result<Report, PlanError> {
    let opts = &session.options;
    let (source, target) = (
        session.settings.source.describe(),
        session.settings.target.describe(),
    );
    let started = Instant::now();
    let mut p = plan(&session.registry, &session.grant, opts).await?;
    if dry_run {
        return Ok(Report::build(
            &p,
            None,
            &source,
            &target,
            started.elapsed().as_millis() as u64,
        ));
    }
    let done = apply(
        &mut p,
        &session.registry,
        &session.grant,
        opts,
        &Bar::new(quiet || session.settings.output == Output::Json),
    )
    .await;
    opts.journal.compact();
    Ok(Report::build(
        &p,
        Some(&done),
        &source,
        &target,
        started.elapsed().as_millis() as u64,
    ))
}

pub async fn clone(args: CloneArgs) -> anyhow::Result<u8> {
    let opened = match args.run.settings() {
        Ok(settings) => Session::open(settings).await,
        Err(e) => Err(e),
    };
    let session = opened.map_err(|e| anyhow::anyhow!("{e:#}\nnothing was written"))?;
    let cancel = session.grant.cancel.clone();
    // Ctrl-C or SIGTERM: stop starting work, let what is in flight finish, report, exit 130.
    let watcher = tokio::spawn(async move {
        super::signals::stop_requested().await;
        eprintln!(
            "interrupted: finishing what is in flight, then writing the report (a re-run finishes the job)"
        );
        cancel.cancel();
    });
    let result = promote(&session, args.dry_run, false).await;
    watcher.abort();
    match result {
        Ok(report) => {
            emit(&report, &session.settings)?;
            Ok(if session.grant.cancel.is_cancelled() {
                exit::INTERRUPTED
            } else if report.failed() > 0 {
                exit::FAILED
            } else {
                exit::OK
            })
        }
        Err(e @ (PlanError::Conflicts(_) | PlanError::Unresolved(_))) => {
            eprintln!("error: {e}");
            eprintln!("nothing was written");
            Ok(exit::FAILED)
        }
        Err(e) => Err(anyhow::anyhow!("{e}\nnothing was written")),
    }
}

pub async fn plan_cmd(args: PlanArgs) -> anyhow::Result<u8> {
    let run = async {
        let session = Session::open(args.run.settings()?).await?;
        let report = promote(&session, true, true).await?;
        emit(&report, &session.settings)?;
        Ok::<_, anyhow::Error>(report.pending() > 0)
    };
    match run.await {
        Ok(pending) if args.detailed_exitcode => Ok(if pending { 2 } else { 0 }),
        Ok(_) => Ok(exit::OK),
        Err(e)
            if matches!(
                e.downcast_ref::<PlanError>(),
                Some(PlanError::Conflicts(_) | PlanError::Unresolved(_))
            ) =>
        {
            eprintln!("error: {e}");
            Ok(exit::FAILED)
        }
        Err(e) if args.detailed_exitcode => {
            eprintln!("error: {e:#}");
            Ok(1)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use crate::promotion::parse_size;

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
