//! The one HTTP client of a run. It resolves paths per side, applies the policy, adds the
//! credential, re-checks every redirect against the two environments, and caps bodies. Per
//! environment it keeps a rate limit; per host, a cap on requests in flight (two orgs of one
//! deployment are one server to protect); and it retries what is safe to retry (see
//! `retry`), so every plugin gets the same reliable transport.

use super::http::{HttpError, Request, RequestBody, Response};
use super::policy::{self, Policy, Refusal};
use super::retry::{RetryPolicy, Tried};
use super::tape::Tape;
use super::{Connection, Credential, Environments, Side};
use crate::defaults;
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{Method, redirect};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Timeouts, retries and limits of the client; the defaults suit a SaaS API over the internet.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// requests per second per environment (`None`: no limit)
    pub rate_limit: Option<u32>,
    /// requests in flight per host (environments on the same host share them)
    pub max_in_flight: usize,
    /// requests one plugin call's batch (`http.send-all`, `http.list-all-many`) sends at once
    pub batch: usize,
    /// what one `list-all` may hold
    pub list: super::http::ListBounds,
    /// the largest file one transfer moves (`--max-file-size`), whatever a plugin asks
    pub max_file_size: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(defaults::CONNECT_TIMEOUT),
            request_timeout: Duration::from_secs(defaults::REQUEST_TIMEOUT),
            retry: RetryPolicy::default(),
            rate_limit: None,
            max_in_flight: defaults::MAX_IN_FLIGHT as usize,
            // as a run's settings make it: one call's batch may fill the pipe
            batch: defaults::MAX_IN_FLIGHT as usize,
            list: Default::default(),
            max_file_size: defaults::MAX_FILE_SIZE,
        }
    }
}

/// The throttle of one environment: its own rate limit, and the cap on requests in flight
/// of its host, shared with the other environment when both are on the same host.
struct Gate {
    limiter: Option<DefaultDirectRateLimiter>,
    in_flight: Arc<Semaphore>,
}

impl Gate {
    fn new(config: &ClientConfig, in_flight: Arc<Semaphore>) -> Gate {
        Gate {
            limiter: config
                .rate_limit
                .and_then(NonZeroU32::new)
                .map(|rps| RateLimiter::direct(Quota::per_second(rps))),
            in_flight,
        }
    }

    async fn wait_rate(&self) {
        if let Some(l) = &self.limiter {
            l.until_ready().await;
        }
    }

