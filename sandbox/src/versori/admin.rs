//! The admin API (`/_admin/...`, `Authorization: Bearer <admin_key>`): `GET orgs`,
//! `GET log[?org=NAME]`, `GET stats`, `GET orgs/{name}/dump`, `GET`/`PUT orgs/{name}/faults`.

use super::shared::{Shared, error, reply};
use super::store::{Org, REDACTED};
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
        (&Method::GET, ["orgs"]) => {
            let orgs = shared.orgs.lock().unwrap();
            let list: Vec<Value> = orgs
                .values()
                .map(|o| json!({"org": o.id, "name": o.name, "token": o.token, "jwt": o.jwt}))
                .collect();
            reply(StatusCode::OK, json!(list))
        }
        (&Method::GET, ["log"]) => {
            let log = shared.log.entries();
            let list: Vec<_> = log
                .iter()
                .filter(|l| q.get("org").is_none_or(|o| *o == l.org))
                .collect();
            reply(StatusCode::OK, json!(list))
        }
        (&Method::GET, ["stats"]) => reply(StatusCode::OK, stats(shared)),
        (_, ["orgs", name, what]) => {
            let Some(id) = shared.org_id(name) else {
                return error(
                    StatusCode::NOT_FOUND,
                    &format!("no organisation {name}"),
                    vec![],
                );
            };
            match (method, *what) {
                (&Method::GET, "dump") => {
                    reply(StatusCode::OK, dump(&shared.orgs.lock().unwrap()[&id]))
                }
                (&Method::GET, "faults") => reply(
                    StatusCode::OK,
                    serde_json::to_value(&shared.faults.read().unwrap()[*name].faults).unwrap(),
                ),
                (&Method::PUT, "faults") => {
                    let parsed = serde_json::from_slice::<Faults>(&body)
                        .map_err(|e| e.to_string())
                        .and_then(|f| f.check().map(|_| f));
                    match parsed {
                        Err(e) => error(StatusCode::BAD_REQUEST, &e, vec![]),
                        Ok(f) => {
                            shared
                                .faults
                                .write()
                                .unwrap()
                                .insert(name.to_string(), OrgFaults::new(f.clone()));
                            reply(StatusCode::OK, serde_json::to_value(f).unwrap())
                        }
                    }
                }
                _ => error(
                    StatusCode::NOT_FOUND,
                    &format!("no admin call {method} {rest}"),
                    vec![],
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no admin call {method} {rest}"),
            vec![],
        ),
    }
}

pub fn stats(shared: &Shared) -> Value {
    let log = shared.log.entries();
    let orgs = shared.orgs.lock().unwrap();
    let per: BTreeMap<&String, Value> = orgs
        .values()
        .map(|o| {
            let requests = log.iter().filter(|l| l.org == o.name).count();
            (
                &o.name,
                json!({"requests": requests, "writes": o.writes, "projects": o.projects.len()}),
            )
        })
        .collect();
    json!(per)
}

/// Secrets as a marker, whatever they were.
fn masked(v: &Value) -> Value {
    let r = super::store::redact(v);
    if r == *v { r } else { mark(&r) }
}

fn mark(v: &Value) -> Value {
    match v {
        Value::String(s) if s == REDACTED => json!("***"),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), mark(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(mark).collect()),
        other => other.clone(),
    }
}

/// An organisation by names, without ULIDs, secrets as `***`: two organisations (or two
/// projects' environments) with the same content dump the same.
pub fn dump(org: &Org) -> Value {
    let system_name = |id: &str| {
        org.system(id)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| format!("?{id}"))
    };
    let systems: BTreeMap<String, Value> = org
        .systems
        .iter()
        .map(|s| {
            (s.name.clone(), json!({"domain": s.domain, "templateBaseUrl": s.template_base_url, "authSchemeConfigs": s.auth_scheme_configs, "labels": s.labels}))
        })
        .collect();
    let template_names: HashMap<&str, String> = org
        .projects
        .iter()
        .flat_map(|p| {
            p.templates.iter().map(move |t| {
                let env = p
                    .environments
                    .iter()
                    .find(|e| e.id == t.env_id)
                    .map(|e| e.name.as_str())
                    .unwrap_or("?");
                (t.id.as_str(), format!("{}/{}/{}", p.name, env, t.name))
            })
        })
        .collect();
    let connections: BTreeMap<String, Value> = org
        .connections
        .iter()
        .map(|c| {
            let mut serves: Vec<String> = c.templates.iter().map(|t| template_names.get(t.as_str()).cloned().unwrap_or_else(|| format!("?{t}"))).collect();
            serves.sort();
            (c.name.clone(), json!({"system": system_name(&c.system_id), "baseUrl": c.base_url, "credentials": masked(&c.credentials), "serves": serves}))
        })
        .collect();
    let projects: BTreeMap<String, Value> = org
        .projects
        .iter()
        .map(|p| {
            let envs: BTreeMap<String, Value> = p
                .environments
                .iter()
                .map(|e| {
                    let templates: BTreeMap<String, Value> = p
                        .templates
                        .iter()
                        .filter(|t| t.env_id == e.id)
                        .map(|t| {
                            let conn = org.connections.iter().find(|c| c.templates.contains(&t.id)).map(|c| c.name.clone());
                            (t.name.clone(), json!({"system": system_name(&t.system_id), "dynamic": t.dynamic, "connection": conn}))
                        })
                        .collect();
                    let deployed = e.deployed_version.as_deref().and_then(|v| p.version(v));
                    (
                        e.name.clone(),
                        json!({
                            "status": e.status,
                            "executionPool": e.execution_pool,
                            "labels": e.labels,
                            "config": e.config,
                            "variables": e.variables,
                            "templates": templates,
                            "deployedVersion": deployed.map(|v| v.name.clone()),
                            "files": deployed.map(|v| v.files.clone()),
                        }),
                    )
                })
                .collect();
            let versions: BTreeMap<String, Value> = p.versions.iter().map(|v| (v.name.clone(), json!({"state": v.state, "files": v.files}))).collect();
            (p.name.clone(), json!({"schema": p.schema, "settings": p.settings, "environments": envs, "versions": versions}))
        })
        .collect();
    json!({"systems": systems, "connections": connections, "projects": projects})
}
