//! A minimal Unstract-like server (tags only, DRF paging, Bearer keys per org) with a log of
//! every request it saw, for the library's tests of the plugin runtimes.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferry::net::client::ClientConfig;
use ferry::net::{Connection, Credential, Environments, HttpClient, Secret, Side};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub(crate) struct Logged {
    pub method: String,
    pub org: String,
    pub path: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Org {
    tags: Vec<Value>,
    next_id: u64,
}

#[derive(Clone, Default)]
struct Shared {
    orgs: Arc<Mutex<HashMap<String, Org>>>,
    log: Arc<Mutex<Vec<Logged>>>,
}

pub(crate) struct TestServer {
    pub url: String,
    shared: Shared,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub(super) fn key(org: &str) -> String {
    format!("key-{org}")
}

impl TestServer {
    /// Serve `orgs` on 127.0.0.1; `tags` seeds each org with that many tags.
    pub(crate) async fn start(orgs: &[(&str, usize)]) -> TestServer {
        let shared = Shared::default();
        {
            let mut map = shared.orgs.lock().unwrap();
            for (name, tags) in orgs {
                let mut org = Org::default();
                for i in 0..*tags {
                    org.next_id += 1;
                    org.tags.push(json!({ "id": org.next_id, "name": format!("tag {i:03} é"), "description": format!("seeded {i}") }));
                }
                map.insert(name.to_string(), org);
            }
        }
        let app = Router::new()
            .route(
                "/api/v1/unstract/{org}/tags/",
                get(list_tags).post(create_tag),
            )
            .route(
                "/api/v1/unstract/{org}/tags/{id}/",
                axum::routing::patch(update_tag).delete(delete_tag),
            )
            .route("/api/v1/unstract/{org}/huge", get(huge))
            .route("/api/v1/unstract/{org}/big", get(big))
            .fallback(unrouted)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    rx.await.ok();
                })
                .await
                .ok();
        });
        TestServer {
            url,
            shared,
            _shutdown: tx,
        }
    }

    pub(crate) fn base(&self, org: &str) -> String {
        format!("{}/api/v1/unstract/{org}/", self.url)
    }

    pub(crate) fn client(&self, source: &str, target: &str) -> HttpClient {
        self.client_with(source, target, &ClientConfig::default())
    }

    pub(crate) fn client_with(
        &self,
        source: &str,
        target: &str,
        config: &ClientConfig,
    ) -> HttpClient {
        let conn = |side, org: &str| {
            Connection::new(
                side,
                &self.base(org),
                Credential::bearer(Secret::new(key(org))),
            )
            .unwrap()
        };
        HttpClient::new(
            Environments {
                source: conn(Side::Source, source),
                target: conn(Side::Target, target),
            },
            config,
        )
        .unwrap()
    }

    pub(crate) fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    pub(crate) fn tags(&self, org: &str) -> Vec<Value> {
        self.shared.orgs.lock().unwrap()[org].tags.clone()
    }

    /// Names of `org`'s tags, sorted.
    pub(crate) fn tag_names(&self, org: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .tags(org)
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// No request other than GET/HEAD/OPTIONS reached `org`.
    pub(crate) fn writes_to(&self, org: &str) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.org == org && !matches!(l.method.as_str(), "GET" | "HEAD" | "OPTIONS"))
            .collect()
    }
}

fn check(
    shared: &Shared,
    method: &Method,
    org: &str,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    shared.log.lock().unwrap().push(Logged {
        method: method.to_string(),
        org: org.to_string(),
        path: path.to_string(),
        authorization: authorization.clone(),
    });
    if authorization.as_deref() != Some(&format!("Bearer {}", key(org))) {
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({ "detail": "Invalid API key" })),
        )
            .into_response());
    }
    if !shared.orgs.lock().unwrap().contains_key(org) {
        return Err((
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": "Not found." })),
        )
            .into_response());
    }
    Ok(())
}

/// Any other path: logged (a request that should never have been sent shows), then 404.
async fn unrouted(State(s): State<Shared>, method: Method, uri: axum::http::Uri) -> Response {
    let rest = uri
        .path()
        .strip_prefix("/api/v1/unstract/")
        .unwrap_or(uri.path());
    let (org, path) = rest.split_once('/').unwrap_or((rest, ""));
    s.log.lock().unwrap().push(Logged {
        method: method.to_string(),
        org: org.to_string(),
        path: path.to_string(),
        authorization: None,
    });
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "detail": "Not found." })),
    )
        .into_response()
}

