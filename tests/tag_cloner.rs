//! The bundled Unstract `tag` cloner, end to end through the WASM runtime against a server
//! with DRF paging: list every page on the source, find by exact name on the target, create,
//! update; the source receives no write and every request carries the host's key.

mod common;

use common::TestServer;
use ferry::plugin::registry::{Discovery, Registry};
use ferry::plugin::wasm::WasmRuntime;
use ferry::plugin::wasm::state::Grant;
use ferry::plugin::{CallContext, Resource};
use serde_json::json;

async fn bundled() -> (WasmRuntime, Registry) {
    let runtime = WasmRuntime::new(common::cache_dir()).unwrap();
    let registry = Registry::load(&runtime, &Discovery { bundled: true, ..Default::default() }).await.unwrap();
    (runtime, registry)
}

#[tokio::test]
async fn tag_cloner_lists_every_page_finds_and_creates() {
    let server = TestServer::start(&[("dev", 120), ("prod", 0)]).await;
    let (_rt, registry) = bundled().await;
    let (plugin, kind, cloner) = registry.cloner_for("tag").expect("the bundled plugin declares tag");
    assert_eq!(plugin.name, "unstract");
    assert_eq!(kind.key, vec!["/name"]);
    let grant = Grant { http: Some(server.client("dev", "prod")), cancel: Default::default() };
    let ctx = CallContext::default();

    let tags = cloner.list(grant.clone(), &ctx, "tag").await.unwrap();
    assert_eq!(tags.len(), 120, "all three pages of 50");
    let pages = server.log().iter().filter(|l| l.org == "dev" && l.path == "tags/").count();
    assert_eq!(pages, 3);
    assert_eq!(tags[7].key, "tag 007 é");
    assert_eq!(tags[7].id, "8");

    // Not on the target yet.
    assert_eq!(cloner.find(grant.clone(), &ctx, "tag", &tags[7]).await.unwrap(), None);
    let created = cloner.create(grant.clone(), &ctx, "tag", &tags[7]).await.unwrap();
    assert_eq!(created.key, "tag 007 é");
    assert_eq!(server.tag_names("prod"), vec!["tag 007 é"]);
    assert_eq!(server.tags("prod")[0]["description"], "seeded 7");

    // Now it is found, by exact name only.
    let found = cloner.find(grant.clone(), &ctx, "tag", &tags[7]).await.unwrap().unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(cloner.find(grant.clone(), &ctx, "tag", &tags[8]).await.unwrap(), None);

    // Update makes the writable fields equal.
    let mut changed: Resource = tags[7].clone();
    changed.body["description"] = json!("changed on the source");
    cloner.update(grant.clone(), &ctx, "tag", &created.id, &changed).await.unwrap();
    assert_eq!(server.tags("prod")[0]["description"], "changed on the source");

    assert!(server.writes_to("dev").is_empty(), "the source was written: {:?}", server.writes_to("dev"));
    for l in server.log() {
        assert_eq!(l.authorization.as_deref(), Some(format!("Bearer key-{}", l.org).as_str()), "{l:?}");
    }
}

#[tokio::test]
async fn a_rejected_create_is_an_invalid_error_naming_the_call() {
    let server = TestServer::start(&[("dev", 1), ("prod", 1)]).await;
    let (_rt, registry) = bundled().await;
    let (_, _, cloner) = registry.cloner_for("tag").unwrap();
    let grant = Grant { http: Some(server.client("dev", "prod")), cancel: Default::default() };
    let tags = cloner.list(grant.clone(), &CallContext::default(), "tag").await.unwrap();
    // The same name exists on prod: the server answers 400 with a DRF field error.
    let e = cloner.create(grant, &CallContext::default(), "tag", &tags[0]).await.unwrap_err().to_string();
    assert!(e.contains("plugin unstract") && e.contains("create tag") && e.contains("already exists"), "{e}");
}

#[tokio::test]
async fn a_wrong_key_is_denied() {
    let server = TestServer::start(&[("dev", 1), ("prod", 0)]).await;
    let (_rt, registry) = bundled().await;
    let (_, _, cloner) = registry.cloner_for("tag").unwrap();
    // The source connection points at prod's URL but carries dev's key.
    let conn = |side, org: &str, key: &str| ferry::net::Connection::new(side, &server.base(org), ferry::net::Credential::Bearer(ferry::net::Secret::new(key))).unwrap();
    let envs = ferry::net::Environments { source: conn(ferry::net::Side::Source, "prod", "key-dev"), target: conn(ferry::net::Side::Target, "prod", "key-prod") };
    let client = ferry::net::HttpClient::new(envs, &Default::default()).unwrap();
    let e = cloner.list(Grant { http: Some(client), cancel: Default::default() }, &CallContext::default(), "tag").await.unwrap_err().to_string();
    assert!(e.contains("401") && e.contains("denied"), "{e}");
    assert!(!e.contains("key-dev"), "a key leaked into an error: {e}");
}
