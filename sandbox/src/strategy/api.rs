//! Authentication, sessions, the server's status, projects and objects.

use super::shared::{Call, Shared, error, json_reply};
use super::store::{Session, new_id, types};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Instant;

/// The version the emulator reports: new enough for cross-environment duplication in
/// Strategy's SDK (11.5.1200), in the 4-digit build form the SDK cuts to 9 characters.
pub const VERSION: &str = "11.5.1200.0123";

pub async fn route(shared: &Shared, call: Call) -> Response {
    let seg: Vec<String> = call.segments.clone();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    if call.method == Method::GET
        && let Some(r) = super::management::route(shared, &call, &seg)
    {
        return r;
    }
    match (&call.method, seg.as_slice()) {
        (&Method::POST, ["auth", "login"]) => login(shared, call).await,
        (&Method::POST, ["auth", "logout"]) => {
            let token = call.header("X-MSTR-AuthToken").unwrap_or("").to_string();
            let mut envs = shared.envs.lock().unwrap();
            envs.get_mut(&call.env)
                .unwrap()
                .sessions
                .retain(|s| s.token != token);
            StatusCode::NO_CONTENT.into_response()
        }
        (&Method::GET, ["sessions"]) => json_reply(
            StatusCode::OK,
            json!({
                "timeout": shared.session_timeout,
                "workingSet": 10,
                "maxSearch": 3,
                "locale": 1033,
                "userId": super::seed::ADMINISTRATOR,
            }),
        ),
        // The session was renewed when it was checked.
        (&Method::PUT, ["sessions"]) => StatusCode::NO_CONTENT.into_response(),
        (&Method::GET, ["sessions", "userInfo"]) => json_reply(
            StatusCode::OK,
            json!({"id": super::seed::ADMINISTRATOR, "fullName": "Administrator", "username": call.user}),
        ),
        (&Method::GET, ["status"]) => json_reply(
            StatusCode::OK,
            json!({
                "webVersion": VERSION,
                "iServerVersion": VERSION,
                "iServerRunning": true,
                "deploymentType": "sandbox",
            }),
        ),
        (&Method::GET, ["projects"]) => {
            let envs = shared.world();
            let list: Vec<Value> = envs[&call.env]
                .projects
                .iter()
                .map(|p| p.summary())
                .collect();
            json_reply(StatusCode::OK, json!(list))
        }
        (&Method::GET, ["monitors", "projects"]) => {
            let envs = shared.world();
            let all = &envs[&call.env].projects;
            let (offset, limit) = call.page();
            let page: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|p| {
                    let mut s = p.summary();
                    s["nodes"] = json!([{"name": "sandbox", "status": "loaded"}]);
                    s
                })
                .collect();
            let mut r = json_reply(StatusCode::OK, json!({"projects": page}));
            r.headers_mut()
                .insert("x-mstr-total-count", HeaderValue::from(all.len()));
            r
        }
        (&Method::GET, ["objects", id]) => object(shared, &call, id),
        // Deleting a project (Strategy's `DELETE api/projects/{id}`): its objects go with it;
        // users, groups and roles are environment-wide and stay.
        (&Method::DELETE, ["projects", id]) => {
            let mut envs = shared.world();
            let env = envs.get_mut(&call.env).expect("a known environment");
            match env.projects.iter().position(|p| p.id == *id) {
                Some(i) => {
                    env.projects.remove(i);
                    StatusCode::NO_CONTENT.into_response()
                }
                None => error(
                    StatusCode::NOT_FOUND,
                    "ERR004",
                    &format!("no project with id {id}"),
                ),
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

async fn login(shared: &Shared, call: Call) -> Response {
    let form = call
        .header(header::CONTENT_TYPE.as_str())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let env = call.env.clone();
    let bytes = axum::body::to_bytes(call.body, 1 << 20)
        .await
        .unwrap_or_default();
    // The SDK posts a form; the docs show JSON: take both.
    let fields: Value = if form {
        let m: serde_json::Map<String, Value> = url::form_urlencoded::parse(&bytes)
            .into_owned()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Value::Object(m)
    } else {
        serde_json::from_slice(&bytes).unwrap_or(json!({}))
    };
    let creds = &shared.credentials[&env];
    let given = |k: &str| fields[k].as_str().unwrap_or("");
    if given("username") != creds.username || given("password") != creds.password {
        return error(
            StatusCode::UNAUTHORIZED,
            "ERR003",
            "Login failure: wrong user name or password.",
        );
    }
    let token = new_id().to_lowercase();
    let cookie = new_id();
    shared
        .envs
        .lock()
        .unwrap()
        .get_mut(&env)
        .unwrap()
        .sessions
        .push(Session {
            token: token.clone(),
            cookie: cookie.clone(),
            user: creds.username.clone(),
            last: Instant::now(),
        });
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert("X-MSTR-AuthToken", HeaderValue::from_str(&token).unwrap());
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "JSESSIONID={cookie}; Path=/{env}/{}; HttpOnly",
            super::shared::LIBRARY
        ))
        .unwrap(),
    );
    r
}

/// `GET api/objects/{id}?type=T`: a project (type 32), or an object of the project that
/// `X-MSTR-ProjectID` names.
fn object(shared: &Shared, call: &Call, id: &str) -> Response {
    let envs = shared.world();
    let env = &envs[&call.env];
    let type_ = call.query.get("type").and_then(|t| t.parse::<i64>().ok());
    if type_ == Some(types::PROJECT) {
        return match env.project(id) {
            Some(p) => json_reply(
                StatusCode::OK,
                json!({
                    "id": p.id,
                    "name": p.name,
                    "type": types::PROJECT,
                    "subtype": 8192,
                    "description": p.description,
                    "dateCreated": "2026-01-05T10:00:00.000+0000",
                    "dateModified": "2026-01-05T10:00:00.000+0000",
                    "version": p.id,
                    "owner": {"id": super::seed::ADMINISTRATOR, "name": "Administrator"},
                    "acg": 255,
                }),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                "ERR004",
                &format!("Project {id} does not exist on this environment."),
            ),
        };
    }
    let Some(project) = call.header("X-MSTR-ProjectID").and_then(|p| env.project(p)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ERR006",
            "X-MSTR-ProjectID must name a project of this environment.",
        );
    };
    match project
        .objects
        .iter()
        .find(|o| o.id == id && type_.is_none_or(|t| t == o.type_))
    {
        Some(o) => json_reply(StatusCode::OK, serde_json::to_value(o).unwrap()),
        None => error(
            StatusCode::NOT_FOUND,
            "ERR004",
            &format!("Object {id} does not exist in project {}.", project.name),
        ),
    }
}
