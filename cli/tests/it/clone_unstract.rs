//! `ferry clone` and `ferry plan` end to end against the sandbox platform, as a user runs
//! them: the demo org into an empty one (the target then equals the source apart from the
//! documented skips), convergence, selection with its closure, conflict policies, a larger
//! org with paging and files over the size cap, bad input with nothing written, and no secret
//! in the report.

use crate::support;
use crate::support::{expect, json_of as json_report};
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use serde_json::{Value, json};
use std::process::Output;

fn ferry(sandbox: &Sandbox, source: &str, target: &str, extra: &[&str]) -> Output {
    support::output(support::ferry_between("clone", sandbox, source, target).args(extra))
}

fn plan(sandbox: &Sandbox, source: &str, target: &str, extra: &[&str]) -> Output {
    support::output(support::ferry_between("plan", sandbox, source, target).args(extra))
}

/// The source's dump without what cannot be cloned from the demo seed.
fn expected_target(source: &Value) -> Value {
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
        rows.as_object_mut().unwrap().retain(|label, row| {
            !skipped.iter().any(|s| {
                label == s
                    || label.contains(&format!(":{s}/"))
                    || row.to_string().contains(&format!("\"{s}\""))
            })
        });
    }
    expected
}

fn diff(expected: &Value, got: &Value) -> Vec<String> {
    let mut d = Vec::new();
    for (kind, rows) in expected.as_object().unwrap() {
        for (label, row) in rows.as_object().unwrap() {
            if got[kind].get(label) != Some(row) {
                d.push(format!(
                    "{label}:\n  source {row}\n  target {}",
                    got[kind]
                        .get(label)
                        .map(|v| v.to_string())
                        .unwrap_or("missing".into())
                ));
            }
        }
        for label in got[kind].as_object().unwrap().keys() {
            if rows.get(label).is_none() {
                d.push(format!("{label}: only on the target"));
            }
        }
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_org_clones_fully_and_a_rerun_converges() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let source = sandbox.dump("dev");

    // The plan says what would change, and writes nothing.
    let p = plan(&sandbox, "dev", "prod", &["--detailed-exitcode"]);
    expect(&p, 2);
    assert!(String::from_utf8_lossy(&p.stdout).contains("plan: nothing written"));
    assert!(sandbox.writes_to("prod").is_empty());

    let out = ferry(
        &sandbox,
        "dev",
        "prod",
        &["--clone-group-members", "--output", "json"],
    );
    expect(&out, 0);
    let report = json_report(&out);
    assert_eq!(report["kinds"]["adapter"]["created"], 5);
    assert_eq!(report["kinds"]["connector"]["skipped"], 1);
    assert_eq!(report["files"]["moved"], 3);
    assert_eq!(report["credentials_needed"][0]["key"], "gdrive-dev");
    // Time inside the WASM cloner is counted (every plugin call), and no Rhai ran.
    assert!(
        report["runtime"]["wasm"]["calls"].as_u64().unwrap() > 40,
        "{}",
        report["runtime"]
    );
    assert!(report["runtime"]["wasm"]["ms"].as_f64().unwrap() > 0.0);
    assert_eq!(report["runtime"]["rhai_hooks"]["calls"], 0);
    let skipped: Vec<&Value> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["outcome"] == "skipped")
        .collect();
    assert!(
        skipped
            .iter()
            .all(|i| i["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "every skip has a reason"
    );
    assert!(report["id_map"]["workflow"].as_object().unwrap().len() == 2);

    // The target equals the source, apart from the documented skips.
    assert!(
        !diff(&source, &sandbox.dump("prod")).is_empty(),
        "the comparison sees the skipped resources"
    );
    let d = diff(&expected_target(&source), &sandbox.dump("prod"));
    assert!(
        d.is_empty(),
        "the target differs from the source:\n{}",
        d.join("\n")
    );
    assert!(
        sandbox.writes_to("dev").is_empty(),
        "the source was written"
    );
    assert_eq!(sandbox.dump("dev"), source);
    // No secret anywhere in the report.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("sk-sandbox") && !text.contains("pg-dev-secret") && !text.contains("ya29"),
        "a secret leaked into the report"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("sk-sandbox"),
        "a secret leaked into the logs"
    );

    // A re-run: nothing pending, everything adopted, nothing written.
    let writes_before = sandbox.writes_to("prod").len();
    expect(&plan(&sandbox, "dev", "prod", &["--detailed-exitcode"]), 0);
    let again = json_report(&ferry(&sandbox, "dev", "prod", &["--output", "json"]));
    let created: u64 = again["kinds"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["created"].as_u64().unwrap())
        .sum();
    assert_eq!(created, 0);
    assert_eq!(
        sandbox.writes_to("prod").len(),
        writes_before,
        "a re-run wrote to the target"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_pulls_in_what_it_needs_and_policies_hold() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let out = ferry(
        &sandbox,
        "dev",
        "prod",
        &[
            "--select",
            "pipeline:invoice-nightly",
            "--output",
            "json",
            "--skip-files",
        ],
    );
    expect(&out, 0);
    let report = json_report(&out);
    let items = report["items"].as_array().unwrap();
    let pulled: Vec<String> = items
        .iter()
        .filter(|i| i["pulled_in"].is_string())
        .map(|i| {
            format!(
                "{} {}",
                i["kind"].as_str().unwrap(),
                i["key"].as_str().unwrap()
            )
        })
        .collect();
    for needed in [
        "workflow invoice-etl",
        "custom_tool Invoice Extractor",
        "connector s3-dev-inbox",
        "adapter openai-dev / LLM",
    ] {
        assert!(
            pulled.iter().any(|p| p == needed),
            "{needed} not pulled in: {pulled:?}"
        );
    }
    assert!(
        !items.iter().any(|i| i["kind"] == "tag"),
        "tags are not needed by the pipeline"
    );
    let prod = sandbox.dump("prod");
    assert_eq!(
        prod["pipeline"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["pipeline:invoice-nightly"]
    );
    assert!(prod["tag"].as_object().unwrap().is_empty());

    // abort: a name that exists stops the run before any write.
    let writes = sandbox.writes_to("prod").len();
    let out = ferry(&sandbox, "dev", "prod", &["--on-name-conflict", "abort"]);
    expect(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
    assert_eq!(sandbox.writes_to("prod").len(), writes);

    // update: the target's writable fields follow the source's.
    let http = reqwest::Client::new();
    let tags: Value = http
        .get(format!("{}tags/?name=finance", sandbox.org_url("dev")))
        .bearer_auth(sandbox.keys("dev").read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = tags["results"][0]["id"].as_str().unwrap();
    expect(&ferry(&sandbox, "dev", "prod", &["--include", "tag"]), 0);
    let writes = sandbox.writes_to("prod").len();
    http.patch(format!("{}tags/{id}/", sandbox.org_url("dev")))
        .bearer_auth(sandbox.keys("dev").read_write)
        .json(&json!({"description": "changed on dev"}))
        .send()
        .await
        .unwrap();
    let out = ferry(
        &sandbox,
        "dev",
        "prod",
        &[
            "--include",
            "tag",
            "--on-name-conflict-kind",
            "tag=update",
            "--output",
            "json",
        ],
    );
    expect(&out, 0);
    // Only the tag that differs is written (the three equal ones are adopted as they are),
    // and only its differing field.
    let report = json_report(&out);
    assert_eq!(report["kinds"]["tag"]["updated"], 1, "{report:#}");
    assert_eq!(report["kinds"]["tag"]["adopted"], 3);
    let finance = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "finance")
        .unwrap();
    assert_eq!(
        finance["differences"],
        json!([{"pointer": "/description", "target": "Finance documents", "source": "changed on dev"}]),
        "{finance:#}"
    );
    let written: Vec<String> = sandbox.writes_to("prod")[writes..]
        .iter()
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("PATCH tags/"), "{written:?}");
    assert_eq!(
        sandbox.dump("prod")["tag"]["tag:finance"]["description"],
        "changed on dev"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_larger_org_pages_and_reports_oversize_files() {
    let sandbox = support::dev_and_prod(Seed::Scale(500)).await;
    let out = ferry(
        &sandbox,
        "dev",
        "prod",
        &["--output", "json", "--concurrency", "16"],
    );
    expect(&out, 0);
    let report = json_report(&out);
    let failed: u64 = report["kinds"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["failed"].as_u64().unwrap())
        .sum();
    assert_eq!(failed, 0);
    let source = sandbox.dump("dev");
    let target = sandbox.dump("prod");
    for kind in ["tag", "pipeline", "api_deployment", "workflow", "adapter"] {
        assert_eq!(
            target[kind].as_object().unwrap().len(),
            source[kind].as_object().unwrap().len(),
            "{kind}"
        );
    }
    assert!(source["tag"].as_object().unwrap().len() > 50);
    // The three 26-28 MB documents are over the default 25 MB cap: reported, not fatal.
    assert_eq!(
        report["files"]["too_large"].as_array().unwrap().len(),
        3,
        "{}",
        report["files"]
    );
    assert!(sandbox.writes_to("dev").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_nothing_written() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let out = ferry(&sandbox, "dev", "prod", &["--include", "tags"]);
    expect(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kind \"tags\""));
    let out = ferry(&sandbox, "dev", "prod", &["--max-file-size", "lots"]);
    expect(&out, 2);
    // A wrong key.
    let out = support::output(
        support::ferry_between("clone", &sandbox, "dev", "prod").args([
            "--source-key",
            "wrong",
            "--target-key",
            "wrong-too",
        ]),
    );
    expect(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!err.contains("wrong-too"), "the key was printed");
    // A read key on the target: the plan passes, every write is refused and reported.
    let out = support::output(
        support::ferry_between("clone", &sandbox, "dev", "prod")
            .args(["--include", "tag"])
            .env("UNSTRACT_TGT_PLATFORM_KEY", sandbox.keys("prod").read),
    );
    expect(&out, 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("403"));
    assert!(sandbox.dump("prod")["tag"].as_object().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_files_of_every_base64_padding_arrive_whole() {
    // Sizes of 3n, 3n+1 and 3n+2 bytes: base64 ends in no, two and one `=`, and the upload's
    // Content-Length must come out exact each time.
    let sizes = [(3 << 20) as u64, (3 << 20) + 1, (3 << 20) + 2];
    let mut orgs: Vec<OrgSpec> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| OrgSpec::seeded(&format!("src{i}"), Seed::File(*n)))
        .collect();
    orgs.extend((0..sizes.len()).map(|i| OrgSpec::new(&format!("dst{i}"))));
    let sandbox = Sandbox::start(Config::local(orgs)).await.unwrap();
    for (i, n) in sizes.iter().enumerate() {
        let out = ferry(
            &sandbox,
            &format!("src{i}"),
            &format!("dst{i}"),
            &["--output", "json"],
        );
        expect(&out, 0);
        let report = json_report(&out);
        assert_eq!(report["files"]["moved"], 1, "{}", report["files"]);
        assert_eq!(report["files"]["bytes"], *n);
        let (source, target) = (
            sandbox.dump(&format!("src{i}")),
            sandbox.dump(&format!("dst{i}")),
        );
        let label = "document:custom_tool:Large file/large.pdf";
        assert_eq!(
            target["document"][label]["file"], source["document"][label]["file"],
            "{n} bytes: size and sha256 must match"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_through_byte_for_byte() {
    let sandbox = support::dev_and_prod(Seed::Scale(100)).await;
    let out = ferry(
        &sandbox,
        "dev",
        "prod",
        &[
            "--include",
            "adapter,custom_tool",
            "--max-file-size",
            "30MB",
            "--output",
            "json",
        ],
    );
    expect(&out, 0);
    let report = json_report(&out);
    assert!(
        report["files"]["too_large"].as_array().unwrap().is_empty(),
        "{}",
        report["files"]
    );
    assert!(report["files"]["bytes"].as_u64().unwrap() > 3 * (26 << 20));
    let (source, target) = (sandbox.dump("dev"), sandbox.dump("prod"));
    let big: Vec<(&String, &Value)> = source["document"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, d)| d["file"]["bytes"].as_u64().unwrap() > 25 << 20)
        .collect();
    assert_eq!(big.len(), 3);
    for (label, doc) in big {
        assert_eq!(
            target["document"][label]["file"], doc["file"],
            "{label}: size and sha256 must match"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_survive_errors_drops_and_rate_limits_on_the_source() {
    use ferry_sandbox::kit::faults::Faults;
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let source = sandbox.dump("dev");
    // Every fault the source can throw at reads: 5xx pages, cut connections, 429s, latency.
    sandbox
        .set_faults(
            "dev",
            Faults {
                error_rate: 0.15,
                drop_rate: 0.05,
                rate_limit: 40,
                latency_ms: 2,
                jitter_ms: 5,
                slow_rate: 0.05,
            },
        )
        .unwrap();
    let out = ferry(
        &sandbox,
        "dev",
        "prod",
        &[
            "--clone-group-members",
            "--output",
            "json",
            "--attempts",
            "10",
        ],
    );
    expect(&out, 0);
    let log = sandbox.log();
    let faults = log
        .iter()
        .filter(|l| l.org == "dev" && (l.status == 0 || l.status == 429 || l.status >= 500))
        .count();
    assert!(
        faults > 0,
        "the source threw no fault: the test proves nothing"
    );
    let d = diff(&expected_target(&source), &sandbox.dump("prod"));
    assert!(
        d.is_empty(),
        "with faults on the source, the target differs:\n{}",
        d.join("\n")
    );
    assert!(sandbox.writes_to("dev").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_under_faults_on_both_sides_equals_a_fault_free_one() {
    use ferry_sandbox::kit::faults::Faults;
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let source = sandbox.dump("dev");
    let faults = Faults {
        error_rate: 0.10,
        drop_rate: 0.05,
        rate_limit: 60,
        latency_ms: 1,
        jitter_ms: 4,
        slow_rate: 0.02,
    };
    sandbox.set_faults("dev", faults.clone()).unwrap();
    sandbox.set_faults("prod", faults).unwrap();
    let out = ferry(
        &sandbox,
        "dev",
        "prod",
        &[
            "--clone-group-members",
            "--output",
            "json",
            "--attempts",
            "8",
        ],
    );
    expect(&out, 0);
    let hit = sandbox
        .log()
        .iter()
        .filter(|l| l.org == "prod" && l.method != "GET" && (l.status == 0 || l.status >= 500))
        .count();
    assert!(hit > 0, "no write met a fault: the test proves nothing");
    sandbox.set_faults("prod", Faults::default()).unwrap();
    let d = diff(&expected_target(&source), &sandbox.dump("prod"));
    assert!(
        d.is_empty(),
        "under faults, the target differs from a fault-free clone:\n{}",
        d.join("\n")
    );
    assert!(sandbox.writes_to("dev").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_clone_reports_exits_130_and_a_rerun_finishes() {
    use ferry_sandbox::kit::faults::Faults;
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let source = sandbox.dump("dev");
    // Slow enough that the signal lands mid-run.
    sandbox
        .set_faults(
            "prod",
            Faults {
                latency_ms: 150,
                ..Default::default()
            },
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let mut c = support::ferry_between("clone", &sandbox, "dev", "prod");
    c.args(["--clone-group-members", "--report"])
        .arg(&report_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    // Wait for the first write to the target, then interrupt.
    let started = std::time::Instant::now();
    while sandbox.writes_to("prod").is_empty()
        && started.elapsed() < std::time::Duration::from_secs(60)
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let interrupted = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["reason"]
                .as_str()
                .is_some_and(|r| r.contains("interrupted"))
        })
        .count();
    assert!(
        interrupted > 0,
        "nothing was left for the re-run: the interrupt came too late"
    );

    sandbox.set_faults("prod", Faults::default()).unwrap();
    expect(
        &ferry(&sandbox, "dev", "prod", &["--clone-group-members"]),
        0,
    );
    let d = diff(&expected_target(&source), &sandbox.dump("prod"));
    assert!(
        d.is_empty(),
        "after an interrupt and a re-run the target differs:\n{}",
        d.join("\n")
    );
}
