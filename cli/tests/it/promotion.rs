//! Promotion files end to end against the sandbox: the example files promote DEV → QA → PROD
//! with per-environment services, every rule type rewrites what it should, a reference that
//! no longer resolves stops the plan with nothing written, a file's mistakes are named by
//! line and column, and flags override the file.

use crate::support;
use crate::support::{expect, json_of as report};
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// `ferry SUB --config FILE` between two orgs of the sandbox: URLs by flag (the port is not
/// the example's), keys from the variables the files name.
fn ferry(
    sub: &str,
    sandbox: &Sandbox,
    config: &Path,
    source: &str,
    target: &str,
    extra: &[&str],
) -> Output {
    let mut c = support::ferry_command();
    c.arg(sub)
        .arg("--config")
        .arg(config)
        .args(["--source-url", sandbox.url(), "--target-url", sandbox.url()])
        .args(extra);
    for org in ["dev", "qa", "prod"] {
        let var = format!("FERRY_{}_KEY", org.to_uppercase());
        if org == source {
            c.env(var, sandbox.keys(org).read);
        } else if org == target {
            c.env(var, sandbox.keys(org).read_write);
        }
    }
    c.env("FERRY_TEST_RUN_BY", "ci-bot");
    support::output(&mut c)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("scripts")
        .join(name)
}

