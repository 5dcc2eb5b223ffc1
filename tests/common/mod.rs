//! Shared test support: building the test plugins, and a minimal Unstract-like server
//! (tags only, DRF paging, Bearer keys per org) with a log of every request it saw.
#![allow(dead_code)]

pub mod serve;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferry::net::client::ClientConfig;
use ferry::net::{Connection, Credential, Environments, HttpClient, Secret, Side};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Build `tests/plugins` for wasm32-wasip2 (once per test binary) and return the directory
/// holding the components.
pub fn test_plugins() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = repo_root();
            let target = root.join("target").join("plugins");
            let mut cmd = std::process::Command::new(
                std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            );
            cmd.current_dir(root.join("tests/plugins"))
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "--target-dir",
                ])
                .arg(&target);
            for (k, _) in std::env::vars() {
                if k.starts_with("CARGO_") && k != "CARGO_HOME" || k == "RUSTFLAGS" {
                    cmd.env_remove(k);
                }
            }
            let status = cmd.status().expect("running cargo for tests/plugins");
            assert!(
                status.success(),
                "building tests/plugins failed (is the wasm32-wasip2 target installed?)"
            );
            target.join("wasm32-wasip2").join("release")
        })
        .clone()
}

/// A compile cache shared by the tests of this checkout (the runtime's on-disk cache), so
/// each test does not recompile the same component.
pub fn cache_dir() -> Option<PathBuf> {
    Some(repo_root().join("target").join("test-wasm-cache"))
}

/// The component of a test plugin, with its manifest, copied into a fresh directory.
pub fn plugin_dir(crate_name: &str) -> tempfile::TempDir {
    let built = test_plugins();
    let dir = tempfile::tempdir().unwrap();
    let stem = crate_name.replace('-', "_");
    std::fs::copy(
        built.join(format!("{stem}.wasm")),
        dir.path().join(format!("{stem}.wasm")),
    )
    .unwrap();
    let manifest = repo_root()
        .join("tests/plugins")
        .join(crate_name.trim_start_matches("ferry-"))
        .join("plugin.toml");
    if manifest.exists() {
        std::fs::copy(manifest, dir.path().join(format!("{stem}.toml"))).unwrap();
    }
    dir
}

#[derive(Debug, Clone)]
pub struct Logged {
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

pub struct TestServer {
    pub url: String,
    shared: Shared,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub fn key(org: &str) -> String {
    format!("key-{org}")
}

impl TestServer {
    /// Serve `orgs` on 127.0.0.1; `tags` seeds each org with that many tags.
    pub async fn start(orgs: &[(&str, usize)]) -> TestServer {
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

    pub fn base(&self, org: &str) -> String {
        format!("{}/api/v1/unstract/{org}/", self.url)
    }

    pub fn client(&self, source: &str, target: &str) -> HttpClient {
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
            &ClientConfig::default(),
        )
        .unwrap()
    }

    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn tags(&self, org: &str) -> Vec<Value> {
        self.shared.orgs.lock().unwrap()[org].tags.clone()
    }

    /// Names of `org`'s tags, sorted.
    pub fn tag_names(&self, org: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .tags(org)
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// No request other than GET/HEAD/OPTIONS reached `org`.
    pub fn writes_to(&self, org: &str) -> Vec<Logged> {
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
pub async fn listed(
    cloner: &ferry::plugin::Cloner,
    grant: &ferry::plugin::grant::Grant,
    kind: &str,
) -> Vec<ferry::plugin::Resource> {
    let stored = cloner
        .list(grant.clone(), &Default::default(), kind)
        .await
        .unwrap();
    stored.iter().map(ferry::plugin::Stored::unpack).collect()
}

/// The `ferry` binary as every test runs it: nothing from the caller's environment that
/// would change what it does (keys, a plugin path), and the cache and state folders the
/// tests share.
pub fn ferry_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    let tmp = std::env::temp_dir();
    c.env("FERRY_CACHE_DIR", tmp.join("ferry-test-cache"))
        .env("FERRY_STATE_DIR", tmp.join("ferry-test-state"))
        .env_remove("FERRY_PLUGIN_PATH")
        .env_remove("UNSTRACT_SRC_PLATFORM_KEY")
        .env_remove("UNSTRACT_TGT_PLATFORM_KEY");
    for side in ["SOURCE", "TARGET"] {
        for what in ["KEY", "USER", "PASSWORD"] {
            c.env_remove(format!("FERRY_{side}_{what}"));
        }
    }
    c
}

/// `ferry SUB` from org `source` to org `target` of the sandbox, with a read key for the
/// source and a read-write key for the target in the environment.
pub fn ferry_between(
    sub: &str,
    sb: &ferry_sandbox::unstract::Sandbox,
    source: &str,
    target: &str,
) -> std::process::Command {
    let mut c = ferry_command();
    c.args([sub, "--source-url", sb.url(), "--source-org", source])
        .args(["--target-url", sb.url(), "--target-org", target])
        .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys(source).read)
        .env("UNSTRACT_TGT_PLATFORM_KEY", sb.keys(target).read_write);
    c
}

/// Run a command to its end from a multi-threaded tokio test (the sandbox it talks to runs
/// on the test's runtime).
pub fn output(c: &mut std::process::Command) -> std::process::Output {
    tokio::task::block_in_place(|| c.output().unwrap())
}

/// The exit code must be `code`; else both streams are shown.
pub fn expect(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stdout as JSON (the report of `--output json`).
pub fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A local sandbox with a source org "dev" seeded with `seed` and an empty target "prod".
pub async fn dev_and_prod(seed: ferry_sandbox::unstract::Seed) -> ferry_sandbox::unstract::Sandbox {
    use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox};
    Sandbox::start(Config::local(vec![
        OrgSpec::seeded("dev", seed),
        OrgSpec::new("prod"),
    ]))
    .await
    .unwrap()
}
