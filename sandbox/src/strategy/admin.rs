//! The admin API (`/_admin/...`, `Authorization: Bearer <admin_key>`), for tests and the
//! curious: the environments, the request log, stats, a canonical dump per environment,
//! faults, job failures and session expiry.
//!
//! | call | what |
//! |---|---|
//! | `GET envs` | the environments: name, URL, user name and password |
//! | `GET log?env=E` | the request log (of one environment) |
//! | `GET stats` | per environment: requests, writes, live sessions, duplications |
//! | `GET envs/{env}/dump` | projects, objects and configuration objects by name, and the duplications |
//! | `GET`/`PUT envs/{env}/faults` | latency, 5xx, drops, 429s (as for every emulator) |
//! | `GET`/`PUT envs/{env}/jobs` | `{export_failed, import_failed}`: the next jobs fail |
//! | `POST envs/{env}/expire-sessions` | every session of the environment expires now |

use super::shared::{Shared, error, json_reply};
use super::store::{EnvData, JobFaults, Object};
use crate::kit::faults::{Faults, OrgFaults};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

pub async fn handle(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &str,
    req: Request,
) -> Response {
    let (seg, body, q) = crate::kit::admin_request(rest, query, req).await;
    match (method, seg.as_slice()) {
        (&Method::GET, ["envs"]) => {
            let list: Vec<Value> = shared
                .credentials
                .iter()
                .map(|(e, c)| {
                    json!({"env": e, "url": shared.env_url(e), "username": c.username, "password": c.password})
                })
                .collect();
            json_reply(StatusCode::OK, json!(list))
        }
        (&Method::GET, ["log"]) => {
            let log = shared.log.entries();
            let list: Vec<_> = log
                .iter()
                .filter(|l| q.get("env").is_none_or(|e| *e == l.org))
                .collect();
            json_reply(StatusCode::OK, json!(list))
        }
        (&Method::GET, ["stats"]) => json_reply(StatusCode::OK, stats(shared)),
        (_, ["envs", env, what]) => {
            if !shared.credentials.contains_key(*env) {
                return error(
                    StatusCode::NOT_FOUND,
                    "ERR004",
                    &format!("no environment {env}"),
                );
            }
            let parsed = || serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string());
            match (method, *what) {
                (&Method::GET, "dump") => json_reply(StatusCode::OK, dump(&shared.world()[*env])),
                (&Method::GET, "faults") => json_reply(
                    StatusCode::OK,
                    serde_json::to_value(&shared.faults.read().unwrap()[*env].faults).unwrap(),
                ),
                (&Method::PUT, "faults") => {
                    match parsed()
                        .and_then(|v| {
                            serde_json::from_value::<Faults>(v).map_err(|e| e.to_string())
                        })
                        .and_then(|f| f.check().map(|_| f))
                    {
                        Err(e) => error(StatusCode::BAD_REQUEST, "ERR006", &e),
                        Ok(f) => {
                            shared
                                .faults
                                .write()
                                .unwrap()
                                .insert(env.to_string(), OrgFaults::new(f.clone()));
                            json_reply(StatusCode::OK, serde_json::to_value(f).unwrap())
                        }
                    }
                }
                (&Method::GET, "jobs") => json_reply(
                    StatusCode::OK,
                    serde_json::to_value(&shared.world()[*env].jobs).unwrap(),
                ),
                (&Method::PUT, "jobs") => {
                    match parsed().and_then(|v| {
                        serde_json::from_value::<JobFaults>(v).map_err(|e| e.to_string())
                    }) {
                        Err(e) => error(StatusCode::BAD_REQUEST, "ERR006", &e),
                        Ok(j) => {
                            shared.world().get_mut(*env).unwrap().jobs = j.clone();
                            json_reply(StatusCode::OK, serde_json::to_value(j).unwrap())
                        }
                    }
                }
                (&Method::POST, "expire-sessions") => {
                    let mut envs = shared.world();
                    let e = envs.get_mut(*env).unwrap();
                    let n = e.sessions.len();
                    e.sessions.clear();
                    json_reply(StatusCode::OK, json!({"expired": n}))
                }
                _ => error(
                    StatusCode::NOT_FOUND,
                    "ERR004",
                    &format!("no admin call {method} {rest}"),
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "ERR004",
            &format!("no admin call {method} {rest}"),
        ),
    }
}

pub fn stats(shared: &Shared) -> Value {
    let log = shared.log.entries();
    let envs = shared.world();
    let per: BTreeMap<&String, Value> = envs
        .iter()
        .map(|(name, e)| {
            let requests = log.iter().filter(|l| l.org == *name).count();
            (
                name,
                json!({
                    "requests": requests,
                    "writes": e.writes,
                    "sessions": e.sessions.len(),
                    "duplications": e.duplications.len(),
                    "projects": e.projects.len(),
                }),
            )
        })
        .collect();
    json!(per)
}

/// An environment's content by names, without ids: two environments holding the same
/// projects and configuration dump the same (duplications apart, which carry their ids).
pub fn dump(env: &EnvData) -> Value {
    let mut names: HashMap<&str, String> = HashMap::new();
    for o in &env.config {
        names.insert(&o.id, format!("{}:{}", o.kind(), o.name));
    }
    for p in &env.projects {
        names.insert(&p.id, format!("project:{}", p.name));
        for o in &p.objects {
            names.insert(&o.id, format!("{}:{}", o.kind(), o.name));
        }
    }
    let name = |id: &String| {
        names
            .get(id.as_str())
            .cloned()
            .unwrap_or_else(|| format!("?{id}"))
    };
    let describe = |o: &Object| {
        let mut refs: Vec<String> = o.refs.iter().map(name).collect();
        refs.sort();
        let mut projects: Vec<String> = o.projects.iter().map(name).collect();
        projects.sort();
        let mut v = json!({"refs": refs});
        if let Some(f) = &o.folder {
            v["folder"] = json!(f);
        }
        if let Some(l) = &o.login {
            v["login"] = json!(l);
        }
        if !o.grants.is_empty() {
            v["grants"] = json!(o.grants);
        }
        if !projects.is_empty() {
            v["projects"] = json!(projects);
        }
        if !o.description.is_empty() {
            v["description"] = json!(o.description);
        }
        v
    };
    let projects: BTreeMap<&str, Value> = env
        .projects
        .iter()
        .map(|p| {
            let objects: BTreeMap<String, Value> = p
                .objects
                .iter()
                .map(|o| (format!("{}:{}", o.kind(), o.name), describe(o)))
                .collect();
            let mut v = json!({
                "description": p.description,
                "defaultLocale": p.default_locale,
                "locales": p.locales,
                "objects": objects,
            });
            if let Some(pl) = &p.payload {
                v["payload"] = json!({"name": pl.name, "size": pl.size});
            }
            (p.name.as_str(), v)
        })
        .collect();
    let config: BTreeMap<String, Value> = env
        .config
        .iter()
        .map(|o| (format!("{}:{}", o.kind(), o.name), describe(o)))
        .collect();
    let duplications: Vec<Value> = env
        .duplications
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "side": d.side,
                "source_project": d.source["project"]["name"],
                "target_project": d.target["project"]["name"],
                "status": d.status,
                "history": d.history,
                "settings": d.settings,
            })
        })
        .collect();
    json!({"projects": projects, "config": config, "duplications": duplications})
}
