//! `ferry diff` and `ferry clone --prune` on Unstract, end to end against the sandbox: no
//! difference right after a clone (rewritten references included), a changed field shows
//! alone, drift made by hand on the target shows; a resource removed from the source is
//! deleted with `--prune` and not without, what was made by hand is never deleted, each
//! guard refuses with nothing written, a still-referenced resource is kept and the plan says
//! by which, and a prune killed midway is finished by a re-run.

use crate::support;
use crate::support::{expect, json_of};
use ferry_sandbox::unstract::{Sandbox, Seed};
use serde_json::{Value, json};
use std::process::Output;

/// `ferry SUB` from dev to prod, with a full-access key on prod: deletes need one.
fn run(sub: &str, sandbox: &Sandbox, extra: &[&str]) -> Output {
    support::output(command(sub, sandbox).args(extra))
}

fn command(sub: &str, sandbox: &Sandbox) -> std::process::Command {
    let mut c = support::ferry_between(sub, sandbox, "dev", "prod");
    c.env(
        "UNSTRACT_TGT_PLATFORM_KEY",
        sandbox.keys("prod").full_access,
    );
    c
}

/// Send a request to an org's Platform API with its full-access key.
async fn call(
    sandbox: &Sandbox,
    org: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut r = reqwest::Client::new()
        .request(method, format!("{}{path}", sandbox.org_url(org)))
        .bearer_auth(sandbox.keys(org).full_access);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

async fn id_of(sandbox: &Sandbox, org: &str, path: &str, field: &str, name: &str) -> String {
    let rows = call(sandbox, org, reqwest::Method::GET, path, None).await;
    let rows = rows
        .get("results")
        .unwrap_or(&rows)
        .as_array()
        .unwrap()
        .clone();
    let row = rows
        .iter()
        .find(|r| r[field] == name)
        .unwrap_or_else(|| panic!("no {name:?} in {path}"));
    match &row["id"] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn tags(sandbox: &Sandbox, org: &str) -> Vec<String> {
    sandbox.dump(org)["tag"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_what_differs_field_by_field_and_nothing_else() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    // Before a clone: everything is missing on the target.
    let out = run("diff", &sandbox, &["--output", "json"]);
    expect(&out, 2);
    assert!(!json_of(&out)["missing"].as_array().unwrap().is_empty());

    expect(&run("clone", &sandbox, &[]), 0);
    let writes = sandbox.writes_to("prod").len();
    // Right after a clone nothing differs: server-managed fields, ids remapped by
    // references (pipelines name workflows, deployments too) and timestamps are not
    // differences.
    let out = run("diff", &sandbox, &["--output", "json"]);
    expect(&out, 0);
    let d = json_of(&out);
    assert_eq!(d["different"], json!([]), "{d:#}");
    assert!(d["equal"].as_u64().unwrap() > 20, "{d:#}");
    let compared: Vec<&str> = d["not_compared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(
        compared.is_empty(),
        "every Unstract kind is compared: {compared:?}"
    );
    assert_eq!(
        sandbox.writes_to("prod").len(),
        writes,
        "diff writes nothing"
    );

    // A field changed on the source shows as that field alone.
    let tag = id_of(&sandbox, "dev", "tags/", "name", "invoices").await;
    call(
        &sandbox,
        "dev",
        reqwest::Method::PATCH,
        &format!("tags/{tag}/"),
        Some(json!({"description": "AP invoices"})),
    )
    .await;
    // Drift: a field changed by hand on the target shows too.
    let adapter = id_of(&sandbox, "prod", "adapter/", "adapter_name", "openai-dev").await;
    call(
        &sandbox,
        "prod",
        reqwest::Method::PATCH,
        &format!("adapter/{adapter}/"),
        Some(json!({"description": "edited in prod"})),
    )
    .await;
    let out = run("diff", &sandbox, &["--output", "json"]);
    expect(&out, 2);
    let d = json_of(&out);
    let different: Vec<(String, String, Vec<String>)> = d["different"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["key"].as_str().unwrap().to_string(),
                r["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["pointer"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        different,
        [
            (
                "adapter".to_string(),
                "openai-dev / LLM".to_string(),
                vec!["/description".to_string()]
            ),
            (
                "tag".to_string(),
                "invoices".to_string(),
                vec!["/description".to_string()]
            ),
        ],
        "{d:#}"
    );
    // Secret fields show masked, never their values.
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("sk-"),
        "no secret in a diff"
    );
    // The table says the same for people.
    let out = run("diff", &sandbox, &[]);
    expect(&out, 2);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tag \"invoices\" /description: \"Vendor invoices\" → \"AP invoices\""),
        "{text}"
    );

    // The plan shows the same differences for what `update` will write; the update then
    // writes only the resources that differ.
    let out = run(
        "plan",
        &sandbox,
        &["--on-name-conflict", "update", "--output", "json"],
    );
    expect(&out, 0);
    let report = json_of(&out);
    let updates: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "update")
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(updates, ["openai-dev / LLM", "invoices"], "{report:#}");
    let writes = sandbox.writes_to("prod").len();
    expect(
        &run("clone", &sandbox, &["--on-name-conflict", "update"]),
        0,
    );
    let written: Vec<String> = sandbox.writes_to("prod")[writes..]
        .iter()
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(
        written.len(),
        2,
        "one write per differing resource: {written:?}"
    );
    let out = run("diff", &sandbox, &["--output", "json"]);
    expect(&out, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_what_ferry_manages_and_the_source_lost() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    expect(&run("clone", &sandbox, &[]), 0);
    // Made by hand on the target: never managed, never deleted.
    call(
        &sandbox,
        "prod",
        reqwest::Method::POST,
        "tags/",
        Some(json!({"name": "made in prod"})),
    )
    .await;
    let finance = id_of(&sandbox, "dev", "tags/", "name", "finance").await;
    call(
        &sandbox,
        "dev",
        reqwest::Method::DELETE,
        &format!("tags/{finance}/"),
        None,
    )
    .await;

    // Without --prune nothing is deleted; the plan says what --prune would do.
    let out = run("clone", &sandbox, &["--include", "tag", "--output", "json"]);
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(
        report["deletes"],
        json!([{"kind": "tag", "key": "finance", "target_id": report["deletes"][0]["target_id"], "outcome": "pending", "reason": "a run that prunes deletes it"}])
    );
    assert!(tags(&sandbox, "prod").contains(&"tag:finance".to_string()));

    // plan --prune lists it, and --detailed-exitcode says deletes are pending.
    let writes = sandbox.writes_to("prod").len();
    let out = run(
        "plan",
        &sandbox,
        &["--include", "tag", "--prune", "--detailed-exitcode"],
    );
    expect(&out, 3);
    assert!(String::from_utf8_lossy(&out.stdout).contains("delete tag \"finance\""));
    assert_eq!(sandbox.writes_to("prod").len(), writes);

    let out = run(
        "clone",
        &sandbox,
        &["--include", "tag", "--prune", "--output", "json"],
    );
    expect(&out, 0);
    assert_eq!(json_of(&out)["deletes"][0]["outcome"], "deleted");
    let left = tags(&sandbox, "prod");
    assert!(!left.contains(&"tag:finance".to_string()), "{left:?}");
    assert!(left.contains(&"tag:made in prod".to_string()), "{left:?}");
    // Converged: a second prune has nothing to do.
    let out = run(
        "plan",
        &sandbox,
        &["--include", "tag", "--prune", "--detailed-exitcode"],
    );
    expect(&out, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_guard_refuses_the_whole_run_and_writes_nothing() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    expect(&run("clone", &sandbox, &[]), 0);
    for name in ["finance", "invoices"] {
        let id = id_of(&sandbox, "dev", "tags/", "name", name).await;
        call(
            &sandbox,
            "dev",
            reqwest::Method::DELETE,
            &format!("tags/{id}/"),
            None,
        )
        .await;
    }
    // A new tag on the source: a refused run creates it no more than it deletes.
    call(
        &sandbox,
        "dev",
        reqwest::Method::POST,
        "tags/",
        Some(json!({"name": "new on dev"})),
    )
    .await;
    let writes = sandbox.writes_to("prod").len();
    let refused = |extra: &[&str], says: &str| {
        let mut args = vec!["--include", "tag", "--prune"];
        args.extend_from_slice(extra);
        let out = run("clone", &sandbox, &args);
        expect(&out, 1);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(
            sandbox.writes_to("prod").len(),
            writes,
            "refused, yet written: {err}"
        );
    };
    // Two of the four tags ferry manages: over 30 %.
    refused(&[], "more than 30 %");
    refused(
        &["--max-deletes", "1", "--allow-delete", "3"],
        "--allow-delete 3 does not match the 2 deletes",
    );
    refused(&["--max-deletes", "1"], "more than --max-deletes 1");
    // --allow-delete with the planned count passes.
    let out = run(
        "clone",
        &sandbox,
        &[
            "--include",
            "tag",
            "--prune",
            "--allow-delete",
            "2",
            "--output",
            "json",
        ],
    );
    expect(&out, 0);
    let report = json_of(&out);
    let deleted: Vec<&str> = report["deletes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, ["deleted", "deleted"]);
    assert_eq!(
        tags(&sandbox, "prod"),
        ["tag:contracts", "tag:new on dev", "tag:q3 review"]
    );

    // Emptying a kind needs --allow-empty, whatever --allow-delete says.
    for name in ["contracts", "q3 review", "new on dev"] {
        let id = id_of(&sandbox, "dev", "tags/", "name", name).await;
        call(
            &sandbox,
            "dev",
            reqwest::Method::DELETE,
            &format!("tags/{id}/"),
            None,
        )
        .await;
    }
    let writes = sandbox.writes_to("prod").len();
    let out = run(
        "clone",
        &sandbox,
        &["--include", "tag", "--prune", "--allow-delete", "3"],
    );
    expect(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-empty"));
    assert_eq!(sandbox.writes_to("prod").len(), writes);
    let out = run(
        "clone",
        &sandbox,
        &[
            "--include",
            "tag",
            "--prune",
            "--allow-delete",
            "3",
            "--allow-empty",
        ],
    );
    expect(&out, 0);
    assert!(tags(&sandbox, "prod").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_still_referenced_is_kept_and_the_plan_says_by_which() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    expect(&run("clone", &sandbox, &[]), 0);
    // The source loses a workflow that a pipeline (left on the target) still runs.
    let wf = id_of(&sandbox, "dev", "workflow/", "workflow_name", "invoice-etl").await;
    call(
        &sandbox,
        "dev",
        reqwest::Method::DELETE,
        &format!("workflow/{wf}/"),
        None,
    )
    .await;
    // Its tool instance and endpoints, which the source no longer lists either, go; the
    // workflow stays while the pipeline runs it.
    let out = run(
        "plan",
        &sandbox,
        &["--prune", "--allow-delete", "3", "--output", "json"],
    );
    expect(&out, 0);
    let report = json_of(&out);
    let outcomes: Vec<(&str, &str)> = report["deletes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("tool_instance", "delete"),
            ("workflow", "kept"),
            ("workflow_endpoint", "delete"),
            ("workflow_endpoint", "delete")
        ],
        "{report:#}"
    );
    let wf = report["deletes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "workflow")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(wf["outcome"], "kept", "{wf:#}");
    assert!(
        wf["reason"]
            .as_str()
            .unwrap()
            .contains("still referenced by pipeline"),
        "{wf:#}"
    );
    let writes = sandbox.writes_to("prod").len();
    let out = run("clone", &sandbox, &["--prune", "--allow-delete", "3"]);
    expect(&out, 0);
    let deletes: Vec<String> = sandbox.writes_to("prod")[writes..]
        .iter()
        .filter(|w| w.method == "DELETE")
        .map(|w| w.path.split('/').next().unwrap().to_string())
        .collect();
    // What references comes first: the endpoints and the tool instance before... nothing
    // else here, as the workflow is kept.
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert!(
        sandbox.dump("prod")["workflow"]
            .as_object()
            .unwrap()
            .contains_key("workflow:invoice-etl")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_killed_midway_is_finished_by_a_rerun() {
    let sandbox = support::dev_and_prod(Seed::Scale(200)).await;
    expect(&run("clone", &sandbox, &["--include", "tag"]), 0);
    // Enough tags that three deletes pass the guards unaided.
    let all = tags(&sandbox, "dev");
    assert!(all.len() >= 10, "{all:?}");
    // Three tags leave the source.
    let gone: Vec<String> = all[..3]
        .iter()
        .map(|l| l.trim_start_matches("tag:").to_string())
        .collect();
    for name in &gone {
        let id = id_of(&sandbox, "dev", "tags/", "name", name).await;
        call(
            &sandbox,
            "dev",
            reqwest::Method::DELETE,
            &format!("tags/{id}/"),
            None,
        )
        .await;
    }
    // Slow deletes, so that the run can be killed between two of them.
    sandbox
        .set_faults(
            "prod",
            ferry_sandbox::kit::faults::Faults {
                latency_ms: 400,
                ..Default::default()
            },
        )
        .unwrap();
    let mut child = command("clone", &sandbox)
        .args(["--include", "tag", "--prune"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deletes = || {
        sandbox
            .writes_to("prod")
            .iter()
            .filter(|w| w.method == "DELETE")
            .count()
    };
    let waited = std::time::Instant::now();
    while deletes() < 1 && waited.elapsed() < std::time::Duration::from_secs(60) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    let left = deletes();
    assert!((1..3).contains(&left), "killed after {left} deletes");
    sandbox.set_faults("prod", Default::default()).unwrap();
    let out = run(
        "clone",
        &sandbox,
        &["--include", "tag", "--prune", "--output", "json"],
    );
    expect(&out, 0);
    let prod = tags(&sandbox, "prod");
    for name in &gone {
        assert!(
            !prod.contains(&format!("tag:{name}")),
            "{name} still on the target"
        );
    }
    assert_eq!(prod.len(), all.len() - 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_record_whose_id_a_live_resource_now_has_is_kept() {
    let sandbox = support::dev_and_prod(Seed::Scale(200)).await;
    expect(&run("clone", &sandbox, &["--include", "tag"]), 0);
    // The records as a target rebuilt with reused ids leaves them: a tag long gone, under
    // the id that a tag the source still has holds now.
    let file = std::fs::read_dir(support::state_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".managed.json"))
        .expect("the target's managed records");
    let mut records: Vec<Value> = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let live = records.iter().find(|r| r["kind"] == "tag").unwrap().clone();
    let mut stale = live.clone();
    stale["key"] = json!("a tag long gone");
    stale["fields"]["/name"] = json!("a tag long gone");
    records.push(stale);
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();

    let writes = sandbox.writes_to("prod").len();
    let out = run(
        "clone",
        &sandbox,
        &["--include", "tag", "--prune", "--output", "json"],
    );
    expect(&out, 0);
    assert_eq!(
        sandbox.writes_to("prod").len(),
        writes,
        "nothing is deleted"
    );
    let report = json_of(&out);
    assert_eq!(report["deletes"][0]["outcome"], "kept", "{report:#}");
    let why = report["deletes"][0]["reason"].as_str().unwrap();
    assert!(
        why.contains("stale") && why.contains(live["key"].as_str().unwrap()),
        "{why}"
    );
    assert!(tags(&sandbox, "prod").contains(&format!("tag:{}", live["key"].as_str().unwrap())));
}
