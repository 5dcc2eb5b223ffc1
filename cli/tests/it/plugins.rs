//! `ferry plugins list` as a user runs it.

use crate::support;
use std::process::Command;

fn ferry() -> Command {
    support::ferry_command()
}

#[test]
fn lists_bundled_and_directory_plugins_as_json() {
    let dir = support::plugin_dir("ferry-hostile");
    let out = ferry()
        .args(["plugins", "list", "--output", "json", "--plugins"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["strategy", "unstract", "versori", "hostile"]);
    assert_eq!(v[1]["source"], "bundled");
    assert_eq!(v[0]["platform"], "strategy");
    assert_eq!(v[0]["kinds"][0]["name"], "project");
    // What a kind supports beyond create and update (contract 1.2.0).
    assert_eq!(
        v[0]["kinds"][0]["support"],
        serde_json::json!({"not_compared": [], "comparable": false, "deletes": true, "partial_update": false})
    );
    let kinds: Vec<&str> = v[1]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    for k in [
        "group",
        "adapter",
        "connector",
        "tag",
        "custom_tool",
        "prompt",
        "workflow",
        "tool_instance",
        "workflow_endpoint",
        "pipeline",
        "api_deployment",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(v[3]["limits"]["cpu"], 300);
    assert_eq!(v[3]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn table_output_and_clear_errors() {
    let out = ferry().args(["plugins", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("unstract") && text.contains("tag") && text.contains("/name"),
        "{text}"
    );

    let out = ferry()
        .args(["plugins", "list", "--plugins", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/dir"), "{err}");

    let out = ferry()
        .args(["plugins", "list", "--kind-plugin", "tag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KIND=PLUGIN"));
}
