//! `ferry serve` is platform-neutral: Strategy's projects duplicated by server-side jobs,
//! run as ferry jobs. The environments sign in with a user and a password from a variable;
//! the job reports the Strategy job's own progress; cancelling the ferry job cancels the
//! duplication on both sides; no password in any answer, the store or the server's log.

use crate::support::serve::{OPERATOR, Serve, VIEWER, tokens};
use ferry_sandbox::strategy::{Config, EnvSpec, Sandbox, Seed};
use std::time::{Duration, Instant};

fn side_status(sb: &Sandbox, env: &str) -> Vec<String> {
    sb.dump(env)["duplications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_duplication_runs_as_a_job_and_a_cancel_reaches_both_sides() {
    let mut c = Config::local(vec![
        EnvSpec::seeded("dev", Seed::Demo),
        EnvSpec::new("prod"),
        EnvSpec::new("uat"),
    ]);
    c.step = Duration::from_millis(400);
    let sb = Sandbox::start(c).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut text = String::from("store = \"jobs.sqlite\"\n");
    text += &tokens();
    let mut vars = vec![];
    for env in ["dev", "prod", "uat"] {
        let e = sb.env(env);
        text += &format!(
            "[environments.{env}]\nplatform = \"strategy\"\nurl = \"{}\"\n[environments.{env}.auth]\nusername = \"{}\"\npassword_env = \"TEST_PW_{}\"\n\n",
            e.url,
            e.username,
            env.to_uppercase()
        );
        vars.push((
            format!("TEST_PW_{}", env.to_uppercase()),
            e.password.clone(),
        ));
    }
    for to in ["prod", "uat"] {
        text += &format!(
            "[promotions.dev-to-{to}]\nsource = \"dev\"\ntarget = \"{to}\"\nfile = \"tutorial.toml\"\n\n"
        );
    }
    std::fs::write(dir.path().join("server.toml"), text).unwrap();
    std::fs::write(
        dir.path().join("tutorial.toml"),
        "[run]\nselect = [\"project:Tutorial\"]\noptions = { \"poll-max-s\" = 1 }\n",
    )
    .unwrap();
    let srv = Serve::start_with(dir.path(), &vars, state.path());

    // A duplication, watched: the server-side job's percent shows in the job's log.
    let job = srv.start_job("dev-to-prod", "clone").await;
    let id = job["id"].as_str().unwrap().to_string();
    let job = srv.wait(&id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["counts"]["created"], 1, "{job}");
    assert!(sb.dump("prod")["projects"]["Tutorial"].is_object());
    let log = srv
        .expect("GET", &format!("/v1/jobs/{id}/log"), VIEWER, None, 200)
        .await;
    let lines: Vec<&str> = log["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains('%')),
        "the Strategy job's progress: {lines:?}"
    );

    // Another, cancelled while the target imports: both sides' duplications end cancelled.
    let job = srv.start_job("dev-to-uat", "clone").await;
    let id = job["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    while !side_status(&sb, "uat")
        .iter()
        .any(|s| s == "IMPORT_SYNCING")
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the duplication never reached uat"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    srv.expect(
        "POST",
        &format!("/v1/jobs/{id}/cancel"),
        OPERATOR,
        None,
        202,
    )
    .await;
    let job = srv.wait(&id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    let t = Instant::now();
    while side_status(&sb, "uat") != ["CANCELLED"]
        || !side_status(&sb, "dev").iter().any(|s| s == "CANCELLED")
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "not cancelled on both sides: {:?} {:?}",
            side_status(&sb, "dev"),
            side_status(&sb, "uat")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sb.dump("uat")["projects"].as_object().unwrap().is_empty());

    // No password anywhere the server keeps or says.
    let answers = format!(
        "{}{}",
        srv.expect("GET", "/v1/jobs", VIEWER, None, 200).await,
        srv.expect("GET", &format!("/v1/jobs/{id}/report"), VIEWER, None, 200)
            .await
    );
    let store = std::fs::read(dir.path().join("jobs.sqlite")).unwrap();
    let wal = std::fs::read(dir.path().join("jobs.sqlite-wal")).unwrap_or_default();
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let kept = format!(
        "{answers}{}{}{log}",
        String::from_utf8_lossy(&store),
        String::from_utf8_lossy(&wal)
    );
    for (_, password) in &vars {
        assert!(
            !kept.contains(password.as_str()),
            "a password in an answer, the store or the log"
        );
    }
}
