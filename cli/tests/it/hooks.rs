//! `ferry hook test`: a hook run on a resource from a file, its outcome as JSON, and the
//! exit codes of a hook that fails and of a file that is no hook.

use crate::support;
use serde_json::{Value, json};
use std::path::Path;

fn ferry_hook(args: &[&str], input: &Value) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.json");
    std::fs::write(&path, input.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .current_dir(support::repo_root())
        .args(["hook", "test"])
        .args(args)
        .arg("--input")
        .arg(&path)
        .env(
            "FERRY_CACHE_DIR",
            std::env::temp_dir().join("ferry-test-cache"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn ferry_hook_test_runs_a_hook_on_a_file() {
    let input = json!({"kind": "adapter", "id": "7", "body": {"adapter_name": "openai-dev", "adapter_type": "LLM", "adapter_metadata": {"api_key": "sk-secret-1"}}});
    let (code, out, err) = ferry_hook(&["scripts/rename.rhai", "--with", "to=-qa"], &input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["outcome"], "keep");
    assert_eq!(
        out["resource"]["key"], "openai-qa / LLM",
        "the kind's key fields come from the bundled Unstract cloner"
    );
    assert_eq!(
        out["resource"]["body"]["adapter_metadata"], "***",
        "secrets are masked"
    );
    assert!(
        err.contains("/adapter_name: \"openai-dev\" → \"openai-qa\" (hook scripts/rename.rhai)"),
        "{err}"
    );
    // A bare body with --kind and --key-field; JSON parameters.
    let (code, out, _) = ferry_hook(
        &[
            "bundled:map-names.rhai",
            "--kind",
            "thing",
            "--key-field",
            "/title",
            "--with",
            r#"map={"a":"b"}"#,
        ],
        &json!({"title": "a"}),
    );
    assert_eq!(
        (code, out["resource"]["body"]["title"].as_str()),
        (0, Some("b"))
    );
    // An error: exit 1 with the message; a broken hook: exit 2.
    let (code, out, _) = ferry_hook(
        &["bundled:map-names.rhai", "--kind", "thing"],
        &json!({"name": "a"}),
    );
    assert_eq!((code, out["outcome"].as_str()), (1, Some("error")));
    let (code, _, err) = ferry_hook(&["Cargo.toml"], &json!({"name": "a"}));
    assert_eq!(code, 2);
    assert!(
        err.contains("a hook is a Rhai script (.rhai) or a WASM component (.wasm)"),
        "{err}"
    );
    assert!(Path::new(&support::repo_root().join("scripts/rename.rhai")).exists());
}
