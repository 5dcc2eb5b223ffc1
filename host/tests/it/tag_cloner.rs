//! The bundled Unstract `tag` cloner, end to end through the WASM runtime against a server
//! with DRF paging: list every page on the source, find by exact name on the target, create,
//! update; the source receives no write and every request carries the host's key.
//! Also: a whole kind looked up in one listing (find-all, contract 1.1.0), and a plugin
//! built against the frozen 1.0.0 contract still loading and cloning.

use crate::support;
use crate::support::TestServer;
use ferry::plugin::Call;
use ferry::plugin::grant::Grant;
use ferry::plugin::registry::{Discovery, Registry};
use ferry::plugin::wasm::WasmRuntime;
use ferry::plugin::{CallContext, Resource};
use serde_json::json;

async fn bundled() -> (WasmRuntime, Registry) {
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let registry = Registry::load(
        &runtime,
        &Discovery {
            bundled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (runtime, registry)
}

#[tokio::test]
async fn tag_cloner_lists_every_page_finds_and_creates() {
    let server = TestServer::start(&[("dev", 120), ("prod", 0)]).await;
    let (_rt, registry) = bundled().await;
    let (plugin, kind, cloner) = registry
        .cloner_for("tag")
        .expect("the bundled plugin declares tag");
    assert_eq!(plugin.name, "unstract");
    assert_eq!(kind.key, vec!["/name"]);
    let grant = Grant::online(server.client("dev", "prod"));
    let ctx = CallContext::default();

    let tags = support::listed(cloner, &grant, "tag").await;
    assert_eq!(tags.len(), 120, "all three pages of 50");
    let pages = server
        .log()
        .iter()
        .filter(|l| l.org == "dev" && l.path == "tags/")
        .count();
    assert_eq!(pages, 3);
    assert_eq!(tags[7].key, "tag 007 é");
    assert_eq!(tags[7].id, "8");

    // Not on the target yet.
    assert_eq!(
        cloner
            .find(Call::new(grant.clone(), &ctx, "tag"), &tags[7])
            .await
            .unwrap(),
        None
    );
    let created = cloner
        .create(Call::new(grant.clone(), &ctx, "tag"), &tags[7])
        .await
        .unwrap();
    assert_eq!(created.key, "tag 007 é");
    assert_eq!(server.tag_names("prod"), vec!["tag 007 é"]);
    assert_eq!(server.tags("prod")[0]["description"], "seeded 7");

    // Now it is found, by exact name only.
    let found = cloner
        .find(Call::new(grant.clone(), &ctx, "tag"), &tags[7])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(
        cloner
            .find(Call::new(grant.clone(), &ctx, "tag"), &tags[8])
            .await
            .unwrap(),
        None
    );

    // Update makes the writable fields equal.
    let mut changed: Resource = tags[7].clone();
    changed.body["description"] = json!("changed on the source");
    cloner
        .update(Call::new(grant.clone(), &ctx, "tag"), &created.id, &changed)
        .await
        .unwrap();
    assert_eq!(
        server.tags("prod")[0]["description"],
        "changed on the source"
    );

    assert!(
        server.writes_to("dev").is_empty(),
        "the source was written: {:?}",
        server.writes_to("dev")
    );
    for l in server.log() {
        assert_eq!(
            l.authorization.as_deref(),
            Some(format!("Bearer key-{}", l.org).as_str()),
            "{l:?}"
        );
    }
}

#[tokio::test]
async fn a_rejected_create_is_an_invalid_error_naming_the_call() {
    let server = TestServer::start(&[("dev", 1), ("prod", 1)]).await;
    let (_rt, registry) = bundled().await;
    let (_, _, cloner) = registry.cloner_for("tag").unwrap();
    let grant = Grant::online(server.client("dev", "prod"));
    let tags = support::listed(cloner, &grant, "tag").await;
    // The same name exists on prod: the server answers 400 with a DRF field error.
    let e = cloner
        .create(Call::new(grant, &CallContext::default(), "tag"), &tags[0])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("plugin unstract") && e.contains("create tag") && e.contains("already exists"),
        "{e}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_denied() {
    let server = TestServer::start(&[("dev", 1), ("prod", 0)]).await;
    let (_rt, registry) = bundled().await;
    let (_, _, cloner) = registry.cloner_for("tag").unwrap();
    // The source connection points at prod's URL but carries dev's key.
    let conn = |side, org: &str, key: &str| {
        ferry::net::Connection::new(
            side,
            &server.base(org),
            ferry::net::Credential::bearer(ferry::net::Secret::new(key)),
        )
        .unwrap()
    };
    let envs = ferry::net::Environments {
        source: conn(ferry::net::Side::Source, "prod", "key-dev"),
        target: conn(ferry::net::Side::Target, "prod", "key-prod"),
    };
    let client = ferry::net::HttpClient::new(envs, &Default::default()).unwrap();
    let e = cloner
        .list(Call::new(
            Grant::online(client),
            &CallContext::default(),
            "tag",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && e.contains("denied"), "{e}");
    assert!(!e.contains("key-dev"), "a key leaked into an error: {e}");
}

#[tokio::test]
async fn the_bundled_cloner_looks_up_a_whole_kind_in_one_listing() {
    let server = TestServer::start(&[("dev", 120), ("prod", 0)]).await;
    let (_rt, registry) = bundled().await;
    let (_, _, cloner) = registry.cloner_for("tag").unwrap();
    let grant = Grant::online(server.client("dev", "prod"));
    let ctx = CallContext::default();
    let tags = support::listed(cloner, &grant, "tag").await;
    let made = [
        cloner
            .create(Call::new(grant.clone(), &ctx, "tag"), &tags[3])
            .await
            .unwrap(),
        cloner
            .create(Call::new(grant.clone(), &ctx, "tag"), &tags[90])
            .await
            .unwrap(),
    ];
    let before = server.log().len();

    let wanted: Vec<(usize, Resource)> = tags.iter().cloned().enumerate().collect();
    let mut found = cloner
        .find_many(Call::new(grant.clone(), &ctx, "tag"), wanted, 8)
        .await
        .unwrap();
    found.sort_by_key(|(i, _)| *i);
    assert_eq!(found.len(), 120);
    for (i, f) in &found {
        match *i {
            3 => assert_eq!(f.as_ref().unwrap().id, made[0].id),
            90 => assert_eq!(f.as_ref().unwrap().id, made[1].id),
            _ => assert!(f.is_none(), "tag {i} was matched to {f:?}"),
        }
    }
    // find-all: one listing of the target (one page), not one lookup per tag.
    let lookups: Vec<_> = server.log()[before..].to_vec();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(
        (lookups[0].org.as_str(), lookups[0].path.as_str()),
        ("prod", "tags/")
    );
}

#[tokio::test]
async fn a_plugin_built_against_contract_1_0_still_loads_and_clones() {
    older_contract("ferry-contract-1-0", 0).await;
}

#[tokio::test]
async fn a_plugin_built_against_contract_1_1_still_loads_and_clones() {
    older_contract("ferry-contract-1-1", 1).await;
}

#[tokio::test]
async fn a_plugin_built_against_contract_1_2_still_loads_and_clones() {
    older_contract("ferry-contract-1-2", 2).await;
}

/// A tag cloner built straight on an older frozen WIT (1.`minor`.0) loads, lists, creates and
/// looks up (in one batch from 1.1.0, which has `find-all`); before 1.2.0 it supports no
/// delete, and says so; from 1.2.0 its delete runs. None has `export` (1.3.0): an export
/// reads nothing more of the source for it.
async fn older_contract(crate_name: &str, minor: u32) {
    let batch = minor >= 1;
    let server = TestServer::start(&[("dev", 120), ("prod", 0)]).await;
    let dir = support::plugin_dir(crate_name);
    let runtime = WasmRuntime::new(support::cache_dir()).unwrap();
    let registry = Registry::load(
        &runtime,
        &Discovery {
            bundled: false,
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (plugin, info, cloner) = registry
        .cloner_for("tag")
        .expect("the older plugin declares tag");
    assert_eq!(plugin.name, crate_name.replace('-', "_"));
    assert_eq!(info.support.deletes, minor >= 2, "delete came in 1.2.0");
    let grant = Grant::online(server.client("dev", "prod"));
    let ctx = CallContext::default();

    let tags = support::listed(cloner, &grant, "tag").await;
    assert_eq!(tags.len(), 120);
    let made = cloner
        .create(Call::new(grant.clone(), &ctx, "tag"), &tags[7])
        .await
        .unwrap();
    assert_eq!(server.tag_names("prod"), vec!["tag 007 é"]);

    let before = server.log().len();
    let wanted: Vec<(usize, Resource)> = tags[..10].iter().cloned().enumerate().collect();
    let found = cloner
        .find_many(Call::new(grant.clone(), &ctx, "tag"), wanted, 4)
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .filter(|(_, f)| f.is_some())
            .map(|(i, f)| (*i, f.as_ref().unwrap().id.clone()))
            .collect::<Vec<_>>(),
        vec![(7, made.id.clone())]
    );
    // 1.0.0 has no find-all: the host asks `find` per resource; 1.1.0 lists once.
    let lookups = server.log().len() - before;
    assert_eq!(lookups, if batch { 1 } else { 10 });
    let before = server.log().len();
    let note = cloner
        .export(Call::new(grant.clone(), &ctx, "tag"), &tags[7])
        .await
        .unwrap();
    assert_eq!(note, serde_json::Value::Null);
    assert_eq!(server.log().len(), before, "export read something");
    let deleted = cloner
        .delete(Call::new(grant.clone(), &ctx, "tag"), &made.unpack())
        .await;
    if minor < 2 {
        let err = deleted.unwrap_err().to_string();
        assert!(err.contains("older than 1.2.0"), "{err}");
        assert_eq!(server.tag_names("prod"), vec!["tag 007 é"]);
    } else {
        deleted.unwrap();
        assert!(server.tag_names("prod").is_empty());
        // Gone already: not-found, which the host counts as deleted.
        let again = cloner
            .delete(Call::new(grant.clone(), &ctx, "tag"), &made.unpack())
            .await
            .unwrap_err();
        assert!(
            again.to_string().contains("not found") || again.to_string().contains("gone"),
            "{again}"
        );
    }
    assert!(server.writes_to("dev").is_empty());
}
