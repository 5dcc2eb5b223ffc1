//! `api/projectDuplications`: start on the source (POST), start on the target (PUT `{id}`),
//! read one (GET `{id}`) or the list, cancel (`PUT {id}/status`, and the documented `PUT {id}`
//! with a status body), download the package (`{id}/backup`), restore one (`restoration`,
//! multipart `file` + `metadata`), delete. The compatibility pair (`versions`,
//! `validations`) answers as the SDK expects.

use super::duplication::export;
use super::package;
use super::shared::{Call, LoggedBody, Shared, error, json_reply};
use super::store::{Duplication, ImportSettings, Side, Status};
use super::store::{EnvData, new_id};
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

/// An unknown duplication: the documented not-found code (the docs name no
/// duplication-specific one; INVALID_REQUEST is their 400).
fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ERR004",
        &format!("Project duplication {id} does not exist on this environment."),
    )
}

fn name_exists(name: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        "PROJECT_NAME_EXISTS",
        &format!("A project named {name:?} already exists on the target environment."),
    )
}

pub async fn route(shared: &Shared, call: Call) -> Response {
    let seg: Vec<String> = call.segments[1..].to_vec();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    match (&call.method, seg.as_slice()) {
        (&Method::GET, ["versions"]) => json_reply(
            StatusCode::OK,
            json!({
                "iServerVersion": super::api::VERSION,
                "metadataVersion": "2026.01.0",
                "metadataType": "postgresql",
            }),
        ),
        (&Method::POST, ["validations"]) => validate(call).await,
        (&Method::POST, []) => start_source(shared, call).await,
        (&Method::GET, []) => list(shared, &call),
        (&Method::POST, ["restoration"]) => restore(shared, call).await,
        (&Method::GET, [id]) => {
            let envs = shared.world();
            match find(&envs[&call.env], id) {
                Some(d) => json_reply(StatusCode::OK, d.record()),
                None => not_found(id),
            }
        }
        (&Method::PUT, [id]) => {
            let id = id.to_string();
            let env = call.env.clone();
            match call.json().await {
                Err(r) => r,
                // The docs cancel with `PUT {id}` and a status body.
                Ok(body) if body.get("status").is_some() => cancel(shared, &env, &id, &body),
                Ok(body) => start_target(shared, &env, &id, &body),
            }
        }
        (&Method::PUT, [id, "status"]) => {
            let (id, env) = (id.to_string(), call.env.clone());
            match call.json().await {
                Err(r) => r,
                Ok(body) => cancel(shared, &env, &id, &body),
            }
        }
        (&Method::GET, [id, "backup"]) => backup(shared, &call, id),
        (&Method::DELETE, [id]) => {
            let mut envs = shared.world();
            let env = envs.get_mut(&call.env).unwrap();
            match find(env, id) {
                None => not_found(id),
                Some(d) if d.status.is_running() => invalid(&format!(
                    "Project duplication {id} is {}: cancel it before deleting it.",
                    d.status.name()
                )),
                Some(_) => {
                    env.duplications.retain(|d| d.id != *id);
                    StatusCode::NO_CONTENT.into_response()
                }
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "ERR004",
            &format!(
                "{} api/{} is not served by this sandbox",
                call.method,
                call.segments.join("/")
            ),
        ),
    }
}

fn find<'a>(env: &'a EnvData, id: &str) -> Option<&'a Duplication> {
    env.duplications.iter().find(|d| d.id == id)
}

async fn validate(call: Call) -> Response {
    match call.json().await {
        Err(r) => r,
        Ok(v)
            if v["metadataType"]
                .as_str()
                .is_some_and(|t| t != "postgresql") =>
        {
            invalid(&format!(
                "The source's metadata type {} differs from this environment's (postgresql).",
                v["metadataType"]
            ))
        }
        Ok(_) => json_reply(StatusCode::OK, json!({"compatible": true})),
    }
}

