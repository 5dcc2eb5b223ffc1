//! `ferry clone --platform strategy` against the emulated Strategy server
//! (`ferry_sandbox::strategy`): projects duplicated by server-side jobs in both modes, the
//! settings' effect on the target, conflict policies, renames, bad input refused without a
//! write, Ctrl-C cancelling the job on both sides, SIGKILL during export and import then a
//! re-run that completes exactly one duplication, and faults (5xx, cut connections,
//! sessions expiring mid-job).

use crate::support::{expect, ferry_command, json_of, output};
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::strategy::{Config, EnvSpec, JobFaults, Sandbox, Seed};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

async fn sandbox(envs: Vec<EnvSpec>, step_ms: u64) -> Sandbox {
    let mut c = Config::local(envs);
    c.step = Duration::from_millis(step_ms);
    Sandbox::start(c).await.unwrap()
}

/// `ferry SUB --platform strategy` from `from` to `to`: the source's password in the
/// manifest's variable, the target's in a file.
fn strategy(sb: &Sandbox, sub: &str, from: &str, to: &str, extra: &[&str]) -> Command {
    let (s, t) = (sb.env(from), sb.env(to));
    let dir = std::env::temp_dir().join(format!("ferry-strategy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{to}-{}", t.password));
    std::fs::write(&file, &t.password).unwrap();
    let mut c = ferry_command();
    c.args([sub, "--platform", "strategy"])
        .args(["--source-url", &s.url, "--source-user", &s.username])
        .args(["--target-url", &t.url, "--target-user", &t.username])
        .arg("--target-password-file")
        .arg(&file)
        .args(["--option", "poll-max-s=1"])
        .args(extra)
        .env("STRATEGY_SOURCE_PASSWORD", &s.password);
    c
}

/// What an environment holds, its duplications apart.
fn content(sb: &Sandbox, env: &str) -> Value {
    let d = sb.dump(env);
    json!({"projects": d["projects"], "config": d["config"]})
}

fn object_names(sb: &Sandbox, env: &str, project: &str) -> Vec<String> {
    sb.dump(env)["projects"][project]["objects"]
        .as_object()
        .unwrap_or_else(|| panic!("{env} has no project {project:?}"))
        .keys()
        .cloned()
        .collect()
}

