//! What the CLI's tests share: the `ferry` command as every test runs it, reading its output,
//! the sandbox, the test plugins and the job server.

// Shared with the library's tests (one copy of how the test plugins are built); not every
// helper there is used here.
#[allow(dead_code)]
#[path = "../../../../host/tests/it/support/plugins.rs"]
mod plugins;
// The Python judges (one copy of how their virtualenvs are made).
#[path = "../../../../sandbox/tests/it/support/reference.rs"]
pub(crate) mod reference;
pub(crate) mod serve;
pub(crate) mod system;
// A child's peak memory, as the benchmarks measure it.
#[allow(dead_code)]
#[path = "../../../benches/common/measure.rs"]
pub(crate) mod measure;

pub(crate) use plugins::{plugin_dir, repo_root};
use serde_json::Value;

/// The `ferry` binary as every test runs it: nothing from the caller's environment that
/// would change what it does (keys, a plugin path), the compile cache the tests share, and
/// the running test's own state folder.
pub(crate) fn ferry_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.env(
        "FERRY_CACHE_DIR",
        std::env::temp_dir().join("ferry-test-cache"),
    )
    .env("FERRY_STATE_DIR", state_dir())
    .env_remove("FERRY_PLUGIN_PATH")
    .env_remove("FERRY_LOCK_STORE")
    .env_remove("FERRY_STORE_URL")
    .env_remove("UNSTRACT_SRC_PLATFORM_KEY")
    .env_remove("UNSTRACT_TGT_PLATFORM_KEY");
    for side in ["SOURCE", "TARGET"] {
        for what in ["KEY", "USER", "PASSWORD"] {
            c.env_remove(format!("FERRY_{side}_{what}"));
        }
    }
    c
}

/// The state folder (leases, journals, managed records) of the running test, under one of
/// this process. Shared by every test, the state of an earlier test whose sandbox had the
/// same port would meet this one's: the sandboxes' ids are deterministic, so a stale
/// managed record names a live resource, and a prune deleted it. A test's body runs on the
/// thread libtest names after it; calls from other threads share the process's folder.
pub(crate) fn state_dir() -> std::path::PathBuf {
    static FRESH: std::sync::Once = std::sync::Once::new();
    let root = std::env::temp_dir().join("ferry-test-state");
    let ours = root.join(std::process::id().to_string());
    FRESH.call_once(|| {
        // What earlier processes left: this one's pid may be a reused one.
        if let Ok(dirs) = std::fs::read_dir(&root) {
            for d in dirs.flatten() {
                let pid = d.file_name().to_string_lossy().to_string();
                let alive = std::path::Path::new("/proc").join(&pid).exists();
                if pid == std::process::id().to_string() || !alive {
                    let _ = std::fs::remove_dir_all(d.path());
                    let _ = std::fs::remove_file(d.path());
                }
            }
        }
    });
    let test = std::thread::current()
        .name()
        .filter(|n| n.contains("::"))
        .map(|n| n.replace("::", "."))
        .unwrap_or_else(|| "shared".into());
    ours.join(test)
}

/// `ferry SUB` from org `source` to org `target` of the sandbox, with a read key for the
/// source and a read-write key for the target in the environment.
pub(crate) fn ferry_between(
    sub: &str,
    sb: &ferry_sandbox::unstract::Sandbox,
    source: &str,
    target: &str,
) -> std::process::Command {
    let mut c = ferry_command();
    c.args([sub, "--source-url", sb.url(), "--source-org", source])
        .args(["--target-url", sb.url(), "--target-org", target])
        .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys(source).read)
        .env("UNSTRACT_TGT_PLATFORM_KEY", sb.keys(target).read_write);
    c
}

/// Run a command to its end from a multi-threaded tokio test (the sandbox it talks to runs
/// on the test's runtime).
pub(crate) fn output(c: &mut std::process::Command) -> std::process::Output {
    tokio::task::block_in_place(|| c.output().unwrap())
}

/// The exit code must be `code`; else both streams are shown.
pub(crate) fn expect(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stdout as JSON (the report of `--output json`).
pub(crate) fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A local sandbox with a source org "dev" seeded with `seed` and an empty target "prod".
pub(crate) async fn dev_and_prod(
    seed: ferry_sandbox::unstract::Seed,
) -> ferry_sandbox::unstract::Sandbox {
    use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox};
    Sandbox::start(Config::local(vec![
        OrgSpec::seeded("dev", seed),
        OrgSpec::new("prod"),
    ]))
    .await
    .unwrap()
}

/// The tests' PostgreSQL server (`FERRY_TEST_POSTGRES`, set by `.ci/run` from the cluster it
/// starts), or `None` after saying the test is skipped; in CI its absence fails the test.
pub(crate) fn postgres() -> Option<String> {
    match std::env::var("FERRY_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "FERRY_TEST_POSTGRES is not set: .ci/run starts a PostgreSQL cluster and sets it"
            )
        }
        _ => {
            eprintln!("skipped: no PostgreSQL (set FERRY_TEST_POSTGRES=postgres://...)");
            None
        }
    }
}

/// A new, empty database on that server: its URL.
pub(crate) fn postgres_database() -> Option<String> {
    let url = postgres()?;
    let name = format!("ferry_it_{}_{:x}", std::process::id(), fastrand_u64());
    let made = std::thread::spawn({
        let (url, name) = (url.clone(), name.clone());
        move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
            c.batch_execute(&format!("CREATE DATABASE {name}"))
        }
    })
    .join()
    .unwrap();
    made.unwrap_or_else(|e| panic!("cannot make a database on {url}: {e}"));
    let mut u = url::Url::parse(&url).unwrap();
    u.set_path(&name);
    Some(u.to_string())
}

/// A number unlikely to repeat within a test run (no RNG crate needed).
fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
