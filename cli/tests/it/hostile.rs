//! The hostile suite, from outside: crafted hooks, packages and servers against the `ferry`
//! binary, each asserting what must hold (a clear error, an exit code, bounded memory
//! measured from the child process) where the unguarded code crashed or ballooned.

use crate::support;
use crate::support::measure::measure;
use serde_json::json;
use std::io::Read;

/// `ferry hook test` on a script, under measurement: (exit code, peak MiB, what it printed).
fn hook(script: &str) -> (i32, f64, String) {
    let dir = tempfile::tempdir().unwrap();
    let (path, input) = (dir.path().join("hook.rhai"), dir.path().join("in.json"));
    std::fs::write(&path, script).unwrap();
    std::fs::write(&input, json!({"name": "a"}).to_string()).unwrap();
    let mut c = support::ferry_command();
    c.args(["hook", "test"])
        .arg(&path)
        .args(["--kind", "thing", "--key-field", "/name", "--input"])
        .arg(&input);
    let log = dir.path().join("log");
    let cost = measure(c, &log);
    (
        cost.exit,
        cost.peak_mib,
        std::fs::read_to_string(&log).unwrap(),
    )
}

#[test]
fn a_hook_that_multiplies_a_string_stops_before_it_allocates() {
    // A 1 MiB string, every byte of it replaced by 4 KiB: a 4 GiB string if built.
    let setup = r#"let s = "x"; s.pad(1000000, "x"); let big = "y"; big.pad(4096, "y");"#;
    for (what, grow) in [
        ("replace_all", "res.body.out = replace_all(s, \"x\", big);"),
        ("replace", "s.replace(\"x\", big); res.body.out = s;"),
        ("replace", "s.replace('x', big); res.body.out = s;"),
        (
            "regex_replace",
            "res.body.out = regex_replace(s, \"x\", big);",
        ),
        (
            "regex_replace",
            "res.body.out = regex_replace(s, \"x+\", \"$0$0$0$0$0$0$0$0\");",
        ),
    ] {
        let script = format!("fn transform(ctx, res) {{ {setup} {grow} res }}");
        let (code, peak, out) = hook(&script);
        assert_eq!(code, 1, "{grow}: {out}");
        assert!(
            out.contains(&format!("{what} would build a string of"))
                && out.contains("1048576 bytes"),
            "{grow}: {out}"
        );
        assert!(peak < 400.0, "{grow}: peak {peak:.0} MiB");
    }
}

/// One entry of a crafted package: bytes, `n` copies of a byte streamed in (a bomb that is
/// small on disk), or a symbolic link.
enum Data {
    Bytes(Vec<u8>),
    Repeat(u64, u8),
    Link(&'static str),
}

/// A package as a hostile producer could write it: `manifest` (a JSON value), its digest,
/// then `entries`, all compressed. Small on disk whatever it declares.
fn crafted(
    dir: &std::path::Path,
    manifest: &[u8],
    entries: Vec<(String, Data)>,
) -> std::path::PathBuf {
    use sha2::Digest;
    let path = dir.join("crafted.ferry");
    let z = zstd::Encoder::new(std::fs::File::create(&path).unwrap(), 1).unwrap();
    let mut t = tar::Builder::new(z);
    let digest = hex::encode(sha2::Sha256::digest(manifest));
    let head = [
        ("manifest.json".to_string(), Data::Bytes(manifest.to_vec())),
        (
            "manifest.sha256".to_string(),
            Data::Bytes(digest.into_bytes()),
        ),
    ];
    for (name, data) in head.into_iter().chain(entries) {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match data {
            Data::Bytes(b) => {
                h.set_size(b.len() as u64);
                t.append_data(&mut h, &name, &b[..]).unwrap();
            }
            Data::Repeat(n, byte) => {
                h.set_size(n);
                t.append_data(&mut h, &name, std::io::repeat(byte).take(n))
                    .unwrap();
            }
            Data::Link(to) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                t.append_link(&mut h, &name, to).unwrap();
            }
        }
    }
    t.into_inner().unwrap().finish().unwrap();
    path
}