fn labels(dump: &Value, kind: &str) -> Vec<String> {
    dump[kind]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

async fn sandbox(orgs: Vec<OrgSpec>) -> Sandbox {
    Sandbox::start(Config::local(orgs)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_files_promote_dev_to_qa_to_prod() {
    let sb = sandbox(vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::seeded("qa", Seed::Services),
        OrgSpec::seeded("prod", Seed::Services),
    ])
    .await;
    let dev_to_qa = example("dev-to-qa.toml");

    // The plan shows every rewrite, and writes nothing.
    let out = ferry("plan", &sb, &dev_to_qa, "dev", "qa", &[]);
    expect(&out, 0);
    let (plan, _) = text(&out);
    for line in [
        "adapter \"openai-dev / LLM\" → \"openai-qa / LLM\"",
        "/adapter_name: \"openai-dev\" → \"openai-qa\" (kinds.adapter.map)",
        "/connector_name: \"s3-dev-inbox\" → \"s3-qa-inbox\" (kinds.connector.map)",
        "/adapter_name: \"azure-gpt4-dev\" → \"azure-gpt4-qa\" (hook rename.rhai)",
        "/connector_name: \"gdrive-dev\" → \"gdrive-qa\" (hook rename.rhai)",
        "/shared_users: [",
    ] {
        assert!(plan.contains(line), "the plan lacks {line:?}:\n{plan}");
    }
    assert!(sb.writes_to("qa").is_empty(), "a plan wrote to the target");

    let out = ferry("clone", &sb, &dev_to_qa, "dev", "qa", &["--output", "json"]);
    expect(&out, 0);
    let r = report(&out);
    assert_eq!(r["kinds"]["adapter"]["adopted"], 4, "{}", r["kinds"]);
    assert_eq!(r["kinds"]["adapter"]["created"], 1);
    assert_eq!(
        r["kinds"]["connector"]["adopted"], 3,
        "QA's own three connectors, the OAuth one included"
    );
    assert!(
        r["runtime"]["rhai_hooks"]["calls"].as_u64().unwrap() > 0,
        "the Rhai hooks' time is counted: {}",
        r["runtime"]
    );
    let qa = sb.dump("qa");
    let all: Vec<String> = qa
        .as_object()
        .unwrap()
        .keys()
        .flat_map(|k| labels(&qa, k))
        .collect();
    assert!(
        !all.iter().any(|l| l.contains("-dev")),
        "a DEV name reached QA: {all:?}"
    );
    assert_eq!(
        labels(&qa, "adapter").len(),
        5,
        "{:?}",
        labels(&qa, "adapter")
    );
    assert_eq!(
        labels(&qa, "connector").len(),
        3,
        "{:?}",
        labels(&qa, "connector")
    );
    assert_eq!(
        qa["profile"]["profile:custom_tool:Invoice Extractor/Default"]["llm"],
        "adapter:openai-qa/LLM"
    );
    assert_eq!(
        qa["workflow_endpoint"]["workflow_endpoint:workflow:invoice-etl/SOURCE"]["connector_instance"],
        "connector:s3-qa-inbox"
    );
    assert!(
        qa["workflow"].get("workflow:gdrive-sync").is_some(),
        "QA's own OAuth connector lets gdrive-sync through"
    );
    assert_eq!(
        qa["workflow"]["workflow:invoice-etl"]["shared_users"],
        serde_json::json!([]),
        "scrubbed"
    );
    assert!(sb.writes_to("dev").is_empty(), "the source was written");

    // Converged: nothing left to do.
    expect(
        &ferry(
            "plan",
            &sb,
            &dev_to_qa,
            "dev",
            "qa",
            &["--detailed-exitcode"],
        ),
        0,
    );

    // QA → PROD.
    let qa_writes = sb.writes_to("qa").len();
    let out = ferry(
        "clone",
        &sb,
        &example("qa-to-prod.toml"),
        "qa",
        "prod",
        &["--output", "json"],
    );
    expect(&out, 0);
    let prod = sb.dump("prod");
    let all: Vec<String> = prod
        .as_object()
        .unwrap()
        .keys()
        .flat_map(|k| labels(&prod, k))
        .collect();
    assert!(
        !all.iter().any(|l| l.contains("-qa") || l.contains("-dev")),
        "a QA name reached PROD: {all:?}"
    );
    assert_eq!(
        prod["profile"]["profile:custom_tool:Invoice Extractor/Default"]["llm"],
        "adapter:openai-prod/LLM"
    );
    assert!(
        prod["adapter"].get("adapter:azure-gpt4-prod/LLM").is_some(),
        "{:?}",
        labels(&prod, "adapter")
    );
    assert_eq!(
        prod["pipeline"]["pipeline:invoice-nightly"]["cron_string"],
        "0 3 * * *"
    );
    assert_eq!(
        sb.writes_to("qa").len(),
        qa_writes,
        "QA was written while it was the source"
    );
    expect(
        &ferry(
            "plan",
            &sb,
            &example("qa-to-prod.toml"),
            "qa",
            "prod",
            &["--detailed-exitcode"],
        ),
        0,
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_type_rewrites_and_leaves_behind() {
    let sb = sandbox(vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::new("prod"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(
        &file,
        r#"
[source]
org = "dev"
key_env = "FERRY_DEV_KEY"
[target]
org = "prod"
key_env = "FERRY_PROD_KEY"

[kinds.tag]
rename = { regex = '^(\w+)s$', to = "$1-list" }
[kinds.connector]
rename = { prefix = "s3-dev", to = "s3-prod" }
[kinds.adapter]
rename = { suffix = "-dev", to = "-prod" }
[kinds.workflow]
leave = ["gdrive-*"]
set = { "/description" = "promoted by ${env:FERRY_TEST_RUN_BY}" }
remove = ["/shared_users", "/shared_groups"]
"#,
    )
    .unwrap();
    let out = ferry("plan", &sb, &file, "dev", "prod", &[]);
    expect(&out, 0);
    let (plan, _) = text(&out);
    assert!(plan.contains("/description: \"invoice-etl workflow\" → \"promoted by ${env:FERRY_TEST_RUN_BY}\" (kinds.workflow.set)"), "a value from the environment is shown as written:\n{plan}");
    assert!(!plan.contains("ci-bot"), "{plan}");

    let out = ferry("clone", &sb, &file, "dev", "prod", &["--output", "json"]);
    expect(&out, 0);
    let r = report(&out);
    let item = |kind: &str, key: &str| {
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == kind && i["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} {key} not in the report"))
    };
    assert!(
        item("workflow", "gdrive-sync")["reason"]
            .as_str()
            .unwrap()
            .contains("left behind by kinds.workflow.leave \"gdrive-*\"")
    );
    assert!(
        item("pipeline", "gdrive-task")["reason"]
            .as_str()
            .unwrap()
            .contains("depends on workflow \"gdrive-sync\"")
    );
    let renamed = item("tag", "invoice-list");
    assert_eq!(renamed["source_key"], "invoices");
    assert_eq!(renamed["rewrites"][0]["by"], "kinds.tag.rename");

    let prod = sb.dump("prod");
    let tags = labels(&prod, "tag");
    assert_eq!(
        tags,
        vec![
            "tag:contract-list",
            "tag:finance",
            "tag:invoice-list",
            "tag:q3 review"
        ]
    );
    assert!(
        prod["connector"].get("connector:s3-prod-inbox").is_some()
            && prod["connector"]
                .get("connector:postgres-dev-out")
                .is_some(),
        "{:?}",
        labels(&prod, "connector")
    );
    assert_eq!(
        prod["workflow_endpoint"]["workflow_endpoint:workflow:invoice-etl/SOURCE"]["connector_instance"],
        "connector:s3-prod-inbox"
    );
    assert_eq!(
        prod["profile"]["profile:custom_tool:Invoice Extractor/Default"]["llm"],
        "adapter:openai-prod/LLM",
        "renamed adapters are referenced by their new names"
    );
    let etl = &prod["workflow"]["workflow:invoice-etl"];
    assert_eq!(etl["description"], "promoted by ci-bot");
    assert_eq!(
        (etl["shared_users"].clone(), etl["shared_groups"].clone()),
        (serde_json::json!([]), serde_json::json!([]))
    );
    assert!(
        prod["workflow"].get("workflow:gdrive-sync").is_none()
            && prod["pipeline"].get("pipeline:gdrive-task").is_none()
    );
    assert!(sb.writes_to("dev").is_empty());
    expect(
        &ferry("plan", &sb, &file, "dev", "prod", &["--detailed-exitcode"]),
        0,
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_that_no_longer_resolves_stops_the_plan() {
    let sb = sandbox(vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::seeded("prod", Seed::Services),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let head = "[source]\norg = \"dev\"\nkey_env = \"FERRY_DEV_KEY\"\n[target]\norg = \"prod\"\nkey_env = \"FERRY_PROD_KEY\"\n";

    // A map to a name the target lacks.
    let file = write(
        "map.toml",
        &format!("{head}[kinds.adapter]\nmap = {{ \"openai-dev\" = \"openai-nowhere\" }}\n"),
    );
    for sub in ["plan", "clone"] {
        let out = ferry(sub, &sb, &file, "dev", "prod", &[]);
        expect(&out, 1);
        let (_, err) = text(&out);
        assert!(err.contains("custom_tool \"Invoice Extractor\": /_ferry/profile/llm names adapter \"openai-nowhere / LLM\" (mapped to \"openai-nowhere\" by kinds.adapter.map), which is neither on the target nor written by this run"), "{err}");
    }

    // A hook that points a reference at a name no resource has.
    write(
        "repoint.rhai",
        "fn transform(ctx, res) { res.body._ferry.profile.llm = ctx.params.llm; res }",
    );
    let file = write(
        "hook.toml",
        &format!(
            "{head}[[hooks]]\nuses = \"repoint.rhai\"\nkinds = [\"custom_tool\"]\nwith = {{ llm = \"gpt-nowhere\" }}\n"
        ),
    );
    let out = ferry("clone", &sb, &file, "dev", "prod", &[]);
    expect(&out, 1);
    let (_, err) = text(&out);
    assert!(err.contains("/_ferry/profile/llm was rewritten to \"gpt-nowhere\", which names no adapter of this run") && err.contains("nothing was written"), "{err}");
    assert!(
        sb.writes_to("prod").is_empty(),
        "written despite the plan error: {:?}",
        sb.writes_to("prod")
    );

    // Pointed at another adapter of the run, it follows: the project uses that one.
    let file = write(
        "hook-ok.toml",
        &format!(
            "{head}[run]\ninclude = [\"adapter\", \"custom_tool\", \"group\"]\n[[hooks]]\nuses = \"repoint.rhai\"\nkinds = [\"custom_tool\"]\nwith = {{ llm = \"azure-gpt4-dev\" }}\n"
        ),
    );
    let out = ferry("clone", &sb, &file, "dev", "prod", &[]);
    expect(&out, 0);
    assert_eq!(
        sb.dump("prod")["profile"]["profile:custom_tool:Invoice Extractor/Default"]["llm"],
        "adapter:azure-gpt4-dev/LLM"
    );
    assert!(sb.writes_to("dev").is_empty(), "the source was written");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_in_a_promotion_file_are_named_and_nothing_is_written() {
    let sb = sandbox(vec![
        OrgSpec::seeded("dev", Seed::Small),
        OrgSpec::new("prod"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let head = "[source]\norg = \"dev\"\nkey_env = \"FERRY_DEV_KEY\"\n[target]\norg = \"prod\"\nkey_env = \"FERRY_PROD_KEY\"\n";
    std::fs::write(
        dir.path().join("broken.rhai"),
        "fn transform(ctx, res) { res.body.x = ; res }",
    )
    .unwrap();
    let cases = [
        ("syntax", format!("{head}[kinds.tag\n"), "bad.toml:7:"),
        (
            "unknown field",
            format!("{head}[run]\nconcurency = 4\n"),
            "bad.toml:8:14: \"concurency\" is neither a setting nor a short form platform unstract declares",
        ),
        (
            "short form of another platform",
            format!("{head}[run]\nproject = \"p\"\n"),
            "bad.toml:8:11: \"project\" is neither",
        ),
        (
            "unknown side key",
            "[source]\norg = \"dev\"\nkey_envv = \"FERRY_DEV_KEY\"\n[target]\norg = \"prod\"\n"
                .to_string(),
            "bad.toml:3:12: source \"key_envv\" is neither",
        ),
        (
            "key in file",
            "[source]\norg = \"dev\"\nkey = \"sbx-secret-in-file\"\n".to_string(),
            "bad.toml:3:7: a key written in the promotion file is refused",
        ),
        (
            "unknown kind",
            format!("{head}[kinds.adaptr]\nleave = [\"x\"]\n"),
            "bad.toml:7:8: [kinds.*] names unknown kind \"adaptr\"",
        ),
        (
            "unknown hook kind",
            format!("{head}[[hooks]]\nuses = \"bundled:scrub.rhai\"\nkinds = [\"workflows\"]\n"),
            "bad.toml:9:10: a hook's kinds names unknown kind \"workflows\"",
        ),
        (
            "hook syntax",
            format!("{head}[[hooks]]\nuses = \"broken.rhai\"\n"),
            "bad.toml:8:8: broken.rhai line 1, column",
        ),
        (
            "missing hook",
            format!("{head}[[hooks]]\nuses = \"nowhere.wasm\"\n"),
            "bad.toml:8:8: hook \"nowhere.wasm\": cannot read",
        ),
        (
            "no such variable",
            format!(
                "{head}[kinds.tag]\nset = {{ \"/description\" = \"${{env:FERRY_TEST_NOT_SET}}\" }}\n"
            ),
            "environment variable FERRY_TEST_NOT_SET is not set",
        ),
        (
            "bad regex",
            format!("{head}[kinds.tag]\nrename = {{ regex = \"(\", to = \"x\" }}\n"),
            "bad.toml:8:",
        ),
    ];
    for (what, body, wanted) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, &body).unwrap();
        let out = ferry("clone", &sb, &file, "dev", "prod", &[]);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(wanted), "{what}: wanted {wanted:?} in:\n{err}");
        assert!(
            !err.contains("sbx-secret-in-file"),
            "{what}: the key was echoed"
        );
    }
    assert!(sb.writes_to("prod").is_empty());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_override_the_file() {
    let sb = sandbox(vec![
        OrgSpec::seeded("dev", Seed::Small),
        OrgSpec::new("prod"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(&file, "[source]\norg = \"dev\"\nkey_env = \"FERRY_DEV_KEY\"\n[target]\norg = \"nowhere\"\nkey_env = \"FERRY_PROD_KEY\"\n[run]\ninclude = [\"pipeline\"]\n").unwrap();
    let out = ferry(
        "plan",
        &sb,
        &file,
        "dev",
        "prod",
        &[
            "--target-org",
            "prod",
            "--include",
            "tag",
            "--output",
            "json",
        ],
    );
    expect(&out, 0);
    let r = report(&out);
    let kinds: Vec<&str> = r["kinds"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(kinds, vec!["tag"]);
    assert!(
        r["target"].as_str().unwrap().starts_with("prod @"),
        "{}",
        r["target"]
    );
    assert!(
        sb.writes_to("dev").is_empty() && sb.writes_to("prod").is_empty(),
        "a plan wrote"
    );
    sb.stop().await;
}
