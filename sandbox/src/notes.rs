//! "notes": a small platform that exists only to prove that a platform needs no change to
//! ferry's host. Its pack is a Rhai script and a manifest in a test fixture directory
//! (`tests/fixtures/notes/`); nothing in the host names it.
//!
//! Every space (a tenant) is served at `{url}/spaces/{space}/` and takes its key in
//! `X-Notes-Key` (401 without a valid key, 403 with another space's). Two kinds: notebooks
//! (`{id, title, color}`) and notes (`{id, title, text, notebook_id}`, which must name a
//! notebook of the space). Lists page by `offset`/`limit` (at most 20 a page) and answer
//! `{items, total}`; `?title=` filters exactly. Ids are the server's own (`nb-4201`), and
//! differ between spaces.

use crate::kit::log::{LogEntry, RequestLog};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The most items one page holds, whatever `limit` asks.
pub const MAX_PAGE: usize = 20;

#[derive(Default)]
struct Space {
    key: String,
    next_id: u64,
    /// kind ("notebooks", "notes") → rows in creation order
    rows: BTreeMap<&'static str, Vec<Value>>,
}

struct Shared {
    spaces: BTreeMap<String, Mutex<Space>>,
    log: RequestLog,
}

/// A running notes server; dropping it stops it.
pub struct Notes {
    url: String,
    shared: Arc<Shared>,
    server: crate::kit::Stopper,
}

