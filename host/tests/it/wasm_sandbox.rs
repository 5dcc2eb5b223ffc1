//! The WASM sandbox holds against a plugin that misbehaves on purpose
//! (tests/plugins/hostile): each broken rule fails that call with an error naming the plugin
//! and the limit or rule, nothing forbidden reaches a server, and the next call works.

use crate::support;
use crate::support::TestServer;
use ferry::plugin::Call;
use ferry::plugin::grant::Grant;
use ferry::plugin::registry::{Discovery, Registry};
use ferry::plugin::wasm::WasmRuntime;
use ferry::plugin::{CallContext, Cloner, PluginError};

struct Setup {
    server: TestServer,
    registry: Registry,
    _runtime: WasmRuntime,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let server = TestServer::start(&[("dev", 3), ("prod", 0)]).await;
    let dir = support::plugin_dir("ferry-hostile");
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let discovery = Discovery {
        bundled: false,
        paths: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let registry = Registry::load(&runtime, &discovery).await.unwrap();
    Setup {
        server,
        registry,
        _runtime: runtime,
        _dir: dir,
    }
}

impl Setup {
    fn cloner(&self, kind: &str) -> Cloner {
        self.registry.cloner_for(kind).unwrap().2.clone()
    }
    fn grant(&self) -> Grant {
        Grant::online(self.server.client("dev", "prod"))
    }
    async fn list(&self, kind: &str) -> Result<usize, PluginError> {
        self.cloner(kind)
            .list(Call::new(self.grant(), &CallContext::default(), kind))
            .await
            .map(|v| v.len())
    }
    /// The well-behaved kind of the same plugin still works.
    async fn still_works(&self) {
        assert_eq!(self.list("well").await.unwrap(), 1);
    }
}

#[tokio::test]
async fn manifest_limits_are_applied() {
    let s = setup().await;
    let info = s.registry.plugins().next().unwrap();
    assert_eq!(info.name, "hostile");
    assert_eq!(info.limits.cpu.as_millis(), 300);
    assert_eq!(info.limits.memory_bytes, 16 << 20);
    assert!(s.registry.kinds().count() >= 10);
}

#[tokio::test]
async fn infinite_loop_stops_at_the_cpu_limit() {
    let s = setup().await;
    let e = s.list("spin").await.unwrap_err();
    assert!(matches!(e, PluginError::Limit { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("plugin hostile") && m.contains("list spin") && m.contains("cpu-ms"),
        "{m}"
    );
    s.still_works().await;
}

#[tokio::test]
async fn memory_bomb_stops_at_the_memory_limit() {
    let s = setup().await;
    let m = s.list("hog").await.unwrap_err().to_string();
    assert!(
        m.contains("plugin hostile") && m.contains("memory-mib") && m.contains("16 MiB"),
        "{m}"
    );
    s.still_works().await;
}

#[tokio::test]
async fn panic_is_reported_with_its_message() {
    let s = setup().await;
    let e = s.list("crash").await.unwrap_err();
    assert!(matches!(e, PluginError::Trap { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("plugin hostile") && m.contains("panics on purpose"),
        "{m}"
    );
    s.still_works().await;
}

#[tokio::test]
async fn requests_cannot_leave_the_two_environments() {
    let s = setup().await;
    for kind in ["escape", "climb"] {
        let e = s.list(kind).await.unwrap_err();
        assert!(matches!(e, PluginError::Violation { .. }), "{kind}: {e:?}");
        let m = e.to_string();
        assert!(m.contains("plugin hostile broke a sandbox rule"), "{m}");
    }
    assert!(
        s.server
            .log()
            .iter()
            .all(|l| l.org == "dev" || l.org == "prod"),
        "{:?}",
        s.server.log()
    );
    assert!(
        s.server.log().is_empty(),
        "nothing should have been sent: {:?}",
        s.server.log()
    );
    s.still_works().await;
}

#[tokio::test]
async fn source_is_read_only() {
    let s = setup().await;
    let m = s.list("write-source").await.unwrap_err().to_string();
    assert!(
        m.contains("source is read-only") && m.contains("POST"),
        "{m}"
    );
    assert!(s.server.writes_to("dev").is_empty());
    assert_eq!(s.server.tag_names("dev").len(), 3);
}

#[tokio::test]
async fn a_source_write_exception_is_an_exact_path() {
    let s = setup().await;
    // The manifest allows `POST jobs` and `PUT jobs/{id}`: neither stretches further.
    for kind in ["write-near", "write-encoded"] {
        let m = s.list(kind).await.unwrap_err().to_string();
        assert!(m.contains("source is read-only"), "{kind}: {m}");
    }
    let m = s.list("override").await.unwrap_err().to_string();
    assert!(
        m.contains("X-HTTP-Method-Override") && m.contains("set by the host"),
        "{m}"
    );
    assert!(
        s.server.log().is_empty(),
        "a request was sent: {:?}",
        s.server.log()
    );
    let info = s.registry.plugins().next().unwrap();
    assert_eq!(info.source_writes, ["POST jobs", "PUT jobs/{id}"]);
    s.still_works().await;
}

#[tokio::test]
async fn a_batch_with_a_forbidden_request_sends_nothing() {
    let s = setup().await;
    let m = s.list("write-source-batch").await.unwrap_err().to_string();
    assert!(
        m.contains("source is read-only") && m.contains("POST"),
        "{m}"
    );
    assert!(
        s.server.log().is_empty(),
        "part of the batch was sent: {:?}",
        s.server.log()
    );
    s.still_works().await;
}

#[tokio::test]
async fn plugin_cannot_set_credentials() {
    let s = setup().await;
    let m = s.list("steal-auth").await.unwrap_err().to_string();
    assert!(
        m.contains("\"Authorization\"") && m.contains("set by the host"),
        "{m}"
    );
    assert!(
        s.server
            .log()
            .iter()
            .all(|l| l.authorization.as_deref() != Some("Bearer mine"))
    );
}

#[tokio::test]
async fn response_bodies_are_capped() {
    let s = setup().await;
    let m = s.list("greedy").await.unwrap_err().to_string();
    assert!(
        m.contains("max-response-mib") && m.contains("1048576"),
        "{m}"
    );
    s.still_works().await;
}

#[tokio::test]
async fn a_batch_holds_no_more_answers_than_the_plugins_memory() {
    let s = setup().await;
    let m = s.list("hoard").await.unwrap_err().to_string();
    assert!(
        m.contains("the batch's answers together (memory-mib)") && m.contains("16777216"),
        "{m}"
    );
    s.still_works().await;
}

#[tokio::test]
async fn a_batch_of_lists_holds_no_more_than_the_plugins_memory() {
    let s = setup().await;
    let m = s.list("hoard-lists").await.unwrap_err().to_string();
    assert!(
        m.contains("the batch's lists together, half the plugin's memory-mib")
            && m.contains("8388608"),
        "{m}"
    );
    s.still_works().await;
}

#[tokio::test]
async fn a_transfer_is_capped_by_the_runs_max_file_size_whatever_the_plugin_asks() {
    let s = setup().await;
    let config = ferry::net::client::ClientConfig {
        max_file_size: 1 << 20,
        ..Default::default()
    };
    let grant = Grant::online(s.server.client_with("dev", "prod", &config));
    let got = s
        .cloner("gulp")
        .list(Call::new(grant, &CallContext::default(), "gulp"))
        .await
        .unwrap();
    assert!(got[0].key.contains("TooLarge("), "{:?}", got[0].key);
    assert!(
        s.server.writes_to("prod").is_empty(),
        "nothing was uploaded"
    );
}

#[tokio::test]
async fn sleeping_does_not_burn_cpu_but_wall_clock_is_capped() {
    let s = setup().await;
    assert_eq!(
        s.list("nap").await.unwrap(),
        1,
        "600 ms of sleep must fit a 300 ms CPU budget"
    );
    let m = s.list("idle").await.unwrap_err().to_string();
    assert!(m.contains("wall-ms") && m.contains("8000"), "{m}");
}

#[tokio::test]
async fn interrupt_cancels_a_sleeping_plugin() {
    let s = setup().await;
    let grant = s.grant();
    let cancel = grant.cancel.clone();
    let cloner = s.cloner("idle");
    let call = tokio::spawn(async move {
        cloner
            .list(Call::new(grant, &CallContext::default(), "idle"))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    cancel.cancel();
    let m = call.await.unwrap().unwrap_err().to_string();
    assert!(m.contains("cancelled"), "{m}");
}

/// Collects what plugins say through `timer.progress`.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<(String, u8, String)>>);

impl ferry::engine::progress::PluginProgress for Heard {
    fn plugin(&self, plugin: &str, percent: u8, message: &str) {
        let said = (plugin.to_string(), percent, message.to_string());
        self.0.lock().unwrap().push(said);
    }
}

#[tokio::test]
async fn progress_reaches_the_runs_listener_capped_and_time_counts_into_the_run() {
    let s = setup().await;
    let heard = std::sync::Arc::new(Heard::default());
    let grant = s.grant().reporting_to(heard.clone());
    let stats = grant.stats.clone();
    let other = s.grant();
    assert_eq!(
        s.cloner("chatty")
            .list(Call::new(grant, &CallContext::default(), "chatty"))
            .await
            .unwrap()
            .len(),
        1
    );
    let heard = heard.0.lock().unwrap();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert_eq!(heard[0], ("hostile".into(), 40, "EXPORTING".into()));
    assert_eq!((heard[1].1, heard[1].2.len()), (100, 512));
    assert_eq!(
        stats.snapshot().wasm.calls,
        1,
        "the call counts into its run"
    );
    assert_eq!(other.stats.snapshot().wasm.calls, 0, "and not into another");
}

#[tokio::test]
async fn calls_without_a_grant_have_no_network() {
    let s = setup().await;
    let m = s
        .cloner("escape")
        .list(Call::new(
            Grant::offline(),
            &CallContext::default(),
            "escape",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(m.contains("no network access"), "{m}");
}

#[tokio::test]
async fn a_corrupt_plugin_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.wasm");
    std::fs::write(&bad, b"\0asm\x0d\0\x01\0 this is not a component").unwrap();
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let discovery = Discovery {
        bundled: false,
        paths: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let e = Registry::load(&runtime, &discovery)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("broken") && e.contains("cannot be loaded"),
        "{e}"
    );
    std::fs::write(&bad, b"plain text").unwrap();
    let e = Registry::load(&runtime, &discovery)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a WebAssembly file"), "{e}");
}

#[tokio::test]
async fn bad_manifest_is_refused_with_file_and_field() {
    let dir = support::plugin_dir("ferry-hostile");
    std::fs::write(dir.path().join("ferry_hostile.toml"), "[limits]\ncpu = 5\n").unwrap();
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let discovery = Discovery {
        bundled: false,
        paths: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let e = format!(
        "{:#}",
        Registry::load(&runtime, &discovery).await.err().unwrap()
    );
    assert!(e.contains("ferry_hostile.toml") && e.contains("cpu"), "{e}");
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk() {
    let cache = tempfile::tempdir().unwrap();
    let dir = support::plugin_dir("ferry-hostile");
    let discovery = Discovery {
        bundled: false,
        paths: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let runtime = WasmRuntime::new(Some(cache.path().to_path_buf())).unwrap();
    Registry::load(&runtime, &discovery).await.unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].ends_with(".cwasm"));
    // A second runtime loads from the cache and works the same.
    let runtime = WasmRuntime::new(Some(cache.path().to_path_buf())).unwrap();
    let registry = Registry::load(&runtime, &discovery).await.unwrap();
    assert!(registry.cloner_for("well").is_some());
}

/// The kinds a runtime caching in `cache` loads from the plugin crate `crate_name`.
async fn kinds_through_cache(cache: &std::path::Path, crate_name: &str) -> Vec<String> {
    let dir = support::plugin_dir(crate_name);
    let runtime = WasmRuntime::new(Some(cache.to_path_buf())).unwrap();
    let discovery = Discovery {
        bundled: false,
        paths: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let registry = Registry::load(&runtime, &discovery).await.unwrap();
    registry.kinds().map(|(k, _)| k.name.clone()).collect()
}

#[tokio::test]
async fn a_compiled_component_planted_where_others_can_write_is_never_loaded() {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    // The hostile plugin's compilation, as a cache of this user's own writes it.
    let own = tempfile::tempdir().unwrap();
    assert!(
        kinds_through_cache(own.path(), "ferry-hostile")
            .await
            .contains(&"spin".to_string())
    );
    let compiled = std::fs::read_dir(own.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .unwrap();
    let name = compiled.file_name().unwrap().to_string_lossy().to_string();
    let engine_part = name.split_once('-').unwrap().1.to_string();
    // ... planted under the name of another plugin's component.
    let other = std::fs::read(support::test_plugins().join("ferry_contract_1_2.wasm")).unwrap();
    let other_name = format!(
        "{}-{engine_part}",
        hex::encode(sha2::Sha256::digest(&other))
    );
    let plant = |dir: &std::path::Path, dir_mode: u32, file_mode: u32| {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
        let to = dir.join(&other_name);
        std::fs::copy(&compiled, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(file_mode)).unwrap();
    };
    // A folder anyone may write to, and a private folder with a file anyone may write to.
    for (dir_mode, file_mode) in [(0o777, 0o644), (0o700, 0o666)] {
        let shared = tempfile::tempdir().unwrap();
        plant(shared.path(), dir_mode, file_mode);
        let kinds = kinds_through_cache(shared.path(), "ferry-contract-1-2").await;
        assert!(
            !kinds.is_empty() && !kinds.contains(&"spin".to_string()),
            "folder {dir_mode:o}, file {file_mode:o}: the planted component was loaded: {kinds:?}"
        );
    }
    // Planted in a private folder as a private file, it would be this user's own doing: used.
    let private = tempfile::tempdir().unwrap();
    plant(private.path(), 0o700, 0o600);
    let kinds = kinds_through_cache(private.path(), "ferry-contract-1-2").await;
    assert!(kinds.contains(&"spin".to_string()), "{kinds:?}");
}
