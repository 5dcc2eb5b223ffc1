//! `ferry diff`: how what the source would write differs, field by field, from what the
//! target holds (see `ferry::engine::drift`), for a CI job to gate on: exit 0 when nothing
//! differs, 2 when something does (a field, or a resource the target lacks), 1 on error.

use super::args::{Output, RunArgs};
use clap::Args;
use ferry::engine::report::{DiffSummary, ItemReport, Report};
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

/// The differences of a plan's report, as `ferry diff --output json` prints them.
pub(crate) fn differences(report: &Report, d: &DiffSummary) -> Value {
    let named = |items: &[&ItemReport]| -> Vec<Value> {
        items
            .iter()
            .map(|i| json!({"kind": i.kind, "key": i.key}))
            .collect()
    };
    let different: Vec<Value> = d
        .different
        .iter()
        .map(|i| {
            json!({
                "kind": i.kind, "key": i.key, "target_id": i.target_id,
                "fields": i.differences.as_deref().unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "source": report.source,
        "target": report.target,
        "equal": d.equal,
        "different": different,
        "missing": named(&d.missing),
        "not_compared": named(&d.not_compared),
    })
}

pub(crate) async fn run(args: DiffArgs) -> anyhow::Result<u8> {
    let outcome = async {
        let (session, run) = super::clone::open_run(args.run.settings()?).await?;
        let report = super::clone::promote(&session, run.output, true, true).await;
        session.close().await;
        Ok::<_, anyhow::Error>((report?, run.output))
    };
    let (report, output) = match outcome.await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", crate::errors::text(&e));
            return Ok(1);
        }
    };
    let d = report.diff_summary();
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&differences(&report, &d))?
        ),
        Output::Table => {
            println!("{} → {}", report.source, report.target);
            for i in &d.different {
                print!(
                    "{}",
                    ferry::engine::drift::render(
                        &i.kind,
                        &i.key,
                        i.differences.as_deref().unwrap_or_default()
                    )
                );
            }
            for m in &d.missing {
                println!("  {} {:?}: not on the target", m.kind, m.key);
            }
            println!(
                "{} equal, {} different, {} missing on the target, {} not compared (their kind's listing does not show all they hold)",
                d.equal,
                d.different.len(),
                d.missing.len(),
                d.not_compared.len()
            );
        }
    }
    Ok(if d.differs() { 2 } else { 0 })
}