/// The source's duplication jobs: (target name, status).
fn jobs(sb: &Sandbox, env: &str) -> Vec<(String, String)> {
    sb.dump(env)["duplications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["target_project"].as_str().unwrap_or("").to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every write to the source is a duplication job, a sign-in or a session's keep-alive.
fn source_only_ran_jobs(sb: &Sandbox, env: &str) {
    for w in sb.writes_to(env) {
        assert!(
            w.path.starts_with("auth/")
                || w.path == "sessions"
                || (w.method == "POST" && w.path == "projectDuplications")
                || (w.method == "PUT" && w.path.ends_with("/status")),
            "a write the source should not get: {} {}",
            w.method,
            w.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_duplicate_what_the_settings_select() {
    let sb = sandbox(
        vec![
            EnvSpec::seeded("dev", Seed::Demo),
            EnvSpec::new("prod"),
            EnvSpec::new("qa"),
            EnvSpec::new("uat"),
        ],
        100,
    )
    .await;

    // sync: the servers move the package.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--output", "json"],
    ));
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["kinds"]["project"]["created"], 2, "{report:#}");
    // The whole project but bob's empty profile folder (profile-folders=skip-empty).
    let tutorial = object_names(&sb, "prod", "Tutorial");
    assert_eq!(tutorial.len(), 10, "{tutorial:?}");
    assert!(!tutorial.contains(&"folder:profile:bob".to_string()));
    assert!(tutorial.contains(&"report:Alice's scratch".to_string()));
    let config = content(&sb, "prod")["config"].clone();
    for c in [
        "user:Alice Analyst",
        "user_group:Analysts",
        "security_role:Sales Viewer",
    ] {
        assert!(config.get(c).is_some(), "{c} in {config:#}");
    }
    assert!(
        config.get("user:Carol Outsider").is_none(),
        "users=1: only the projects' users go along"
    );
    let item = &report["items"][0]["files"]["duplication"];
    assert_eq!(item["mode"], "sync", "{report:#}");
    assert_eq!(
        item["source"]["statuses"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "EXPORTED"
    );
    assert_eq!(
        item["target"]["statuses"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "COMPLETED"
    );

    // package: ferry streams the package from the source into a restoration.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "qa",
        &["--option", "mode=package", "--output", "json"],
    ));
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["files"]["moved"], 2, "{report:#}");
    let package = &report["items"][0]["files"]["duplication"]["package"];
    assert!(package["bytes"].as_u64().unwrap() > 1024, "{report:#}");
    assert_eq!(package["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        content(&sb, "qa"),
        content(&sb, "prod"),
        "both modes make the same target"
    );

    // The settings change what goes: schema objects only, no users, other locales.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "uat",
        &[
            "--option",
            "schema-objects-only=true",
            "--option",
            "users=0",
            "--option",
            "locales=1036,1033",
            "--option",
            "description=UAT copy",
        ],
    ));
    expect(&out, 0);
    assert_eq!(
        object_names(&sb, "uat", "Tutorial"),
        [
            "attribute:Customer",
            "attribute:Product",
            "attribute:Region"
        ]
    );
    let uat = content(&sb, "uat");
    assert!(uat["config"].get("user:Alice Analyst").is_none(), "{uat:#}");
    assert_eq!(uat["projects"]["Sales"]["locales"], json!([1036, 1033]));
    assert_eq!(uat["projects"]["Sales"]["defaultLocale"], 1036);
    assert_eq!(uat["projects"]["Sales"]["description"], "UAT copy");

    source_only_ran_jobs(&sb, "dev");
    assert_eq!(
        content(&sb, "dev")["projects"]["Tutorial"]["objects"]
            .as_object()
            .unwrap()
            .len(),
        11,
        "the source is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_policies_and_renames() {
    let sb = sandbox(
        vec![EnvSpec::seeded("dev", Seed::Demo), EnvSpec::new("prod")],
        100,
    )
    .await;
    expect(&output(&mut strategy(&sb, "clone", "dev", "prod", &[])), 0);
    assert_eq!(jobs(&sb, "dev").len(), 2);

    // adopt (the default): nothing is duplicated again.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--output", "json"],
    ));
    expect(&out, 0);
    assert_eq!(json_of(&out)["kinds"]["project"]["adopted"], 2);
    assert_eq!(jobs(&sb, "dev").len(), 2, "adopting starts no job");

    // abort: refused before any write.
    let before = sb.writes_to("prod").len();
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--on-name-conflict", "abort"],
    ));
    expect(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("abort") && err.contains("Tutorial"), "{err}");
    assert_eq!(jobs(&sb, "dev").len(), 2);
    let new: Vec<_> = sb.writes_to("prod")[before..]
        .iter()
        .filter(|w| !w.path.starts_with("auth/"))
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert!(new.is_empty(), "abort wrote {new:?}");

    // update: duplicated into the existing projects, through the conflict rules.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--on-name-conflict", "update", "--output", "json"],
    ));
    expect(&out, 0);
    assert_eq!(json_of(&out)["kinds"]["project"]["updated"], 2);
    assert_eq!(jobs(&sb, "dev").len(), 4);
    let projects = content(&sb, "prod")["projects"].clone();
    assert_eq!(projects.as_object().unwrap().len(), 2, "{projects:#}");

    // A rename rule names the target projects.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("promote.toml");
    std::fs::write(
        &file,
        "[kinds.project]\nrename = { regex = '^(.*)$', to = \"$1 (prod)\" }\n",
    )
    .unwrap();
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--config", file.to_str().unwrap()],
    ));
    expect(&out, 0);
    let names: Vec<String> = content(&sb, "prod")["projects"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        names,
        ["Sales", "Sales (prod)", "Tutorial", "Tutorial (prod)"]
    );
    source_only_ran_jobs(&sb, "dev");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_clear_message() {
    let sb = sandbox(
        vec![
            EnvSpec::seeded("dev", Seed::Demo),
            EnvSpec::new("prod"),
            EnvSpec::seeded("big", Seed::Package(3 << 20)),
        ],
        100,
    )
    .await;
    let no_job_on = |env: &str| {
        assert!(
            sb.writes_to(env)
                .iter()
                .all(|w| w.path.starts_with("auth/") || w.path == "sessions"),
            "{env} was written to"
        )
    };

    // A wrong password: the sign-in fails, the password is never shown.
    let mut c = strategy(&sb, "clone", "dev", "prod", &[]);
    c.env("STRATEGY_SOURCE_PASSWORD", "not-the-password");
    let out = output(&mut c);
    expect(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") || err.to_lowercase().contains("sign"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
    no_job_on("dev");
    no_job_on("prod");

    // A project the source does not have.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--select", "project:Nope"],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("Nope"), "{err}");
    no_job_on("prod");

    // A bad option value names the option.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--option", "mode=fast"],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("mode=fast"), "{err}");
    no_job_on("prod");

    // The server fails the export, or the import: its message is shown, nothing is made.
    let export_failed = JobFaults {
        export_failed: true,
        ..Default::default()
    };
    let import_failed = JobFaults {
        import_failed: true,
        ..Default::default()
    };
    for (env, jobs, status, named) in [
        ("dev", export_failed, "EXPORT_FAILED", "export_failed"),
        ("prod", import_failed, "IMPORT_FAILED", "import_failed"),
    ] {
        sb.set_jobs(env, jobs);
        let out = output(&mut strategy(
            &sb,
            "clone",
            "dev",
            "prod",
            &["--select", "project:Sales"],
        ));
        expect(&out, 1);
        let err = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
        assert!(err.contains(status) && err.contains(named), "{err}");
        assert!(
            content(&sb, "prod")["projects"]
                .as_object()
                .unwrap()
                .is_empty()
        );
        sb.set_jobs(env, JobFaults::default());
    }

    // A package over --max-file-size is not restored.
    let out = output(&mut strategy(
        &sb,
        "clone",
        "big",
        "prod",
        &["--option", "mode=package", "--max-file-size", "1MB"],
    ));
    expect(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("--max-file-size"), "{err}");
    assert!(
        content(&sb, "prod")["projects"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

/// Wait until `cond` holds (or fail after a minute).
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn side_status(sb: &Sandbox, env: &str) -> Vec<String> {
    jobs(sb, env).into_iter().map(|(_, s)| s).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_job_on_both_sides() {
    let sb = sandbox(
        vec![EnvSpec::seeded("dev", Seed::Demo), EnvSpec::new("prod")],
        1500,
    )
    .await;
    let mut child = strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--select", "project:Tutorial"],
    )
    .spawn()
    .unwrap();
    tokio::task::block_in_place(|| {
        until("the job runs on both sides", || {
            side_status(&sb, "prod")
                .iter()
                .any(|s| s == "IMPORT_SYNCING")
        })
    });
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let code = tokio::task::block_in_place(|| child.wait().unwrap()).code();
    assert_eq!(code, Some(130));
    tokio::task::block_in_place(|| {
        until("both sides are cancelled", || {
            side_status(&sb, "dev") == ["CANCELLED"] && side_status(&sb, "prod") == ["CANCELLED"]
        })
    });
    assert!(
        content(&sb, "prod")["projects"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_export_or_import_a_rerun_completes_one_duplication() {
    let sb = sandbox(
        vec![
            EnvSpec::seeded("dev", Seed::Demo),
            EnvSpec::new("reference"),
            EnvSpec::new("prod"),
            EnvSpec::new("qa"),
        ],
        500,
    )
    .await;
    let select = ["--select", "project:Tutorial"];
    expect(
        &output(&mut strategy(&sb, "clone", "dev", "reference", &select)),
        0,
    );
    let expected = content(&sb, "reference");
    for (target, mode, phase) in [
        ("prod", "sync", "EXPORTING"),
        ("qa", "package", "IMPORTING"),
    ] {
        let mode = format!("mode={mode}");
        let args = [select[0], select[1], "--option", &mode];
        let mut child = strategy(&sb, "clone", "dev", target, &args)
            .spawn()
            .unwrap();
        tokio::task::block_in_place(|| {
            until(&format!("{target}: {phase}"), || {
                side_status(&sb, "dev").iter().any(|s| s == phase)
                    || side_status(&sb, target).iter().any(|s| s == phase)
            })
        });
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let out = output(&mut strategy(&sb, "clone", "dev", target, &args));
        expect(&out, 0);
        assert_eq!(
            content(&sb, target),
            expected,
            "{target} after a kill during {phase}"
        );
        let on_target: Vec<String> = side_status(&sb, target);
        assert_eq!(
            on_target.iter().filter(|s| *s == "COMPLETED").count(),
            1,
            "{target}: exactly one duplication completed: {on_target:?}"
        );
    }
    // One export per target (reference, prod, qa): each re-run found its job again.
    assert_eq!(jobs(&sb, "dev").len(), 3, "{:?}", jobs(&sb, "dev"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_expiring_sessions_do_not_stop_a_duplication() {
    let sb = sandbox(
        vec![
            EnvSpec::seeded("dev", Seed::Demo),
            EnvSpec::new("reference"),
            EnvSpec::new("prod"),
        ],
        400,
    )
    .await;
    expect(
        &output(&mut strategy(&sb, "clone", "dev", "reference", &[])),
        0,
    );
    let faults = Faults {
        error_rate: 0.1,
        drop_rate: 0.03,
        rate_limit: 40,
        ..Default::default()
    };
    sb.set_faults("dev", faults.clone()).unwrap();
    sb.set_faults("prod", faults).unwrap();
    let mut child = strategy(&sb, "clone", "dev", "prod", &["--option", "mode=package"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Sessions expire under the running job, twice on each side: once its exports are on
    // the source (both sides are signed in by then; a sign-in that faults delayed took
    // 3.5 s, and sessions expired before it found nothing to renew), then 0.7 s later.
    let before = jobs(&sb, "dev").len();
    tokio::task::block_in_place(|| {
        let waited = std::time::Instant::now();
        while jobs(&sb, "dev").len() == before && waited.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..2 {
            sb.expire_sessions("dev");
            sb.expire_sessions("prod");
            std::thread::sleep(Duration::from_millis(700));
        }
    });
    let status = tokio::task::block_in_place(|| child.wait().unwrap());
    sb.set_faults("dev", Faults::default()).unwrap();
    sb.set_faults("prod", Faults::default()).unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(content(&sb, "prod"), content(&sb, "reference"));
    let relogins = sb
        .log()
        .iter()
        .filter(|l| l.org == "prod" && l.path == "auth/login" && l.status == 204)
        .count();
    assert!(
        relogins >= 2,
        "the host signed in again after the sessions expired"
    );
}

/// Sessions that end after one idle second, with no grace, under a job that lasts several:
/// the side that waits (the target, while the source exports) is kept alive ahead of its
/// timeout, as the server states it, so no request ever meets an ended session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_outlives_many_session_timeouts_without_a_401() {
    let mut c = Config::local(vec![
        EnvSpec::seeded("dev", Seed::Demo),
        EnvSpec::new("prod"),
    ]);
    // Five steps of a second at least (exporting and importing take two, syncing one): the
    // target waits three of them before its import starts.
    c.step = Duration::from_secs(1);
    c.session_timeout = 1;
    let sb = Sandbox::start(c).await.unwrap();
    let out = output(&mut strategy(&sb, "clone", "dev", "prod", &[]));
    expect(&out, 0);
    let log = sb.log();
    let refused: Vec<String> = log
        .iter()
        .filter(|l| l.status == 401)
        .map(|l| format!("{} {} {}", l.org, l.method, l.path))
        .collect();
    assert!(
        refused.is_empty(),
        "requests met an ended session: {refused:?}"
    );
    for env in ["dev", "prod"] {
        let logins = log
            .iter()
            .filter(|l| l.org == env && l.path == "auth/login")
            .count();
        assert_eq!(logins, 1, "{env}: signed in once, renewed after");
        assert!(
            log.iter()
                .any(|l| l.org == env && l.method == "PUT" && l.path == "sessions"),
            "{env}: kept alive"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_are_not_compared_and_prune_deletes_a_lost_one() {
    let sb = sandbox(
        vec![EnvSpec::seeded("dev", Seed::Demo), EnvSpec::new("prod")],
        20,
    )
    .await;
    expect(&output(&mut strategy(&sb, "clone", "dev", "prod", &[])), 0);
    let before: Vec<String> = sb.dump("prod")["projects"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(before.len(), 2, "{before:?}");
    // A project as listed does not show its objects: diff says it cannot compare them,
    // and that is no difference.
    let out = output(&mut strategy(
        &sb,
        "diff",
        "dev",
        "prod",
        &["--output", "json"],
    ));
    expect(&out, 0);
    assert_eq!(json_of(&out)["not_compared"].as_array().unwrap().len(), 2);

    let (gone, kept) = (&before[0], &before[1]);
    sb.remove_project("dev", gone);
    let changes = |sb: &Sandbox| {
        sb.writes_to("prod")
            .into_iter()
            .filter(|w| !w.path.starts_with("auth/") && w.path != "sessions")
            .count()
    };
    let writes = changes(&sb);
    let out = output(&mut strategy(
        &sb,
        "plan",
        "dev",
        "prod",
        &["--prune", "--allow-delete", "1", "--detailed-exitcode"],
    ));
    expect(&out, 3);
    assert_eq!(changes(&sb), writes, "a plan deletes nothing");
    let out = output(&mut strategy(
        &sb,
        "clone",
        "dev",
        "prod",
        &["--prune", "--allow-delete", "1", "--output", "json"],
    ));
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["deletes"][0]["outcome"], "deleted", "{report:#}");
    assert_eq!(report["deletes"][0]["key"], gone.as_str());
    let after: Vec<String> = sb.dump("prod")["projects"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(&after, std::slice::from_ref(kept));
    source_only_ran_jobs(&sb, "dev");
}

/// `ferry export --platform strategy` of `from`, its password in the manifest's variable.
fn strategy_export(sb: &Sandbox, from: &str, out: &std::path::Path) -> Command {
    let s = sb.env(from);
    let mut c = ferry_command();
    c.args(["export", "--platform", "strategy"])
        .args(["--source-url", &s.url, "--source-user", &s.username])
        .args(["--option", "poll-max-s=1", "--out"])
        .arg(out)
        .env("STRATEGY_SOURCE_PASSWORD", &s.password);
    c
}

/// `ferry SUB --from-package` into `to`.
fn strategy_restore(
    sb: &Sandbox,
    sub: &str,
    package: &std::path::Path,
    to: &str,
    extra: &[&str],
) -> Command {
    let t = sb.env(to);
    let mut c = ferry_command();
    c.arg(sub)
        .arg("--from-package")
        .arg(package)
        .args(["--target-url", &t.url, "--target-user", &t.username])
        .args(["--option", "poll-max-s=1"])
        .args(extra)
        .env("STRATEGY_TARGET_PASSWORD", &t.password);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_package_restores_through_restoration_as_a_direct_clone_does() {
    let sb = sandbox(
        vec![
            EnvSpec::seeded("dev", Seed::Demo),
            EnvSpec::new("prod"),
            EnvSpec::new("qa"),
        ],
        20,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("dev.ferrypkg");
    expect(&output(&mut strategy(&sb, "clone", "dev", "prod", &[])), 0);

    let before = content(&sb, "dev");
    let out = output(strategy_export(&sb, "dev", &package).args(["--output", "json"]));
    expect(&out, 0);
    let done = json_of(&out);
    assert_eq!(done["counts"]["project"], 2, "{done:#}");
    assert_eq!(done["files"], 2, "one server package per project: {done:#}");
    // An export writes nothing to the source but its duplication jobs.
    source_only_ran_jobs(&sb, "dev");
    assert_eq!(content(&sb, "dev"), before);
    let jobs_before = jobs(&sb, "dev").len();
    let source_writes = sb.writes_to("dev").len();

    // The platform comes from the package; the platform's password is never in it.
    let raw = std::fs::read(&package).unwrap();
    let password = sb.env("dev").password.clone();
    assert!(
        !raw.windows(password.len())
            .any(|w| w == password.as_bytes())
    );
    let out = output(&mut strategy_restore(
        &sb,
        "clone",
        &package,
        "qa",
        &["--output", "json"],
    ));
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["kinds"]["project"]["created"], 2, "{report:#}");
    let item = &report["items"][0]["files"]["duplication"];
    assert_eq!(
        item["mode"], "package",
        "a restore is always a restoration: {report:#}"
    );
    assert!(item["restoration"].is_string(), "{report:#}");
    assert_eq!(
        content(&sb, "qa")["projects"],
        content(&sb, "prod")["projects"]
    );
    assert_eq!(
        jobs(&sb, "dev").len(),
        jobs_before,
        "a restore started a job on the source"
    );
    assert_eq!(
        sb.writes_to("dev").len(),
        source_writes,
        "a restore reached the source"
    );

    // Again: both projects exist, nothing is restored.
    let writes = sb
        .writes_to("qa")
        .iter()
        .filter(|w| !w.path.starts_with("auth/") && w.path != "sessions")
        .count();
    let out = output(&mut strategy_restore(
        &sb,
        "clone",
        &package,
        "qa",
        &["--output", "json"],
    ));
    expect(&out, 0);
    assert_eq!(json_of(&out)["kinds"]["project"]["adopted"], 2);
    let now = sb
        .writes_to("qa")
        .iter()
        .filter(|w| !w.path.starts_with("auth/") && w.path != "sessions")
        .count();
    assert_eq!(now, writes, "a second restore wrote");
}

/// A request's structure: method, path (ids as `{id}`), query keys, and the body's keys with
/// their JSON types (arrays by their items' structure), the values left out.
fn structure(l: &ferry_sandbox::kit::log::LogEntry) -> String {
    fn shape(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
            }
            Value::Array(a) => {
                let mut items: Vec<Value> = a.iter().map(shape).collect();
                items.sort_by_key(|v| v.to_string());
                items.dedup();
                Value::Array(items)
            }
            Value::String(_) => json!("string"),
            Value::Number(_) => json!("number"),
            Value::Bool(_) => json!("bool"),
            Value::Null => json!("null"),
        }
    }
    let id = |s: &str| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit());
    let path: Vec<&str> = l
        .path
        .split('/')
        .map(|s| if id(s) { "{id}" } else { s })
        .collect();
    let mut keys: Vec<&str> = l
        .query
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    let body = l.body.as_ref().map(shape).unwrap_or(Value::Null);
    format!(
        "{} {} ?{} {}",
        l.method,
        path.join("/"),
        keys.join("&"),
        body
    )
}

/// Fidelity, judged by Strategy's own SDK: for a cross-environment sync duplication and a
/// package restored on the target, with the pack's defaults (every object, users and roles
/// kept as the target has them), every write the pack sends to the duplication API has the
/// structure of one mstrio-py sends for the same operation (path, method, query keys, body
/// keys and types), and the pack sends every write mstrio-py does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pack_sends_what_strategy_s_sdk_sends() {
    let python = tokio::task::spawn_blocking(|| {
        crate::support::reference::mstrio_python(&crate::support::repo_root())
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    let mut c = Config::local(vec![
        EnvSpec::seeded("dev", Seed::Demo),
        EnvSpec::new("sdk"),
        EnvSpec::new("pack"),
    ]);
    c.step = Duration::from_millis(50);
    c.keep_bodies = true;
    let sb = Sandbox::start(c).await.unwrap();
    let (dev, sdk) = (sb.env("dev").clone(), sb.env("sdk").clone());
    let work = tempfile::tempdir().unwrap();
    let script = crate::support::repo_root().join("tests/strategy_sdk/differential.py");
    let out = tokio::task::block_in_place(|| {
        Command::new(&python)
            .arg(&script)
            .args(["--source", &dev.url, "--source-user", &dev.username])
            .args(["--source-password", &dev.password])
            .args(["--target", &sdk.url, "--target-user", &sdk.username])
            .args(["--target-password", &sdk.password])
            .args(["--project", "Tutorial"])
            .args(["--workdir", work.path().to_str().unwrap()])
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "mstrio-py:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sdk_until = sb.log().len();
    for mode in ["sync", "package"] {
        let file = work.path().join(format!("{mode}.toml"));
        std::fs::write(
            &file,
            format!("[kinds.project]\nrename = {{ regex = '^(.*)$', to = \"$1 {mode}\" }}\n"),
        )
        .unwrap();
        let out = output(&mut strategy(
            &sb,
            "clone",
            "dev",
            "pack",
            &[
                "--option",
                &format!("mode={mode}"),
                "--config",
                file.to_str().unwrap(),
                "--select",
                "project:Tutorial",
            ],
        ));
        expect(&out, 0);
    }
    let log = sb.log();
    // The duplication API's writes, as each client sent them (the source's are on dev).
    let writes =
        |range: std::ops::Range<usize>, target: &str| -> std::collections::BTreeSet<String> {
            log[range]
                .iter()
                .filter(|l| l.is_write() && l.path.starts_with("projectDuplications"))
                .filter(|l| l.org == "dev" || l.org == target)
                .map(|l| {
                    format!(
                        "{} {}",
                        if l.org == "dev" { "source" } else { "target" },
                        structure(l)
                    )
                })
                .collect()
        };
    let by_sdk = writes(0..sdk_until, "sdk");
    let by_pack = writes(sdk_until..log.len(), "pack");
    let only_sdk: Vec<&String> = by_sdk.difference(&by_pack).collect();
    let only_pack: Vec<&String> = by_pack.difference(&by_sdk).collect();
    assert!(
        only_sdk.is_empty() && only_pack.is_empty(),
        "only mstrio-py sent:\n{}\nonly the pack sent:\n{}",
        only_sdk
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        only_pack
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Both made their copies.
    for env in ["sdk", "pack"] {
        for p in ["Tutorial sync", "Tutorial package"] {
            assert!(!object_names(&sb, env, p).is_empty(), "{env}: {p}");
        }
    }
}

/// `--option keep-id`: the project a run creates has the source project's id, in both modes;
/// without it, a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_id_gives_the_copy_the_source_project_s_id() {
    let sb = sandbox(
        vec![
            EnvSpec::seeded("dev", Seed::Demo),
            EnvSpec::new("prod"),
            EnvSpec::new("qa"),
            EnvSpec::new("uat"),
        ],
        50,
    )
    .await;
    let ids = |env: &str| -> Vec<(String, String)> {
        let report = json_of(&output(&mut strategy(
            &sb,
            "clone",
            "dev",
            env,
            &match env {
                "uat" => vec!["--output", "json"],
                "qa" => vec![
                    "--output",
                    "json",
                    "--option",
                    "keep-id=true",
                    "--option",
                    "mode=package",
                ],
                _ => vec!["--output", "json", "--option", "keep-id=true"],
            },
        )));
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["source_id"].as_str().unwrap().to_string(),
                    i["target_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    for env in ["prod", "qa"] {
        let pairs = ids(env);
        assert_eq!(pairs.len(), 2, "{env}: {pairs:?}");
        assert!(pairs.iter().all(|(s, t)| s == t), "{env}: {pairs:?}");
    }
    let pairs = ids("uat");
    assert!(pairs.iter().all(|(s, t)| s != t), "{pairs:?}");
}