/// The project name a body's `target` asks for.
fn target_name(body: &Value) -> Result<String, Response> {
    body["target"]["project"]["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| invalid("target.project.name is required."))
}

/// Whether a target environment may take `name`: free, or the existing project the body's
/// `target.project.id` names (its objects then go through the conflict rules).
fn name_free(env: &EnvData, name: &str, body: &Value) -> bool {
    let into = body["target"]["project"]["id"].as_str();
    match env.project_named(name) {
        None => true,
        Some(p) => into == Some(p.id.as_str()),
    }
}

async fn start_source(shared: &Shared, call: Call) -> Response {
    let env_name = call.env.clone();
    let header_project = call.header("X-MSTR-ProjectID").map(str::to_string);
    let body = match call.json().await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(project_id) = header_project else {
        return invalid("X-MSTR-ProjectID is required: it names the project to duplicate.");
    };
    if let Some(p) = body["source"]["project"]["id"].as_str()
        && p != project_id
    {
        return invalid("source.project.id differs from X-MSTR-ProjectID.");
    }
    let name = match target_name(&body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let here = body["source"]["environment"]["id"]
        .as_str()
        .and_then(|id| shared.env_of_id(id));
    if here.as_deref() != Some(env_name.as_str()) {
        return invalid(&format!(
            "source.environment.id must be this environment's base URL ({}).",
            shared.env_url(&env_name)
        ));
    }
    // The same environment on both sides is a duplication within it (`Project.duplicate`):
    // one record that exports, then imports here.
    let target = body["target"]["environment"]["id"].as_str().unwrap_or("");
    let local = shared.env_of_id(target).as_deref() == Some(env_name.as_str());
    let mut envs = shared.world();
    let env = envs.get_mut(&env_name).unwrap();
    if env.project(&project_id).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "PROJECT_NOT_FOUND",
            &format!("Project {project_id} does not exist on this environment."),
        );
    }
    if local && !name_free(env, &name, &body) {
        return name_exists(&name);
    }
    let exported = match export(env, &project_id, &body["settings"])
        .and_then(|e| ImportSettings::from_settings(&body["settings"]).map(|_| e))
    {
        Ok(e) => e,
        Err(m) => return invalid(&m),
    };
    let mut body = body;
    body["source"]["project"] = json!({"id": project_id, "name": exported.project.name});
    body["target"]["project"]["name"] = json!(name);
    let side = if local { Side::Local } else { Side::Source };
    let mut d = Duplication::new(&new_id(), side, &body, &env_name, Status::Exporting);
    d.fail = env.jobs.export_failed;
    d.package = Some(Arc::new(exported));
    let record = d.record();
    env.duplications.push(d);
    json_reply(StatusCode::CREATED, record)
}

fn start_target(shared: &Shared, env_name: &str, id: &str, body: &Value) -> Response {
    let name = match target_name(body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let source_env = body["source"]["environment"]["id"]
        .as_str()
        .and_then(|s| shared.env_of_id(s));
    let Some(source_env) = source_env else {
        return invalid("source.environment.id names no environment this target can reach.");
    };
    let here = body["target"]["environment"]["id"]
        .as_str()
        .and_then(|t| shared.env_of_id(t));
    if here.as_deref() != Some(env_name) {
        return invalid(&format!(
            "target.environment.id must be this environment's base URL ({}).",
            shared.env_url(env_name)
        ));
    }
    let mut envs = shared.world();
    let Some(source) = envs
        .get(&source_env)
        .and_then(|e| find(e, id))
        .filter(|d| d.side == Side::Source)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "ERR004",
            &format!("Project duplication {id} does not exist on the source environment."),
        );
    };
    if let Err(m) = ImportSettings::from_settings(&body["settings"]) {
        return invalid(&m);
    }
    let mut body = body.clone();
    body["source"] = source.source.clone();
    let env = envs.get_mut(env_name).unwrap();
    if find(env, id).is_some() {
        return invalid(&format!(
            "Project duplication {id} is already started on this environment."
        ));
    }
    if !name_free(env, &name, &body) {
        return name_exists(&name);
    }
    let mut d = Duplication::new(id, Side::Target, &body, &source_env, Status::ImportSyncing);
    d.fail = env.jobs.import_failed;
    let record = d.record();
    env.duplications.push(d);
    json_reply(StatusCode::CREATED, record)
}

