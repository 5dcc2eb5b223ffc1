//! The network capability: connections to the two environments of a run, the rules every
//! outbound request passes (`policy`), the client that sends them (`client`) and the paging
//! styles `list-all` follows (`paging`).

pub mod auth;
pub mod client;
pub mod http;
pub mod paging;
pub mod policy;
pub mod retry;
pub mod tape;

use std::fmt;
use url::Url;

pub use auth::Credential;
pub use client::HttpClient;
pub use http::{HttpError, Request, RequestBody, Response};
pub use policy::Policy;

/// Which environment a request goes to. The source is read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// A secret value (a platform key). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself: only for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One environment of a run: its base URL (every plugin path is relative to it), its
/// credential and the headers the host sends on every request (the platform's, such as a
/// tenant id: a plugin may not set them).
#[derive(Debug, Clone)]
pub struct Connection {
    pub side: Side,
    /// Always ends with '/', so that `join("tags/")` stays below it.
    pub base: Url,
    pub credential: Credential,
    pub headers: Vec<(String, String)>,
}

impl Connection {
    pub fn new(side: Side, base: &str, credential: Credential) -> anyhow::Result<Self> {
        // A URL that fails to parse is shown only when it cannot hold a password.
        let shown = if base.contains('@') {
            "(not shown: it has an '@')"
        } else {
            base
        };
        let mut base = Url::parse(base)
            .map_err(|e| anyhow::anyhow!("{side} URL {shown:?} is not a valid URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("{side} URL {base} must be http or https");
        }
        // Credentials in a URL would travel into reports, packages and plugins' view of the
        // URL, and out as Basic auth: they come only from the credential settings.
        if !base.username().is_empty() || base.password().is_some() {
            let _ = base.set_username("");
            let _ = base.set_password(None);
            anyhow::bail!(
                "{side} URL {base} (shown without it) has a user name or password in it: give credentials with the {side}'s key, user and password settings, never in the URL"
            );
        }
        if base.query().is_some() || base.fragment().is_some() {
            base.set_query(None);
            base.set_fragment(None);
            anyhow::bail!(
                "{side} URL {base} (shown without it) has a query or fragment: give the base URL of the environment alone"
            );
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Connection {
            side,
            base,
            credential,
            headers: vec![],
        })
    }

    /// The same, with headers the host sends on every request.
    pub fn with_headers(mut self, headers: Vec<(String, String)>) -> anyhow::Result<Self> {
        for (k, v) in &headers {
            reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| anyhow::anyhow!("{}: {k:?} is not a header name", self.side))?;
            reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                anyhow::anyhow!("{}: header {k} has a value that cannot be sent", self.side)
            })?;
        }
        self.headers = headers;
        Ok(self)
    }
}

/// The two connections of a run.
#[derive(Debug, Clone)]
pub struct Environments {
    pub source: Connection,
    pub target: Connection,
}

impl Environments {
    pub fn get(&self, side: Side) -> &Connection {
        match side {
            Side::Source => &self.source,
            Side::Target => &self.target,
        }
    }
}

/// What an error answer's body says, in one short line: a proxy's HTML error page becomes its
/// title (or first heading), anything else its first 300 bytes.
pub fn body_summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 << 10)]);
    let t = text.trim_start();
    if t.starts_with('<')
        && (t.to_ascii_lowercase().contains("<html")
            || t.to_ascii_lowercase().starts_with("<!doctype"))
    {
        let inner = |tag: &str| {
            let lower = t.to_ascii_lowercase();
            let start = lower.find(&format!("<{tag}"))?;
            let open_end = start + lower[start..].find('>')? + 1;
            let end = open_end + lower[open_end..].find(&format!("</{tag}"))?;
            Some(t[open_end..end].trim().to_string()).filter(|s| !s.is_empty())
        };
        let title = inner("title")
            .or_else(|| inner("h1"))
            .unwrap_or_else(|| "no title".into());
        return format!("an HTML page ({title})");
    }
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod summary_tests {
    #[test]
    fn html_pages_are_summed_up_by_their_title() {
        assert_eq!(super::body_summary(b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>...</body></html>"), "an HTML page (502 Bad Gateway)");
        assert_eq!(
            super::body_summary(b"<html><body><h1>Oops</h1></body></html>"),
            "an HTML page (Oops)"
        );
        assert_eq!(
            super::body_summary(b"{\"detail\": \"no\"}"),
            "{\"detail\": \"no\"}"
        );
        assert_eq!(
            super::body_summary("x".repeat(400).as_bytes())
                .chars()
                .count(),
            301
        );
    }
}
