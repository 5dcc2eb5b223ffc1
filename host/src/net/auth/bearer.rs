//! `Authorization: <prefix> <key>`: an API key or token (Unstract's `Bearer`, Versori's
//! `Bearer` for API keys and `JWT` for signed tokens).

use super::Vars;
use crate::net::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Spec {
    /// the word before the key (default `Bearer`)
    #[serde(default = "bearer")]
    pub prefix: String,
    /// the variables that hold the key when no flag or file gives it
    #[serde(default)]
    pub key_env: Vars,
}

fn bearer() -> String {
    "Bearer".into()
}

pub fn apply(rb: reqwest::RequestBuilder, prefix: &str, key: &Secret) -> reqwest::RequestBuilder {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("{prefix} {}", key.expose()))
        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
    value.set_sensitive(true);
    rb.header(reqwest::header::AUTHORIZATION, value)
}
