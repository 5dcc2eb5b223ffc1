//! Bad input gets a clear error, a non-zero exit, and no write to the target: another org's
//! key, an unknown org, an unreachable URL, a server answering invalid JSON, an HTML error
//! page or a truncated body, a dependency cycle among plugins' declarations, a plugin built
//! against another major version of the contract. (Wrong keys, a read-only target key,
//! unknown kinds: cli/tests/it/clone_unstract.rs; promotion file and hook mistakes:
//! cli/tests/it/promotion.rs; corrupt plugin files: host/tests/it/wasm_sandbox.rs.)

use crate::support;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use std::process::Output;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn clone(
    source_url: &str,
    source_org: &str,
    source_key: &str,
    sb: &Sandbox,
    extra: &[&str],
) -> Output {
    let mut c = support::ferry_command();
    c.args([
        "clone",
        "--source-url",
        source_url,
        "--source-org",
        source_org,
    ])
    .args([
        "--source-key",
        source_key,
        "--target-url",
        sb.url(),
        "--target-org",
        "prod",
    ])
    .args([
        "--attempts",
        "2",
        "--connect-timeout",
        "2",
        "--request-timeout",
        "5",
    ])
    .args(extra)
    .env("UNSTRACT_TGT_PLATFORM_KEY", sb.keys("prod").read_write);
    support::output(&mut c)
}

fn refused(out: &Output, wanted: &[&str], what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{what}: {err}");
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    for w in wanted {
        assert!(err.contains(w), "{what}: wanted {w:?} in:\n{err}");
    }
    assert!(err.contains("nothing was written"), "{what}: {err}");
    assert!(
        err.len() < 4000,
        "{what}: the message should be short, not a dump: {} bytes",
        err.len()
    );
}

/// A server that answers every request the same broken way: `status` with `body`, declaring
/// `length` bytes (more than it sends, for a truncated body).
async fn broken_server(
    status: &str,
    content_type: &str,
    body: &str,
    length: Option<usize>,
) -> String {
    let answer: &'static [u8] = format!("HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", length.unwrap_or(body.len())).into_bytes().leak();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_endpoints_and_broken_servers_are_refused_with_nothing_written() {
    let sb = Sandbox::start(Config::local(vec![
        OrgSpec::seeded("dev", Seed::Small),
        OrgSpec::new("prod"),
        OrgSpec::new("other"),
    ]))
    .await
    .unwrap();
    let url = sb.url().to_string();

    let out = clone(&url, "dev", &sb.keys("other").read, &sb, &[]);
    refused(&out, &["403"], "another org's key");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&sb.keys("other").read),
        "the key was printed"
    );
    refused(
        &clone(&url, "nowhere", &sb.keys("dev").read, &sb, &[]),
        &["on the source answered 403"],
        "an unknown org (the key is not for it)",
    );
    refused(
        &clone("http://127.0.0.1:1", "dev", "k", &sb, &[]),
        &["127.0.0.1:1"],
        "an unreachable URL",
    );
    refused(
        &clone("http://[::1", "dev", "k", &sb, &[]),
        &["URL"],
        "a malformed URL",
    );

    let invalid = broken_server(
        "200 OK",
        "application/json",
        r#"{"results": [{"id": 1,]"#,
        None,
    )
    .await;
    refused(
        &clone(&invalid, "dev", "k", &sb, &[]),
        &["JSON"],
        "invalid JSON",
    );
    let page = format!(
        "<html><head><title>502</title></head><body><h1>502 Bad Gateway</h1>{}</body></html>",
        "<p>nginx</p>".repeat(2000)
    );
    let html = broken_server(
        "502 Bad Gateway",
        "text/html",
        Box::leak(page.into_boxed_str()),
        None,
    )
    .await;
    refused(
        &clone(&html, "dev", "k", &sb, &[]),
        &["502"],
        "an HTML error page",
    );
    let truncated = broken_server(
        "200 OK",
        "application/json",
        r#"{"count": 3, "results": ["#,
        Some(5000),
    )
    .await;
    refused(
        &clone(&truncated, "dev", "k", &sb, &[]),
        &["body"],
        "a truncated body",
    );

    assert!(
        sb.writes_to("prod").is_empty(),
        "{:?}",
        sb.writes_to("prod")
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_plugins_are_refused_before_any_work() {
    let sb = support::dev_and_prod(Seed::Small).await;
    let url = sb.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    // Two kinds that each must come before the other.
    for (name, dep) in [("alpha", "beta"), ("beta", "alpha")] {
        let script = format!(
            "fn kinds() {{ [#{{ name: \"{name}\", description: \"cycle\", key: [\"/name\"], depends_on: [\"{dep}\"] }}] }}\n\
             fn list(ctx, kind) {{ [] }}\nfn find(ctx, kind, wanted) {{ () }}\nfn create(ctx, kind, res) {{ res }}\n"
        );
        std::fs::write(dir.path().join(format!("{name}.rhai")), script).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let out = clone(
        &url,
        "dev",
        &sb.keys("dev").read,
        &sb,
        &["--plugins", d, "--no-bundled"],
    );
    refused(&out, &["cycle", "alpha", "beta"], "a dependency cycle");

    // A component built against ferry:plugin@2.0.0.
    let later = support::plugin_dir("ferry-other-major");
    let out = clone(
        &url,
        "dev",
        &sb.keys("dev").read,
        &sb,
        &["--plugins", later.path().to_str().unwrap(), "--no-bundled"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("built against ferry:plugin@2.0.0, but this host speaks ferry:plugin@1.0.0"),
        "{err}"
    );
    assert!(sb.writes_to("prod").is_empty());
    sb.stop().await;
}
