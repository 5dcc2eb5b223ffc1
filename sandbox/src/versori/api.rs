//! The Platform API of one organisation (paths below `/api/v2/o/{org}/`): projects,
//! environments (clone, sync, delete, execution pools, config), the variables schema,
//! systems, connection templates, connections, the static user's variables, versions and
//! deploy.

use super::shared::{error, reply};
use super::store::*;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Versori's cap on environments per project.
pub const MAX_ENVIRONMENTS: usize = 5;

type Query = BTreeMap<String, String>;

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message, vec![])
}

fn invalid_field(field: &str, message: &str) -> Response {
    let whole = match field {
        "" => message.to_string(),
        f => format!("{f}: {message}"),
    };
    error(
        StatusCode::BAD_REQUEST,
        &whole,
        vec![json!({"field": field, "message": message})],
    )
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, &format!("{what} not found"), vec![])
}

fn text<'a>(body: &'a Value, field: &str) -> Result<&'a str, Response> {
    body[field]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_field(field, "is required"))
}

/// A cursor page of `items` (`first`, `after` = the `cursor` field of the last item seen:
/// its `id`, or for connection templates, whose `id` is their system's and may repeat, their
/// own `connectionTemplateId`).
fn page(items: Vec<Value>, q: &Query, cursor: &str) -> Value {
    let total = items.len();
    let first: usize = q
        .get("first")
        .and_then(|f| f.parse().ok())
        .unwrap_or(20)
        .max(1);
    let start = q
        .get("after")
        .and_then(|a| {
            items
                .iter()
                .position(|i| i[cursor].as_str() == Some(a.as_str()))
        })
        .map(|p| p + 1)
        .unwrap_or(0);
    let slice: Vec<Value> = items.iter().skip(start).take(first).cloned().collect();
    let next = (start + slice.len() < total)
        .then(|| slice.last().map(|i| i[cursor].clone()))
        .flatten();
    // The document's `next` and `prev` are optional strings: absent, never null, when
    // there is no such page.
    let mut out = json!({"totalCount": total, "items": slice});
    if let Some(n) = next {
        out["next"] = n;
    }
    if let Some(first) = slice.first().filter(|_| start > 0) {
        // `before` this item is the page before.
        out["prev"] = first[cursor].clone();
    }
    out
}

fn public_url(project: &str, env: &str) -> String {
    format!(
        "https://{}-{}-{:06x}.versori.run",
        project,
        env,
        fastrand::u32(..0xffffff)
    )
}