async fn list_tags(
    State(s): State<Shared>,
    Path(org): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check(&s, &method, &org, "tags/", &headers) {
        return r;
    }
    let orgs = s.orgs.lock().unwrap();
    let all: Vec<Value> = orgs[&org]
        .tags
        .iter()
        .filter(|t| q.get("name").is_none_or(|n| t["name"] == *n))
        .cloned()
        .collect();
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let size = 50;
    let results: Vec<Value> = all
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    let link = |p: usize| {
        let mut url = format!("http://testserver/api/v1/unstract/{org}/tags/?page={p}");
        if let Some(n) = q.get("name") {
            url += &format!(
                "&name={}",
                url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
            );
        }
        url
    };
    let next = if page * size < all.len() {
        Value::String(link(page + 1))
    } else {
        Value::Null
    };
    let previous = if page > 1 {
        Value::String(link(page - 1))
    } else {
        Value::Null
    };
    Json(json!({ "count": all.len(), "next": next, "previous": previous, "results": results }))
        .into_response()
}

async fn create_tag(
    State(s): State<Shared>,
    Path(org): Path<String>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = check(&s, &method, &org, "tags/", &headers) {
        return r;
    }
    let mut orgs = s.orgs.lock().unwrap();
    let o = orgs.get_mut(&org).unwrap();
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "name": ["This field is required."] })),
        )
            .into_response();
    };
    if o.tags.iter().any(|t| t["name"] == name) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "name": ["tag with this name already exists."] })),
        )
            .into_response();
    }
    o.next_id += 1;
    let tag = json!({ "id": o.next_id, "name": name, "description": body.get("description").cloned().unwrap_or(Value::Null) });
    o.tags.push(tag.clone());
    (StatusCode::CREATED, Json(tag)).into_response()
}

async fn update_tag(
    State(s): State<Shared>,
    Path((org, id)): Path<(String, u64)>,
    method: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = check(&s, &method, &org, &format!("tags/{id}/"), &headers) {
        return r;
    }
    let mut orgs = s.orgs.lock().unwrap();
    let o = orgs.get_mut(&org).unwrap();
    let Some(tag) = o.tags.iter_mut().find(|t| t["id"] == id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": "Not found." })),
        )
            .into_response();
    };
    if let (Some(t), Some(b)) = (tag.as_object_mut(), body.as_object()) {
        for (k, v) in b {
            if k != "id" {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    Json(tag.clone()).into_response()
}

async fn delete_tag(
    State(s): State<Shared>,
    Path((org, id)): Path<(String, u64)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check(&s, &method, &org, &format!("tags/{id}/"), &headers) {
        return r;
    }
    let mut orgs = s.orgs.lock().unwrap();
    let o = orgs.get_mut(&org).unwrap();
    let before = o.tags.len();
    o.tags.retain(|t| t["id"] != id);
    if o.tags.len() == before {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": "Not found." })),
        )
            .into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// 900 KB: under a 1 MiB cap on one answer.
async fn big(
    State(s): State<Shared>,
    Path(org): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check(&s, &method, &org, "big", &headers) {
        return r;
    }
    let body = format!("[\"{}\"]", "x".repeat(900 << 10));
    ([("content-type", "application/json")], body).into_response()
}

async fn huge(
    State(s): State<Shared>,
    Path(org): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check(&s, &method, &org, "huge", &headers) {
        return r;
    }
    let body = format!("[\"{}\"]", "x".repeat(4 << 20));
    ([("content-type", "application/json")], body).into_response()
}

/// A kind's listing on the source, its bodies parsed, as plugins are given them.
pub(crate) async fn listed(
    cloner: &ferry::plugin::Cloner,
    grant: &ferry::plugin::grant::Grant,
    kind: &str,
) -> Vec<ferry::plugin::Resource> {
    let stored = cloner
        .list(ferry::plugin::Call::new(
            grant.clone(),
            &Default::default(),
            kind,
        ))
        .await
        .unwrap();
    stored.iter().map(ferry::plugin::Stored::unpack).collect()
}
