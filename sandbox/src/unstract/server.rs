//! The HTTP side of the sandbox: one handler that logs the request, checks the key and its
//! tier, applies the org's faults, and routes to the Platform API (`api`) or the admin API
//! (`admin`).

use super::keys::Tier;
use super::shared::{Call, Reply, Shared};
use super::{admin, api};
use crate::kit::faults::Verdict;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn detail(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "detail": message }))).into_response()
}

pub async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let start = shared.log.now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    if let Some(rest) = path.strip_prefix("/_admin/") {
        let key = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if key != Some(shared.admin_key.as_str()) {
            return detail(
                StatusCode::UNAUTHORIZED,
                "The admin API needs the admin key (admin_key in the start line).",
            );
        }
        return admin::handle(&shared, &method, rest, &raw_query, req).await;
    }
    let org_path = format!("/{}/unstract/", shared.prefix.trim_matches('/'));
    let Some((org_name, rest)) = path
        .strip_prefix(&org_path)
        .and_then(|r| r.split_once('/').or(Some((r, ""))))
    else {
        shared
            .log
            .record("", method.as_str(), &path, &raw_query, 404, start);
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    let (org_name, rest) = (org_name.to_string(), rest.to_string());

    // Authentication, then authorisation: the key's org must be the URL's, its tier enough.
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let status_of = |r: &Response| r.status().as_u16();
    let refuse = |status: StatusCode, message: &str| {
        let r = detail(status, message);
        shared.log.record(
            &org_name,
            method.as_str(),
            &rest,
            &raw_query,
            status_of(&r),
            start,
        );
        r
    };
    if key.is_empty() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        );
    }
    let Some((key_org, tier)) = shared.org_of_key(key) else {
        return refuse(StatusCode::UNAUTHORIZED, "Invalid API key.");
    };
    if key_org.name != org_name {
        return refuse(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action.",
        );
    }
    if tier < Tier::needed_for(&method) {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("This key is {}: it cannot {method}.", tier.name()),
        );
    }
    let org = key_org;

    // Faults.
    let (delay, verdict) = {
        let f = org.faults.read().unwrap();
        (f.delay(), f.verdict())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(r) =
        crate::kit::faults::fault_response(verdict, json!({"detail": "Request was throttled."}))
    {
        // A cut connection is logged with status 0: no answer reached the client.
        let status = if verdict == Verdict::Drop {
            0
        } else {
            r.status().as_u16()
        };
        shared
            .log
            .record(&org_name, method.as_str(), &rest, &raw_query, status, start);
        return r;
    }
    let slow = matches!(verdict, Verdict::Serve { slow: true });

    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let headers = req.headers().clone();
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    let (body, upload) = if multipart {
        (Bytes::new(), Some(req.into_body()))
    } else {
        match axum::body::to_bytes(req.into_body(), usize::MAX).await {
            Ok(b) => (b, None),
            Err(_) => return refuse(StatusCode::BAD_REQUEST, "could not read the request body"),
        }
    };
    let call = Call {
        method: method.clone(),
        segments: rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        query: url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        raw_query: raw_query.clone(),
        headers,
        base: format!("http://{host}{org_path}{org_name}/"),
        body,
        upload: Mutex::new(upload),
    };
    let reply = api::route(&org, call).await;
    let response = match reply {
        Reply::Json(status, v) if slow => {
            trickle(status, "application/json", Bytes::from(v.to_string()))
        }
        Reply::Json(status, v) => (status, axum::Json(v)).into_response(),
        Reply::Stream(status, content_type, body) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap(),
        Reply::Empty(status) => status.into_response(),
    };
    shared.log.record(
        &org_name,
        method.as_str(),
        &rest,
        &raw_query,
        response.status().as_u16(),
        start,
    );
    response
}

/// A slow body: the answer in small chunks with pauses between them.
fn trickle(status: StatusCode, content_type: &'static str, bytes: Bytes) -> Response {
    let chunks: Vec<Bytes> = bytes.chunks(256).map(Bytes::copy_from_slice).collect();
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<Bytes, std::io::Error>(c)
    });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(stream))
        .unwrap()
}

use futures::StreamExt;
