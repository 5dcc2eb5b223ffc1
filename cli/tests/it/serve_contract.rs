//! `ferry serve`'s API judged from outside: the OpenAPI document it serves is validated by
//! `openapi-spec-validator`, then schemathesis fuzzes the running server with every check
//! it has (server errors, undocumented status codes and content types, answers against
//! their schemas, schema-valid requests refused, schema-violating ones accepted, the
//! `Allow` header of a 405, auth that is ignored, created jobs that cannot be found) with
//! an admin's token and a viewer's. Any failure fails the test. No check is excluded.
//!
//! Both judges live in `target/api-check-venv` (see `support/reference.rs`), installed on
//! first use; `FERRY_API_CHECK_PYTHON` names another interpreter that has them. The seed is
//! fixed and the examples bounded, so a run is repeatable and takes about a minute.

use crate::support;
use crate::support::serve::{ADMIN, Serve, VIEWER, sandbox, write_config};
use ferry_sandbox::unstract::Seed;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Examples per operation and phase, per token: enough to find what a 8,000-case run found
/// before this contract was made exact, small enough for CI.
const EXAMPLES: [(&str, &str, u32); 2] = [("admin", ADMIN, 40), ("viewer", VIEWER, 20)];

/// The longest a judge may take before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_validates_and_the_fuzzer_finds_nothing() {
    let python =
        tokio::task::spawn_blocking(|| support::reference::api_check_python(&support::repo_root()))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
    let sb = sandbox(Seed::Demo, &["t0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &["t0"], 2, &[]);
    let srv = Serve::start(dir.path(), &sb, &["t0"], state.path());

    let (status, doc) = srv.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200, "{doc}");
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, &doc).unwrap();
    let out = tokio::task::block_in_place(|| {
        judge(
            Command::new(&python)
                .args(["-m", "openapi_spec_validator"])
                .arg(&doc_path),
        )
    });
    assert!(
        out.status.success(),
        "the document is invalid:\n{}",
        text(&out)
    );

    for (role, token, examples) in EXAMPLES {
        let out = tokio::task::block_in_place(|| {
            judge(
                Command::new(&python)
                    .args(["-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())"])
                    .arg("run")
                    .arg(format!("{}/v1/openapi.json", srv.url))
                    .args(["--checks", "all", "--seed", "1", "--no-color"])
                    .args(["--max-examples", &examples.to_string()])
                    .args(["--header", &format!("Authorization: Bearer {token}")])
                    .args(["--generation-database", "none", "--workers", "1"])
                    .args(["--request-timeout", "60"])
                    .current_dir(dir.path()),
            )
        });
        assert!(
            out.status.success(),
            "the fuzzer, with the {role}'s token, found failures:\n{}",
            text(&out)
        );
    }
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

/// Run a judge to its end, or kill it past the deadline.
fn judge(c: &mut Command) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("a judge ran past {DEADLINE:?}: {c:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
