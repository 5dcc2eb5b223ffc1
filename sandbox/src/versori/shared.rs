//! What every part of the emulated Versori API shares: the state behind the routes, and
//! answers in Versori's shapes. It uses none of the routes, so they may all use it.

use super::store::Org;
use crate::kit::faults::OrgFaults;
use crate::kit::log::RequestLog;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

pub struct Shared {
    pub admin_key: String,
    /// organisations by id
    pub orgs: Mutex<BTreeMap<String, Org>>,
    pub faults: RwLock<BTreeMap<String, OrgFaults>>,
    pub log: RequestLog,
    /// the judge mode (`Config::judge`) and what it found
    pub judge: bool,
    pub breaches: Mutex<Vec<String>>,
}

impl Shared {
    /// An organisation's id from its name.
    pub fn org_id(&self, name: &str) -> Option<String> {
        let orgs = self.orgs.lock().unwrap();
        orgs.values().find(|o| o.name == name).map(|o| o.id.clone())
    }
}

/// An error in Versori's shape: `{code, message, fields, details}` (codes are 6-digit
/// strings: the status and a serial).
pub fn error(status: StatusCode, message: &str, fields: Vec<Value>) -> Response {
    let code = format!("{}000", status.as_u16());
    (
        status,
        axum::Json(json!({"code": code, "message": message, "fields": fields, "details": ""})),
    )
        .into_response()
}

pub fn reply(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}
