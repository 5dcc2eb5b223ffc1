//! The request path of the emulated Strategy server: every environment is served under its
//! own base URL, `{url}/{env}/MicroStrategyLibrary` (Strategy identifies an environment by its
//! base URL), the admin API under `{url}/_admin/`. A request is logged, meets its
//! environment's faults, moves the duplications on, is checked for a live session (the
//! `X-MSTR-AuthToken` header and the `JSESSIONID` cookie, both) and is routed.

use super::shared::{Call, LIBRARY, LoggedBody, Shared, error};
use super::{admin, api, jobs};
use crate::kit::faults::Verdict;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let start = shared.log.now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if let Some(rest) = path.strip_prefix("/_admin/") {
        let key = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if key != Some(shared.admin_key.as_str()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "ERR009",
                "The admin API needs the admin key (admin_key in the start line).",
            );
        }
        return admin::handle(&shared, &method, rest, &query, req).await;
    }
    let mut seg = path.split('/').filter(|s| !s.is_empty());
    let (env, library, api) = (seg.next(), seg.next(), seg.next());
    let rest: Vec<String> = seg
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let env = match (env, library, api) {
        (Some(env), Some(LIBRARY), Some("api")) if shared.credentials.contains_key(env) => {
            env.to_string()
        }
        _ => {
            shared
                .log
                .record("", method.as_str(), &path, &query, 404, start);
            let envs: Vec<&String> = shared.credentials.keys().collect();
            return error(
                StatusCode::NOT_FOUND,
                "ERR004",
                &format!(
                    "{path} is not an environment's API: use /ENV/{LIBRARY}/api/... (environments: {envs:?})"
                ),
            );
        }
    };
    let logged = rest.join("/");
    let (delay, verdict) = {
        let f = shared.faults.read().unwrap();
        let f = &f[&env];
        (f.delay(), f.verdict())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(r) = crate::kit::faults::fault_response(
        verdict,
        json!({"code": "ERR001", "message": "Too many requests.", "ticketId": "", "iServerCode": 0}),
    ) {
        let status = if verdict == Verdict::Drop {
            0
        } else {
            r.status().as_u16()
        };
        shared
            .log
            .record(&env, method.as_str(), &logged, &query, status, start);
        return r;
    }
    let headers = req.headers().clone();
    let (body, kept) = keep_json(&shared, &headers, req.into_body()).await;
    let mut call = Call {
        env: env.clone(),
        method: method.clone(),
        segments: rest,
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        headers,
        body,
        user: String::new(),
    };
    let open = matches!(
        (
            &method,
            call.segments
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
        ),
        (&Method::POST, ["auth", "login"]) | (&Method::GET, ["status"])
    );
    let response = if open {
        api::route(&shared, call).await
    } else {
        match session(&shared, &call) {
            Err(r) => r,
            Ok(user) => {
                call.user = user;
                if call.segments.first().map(String::as_str) == Some("projectDuplications") {
                    jobs::route(&shared, call).await
                } else {
                    api::route(&shared, call).await
                }
            }
        }
    };
    let status = response.status();
    if status.is_success()
        && method != Method::GET
        && let Some(e) = shared.envs.lock().unwrap().get_mut(&env)
    {
        e.writes += 1;
    }
    let seq = shared.log.record(
        &env,
        method.as_str(),
        &logged,
        &query,
        status.as_u16(),
        start,
    );
    if let Some(body) = response
        .extensions()
        .get::<LoggedBody>()
        .map(|b| b.0.clone())
        .or(kept)
    {
        shared.log.keep_body(seq, body);
    }
    response
}

/// In the test mode that keeps bodies: a JSON body read whole (up to 1 MiB) and put back,
/// and its value for the log. Any other body passes untouched.
async fn keep_json(shared: &Shared, headers: &HeaderMap, body: Body) -> (Body, Option<Value>) {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !shared.keep_bodies || !json {
        return (body, None);
    }
    match axum::body::to_bytes(body, 1 << 20).await {
        Ok(bytes) => {
            let v = serde_json::from_slice(&bytes).ok();
            (Body::from(bytes), v)
        }
        Err(_) => (Body::empty(), None),
    }
}

/// The live session the call's token and cookie name (and keep it alive), or 401 ERR009.
fn session(shared: &Shared, call: &Call) -> Result<String, Response> {
    let refuse = |why: &str| {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "ERR009",
            &format!("The user's session has expired, please reauthenticate ({why})."),
        ))
    };
    let Some(token) = call.header("X-MSTR-AuthToken") else {
        return refuse("no X-MSTR-AuthToken header");
    };
    let Some(cookie) = call.cookie("JSESSIONID") else {
        return refuse("no JSESSIONID cookie");
    };
    let mut envs = shared.envs.lock().unwrap();
    let env = envs.get_mut(&call.env).expect("a routed environment");
    // No grace: a session idle for its whole timeout has ended, as on a real server. A client
    // renews ahead of that or signs in again.
    let limit = Duration::from_secs(shared.session_timeout);
    env.sessions.retain(|s| s.last.elapsed() < limit);
    match env
        .sessions
        .iter_mut()
        .find(|s| s.token == token && s.cookie == cookie)
    {
        Some(s) => {
            s.last = Instant::now();
            Ok(s.user.clone())
        }
        None => refuse("unknown or expired token"),
    }
}