/// A manifest in the format, with these entries and a plugin digest.
fn manifest(entries: serde_json::Value, plugin_sha: &str) -> Vec<u8> {
    json!({
        "format": 1, "ferry": "0.1.0", "platform": "unstract", "contract": "1.3.0",
        "plugins": [{"name": "unstract", "version": "0.1.0", "sha256": plugin_sha, "kinds": ["tag"]}],
        "source": {"name": "dev", "url": "http://127.0.0.1:9/", "params": {}, "describe": "dev"},
        "created": "2026-12-04T00:00:00Z",
        "selection": {"include": [], "exclude": [], "select": [], "tags": []},
        "counts": {}, "entries": entries, "files": [], "credentials": []
    })
    .to_string()
    .into_bytes()
}

/// `ferry package inspect` on a package, its files capped at 1 MiB (a larger write kills
/// it): (exit code, peak MiB, what it printed).
fn inspect(package: &std::path::Path) -> (i32, f64, String) {
    use std::os::unix::process::CommandExt;
    let dir = package.parent().unwrap();
    let mut c = support::ferry_command();
    c.args(["package", "inspect"])
        .arg(package)
        .env("TMPDIR", dir);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let log = dir.join("inspect.log");
    let cost = measure(c, &log);
    (
        cost.exit,
        cost.peak_mib,
        std::fs::read_to_string(&log).unwrap(),
    )
}

/// What a crafted package is, its manifest, its entries, and what the error must say.
type Case = (&'static str, Vec<u8>, Vec<(String, Data)>, &'static str);

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn a_crafted_package_is_refused_within_bounds_of_memory_and_disk() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ten = hex::encode(sha2::Sha256::digest(b"0123456789"));
    let cases: Vec<Case> = vec![
        (
            "a manifest of 64 MiB",
            [b"{".as_slice(), &vec![b' '; 64 << 20], b"}"].concat(),
            vec![],
            "larger than the bound on a manifest",
        ),
        (
            "a file entry of 64 MiB declared as 10 bytes",
            manifest(
                json!([{"name": format!("files/{ten}"), "size": 10, "sha256": ten}]),
                SHA,
            ),
            vec![(format!("files/{ten}"), Data::Repeat(64 << 20, b'0'))],
            "longer than the 10 bytes the manifest says",
        ),
        (
            "resources of 512 MiB declared as 10 bytes",
            manifest(
                json!([{"name": "resources/tag.jsonl", "size": 10, "sha256": ten}]),
                SHA,
            ),
            vec![("resources/tag.jsonl".into(), Data::Repeat(512 << 20, b' '))],
            "longer than the 10 bytes the manifest says",
        ),
        (
            "a digest of multi-byte characters",
            // 64 bytes, with a character across byte 16 (where a listing cut it).
            manifest(json!([]), &format!("a{}a", "é".repeat(31))),
            vec![],
            "not 64 hex digits",
        ),
        (
            "a symbolic link",
            manifest(
                json!([{"name": "resources/tag.jsonl", "size": 0, "sha256": SHA}]),
                SHA,
            ),
            vec![("resources/tag.jsonl".into(), Data::Link("/etc/passwd"))],
            "a package holds only regular files",
        ),
    ];
    for (what, m, entries, wanted) in cases {
        let package = crafted(d, &m, entries);
        assert!(
            std::fs::metadata(&package).unwrap().len() < 4 << 20,
            "{what}: small on disk"
        );
        let (code, peak, out) = inspect(&package);
        assert!(code > 0 && code != 101, "{what}: exit {code}: {out}");
        assert!(out.contains(wanted), "{what}: {out}");
        assert!(peak < 300.0, "{what}: peak {peak:.0} MiB");
    }
}