fn cancel(shared: &Shared, env_name: &str, id: &str, body: &Value) -> Response {
    if !body["status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("cancelled"))
    {
        return invalid("The only status a client may set is \"cancelled\".");
    }
    let now = Instant::now();
    let mut envs = shared.world();
    let env = envs.get_mut(env_name).unwrap();
    let Some(d) = env.duplications.iter_mut().find(|d| d.id == id) else {
        return not_found(id);
    };
    if !d.status.cancellable() {
        return invalid(&format!(
            "Project duplication {id} is {}: only a running duplication (EXPORTING, \
             EXPORT_SYNCING, IMPORT_SYNCING, IMPORTING) can be cancelled.",
            d.status.name()
        ));
    }
    // Cancelling the source before it has exported cancels the target's side as well.
    let cascade = d.side == Side::Source && d.status != Status::Exported;
    d.cancel(now);
    if cascade {
        for (name, e) in envs.iter_mut() {
            if name == env_name {
                continue;
            }
            for t in e.duplications.iter_mut() {
                if t.id == id && t.side == Side::Target && t.status.cancellable() {
                    t.cancel(now);
                }
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

fn list(shared: &Shared, call: &Call) -> Response {
    let envs = shared.world();
    let all = &envs[&call.env].duplications;
    let (offset, limit) = call.page();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|d| d.record())
        .collect();
    // The SDK reads `duplications`, the docs show `projectDuplications`: answer both.
    json_reply(
        StatusCode::OK,
        json!({"duplications": page, "projectDuplications": page, "total": all.len()}),
    )
}

fn backup(shared: &Shared, call: &Call, id: &str) -> Response {
    let envs = shared.world();
    let Some(d) = find(&envs[&call.env], id) else {
        return not_found(id);
    };
    if d.side != Side::Source || d.status != Status::Exported {
        return invalid(&format!(
            "The package of project duplication {id} is downloaded from its source \
             environment once it is EXPORTED (here it is the {:?} side, {}).",
            d.side,
            d.status.name()
        ));
    }
    let exported = d.package.clone().expect("a source side has its export");
    let out = package::write(id, &d.source, &d.settings, &exported);
    let mut r = Body::from_stream(out.stream).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(out.len));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{id}.projdup\"")).unwrap(),
    );
    r
}

/// `POST restoration`: a multipart form with `metadata` (a JSON string: `settings.import`
/// and `target`) and `file` (the package), read as it streams in.
async fn restore(shared: &Shared, call: Call) -> Response {
    let env_name = call.env.clone();
    let Some(boundary) = call
        .header(header::CONTENT_TYPE.as_str())
        .and_then(|t| multer::parse_boundary(t).ok())
    else {
        return invalid("A restoration is a multipart form with the fields file and metadata.");
    };
    let mut form = multer::Multipart::new(call.body.into_data_stream(), boundary);
    let mut metadata: Option<Value> = None;
    let mut incoming = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return invalid(&format!("The multipart form is broken: {e}")),
        };
        match field.name() {
            Some("metadata") => match field.text().await.map(|t| serde_json::from_str(&t)) {
                Ok(Ok(v)) => metadata = Some(v),
                _ => return invalid("The field metadata must be a JSON object."),
            },
            Some("file") => {
                let reader =
                    tokio_util::io::StreamReader::new(field.map_err(std::io::Error::other));
                let bridge = tokio_util::io::SyncIoBridge::new(reader);
                let read = tokio::task::spawn_blocking(move || package::read(bridge)).await;
                match read {
                    Ok(Ok(p)) => incoming = Some(p),
                    Ok(Err(m)) => {
                        return invalid(&format!(
                            "The file is not a usable duplication package: {m}"
                        ));
                    }
                    Err(e) => return invalid(&format!("The package could not be read: {e}")),
                }
            }
            _ => {}
        }
    }
    let (Some(metadata), Some(incoming)) = (metadata, incoming) else {
        return invalid("A restoration needs both fields: file and metadata.");
    };
    let name = match target_name(&metadata) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let mut envs = shared.world();
    let env = envs.get_mut(&env_name).unwrap();
    if !name_free(env, &name, &metadata) {
        return name_exists(&name);
    }
    let body = json!({
        "source": incoming.source,
        "target": {
            "environment": {"id": shared.env_url(&env_name), "name": shared.env_url(&env_name)},
            "project": metadata["target"]["project"],
        },
        "settings": {
            "import": metadata["settings"]["import"],
            "export": incoming.settings["export"],
        },
    });
    if let Err(m) = ImportSettings::from_settings(&body["settings"]) {
        return invalid(&m);
    }
    let source_env = incoming.source["environment"]["id"]
        .as_str()
        .and_then(|s| shared.env_of_id(s))
        .unwrap_or_default();
    let mut d = Duplication::new(
        &new_id(),
        Side::Restore,
        &body,
        &source_env,
        Status::Importing,
    );
    d.fail = env.jobs.import_failed;
    d.message = format!(
        "Restoring from a package of {} bytes (sha256 {}).",
        incoming.size, incoming.sha256
    );
    d.package = Some(Arc::new(incoming.exported));
    let record = d.record();
    env.duplications.push(d);
    let mut r = json_reply(StatusCode::CREATED, record);
    // The form's JSON part, for the request log's test mode.
    r.extensions_mut()
        .insert(LoggedBody(json!({"metadata": metadata})));
    r
}