    /// Wait for the rate limit and a free slot.
    async fn admit(&self) -> OwnedSemaphorePermit {
        self.wait_rate().await;
        self.in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

/// The two gates of a run; the target's shares the source's slots when both environments
/// are on one host (same scheme, host and port).
fn gates(envs: &Environments, config: &ClientConfig) -> [Gate; 2] {
    let slots = || Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let source = slots();
    let target = if envs.source.base.origin() == envs.target.base.origin() {
        source.clone()
    } else {
        slots()
    };
    [Gate::new(config, source), Gate::new(config, target)]
}

/// One side's transport. Reads follow redirects, only within the side's own base URL, so
/// the side's credential never reaches the other side's host; writes (and a sign-in, which
/// carries the password) follow none. A side that signs in keeps its session's cookies in
/// one jar of its own, which both share.
#[derive(Clone)]
struct Transport {
    read: reqwest::Client,
    write: reqwest::Client,
}

impl Transport {
    fn for_method(&self, method: &Method) -> &reqwest::Client {
        if follows_redirects(method) {
            &self.read
        } else {
            &self.write
        }
    }
}

/// Only reads that change nothing follow a redirect.
fn follows_redirects(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// A write answered with a redirect is refused, naming where it was sent: following it
/// would carry the body (and, across hosts, the side's custom credential header) there.
pub(crate) fn refuse_redirected_write(
    method: &Method,
    path: &str,
    resp: &reqwest::Response,
) -> Result<(), HttpError> {
    let status = resp.status();
    if follows_redirects(method) || !status.is_redirection() || status.as_u16() == 304 {
        return Ok(());
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(300)
                .collect()
        })
        .unwrap_or_else(|| "(none)".to_string());
    Err(HttpError::Refused(Refusal::WriteRedirected {
        method: method.to_string(),
        path: path.to_string(),
        status: status.as_u16(),
        location,
    }))
}

/// The client of a run. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    /// one per side
    inner: [Transport; 2],
    envs: std::sync::Arc<Environments>,
    gates: Arc<[Gate; 2]>,
    retry: RetryPolicy,
    batch: usize,
    max_in_flight: usize,
    list: super::http::ListBounds,
    max_file_size: u64,
    /// a live source, or one recorded (export) or played back (restore): `net::tape`
    tape: Tape,
    /// what every write to the target passes: the run's lease still holds
    pub fence: crate::lock::Fence,
}

impl HttpClient {
    pub fn new(envs: Environments, config: &ClientConfig) -> anyhow::Result<Self> {
        let build = |conn: &Connection| -> anyhow::Result<Transport> {
            let base = conn.base.clone();
            let side = conn.side;
            let follow = redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if policy::within(&base, attempt.url()) {
                    attempt.follow()
                } else {
                    let url = attempt.url().to_string();
                    attempt.error(Refusal::RedirectOutside { side, url })
                }
            });
            let jar = Arc::new(reqwest::cookie::Jar::default());
            let client = |policy: redirect::Policy| {
                let mut b = reqwest::Client::builder()
                    .connect_timeout(config.connect_timeout)
                    .timeout(config.request_timeout)
                    .redirect(policy)
                    .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")));
                if conn.credential.keeps_cookies() {
                    b = b.cookie_provider(jar.clone());
                }
                b.build()
            };
            Ok(Transport {
                read: client(follow)?,
                write: client(redirect::Policy::none())?,
            })
        };
        let inner = [build(&envs.source)?, build(&envs.target)?];
        let gates = Arc::new(gates(&envs, config));
        Ok(HttpClient {
            inner,
            envs: std::sync::Arc::new(envs),
            gates,
            retry: config.retry,
            batch: config.batch.max(1),
            max_in_flight: config.max_in_flight.max(1),
            list: config.list,
            max_file_size: config.max_file_size,
            tape: Tape::Live,
            fence: Default::default(),
        })
    }

    /// The same client, its source recorded or played back.
    pub fn with_tape(mut self, tape: Tape) -> Self {
        self.tape = tape;
        self
    }

    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The largest file one transfer moves.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// What one list may hold.
    pub fn list_bounds(&self) -> super::http::ListBounds {
        self.list
    }

    /// How many requests of one batch go out at once.
    pub fn batch_width(&self) -> usize {
        self.batch
    }

    /// Whether the policy lets `req` out, without sending it: a batch is checked whole
    /// before any of it is sent.
    pub fn check(&self, policy: &Policy, req: &Request) -> Result<(), HttpError> {
        self.prepare(
            policy,
            req.side,
            req.method.clone(),
            &req.path,
            &req.query,
            &req.headers,
        )
        .map(drop)
    }

    /// Wait until `side` may take one more request; hold the permit while it runs.
    pub(crate) async fn admit(&self, side: Side) -> OwnedSemaphorePermit {
        self.gates[index(side)].admit().await
    }

    /// A slot on each side at once, for a transfer that holds both while the bytes flow.
    /// One host's slots are taken together (two permits in one step), so transfers that
    /// each hold one slot can never wait on each other for the second.
    pub(crate) async fn admit_both(&self) -> Vec<OwnedSemaphorePermit> {
        let [source, target] = &*self.gates;
        if !Arc::ptr_eq(&source.in_flight, &target.in_flight) {
            return vec![
                self.admit(Side::Source).await,
                self.admit(Side::Target).await,
            ];
        }
        source.wait_rate().await;
        target.wait_rate().await;
        // With a cap of one, one slot is all there is.
        let n = if self.max_in_flight > 1 { 2 } else { 1 };
        vec![
            source
                .in_flight
                .clone()
                .acquire_many_owned(n)
                .await
                .expect("the semaphore is never closed"),
        ]
    }

    pub fn connection(&self, side: Side) -> &Connection {
        self.envs.get(side)
    }

    /// Build a checked, authenticated request for `path` on `side`.
    pub(crate) fn prepare(
        &self,
        policy: &Policy,
        side: Side,
        method: Method,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        let conn = self.envs.get(side);
        let mut url = policy::resolve(conn, path)?;
        policy.check_method(conn, &method, &url)?;
        if side == Side::Target && !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
            self.fence.check().map_err(Refusal::LeaseLost)?;
        }
        policy.check_headers(conn, headers.iter().map(|(k, _)| k.as_str()))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter());
        }
        let mut rb = self.inner[index(side)]
            .for_method(&method)
            .request(method, url);
        for (k, v) in headers.iter().chain(&conn.headers) {
            rb = rb.header(k, v);
        }
        Ok(conn.credential.apply(rb))
    }

    /// Open the sessions of the sides that sign in (before the run's first request), and
    /// keep them alive. An error names the side and never holds the password.
    pub async fn sign_in(&self) -> anyhow::Result<()> {
        for side in [Side::Source, Side::Target] {
            let conn = self.envs.get(side);
            if let Credential::Login(l) = &conn.credential {
                let http = &self.inner[index(side)].write;
                l.sign_in(http, &conn.base).await?;
                l.start_keep_alive(http.clone(), conn.base.clone());
            }
        }
        Ok(())
    }

    /// End the sessions opened by [`HttpClient::sign_in`].
    pub async fn sign_out(&self) {
        for side in [Side::Source, Side::Target] {
            let conn = self.envs.get(side);
            if let Credential::Login(l) = &conn.credential {
                l.sign_out(&self.inner[index(side)].write, &conn.base).await;
            }
        }
    }

    /// After a 401 on a side that signs in: sign in again, once for every request that saw
    /// the same session end. True when the request is worth sending again.
    pub(crate) async fn renew(&self, side: Side, seen: Option<u64>) -> bool {
        let conn = self.envs.get(side);
        let (Credential::Login(l), Some(seen)) = (&conn.credential, seen) else {
            return false;
        };
        match l
            .refresh(&self.inner[index(side)].write, &conn.base, seen)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("{e}");
                false
            }
        }
    }

    /// Which session a request is sent under (for [`HttpClient::renew`]).
    pub(crate) fn session(&self, side: Side) -> Option<u64> {
        match &self.envs.get(side).credential {
            Credential::Login(l) => Some(l.generation()),
            _ => None,
        }
    }

    /// Send a plugin's request; the body is read up to `max_body` bytes. Throttled per
    /// environment, and retried when that is safe (see [`RetryPolicy`]). A recorded source
    /// keeps the answer; a played-back one answers from the recording, after the same checks.
    pub async fn send(
        &self,
        policy: &Policy,
        req: Request,
        max_body: u64,
    ) -> Result<Response, HttpError> {
        match (&self.tape, req.side) {
            (Tape::Replay(r), Side::Source) => {
                self.check(policy, &req)?;
                return r.answer(&req).map_err(HttpError::Unavailable);
            }
            (Tape::Record(_), Side::Target) => {
                return Err(HttpError::Unavailable(format!(
                    "{} {} on the target: an export reads the source only",
                    req.method, req.path
                )));
            }
            _ => {}
        }
        let result = self.send_live(policy, &req, max_body).await;
        if let (Tape::Record(rec), Side::Source, Ok(resp)) = (&self.tape, req.side, &result) {
            rec.keep(&req, resp);
        }
        result
    }

    async fn send_live(
        &self,
        policy: &Policy,
        req: &Request,
        max_body: u64,
    ) -> Result<Response, HttpError> {
        let what = format!("{} {} on the {}", req.method, req.path, req.side);
        let safe = super::retry::safe(&req.method, &req.headers);
        let mut attempt = 1;
        // The sessions this request saw end: each is opened again once (by whichever request
        // saw it first), and the request sent again under the new one. A session that ends
        // again while the request waits is a new one; a request gives up after three.
        let mut ended: Vec<Option<u64>> = vec![];
        loop {
            let session = self.session(req.side);
            let result = {
                let _permit = self.admit(req.side).await;
                self.send_once(policy, req, max_body, &what).await
            };
            if matches!(&result, Ok(r) if r.status == 401)
                && !ended.contains(&session)
                && ended.len() < 3
                && self.renew(req.side, session).await
            {
                ended.push(session);
                continue;
            }
            let wait = match &result {
                Ok(r) => {
                    let retry_after = r
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                        .map(|(_, v)| v.as_str());
                    self.retry.next(
                        safe,
                        attempt,
                        Tried::Status {
                            status: r.status,
                            retry_after,
                        },
                    )
                }
                Err(e) => self.retry.next(safe, attempt, Tried::Failed(e)),
            };
            match wait {
                Some(d) => {
                    let why = match &result {
                        Ok(r) => format!("status {}", r.status),
                        Err(e) => e.to_string(),
                    };
                    tracing::debug!("{what}: {why}; retry {attempt} in {} ms", d.as_millis());
                    tokio::time::sleep(d).await;
                    attempt += 1;
                }
                None => return result,
            }
        }
    }

    async fn send_once(
        &self,
        policy: &Policy,
        req: &Request,
        max_body: u64,
        what: &str,
    ) -> Result<Response, HttpError> {
        let mut rb = self.prepare(
            policy,
            req.side,
            req.method.clone(),
            &req.path,
            &req.query,
            &req.headers,
        )?;
        rb = match &req.body {
            RequestBody::Empty => rb,
            RequestBody::Json(text) => rb
                .header("content-type", "application/json")
                .body(text.clone()),
            RequestBody::Bytes { content_type, data } => rb
                .header("content-type", content_type.as_str())
                .body(data.clone()),
            RequestBody::Form(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for p in parts {
                    let mut part = reqwest::multipart::Part::bytes(p.data.clone());
                    if let Some(f) = &p.filename {
                        part = part.file_name(f.clone());
                    }
                    if let Some(ct) = &p.content_type {
                        part = part.mime_str(ct).map_err(|e| HttpError::Other {
                            what: what.to_string(),
                            detail: format!("bad content type {ct:?}: {e}"),
                        })?;
                    }
                    form = form.part(p.name.clone(), part);
                }
                rb.multipart(form)
            }
        };
        let resp = rb.send().await.map_err(|e| classify(what, e))?;
        refuse_redirected_write(&req.method, &req.path, &resp)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "set-cookie"))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = read_capped(resp, max_body, what).await?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn index(side: Side) -> usize {
    match side {
        Side::Source => 0,
        Side::Target => 1,
    }
}

