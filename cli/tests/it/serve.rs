//! `ferry serve` end to end against the sandbox: jobs started, polled, planned, reported,
//! logged, streamed, cancelled, listed, exported, restored and deleted through the API;
//! 401 and 403; no secret in any answer. Then the load (50 jobs onto 5 targets, never two
//! writing one target at once), a SIGKILL mid-job (every job ends succeeded, every target
//! as an uninterrupted clone makes it), and a CLI run and a server job on one target.

use crate::support;
use crate::support::serve::{ADMIN, OPERATOR, Serve, VIEWER, sandbox, write_config};
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::{Sandbox, Seed};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};

/// The restore's rules: the secrets a package leaves out.
const RESTORE_RULES: &str = r#"
[kinds.adapter]
set = { "/adapter_metadata" = { credential = "restored" } }
[kinds.connector]
set = { "/connector_metadata" = { token = "restored" } }
"#;

/// Every secret the run knows: the sandbox's keys and the server's tokens.
fn secrets(sb: &Sandbox, orgs: &[&str]) -> Vec<String> {
    let mut s = vec![
        sb.admin_key().to_string(),
        VIEWER.into(),
        OPERATOR.into(),
        ADMIN.into(),
    ];
    for o in orgs {
        let k = sb.keys(o);
        s.extend([k.read, k.read_write, k.full_access]);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_jobs_end_to_end() {
    let targets = ["t0", "t1", "t2", "reference"];
    let sb = sandbox(Seed::Demo, &targets).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &targets, 2, &[("t2", RESTORE_RULES)]);
    let srv = Serve::start(dir.path(), &sb, &targets, state.path());
    let mut answers: Vec<String> = vec![];

    // Tokens and roles.
    let (s, body) = srv.call("GET", "/v1/jobs", None, None).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "unauthorized"
    );
    assert_eq!(
        srv.call("GET", "/v1/jobs", Some("not-a-token"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        srv.call(
            "GET",
            "/v1/jobs",
            Some(&support::serve::hash_of(VIEWER)),
            None
        )
        .await
        .0,
        401,
        "a hash is not a token"
    );
    // Bad input is answered in the API's error shape, never a 500 or plain text.
    let e = srv
        .expect(
            "GET",
            "/v1/jobs?offset=9223372036854775808",
            VIEWER,
            None,
            400,
        )
        .await;
    assert_eq!(e["error"]["code"], "bad_request", "{e}");
    srv.expect(
        "GET",
        "/v1/jobs?offset=9223372036854775807",
        VIEWER,
        None,
        200,
    )
    .await;
    let e = srv.expect("GET", "/v1/jobs/%FF", VIEWER, None, 400).await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("job id"),
        "{e}"
    );
    // Every answer carries the security headers, an error's too; the dashboard has an icon.
    for (path, token, status) in [
        ("/", None, 200),
        ("/v1/jobs", None, 401),
        ("/v1/jobs", Some(VIEWER), 200),
        ("/favicon.ico", None, 200),
    ] {
        let mut r = reqwest::Client::new().get(format!("{}{path}", srv.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let h = resp.headers();
        assert_eq!(
            h["content-security-policy"], "default-src 'self'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        if path == "/favicon.ico" {
            assert_eq!(h["content-type"], "image/svg+xml");
        }
    }
    let who = srv.expect("GET", "/v1/whoami", VIEWER, None, 200).await;
    assert_eq!(who, json!({"name": "viewer", "role": "viewer"}));
    let e = srv
        .expect(
            "POST",
            "/v1/jobs",
            VIEWER,
            Some(json!({"promotion": "dev-to-t0", "mode": "clone"})),
            403,
        )
        .await;
    assert_eq!(e["error"]["code"], "forbidden");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("operator"),
        "{e}"
    );
    // Bad requests name what is wrong; nothing is queued.
    let e = srv
        .expect(
            "POST",
            "/v1/jobs",
            OPERATOR,
            Some(json!({"promotion": "nope", "mode": "clone"})),
            400,
        )
        .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dev-to-t0"),
        "{e}"
    );
    // Each rejection has its own code: a body of the wrong shape, type or size.
    let e = srv
        .expect(
            "POST",
            "/v1/jobs",
            OPERATOR,
            Some(json!({"promotion": "dev-to-t0", "mode": "merge"})),
            422,
        )
        .await;
    assert_eq!(e["error"]["code"], "unprocessable");
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/jobs", srv.url))
        .bearer_auth(OPERATOR)
        .body("promotion=dev-to-t0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "unsupported_media_type");
    // A restore's package must name a job: 404 for none.
    let e = srv
        .expect(
            "POST",
            "/v1/jobs",
            OPERATOR,
            Some(json!({"promotion": "dev-to-t0", "mode": "restore", "package": "01NOSUCHJOB"})),
            404,
        )
        .await;
    assert_eq!(e["error"]["code"], "not_found");
    // Query values past the document's bounds are refused, naming the parameter.
    for (query, name) in [
        ("limit=501", "limit"),
        ("status=", "status"),
        ("status=queued,,failed", "status"),
    ] {
        let e = srv
            .expect("GET", &format!("/v1/jobs?{query}"), VIEWER, None, 400)
            .await;
        assert!(
            e["error"]["message"].as_str().unwrap().starts_with(name),
            "{query}: {e}"
        );
    }
    srv.expect(
        "POST",
        "/v1/jobs",
        OPERATOR,
        Some(json!({"promotion": "dev-to-t0", "mode": "restore"})),
        400,
    )
    .await;
    let big = json!({"promotion": "x".repeat(100_000), "mode": "clone"});
    let (status, body) = srv
        .call("POST", "/v1/jobs", Some(OPERATOR), Some(big))
        .await;
    assert_eq!(status, 413);
    assert!(body.contains("payload_too_large"), "{body}");
    assert_eq!(
        srv.expect("GET", "/v1/jobs", VIEWER, None, 200).await["total"],
        0
    );

    // A plan, then a clone.
    let plan = srv.start_job("dev-to-t0", "plan").await;
    assert_eq!(
        (plan["status"].as_str(), plan["started_by"].as_str()),
        (Some("queued"), Some("operator"))
    );
    let plan = srv
        .wait(plan["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(plan["status"], "succeeded", "{plan}");
    assert!(plan["counts"]["create"].as_u64().unwrap() > 10, "{plan}");
    let pid = plan["id"].as_str().unwrap();
    let p = srv
        .expect("GET", &format!("/v1/jobs/{pid}/plan"), VIEWER, None, 200)
        .await;
    assert_eq!(p["dry_run"], true);
    assert!(sb.writes_to("t0").is_empty(), "a plan writes nothing");

    let clone = srv.start_job("dev-to-t0", "clone").await;
    let id = clone["id"].as_str().unwrap().to_string();
    // Its events: job records with progress, log lines, then the end, and the stream closes.
    let (status, events) = srv
        .call("GET", &format!("/v1/jobs/{id}/events"), Some(VIEWER), None)
        .await;
    assert_eq!(status, 200);
    assert!(events.contains("event: end"), "{events}");
    assert!(events.contains("event: log"), "{events}");
    let job = srv.wait(&id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["percent"], 100);
    assert!(job["started"].is_string() && job["finished"].is_string());
    assert!(
        job["source"]
            .as_str()
            .unwrap()
            .starts_with("dev @ http://127.0.0.1"),
        "{job}"
    );
    let report = srv
        .expect("GET", &format!("/v1/jobs/{id}/report"), VIEWER, None, 200)
        .await;
    assert_eq!(report["dry_run"], false);
    assert!(
        report["kinds"]["adapter"]["created"].as_u64().unwrap() > 0,
        "{report}"
    );
    // The job's target is what the CLI's clone makes.
    support::expect(
        &support::output(
            support::ferry_between("clone", &sb, "dev", "reference")
                .env("FERRY_STATE_DIR", state.path()),
        ),
        0,
    );
    assert_eq!(sb.dump("t0"), sb.dump("reference"));
    // Its log is its own.
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
        lines
            .iter()
            .any(|l| l.starts_with("started (clone dev-to-t0")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("created adapter")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("(plan dev-to-t0")),
        "another job's line: {lines:?}"
    );
    let newer = srv
        .expect(
            "GET",
            &format!("/v1/jobs/{id}/log?after=3"),
            VIEWER,
            None,
            200,
        )
        .await;
    assert_eq!(newer["lines"][0]["seq"], 4);
    answers.extend([p.to_string(), report.to_string(), log.to_string(), events]);

    // Cancel: a slow clone stops; a finished job cannot be cancelled.
    sb.set_faults(
        "t1",
        Faults {
            latency_ms: 100,
            ..Default::default()
        },
    )
    .unwrap();
    let slow = srv.start_job("dev-to-t1", "clone").await;
    let sid = slow["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    while sb.writes_to("t1").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the slow clone never wrote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second job on the same target waits in the queue; cancelled there, it never runs.
    let queued = srv.start_job("dev-to-t1", "clone").await;
    let qid = queued["id"].as_str().unwrap().to_string();
    assert_eq!(
        srv.expect("GET", &format!("/v1/jobs/{qid}"), VIEWER, None, 200)
            .await["status"],
        "queued"
    );
    let q = srv
        .expect(
            "POST",
            &format!("/v1/jobs/{qid}/cancel"),
            OPERATOR,
            None,
            202,
        )
        .await;
    assert_eq!(
        (q["status"].as_str(), q["started"].as_str()),
        (Some("cancelled"), None),
        "{q}"
    );
    assert_eq!(
        srv.expect("POST", &format!("/v1/jobs/{sid}/cancel"), VIEWER, None, 403)
            .await["error"]["code"],
        "forbidden"
    );
    let c = srv
        .expect(
            "POST",
            &format!("/v1/jobs/{sid}/cancel"),
            OPERATOR,
            None,
            202,
        )
        .await;
    assert_eq!(c["status"], "cancelling");
    // A running job is not deleted.
    assert_eq!(
        srv.expect("DELETE", &format!("/v1/jobs/{sid}"), ADMIN, None, 409)
            .await["error"]["code"],
        "not_finished"
    );
    let c = srv.wait(&sid, Duration::from_secs(120)).await;
    assert_eq!(c["status"], "cancelled", "{c}");
    let written = sb.writes_to("t1").len();
    let all = sb.writes_to("t0").len();
    assert!(
        written < all,
        "the cancelled clone stopped early ({written} of {all} writes)"
    );
    assert_eq!(
        srv.expect(
            "POST",
            &format!("/v1/jobs/{sid}/cancel"),
            OPERATOR,
            None,
            409
        )
        .await["error"]["code"],
        "finished"
    );
    sb.set_faults("t1", Faults::default()).unwrap();

    // Export, download, restore from it.
    let x = srv.start_job("dev-to-t2", "export").await;
    let xid = x["id"].as_str().unwrap().to_string();
    let x = srv.wait(&xid, Duration::from_secs(120)).await;
    assert_eq!(x["status"], "succeeded", "{x}");
    assert_eq!(x["package"], format!("/v1/jobs/{xid}/package"));
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/jobs/{xid}/package", srv.url))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=\"dev-to-t2-{xid}.ferrypkg\"")
    );
    let package = resp.bytes().await.unwrap();
    assert_eq!(&package[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    let r = srv
        .expect(
            "POST",
            "/v1/jobs",
            OPERATOR,
            Some(json!({"promotion": "dev-to-t2", "mode": "restore", "package": xid})),
            201,
        )
        .await;
    // The export may not go while a restore reads its package.
    let e = srv
        .expect("DELETE", &format!("/v1/jobs/{xid}"), ADMIN, None, 409)
        .await;
    assert_eq!(e["error"]["code"], "in_use", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(r["id"].as_str().unwrap()),
        "names the restore: {e}"
    );
    let r = srv
        .wait(r["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    // The secrets are not in a package: the promotion's rules set them.
    assert_eq!(r["status"], "succeeded", "{r}");
    assert!(r["counts"]["created"].as_u64().unwrap() > 10, "{r}");
    let rr = srv
        .expect(
            "GET",
            &format!("/v1/jobs/{}/report", r["id"].as_str().unwrap()),
            VIEWER,
            None,
            200,
        )
        .await;
    assert!(
        !rr["credentials_needed"].to_string().contains("adapter"),
        "{rr}"
    );
    assert_eq!(
        srv.expect("GET", &format!("/v1/jobs/{id}/package"), VIEWER, None, 409)
            .await["error"]["code"],
        "not_ready"
    );
    // A clone job is no package to restore from.
    let e = srv
        .expect(
            "POST",
            "/v1/jobs",
            OPERATOR,
            Some(json!({"promotion": "dev-to-t2", "mode": "restore", "package": id})),
            409,
        )
        .await;
    assert_eq!(e["error"]["code"], "package_unusable", "{e}");

    // List, filter, page.
    let list = srv
        .expect("GET", "/v1/jobs?status=succeeded", VIEWER, None, 200)
        .await;
    assert_eq!(list["total"], 4, "{list}");
    let exports = srv
        .expect(
            "GET",
            "/v1/jobs?status=succeeded&mode=export",
            VIEWER,
            None,
            200,
        )
        .await;
    assert_eq!(
        (exports["total"].as_u64(), exports["jobs"][0]["id"].as_str()),
        (Some(1), Some(xid.as_str()))
    );
    let page = srv
        .expect("GET", "/v1/jobs?offset=1&limit=2", VIEWER, None, 200)
        .await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["jobs"].as_array().unwrap().len()
        ),
        (Some(6), 2)
    );
    let cancelled = srv
        .expect("GET", "/v1/jobs?status=cancelled,failed", VIEWER, None, 200)
        .await;
    let ids: Vec<&str> = cancelled["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [qid.as_str(), sid.as_str()]);
    assert_eq!(
        srv.expect("GET", "/v1/jobs?status=bogus", VIEWER, None, 400)
            .await["error"]["code"],
        "bad_request"
    );
    assert_eq!(
        srv.expect("GET", "/v1/jobs?limit=many", VIEWER, None, 400)
            .await["error"]["code"],
        "bad_request"
    );
    assert_eq!(
        srv.expect("PUT", "/v1/jobs", OPERATOR, None, 405).await["error"]["code"],
        "method_not_allowed"
    );
    answers.push(list.to_string());
    answers.push(
        srv.expect("GET", "/v1/promotions", VIEWER, None, 200)
            .await
            .to_string(),
    );

    // Delete: admins only, finished jobs only.
    assert_eq!(
        srv.expect("DELETE", &format!("/v1/jobs/{pid}"), OPERATOR, None, 403)
            .await["error"]["code"],
        "forbidden"
    );
    srv.expect("DELETE", &format!("/v1/jobs/{pid}"), ADMIN, None, 204)
        .await;
    srv.expect("GET", &format!("/v1/jobs/{pid}"), VIEWER, None, 404)
        .await;
    // A restore whose package went from under the server names the export job, not a path.
    let x2 = srv.start_job("dev-to-t2", "export").await;
    let x2 = srv
        .wait(x2["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    let x2 = x2["id"].as_str().unwrap();
    std::fs::remove_file(dir.path().join("packages").join(format!("{x2}.ferry"))).unwrap();
    let gone = srv
        .expect(
            "POST",
            "/v1/jobs",
            OPERATOR,
            Some(json!({"promotion": "dev-to-t2", "mode": "restore", "package": x2})),
            201,
        )
        .await;
    let gone = srv
        .wait(gone["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(gone["status"], "failed", "{gone}");
    let m = gone["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("export job {x2}'s package is gone")),
        "{m}"
    );
    assert!(!m.contains("packages"), "no server path: {m}");
    srv.expect(
        "DELETE",
        &format!("/v1/jobs/{}", gone["id"].as_str().unwrap()),
        ADMIN,
        None,
        204,
    )
    .await;
    srv.expect("DELETE", &format!("/v1/jobs/{xid}"), ADMIN, None, 204)
        .await;
    assert!(
        !dir.path()
            .join("packages")
            .join(format!("{xid}.ferry"))
            .exists(),
        "its package went too"
    );

    // The OpenAPI document describes every route.
    let doc = srv
        .expect("GET", "/v1/openapi.json", VIEWER, None, 200)
        .await;
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/events",
        "/v1/jobs/{id}/package",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }

    // No secret in any answer, the store or the server's log.
    let store = std::fs::read(dir.path().join("jobs.sqlite")).unwrap();
    let wal = std::fs::read(dir.path().join("jobs.sqlite-wal")).unwrap_or_default();
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let kept = format!(
        "{}{}{}{log}",
        answers.join(""),
        String::from_utf8_lossy(&store),
        String::from_utf8_lossy(&wal)
    );
    for s in secrets(&sb, &["dev", "t0", "t1", "t2", "reference"]) {
        assert!(
            !kept.contains(&s),
            "a secret in an answer, the store or the log"
        );
    }
    for s in secrets(&sb, &["dev", "t2"]) {
        assert!(
            !package.windows(s.len()).any(|w| w == s.as_bytes()),
            "a secret in the package"
        );
    }
}

/// A time of the API (RFC 3339 with milliseconds) as microseconds since `epoch`.
/// How many of process `pid`'s threads are called `name`.
fn threads_named(pid: u32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|comm| comm.trim() == name)
                .count()
        })
        .unwrap_or(0)
}

fn micros_since(t: &str, epoch: SystemTime) -> i64 {
    let at = humantime::parse_rfc3339(t).unwrap();
    match at.duration_since(epoch) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_jobs_onto_five_targets_never_two_writing_one_at_once() {
    let targets = ["t0", "t1", "t2", "t3", "t4"];
    // The sandbox's log counts from its start: the jobs' times are placed on it from here.
    let epoch = SystemTime::now();
    let sb = sandbox(Seed::Small, &targets).await;
    for t in targets {
        sb.set_faults(
            t,
            Faults {
                latency_ms: 5,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &targets, 3, &[]);
    let srv = Serve::start(dir.path(), &sb, &targets, state.path());
    // While the jobs run, count the server's WASM epoch threads: one engine for the process,
    // not one per job's session.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (pid, on) = (srv.child.id(), sampling.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            while on.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(threads_named(pid, "ferry-epoch"));
                std::thread::sleep(Duration::from_millis(20));
            }
            most
        })
    };
    let submitted: Vec<Value> = futures::future::join_all((0..50).map(|i| {
        let srv = &srv;
        async move { srv.start_job(&format!("dev-to-t{}", i % 5), "clone").await }
    }))
    .await;
    let mut jobs = vec![];
    for j in &submitted {
        jobs.push(
            srv.wait(j["id"].as_str().unwrap(), Duration::from_secs(600))
                .await,
        );
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        sampler.join().unwrap(),
        1,
        "WASM engines (epoch threads) at once"
    );
    let log = sb.log();
    let mut most_at_once = 0;
    for t in targets {
        let promotion = format!("dev-to-{t}");
        let mut spans: Vec<(i64, i64)> = jobs
            .iter()
            .filter(|j| j["promotion"] == promotion.as_str())
            .map(|j| {
                assert_eq!(j["status"], "succeeded", "{j}");
                (
                    micros_since(j["started"].as_str().unwrap(), epoch),
                    micros_since(j["finished"].as_str().unwrap(), epoch),
                )
            })
            .collect();
        assert_eq!(spans.len(), 10);
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0, "two jobs on {t} overlap: {w:?}");
        }
        // Every write the target received falls in one job's time (a few ms of slack for
        // the two clocks' start).
        let writes: Vec<_> = log.iter().filter(|l| l.org == t && l.is_write()).collect();
        assert!(!writes.is_empty());
        for w in writes {
            let (s, e) = (w.start_us as i64, w.end_us as i64);
            assert!(
                spans
                    .iter()
                    .any(|(a, b)| s >= a - 20_000 && e <= b + 20_000),
                "a write to {t} outside every job's time: {w:?}"
            );
        }
        assert_eq!(sb.dump(t), sb.dump("t0"), "{t} is not what the others are");
    }
    // Several targets ran at once (the slots were used), never more than --max-jobs.
    let mut all: Vec<(i64, i32)> = jobs
        .iter()
        .flat_map(|j| {
            [
                (micros_since(j["started"].as_str().unwrap(), epoch), 1),
                (micros_since(j["finished"].as_str().unwrap(), epoch), -1),
            ]
        })
        .collect();
    all.sort();
    let mut now = 0;
    for (_, d) in all {
        now += d;
        most_at_once = most_at_once.max(now);
    }
    assert!(
        (2..=3).contains(&most_at_once),
        "{most_at_once} jobs at once with max_jobs 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_job_resumes_and_every_target_converges() {
    killed_mid_job(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_jobs_in_postgres_a_killed_server_resumes_them_too() {
    let Some(url) = support::postgres_database() else {
        return;
    };
    killed_mid_job(&[("FERRY_STORE_URL".to_string(), url)]).await;
}

/// Kill a server with jobs running; a new one (on the same store) resumes them, and each
/// target ends as an uninterrupted clone leaves it.
async fn killed_mid_job(store: &[(String, String)]) {
    let targets = ["t0", "t1", "t2", "reference"];
    let sb = sandbox(Seed::Demo, &targets).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &targets, 2, &[]);
    let reference = support::output(
        support::ferry_between("clone", &sb, "dev", "reference")
            .args(["--output", "json"])
            .env("FERRY_STATE_DIR", state.path()),
    );
    support::expect(&reference, 0);
    // What an uninterrupted clone does, per outcome.
    let mut uninterrupted = serde_json::Map::new();
    for it in support::json_of(&reference)["items"].as_array().unwrap() {
        let n = uninterrupted
            .entry(it["outcome"].as_str().unwrap())
            .or_insert(json!(0));
        *n = json!(n.as_u64().unwrap() + 1);
    }
    let uninterrupted = Value::Object(uninterrupted);
    for t in ["t0", "t1", "t2"] {
        sb.set_faults(
            t,
            Faults {
                latency_ms: 30,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let mut srv = Serve::start_also(dir.path(), &sb, &targets, state.path(), store);
    let ids: Vec<String> = futures::future::join_all(["t0", "t1", "t2"].map(|t| {
        let srv = &srv;
        async move {
            srv.start_job(&format!("dev-to-{t}"), "clone").await["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }))
    .await;
    // Kill it once the first targets are being written.
    let t = Instant::now();
    while sb.writes_to("t0").len() < 5 && sb.writes_to("t1").len() < 5 {
        assert!(t.elapsed() < Duration::from_secs(60), "no job wrote");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    srv.kill();
    let running: Vec<String> = {
        // What the store said at the kill: read it through a new server.
        let srv = Serve::start_also(dir.path(), &sb, &targets, state.path(), store);
        let mut resumed = vec![];
        for id in &ids {
            let job = srv.wait(id, Duration::from_secs(300)).await;
            assert_eq!(job["status"], "succeeded", "{job}");
            if job["resumed"] == true {
                assert_eq!(job["attempts"], 2, "{job}");
                // Counted across its attempts: what the first created is created, though
                // the second adopted or completed it; the last attempt's own counts too.
                assert_eq!(job["counts"], uninterrupted, "{job}");
                assert!(job["attempt_counts"].is_object(), "{job}");
                assert!(
                    job["message"]
                        .as_str()
                        .unwrap()
                        .contains("across its attempts (2 starts"),
                    "{job}"
                );
                let log = srv
                    .expect("GET", &format!("/v1/jobs/{id}/log"), VIEWER, None, 200)
                    .await;
                assert!(log.to_string().contains("runs again"), "{log}");
                resumed.push(id.clone());
            }
        }
        resumed
    };
    assert!(!running.is_empty(), "no job was running at the kill");
    assert_eq!(
        dir.path().join("jobs.sqlite").exists(),
        store.is_empty(),
        "the jobs were kept where the server was told"
    );
    for t in ["t0", "t1", "t2"] {
        assert_eq!(
            sb.dump(t),
            sb.dump("reference"),
            "{t} differs from an uninterrupted clone"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_run_and_a_server_job_on_one_target_take_turns() {
    let targets = ["t0"];
    let sb = sandbox(Seed::Demo, &targets).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &targets, 2, &[]);
    let srv = Serve::start(dir.path(), &sb, &targets, state.path());
    sb.set_faults(
        "t0",
        Faults {
            latency_ms: 60,
            ..Default::default()
        },
    )
    .unwrap();
    let mut cli = support::ferry_between("clone", &sb, "dev", "t0")
        .env("FERRY_STATE_DIR", state.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while sb.writes_to("t0").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the CLI clone never wrote"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let job = srv.start_job("dev-to-t0", "clone").await;
    let id = job["id"].as_str().unwrap().to_string();
    // The job waits for the CLI's lease.
    let t = Instant::now();
    loop {
        let j = srv
            .expect("GET", &format!("/v1/jobs/{id}"), VIEWER, None, 200)
            .await;
        if j["phase"] == "waiting for the target" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the job never waited: {j}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cli_writes_before = sb.writes_to("t0").len();
    let status = tokio::task::block_in_place(|| cli.wait().unwrap());
    assert!(status.success());
    let cli_end = sb.writes_to("t0").len();
    assert!(
        cli_end > cli_writes_before,
        "the CLI kept writing while the job waited"
    );
    let job = srv.wait(&id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let log = srv
        .expect("GET", &format!("/v1/jobs/{id}/log"), VIEWER, None, 200)
        .await;
    assert!(
        log.to_string().contains("is locked by ferry (pid"),
        "the job's log names the holder: {log}"
    );
    // The CLI made everything; the job, after it, found it all there.
    assert_eq!(job["counts"].get("created"), None, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_command_talks_to_the_server_and_a_bad_job_fails_clearly() {
    // "nokey": an environment whose key variable the server does not have.
    let sb = sandbox(Seed::Small, &["t0", "nokey"]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &["t0", "nokey"], 2, &[]);
    let srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    let jobs = |token: &str, args: &[&str]| {
        let mut c = support::ferry_command();
        c.arg("jobs")
            .args(args)
            .env("FERRY_SERVER", &srv.url)
            .env("FERRY_TOKEN", token);
        support::output(&mut c)
    };
    // start --wait follows the job to its end, its log on stderr.
    let out = jobs(
        OPERATOR,
        &[
            "start",
            "dev-to-t0",
            "--mode",
            "clone",
            "--wait",
            "--output",
            "json",
        ],
    );
    support::expect(&out, 0);
    let job = support::json_of(&out);
    assert_eq!(job["status"], "succeeded");
    let id = job["id"].as_str().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("started (clone dev-to-t0"),
        "{out:?}"
    );
    let out = jobs(
        VIEWER,
        &["list", "--status", "succeeded", "--output", "json"],
    );
    support::expect(&out, 0);
    assert_eq!(support::json_of(&out)["jobs"][0]["id"], id);
    let out = jobs(VIEWER, &["show", id]);
    support::expect(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("succeeded"));
    // The log goes to stdout, so `> file` keeps it; as JSON, one object a line.
    let out = jobs(VIEWER, &["logs", id]);
    support::expect(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("created"),
        "{out:?}"
    );
    let out = jobs(VIEWER, &["logs", id, "--output", "json"]);
    support::expect(&out, 0);
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        lines.len() > 3 && lines.iter().all(|l| l["seq"].is_i64()),
        "{lines:?}"
    );
    // Ids and query values are encoded: they cannot reach another route or parameter.
    let out = jobs(VIEWER, &["show", "../whoami"]);
    support::expect(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a job id"),
        "{out:?}"
    );
    let out = jobs(VIEWER, &["list", "--status", "succeeded&offset=1"]);
    support::expect(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a job status"),
        "{out:?}"
    );
    // The server's refusals are the command's failures, with the server's message.
    let out = jobs(OPERATOR, &["cancel", id]);
    support::expect(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has finished"),
        "{out:?}"
    );
    let out = jobs(VIEWER, &["start", "dev-to-t0"]);
    support::expect(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs the operator role"),
        "{out:?}"
    );
    let out = jobs("wrong", &["list"]);
    support::expect(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown token"),
        "{out:?}"
    );

    // A job whose target's key is missing fails naming the variable; nothing is written.
    let out = jobs(
        OPERATOR,
        &["start", "dev-to-nokey", "--wait", "--output", "json"],
    );
    support::expect(&out, 1);
    let job = support::json_of(&out);
    assert_eq!(job["status"], "failed");
    assert!(
        job["message"].as_str().unwrap().contains("TEST_KEY_NOKEY"),
        "{job}"
    );
    // The record keeps the failure's kind, for clients that act on it.
    assert_eq!(job["error"], "credentials", "{job}");
    // Following the log of a job that failed exits 1.
    let out = jobs(VIEWER, &["logs", job["id"].as_str().unwrap(), "--follow"]);
    support::expect(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ended failed"),
        "{out:?}"
    );
    assert!(sb.writes_to("nokey").is_empty());

    // `ferry serve token` prints a token once, and the entry with its hash.
    let out = support::output(
        support::ferry_command().args(["serve", "token", "--name", "ci", "--role", "operator"]),
    );
    support::expect(&out, 0);
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let entry = String::from_utf8_lossy(&out.stderr);
    assert!(token.starts_with("ferry_") && token.len() > 60, "{token}");
    assert!(
        entry.contains(&support::serve::hash_of(&token)) && entry.contains("role = \"operator\""),
        "{entry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_reloaded_on_sighup_and_on_an_admins_request() {
    let sb = sandbox(Seed::Small, &["t0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &sb, &["t0"], 1, &[]);
    let mut srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    let original = std::fs::read_to_string(&path).unwrap();
    srv.expect("GET", "/v1/whoami", VIEWER, None, 200).await;

    // The viewer's token is rotated: the file now has a new one in its place.
    const ROTATED: &str = "rotated-viewer-token";
    let rotated = original.replace(
        &support::serve::hash_of(VIEWER),
        &support::serve::hash_of(ROTATED),
    );
    std::fs::write(&path, &rotated).unwrap();
    let pid = srv.child.id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    let t = Instant::now();
    while srv.call("GET", "/v1/whoami", Some(VIEWER), None).await.0 != 401 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    srv.expect("GET", "/v1/whoami", ROTATED, None, 200).await;

    // An admin may ask for the same; nobody else may.
    std::fs::write(&path, &original).unwrap();
    let e = srv
        .expect("POST", "/v1/admin/reload", OPERATOR, None, 403)
        .await;
    assert_eq!(e["error"]["code"], "forbidden");
    let r = srv
        .expect("POST", "/v1/admin/reload", ADMIN, None, 200)
        .await;
    assert_eq!(r["tokens"], 3);
    srv.expect("GET", "/v1/whoami", VIEWER, None, 200).await;
    assert_eq!(
        srv.call("GET", "/v1/whoami", Some(ROTATED), None).await.0,
        401
    );

    // A broken file changes nothing, and says why.
    std::fs::write(
        &path,
        original.replace("role = \"viewer\"", "role = \"root\""),
    )
    .unwrap();
    let e = srv
        .expect("POST", "/v1/admin/reload", ADMIN, None, 409)
        .await;
    assert_eq!(e["error"]["code"], "config_invalid");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("root"),
        "{e}"
    );
    srv.expect("GET", "/v1/whoami", VIEWER, None, 200).await;
    let _ = srv.child.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_spellings_of_one_target_are_one_target_to_the_queue() {
    let sb = sandbox(Seed::Demo, &["t0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // `a` and `b` are one target: another case, a trailing slash, the parameter for the
    // short form.
    let url = sb.url().to_string();
    let shouted = format!("{}/", url.replacen("http://", "HTTP://", 1));
    let mut text = format!(
        "store = \"jobs.sqlite\"\nmax_jobs = 2\n\n{}",
        support::serve::tokens()
    );
    text += &format!(
        "[environments.dev]\nplatform = \"unstract\"\nurl = \"{url}\"\norg = \"dev\"\nkey_env = \"TEST_KEY_DEV\"\n\n\
         [environments.a]\nplatform = \"unstract\"\nurl = \"{url}\"\norg = \"t0\"\nkey_env = \"TEST_KEY_T0\"\n\n\
         [environments.b]\nplatform = \"unstract\"\nurl = \"{shouted}\"\nparams = {{ org = \"t0\" }}\nkey_env = \"TEST_KEY_T0\"\n\n\
         [promotions.to-a]\nsource = \"dev\"\ntarget = \"a\"\n\n\
         [promotions.to-b]\nsource = \"dev\"\ntarget = \"b\"\n"
    );
    std::fs::write(dir.path().join("server.toml"), text).unwrap();
    let vars = [
        ("TEST_KEY_DEV".to_string(), sb.keys("dev").read),
        ("TEST_KEY_T0".to_string(), sb.keys("t0").read_write),
    ];
    let srv = Serve::start_with(dir.path(), &vars, state.path());
    let a = srv.start_job("to-a", "clone").await;
    let b = srv.start_job("to-b", "clone").await;
    let a = srv
        .wait(a["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    let b = srv
        .wait(b["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(
        (&a["status"], &b["status"]),
        (&json!("succeeded"), &json!("succeeded"))
    );
    // Two slots, one target: the second started once the first had finished, from the
    // queue, never holding a slot to wait for the target's lease.
    assert!(
        b["started"].as_str().unwrap() >= a["finished"].as_str().unwrap(),
        "{a}\n{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_while_cancelling_ends_cancelled_with_its_own_end() {
    let sb = sandbox(Seed::Demo, &["t0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &["t0"], 1, &[]);
    // Slow writes: a cancel leaves the job `cancelling` while its requests finish.
    sb.set_faults(
        "t0",
        Faults {
            latency_ms: 3000,
            ..Default::default()
        },
    )
    .unwrap();
    let mut srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    let id = srv.start_job("dev-to-t0", "clone").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = Instant::now();
    while srv
        .expect("GET", &format!("/v1/jobs/{id}"), VIEWER, None, 200)
        .await["phase"]
        != "applying"
    {
        assert!(t.elapsed() < Duration::from_secs(120), "it never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = srv
        .expect(
            "POST",
            &format!("/v1/jobs/{id}/cancel"),
            OPERATOR,
            None,
            202,
        )
        .await;
    assert_eq!(c["status"], "cancelling", "{c}");
    srv.kill();
    sb.set_faults("t0", Faults::default()).unwrap();
    let srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    let job = srv
        .expect("GET", &format!("/v1/jobs/{id}"), VIEWER, None, 200)
        .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .contains("while the job was being cancelled"),
        "{job}"
    );
    let log = srv
        .expect("GET", &format!("/v1/jobs/{id}/log"), VIEWER, None, 200)
        .await;
    let last = log["lines"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last["message"].as_str().unwrap().starts_with("cancelled: "),
        "{log}"
    );
}