pub fn route(org: &mut Org, method: &Method, seg: &[&str], q: &Query, body: Value) -> Response {
    // What the published API refuses, refused here too, naming the field.
    if let Some((field, why)) = super::contract::contract().request(method, seg, &body) {
        return invalid_field(&field, &why);
    }
    match (method, seg) {
        (&Method::GET, ["execution-pools"]) => reply(
            StatusCode::OK,
            json!({"executionPools": org.pools.iter().map(|p| json!({"name": p})).collect::<Vec<_>>()}),
        ),
        (&Method::GET, ["projects"]) => {
            let list: Vec<Value> = org.projects.iter().map(Project::summary).collect();
            reply(StatusCode::OK, json!({"projects": list}))
        }
        (&Method::POST, ["projects"]) => create_project(org, &body),
        (_, ["projects", pid, rest @ ..]) => {
            if !is_ulid(pid) {
                return invalid_field("project_id", "must be a ULID");
            }
            let Some(pi) = org.projects.iter().position(|p| p.id == *pid) else {
                return not_found(&format!("project {pid}"));
            };
            project_route(org, pi, method, rest, q, body)
        }
        (&Method::PUT, ["environments", env, "config"]) => {
            let Some((pi, ei)) = find_env(org, env) else {
                return not_found(&format!("environment {env}"));
            };
            let e = &mut org.projects[pi].environments[ei];
            e.config = body;
            e.updated = now();
            StatusCode::NO_CONTENT.into_response()
        }
        (&Method::PATCH, ["environments", env, "variables"]) => {
            let Some((pi, ei)) = find_env(org, env) else {
                return not_found(&format!("environment {env}"));
            };
            let Some(vars) = body.as_object() else {
                return bad("the body must be an object of variables");
            };
            let wrong = check_variables(&org.projects[pi].schema, vars);
            if !wrong.is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "variables do not match the project's schema",
                    wrong,
                );
            }
            let e = &mut org.projects[pi].environments[ei];
            for (k, v) in vars {
                match v {
                    Value::Null => {
                        e.variables.as_object_mut().unwrap().remove(k);
                    }
                    v => {
                        e.variables[k] = v.clone();
                    }
                }
            }
            reply(StatusCode::OK, e.variables.clone())
        }
        (&Method::GET, ["environments", env, "activations"]) => {
            let Some((pi, ei)) = find_env(org, env) else {
                return not_found(&format!("environment {env}"));
            };
            // The emulator has no end users: only the static user, listed with `static=true`.
            if q.get("static").map(String::as_str) != Some("true") {
                return reply(StatusCode::OK, json!([]));
            }
            let p = &org.projects[pi];
            let e = &p.environments[ei];
            reply(
                StatusCode::OK,
                json!([{
                    "id": format!("{}", e.id),
                    "user": {"id": org.id, "externalId": "static", "displayName": "Static user",
                             "organisationId": org.id, "createdAt": e.created, "updatedAt": e.updated},
                    "environment": p.env_json(e),
                    "dynamicVariables": e.variables,
                }]),
            )
        }
        (&Method::GET, ["systems"]) => {
            let search = q.get("search").map(|s| s.to_lowercase());
            let list: Vec<Value> = org
                .systems
                .iter()
                .filter(|s| {
                    search
                        .as_ref()
                        .is_none_or(|w| s.name.to_lowercase().contains(w))
                })
                .map(System::json)
                .collect();
            reply(StatusCode::OK, page(list, q, "id"))
        }
        (&Method::POST, ["systems"]) => {
            let (name, domain, base) = match (
                text(&body, "name"),
                text(&body, "domain"),
                text(&body, "templateBaseUrl"),
            ) {
                (Ok(n), Ok(d), Ok(b)) => (n.to_string(), d.to_string(), b.to_string()),
                (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
            };
            if !body["authSchemeConfigs"].is_array() {
                return invalid_field("authSchemeConfigs", "is required (an array)");
            }
            let auth = match grant_credentials(&body["authSchemeConfigs"], &org.id) {
                Ok(a) => a,
                Err((field, why)) => return invalid_field(&field, &why),
            };
            let s = System {
                id: ulid(),
                name,
                domain,
                template_base_url: base,
                auth_scheme_configs: auth,
                labels: body.get("labels").cloned().unwrap_or(json!({})),
            };
            let v = s.json();
            org.systems.push(s);
            reply(StatusCode::CREATED, v)
        }
        (&Method::DELETE, ["systems", sid]) => {
            let Some(i) = org.systems.iter().position(|s| s.id == *sid) else {
                return not_found(&format!("system {sid}"));
            };
            // Not while a project uses it (a connection template links it).
            let users: Vec<&str> = org
                .projects
                .iter()
                .filter(|p| p.templates.iter().any(|t| t.system_id == *sid))
                .map(|p| p.name.as_str())
                .collect();
            if !users.is_empty() {
                return error(
                    StatusCode::CONFLICT,
                    &format!(
                        "system {sid} is in use by project(s) {} (see their connection templates)",
                        users.join(", ")
                    ),
                    vec![],
                );
            }
            org.systems.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        (_, ["systems", sid]) => {
            let Some(s) = org.systems.iter_mut().find(|s| s.id == *sid) else {
                return not_found(&format!("system {sid}"));
            };
            match *method {
                Method::GET => reply(StatusCode::OK, s.json()),
                Method::PUT => {
                    for (f, slot) in [
                        ("name", &mut s.name),
                        ("domain", &mut s.domain),
                        ("templateBaseUrl", &mut s.template_base_url),
                    ] {
                        if let Some(v) = body[f].as_str() {
                            *slot = v.to_string();
                        }
                    }
                    reply(StatusCode::CREATED, s.json())
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", vec![]),
            }
        }
        (&Method::GET, ["connections"]) => {
            let list: Vec<Value> = org
                .connections
                .iter()
                .filter(|c| q.get("system_id").is_none_or(|s| *s == c.system_id))
                .map(Connection::json)
                .collect();
            reply(StatusCode::OK, page(list, q, "id"))
        }
        (&Method::POST, ["connections"]) => {
            let tid = match text(&body, "connectionTemplateId") {
                Ok(t) => t.to_string(),
                Err(r) => return r,
            };
            let Some(system_id) = org
                .projects
                .iter()
                .flat_map(|p| &p.templates)
                .find(|t| t.id == tid)
                .map(|t| t.system_id.clone())
            else {
                return not_found(&format!("connection template {tid}"));
            };
            let c = &body["connection"];
            let Some(name) = c["name"].as_str() else {
                return invalid_field("connection.name", "is required");
            };
            // With an end user's externalId the connection is theirs, not the static one.
            let end_user = body["externalId"]
                .as_str()
                .map(|u| (u.to_string(), tid.clone()));
            let conn = Connection {
                id: ulid(),
                name: name.to_string(),
                credentials: c["credentials"].clone(),
                base_url: c["baseUrl"].as_str().unwrap_or("").to_string(),
                system_id,
                templates: if end_user.is_some() {
                    vec![]
                } else {
                    vec![tid]
                },
                end_user,
                created: now(),
                updated: now(),
            };
            let v = conn.json();
            org.connections.push(conn);
            reply(StatusCode::CREATED, v)
        }
        (_, ["connections", cid, rest @ ..]) => connection_route(org, cid, method, rest, &body),
        _ => not_found(&format!("{method} /{}", seg.join("/"))),
    }
}

fn find_env(org: &Org, env_id: &str) -> Option<(usize, usize)> {
    org.projects.iter().enumerate().find_map(|(pi, p)| {
        p.environments
            .iter()
            .position(|e| e.id == env_id)
            .map(|ei| (pi, ei))
    })
}

fn create_project(org: &mut Org, body: &Value) -> Response {
    let name = match text(body, "name") {
        Ok(n) => n.to_string(),
        Err(r) => return r,
    };
    let pool = body["executionPool"]
        .as_str()
        .unwrap_or(&org.pools[0])
        .to_string();
    if !org.pools.contains(&pool) {
        return invalid_field("executionPool", &format!("no execution pool {pool:?}"));
    }
    let t = now();
    let p = Project {
        id: ulid(),
        name: name.clone(),
        created: t.clone(),
        updated: t.clone(),
        settings: json!({"defaultEnvironment": "development"}),
        schema: json!({"type": "object", "properties": {}}),
        current_files: json!({"files": [], "labels": {}}),
        environments: vec![Environment {
            id: ulid(),
            name: "development".into(),
            status: "draft".into(),
            created: t.clone(),
            updated: t,
            public_url: public_url(&name, "development"),
            execution_pool: pool,
            labels: json!({}),
            config: json!({}),
            deployed_version: None,
            last_deployed: None,
            variables: json!({}),
        }],
        versions: vec![],
        templates: vec![],
    };
    let v = p.json();
    org.projects.push(p);
    reply(StatusCode::OK, v)
}

fn project_route(
    org: &mut Org,
    pi: usize,
    method: &Method,
    rest: &[&str],
    q: &Query,
    body: Value,
) -> Response {
    match (method, rest) {
        (&Method::GET, []) => reply(StatusCode::OK, org.projects[pi].json()),
        (&Method::PUT, []) => {
            let p = &mut org.projects[pi];
            if let Some(n) = body["name"].as_str() {
                p.name = n.to_string();
            }
            if body["settings"].is_object() {
                p.settings = body["settings"].clone();
            }
            p.updated = now();
            reply(StatusCode::OK, p.json())
        }
        (&Method::POST, ["environments", "clone"]) => clone_environment(org, pi, &body),
        (&Method::POST, ["environments", "sync"]) => {
            let (from, to) = match (text(&body, "sourceEnvName"), text(&body, "targetEnvName")) {
                (Ok(f), Ok(t)) => (f.to_string(), t.to_string()),
                (Err(r), _) | (_, Err(r)) => return r,
            };
            let p = &mut org.projects[pi];
            let Some(version) = p.env_named(&from).map(|e| e.deployed_version.clone()) else {
                return not_found(&format!("environment {from:?}"));
            };
            let Some(t) = p.environments.iter_mut().find(|e| e.name == to) else {
                return not_found(&format!("environment {to:?}"));
            };
            if version.is_some() {
                t.deployed_version = version;
                t.status = "running".into();
                t.last_deployed = Some(now());
            }
            t.updated = now();
            reply(StatusCode::OK, p.json())
        }
        (&Method::PUT, ["environments", "execution-pools"]) => {
            let Some(name) = q.get("project_env") else {
                return invalid_field("project_env", "is required");
            };
            let pool = match text(&body, "executionPool") {
                Ok(p) => p.to_string(),
                Err(r) => return r,
            };
            if !org.pools.contains(&pool) {
                return invalid_field("executionPool", &format!("no execution pool {pool:?}"));
            }
            let p = &mut org.projects[pi];
            let pname = p.name.clone();
            let Some(e) = p.environments.iter_mut().find(|e| e.name == *name) else {
                return not_found(&format!("environment {name:?}"));
            };
            if e.execution_pool != pool {
                // The environment moves: suspended first if it runs, and a new URL.
                if e.status == "running" {
                    e.status = "suspended".into();
                }
                e.execution_pool = pool;
                e.public_url = public_url(&pname, &e.name);
                e.updated = now();
            }
            let e = e.clone();
            reply(StatusCode::OK, p.env_json(&e))
        }
        (&Method::POST, ["environments", env_id]) => {
            let p = &mut org.projects[pi];
            let Some(i) = p.environments.iter().position(|e| e.id == *env_id) else {
                return not_found(&format!("environment {env_id}"));
            };
            let gone = p.environments.remove(i);
            p.templates.retain(|t| t.env_id != gone.id);
            reply(StatusCode::OK, p.json())
        }
        (&Method::GET, ["variables"]) => reply(StatusCode::OK, org.projects[pi].schema.clone()),
        (&Method::PUT, ["variables"]) => {
            if !body.is_object() {
                return bad("the schema must be a JSON Schema object");
            }
            org.projects[pi].schema = body;
            reply(StatusCode::OK, org.projects[pi].schema.clone())
        }
        (&Method::PATCH, ["variables"]) => {
            let ops = if body.is_array() {
                body.as_array().unwrap().clone()
            } else {
                vec![body]
            };
            let mut schema = org.projects[pi].schema.clone();
            for op in &ops {
                let Some(path) = op["path"].as_str().filter(|p| p.starts_with('/')) else {
                    return invalid_field("path", "must be a JSON pointer");
                };
                let (parent, key) = path.rsplit_once('/').unwrap();
                let Some(target) = (if parent.is_empty() {
                    Some(&mut schema)
                } else {
                    schema.pointer_mut(parent)
                }) else {
                    return invalid_field("path", &format!("{parent} does not exist"));
                };
                match (op["op"].as_str(), target.as_object_mut()) {
                    (Some("add" | "replace"), Some(m)) => {
                        m.insert(key.to_string(), op["value"].clone());
                    }
                    (Some("remove"), Some(m)) => {
                        m.remove(key);
                    }
                    _ => return invalid_field("op", "must be add, remove or replace on an object"),
                }
            }
            org.projects[pi].schema = schema;
            reply(StatusCode::OK, org.projects[pi].schema.clone())
        }
        (&Method::GET, ["files"]) => reply(StatusCode::OK, org.projects[pi].current_files.clone()),
        (&Method::GET, ["versions"]) => {
            let list: Vec<Value> = org.projects[pi]
                .versions
                .iter()
                .map(Version::json)
                .collect();
            reply(StatusCode::OK, page(list, q, "id"))
        }
        (&Method::POST, ["versions"]) => {
            let name = match text(&body, "name") {
                Ok(n) => n.to_string(),
                Err(r) => return r,
            };
            let p = &mut org.projects[pi];
            if p.versions.iter().any(|v| v.name == name) {
                return error(
                    StatusCode::CONFLICT,
                    &format!("a version named {name:?} exists in this project"),
                    vec![json!({"field": "name", "message": "must be unique within the project"})],
                );
            }
            let files = body["files"].clone();
            let v = Version {
                id: ulid(),
                name,
                state: "ready".into(),
                created: now(),
                description: body["description"].as_str().unwrap_or("").to_string(),
                labels: body.get("labels").cloned().unwrap_or(json!({})),
                files,
            };
            let out = v.json();
            p.versions.push(v);
            reply(StatusCode::OK, out)
        }
        (&Method::GET, ["versions", vid, "files"]) => match org.projects[pi].version(vid) {
            Some(v) => reply(
                StatusCode::OK,
                json!({"files": v.files, "labels": v.labels}),
            ),
            None => not_found(&format!("version {vid}")),
        },
        // Files deployed at once: a version is made of them (its name given, or the time).
        (&Method::PUT, ["deploy"]) => {
            let files = if body["files"].is_array() {
                body["files"].clone()
            } else {
                return invalid_field("files", "is required");
            };
            let name = body["versionName"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| now().replace([':', '.'], "-"));
            let p = &mut org.projects[pi];
            if p.versions.iter().any(|v| v.name == name) {
                return error(
                    StatusCode::CONFLICT,
                    &format!("a version named {name:?} exists in this project"),
                    vec![],
                );
            }
            let v = Version {
                id: ulid(),
                name,
                state: "ready".into(),
                created: now(),
                description: body["versionDescription"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                labels: body.get("labels").cloned().unwrap_or(json!({})),
                files,
            };
            let vid = v.id.clone();
            // Refused like any deploy; the version is not kept then.
            p.versions.push(v);
            let r = deploy(org, pi, q, vid.clone());
            if !r.status().is_success() {
                org.projects[pi].versions.retain(|v| v.id != vid);
            }
            r
        }
        (&Method::PUT, ["versions", vid, "deploy"]) => {
            let Some(vid) = org.projects[pi].version(vid).map(|v| v.id.clone()) else {
                return not_found(&format!("version {vid}"));
            };
            deploy(org, pi, q, vid)
        }
        (&Method::GET, ["connection-templates"]) => {
            let p = &org.projects[pi];
            let list: Vec<Value> = p
                .templates
                .iter()
                .filter(|t| q.get("env_id").is_none_or(|e| *e == t.env_id))
                .map(|t| org.template_json(p, t))
                .collect();
            reply(StatusCode::OK, page(list, q, "connectionTemplateId"))
        }
        (&Method::POST, ["connection-templates"]) => {
            let (system_id, name, env_id) = match (
                text(&body, "systemId"),
                text(&body, "name"),
                text(&body, "environmentId"),
            ) {
                (Ok(s), Ok(n), Ok(e)) => (s.to_string(), n.to_string(), e.to_string()),
                (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
            };
            if org.system(&system_id).is_none() {
                return not_found(&format!("system {system_id}"));
            }
            let p = &org.projects[pi];
            if !p.environments.iter().any(|e| e.id == env_id) {
                return not_found(&format!("environment {env_id}"));
            }
            if p.templates
                .iter()
                .any(|t| t.env_id == env_id && t.name == name)
            {
                return error(
                    StatusCode::CONFLICT,
                    &format!("the environment already has a system named {name:?}"),
                    vec![],
                );
            }
            let t = Template {
                id: ulid(),
                system_id,
                env_id,
                name,
                dynamic: body["dynamic"].as_bool().unwrap_or(false),
                auth_scheme_config_ids: vec![],
            };
            let out = org.template_json(&org.projects[pi], &t);
            org.projects[pi].templates.push(t);
            reply(StatusCode::OK, out)
        }
        (_, ["connection-templates", tid]) => {
            let p = &mut org.projects[pi];
            let Some(i) = p.templates.iter().position(|t| t.id == *tid) else {
                return not_found(&format!("connection template {tid}"));
            };
            match *method {
                Method::DELETE => {
                    p.templates.remove(i);
                    StatusCode::NO_CONTENT.into_response()
                }
                Method::PUT => {
                    let t = &mut p.templates[i];
                    if let Some(n) = body["name"].as_str() {
                        t.name = n.to_string();
                    }
                    if let Some(d) = body["dynamic"].as_bool() {
                        t.dynamic = d;
                    }
                    if let Some(ids) = body["authSchemeConfigIds"].as_array() {
                        t.auth_scheme_config_ids = ids
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect();
                    }
                    let t = t.clone();
                    reply(StatusCode::OK, org.template_json(&org.projects[pi], &t))
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", vec![]),
            }
        }
        (&Method::GET, ["connections"]) => {
            let p = &org.projects[pi];
            let tids: Vec<&String> = p
                .templates
                .iter()
                .filter(|t| q.get("env_id").is_none_or(|e| *e == t.env_id))
                .map(|t| &t.id)
                .collect();
            let list: Vec<Value> = org
                .connections
                .iter()
                .filter(|c| c.templates.iter().any(|t| tids.contains(&t)))
                .map(|c| {
                    let mut v = c.json();
                    // The template of this project it serves, for the caller to match.
                    v["connectionTemplateId"] =
                        json!(c.templates.iter().find(|t| tids.contains(t)));
                    v
                })
                .collect();
            reply(StatusCode::OK, page(list, q, "id"))
        }
        _ => not_found(&format!(
            "{method} projects/{}/{}",
            org.projects[pi].id,
            rest.join("/")
        )),
    }
}

fn clone_environment(org: &mut Org, pi: usize, body: &Value) -> Response {
    let (old, new) = match (text(body, "oldEnvName"), text(body, "newEnvName")) {
        (Ok(o), Ok(n)) => (o.to_string(), n.to_string()),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let p = &org.projects[pi];
    let Some(src) = p.env_named(&old).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("environment {old:?} not found in project {}", p.name),
            vec![json!({"field": "oldEnvName", "message": "no such environment"})],
        );
    };
    if p.env_named(&new).is_some() {
        return error(
            StatusCode::CONFLICT,
            &format!("environment {new:?} already exists in project {}", p.name),
            vec![json!({"field": "newEnvName", "message": "already exists"})],
        );
    }
    if p.environments.len() >= MAX_ENVIRONMENTS {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("a maximum of {MAX_ENVIRONMENTS} environments can be created per project"),
            vec![],
        );
    }
    let pool = body["executionPool"]
        .as_str()
        .unwrap_or(&src.execution_pool)
        .to_string();
    if !org.pools.contains(&pool) {
        return invalid_field("executionPool", &format!("no execution pool {pool:?}"));
    }
    let t = now();
    let env = Environment {
        id: ulid(),
        name: new.clone(),
        status: "draft".into(),
        created: t.clone(),
        updated: t,
        public_url: public_url(&p.name, &new),
        execution_pool: pool,
        labels: src.labels.clone(),
        config: src.config.clone(),
        deployed_version: None,
        last_deployed: None,
        variables: if body["copyStaticUserVariables"].as_bool().unwrap_or(false) {
            src.variables.clone()
        } else {
            json!({})
        },
    };
    let templates: Vec<Template> = if body["cloneSystems"].as_bool().unwrap_or(false) {
        p.templates
            .iter()
            .filter(|t| t.env_id == src.id)
            .map(|t| Template {
                id: ulid(),
                env_id: env.id.clone(),
                ..t.clone()
            })
            .collect()
    } else {
        vec![]
    };
    let p = &mut org.projects[pi];
    p.environments.push(env);
    p.templates.extend(templates);
    p.updated = now();
    reply(StatusCode::OK, p.json())
}

fn deploy(org: &mut Org, pi: usize, q: &Query, vid: String) -> Response {
    let Some(name) = q.get("project_env") else {
        return invalid_field("project_env", "is required");
    };
    let p = &org.projects[pi];
    let Some(env_id) = p.env_named(name).map(|e| e.id.clone()) else {
        return not_found(&format!("environment {name:?}"));
    };
    let missing = org.missing_connections(p, &env_id);
    if !missing.is_empty() {
        return bad(&format!(
            "Failed to build config json: missing connections for the following systems: {}",
            missing.join(", ")
        ));
    }
    let p = &mut org.projects[pi];
    let e = p.environments.iter_mut().find(|e| e.id == env_id).unwrap();
    e.deployed_version = Some(vid);
    e.status = "running".into();
    e.last_deployed = Some(now());
    e.updated = now();
    reply(StatusCode::OK, p.json())
}

fn connection_route(
    org: &mut Org,
    cid: &str,
    method: &Method,
    rest: &[&str],
    body: &Value,
) -> Response {
    let Some(ci) = org.connections.iter().position(|c| c.id == cid) else {
        return not_found(&format!("connection {cid}"));
    };
    match (method, rest) {
        (&Method::GET, []) => reply(StatusCode::OK, org.connections[ci].json()),
        (&Method::DELETE, []) => {
            org.connections.remove(ci);
            StatusCode::NO_CONTENT.into_response()
        }
        (&Method::PUT, []) => {
            let c = &mut org.connections[ci];
            match (
                body["name"].as_str(),
                body.get("credentials"),
                body["baseUrl"].as_str(),
            ) {
                (Some(n), Some(cr), Some(b)) => {
                    c.name = n.to_string();
                    c.credentials = cr.clone();
                    c.base_url = b.to_string();
                    c.updated = now();
                    reply(StatusCode::OK, c.json())
                }
                _ => bad("name, credentials and baseUrl are all required"),
            }
        }
        (&Method::POST | &Method::DELETE, ["link"]) => {
            let tid = match text(body, "connectionTemplateId") {
                Ok(t) => t.to_string(),
                Err(r) => return r,
            };
            let Some(template_system) = org
                .projects
                .iter()
                .flat_map(|p| &p.templates)
                .find(|t| t.id == tid)
                .map(|t| t.system_id.clone())
            else {
                return not_found(&format!("connection template {tid}"));
            };
            let c = &mut org.connections[ci];
            if *method == Method::POST {
                // A connection authenticates with one system: it serves only that
                // system's templates.
                if !c.system_id.is_empty() && c.system_id != template_system {
                    return invalid_field(
                        "connectionTemplateId",
                        "is a template of another system than the connection's",
                    );
                }
                if !c.templates.contains(&tid) {
                    c.templates.push(tid);
                }
                // The document answers 201 with no body.
                StatusCode::CREATED.into_response()
            } else {
                c.templates.retain(|t| *t != tid);
                StatusCode::NO_CONTENT.into_response()
            }
        }
        _ => not_found(&format!("{method} connections/{cid}/{}", rest.join("/"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Org {
        let mut org = Org {
            id: ulid(),
            name: "acme".into(),
            token: "t".into(),
            jwt: "j".into(),
            pools: super::super::seed::POOLS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            systems: vec![],
            connections: vec![],
            projects: vec![],
            writes: 0,
        };
        super::super::seed::fill(&mut org, &super::super::seed::Seed::Demo);
        org
    }

    fn call(
        org: &mut Org,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Value,
    ) -> (u16, Value) {
        let seg: Vec<&str> = path.split('/').collect();
        let q: Query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let r = route(org, &method, &seg, &q, body);
        let status = r.status().as_u16();
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(r.into_body(), 1 << 20)).unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[test]
    fn a_deploy_needs_a_static_connection_for_every_static_template() {
        let mut org = demo();
        let pid = org.projects[0].id.clone();
        let files = json!({"files": [{"filename": "index.ts", "content": "v2"}], "labels": {}, "versionName": "v2"});
        // development has its static connections: deployed.
        let (s, p) = call(
            &mut org,
            Method::PUT,
            &format!("projects/{pid}/deploy"),
            &[("project_env", "development")],
            files.clone(),
        );
        assert_eq!(s, 200, "{p}");
        assert_eq!(p["environments"][0]["deployedVersion"]["name"], "v2");
        // A clone with the systems but no connections: refused, naming them, nothing kept.
        let clone = json!({"oldEnvName": "development", "newEnvName": "qa", "cloneSystems": true});
        assert_eq!(
            call(
                &mut org,
                Method::POST,
                &format!("projects/{pid}/environments/clone"),
                &[],
                clone
            )
            .0,
            200
        );
        let again = json!({"files": [{"filename": "index.ts", "content": "v3"}], "labels": {}, "versionName": "v3"});
        let (s, e) = call(
            &mut org,
            Method::PUT,
            &format!("projects/{pid}/deploy"),
            &[("project_env", "qa")],
            again,
        );
        assert_eq!(s, 400);
        assert_eq!(
            e["message"],
            "Failed to build config json: missing connections for the following systems: shopify, slack"
        );
        assert!(!org.projects[0].versions.iter().any(|v| v.name == "v3"));
        // A taken version name is refused.
        let (s, _) = call(
            &mut org,
            Method::PUT,
            &format!("projects/{pid}/deploy"),
            &[("project_env", "development")],
            files,
        );
        assert_eq!(s, 409);
    }
}
