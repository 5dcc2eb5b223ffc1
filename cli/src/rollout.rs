//! `ferry rollout --config FILE`: one promotion to the file's `[[targets]]`, in the waves of
//! its `[rollout]` table, within its failure budget. The source is read once, into a package
//! (or `--from-package` names one), and each target is a restore from it: one plan per
//! target, all of them from the same snapshot.

use super::args::{Output, RunArgs};
use super::exit;
use clap::Args;
use ferry::EnvToml;
use ferry::promotion::Loaded;
use ferry::rollout::{Counts, RolloutReport, Status, TargetReport};
use ferry::session::{Session, Sides};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args, Debug)]
pub(crate) struct RolloutArgs {
    /// The source flags, selection and options of `ferry clone`; --config names the file
    /// with [[targets]] and [rollout]. No --target-* flag: the file names the targets.
    #[command(flatten)]
    pub run: RunArgs,
    /// An earlier run's report (--report): the targets it says succeeded are left alone, the
    /// rest run again.
    #[arg(long, value_name = "REPORT")]
    pub resume: Option<PathBuf>,
    /// Write each target's own report to DIR/NAME.json.
    #[arg(long, value_name = "DIR")]
    pub reports_dir: Option<PathBuf>,
}

/// The folder of the package the source was exported to for this run, removed when the run
/// ends.
struct Snapshot(PathBuf);

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new folder only this user may enter.
fn private_dir(path: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
        .map_err(|e| anyhow::anyhow!("cannot make {}: {e}", path.display()))
}

pub(crate) async fn run(args: RolloutArgs) -> anyhow::Result<u8> {
    let Some(path) = args.run.config.clone() else {
        anyhow::bail!("ferry rollout needs --config FILE, a promotion file with [[targets]]");
    };
    let e = &args.run.endpoints;
    // Every target flag: one target's key given here would be sent to every target.
    if e.target_url.is_some()
        || !e.target_param.is_empty()
        || e.target_org.is_some()
        || e.target_key.is_some()
        || e.target_user.is_some()
        || e.target_password_file.is_some()
    {
        anyhow::bail!(
            "the rollout's targets, and their credentials, are the file's [[targets]]: leave out --target-*"
        );
    }
    if args.run.prune {
        anyhow::bail!("--prune is not taken by a rollout yet: prune each target with ferry clone");
    }
    let loaded = Loaded::read(&path)?;
    let targets = loaded.file.targets.clone();
    let names = target_names(&loaded.name, &targets)?;
    let spec = loaded.file.rollout.clone().unwrap_or_default();
    if spec.approve_between_waves {
        anyhow::bail!(
            "{}: approve_between_waves needs a job server (ferry serve); here, pause_between_waves waits",
            loaded.name
        );
    }
    spec.check(names.len())
        .map_err(|e| anyhow::anyhow!("{}: [rollout] {e}", loaded.name))?;
    let earlier = match &args.resume {
        Some(r) => earlier(r)?,
        None => BTreeSet::new(),
    };
    let json = args.run.output == Output::Json;
    let say = |line: String| {
        if !json {
            eprintln!("{line}");
        }
    };

    // Ctrl-C or SIGTERM from here on: no more targets start, the running ones are cancelled.
    let cancel = ferry::rollout::CancellationToken::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            super::signals::stop_requested().await;
            eprintln!(
                "interrupted: starting no more targets; those running stop after their current step"
            );
            cancel.cancel();
        })
    };

    // The source, once, into a folder only this user reads (the package holds no secret,
    // but it is the org's configuration).
    let (package, _snapshot) = match &args.run.from_package {
        Some(p) => (args.run.open_package(p)?, None),
        None => {
            let folder = std::env::temp_dir().join(format!(
                "ferry-rollout-{}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            private_dir(&folder)?;
            let snapshot = Snapshot(folder.clone());
            let file = folder.join("source.ferrypkg");
            say(format!("reading the source once, into {}", file.display()));
            tokio::select! {
                done = export(&args, &loaded, &file) => done?,
                _ = cancel.cancelled() => {
                    return Ok(exit::INTERRUPTED);
                }
            }
            (args.run.open_package(&file)?, Some(snapshot))
        }
    };

    let source = loaded.file.source.clone();
    let run_one = |i: usize| {
        let (args, loaded, package, cancel) = (&args, &loaded, package.clone(), cancel.clone());
        let (source, target, name) = (source.clone(), targets[i].clone(), names[i].clone());
        async move {
            let file = loaded
                .again()
                .map_err(|e| e.to_string())?
                .between(source, target);
            let settings = args
                .run
                .overrides()
                .settings(
                    Some(file),
                    Sides::FromPackage(package),
                    args.run.plugins.discovery(),
                )
                .map_err(|e| crate::errors::text(&anyhow::Error::new(e)))?;
            let session = Session::open(settings)
                .await
                .map_err(|e| crate::errors::text(&anyhow::Error::new(e)))?;
            // The rollout's cancel reaches the session (a wait for the lease too).
            let stop = session.cancel_token();
            let relay = tokio::spawn(async move {
                cancel.cancelled().await;
                stop.cancel();
            });
            let result = crate::clone::promote(&session, Output::Json, false, true).await;
            relay.abort();
            session.close().await;
            let report = result.map_err(|e| crate::errors::text(&anyhow::Error::new(e)))?;
            if let Some(dir) = &args.reports_dir {
                write_report(dir, &name, &report).map_err(|e| e.to_string())?;
            }
            Ok(counts(&report))
        }
    };
    let on_done = |t: &TargetReport| say(line(t));
    let report = ferry::rollout::run(&names, &spec, &earlier, &cancel, run_one, &on_done)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", loaded.name))?;
    watcher.abort();

    if let Some(p) = &args.run.report {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)
            .map_err(|e| anyhow::anyhow!("writing the report to {}: {e}", p.display()))?;
    }
    match args.run.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => print!("{}", table(&report)),
    }
    Ok(if cancel.is_cancelled() {
        exit::INTERRUPTED
    } else if report.complete() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Each target's name: required, and unique, since the report and a resume go by it.
fn target_names(file: &str, targets: &[EnvToml]) -> anyhow::Result<Vec<String>> {
    let mut seen = BTreeSet::new();
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let name = t
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("{file}: [[targets]] number {}: give it a name", i + 1)
                })?;
            if !seen.insert(name.clone()) {
                anyhow::bail!("{file}: two [[targets]] are named {name:?}: a rollout goes by name");
            }
            Ok(name)
        })
        .collect()
}

