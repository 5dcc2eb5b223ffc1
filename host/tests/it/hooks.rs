//! Transform hooks: the ready-made ones, the same hook in Rhai and as WASM giving the same
//! output, a chain of three after the rules, hostile WASM hooks contained (each fails only
//! its resource, naming hook, resource and limit). `ferry hook test` is tested with the CLI.

use crate::support;
use ferry::plugin::hook::Hook;
use ferry::plugin::types::{KindInfo, Resource};
use ferry::plugin::wasm::WasmRuntime;
use ferry::transform::rules::KindRules;
use ferry::transform::{HookStep, Transformed, Transformer, Verdict};
use serde_json::{Value, json};

fn kind(name: &str, key: &[&str]) -> KindInfo {
    KindInfo {
        name: name.into(),
        description: String::new(),
        depends_on: vec![],
        key: key.iter().map(|s| s.to_string()).collect(),
        references: vec![],
        secrets: vec!["/meta".into()],
        has_files: false,
        support: Default::default(),
    }
}

fn adapter(name: &str) -> Resource {
    let body = json!({"adapter_name": name, "adapter_type": "LLM", "meta": {"api_key": "sk-abc"}, "shared_users": [3], "notes": {"debug": true, "keep": 1}});
    Resource::new("adapter", "7", &format!("{name} / LLM"), body)
}

fn runtime() -> WasmRuntime {
    WasmRuntime::new(support::cache_dir()).unwrap()
}

fn load(rt: &WasmRuntime, uses: &str) -> Hook {
    Hook::load(uses, &support::repo_root().join("scripts"), rt).unwrap()
}

async fn run(t: &Transformer, info: &KindInfo, res: Resource) -> Transformed {
    t.apply(info, res).await
}

