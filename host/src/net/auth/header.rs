//! A key in a header of the platform's own (`X-API-Key: <key>`).

use super::Vars;
use crate::net::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Spec {
    /// the header's name
    pub name: String,
    #[serde(default)]
    pub key_env: Vars,
}

pub fn apply(rb: reqwest::RequestBuilder, name: &str, key: &Secret) -> reqwest::RequestBuilder {
    match reqwest::header::HeaderValue::from_str(key.expose()) {
        Ok(mut v) => {
            v.set_sensitive(true);
            rb.header(name, v)
        }
        Err(_) => rb,
    }
}
