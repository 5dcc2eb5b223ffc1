//! `ferry sandbox`: the command prints its banner (URL, admin key, each org's keys) and stops
//! on SIGTERM; bad seeds and fault rates are refused with exit 2.

use serde_json::Value;

#[test]
fn the_command_prints_its_banner_and_stops_on_sigterm() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--org",
            "dev",
            "--org",
            "prod",
            "--seed",
            "dev=demo",
            "--key",
            "prod.read=fixed-key",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let banner: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(banner["prefix"], "api/v1");
    assert!(
        banner["admin_key"]
            .as_str()
            .unwrap()
            .starts_with("sbx_admin_")
    );
    assert!(
        banner["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(banner["orgs"][1]["keys"]["read"], "fixed-key");
    assert!(banner["orgs"][0]["keys"]["full_access"].is_string());
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sandbox", "--org", "dev", "--seed", "qa=demo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seed qa=...: no --org qa"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sandbox", "--org", "dev", "--error-rate", "1.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error-rate"));
}
