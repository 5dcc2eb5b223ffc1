//! The Rhai runtime: hooks transform and skip with pure helpers; hostile scripts stop at
//! their limits with errors naming the hook, the resource and the limit; Rhai cloners speak
//! the same contract as WASM ones, under the same network rules.

use crate::support;
use crate::support::TestServer;
use ferry::plugin::Call;
use ferry::plugin::grant::Grant;
use ferry::plugin::registry::{Discovery, Registry};
use ferry::plugin::rhai::{RhaiHook, RhaiLimits};
use ferry::plugin::types::{HookContext, HookOutcome};
use ferry::plugin::wasm::WasmRuntime;
use ferry::plugin::{CallContext, PluginError, Resource};
use serde_json::{Value, json};

fn resource(body: Value) -> Resource {
    Resource::new(
        "adapter",
        "7",
        body["name"].as_str().unwrap_or(""),
        body.clone(),
    )
}

fn ctx(params: Value) -> HookContext {
    HookContext {
        source_env: "dev".into(),
        target_env: "prod".into(),
        kind: "adapter".into(),
        params,
        ..Default::default()
    }
}

async fn run(script: &str, body: Value) -> Result<HookOutcome, PluginError> {
    let hook = RhaiHook::compile("test.rhai", script, RhaiLimits::HOOK).unwrap();
    hook.apply(&ctx(json!({"suffix": "-prod"})), &resource(body))
        .await
}

fn kept(o: HookOutcome) -> Value {
    match o {
        HookOutcome::Keep(r) => r.body,
        HookOutcome::Skip(why) => panic!("skipped: {why}"),
    }
}

#[tokio::test]
async fn a_hook_renames_with_context_and_params() {
    let out = run(
        r#"fn transform(ctx, res) {
            res.body.name = swap_suffix(res.body.name, "-" + ctx.source_env, ctx.params.suffix);
            res.key = res.body.name;
            res
        }"#,
        json!({"name": "openai-dev", "model": "gpt"}),
    )
    .await
    .unwrap();
    assert_eq!(kept(out), json!({"name": "openai-prod", "model": "gpt"}));
}