/// Read a body, failing as soon as it passes `limit` bytes (and before, when the
/// Content-Length says so), so that a hostile server cannot fill memory.
pub(crate) async fn read_capped(
    resp: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, HttpError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(HttpError::TooLarge {
            what: what.to_string(),
            limit,
        });
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| classify(what, e))?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(HttpError::TooLarge {
                what: what.to_string(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn classify(what: &str, e: reqwest::Error) -> HttpError {
    // A refusal raised by the redirect policy travels inside reqwest's error.
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refusal>() {
            return HttpError::Refused(r.clone());
        }
        source = s.source();
    }
    let what = what.to_string();
    if e.is_timeout() {
        HttpError::Timeout { what }
    } else if e.is_connect() {
        HttpError::Connect {
            what,
            detail: root_cause(&e),
        }
    } else {
        HttpError::Other {
            what,
            detail: root_cause(&e),
        }
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn client(source: &str, target: &str, cap: usize) -> HttpClient {
        let envs = Environments {
            source: Connection::new(Side::Source, source, Credential::None).unwrap(),
            target: Connection::new(Side::Target, target, Credential::None).unwrap(),
        };
        let config = ClientConfig {
            max_in_flight: cap,
            ..Default::default()
        };
        HttpClient::new(envs, &config).unwrap()
    }

    /// Whether `side` gets a slot at once.
    async fn free(c: &HttpClient, side: Side) -> bool {
        tokio::time::timeout(Duration::from_millis(50), c.admit(side))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn environments_on_one_host_share_its_slots() {
        // Two orgs of one deployment: three slots in all, whichever side takes them.
        let one = client("http://127.0.0.1:9/o/a/", "http://127.0.0.1:9/o/b/", 3);
        let _held = (one.admit(Side::Source).await, one.admit(Side::Target).await);
        let _both = tokio::time::timeout(Duration::from_millis(50), one.admit_both()).await;
        assert!(_both.is_err(), "one slot left: a transfer's two must wait");
        let _third = one.admit(Side::Source).await;
        assert!(
            !free(&one, Side::Target).await,
            "the host's three slots are taken"
        );

        // Another port is another host: each side has its own three.
        let two = client("http://127.0.0.1:9/o/a/", "http://127.0.0.1:10/o/b/", 3);
        let held: Vec<_> = futures::future::join_all((0..3).map(|_| two.admit(Side::Source))).await;
        assert!(!free(&two, Side::Source).await);
        assert!(free(&two, Side::Target).await);
        drop(held);
        assert_eq!(two.admit_both().await.len(), 2, "one slot per host");

        // With a cap of one, a transfer takes the one slot rather than waiting forever.
        let single = client("http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/", 1);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), single.admit_both())
                .await
                .is_ok()
        );
    }
}
