//! The rules every plugin request passes before it leaves the host: paths stay below the
//! side's base URL, the source is read-only, credentials and routing headers are the host's.

use super::{Connection, Side};
use reqwest::Method;
use url::Url;

/// Headers a plugin may never set: the host owns credentials and routing.
const FORBIDDEN_HEADERS: [&str; 6] = [
    "authorization",
    "cookie",
    "host",
    "proxy-authorization",
    "content-length",
    "transfer-encoding",
];

/// Why the host refused a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the source is read-only: {method} {path} refused (only GET, HEAD and OPTIONS reach the source)"
    )]
    SourceWrite { method: String, path: String },
    #[error("header {0:?} is set by the host, never by a plugin")]
    ForbiddenHeader(String),
    #[error("{0} is outside the run's two environments")]
    HostNotAllowed(String),
    #[error("path {0:?} must be relative to the environment's base URL")]
    BadPath(String),
    #[error(
        "a redirect to {url} leaves the {side}'s base URL: a read follows redirects only within its own side"
    )]
    RedirectOutside { side: Side, url: String },
    #[error(
        "{method} {path} was answered {status} with Location {location}: a write never follows a redirect"
    )]
    WriteRedirected {
        method: String,
        path: String,
        status: u16,
        location: String,
    },
}

/// A plugin's exceptions to the read-only source, from its manifest, e.g.
/// `POST /api/projectDuplications` for a platform whose export is a server-side job.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub source_writes: Vec<(Method, String)>,
}

impl Policy {
    /// Check a method on a side.
    /// Rules in `source_writes` are path prefixes relative to the source's base URL.
    pub fn check_method(
        &self,
        conn: &Connection,
        method: &Method,
        url: &Url,
    ) -> Result<(), Refusal> {
        if conn.side == Side::Target
            || matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        {
            return Ok(());
        }
        let path = url.path();
        let relative = path.strip_prefix(conn.base.path()).unwrap_or(path);
        if self
            .source_writes
            .iter()
            .any(|(m, prefix)| m == method && relative.starts_with(prefix.trim_start_matches('/')))
        {
            return Ok(());
        }
        Err(Refusal::SourceWrite {
            method: method.to_string(),
            path: path.to_string(),
        })
    }

    /// Check the headers a plugin asked for.
    pub fn check_headers<'a>(
        &self,
        conn: &Connection,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Refusal> {
        let credential = conn.credential.header_name();
        for name in names {
            let lower = name.to_ascii_lowercase();
            if FORBIDDEN_HEADERS.contains(&lower.as_str())
                || credential.is_some_and(|c| c.eq_ignore_ascii_case(name))
                || conn
                    .headers
                    .iter()
                    .any(|(h, _)| h.eq_ignore_ascii_case(name))
            {
                return Err(Refusal::ForbiddenHeader(name.to_string()));
            }
        }
        Ok(())
    }
}

/// Resolve a plugin's relative path against a connection's base URL, refusing anything that
/// would leave it: absolute URLs, scheme-relative `//host`, and `..` segments.
pub fn resolve(conn: &Connection, path: &str) -> Result<Url, Refusal> {
    let bad = || Refusal::BadPath(path.to_string());
    if path.contains("://")
        || path.starts_with('/')
        || path.starts_with('\\')
        || path.contains('\\')
    {
        return Err(bad());
    }
    if path
        .split(['/', '?', '#'])
        .any(|seg| seg == ".." || seg == "." || seg.eq_ignore_ascii_case("%2e%2e"))
    {
        return Err(bad());
    }
    let url = conn.base.join(path).map_err(|_| bad())?;
    if !within(&conn.base, &url) {
        return Err(Refusal::HostNotAllowed(url.to_string()));
    }
    Ok(url)
}

/// True when `url` is on `base`'s origin and below its path.
pub fn within(base: &Url, url: &Url) -> bool {
    base.scheme() == url.scheme()
        && base.host_str() == url.host_str()
        && base.port_or_known_default() == url.port_or_known_default()
        && url.path().starts_with(base.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Credential;

    fn conn() -> Connection {
        Connection::new(
            Side::Source,
            "http://127.0.0.1:9/api/v1/unstract/dev",
            Credential::None,
        )
        .unwrap()
    }

    #[test]
    fn paths_stay_below_the_base() {
        let c = conn();
        assert_eq!(
            resolve(&c, "tags/?page=2").unwrap().as_str(),
            "http://127.0.0.1:9/api/v1/unstract/dev/tags/?page=2"
        );
        for bad in [
            "http://evil/",
            "//evil/x",
            "/etc/passwd",
            "../prod/tags/",
            "a/../../x",
            "a\\b",
            "%2e%2e/x",
        ] {
            assert!(resolve(&c, bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn source_is_read_only_unless_the_manifest_says_otherwise() {
        let c = conn();
        let url = resolve(&c, "tags/").unwrap();
        let p = Policy::default();
        assert!(p.check_method(&c, &Method::GET, &url).is_ok());
        assert!(p.check_method(&c, &Method::POST, &url).is_err());
        let mut t = c.clone();
        t.side = Side::Target;
        assert!(p.check_method(&t, &Method::DELETE, &url).is_ok());
        let p = Policy {
            source_writes: vec![(Method::POST, "/tags/".into())],
        };
        assert!(p.check_method(&c, &Method::POST, &url).is_ok());
        assert!(p.check_method(&c, &Method::PUT, &url).is_err());
    }

    #[test]
    fn credential_headers_are_the_hosts() {
        let c = Connection::new(
            Side::Target,
            "http://h/",
            Credential::Header {
                name: "X-MSTR-AuthToken".into(),
                value: crate::net::Secret::new("s"),
            },
        )
        .unwrap()
        .with_headers(vec![("X-MSTR-ProjectID".into(), "P1".into())])
        .unwrap();
        let p = Policy::default();
        assert!(p.check_headers(&c, ["Accept"]).is_ok());
        for h in [
            "Authorization",
            "COOKIE",
            "host",
            "x-mstr-authtoken",
            "x-mstr-projectid",
        ] {
            assert!(p.check_headers(&c, [h]).is_err(), "{h}");
        }
    }
}
