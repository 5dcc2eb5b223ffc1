//! What every part of the emulated Unstract API shares: the state behind the routes, one
//! request and its answer. It uses none of the routes, so they may all use it.

use super::keys::{OrgKeys, Tier};
use super::store::OrgData;
use crate::kit::faults::{Faults, OrgFaults};
pub use crate::kit::log::{LogEntry, RequestLog};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// One org of the sandbox.
pub struct Org {
    pub name: String,
    pub keys: OrgKeys,
    pub data: Mutex<OrgData>,
    pub faults: RwLock<OrgFaults>,
}

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

    pub(super) fn org_of_key(&self, key: &str) -> Option<(Arc<Org>, Tier)> {
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
