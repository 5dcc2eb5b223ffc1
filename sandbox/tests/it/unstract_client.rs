//! Fidelity: Unstract's own clone tool (`python -m unstract.clone clone`, PyPI
//! unstract-client 1.7.1) runs against the sandbox, from a demo org into an empty one, and
//! cannot tell it from the real Platform API: it completes, clones what it should, skips
//! what it should (trial adapter, OAuth connector, and their dependents), never writes to the
//! source, and a re-run changes nothing.
//!
//! The tool is installed once into `target/reference-venv` (PyPI is reachable here; see
//! `support/reference.rs`); set `FERRY_REFERENCE_PYTHON` to use another interpreter that has it.

use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{reference, repo_root};

fn reference_python() -> PathBuf {
    reference::reference_python(&repo_root()).unwrap_or_else(|e| panic!("{e}"))
}

fn clone(python: &PathBuf, sandbox: &Sandbox) -> (i32, String, String) {
    let out = Command::new(python)
        .args(["-m", "unstract.clone", "clone", "--clone-group-members"])
        .args([
            "--source-url",
            sandbox.url(),
            "--source-org",
            "dev",
            "--target-url",
            sandbox.url(),
            "--target-org",
            "prod",
        ])
        .env("UNSTRACT_SRC_PLATFORM_KEY", sandbox.keys("dev").read)
        .env("UNSTRACT_TGT_PLATFORM_KEY", sandbox.keys("prod").read_write)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn names(dump: &Value, kind: &str) -> Vec<String> {
    dump[kind].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstract_clone_tool_runs_against_the_sandbox() {
    let python = tokio::task::spawn_blocking(reference_python).await.unwrap();
    let sandbox = Sandbox::start(Config::local(vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::new("prod"),
    ]))
    .await
    .unwrap();
    let source_before = sandbox.dump("dev");

    let (code, out, err) = {
        let (p, s) = (python.clone(), &sandbox);
        tokio::task::block_in_place(|| clone(&p, s))
    };
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Completed successfully"), "{out}");

    let prod = sandbox.dump("prod");
    assert_eq!(names(&prod, "group"), ["group:Ops", "group:Reviewers"]);
    assert_eq!(
        prod["group"]["group:Reviewers"]["members"],
        serde_json::json!(["user:alice@acme.example", "user:bob@acme.example"])
    );
    assert_eq!(names(&prod, "adapter").len(), 5);
    assert_eq!(
        names(&prod, "connector"),
        ["connector:postgres-dev-out", "connector:s3-dev-inbox"],
        "the OAuth connector is skipped"
    );
    assert_eq!(names(&prod, "tag").len(), 4);
    assert_eq!(
        names(&prod, "custom_tool"),
        [
            "custom_tool:Invoice Extractor",
            "custom_tool:Receipt Parser"
        ],
        "the trial-adapter project is skipped"
    );
    assert_eq!(
        names(&prod, "workflow"),
        ["workflow:invoice-etl", "workflow:receipts-api"]
    );
    assert_eq!(
        names(&prod, "pipeline"),
        ["pipeline:invoice-hourly", "pipeline:invoice-nightly"]
    );
    assert_eq!(
        prod["pipeline"]["pipeline:invoice-hourly"]["active"], false,
        "the inactive pipeline stays inactive"
    );
    assert_eq!(names(&prod, "api_deployment"), ["api_deployment:receipts"]);
    assert_eq!(
        prod["workflow_endpoint"]["workflow_endpoint:workflow:invoice-etl/SOURCE"]["connector_instance_id"],
        "connector:s3-dev-inbox"
    );
    assert_eq!(
        prod["adapter"]["adapter:openai-dev/LLM"]["shared_groups"],
        serde_json::json!(["group:Reviewers"])
    );
    // Files arrive byte for byte; the default document is set.
    let source = sandbox.dump("dev");
    for doc in ["invoice-001.pdf", "invoice-002.pdf", "vendors.csv"] {
        let label = format!("document:custom_tool:Invoice Extractor/{doc}");
        assert_eq!(
            prod["document"][&label]["file"], source["document"][&label]["file"],
            "{doc}"
        );
    }
    assert_eq!(
        prod["custom_tool"]["custom_tool:Invoice Extractor"]["output"],
        "document:custom_tool:Invoice Extractor/invoice-001.pdf"
    );

    // The target now equals the source, apart from what the tool documents it skips: the
    // OAuth connector, the trial-adapter project, and what depends on them.
    let skipped = [
        "connector:gdrive-dev",
        "custom_tool:Contract Review",
        "workflow:contract-api",
        "workflow:gdrive-sync",
        "pipeline:gdrive-task",
        "api_deployment:contract_review",
    ];
    let mut expected = source.clone();
    for rows in expected.as_object_mut().unwrap().values_mut() {
        let rows = rows.as_object_mut().unwrap();
        rows.retain(|label, row| {
            !skipped.iter().any(|s| {
                label == s
                    || label.contains(&format!(":{s}/"))
                    || row.to_string().contains(&format!("\"{s}\""))
            })
        });
    }
    let diff: Vec<String> = expected
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(kind, rows)| {
            let got = &prod[kind];
            let mut d = Vec::new();
            for (label, row) in rows.as_object().unwrap() {
                if got.get(label) != Some(row) {
                    d.push(format!(
                        "{label}:\n  source {row}\n  target {}",
                        got.get(label)
                            .map(|v| v.to_string())
                            .unwrap_or("missing".into())
                    ));
                }
            }
            for label in got.as_object().unwrap().keys() {
                if rows.get(label).is_none() {
                    d.push(format!("{label}: only on the target"));
                }
            }
            d
        })
        .collect();
    assert!(
        diff.is_empty(),
        "the target differs from the source:\n{}",
        diff.join("\n")
    );

    // The source was only read.
    assert!(
        sandbox.writes_to("dev").is_empty(),
        "{:?}",
        sandbox.writes_to("dev")
    );
    assert_eq!(sandbox.dump("dev"), source_before);

    // A re-run adopts everything and changes nothing.
    let (code, out, err) = {
        let (p, s) = (python.clone(), &sandbox);
        tokio::task::block_in_place(|| clone(&p, s))
    };
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(sandbox.dump("prod"), prod);
}
