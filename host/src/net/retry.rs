//! When to try a request again, and how long to wait first: exponential backoff with full
//! jitter, and the server's `Retry-After` when it gives one. A request is safe to send twice
//! when its method is idempotent or when the plugin marks it with an `Idempotency-Key` header
//! (the SDK does for PATCH and for POSTs that set state, such as sharing). Any other request
//! that may have changed the server (a POST that got a 5xx or was cut) is not retried here:
//! the engine looks the resource up before trying again.

use super::http::HttpError;
use reqwest::Method;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// tries in all, the first included (1: no retry)
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
    /// the longest `Retry-After` honoured; a longer one is waited only this long
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: crate::defaults::ATTEMPTS,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Methods that may be sent twice with the effect of once.
pub fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// Whether a request may be sent twice: an idempotent method, or a plugin's promise.
pub fn safe(m: &Method, headers: &[(String, String)]) -> bool {
    idempotent(m)
        || headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"))
}

/// What came back from one try.
pub enum Tried<'a> {
    Status {
        status: u16,
        retry_after: Option<&'a str>,
    },
    Failed(&'a HttpError),
}

impl RetryPolicy {
    /// How long to wait before try number `attempt + 1`, or `None` to stop.
    /// `safe`: the request may be sent twice (see [`safe`]).
    pub fn next(&self, safe: bool, attempt: u32, tried: Tried) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let backoff = || {
            let cap = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
            Duration::from_millis(fastrand::u64(0..=cap.as_millis() as u64))
        };
        let after = |h: Option<&str>| {
            h.and_then(parse_retry_after)
                .map(|d| d.min(self.max_retry_after))
        };
        match tried {
            // The server refused to handle it: safe for any method.
            Tried::Status {
                status: 429,
                retry_after,
            } => Some(after(retry_after).unwrap_or_else(backoff)),
            Tried::Status {
                status: 503,
                retry_after: Some(h),
            } => Some(after(Some(h)).unwrap_or_else(backoff)),
            Tried::Status {
                status: 500 | 502 | 503 | 504,
                ..
            } if safe => Some(backoff()),
            Tried::Status { .. } => None,
            // The connection never opened: nothing was sent.
            Tried::Failed(HttpError::Connect { .. }) => Some(backoff()),
            Tried::Failed(HttpError::Timeout { .. } | HttpError::Other { .. }) if safe => {
                Some(backoff())
            }
            Tried::Failed(_) => None,
        }
    }
}

/// `Retry-After` as seconds, or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_what_is_safe() {
        let p = RetryPolicy {
            attempts: 3,
            ..Default::default()
        };
        let get = safe(&Method::GET, &[]);
        let post = safe(&Method::POST, &[]);
        assert!(safe(
            &Method::POST,
            &[("Idempotency-Key".into(), "k".into())]
        ));
        assert_eq!(
            p.next(
                post,
                1,
                Tried::Status {
                    status: 429,
                    retry_after: Some("2")
                }
            ),
            Some(Duration::from_secs(2))
        );
        assert!(
            p.next(
                get,
                1,
                Tried::Status {
                    status: 502,
                    retry_after: None
                }
            )
            .is_some()
        );
        assert!(
            p.next(
                post,
                1,
                Tried::Status {
                    status: 502,
                    retry_after: None
                }
            )
            .is_none(),
            "a POST may have been applied"
        );
        assert!(
            p.next(
                post,
                1,
                Tried::Status {
                    status: 503,
                    retry_after: Some("1")
                }
            )
            .is_some(),
            "503 with Retry-After was not handled"
        );
        assert!(
            p.next(
                get,
                1,
                Tried::Status {
                    status: 404,
                    retry_after: None
                }
            )
            .is_none()
        );
        assert!(
            p.next(
                get,
                3,
                Tried::Status {
                    status: 502,
                    retry_after: None
                }
            )
            .is_none(),
            "attempts are bounded"
        );
        let connect = HttpError::Connect {
            what: "x".into(),
            detail: "refused".into(),
        };
        assert!(p.next(post, 1, Tried::Failed(&connect)).is_some());
        let timeout = HttpError::Timeout { what: "x".into() };
        assert!(p.next(post, 1, Tried::Failed(&timeout)).is_none());
        assert!(p.next(get, 1, Tried::Failed(&timeout)).is_some());
        assert_eq!(
            p.next(
                get,
                1,
                Tried::Status {
                    status: 429,
                    retry_after: Some("3600")
                }
            ),
            Some(Duration::from_secs(60)),
            "capped"
        );
        assert!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
    }
}
