//! `ferry diff`: how what the source would write differs, field by field, from what the
//! target holds (see `ferry::engine::drift`), for a CI job to gate on: exit 0 when nothing
//! differs, 2 when something does (a field, or a resource the target lacks), 1 on error.

use super::args::{Output, RunArgs};
use clap::Args;
use ferry::engine::report::Report;
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

/// The differences of a plan's report, as `ferry diff --output json` prints them.
pub(crate) fn differences(report: &Report) -> Value {
    let mut differ = vec![];
    let (mut equal, mut missing, mut not_compared) = (0, vec![], vec![]);
    for i in &report.items {
        match (i.action.as_str(), &i.differences) {
            ("create", _) => missing.push(json!({"kind": i.kind, "key": i.key})),
            ("adopt" | "update", Some(d)) if d.is_empty() => equal += 1,
            ("adopt" | "update", Some(d)) => differ.push(json!({
                "kind": i.kind, "key": i.key, "target_id": i.target_id, "fields": d,
            })),
            ("adopt" | "update", None) => not_compared.push(json!({"kind": i.kind, "key": i.key})),
            _ => {}
        }
    }
    json!({
        "source": report.source,
        "target": report.target,
        "equal": equal,
        "different": differ,
        "missing": missing,
        "not_compared": not_compared,
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
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    let d = differences(&report);
    let differs = !d["different"].as_array().unwrap().is_empty()
        || !d["missing"].as_array().unwrap().is_empty();
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&d)?),
        Output::Table => {
            println!("{} → {}", report.source, report.target);
            for r in d["different"].as_array().unwrap() {
                let fields: Vec<ferry::engine::drift::FieldDiff> =
                    serde_json::from_value(r["fields"].clone()).unwrap_or_default();
                print!(
                    "{}",
                    ferry::engine::drift::render(
                        r["kind"].as_str().unwrap_or(""),
                        r["key"].as_str().unwrap_or(""),
                        &fields
                    )
                );
            }
            for m in d["missing"].as_array().unwrap() {
                println!(
                    "  {} {:?}: not on the target",
                    m["kind"].as_str().unwrap_or(""),
                    m["key"].as_str().unwrap_or("")
                );
            }
            println!(
                "{} equal, {} different, {} missing on the target, {} not compared (their kind's listing does not show all they hold)",
                d["equal"],
                d["different"].as_array().unwrap().len(),
                d["missing"].as_array().unwrap().len(),
                d["not_compared"].as_array().unwrap().len()
            );
        }
    }
    Ok(if differs { 2 } else { 0 })
}
