//! The HTTP side of the sandbox: one handler that logs the request, checks the key and its
//! tier, applies the org's faults, and routes to the Platform API (`api`) or the admin API
//! (`admin`).

use super::keys::{OrgKeys, Tier};
use super::store::OrgData;
use super::{admin, api};
use crate::kit::faults::{Faults, OrgFaults, Verdict};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// One org of the sandbox.
pub struct Org {
    pub name: String,
    pub keys: OrgKeys,
    pub data: Mutex<OrgData>,
    pub faults: RwLock<OrgFaults>,
}

pub use crate::kit::log::{LogEntry, RequestLog};

pub struct Shared {
    pub prefix: String,
    /// the admin API's key, random per run
    pub admin_key: String,
    pub orgs: RwLock<BTreeMap<String, Arc<Org>>>,
    pub log: RequestLog,
    pub default_faults: Faults,
}

impl Shared {
    pub fn org(&self, name: &str) -> Option<Arc<Org>> {
        self.orgs.read().unwrap().get(name).cloned()
    }

    fn org_of_key(&self, key: &str) -> Option<(Arc<Org>, Tier)> {
        self.orgs
            .read()
            .unwrap()
            .values()
            .find_map(|o| o.keys.tier_of(key).map(|t| (o.clone(), t)))
    }
}

/// What a Platform API handler answers.
pub enum Reply {
    Json(StatusCode, Value),
    /// a body produced by a stream (file downloads)
    Stream(StatusCode, &'static str, Body),
    Empty(StatusCode),
}

impl Reply {
    pub fn ok(v: Value) -> Reply {
        Reply::Json(StatusCode::OK, v)
    }
    pub fn created(v: Value) -> Reply {
        Reply::Json(StatusCode::CREATED, v)
    }
    pub fn not_found() -> Reply {
        Reply::Json(StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    }
    /// A DRF validation error: `{"field": ["message"]}`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Reply {
        Reply::Json(StatusCode::BAD_REQUEST, json!({ field: [message.into()] }))
    }
    pub fn method_not_allowed(method: &Method) -> Reply {
        Reply::Json(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": format!("Method \"{method}\" not allowed.")}),
        )
    }
}

/// The parts of a request a Platform API handler needs.
pub struct Call {
    pub method: Method,
    /// path segments below the org, without empty ones: `["adapter", "<id>", "share"]`
    pub segments: Vec<String>,
    pub query: BTreeMap<String, String>,
    pub raw_query: String,
    pub headers: HeaderMap,
    /// `http://host/prefix/unstract/org/` as the client addressed it, for DRF links
    pub base: String,
    pub body: Bytes,
    /// A multipart body, left unread: an upload streams through [`Call::form`], as a real
    /// server spools it, instead of being held whole (twice) before it is parsed.
    pub upload: Mutex<Option<Body>>,
}

impl Call {
    pub fn json(&self) -> Result<Value, Reply> {
        if self.upload.lock().unwrap().is_some() {
            return Err(Reply::Json(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"detail": "Unsupported media type \"multipart/form-data\" in request."}),
            ));
        }
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Reply::Json(
                StatusCode::BAD_REQUEST,
                json!({"detail": format!("JSON parse error - {e}")}),
            )
        })
    }
    /// The multipart form of the request; `field` and `hint` name the error when it is not one.
    pub fn form(&self, field: &str, hint: &str) -> Result<multer::Multipart<'static>, Reply> {
        let boundary =
            multer::parse_boundary(self.content_type()).map_err(|_| Reply::invalid(field, hint))?;
        Ok(match self.upload.lock().unwrap().take() {
            Some(body) => multer::Multipart::new(body.into_data_stream(), boundary),
            None => {
                let body = self.body.clone();
                multer::Multipart::new(
                    futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) }),
                    boundary,
                )
            }
        })
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

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