#[test]
fn credentials_in_a_url_are_refused_and_never_shown() {
    for (flag, url) in [
        ("--source-url", "http://admin:s3cr3t-pw@127.0.0.1:9/"),
        ("--target-url", "http://admin:s3cr3t-pw@127.0.0.1:9/"),
        ("--source-url", "http://127.0.0.1:9/?token=s3cr3t-pw"),
    ] {
        let other = if flag == "--source-url" {
            "--target-url"
        } else {
            "--source-url"
        };
        let out = support::output(
            support::ferry_command()
                .args(["plan", flag, url, other, "http://127.0.0.1:9/"])
                .args(["--source-org", "a", "--target-org", "b"])
                .env("UNSTRACT_SRC_PLATFORM_KEY", "k1")
                .env("UNSTRACT_TGT_PLATFORM_KEY", "k2"),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_ne!(out.status.code(), Some(0), "{url}: {text}");
        assert!(
            text.contains("has a user name or password in it") || text.contains("has a query"),
            "{url}: {text}"
        );
        assert!(!text.contains("s3cr3t-pw"), "{url}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ends_while_a_rhai_cloner_reads_ends_without_a_panic() {
    let sb = support::dev_and_prod(ferry_sandbox::unstract::Seed::Small).await;
    let fixtures = support::repo_root().join("tests/fixtures/rhai");
    let dir = tempfile::tempdir().unwrap();
    for f in ["runaway.rhai", "runaway.toml", "fatal.rhai"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    for _ in 0..3 {
        let out = support::output(
            support::ferry_between("plan", &sb, "dev", "prod")
                .arg("--plugins")
                .arg(dir.path()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("fatal: on purpose"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A `ferry serve` child over an empty sandbox, with `http` as its file's `[http]` table.
async fn serve_with_http(
    http: &str,
) -> (
    crate::support::serve::Serve,
    ferry_sandbox::unstract::Sandbox,
    tempfile::TempDir,
    tempfile::TempDir,
) {
    use crate::support::serve::{Serve, write_config};
    use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox};
    let sb = Sandbox::start(Config::local(vec![OrgSpec::new("dev"), OrgSpec::new("t0")]))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &sb, &["t0"], 1, &[]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text += &format!("\n[http]\n{http}\n");
    std::fs::write(&path, text).unwrap();
    let srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    (srv, sb, dir, state)
}

/// Whether the server closed `conn` within `within` (a read gets the end, or an error).
fn closed_within(conn: &mut std::net::TcpStream, within: std::time::Duration) -> bool {
    conn.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_hold_the_server() {
    use crate::support::serve::VIEWER;
    use std::io::Write;
    use std::time::{Duration, Instant};
    let (srv, _sb, _dir, _state) =
        serve_with_http("header_timeout = \"1s\"\nidle_timeout = \"2s\"\nmax_connections = 400")
            .await;
    let addr = srv.url.trim_start_matches("http://").to_string();
    // 300 clients that never finish their headers.
    let mut slow: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // Normal requests are answered meanwhile.
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = srv.call("GET", "/v1/whoami", Some(VIEWER), None).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            t.elapsed() < Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
    }
    // The slow ones are closed at the header timeout.
    let t = Instant::now();
    for c in slow.iter_mut() {
        assert!(
            closed_within(c, Duration::from_secs(5)),
            "a client that never sent its headers was kept {:?}",
            t.elapsed()
        );
    }
    // A client that sent its headers but never its body: closed when idle.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(
        format!("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {VIEWER}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"pro").as_bytes(),
    )
    .unwrap();
    assert!(
        closed_within(&mut c, Duration::from_secs(6)),
        "an idle client was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_no_more_connections_than_its_cap() {
    use std::io::Write;
    let (srv, _sb, _dir, _state) =
        serve_with_http("header_timeout = \"30s\"\nmax_connections = 20").await;
    let addr = srv.url.trim_start_matches("http://").to_string();
    let sockets = || {
        std::fs::read_dir(format!("/proc/{}/fd", srv.child.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|l| l.to_string_lossy().starts_with("socket:"))
            .count()
    };
    let before = sockets();
    let _slow: Vec<std::net::TcpStream> = (0..100)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let held = sockets() - before;
    assert!(
        held <= 20,
        "the server holds {held} connections, past its cap of 20"
    );
    assert!(held >= 15, "the server took only {held} connections");
}

/// `ferry hook test` of `script` on an adapter whose secret field holds `key`: exit code,
/// and stdout and stderr together.
fn hook_on_adapter(script: &str, key: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let (path, input) = (dir.path().join("hook.rhai"), dir.path().join("in.json"));
    std::fs::write(&path, script).unwrap();
    let res = json!({"kind": "adapter", "id": "7", "body": {
        "adapter_name": "openai-dev", "adapter_type": "LLM",
        "adapter_metadata": {"api_key": key, "pin": "42"}}});
    std::fs::write(&input, res.to_string()).unwrap();
    let out = support::output(
        support::ferry_command()
            .current_dir(support::repo_root())
            .args(["-v", "hook", "test"])
            .arg(&path)
            .arg("--input")
            .arg(&input),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_hook_cannot_show_a_secret_in_its_errors_skips_or_prints() {
    // A key with a quote and a backslash: a JSON-escaped echo differs from the plain one.
    let key = r#"sk-"q"\tail-9"#;
    for (script, code, wanted) in [
        (
            r#"fn transform(ctx, res) { print("seen " + res.body.adapter_metadata.api_key); throw "bad: " + res.body.adapter_metadata.to_json(); }"#,
            1,
            r#"\"pin\":\"***\""#,
        ),
        (
            r#"fn transform(ctx, res) { print("seen " + res.body.adapter_metadata.api_key); skip("because " + res.body.adapter_metadata.api_key + " and pin 42") }"#,
            0,
            "because *** and pin ***",
        ),
    ] {
        let (got, text) = hook_on_adapter(script, key);
        assert_eq!(got, code, "{script}: {text}");
        assert!(
            text.contains("seen ***"),
            "the print is shown masked: {text}"
        );
        assert!(text.contains(wanted), "{wanted} in {text}");
        assert!(
            !text.contains("tail-9"),
            "a form of the key is shown: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hooks_print_in_a_server_job_reaches_its_log_masked() {
    use crate::support::serve::{Serve, VIEWER, write_config};
    use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
    let sb = Sandbox::start(Config::local(vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::new("t0"),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leak.rhai"),
        r#"fn transform(ctx, res) { print("hook-saw " + res.body.adapter_metadata.to_json()); throw "no: " + res.body.adapter_metadata.to_json(); }"#,
    )
    .unwrap();
    let rules = "[[hooks]]\nuses = \"leak.rhai\"\nkinds = [\"adapter\"]\n";
    write_config(dir.path(), &sb, &["t0"], 1, &[("t0", rules)]);
    let srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    let job = srv.start_job("dev-to-t0", "plan").await;
    let id = job["id"].as_str().unwrap().to_string();
    srv.wait(&id, std::time::Duration::from_secs(60)).await;
    let log = srv
        .call("GET", &format!("/v1/jobs/{id}/log"), Some(VIEWER), None)
        .await
        .1;
    let plan = srv
        .call("GET", &format!("/v1/jobs/{id}/plan"), Some(VIEWER), None)
        .await
        .1;
    assert!(
        log.contains("hook-saw"),
        "the print is in the job's log: {log}"
    );
    assert!(
        plan.contains("no: "),
        "the hook's error is in the plan: {plan}"
    );
    // The source's adapters' keys, as the demo seed makes them (the sandbox's dump leaves
    // them out).
    let served = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    for s in [
        "sk-sandbox-dev-",
        "sk-sandbox-embed-dev-",
        "qd-dev-",
        "az-dev-secret",
    ] {
        for (what, text) in [("log", &log), ("plan", &plan), ("server log", &served)] {
            assert!(!text.contains(s), "{s} in the job's {what}: {text}");
        }
    }
    assert!(
        log.contains(r#"\"api_key\":\"***\""#) || log.contains(r#""api_key":"***""#),
        "{log}"
    );
}
