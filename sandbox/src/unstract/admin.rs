//! The admin API for tests and benchmarks, below `/_admin/`, with its own key (`admin_key`
//! in the start line, sent as `Authorization: Bearer`):
//!
//! | request | does |
//! |---|---|
//! | `GET /_admin/requests[?org=&since=SEQ]` | the request log: seq, org, method, path, query, status, timestamp, duration |
//! | `GET /_admin/orgs` | the orgs and their keys |
//! | `POST /_admin/orgs {"org": "qa", "seed": "demo"}` | add an org (seed optional) |
//! | `GET /_admin/orgs/{org}/stats` | requests and writes so far |
//! | `GET /_admin/orgs/{org}/dump` | a canonical dump: natural keys, server-minted ids and keys left out |
//! | `GET /_admin/orgs/{org}/faults` | the org's faults |
//! | `PUT /_admin/orgs/{org}/faults {latency_ms, jitter_ms, rate_limit, error_rate, drop_rate, slow_rate}` | set them (`{}` clears) |

use super::shared::{Org, Shared};
use super::store::{OrgData, id_text};
use super::{Seed, keys::OrgKeys, seed};
use crate::kit::faults::{Faults, OrgFaults};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

fn reply(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

pub async fn handle(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &str,
    req: Request,
) -> Response {
    let (seg, body, q) = crate::kit::admin_request(rest, query, req).await;
    let parsed = || -> Result<Value, Response> {
        serde_json::from_slice(&body).map_err(|e| {
            reply(
                StatusCode::BAD_REQUEST,
                json!({"detail": format!("invalid JSON: {e}")}),
            )
        })
    };
    match (method, seg.as_slice()) {
        (&Method::GET, ["orgs"]) => {
            let orgs: Vec<Value> = shared
                .orgs
                .read()
                .unwrap()
                .values()
                .map(|o| json!({"org": o.name, "keys": o.keys}))
                .collect();
            reply(StatusCode::OK, json!(orgs))
        }
        (&Method::POST, ["orgs"]) => {
            let v = match parsed() {
                Ok(v) => v,
                Err(r) => return r,
            };
            let Some(name) = v.get("org").and_then(Value::as_str).filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }) else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"org": ["a name of letters, digits, '-' and '_' is required"]}),
                );
            };
            let seed = match v
                .get("seed")
                .and_then(Value::as_str)
                .map(str::parse::<Seed>)
                .transpose()
            {
                Ok(s) => s,
                Err(e) => return reply(StatusCode::BAD_REQUEST, json!({"seed": [e]})),
            };
            let mut orgs = shared.orgs.write().unwrap();
            if orgs.contains_key(name) {
                return reply(
                    StatusCode::CONFLICT,
                    json!({"org": [format!("org {name} exists")]}),
                );
            }
            let mut data = OrgData::default();
            seed::base(&mut data, name);
            if let Some(s) = &seed {
                seed::fill(&mut data, name, s);
            }
            let keys = OrgKeys::derived(name);
            orgs.insert(
                name.to_string(),
                Arc::new(Org {
                    name: name.to_string(),
                    keys: keys.clone(),
                    data: Mutex::new(data),
                    faults: RwLock::new(OrgFaults::new(shared.default_faults.clone())),
                }),
            );
            reply(StatusCode::CREATED, json!({"org": name, "keys": keys}))
        }
        (_, ["orgs", org, what]) => {
            let Some(o) = shared.org(org) else {
                return reply(
                    StatusCode::NOT_FOUND,
                    json!({"detail": format!("no org {org}")}),
                );
            };
            match (method, *what) {
                (&Method::GET, "faults") => reply(
                    StatusCode::OK,
                    serde_json::to_value(&o.faults.read().unwrap().faults).unwrap(),
                ),
                (&Method::PUT, "faults") => {
                    let v = match parsed() {
                        Ok(v) => v,
                        Err(r) => return r,
                    };
                    let f: Faults = match serde_json::from_value(v) {
                        Ok(f) => f,
                        Err(e) => {
                            return reply(
                                StatusCode::BAD_REQUEST,
                                json!({"detail": e.to_string()}),
                            );
                        }
                    };
                    if let Err(e) = f.check() {
                        return reply(StatusCode::BAD_REQUEST, json!({"detail": e}));
                    }
                    *o.faults.write().unwrap() = OrgFaults::new(f.clone());
                    reply(StatusCode::OK, serde_json::to_value(f).unwrap())
                }
                (&Method::GET, "dump") => reply(StatusCode::OK, dump(&o.data.lock().unwrap())),
                (&Method::GET, "stats") => {
                    let log = shared.log.entries();
                    let mine: Vec<&super::shared::LogEntry> =
                        log.iter().filter(|l| l.org == o.name).collect();
                    let writes = mine
                        .iter()
                        .filter(|l| !matches!(l.method.as_str(), "GET" | "HEAD" | "OPTIONS"))
                        .count();
                    let failed = mine
                        .iter()
                        .filter(|l| l.status == 0 || l.status >= 400)
                        .count();
                    reply(
                        StatusCode::OK,
                        json!({"org": o.name, "requests": mine.len(), "writes": writes, "failed": failed}),
                    )
                }
                _ => reply(StatusCode::NOT_FOUND, json!({"detail": "Not found."})),
            }
        }
        (&Method::GET, ["requests"]) => {
            let since: u64 = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            let log = shared.log.entries();
            let rows: Vec<Value> = log
                .iter()
                .filter(|l| l.seq >= since && q.get("org").is_none_or(|o| *o == l.org))
                .map(|l| {
                    let mut v = serde_json::to_value(l).unwrap();
                    v["timestamp_ms"] = json!(l.start_us / 1000);
                    v["duration_ms"] = json!((l.end_us.saturating_sub(l.start_us)) as f64 / 1000.0);
                    v
                })
                .collect();
            reply(StatusCode::OK, Value::Array(rows))
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"detail": "Not found."})),
    }
}

