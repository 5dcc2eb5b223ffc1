//! Fault injection: latency with jitter, a rate limit answering 429 with `Retry-After`, a
//! share of 5xx answers, dropped connections and slow bodies. Set for every org by flags, and
//! per org at run time through the admin API.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// fixed latency added to every request
    pub latency_ms: u64,
    /// plus a uniformly random 0..=jitter_ms
    pub jitter_ms: u64,
    /// requests per second allowed per org (0: no limit); over it: 429 + Retry-After
    pub rate_limit: u32,
    /// share of requests answered with a 5xx (0..=1)
    pub error_rate: f64,
    /// share of connections dropped before an answer (0..=1)
    pub drop_rate: f64,
    /// share of answers whose body trickles out slowly (0..=1)
    pub slow_rate: f64,
}

impl Faults {
    pub fn check(&self) -> Result<(), String> {
        for (name, p) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("slow_rate", self.slow_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1, not {p}"));
            }
        }
        Ok(())
    }

    pub fn is_quiet(&self) -> bool {
        *self == Faults::default()
    }
}

/// What to do with one request, decided before it is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Serve { slow: bool },
    RateLimited { retry_after_s: u64 },
    ServerError(u16),
    Drop,
}

/// The faults of one org, with its rate limiter.
pub struct OrgFaults {
    pub faults: Faults,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl OrgFaults {
    pub fn new(faults: Faults) -> Self {
        let limiter = NonZeroU32::new(faults.rate_limit)
            .map(|rps| Arc::new(RateLimiter::direct(Quota::per_second(rps))));
        OrgFaults { faults, limiter }
    }

    /// The delay before answering.
    pub fn delay(&self) -> Duration {
        let jitter = if self.faults.jitter_ms > 0 {
            fastrand::u64(0..=self.faults.jitter_ms)
        } else {
            0
        };
        Duration::from_millis(self.faults.latency_ms + jitter)
    }

    pub fn verdict(&self) -> Verdict {
        if let Some(l) = &self.limiter
            && let Err(not_until) = l.check()
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Verdict::RateLimited {
                retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
            };
        }
        let f = &self.faults;
        if f.drop_rate > 0.0 && fastrand::f64() < f.drop_rate {
            return Verdict::Drop;
        }
        if f.error_rate > 0.0 && fastrand::f64() < f.error_rate {
            return Verdict::ServerError([500, 502, 503, 504][fastrand::usize(0..4)]);
        }
        Verdict::Serve {
            slow: f.slow_rate > 0.0 && fastrand::f64() < f.slow_rate,
        }
    }
}

/// The answer a fault gives instead of the request's own: 429 with `Retry-After` (its body
/// `throttled`, in the platform's error shape), a 5xx page, or headers followed by a body
/// that breaks off (the client sees a connection cut mid-answer). `None`: serve it.
pub fn fault_response(
    verdict: Verdict,
    throttled: serde_json::Value,
) -> Option<axum::response::Response> {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    match verdict {
        Verdict::RateLimited { retry_after_s } => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(throttled)).into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            Some(r)
        }
        Verdict::ServerError(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some((status, "<html><body><h1>Server Error</h1></body></html>").into_response())
        }
        Verdict::Drop => {
            let body = Body::from_stream(futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("dropped by the sandbox"))
            }));
            Some(
                axum::response::Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap(),
            )
        }
        Verdict::Serve { .. } => None,
    }
}
