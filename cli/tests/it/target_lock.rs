//! One writer per target: a clone holds the target's lease from before its plan to its last
//! write; a second run on the same target waits (and gives up after `--lock-wait`, naming the
//! holder and the lock), a plan does not wait; a lock left by a killed run is taken over, and
//! a live holder's is broken with `ferry unlock ID`, after which the run it belonged to writes
//! no more. The same with the leases in PostgreSQL (`--lock-store postgres://...`), as runs on
//! two machines would share them.

use crate::support;
use crate::support::expect;
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::{Sandbox, Seed};
use std::time::{Duration, Instant};

/// The locks on this sandbox's targets: (id, holder).
fn locks(sandbox: &Sandbox) -> Vec<(String, String)> {
    locks_in(sandbox, &[])
}

/// The same, in the lock store `store` names (`--lock-store ...`).
fn locks_in(sandbox: &Sandbox, store: &[&str]) -> Vec<(String, String)> {
    let out = support::output(
        support::ferry_command()
            .args(["unlock", "--list"])
            .args(store),
    );
    expect(&out, 0);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(sandbox.url()))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[2].to_string())
        })
        .collect()
}

async fn slow_clone_holding_the_lock(sandbox: &Sandbox) -> std::process::Child {
    slow_clone_in(sandbox, &[], std::process::Stdio::null()).await
}

/// A clone of dev into prod, slowed down, that has taken its lease in `store`.
async fn slow_clone_in(
    sandbox: &Sandbox,
    store: &[&str],
    stderr: std::process::Stdio,
) -> std::process::Child {
    sandbox
        .set_faults(
            "prod",
            Faults {
                latency_ms: 150,
                ..Default::default()
            },
        )
        .unwrap();
    let child = support::ferry_between("clone", sandbox, "dev", "prod")
        .args(store)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let t = Instant::now();
    while locks_in(sandbox, store).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the clone never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_target_waits_for_the_first() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let mut first = slow_clone_holding_the_lock(&sandbox).await;
    let held = locks(&sandbox);
    assert_eq!(held.len(), 1);
    assert!(held[0].1.starts_with("ferry (pid "), "{held:?}");
    // A plan writes nothing: it does not wait.
    expect(
        &support::output(&mut support::ferry_between("plan", &sandbox, "dev", "prod")),
        0,
    );
    // A clone waits, and gives up after --lock-wait naming who holds the target.
    let out = support::output(
        support::ferry_between("clone", &sandbox, "dev", "prod").args(["--lock-wait", "1"]),
    );
    expect(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is locked by ferry (pid"), "{err}");
    assert!(
        err.contains(&format!("ferry unlock {}", held[0].0)),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    // Waiting long enough, it runs once the first is done.
    let out = support::output(&mut support::ferry_between(
        "clone", &sandbox, "dev", "prod",
    ));
    expect(&out, 0);
    let status = tokio::task::block_in_place(|| first.wait().unwrap());
    assert!(status.success(), "the first run ended well too");
    assert!(locks(&sandbox).is_empty(), "released at the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_lock_is_taken_over_and_a_live_holders_is_broken_by_id() {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let mut first = slow_clone_holding_the_lock(&sandbox).await;
    first.kill().unwrap();
    let _ = first.wait();
    assert_eq!(
        locks(&sandbox).len(),
        1,
        "a SIGKILLed run cannot release its lease"
    );
    let out = support::output(support::ferry_command().args(["unlock", "--list"]));
    let target = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains(sandbox.url()))
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .to_string();
    // Its holder is gone: the next run takes the lease over without waiting.
    sandbox.set_faults("prod", Faults::default()).unwrap();
    let out = support::output(
        support::ferry_between("clone", &sandbox, "dev", "prod").args(["--lock-wait", "0"]),
    );
    expect(&out, 0);
    assert!(locks(&sandbox).is_empty());

    // A holder that lives (here: this test, as a job server would be) is waited for, until
    // `ferry unlock ID` breaks its lease.
    let state = support::state_dir();
    let leases = ferry::lock::Locks::at(state.join("locks.sqlite"));
    let lease = leases
        .try_acquire(&target, "a job of ferry serve", ferry::lock::TTL)
        .unwrap()
        .unwrap();
    let out = support::output(
        support::ferry_between("clone", &sandbox, "dev", "prod").args(["--lock-wait", "1"]),
    );
    expect(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is locked by a job of ferry serve"));
    let out = support::output(support::ferry_command().args(["unlock", &lease.id]));
    expect(&out, 0);
    let out = support::output(support::ferry_command().args(["unlock", &lease.id]));
    expect(&out, 1);
    expect(
        &support::output(&mut support::ferry_between(
            "clone", &sandbox, "dev", "prod",
        )),
        0,
    );
    assert!(locks(&sandbox).is_empty());
}

/// Break the lease of a running clone: from a moment later its run writes nothing more to
/// the target, and says why.
async fn a_broken_lease_stops_the_writes(store: &[&str]) {
    let sandbox = support::dev_and_prod(Seed::Demo).await;
    let first = slow_clone_in(&sandbox, store, std::process::Stdio::piped()).await;
    let held = locks_in(&sandbox, store);
    assert_eq!(held.len(), 1, "{held:?}");
    // A second run on the target waits for it, wherever the store is.
    let out = support::output(
        support::ferry_between("clone", &sandbox, "dev", "prod")
            .args(store)
            .args(["--lock-wait", "1"]),
    );
    expect(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is locked by ferry (pid"));

    let out = support::output(
        support::ferry_command()
            .args(["unlock", &held[0].0])
            .args(store),
    );
    expect(&out, 0);
    // The run's writes look at the lease at least every second.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let writes = sandbox.writes_to("prod").len();
    let out = tokio::task::block_in_place(|| first.wait_with_output().unwrap());
    assert_eq!(
        sandbox.writes_to("prod").len(),
        writes,
        "no write after the lease was broken"
    );
    assert_eq!(out.status.code(), Some(1), "its remaining items failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("was broken or taken over: it writes no more"),
        "{err}"
    );
    assert!(locks_in(&sandbox, store).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_lease_is_broken_writes_no_more() {
    a_broken_lease_stops_the_writes(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_leases_in_postgres_a_second_run_waits_and_a_broken_lease_stops() {
    let Some(url) = support::postgres() else {
        return;
    };
    a_broken_lease_stops_the_writes(&["--lock-store", &url]).await;
}
