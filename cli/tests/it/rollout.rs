//! `ferry rollout`: one source, read once, promoted to twelve sandbox orgs in waves
//! `[1, 3, "rest"]`, with one org made to fail. The targets have the source's adapters and
//! connectors already (a package holds no secret to make them with): the release is two new
//! tags. Within a budget of one failure the rollout
//! goes on and names it; with none it stops after the wave that failed and writes nothing to
//! the later ones; a resume after the fault is fixed finishes it and leaves alone what had
//! succeeded.

use crate::support::{expect, ferry_command, json_of, output};
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use serde_json::Value;
use std::process::Command;

const TARGETS: usize = 12;

fn names(prefix: &str) -> Vec<String> {
    (0..TARGETS).map(|i| format!("{prefix}{i:02}")).collect()
}

/// A promotion file from `dev` to the orgs named `prefix00..prefix11`, with `rollout`.
fn file(dir: &tempfile::TempDir, sb: &Sandbox, prefix: &str, rollout: &str) -> String {
    let mut text = format!(
        "[source]\nurl = \"{}\"\norg = \"dev\"\nkey_env = \"ROLL_SRC\"\n\n[run]\nattempts = 1\n\n[rollout]\n{rollout}\n",
        sb.url()
    );
    for n in names(prefix) {
        text += &format!(
            "\n[[targets]]\nname = \"{n}\"\nurl = \"{}\"\norg = \"{n}\"\nkey_env = \"ROLL_{}\"\n",
            sb.url(),
            n.to_uppercase()
        );
    }
    let path = dir.path().join(format!("{prefix}.toml"));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn rollout(sb: &Sandbox, prefix: &str, file: &str, extra: &[&str]) -> Command {
    let mut c = ferry_command();
    c.args(["rollout", "--config", file, "--output", "json"])
        .args(extra)
        .env("ROLL_SRC", sb.keys("dev").read);
    for n in names(prefix) {
        c.env(format!("ROLL_{}", n.to_uppercase()), sb.keys(&n).read_write);
    }
    c
}

fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {report:#}"))["status"]
        .as_str()
        .unwrap()
}

fn failing() -> Faults {
    Faults {
        error_rate: 1.0,
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_stop_past_the_budget_and_a_resume_finishes() {
    let mut orgs = vec![OrgSpec::seeded("dev", Seed::Small)];
    for prefix in ["a", "b"] {
        orgs.extend(
            names(prefix)
                .iter()
                .map(|n| OrgSpec::seeded(n, Seed::Small)),
        );
    }
    let sb = Sandbox::start(Config::local(orgs)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    for tag in ["release-7", "release-7-hotfix"] {
        let r = http
            .post(format!("{}tags/", sb.org_url("dev")))
            .bearer_auth(sb.keys("dev").read_write)
            .json(&serde_json::json!({"name": tag}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // What the release adds: the tags (the rest each org has of its own already).
    let tags = |org: &str| sb.dump(org)["tag"].clone();
    let release = tags("dev");

    // No failure allowed; a02, in wave 2, fails: wave 3 never starts.
    sb.set_faults("a02", failing()).unwrap();
    let strict = file(
        &dir,
        &sb,
        "a",
        "waves = [1, 3, \"rest\"]\nmax_failures = 0\nparallel = 4",
    );
    let first = dir.path().join("first.json");
    let out = output(&mut rollout(
        &sb,
        "a",
        &strict,
        &["--report", first.to_str().unwrap()],
    ));
    expect(&out, 1);
    let r = json_of(&out);
    assert_eq!(r["waves"], 3);
    assert_eq!(r["counts"]["failed"], 1, "{r:#}");
    assert_eq!(r["counts"]["succeeded"], 3, "{r:#}");
    assert_eq!(r["counts"]["not_started"], 8, "{r:#}");
    assert!(
        r["stopped"].as_str().unwrap().contains("after wave 2 of 3"),
        "{r:#}"
    );
    assert_eq!(status(&r, "a02"), "failed");
    assert!(
        !r["targets"][2]["reason"].as_str().unwrap().is_empty(),
        "{r:#}"
    );
    for n in &names("a")[4..] {
        assert_eq!(status(&r, n), "not_started");
        assert!(sb.writes_to(n).is_empty(), "{n} was written");
    }
    let read_only = |sb: &Sandbox| {
        sb.writes_to("dev")
            .iter()
            .all(|w| w.path.starts_with("tags"))
    };
    assert!(read_only(&sb), "the source is only read");
    assert_eq!(tags("a00"), release, "the first wave has the release");
    assert_ne!(tags("a02"), release);

    // Fixed, resumed: what succeeded is left alone, the rest runs.
    sb.set_faults("a02", Faults::default()).unwrap();
    let writes_a00 = sb.writes_to("a00").len();
    let out = output(&mut rollout(
        &sb,
        "a",
        &strict,
        &["--resume", first.to_str().unwrap()],
    ));
    expect(&out, 0);
    let r = json_of(&out);
    assert_eq!(r["counts"]["succeeded"], 12, "{r:#}");
    assert_eq!(
        sb.writes_to("a00").len(),
        writes_a00,
        "a00 was not run again"
    );
    assert_eq!(tags("a11"), release, "a later wave got the same release");

    // One failure allowed: b05, in wave 3, fails and the rollout goes on, naming it.
    sb.set_faults("b05", failing()).unwrap();
    let lenient = file(
        &dir,
        &sb,
        "b",
        "waves = [1, 3, \"rest\"]\nmax_failures = 1\nparallel = 4",
    );
    let out = output(&mut rollout(&sb, "b", &lenient, &[]));
    expect(&out, 1);
    let r = json_of(&out);
    assert_eq!(r["counts"]["succeeded"], 11, "{r:#}");
    assert_eq!(r["counts"]["failed"], 1, "{r:#}");
    assert!(r.get("stopped").is_none(), "{r:#}");
    assert_eq!(status(&r, "b05"), "failed");
    assert_eq!(tags("b11"), release);
    assert_ne!(tags("b05"), release);
    assert!(read_only(&sb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_file_is_checked_before_anything_is_read() {
    let sb = Sandbox::start(Config::local(vec![OrgSpec::seeded("dev", Seed::Small)]))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (rollout, wanted) in [
        ("waves = [\"rest\", 1]", "only be the last"),
        ("parallel = 0", "parallel = 0"),
        ("approve_between_waves = true", "needs a job server"),
        ("waves = [\"most\"]", "\"most\""),
    ] {
        let f = file(&dir, &sb, "z", rollout);
        let out = output(&mut rollout_cmd(&f));
        assert_ne!(out.status.code(), Some(0), "{rollout}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(wanted), "{rollout}: {err}");
    }
    // One key for every target is refused: it would reach every customer's org.
    let f = file(&dir, &sb, "z", "");
    let out = output(rollout_cmd(&f).args(["--target-key", "one-key"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave out --target-*"));
    // A clone refuses a rollout's file rather than run one of its targets.
    let f = file(&dir, &sb, "z", "");
    let out = output(ferry_command().args(["clone", "--config", &f]));
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ferry rollout"));
    assert!(sb.log().is_empty(), "nothing was read");
}

fn rollout_cmd(file: &str) -> Command {
    let mut c = ferry_command();
    c.args(["rollout", "--config", file]);
    c
}
