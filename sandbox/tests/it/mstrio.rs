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
    assert_eq!(copy["locales"], serde_json::json!([0]));
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
