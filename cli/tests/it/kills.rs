//! SIGKILL at many points of a clone, then a re-run: every time the target converges to what
//! a clone that was never interrupted makes, with no duplicate, and the source is never
//! written. A kill can land between the steps of a multi-step create (a project imported but
//! not yet published or shared): the creates journal lets the re-run complete it.
//!
//! The points are counts of writes the target has received when the kill is sent; more of
//! them with `FERRY_KILL_POINTS=1,5,9,...` (see scripts/kill-test.sh).

use crate::support;
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn clone_cmd(sb: &Sandbox, target: &str, state: &std::path::Path) -> Command {
    let mut c = support::ferry_between("clone", sb, "dev", target);
    c.arg("--clone-group-members")
        .env("FERRY_STATE_DIR", state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn points() -> Vec<usize> {
    match std::env::var("FERRY_KILL_POINTS") {
        Ok(s) => s.split(',').filter_map(|p| p.trim().parse().ok()).collect(),
        Err(_) => vec![1, 2, 4, 6, 9, 12, 15, 18, 21, 24, 27, 30, 34, 38],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_point_a_rerun_converges() {
    let points = points();
    let mut orgs = vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::new("reference"),
    ];
    orgs.extend((0..points.len()).map(|i| OrgSpec::new(&format!("t{i}"))));
    let sb = Sandbox::start(Config::local(orgs)).await.unwrap();
    let state = tempfile::tempdir().unwrap();

    // What an uninterrupted clone makes.
    let out =
        tokio::task::block_in_place(|| clone_cmd(&sb, "reference", state.path()).output().unwrap());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = sb.dump("reference");
    let total = sb.writes_to("reference").len();
    eprintln!("an uninterrupted clone makes {total} writes");

    for (i, &at) in points.iter().enumerate() {
        let org = format!("t{i}");
        // Slow writes a little, so that the kill lands while the clone is at work.
        sb.set_faults(
            &org,
            Faults {
                latency_ms: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let mut child = clone_cmd(&sb, &org, state.path()).spawn().unwrap();
        let started = Instant::now();
        let finished_first = loop {
            if sb.writes_to(&org).len() >= at {
                break false;
            }
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the clone into {org} made no progress"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let killed_at = sb.writes_to(&org).len();
        sb.set_faults(&org, Faults::default()).unwrap();

        let out =
            tokio::task::block_in_place(|| clone_cmd(&sb, &org, state.path()).output().unwrap());
        assert_eq!(
            out.status.code(),
            Some(0),
            "re-run after a kill at {killed_at} writes: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = sb.dump(&org);
        if got != expected {
            let mut d = Vec::new();
            for (kind, rows) in expected.as_object().unwrap() {
                for (label, row) in rows.as_object().unwrap() {
                    if got[kind].get(label) != Some(row) {
                        d.push(format!(
                            "{label}: expected {row}\n   got {}",
                            got[kind]
                                .get(label)
                                .map(|v| v.to_string())
                                .unwrap_or("missing".into())
                        ));
                    }
                }
                for label in got[kind]
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|l| rows.get(l.as_str()).is_none())
                {
                    d.push(format!("{label}: only here (a duplicate?)"));
                }
            }
            panic!(
                "killed at {killed_at} writes (aimed at {at}{}), the re-run did not converge:\n{}",
                if finished_first {
                    ", but it had finished"
                } else {
                    ""
                },
                d.join("\n")
            );
        }
        eprintln!("killed at {killed_at} writes of {total}: converged");
    }
    assert!(sb.writes_to("dev").is_empty(), "the source was written");
    sb.stop().await;
}
