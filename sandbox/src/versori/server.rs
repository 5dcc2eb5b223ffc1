//! The request path of the emulated Versori Platform API: `{url}/api/v2/o/{org}/...` with
//! `Authorization: Bearer <API key>` or `JWT <signed token>` (401 without a known token or
//! with the other's scheme, 403 with another organisation's), the organisation's faults, the
//! request log, then `api`; the admin API under `{url}/_admin/`.

use super::contract::contract;
use super::shared::{Shared, error};
use super::{admin, api};
use crate::kit::faults::Verdict;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const PREFIX: &str = "api/v2";

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
                "the admin API needs the admin key",
                vec![],
            );
        }
        return admin::handle(&shared, &method, rest, &query, req).await;
    }
    let below = path.strip_prefix(&format!("/{PREFIX}/o/")).map(|r| {
        r.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let Some(mut seg) = below.filter(|s| !s.is_empty()) else {
        shared
            .log
            .record("", method.as_str(), &path, &query, 404, start);
        return error(
            StatusCode::NOT_FOUND,
            &format!("{path}: not an API path (/{PREFIX}/o/ORG/...)"),
            vec![],
        );
    };
    let org_id = seg.remove(0);
    let logged = seg.join("/");
    let org_name = {
        let orgs = shared.orgs.lock().unwrap();
        orgs.get(&org_id).map(|o| o.name.clone())
    };
    let refuse = |status: StatusCode, message: &str| {
        shared.log.record(
            org_name.as_deref().unwrap_or(""),
            method.as_str(),
            &logged,
            &query,
            status.as_u16(),
            start,
        );
        error(status, message, vec![])
    };
    // Authentication, then authorisation: the token's organisation must be the URL's.
    // An API key travels as `Bearer`, a signed user token as `JWT`: each only so.
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (jwt, token) = match given.split_once(' ') {
        Some(("Bearer", t)) => (false, t.trim()),
        Some(("JWT", t)) => (true, t.trim()),
        _ => (false, ""),
    };
    let owner = {
        let orgs = shared.orgs.lock().unwrap();
        orgs.values()
            .find(|o| !token.is_empty() && token == if jwt { &o.jwt } else { &o.token })
            .map(|o| o.id.clone())
    };
    let Some(owner) = owner else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or invalid token (Authorization: Bearer <API key> or JWT <signed token>)",
        );
    };
    let Some(org_name) = org_name.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("organisation {org_id} not found"),
        );
    };
    if owner != org_id {
        return refuse(
            StatusCode::FORBIDDEN,
            "this token belongs to another organisation",
        );
    }
    let (delay, verdict) = {
        let f = shared.faults.read().unwrap();
        let f = &f[&org_name];
        (f.delay(), f.verdict())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(r) = crate::kit::faults::fault_response(
        verdict,
        json!({"code": "429000", "message": "too many requests", "fields": [], "details": ""}),
    ) {
        let status = if verdict == Verdict::Drop {
            0
        } else {
            r.status().as_u16()
        };
        shared
            .log
            .record(&org_name, method.as_str(), &logged, &query, status, start);
        return r;
    }
    let q: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
        Ok(b) if b.is_empty() => Value::Null,
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(v) => v,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("the body is not JSON: {e}"),
                );
            }
        },
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "could not read the body"),
    };
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    if shared.judge {
        let keys: Vec<&str> = q.keys().map(String::as_str).collect();
        if let Some(b) = contract().judge_request(&method, &seg, &keys) {
            shared
                .breaches
                .lock()
                .unwrap()
                .push(format!("request: {b}"));
        }
    }
    let response = {
        let mut orgs = shared.orgs.lock().unwrap();
        let org = orgs.get_mut(&org_id).unwrap();
        let r = api::route(org, &method, &seg, &q, body);
        if r.status().is_success() && method != Method::GET {
            org.writes += 1;
        }
        r
    };
    let response = if shared.judge {
        judge_answer(&shared, &method, &seg, response).await
    } else {
        response
    };
    shared.log.record(
        &org_name,
        method.as_str(),
        &logged,
        &query,
        response.status().as_u16(),
        start,
    );
    response
}

/// The judge mode's look at an answer: one that breaks the contract is recorded and becomes a
/// 500 naming the breach, so the client fails loudly where it would have relied on it.
async fn judge_answer(shared: &Shared, method: &Method, seg: &[&str], r: Response) -> Response {
    let (parts, body) = r.into_parts();
    // The emulator's own answers, already in memory: the limit is only a formality.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let value = match bytes.is_empty() {
        true => None,
        false => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => Some(v),
            Err(_) => Some(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        },
    };
    match contract().judge_answer(method, seg, parts.status.as_u16(), value.as_ref()) {
        None => Response::from_parts(parts, axum::body::Body::from(bytes)),
        Some(b) => {
            shared.breaches.lock().unwrap().push(format!("answer: {b}"));
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the emulator's answer breaks contract.toml: {b}"),
                vec![],
            )
        }
    }
}