/// Kinds in an order where a row's parents come before it, with how to label a row.
const ORDER: [&str; 14] = [
    "group",
    "adapter",
    "connector",
    "tag",
    "custom_tool",
    "profile",
    "prompt",
    "document",
    "registry",
    "workflow",
    "tool_instance",
    "workflow_endpoint",
    "pipeline",
    "api_deployment",
];

/// Fields that differ between two equal orgs: set by the server, or secrets it mints.
const VOLATILE: [&str; 10] = [
    "organization",
    "created_by",
    "modified_by",
    "created_at",
    "modified_at",
    "created_by_email",
    "api_key",
    "api_endpoint",
    "run_count",
    "last_run_status",
];

fn label(kind: &str, row: &Value, labels: &HashMap<String, String>) -> String {
    let t = |f: &str| id_text(&row[f]);
    let parent = |f: &str| labels.get(&t(f)).cloned().unwrap_or_else(|| t(f));
    match kind {
        "adapter" => format!("adapter:{}/{}", t("adapter_name"), t("adapter_type")),
        "connector" => format!("connector:{}", t("connector_name")),
        "tag" | "group" => format!("{kind}:{}", t("name")),
        "custom_tool" => format!("custom_tool:{}", t("tool_name")),
        "profile" => format!(
            "profile:{}/{}",
            parent("prompt_studio_tool"),
            t("profile_name")
        ),
        "prompt" => format!("prompt:{}/{}", parent("tool_id"), t("prompt_key")),
        "document" => format!("document:{}/{}", parent("tool"), t("document_name")),
        "registry" => format!("registry:{}", parent("custom_tool")),
        "workflow" => format!("workflow:{}", t("workflow_name")),
        "tool_instance" => format!("tool_instance:{}/{}", parent("workflow"), t("step")),
        "workflow_endpoint" => format!(
            "workflow_endpoint:{}/{}",
            parent("workflow"),
            t("endpoint_type")
        ),
        "pipeline" => format!("pipeline:{}", t("pipeline_name")),
        "api_deployment" => format!("api_deployment:{}", t("api_name")),
        other => format!("{other}:?"),
    }
}

fn id_field(kind: &str) -> &'static str {
    super::store::spec(kind).id
}

/// Replace every id with the label of what it names, recursively.
fn relabel(v: &Value, labels: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => labels
            .get(s)
            .map(|l| Value::String(l.clone()))
            .unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| relabel(x, labels)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, x)| (k.clone(), relabel(x, labels)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A canonical dump: per kind, rows keyed by natural labels, ids replaced by labels, fields
/// the server sets dropped, files by size and sha256. Two orgs with the same content dump
/// equal, whatever their ids.
pub fn dump(data: &OrgData) -> Value {
    let mut labels: HashMap<String, String> = HashMap::new();
    for kind in ORDER {
        for row in data.rows(kind) {
            let l = label(kind, row, &labels);
            labels.insert(id_text(&row[id_field(kind)]), l);
        }
    }
    // Group and user ids are integers, referenced as numbers in sharing fields.
    let emails: HashMap<u64, &str> = data
        .users
        .iter()
        .map(|(id, e, _)| (*id, e.as_str()))
        .collect();
    let mut out = Map::new();
    for kind in ORDER {
        let mut rows: BTreeMap<String, Value> = BTreeMap::new();
        for row in data.rows(kind) {
            let id = id_text(&row[id_field(kind)]);
            let mut r = relabel(row, &labels);
            if let Some(o) = r.as_object_mut() {
                o.remove(id_field(kind));
                if let Some(users) = o.get_mut("shared_users").and_then(Value::as_array_mut) {
                    for u in users.iter_mut() {
                        if let Some(e) = u.as_u64().and_then(|n| emails.get(&n)) {
                            *u = json!(format!("user:{e}"));
                        }
                    }
                    users.sort_by_key(|a| a.to_string());
                }
                if let Some(groups) = o.get_mut("shared_groups").and_then(Value::as_array_mut) {
                    for g in groups.iter_mut() {
                        if let Some(l) = labels.get(&id_text(g)) {
                            *g = json!(l);
                        }
                    }
                    groups.sort_by_key(|a| a.to_string());
                }
                if kind == "group" {
                    let members: Vec<String> = data
                        .members
                        .get(&row["id"].as_u64().unwrap_or(0))
                        .into_iter()
                        .flatten()
                        .filter_map(|u| emails.get(u))
                        .map(|e| format!("user:{e}"))
                        .collect();
                    o.insert("members".into(), json!(members));
                }
                if kind == "document"
                    && let Some((mime, blob)) = data.files.get(&id)
                {
                    o.insert("file".into(), json!({"mime_type": mime, "bytes": blob.len(), "sha256": super::files::digest(blob)}));
                }
            }
            // Two rows with one label are a duplicate: both show, the second marked.
            let mut label = labels[&id].clone();
            let mut n = 1;
            while rows.contains_key(&label) {
                n += 1;
                label = format!("{}#{n}", labels[&id]);
            }
            rows.insert(label, r);
        }
        out.insert(kind.to_string(), Value::Object(rows.into_iter().collect()));
    }
    Value::Object(out)
}
