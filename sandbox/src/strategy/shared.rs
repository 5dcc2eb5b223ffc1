//! What every part of the emulated Strategy API shares: the state behind the routes, one
//! request, and answers in Strategy's shapes. It uses none of the routes, so they may all
//! use it.

use super::duplication::{Pace, advance};
use super::store::EnvData;
use crate::kit::faults::OrgFaults;
use crate::kit::log::RequestLog;
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Instant;

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
    /// whether the request log keeps JSON bodies (see `Config::keep_bodies`)
    pub keep_bodies: bool,
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

    pub(super) fn cookie(&self, name: &str) -> Option<String> {
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

/// A request's JSON body as a handler read it, for the request log (a multipart restoration's
/// metadata): put in the response's extensions.
#[derive(Clone)]
pub struct LoggedBody(pub Value);