/// The targets an earlier report says succeeded.
fn earlier(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--resume {}: {e}", path.display()))?;
    let r: RolloutReport = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "--resume {}: not a rollout's report (--report): {e}",
            path.display()
        )
    })?;
    Ok(r.succeeded())
}

/// Export the file's source to `out`.
async fn export(args: &RolloutArgs, loaded: &Loaded, out: &Path) -> anyhow::Result<()> {
    let file = loaded
        .again()?
        .between(loaded.file.source.clone(), EnvToml::default());
    let settings =
        args.run
            .overrides()
            .settings(Some(file), Sides::Export, args.run.plugins.discovery())?;
    let session = Session::open(settings).await?;
    let done = session.export(out, None, Arc::new(ferry::NoProgress)).await;
    session.close().await;
    done.map_err(|e| anyhow::anyhow!("reading the source: {e}\nnothing was written"))?;
    Ok(())
}

fn write_report(dir: &Path, name: &str, report: &ferry::Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    // A name is the user's: keep it to a safe file name.
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::fs::write(
        dir.join(format!("{file}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    Ok(())
}

fn counts(r: &ferry::Report) -> Counts {
    let sum = |f: fn(&ferry::engine::report::KindStats) -> usize| r.kinds.values().map(f).sum();
    Counts {
        created: sum(|k| k.created),
        updated: sum(|k| k.updated),
        adopted: sum(|k| k.adopted),
        failed: r.failed(),
    }
}

fn line(t: &TargetReport) -> String {
    let what = match (&t.status, &t.counts) {
        (Status::Succeeded, Some(c)) => format!(
            "succeeded: {} created, {} updated, {} adopted",
            c.created, c.updated, c.adopted
        ),
        (Status::Succeeded, None) => "succeeded earlier: left alone".into(),
        (Status::Failed, _) => format!("FAILED: {}", t.reason.as_deref().unwrap_or("")),
        (Status::NotStarted, _) => {
            format!("not started: {}", t.reason.as_deref().unwrap_or(""))
        }
    };
    format!("wave {} {}: {what}", t.wave, t.name)
}

fn table(r: &RolloutReport) -> String {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "wave", "target", "status", "created", "updated", "adopted", "why",
    ]);
    for x in &r.targets {
        let c = x.counts.clone().unwrap_or_default();
        let status = match x.status {
            Status::Succeeded if x.earlier => "succeeded (earlier)",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::NotStarted => "not started",
        };
        t.add_row([
            x.wave.to_string(),
            x.name.clone(),
            status.to_string(),
            c.created.to_string(),
            c.updated.to_string(),
            c.adopted.to_string(),
            x.reason.clone().unwrap_or_default(),
        ]);
    }
    let mut out = format!("{t}\n");
    out += &format!(
        "{} succeeded, {} failed, {} not started, in {} wave(s); failures allowed: {}\n",
        r.counts.succeeded, r.counts.failed, r.counts.not_started, r.waves, r.budget
    );
    if let Some(why) = &r.stopped {
        out += &format!("stopped: {why}\n");
    }
    out
}