impl Notes {
    /// Serve these spaces on 127.0.0.1 (a free port); `seeded` ones get three notebooks and
    /// 45 notes (three pages of them).
    pub async fn start(spaces: &[(&str, bool)]) -> anyhow::Result<Notes> {
        let mut map = BTreeMap::new();
        for &(name, seeded) in spaces {
            // Ids differ from space to space (as a server's would), so that a reference
            // copied without remapping names nothing on the target.
            let start =
                u64::from_str_radix(&key_of(name)[name.len() + 4..][..4], 16).unwrap() * 100;
            let mut s = Space {
                key: key_of(name),
                next_id: start,
                ..Default::default()
            };
            if seeded {
                seed(&mut s);
            }
            map.insert(name.to_string(), Mutex::new(s));
        }
        let shared = Arc::new(Shared {
            spaces: map,
            log: RequestLog::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let (addr, server) = crate::kit::serve("127.0.0.1:0".parse()?, app).await?;
        Ok(Notes {
            url: format!("http://{addr}"),
            shared,
            server,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key of a space (stable for its name).
    pub fn key(&self, space: &str) -> String {
        key_of(space)
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.snapshot()
    }

    pub fn writes_to(&self, space: &str) -> Vec<LogEntry> {
        crate::kit::log::writes_to(&self.log(), space)
    }

    /// A space's content by natural keys (notes name their notebook by title), without
    /// the server's ids: two spaces with the same content dump the same.
    pub fn dump(&self, space: &str) -> Value {
        let s = self.shared.spaces[space].lock().unwrap();
        let rows = |k: &str| s.rows.get(k).cloned().unwrap_or_default();
        let titles: BTreeMap<String, String> = rows("notebooks")
            .iter()
            .map(|b| {
                (
                    b["id"].as_str().unwrap().to_string(),
                    b["title"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut books: Vec<Value> = rows("notebooks")
            .into_iter()
            .map(|b| json!({"title": b["title"], "color": b["color"]}))
            .collect();
        let mut notes: Vec<Value> = rows("notes")
            .into_iter()
            .map(|n| {
                let book = n["notebook_id"].as_str().and_then(|id| titles.get(id));
                json!({"title": n["title"], "text": n["text"], "notebook": book})
            })
            .collect();
        let by_title = |a: &Value, b: &Value| a["title"].as_str().cmp(&b["title"].as_str());
        books.sort_by(by_title);
        notes.sort_by(by_title);
        json!({"notebooks": books, "notes": notes})
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn key_of(space: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("notes key {space}").as_bytes());
    format!("nk_{space}_{}", hex::encode(&h[..8]))
}

fn seed(s: &mut Space) {
    let colors = ["red", "green", "blue"];
    for (i, c) in colors.iter().enumerate() {
        let id = s.mint("nb");
        s.rows
            .entry("notebooks")
            .or_default()
            .push(json!({"id": id, "title": format!("Notebook {}", i + 1), "color": c}));
    }
    let books: Vec<Value> = s.rows["notebooks"]
        .iter()
        .map(|b| b["id"].clone())
        .collect();
    for i in 0..45 {
        let book = books[i % 3].clone();
        let id = s.mint("n");
        s.rows.entry("notes").or_default().push(json!({
            "id": id, "title": format!("Note {i:02} ✎"), "text": format!("text of note {i}"), "notebook_id": book,
        }));
    }
}

impl Space {
    fn mint(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let start = shared.log.now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let key = req
        .headers()
        .get("x-notes-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let (space, rest) = match path
        .strip_prefix("/spaces/")
        .and_then(|p| p.split_once('/'))
    {
        Some((s, r)) => (s.to_string(), r.to_string()),
        None => (String::new(), path.clone()),
    };
    let resp = answer(&shared, &space, &key, &method, &rest, &query, &body);
    let status = resp.status().as_u16();
    shared
        .log
        .record(&space, method.as_str(), &rest, &query, status, start);
    resp
}

fn answer(
    shared: &Shared,
    space: &str,
    key: &str,
    method: &Method,
    path: &str,
    query: &str,
    body: &Bytes,
) -> Response {
    let Some(s) = shared.spaces.get(space) else {
        return error(StatusCode::NOT_FOUND, "no such space");
    };
    if key.is_empty() || !shared.spaces.values().any(|o| o.lock().unwrap().key == key) {
        return error(StatusCode::UNAUTHORIZED, "a valid X-Notes-Key is required");
    }
    let mut s = s.lock().unwrap();
    if s.key != key {
        return error(StatusCode::FORBIDDEN, "this key belongs to another space");
    }
    let q: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let kind: &'static str = match segments[0] {
        "notebooks" => "notebooks",
        "notes" => "notes",
        _ => return error(StatusCode::NOT_FOUND, "no such resource"),
    };
    match (method.clone(), segments.get(1)) {
        (Method::GET, None) => {
            let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
            let limit: usize = q
                .get("limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(MAX_PAGE)
                .clamp(1, MAX_PAGE);
            let rows: Vec<&Value> = s
                .rows
                .get(kind)
                .into_iter()
                .flatten()
                .filter(|r| {
                    q.get("title")
                        .is_none_or(|t| r["title"].as_str() == Some(t))
                })
                .collect();
            let page: Vec<&Value> = rows.iter().skip(offset).take(limit).copied().collect();
            axum::Json(json!({"items": page, "total": rows.len()})).into_response()
        }
        (Method::GET, Some(id)) => match s
            .rows
            .get(kind)
            .and_then(|r| r.iter().find(|r| r["id"] == *id))
        {
            Some(r) => axum::Json(r.clone()).into_response(),
            None => error(StatusCode::NOT_FOUND, "no such id"),
        },
        (m @ (Method::POST | Method::PUT), id) => {
            let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
                return error(StatusCode::BAD_REQUEST, "the body must be a JSON object");
            };
            let title = fields
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if title.is_empty() {
                return error(StatusCode::BAD_REQUEST, "title is required");
            }
            if kind == "notes" {
                let book = fields
                    .get("notebook_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let known = s
                    .rows
                    .get("notebooks")
                    .is_some_and(|b| b.iter().any(|b| b["id"] == book));
                if !known {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "notebook_id names no notebook of this space",
                    );
                }
            }
            let clash = s
                .rows
                .get(kind)
                .into_iter()
                .flatten()
                .any(|r| r["title"] == title.as_str() && id.is_none_or(|id| r["id"] != *id));
            if clash {
                return error(StatusCode::CONFLICT, "a resource of this title exists");
            }
            fields.remove("id");
            match (m, id) {
                (Method::POST, None) => {
                    let new_id = s.mint(if kind == "notes" { "n" } else { "nb" });
                    fields.insert("id".into(), new_id.into());
                    let row = Value::Object(fields);
                    s.rows.entry(kind).or_default().push(row.clone());
                    (StatusCode::CREATED, axum::Json(row)).into_response()
                }
                (Method::PUT, Some(id)) => {
                    let Some(row) = s
                        .rows
                        .get_mut(kind)
                        .and_then(|r| r.iter_mut().find(|r| r["id"] == *id))
                    else {
                        return error(StatusCode::NOT_FOUND, "no such id");
                    };
                    fields.insert("id".into(), (*id).into());
                    *row = Value::Object(fields);
                    axum::Json(row.clone()).into_response()
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, "not allowed here"),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "not allowed here"),
    }
}
