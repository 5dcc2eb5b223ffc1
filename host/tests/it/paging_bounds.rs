//! A hostile server cannot make a listing run forever or fill memory: a page that repeats
//! the one before stops it, a `count` that lies plans no flood of requests, and the items
//! and bytes of one list are bounded, each with an error naming the bound.

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, response::IntoResponse};
use ferry::net::client::ClientConfig;
use ferry::net::paging::{ListBounds, ListError, Listing, Paging, list_all};
use ferry::net::{Connection, Credential, Environments, HttpClient, Policy, Side};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

type Hits = Arc<AtomicUsize>;

/// `/same/`: the same full page whatever the offset. `/endless/`: DRF pages of one item
/// each, every one with a next link, under a `count` of five million. `/fat/`: pages of
/// 256 KiB, each item new, the offset ignored.
async fn server() -> (HttpClient, Hits) {
    let hits: Hits = Arc::default();
    let app = Router::new()
        .route(
            "/same/",
            get(|| async { Json(json!([{"id": 1}, {"id": 2}])) }),
        )
        .route("/endless/", get(endless))
        .route("/fat/", get(fat))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let conn = |side| Connection::new(side, &url, Credential::None).unwrap();
    let config = ClientConfig {
        list: ListBounds {
            items: 1000,
            bytes: 4 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let envs = Environments {
        source: conn(Side::Source),
        target: conn(Side::Target),
    };
    (HttpClient::new(envs, &config).unwrap(), hits)
}

async fn endless(
    State(hits): State<Hits>,
    Query(q): Query<HashMap<String, u64>>,
) -> impl IntoResponse {
    hits.fetch_add(1, Ordering::Relaxed);
    let page = q.get("page").copied().unwrap_or(1);
    Json(json!({
        "count": 5_000_000,
        "next": format!("/endless/?page={}", page + 1),
        "results": [{"id": page}],
    }))
}

async fn fat(State(hits): State<Hits>) -> impl IntoResponse {
    let n = hits.fetch_add(1, Ordering::Relaxed);
    let items: Vec<Value> = (0..16)
        .map(|i| json!({"id": n * 16 + i, "pad": "x".repeat(16 << 10)}))
        .collect();
    Json(Value::Array(items))
}

async fn list(client: &HttpClient, path: &str, paging: Paging) -> Result<usize, ListError> {
    let listing = Listing {
        side: Side::Source,
        path,
        query: &[],
        paging: &paging,
    };
    list_all(client, &Policy::default(), listing, 1 << 20)
        .await
        .map(|v| v.len())
}

fn offsets(limit: u32) -> Paging {
    Paging::OffsetLimit {
        offset_param: "offset".into(),
        limit_param: "limit".into(),
        limit,
        items: String::new(),
    }
}

#[tokio::test]
async fn a_page_that_repeats_the_one_before_stops_the_list() {
    let (client, _) = server().await;
    let e = list(&client, "same/", offsets(2)).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("page 2 repeats the page before it: the server ignores the paging"),
        "{e}"
    );
}

#[tokio::test]
async fn a_count_that_lies_plans_no_flood_and_the_items_are_bounded() {
    let (client, hits) = server().await;
    let e = list(&client, "endless/", Paging::DrfNext)
        .await
        .unwrap_err();
    assert!(matches!(e, ListError::Bound { limit: 1000, .. }), "{e:?}");
    assert!(e.to_string().contains("`max_list_items`"), "{e}");
    // A thousand pages read, and at most a batch planned beyond them.
    let n = hits.load(Ordering::Relaxed);
    assert!((1000..1100).contains(&n), "{n} requests");
}

#[tokio::test]
async fn the_bytes_of_one_list_are_bounded() {
    let (client, _) = server().await;
    let e = list(&client, "fat/", offsets(16)).await.unwrap_err();
    assert!(
        matches!(
            e,
            ListError::Bound {
                unit: "bytes",
                limit: 4194304,
                ..
            }
        ),
        "{e:?}"
    );
}
