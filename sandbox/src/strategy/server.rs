//! The request path of the emulated Strategy server: every environment is served under its
//! own base URL, `{url}/{env}/MicroStrategyLibrary` (Strategy identifies an environment by its
//! base URL), the admin API under `{url}/_admin/`. A request is logged, meets its
//! environment's faults, moves the duplications on, is checked for a live session (the
//! `X-MSTR-AuthToken` header and the `JSESSIONID` cookie, both) and is routed.

use super::duplication::{Pace, advance};
use super::store::EnvData;
use super::{admin, api, jobs};
use crate::kit::faults::{OrgFaults, Verdict};
use crate::kit::log::RequestLog;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// The path below the server's root where an environment's API lives.
pub const LIBRARY: &str = "MicroStrategyLibrary";

pub struct Credentials {
    pub username: String,
    pub password: String,
}

pub struct Shared {
    pub admin_key: String,
    /// `http://127.0.0.1:PORT`, known once listening
    pub url: OnceLock<String>,
    pub envs: Mutex<BTreeMap<String, EnvData>>,
    pub credentials: BTreeMap<String, Credentials>,
    pub faults: RwLock<BTreeMap<String, OrgFaults>>,
    pub log: RequestLog,
    pub pace: Pace,
    /// seconds a session may idle before it expires (`GET api/sessions` says it)
    pub session_timeout: u64,
}

impl Shared {
    pub fn url(&self) -> &str {
        self.url.get().map(String::as_str).unwrap_or("")
    }

    /// An environment's base URL, as clients and duplication bodies name it.
    pub fn env_url(&self, env: &str) -> String {
        format!("{}/{env}/{LIBRARY}", self.url())
    }

    /// The environment a duplication body's `environment.id` names: its base URL (a
    /// trailing slash, or `/api...` after it, is tolerated).
    pub fn env_of_id(&self, id: &str) -> Option<String> {
        let path = url::Url::parse(id).ok()?.path().to_string();
        let mut seg = path.split('/').filter(|s| !s.is_empty());
        let env = seg.next()?;
        (seg.next() == Some(LIBRARY) && self.credentials.contains_key(env)).then(|| env.to_string())
    }

    /// Lock the environments with every duplication moved on to now.
    pub fn world(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, EnvData>> {
        let mut envs = self.envs.lock().unwrap();
        advance(&mut envs, self.pace, Instant::now());
        envs
    }
}

/// An error in Strategy's shape: `{code, message, ticketId, iServerCode}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let ticket = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "ticketId": ticket,
            "iServerCode": -2147072488i64,
        })),
    )
        .into_response()
}

pub fn json_reply(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// One request to an environment's API.
pub struct Call {
    pub env: String,
    pub method: Method,
    /// the path below `api/`, split: `["projectDuplications", "<id>", "status"]`
    pub segments: Vec<String>,
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    /// the request's body, unread (a restoration's upload streams from it)
    pub body: Body,
    /// the signed-in user, once the session is checked
    pub user: String,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (an empty body is `{}`); a bad one is a 400 INVALID_REQUEST.
    pub async fn json(self) -> Result<Value, Response> {
        let bytes = axum::body::to_bytes(self.body, 16 << 20)
            .await
            .map_err(|e| error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", &e.to_string()))?;
        if bytes.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                &format!("The request body is not valid JSON: {e}"),
            )
        })
    }

    /// `offset` and `limit` of a list (no limit, or a negative one: everything).
    pub fn page(&self) -> (usize, usize) {
        let offset = self
            .query
            .get("offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let limit = self
            .query
            .get("limit")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|l| *l >= 0)
            .map(|l| l as usize)
            .unwrap_or(usize::MAX);
        (offset, limit)
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

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
    let rest: Vec<String> = seg.map(str::to_string).collect();
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
    let mut call = Call {
        env: env.clone(),
        method: method.clone(),
        segments: rest,
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        headers: req.headers().clone(),
        body: req.into_body(),
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
    shared.log.record(
        &env,
        method.as_str(),
        &logged,
        &query,
        status.as_u16(),
        start,
    );
    response
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
    // A second's grace: clients renew on a whole-second clock.
    let limit = Duration::from_secs(shared.session_timeout) + Duration::from_secs(1);
    env.sessions.retain(|s| s.last.elapsed() <= limit);
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
