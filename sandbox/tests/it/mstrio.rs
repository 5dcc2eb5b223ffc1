//! Fidelity: Strategy's own SDK (mstrio-py, from PyPI, installed test-only; its licence is
//! proprietary, so it is never vendored) drives the emulated Strategy server through every
//! project-duplication flow (`tests/strategy_sdk/flows.py`): login to two environments,
//! duplication with sync, manual mode with the backup package and both ways to restore it,
//! cancel, list, delete, a session renewal after idling past the timeout, logout. Each
//! step's effect is then checked in the sandbox's dumps and request log.
//!
//! mstrio-py is installed once into `target/mstrio-venv` (see `support/reference.rs`); set
//! `FERRY_MSTRIO_PYTHON` to use another interpreter that has it.

use ferry_sandbox::strategy::{Config, EnvSpec, Sandbox, Seed};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

use crate::support::{reference, repo_root as root};

fn objects(dump: &Value, project: &str) -> Vec<String> {
    dump["projects"][project]["objects"]
        .as_object()
        .unwrap_or_else(|| panic!("no project {project:?} in {dump:#}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mstrio_py_drives_every_duplication_flow() {
    let python = tokio::task::spawn_blocking(|| reference::mstrio_python(&root()))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config::local(vec![
        EnvSpec::seeded("dev", Seed::Demo),
        EnvSpec::new("prod"),
    ]);
    config.session_timeout = 2;
    config.step = Duration::from_millis(200);
    let sandbox = Sandbox::start(config).await.unwrap();
    let (dev, prod) = (sandbox.env("dev").clone(), sandbox.env("prod").clone());
    let work = tempfile::tempdir().unwrap();
    let script = root().join("tests/strategy_sdk/flows.py");
    let out = tokio::task::block_in_place(|| {
        Command::new(&python)
            .arg(&script)
            .args(["--source", &dev.url, "--source-user", &dev.username])
            .args(["--source-password", &dev.password])
            .args(["--target", &prod.url, "--target-user", &prod.username])
            .args(["--target-password", &prod.password])
            .args(["--workdir", work.path().to_str().unwrap()])
            .args(["--project", "Tutorial", "--idle", "3.5"])
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert!(
        out.status.success() && steps.iter().all(|s| s["ok"] == true),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        names,
        [
            "login", "sync", "manual", "cancel", "list", "delete", "renew", "logout"
        ]
    );
    let step = |n: &str| steps.iter().find(|s| s["step"] == n).unwrap();
    assert_eq!(step("login")["iserver_version"], "11.5.1200");

    // sync: the target holds the copy, as the SDK's default settings select: schema
    // objects only (attributes), the project's related users, groups and roles, locale 0.
    let prod_dump = sandbox.dump("prod");
    assert_eq!(
        objects(&prod_dump, "Tutorial copy"),
        [
            "attribute:Customer",
            "attribute:Product",
            "attribute:Region"
        ]
    );
    let copy = &prod_dump["projects"]["Tutorial copy"];
    // Locale 0, the SDK's default, is the source project's own.
    assert_eq!(copy["locales"], serde_json::json!([1033]));
    assert_eq!(copy["defaultLocale"], 1033);
    assert_eq!(copy["description"], "Project Duplication");
    let config: Vec<&String> = prod_dump["config"].as_object().unwrap().keys().collect();
    for wanted in [
        "user:Alice Analyst",
        "user:Bob Builder",
        "user_group:Analysts",
        "security_role:Analyst",
    ] {
        assert!(
            config.iter().any(|c| *c == wanted),
            "{wanted} in {config:?}"
        );
    }
    assert!(
        !config.iter().any(|c| *c == "user:Carol Outsider"),
        "carol relates to no project: not exported"
    );
    // manual: both restorations made their project; the cancelled one never reached prod.
    for p in ["Tutorial restored A", "Tutorial manual"] {
        assert_eq!(objects(&prod_dump, p).len(), 3, "{p}");
    }
    assert!(prod_dump["projects"].get("Tutorial cancelled").is_none());
    assert!(step("manual")["package_size"].as_u64().unwrap() > 1024);
    assert_eq!(
        step("manual")["package"],
        format!("{}.projdup", step("manual")["id"].as_str().unwrap())
    );
    // cancel and delete: the source kept the sync and the manual duplications only.
    let dev_dump = sandbox.dump("dev");
    let kept: Vec<(&str, &str)> = dev_dump["duplications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["target_project"].as_str().unwrap(),
                d["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("Tutorial copy", "EXPORTED"),
            ("Tutorial manual", "EXPORTED")
        ]
    );
    assert_eq!(step("cancel")["final"], "CANCELLED");
    // renew: after idling past the timeout the SDK renewed its session or signed in again.
    let log = sandbox.log();
    let renewed = log.iter().filter(|l| l.org == "dev").any(|l| {
        (l.method == "PUT" && l.path == "sessions")
            || (l.method == "POST" && l.path == "auth/login" && l.seq > 10)
    });
    assert!(renewed, "no session renewal on dev");
    // logout, on both sides; the source saw no write beyond sessions and duplication jobs.
    for env in ["dev", "prod"] {
        assert!(
            log.iter()
                .any(|l| l.org == env && l.method == "POST" && l.path == "auth/logout"),
            "{env}: no logout"
        );
    }
    for w in sandbox.writes_to("dev") {
        assert!(
            w.path.starts_with("auth/")
                || w.path == "sessions"
                || w.path.starts_with("projectDuplications"),
            "unexpected write to the source: {} {}",
            w.method,
            w.path
        );
    }
    assert!(
        sandbox.dump("dev")["projects"]["Tutorial"]["objects"]
            .as_object()
            .unwrap()
            .len()
            == 11,
        "the source project is unchanged"
    );
}

/// Run one of `tests/strategy_sdk/*.py` with mstrio-py; its stdout, or a panic with both
/// streams.
fn sdk(script: &str, args: &[&str]) -> String {
    let python = reference::mstrio_python(&root()).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(&python)
        .arg(root().join("tests/strategy_sdk").join(script))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script}:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// What an administrator reads first with the SDK is served from the store: a project's
/// status, alias, settings, languages and nodes (and a copy's, carried by a duplication),
/// the server's nodes and settings; an unknown project id ends in the server's not-found
/// error, not in a route the emulator lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mstrio_py_reads_projects_nodes_and_settings() {
    let sandbox = Sandbox::start(Config::local(vec![
        EnvSpec::seeded("dev", Seed::Demo),
        EnvSpec::new("prod"),
    ]))
    .await
    .unwrap();
    let dev = sandbox.env("dev").clone();
    // A copy of Tutorial within dev, through the SDK's same-environment duplication.
    let out = tokio::task::block_in_place(|| {
        sdk(
            "reads.py",
            &[
                "--url",
                &dev.url,
                "--user",
                &dev.username,
                "--password",
                &dev.password,
                "--project",
                "Tutorial",
                "--copy",
                "Tutorial copy",
            ],
        )
    });
    let got: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("{out}"));
    let dump = sandbox.dump("dev");
    assert!(dump["projects"]["Tutorial copy"].is_object(), "{dump:#}");
    for p in ["Tutorial", "Tutorial copy"] {
        let r = &got[p];
        assert_eq!(r["status"], 0, "{p}: {r}");
        assert_eq!(r["alias"], "tut", "{p}: the alias, carried by the copy");
        assert_eq!(
            r["maxReportExecutionTime"], 900,
            "{p}: the seeded setting, carried"
        );
        assert_eq!(r["enableReportServerCaching"], true, "{p}");
        assert_eq!(r["default_language"], "English (United States)", "{p}");
        assert_eq!(
            r["languages"],
            serde_json::json!(["English (United States)"]),
            "{p}"
        );
        assert_eq!(r["is_loaded"], true, "{p}");
        assert_eq!(r["nodes"], serde_json::json!(["sandbox"]), "{p}");
    }
    assert_ne!(got["Tutorial"]["id"], got["Tutorial copy"]["id"]);
    assert_eq!(got["nodes"], serde_json::json!(["sandbox"]));
    assert_eq!(got["maxJobsPerServer"], 10000);
    let unknown = got["unknown"].as_str().unwrap();
    assert!(
        unknown.contains("ERR004") && unknown.contains("does not exist"),
        "{unknown}"
    );
}

/// Conflict rules for users and roles as the SDK sends them (`conflictRules` in the export
/// and the import settings): USE_EXISTING keeps what the target holds, REPLACE takes the
/// source's, MERGE unions the grants; none of them selects a user or a role away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mstrio_py_conflict_rules_for_users_and_roles() {
    let mut config = Config::local(vec![
        EnvSpec::seeded("dev", Seed::Demo),
        EnvSpec::new("use_existing"),
        EnvSpec::new("replace"),
        EnvSpec::new("merge"),
    ]);
    config.step = Duration::from_millis(50);
    let sandbox = Sandbox::start(config).await.unwrap();
    let dev = sandbox.env("dev").clone();
    let source = [dev.url.as_str(), &dev.username, &dev.password];
    let rules = ["use_existing", "replace", "merge"];
    let run = |phase: &str| {
        let mut args: Vec<String> = vec!["--source".into()];
        args.extend(source.iter().map(|s| s.to_string()));
        for r in rules {
            let e = sandbox.env(r);
            args.extend(["--target", r, &e.url, &e.username, &e.password].map(String::from));
        }
        args.extend(["--project", "Tutorial", "--phase", phase].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tokio::task::block_in_place(|| sdk("rules.py", &args))
    };
    run("base");
    // The targets' own changes since: what each rule then keeps, takes or merges.
    for r in rules {
        sandbox.set_grants(r, "Alice Analyst", &["export-data"]);
        sandbox.set_grants(r, "Analyst", &["approve"]);
    }
    run("rules");
    let grants = |env: &str, kind_name: &str| -> Vec<String> {
        let d = sandbox.dump(env);
        let o = &d["config"][kind_name];
        assert!(o.is_object(), "{env} has no {kind_name}: {d:#}");
        o["grants"]
            .as_array()
            .map(|a| a.iter().map(|g| g.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let expected = [
        ("use_existing", vec!["export-data"], vec!["approve"]),
        (
            "replace",
            vec!["run-reports", "use-dashboards"],
            vec!["run-reports", "use-dashboards"],
        ),
        (
            "merge",
            vec!["export-data", "run-reports", "use-dashboards"],
            vec!["approve", "run-reports", "use-dashboards"],
        ),
    ];
    for (env, alice, role) in expected {
        assert_eq!(grants(env, "user:Alice Analyst"), alice, "{env}: alice");
        assert_eq!(
            grants(env, "security_role:Analyst"),
            role,
            "{env}: the role"
        );
        // Nothing was selected away: the project's users, group and role are all there.
        let config = sandbox.dump(env)["config"].clone();
        for c in ["user:Bob Builder", "user_group:Analysts"] {
            assert!(config.get(c).is_some(), "{env}: {c}");
        }
        assert!(sandbox.dump(env)["projects"][format!("Tutorial {env}")].is_object());
    }
}