#[tokio::test]
async fn pure_helpers_avoid_the_replace_pitfall() {
    let out = run(
        r#"fn transform(ctx, res) {
            res.body.name = replace_all(res.body.name, "dev", "prod");
            res.body.url = regex_replace(res.body.url, "^https://([a-z]+)\\.dev\\.", "https://$1.prod.");
            res = set_path(res, "/body/settings/region", "eu");
            res = remove_path(res, "/body/secret");
            res.body.had_model = get_path(res, "/body/models/1") == "b";
            res.body.missing = get_path(res, "/body/nope/deeper") == ();
            res
        }"#,
        json!({"name": "dev-dev", "url": "https://api.dev.example.com", "secret": "x", "models": ["a", "b"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        kept(out),
        json!({"name": "prod-prod", "url": "https://api.prod.example.com", "settings": {"region": "eu"}, "models": ["a", "b"], "had_model": true, "missing": true})
    );
}

#[tokio::test]
async fn a_hook_can_skip_or_fail_a_resource() {
    let skip = run(r#"fn transform(ctx, res) { if res.body.name.starts_with("tmp") { return skip("scratch resource"); } res }"#, json!({"name": "tmp-1"})).await.unwrap();
    assert_eq!(skip, HookOutcome::Skip("scratch resource".into()));
    let e = run(
        r#"fn transform(ctx, res) { throw "no mapping for " + res.key; }"#,
        json!({"name": "x"}),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("test.rhai")
            && e.contains("transform adapter \"x\"")
            && e.contains("no mapping for x"),
        "{e}"
    );
    let e = run(r#"fn transform(ctx, res) { 42 }"#, json!({"name": "x"}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected the resource"), "{e}");
}

#[tokio::test]
async fn hostile_hooks_stop_at_their_limits() {
    let cases = [
        ("loop", "fn transform(ctx, res) { loop { } }", "operations"),
        (
            "recursion",
            "fn f(x) { f(x + 1) } fn transform(ctx, res) { f(0) }",
            "call depth",
        ),
        (
            "string bomb",
            r#"fn transform(ctx, res) { let s = "xxxxxxxxxxxxxxxx"; loop { s += s; } }"#,
            "size",
        ),
        // Rhai checks array sizes on assignment, not on every push: the operation or time budget
        // stops this one, whichever comes first.
        (
            "array bomb",
            "fn transform(ctx, res) { let a = []; loop { a.push(1); } }",
            "limit of",
        ),
        (
            "huge output",
            r#"fn transform(ctx, res) { res.body.big = "x".pad(2000000, "y"); res }"#,
            "size",
        ),
    ];
    for (what, script, limit) in cases {
        let e = run(script, json!({"name": "a"})).await.unwrap_err();
        assert!(matches!(e, PluginError::Limit { .. }), "{what}: {e:?}");
        let m = e.to_string();
        assert!(
            m.contains("test.rhai") && m.contains("transform adapter \"a\"") && m.contains(limit),
            "{what}: {m}"
        );
    }
}

#[tokio::test]
async fn the_wall_clock_deadline_stops_a_slow_script() {
    // Few operations each, but slow ones: the deadline, not the operation count, stops it.
    let limits = RhaiLimits {
        max_operations: u64::MAX / 2,
        cpu: std::time::Duration::from_millis(100),
        ..RhaiLimits::HOOK
    };
    let hook = RhaiHook::compile(
        "slow.rhai",
        r#"fn transform(ctx, res) { loop { regex_match("aaaa", "a+b?"); } }"#,
        limits,
    )
    .unwrap();
    let m = hook
        .apply(&ctx(json!({})), &resource(json!({"name": "a"})))
        .await
        .unwrap_err()
        .to_string();
    assert!(m.contains("time of 100 ms"), "{m}");
}

#[test]
fn forbidden_features_do_not_compile_or_run() {
    let compile = |s: &str| {
        RhaiHook::compile("bad.rhai", s, RhaiLimits::HOOK)
            .err()
            .map(|e| e.to_string())
    };
    let e = compile("fn transform(ctx, res) { eval(\"1\") }").unwrap();
    assert!(e.contains("bad.rhai") && e.contains("eval"), "{e}");
    // `import` has no module resolver to reach files: a script using it fails.
    let e = match RhaiHook::compile(
        "bad.rhai",
        "import \"/etc/passwd\" as y; fn transform(ctx, res) { res }",
        RhaiLimits::HOOK,
    ) {
        Err(e) => e.to_string(),
        Ok(hook) => hook
            .apply_blocking(&ctx(json!({})), &resource(json!({"name": "a"})))
            .unwrap_err()
            .to_string(),
    };
    assert!(
        e.contains("bad.rhai") && (e.contains("module") || e.contains("import")),
        "{e}"
    );
    let e = compile("fn transform(ctx, res) { undefined_variable }").unwrap();
    assert!(e.contains("undefined_variable"), "strict variables: {e}");
    let e = compile("fn transform(ctx, res) {\n  let x = ;\n}").unwrap();
    assert!(
        e.contains("bad.rhai line 2, column"),
        "syntax errors name line and column: {e}"
    );
    let e = compile("fn other(a) { a }").unwrap();
    assert!(e.contains("must define fn transform(ctx, res)"), "{e}");
}

#[test]
fn scripts_have_no_files_or_network() {
    let hook = RhaiHook::compile(
        "x.rhai",
        r#"fn transform(ctx, res) { http_get("source", "tags/") }"#,
        RhaiLimits::HOOK,
    )
    .unwrap();
    let e = hook
        .apply_blocking(&ctx(json!({})), &resource(json!({"name": "a"})))
        .unwrap_err()
        .to_string();
    assert!(e.contains("http_get") && e.contains("not found"), "{e}");
}

#[tokio::test]
async fn a_rhai_cloner_speaks_the_same_contract() {
    let server = TestServer::start(&[("dev", 60), ("prod", 0)]).await;
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let path = support::repo_root().join("tests/fixtures/rhai/tag.rhai");
    let registry = Registry::load(
        &runtime,
        &Discovery {
            bundled: false,
            paths: vec![path],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (info, _, cloner) = registry.cloner_for("tag").unwrap();
    assert_eq!((info.name.as_str(), info.runtime), ("tag", "rhai"));
    let grant = Grant::online(server.client("dev", "prod"));
    let c = CallContext::default();
    let tags = support::listed(cloner, &grant, "tag").await;
    assert_eq!(tags.len(), 60);
    assert_eq!(
        cloner
            .find(Call::new(grant.clone(), &c, "tag"), &tags[3])
            .await
            .unwrap(),
        None
    );
    let created = cloner
        .create(Call::new(grant.clone(), &c, "tag"), &tags[3])
        .await
        .unwrap();
    assert_eq!(created.key, "tag 003 é");
    assert_eq!(
        cloner
            .find(Call::new(grant.clone(), &c, "tag"), &tags[3])
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert_eq!(server.tag_names("prod"), vec!["tag 003 é"]);
    // Creating it again: the server refuses and the script's error names it.
    let e = cloner
        .create(Call::new(grant, &c, "tag"), &tags[3])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("create tag tag 003 é: 400"), "{e}");
    assert!(server.writes_to("dev").is_empty());
}

#[tokio::test]
async fn a_rhai_cloner_cannot_write_the_source() {
    let server = TestServer::start(&[("dev", 1), ("prod", 0)]).await;
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let path = support::repo_root().join("tests/fixtures/rhai/sneaky.rhai");
    let registry = Registry::load(
        &runtime,
        &Discovery {
            bundled: false,
            paths: vec![path],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, _, cloner) = registry.cloner_for("sneak").unwrap();
    let grant = Grant::online(server.client("dev", "prod"));
    let e = cloner
        .list(Call::new(grant, &CallContext::default(), "sneak"))
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Violation { .. }), "{e:?}");
    assert!(e.to_string().contains("source is read-only"), "{e}");
    assert!(server.writes_to("dev").is_empty());
}

#[tokio::test]
async fn two_plugins_declaring_one_kind_need_a_choice() {
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let path = support::repo_root().join("tests/fixtures/rhai/tag.rhai");
    let mut d = Discovery {
        bundled: true,
        paths: vec![path],
        ..Default::default()
    };
    let e = Registry::load(&runtime, &d)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("kind \"tag\" is declared by several plugins")
            && e.contains("`kind_plugin` tag=PLUGIN"),
        "{e}"
    );
    d.kind_choice.insert("tag".into(), "tag".into());
    let r = Registry::load(&runtime, &d).await.unwrap();
    assert_eq!(r.cloner_for("tag").unwrap().0.runtime, "rhai");
    d.kind_choice.insert("tag".into(), "nobody".into());
    let e = Registry::load(&runtime, &d)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not declare"), "{e}");
}

#[tokio::test]
async fn a_rhai_cloner_sends_nothing_after_its_call_ends() {
    let server = TestServer::start(&[("dev", 1), ("prod", 0)]).await;
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let path = support::repo_root().join("tests/fixtures/rhai/runaway.rhai");
    let discovery = Discovery {
        bundled: false,
        paths: vec![path],
        ..Default::default()
    };
    let registry = Registry::load(&runtime, &discovery).await.unwrap();
    let (_, _, cloner) = registry.cloner_for("runaway").unwrap();
    let e = cloner
        .list(Call::new(
            Grant::online(server.client("dev", "prod")),
            &CallContext::default(),
            "runaway",
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("wall-ms"), "{e}");
    assert!(!server.log().is_empty(), "it did read before its limit");
    // Its thread may finish the request in flight; after that, nothing more.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let then = server.log().len();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(server.log().len(), then, "requests after the call ended");
}