fn chain(steps: Vec<(Hook, Value)>) -> Transformer {
    Transformer {
        source_env: "dev".into(),
        target_env: "prod".into(),
        hooks: steps
            .into_iter()
            .map(|(hook, params)| HookStep {
                hook,
                kinds: vec![],
                params,
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_rename_hook_gives_the_same_output_in_rhai_and_as_wasm() {
    let rt = runtime();
    let (rhai, wasm) = (load(&rt, "rename.rhai"), load(&rt, "bundled:rename.wasm"));
    let info = kind("adapter", &["/adapter_name", "/adapter_type"]);
    let cases = [
        (json!({}), "openai-dev"),
        (json!({}), "dev-openai"),
        (
            json!({"from": "dev-", "to": "prod-", "at": "prefix"}),
            "dev-openai",
        ),
        (
            json!({"from": "-dev-", "to": "-prod-", "at": "anywhere"}),
            "s3-dev-inbox-dev-",
        ),
        (json!({"to": "_é-prod"}), "ünï-dev"),
        (json!({"at": "middle"}), "x-dev"),
        (json!({"from": 5}), "x-dev"),
    ];
    for (params, name) in cases {
        let a = run(
            &chain(vec![(rhai.clone(), params.clone())]),
            &info,
            adapter(name),
        )
        .await;
        let b = run(
            &chain(vec![(wasm.clone(), params.clone())]),
            &info,
            adapter(name),
        )
        .await;
        assert_eq!(a.resource, b.resource, "{params} {name}");
        match (&a.verdict, &b.verdict) {
            (Verdict::Fail(x), Verdict::Fail(y)) => {
                // Same message from the hook; each names its own hook.
                let tail = |s: &str| {
                    s.split_once(": ")
                        .map(|(_, t)| t.split(" line ").next().unwrap_or(t).to_string())
                        .unwrap_or_default()
                };
                assert_eq!(tail(x), tail(y), "{params}");
            }
            (x, y) => assert_eq!(x, y, "{params} {name}"),
        }
        let (ra, rb): (Vec<_>, Vec<_>) = (
            a.rewrites
                .iter()
                .map(|r| (&r.pointer, &r.old, &r.new))
                .collect(),
            b.rewrites
                .iter()
                .map(|r| (&r.pointer, &r.old, &r.new))
                .collect(),
        );
        assert_eq!(ra, rb);
    }
    let out = run(
        &chain(vec![(wasm, json!({}))]),
        &info,
        adapter("openai-dev"),
    )
    .await;
    assert_eq!(
        (
            out.resource.key.as_str(),
            out.resource.body["adapter_name"].as_str()
        ),
        ("openai-prod / LLM", Some("openai-prod")),
        "the new key is written into the key field"
    );
}

#[tokio::test]
async fn the_ready_made_hooks() {
    let rt = runtime();
    let info = kind("adapter", &["/adapter_name", "/adapter_type"]);
    // map-names: a table of names; strict fails a name it lacks.
    let map = load(&rt, "map-names.rhai");
    let out = run(
        &chain(vec![(
            map.clone(),
            json!({"map": {"openai-dev": "openai-prod"}}),
        )]),
        &info,
        adapter("openai-dev"),
    )
    .await;
    assert_eq!(out.resource.key, "openai-prod / LLM");
    let out = run(
        &chain(vec![(map.clone(), json!({"map": {}}))]),
        &info,
        adapter("other"),
    )
    .await;
    assert_eq!((out.verdict, out.rewrites.len()), (Verdict::Keep, 0));
    let out = run(
        &chain(vec![(map.clone(), json!({"map": {}, "strict": true}))]),
        &info,
        adapter("other"),
    )
    .await;
    assert!(
        matches!(&out.verdict, Verdict::Fail(e) if e.contains("map-names.rhai") && e.contains("adapter other is not in the map")),
        "{:?}",
        out.verdict
    );
    let out = run(&chain(vec![(map, json!({}))]), &info, adapter("x")).await;
    assert!(
        matches!(&out.verdict, Verdict::Fail(e) if e.contains("map = {")),
        "{:?}",
        out.verdict
    );

    // scrub: sharing by default; members by name at any depth; values set after.
    let scrub = load(&rt, "scrub.rhai");
    let out = run(
        &chain(vec![(scrub.clone(), json!({}))]),
        &info,
        adapter("a"),
    )
    .await;
    assert!(
        out.resource.body.get("shared_users").is_none()
            && out.resource.body["notes"]["debug"] == json!(true)
    );
    let out = run(
        &chain(vec![(
            scrub,
            json!({"remove": [], "matching": "^debug$", "set": {"/notes/keep": 2}}),
        )]),
        &info,
        adapter("a"),
    )
    .await;
    assert_eq!(out.resource.body["notes"], json!({"keep": 2}));
    assert_eq!(out.resource.body["shared_users"], json!([3]));
    let shown: Vec<String> = out.rewrites.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        [
            "/notes/debug: true → (absent) (hook bundled:scrub.rhai)".to_string(),
            "/notes/keep: 1 → 2 (hook bundled:scrub.rhai)".to_string()
        ]
        .iter()
        .map(|s| s.replace("bundled:scrub.rhai", "scrub.rhai"))
        .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_chain_of_three_runs_in_order_after_the_rules() {
    let rt = runtime();
    let info = kind("adapter", &["/adapter_name", "/adapter_type"]);
    let rules: KindRules = toml::from_str(
        "set = { \"/meta/api_key\" = \"sk-prod\", \"/tier\" = \"gold\" }\nremove = [\"/notes\"]",
    )
    .unwrap();
    let mut t = chain(vec![
        (
            load(&rt, "map-names.rhai"),
            json!({"map": {"openai-dev": "openai-staging"}}),
        ),
        (
            load(&rt, "bundled:rename.wasm"),
            json!({"from": "-staging"}),
        ),
        (load(&rt, "scrub.rhai"), json!({})),
    ]);
    t.kinds.insert("adapter".into(), rules);
    let out = run(&t, &info, adapter("openai-dev")).await;
    assert_eq!(out.verdict, Verdict::Keep);
    assert_eq!(
        out.resource.key, "openai-prod / LLM",
        "map-names, then rename from its output"
    );
    assert_eq!(
        out.resource.body,
        json!({"adapter_name": "openai-prod", "adapter_type": "LLM", "meta": {"api_key": "sk-prod"}, "tier": "gold"})
    );
    let by: Vec<(String, String)> = out
        .rewrites
        .iter()
        .map(|r| (r.pointer.clone(), r.by.clone()))
        .collect();
    assert_eq!(
        by,
        vec![
            ("/meta/api_key".into(), "kinds.adapter.set".into()),
            ("/tier".into(), "kinds.adapter.set".into()),
            ("/notes".into(), "kinds.adapter.remove".into()),
            ("/adapter_name".into(), "hook map-names.rhai".into()),
            ("/adapter_name".into(), "hook bundled:rename.wasm".into()),
            ("/shared_users".into(), "hook scrub.rhai".into()),
        ]
    );
    let secret = out
        .rewrites
        .iter()
        .find(|r| r.pointer == "/meta/api_key")
        .unwrap();
    assert_eq!(
        (secret.old.as_deref(), secret.new.as_deref()),
        (Some("***"), Some("***")),
        "secret fields are never shown"
    );
    // A hook that skips stops the chain.
    let skip = Hook::from(
        ferry::plugin::rhai::RhaiHook::compile(
            "skip.rhai",
            "fn transform(ctx, res) { skip(`not in ${ctx.target_env}`) }",
            ferry::plugin::rhai::RhaiLimits::HOOK,
        )
        .unwrap(),
    );
    let out = run(
        &chain(vec![
            (skip, json!({})),
            (load(&rt, "rename.rhai"), json!({})),
        ]),
        &info,
        adapter("openai-dev"),
    )
    .await;
    assert_eq!(
        out.verdict,
        Verdict::Leave("left behind by hook skip.rhai: not in prod".into())
    );
}

#[tokio::test]
async fn hostile_wasm_hooks_fail_only_their_resource() {
    let rt = runtime();
    let dir = support::test_plugins();
    let bytes = std::fs::read(dir.join("ferry_hostile_hook.wasm")).unwrap();
    let hook = Hook::from(
        rt.load_hook(
            "hostile-hook.wasm",
            &bytes,
            ferry::plugin::manifest::Limits::HOOK,
        )
        .unwrap(),
    );
    let info = kind("adapter", &["/adapter_name", "/adapter_type"]);
    for (mode, wanted) in [
        (
            "loop",
            "stopped at its limit of CPU time of 250 ms (cpu-ms)",
        ),
        (
            "memory",
            "stopped at its limit of memory of 32 MiB (memory-mib)",
        ),
        ("huge", "stopped at its limit of output of 4 MiB"),
        ("panic", "crashed"),
        ("error", "adapter a / LLM is not allowed in prod"),
    ] {
        let started = std::time::Instant::now();
        let out = run(
            &chain(vec![(hook.clone(), json!({"mode": mode}))]),
            &info,
            adapter("a"),
        )
        .await;
        let Verdict::Fail(e) = &out.verdict else {
            panic!("{mode}: {:?}", out.verdict)
        };
        assert!(
            e.starts_with("hook hostile-hook.wasm: ") && e.contains(wanted),
            "{mode}: {e}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{mode} was not stopped"
        );
        // The next resource goes through the same hook untouched.
        let ok = run(&chain(vec![(hook.clone(), json!({}))]), &info, adapter("b")).await;
        assert_eq!(ok.verdict, Verdict::Keep);
    }
    // A cloner is not a hook, and a hook is not a cloner.
    let cloner = std::fs::read(dir.join("ferry_hostile.wasm")).unwrap();
    let e = rt
        .load_hook("c.wasm", &cloner, ferry::plugin::manifest::Limits::HOOK)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("is a cloner plugin, not a transform hook"),
        "{e}"
    );
    let e = rt
        .load_cloner(
            "h",
            &bytes,
            ferry::plugin::manifest::Limits::CLONER,
            Default::default(),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is a transform hook, not a cloner"), "{e}");
}
