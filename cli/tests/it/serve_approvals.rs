//! Approvals: a promotion that asks for one applies exactly the plan that was approved. A
//! clone job plans and waits; an approver (never the job's starter, never a viewer or an
//! operator) approves the plan's digest; the job plans again and applies only if the plan is
//! the same, else it waits for approval of the new one. A rejection ends it. Nothing reaches
//! the target before the approval.

use crate::support::serve::{
    ADMIN, OPERATOR, Serve, VIEWER, ask_approval, hash_of, sandbox, write_config,
};
use ferry_sandbox::unstract::{Sandbox, Seed};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const APPROVER: &str = "test-approver-token";

/// A server whose `dev-to-t0` asks for one approval by the approver role.
async fn server() -> (Sandbox, Serve, tempfile::TempDir, tempfile::TempDir) {
    let sb = sandbox(Seed::Demo, &["t0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &sb, &["t0"], 2, &[]);
    ask_approval(&path, "dev-to-t0", "{ role = \"approver\", count = 1 }");
    let text = std::fs::read_to_string(&path).unwrap()
        + format!(
            "[[tokens]]\nname = \"approver\"\nrole = \"approver\"\nsha256 = \"{}\"\n",
            hash_of(APPROVER)
        )
        .as_str();
    std::fs::write(&path, text).unwrap();
    let srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    (sb, srv, dir, state)
}

/// Wait until job `id` is `status`.
async fn until(srv: &Serve, id: &str, status: &str) -> Value {
    let t = Instant::now();
    loop {
        let job = srv
            .expect("GET", &format!("/v1/jobs/{id}"), VIEWER, None, 200)
            .await;
        if job["status"] == status {
            return job;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "never {status}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn decide(srv: &Serve, id: &str, token: &str, what: &str, body: Value, status: u16) -> Value {
    srv.expect(
        "POST",
        &format!("/v1/jobs/{id}/{what}"),
        token,
        Some(body),
        status,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_applies_only_the_plan_an_approver_approved() {
    let (sb, srv, _dir, _state) = server().await;
    let id = srv.start_job("dev-to-t0", "clone").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = until(&srv, &id, "awaiting_approval").await;
    assert!(sb.writes_to("t0").is_empty(), "nothing before the approval");
    let digest = job["approval"]["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{job}");
    let plan = srv
        .expect("GET", &format!("/v1/jobs/{id}/plan"), VIEWER, None, 200)
        .await;
    assert_eq!(
        plan["digest"],
        digest.as_str(),
        "the plan shown is the one to approve"
    );

    // Who may not: a viewer, an operator (the role), the job's starter; a wrong digest.
    for token in [VIEWER, OPERATOR] {
        let e = decide(&srv, &id, token, "approve", json!({"digest": digest}), 403).await;
        assert_eq!(e["error"]["code"], "forbidden", "{e}");
    }
    let e = decide(
        &srv,
        &id,
        APPROVER,
        "approve",
        json!({"digest": "sha256:0"}),
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "digest_mismatch", "{e}");

    let job = decide(
        &srv,
        &id,
        APPROVER,
        "approve",
        json!({"digest": digest}),
        200,
    )
    .await;
    assert_eq!(job["approval"]["decisions"][0]["by"], "approver", "{job}");
    let job = srv.wait(&id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["counts"]["created"].as_u64().unwrap() > 10, "{job}");
    assert_eq!(job["approval"]["approved"], digest.as_str());
    let report = srv
        .expect("GET", &format!("/v1/jobs/{id}/report"), VIEWER, None, 200)
        .await;
    assert_eq!(report["digest"], digest.as_str(), "it applied that plan");
    assert_eq!(report["approvals"][0]["by"], "approver", "{report}");
    let log = srv
        .expect("GET", &format!("/v1/jobs/{id}/log"), VIEWER, None, 200)
        .await
        .to_string();
    assert!(log.contains("approved by approver"), "{log}");
    let e = decide(
        &srv,
        &id,
        APPROVER,
        "approve",
        json!({"digest": digest}),
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "not_awaiting_approval", "{e}");

    // A plan made without approval (mode plan) never waits.
    let p = srv.start_job("dev-to-t0", "plan").await;
    let p = srv
        .wait(p["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(p["status"], "succeeded", "{p}");
    assert!(p["approval"].is_null(), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_starter_may_not_approve_and_a_rejection_ends_the_job() {
    let (sb, srv, _dir, _state) = server().await;
    // The admin may approve others' jobs, not its own.
    let id = srv
        .expect(
            "POST",
            "/v1/jobs",
            ADMIN,
            Some(json!({"promotion": "dev-to-t0", "mode": "clone"})),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = until(&srv, &id, "awaiting_approval").await;
    let digest = job["approval"]["digest"].clone();
    let e = decide(&srv, &id, ADMIN, "approve", json!({"digest": digest}), 403).await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another must approve"),
        "{e}"
    );
    let e = decide(&srv, &id, VIEWER, "reject", json!({}), 403).await;
    assert_eq!(e["error"]["code"], "forbidden");
    let job = decide(
        &srv,
        &id,
        APPROVER,
        "reject",
        json!({"reason": "not this week"}),
        200,
    )
    .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(job["message"], "rejected by approver: not this week");
    assert_eq!(job["approval"]["decisions"][0]["verdict"], "rejected");
    assert!(
        sb.writes_to("t0").is_empty(),
        "a rejected plan writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_changed_after_the_plan_asks_for_approval_again() {
    let (sb, srv, _dir, _state) = server().await;
    let id = srv.start_job("dev-to-t0", "clone").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = until(&srv, &id, "awaiting_approval").await;
    let first = job["approval"]["digest"].as_str().unwrap().to_string();
    // The source changes between the plan and its approval.
    let resp = reqwest::Client::new()
        .post(format!("{}tags/", sb.org_url("dev")))
        .bearer_auth(sb.keys("dev").full_access)
        .json(&json!({"name": "added after the plan"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    decide(
        &srv,
        &id,
        APPROVER,
        "approve",
        json!({"digest": first}),
        200,
    )
    .await;
    // It planned again, found another plan, wrote nothing, and waits for its approval.
    let t = Instant::now();
    let job = loop {
        let job = until(&srv, &id, "awaiting_approval").await;
        if job["approval"]["digest"] != first.as_str() {
            break job;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        sb.writes_to("t0").is_empty(),
        "the changed plan was not applied"
    );
    let message = job["message"].as_str().unwrap();
    assert!(
        message.contains("the plan changed") && message.contains("added after the plan"),
        "{job}"
    );
    let second = job["approval"]["digest"].as_str().unwrap().to_string();
    let job = decide(
        &srv,
        &id,
        APPROVER,
        "approve",
        json!({"digest": second}),
        200,
    )
    .await;
    assert_eq!(job["status"], "queued", "{job}");
    let job = srv.wait(&id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let decisions = job["approval"]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2, "{job}");
}
