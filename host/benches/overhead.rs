//! The plugin runtimes' overhead, printed as figures (see BENCHMARKS.md):
//! compiling a component, loading it from the cache, one WASM cloner call (fresh instance
//! from the cached `InstancePre` + call), one Rhai transform, and how fast a runaway plugin
//! is stopped after its deadline. Run: `cargo bench -p ferry --bench overhead`.

// how the library's tests build the test plugins (not every helper is used here)
#[allow(dead_code)]
#[path = "../tests/it/support/plugins.rs"]
mod support;

use ferry::plugin::grant::Grant;
use ferry::plugin::registry::{Discovery, Registry};
use ferry::plugin::rhai::{RhaiHook, RhaiLimits};
use ferry::plugin::types::{HookContext, Resource};
use ferry::plugin::wasm::WasmRuntime;
use ferry::plugin::{Call, CallContext};
use serde_json::json;
use std::time::{Duration, Instant};

/// Median and 95th percentile of `n` runs of `f`, after a warm-up.
async fn measure<F, Fut>(n: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..n / 10 + 1 {
        f().await;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    (times[n / 2], times[n * 95 / 100])
}

fn row(what: &str, (median, p95): (Duration, Duration)) {
    println!(
        "| {what} | {:.1} µs | {:.1} µs |",
        median.as_secs_f64() * 1e6,
        p95.as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() {
    let cache = tempfile::tempdir().unwrap();
    println!("| measure | median | p95 |\n|---|---|---|");

    // Compile (no cache) and load (warm cache) the bundled plugin.
    let t = Instant::now();
    let rt = WasmRuntime::new(None).unwrap();
    let _ = Registry::load(
        &rt,
        &Discovery {
            bundled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let compile = t.elapsed();
    let rt = WasmRuntime::new(Some(cache.path().to_path_buf())).unwrap();
    let _ = Registry::load(
        &rt,
        &Discovery {
            bundled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let t = Instant::now();
    let registry = Registry::load(
        &rt,
        &Discovery {
            bundled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let cached = t.elapsed();
    println!(
        "| compile the bundled component (no cache) + kinds() | {:.1} ms | |",
        compile.as_secs_f64() * 1e3
    );
    println!(
        "| load it from the disk cache + kinds() | {:.1} ms | |",
        cached.as_secs_f64() * 1e3
    );

    let (_, _, cloner) = registry.cloner_for("tag").unwrap();
    row(
        "WASM: fresh instance + kinds() call",
        measure(2000, || async {
            cloner.kinds().await.unwrap();
        })
        .await,
    );

    // The hostile plugin's well-behaved kind: instance + list returning one resource.
    let dir = support::plugin_dir("ferry-hostile");
    let hostile = Registry::load(
        &rt,
        &Discovery {
            bundled: false,
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, _, well) = hostile.cloner_for("well").unwrap();
    let ctx = CallContext::default();
    row(
        "WASM: fresh instance + list() returning one resource",
        measure(2000, || async {
            well.list(Call::new(Grant::offline(), &ctx, "well"))
                .await
                .unwrap();
        })
        .await,
    );

    // A Rhai rename hook on a typical resource.
    let hook = RhaiHook::compile(
        "rename.rhai",
        r#"fn transform(ctx, res) { res.body.adapter_name = swap_suffix(res.body.adapter_name, "-dev", "-prod"); res.key = res.body.adapter_name; res }"#,
        RhaiLimits::HOOK,
    )
    .unwrap();
    let res = Resource::new(
        "adapter",
        "3f2a",
        "openai-dev",
        json!({"id": "3f2a", "adapter_name": "openai-dev", "adapter_id": "openai|502ecf49", "adapter_type": "LLM", "description": "main model", "adapter_metadata": {"model": "gpt-4o", "max_tokens": 4096, "timeout": 900}, "is_default": false}),
    );
    let hctx = HookContext {
        source_env: "dev".into(),
        target_env: "prod".into(),
        kind: "adapter".into(),
        params: json!({}),
        ..Default::default()
    };
    row(
        "Rhai: transform, on the calling thread",
        measure(5000, || async {
            hook.apply_blocking(&hctx, &res).unwrap();
        })
        .await,
    );
    row(
        "Rhai: transform, via spawn_blocking",
        measure(5000, || async {
            hook.apply(&hctx, &res).await.unwrap();
        })
        .await,
    );

    // How promptly runaways stop after their deadline.
    println!("\n| runaway | limit | stopped after |\n|---|---|---|");
    let (_, _, spin) = hostile.cloner_for("spin").unwrap();
    let t = Instant::now();
    let _ = spin
        .list(Call::new(Grant::offline(), &ctx, "spin"))
        .await
        .unwrap_err();
    println!(
        "| WASM infinite loop | cpu-ms 300 | {} ms |",
        t.elapsed().as_millis()
    );
    let (_, _, hog) = hostile.cloner_for("hog").unwrap();
    let t = Instant::now();
    let _ = hog
        .list(Call::new(Grant::offline(), &ctx, "hog"))
        .await
        .unwrap_err();
    println!(
        "| WASM memory bomb | memory-mib 16 | {} ms |",
        t.elapsed().as_millis()
    );
    let spin = RhaiHook::compile(
        "loop.rhai",
        "fn transform(ctx, res) { loop {} }",
        RhaiLimits::HOOK,
    )
    .unwrap();
    let t = Instant::now();
    let _ = spin.apply(&hctx, &res).await.unwrap_err();
    println!(
        "| Rhai infinite loop | 1M operations / 500 ms | {} ms |",
        t.elapsed().as_millis()
    );
}
