//! The rules every plugin request passes before it leaves the host: paths stay below the
//! side's base URL, the source is read-only, credentials and routing headers are the host's.

use super::{Connection, Side};
use reqwest::Method;
use url::Url;

/// Headers a plugin may never set: the host owns credentials and routing, and a method
/// override would turn a read the source allows into a write it does not.
const FORBIDDEN_HEADERS: [&str; 9] = [
    "authorization",
    "cookie",
    "host",
    "proxy-authorization",
    "content-length",
    "transfer-encoding",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
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
    #[error("{0}")]
    LeaseLost(String),
}

/// One exception to the read-only source, from a plugin's manifest: a method and an exact
/// path relative to the source's base URL, segment by segment, where `{name}` stands for
/// any one segment (an id). `POST projectDuplications` allows that path and no other;
/// `PUT projectDuplications/{id}` allows one id below it, not `.../{id}/restoration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRule {
    method: Method,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    /// `{name}`: any one non-empty segment
    Any(String),
}

impl std::str::FromStr for WriteRule {
    type Err = String;

    /// `"METHOD path/{id}"`; the path is relative (a leading `/` is dropped).
    fn from_str(rule: &str) -> Result<Self, String> {
        let (m, p) = rule.split_once(' ').ok_or_else(|| {
            format!("{rule:?} must be \"METHOD path\", e.g. \"POST jobs/{{id}}\"")
        })?;
        let method: Method = m
            .parse()
            .map_err(|_| format!("{rule:?}: unknown method {m:?}"))?;
        if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Err(format!(
                "{rule:?}: {m} always reaches the source; list writes only"
            ));
        }
        let p = p.trim().trim_start_matches('/');
        if p.is_empty() {
            return Err(format!(
                "{rule:?}: give a path relative to the source's base URL"
            ));
        }
        let parts: Vec<&str> = p.split('/').collect();
        let segments = parts
            .iter()
            .enumerate()
            .map(|(i, &seg)| {
                let last = i == parts.len() - 1;
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(format!("{rule:?}: placeholder {seg:?} must be {{name}}"));
                    }
                    return Ok(Segment::Any(name.to_string()));
                }
                // An empty last segment is a trailing slash, which some APIs require.
                if (seg.is_empty() && !last)
                    || seg == "."
                    || seg == ".."
                    || seg.contains(['{', '}', '?', '#', '%', '\\', '*'])
                {
                    return Err(format!(
                        "{rule:?}: segment {seg:?}: a rule is an exact path (letters, digits, \
                         punctuation) with {{name}} for an id"
                    ));
                }
                Ok(Segment::Exact(seg.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(WriteRule { method, segments })
    }
}

impl std::fmt::Display for WriteRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.method)?;
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match s {
                Segment::Exact(s) => f.write_str(s)?,
                Segment::Any(n) => write!(f, "{{{n}}}")?,
            }
        }
        Ok(())
    }
}

impl WriteRule {
    /// Whether this rule allows `method` on `relative` (a path below the base URL, no query).
    fn allows(&self, method: &Method, relative: &str) -> bool {
        let parts: Vec<&str> = relative.split('/').collect();
        self.method == method
            && parts.len() == self.segments.len()
            && self.segments.iter().zip(&parts).all(|(s, p)| match s {
                Segment::Exact(e) => e == p,
                Segment::Any(_) => !p.is_empty(),
            })
    }
}

/// An encoded `/`, `\` or `.`: a segment that a server may decode into several.
fn encoded_separator(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|e| lower.contains(e))
}

/// A plugin's exceptions to the read-only source, from its manifest, e.g.
/// `POST projectDuplications` for a platform whose export is a server-side job.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub source_writes: Vec<WriteRule>,
}

impl Policy {
    /// Check a method on a side: every method reaches the target; only reads reach the
    /// source, and the writes of `source_writes`, matched exactly, segment by segment.
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
        let refused = || Refusal::SourceWrite {
            method: method.to_string(),
            path: path.to_string(),
        };
        let Some(relative) = path.strip_prefix(conn.base.path()) else {
            return Err(refused());
        };
        if encoded_separator(relative) {
            return Err(refused());
        }
        if self
            .source_writes
            .iter()
            .any(|r| r.allows(method, relative))
        {
            return Ok(());
        }
        Err(refused())
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
            source_writes: vec!["POST /tags/".parse().unwrap()],
        };
        assert!(p.check_method(&c, &Method::POST, &url).is_ok());
        assert!(p.check_method(&c, &Method::PUT, &url).is_err());
    }

    #[test]
    fn a_source_write_rule_is_an_exact_path_with_placeholders() {
        let c = conn();
        let p = Policy {
            source_writes: vec![
                "POST jobs".parse().unwrap(),
                "PUT jobs/{id}".parse().unwrap(),
            ],
        };
        let check = |m: Method, path: &str| p.check_method(&c, &m, &resolve(&c, path).unwrap());
        assert!(check(Method::POST, "jobs").is_ok());
        assert!(check(Method::POST, "jobs?async=1").is_ok());
        assert!(check(Method::PUT, "jobs/J1").is_ok());
        for (m, path) in [
            (Method::POST, "jobs/restoration"),
            (Method::POST, "jobsX"),
            (Method::POST, "jobs/"),
            (Method::PUT, "jobs/"),
            (Method::PUT, "jobs/J1/restoration"),
            (Method::PUT, "jobs/J1%2F..%2F..%2Ftags"),
            (Method::PUT, "jobs/.%2e"),
            (Method::DELETE, "jobs/J1"),
        ] {
            assert!(
                check(m.clone(), path).is_err(),
                "{m} {path} should be refused"
            );
        }
        assert_eq!(
            "PUT /jobs/{id}".parse::<WriteRule>().unwrap().to_string(),
            "PUT jobs/{id}"
        );
        for bad in [
            "post",
            "GET jobs",
            "POST ",
            "POST a//b",
            "POST a/../b",
            "POST a/{}",
            "POST a%2Fb",
            "POST a/*",
        ] {
            assert!(bad.parse::<WriteRule>().is_err(), "{bad} should be refused");
        }
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
            "X-HTTP-Method-Override",
            "x-method-override",
        ] {
            assert!(p.check_headers(&c, [h]).is_err(), "{h}");
        }
    }
}
