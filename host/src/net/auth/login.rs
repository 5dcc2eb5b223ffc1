//! `login`: a user name and password exchanged for a session, as Strategy's Library API does
//! it (`POST api/auth/login` → an `X-MSTR-AuthToken` header and a `JSESSIONID` cookie, both
//! sent back on every call). The host signs in before the run's first request, sends the
//! token header on every request, keeps the side's cookies in a jar of its own (the side's
//! HTTP client has one), keeps the session alive while the run lasts, signs in again once when
//! an answer is 401 and retries that request, and signs out when the run ends. The password
//! and the token never leave this module but on the wire.

use super::{AuthInput, Vars};
use crate::error::{ErrorKind, Mark};
use crate::net::{Secret, Side};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Spec {
    /// where to sign in, relative to the environment's base URL
    pub path: String,
    /// how the credentials travel: `form` (urlencoded, the default) or `json`
    #[serde(default)]
    pub body: BodyKind,
    #[serde(default = "username")]
    pub username_field: String,
    #[serde(default = "password")]
    pub password_field: String,
    /// more fields of the login body (`loginMode = "1"`)
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// the answer's header that carries the token; the token goes back in the same header
    pub token_header: String,
    /// a request that keeps the session alive, sent every `every-s` seconds
    #[serde(default)]
    pub keep_alive: Option<Call>,
    /// where the server says how long an idle session lives, in seconds: keep-alive then
    /// runs at a third of that when it is sooner than `every-s`, so that a session is
    /// renewed before it ends rather than signed in again after
    #[serde(default)]
    pub session_timeout: Option<TimeoutAt>,
    /// a request that ends the session
    #[serde(default)]
    pub logout: Option<Call>,
    /// the variables holding the user name and the password when no flag or file gives them
    #[serde(default)]
    pub user_env: Vars,
    #[serde(default)]
    pub password_env: Vars,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BodyKind {
    #[default]
    Form,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Call {
    #[serde(default = "post")]
    pub method: String,
    pub path: String,
    /// for keep-alive: seconds between two calls (default 60)
    #[serde(default)]
    pub every_s: Option<u64>,
}

/// `session-timeout = { path, pointer }`: a GET whose JSON answer holds the idle timeout
/// (seconds) at a JSON pointer.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TimeoutAt {
    pub path: String,
    pub pointer: String,
}

/// The most of a session-timeout answer that is read: it is a few fields.
const TIMEOUT_ANSWER_MAX: u64 = 64 << 10;

/// Keep-alive never runs more often than this, whatever a server says its timeout is.
const KEEP_ALIVE_FLOOR: Duration = Duration::from_millis(250);

fn username() -> String {
    "username".into()
}
fn password() -> String {
    "password".into()
}
fn post() -> String {
    "POST".into()
}

impl Spec {
    pub fn check(&self) -> anyhow::Result<()> {
        for (what, path) in [
            ("path", Some(&self.path)),
            ("keep-alive", self.keep_alive.as_ref().map(|c| &c.path)),
            ("logout", self.logout.as_ref().map(|c| &c.path)),
            (
                "session-timeout",
                self.session_timeout.as_ref().map(|t| &t.path),
            ),
        ] {
            if let Some(p) = path
                && (p.starts_with('/') || p.contains("://") || p.split('/').any(|s| s == ".."))
            {
                anyhow::bail!("[connection.auth] {what} {p:?} must be relative to the base URL");
            }
        }
        if let Some(t) = &self.session_timeout
            && !(t.pointer.is_empty() || t.pointer.starts_with('/'))
        {
            anyhow::bail!(
                "[connection.auth] session-timeout pointer {:?} must be a JSON pointer (\"/timeout\")",
                t.pointer
            );
        }
        for c in self.keep_alive.iter().chain(&self.logout) {
            c.method
                .parse::<reqwest::Method>()
                .map_err(|_| anyhow::anyhow!("[connection.auth] unknown method {:?}", c.method))?;
        }
        if reqwest::header::HeaderName::from_bytes(self.token_header.as_bytes()).is_err() {
            anyhow::bail!(
                "[connection.auth] token-header {:?} is not a header name",
                self.token_header
            );
        }
        Ok(())
    }
}

/// One side's session.
#[derive(Debug)]
pub struct Login {
    spec: Spec,
    side: Side,
    username: String,
    password: Secret,
    token: Mutex<Option<Secret>>,
    /// bumped by every sign-in, so that requests that all got a 401 sign in once
    generation: AtomicU64,
    signing_in: tokio::sync::Mutex<()>,
    keep_alive: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Login {
    fn drop(&mut self) {
        if let Some(h) = self.keep_alive.lock().unwrap().take() {
            h.abort();
        }
    }
}

impl Login {
    pub fn new(spec: Spec, side: Side, input: &AuthInput) -> anyhow::Result<Login> {
        let username = input
            .username
            .clone()
            .or_else(|| spec.user_env.read(side, "USER"))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no {side} user name: give --{side}-user, set {}, or username in [{side}.auth] of a promotion file",
                    spec.user_env.describe(side, "USER")
                )
            })?;
        let password = input
            .password
            .clone()
            .or_else(|| spec.password_env.read(side, "PASSWORD").map(Secret::new))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no {side} password: give --{side}-password-file, set {}, or password_env or password_file in [{side}.auth] of a promotion file",
                    spec.password_env.describe(side, "PASSWORD")
                )
            })?;
        Ok(Login {
            spec,
            side,
            username,
            password,
            token: Mutex::new(None),
            generation: AtomicU64::new(0),
            signing_in: tokio::sync::Mutex::new(()),
            keep_alive: Mutex::new(None),
        })
    }

    pub fn token_header(&self) -> &str {
        &self.spec.token_header
    }

    /// How many times this side signed in.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The session's token goes back in its header, as a header key would.
    pub fn apply(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &*self.token.lock().unwrap() {
            Some(t) => super::header::apply(rb, &self.spec.token_header, t),
            None => rb,
        }
    }

    fn secret_values(&self) -> crate::redact::Secrets {
        let mut v = crate::redact::Secrets::new([self.password.expose().to_string()]);
        if let Some(t) = &*self.token.lock().unwrap() {
            v.add(t.expose());
        }
        v
    }

    /// Sign in (the side's client keeps the cookies the answer sets).
    pub async fn sign_in(&self, http: &reqwest::Client, base: &Url) -> anyhow::Result<()> {
        let _one = self.signing_in.lock().await;
        self.sign_in_locked(http, base).await
    }

    /// Sign in again after a 401, unless another request already did since `seen`.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        base: &Url,
        seen: u64,
    ) -> anyhow::Result<()> {
        let _one = self.signing_in.lock().await;
        if self.generation() != seen {
            return Ok(());
        }
        tracing::info!("{}: the session ended (401); signing in again", self.side);
        self.sign_in_locked(http, base).await
    }

    /// Sign in; an answer that may go better later (a cut connection, 429, 5xx) is tried
    /// again a few times, as any idempotent request is: a login creates nothing to undo.
    async fn sign_in_locked(&self, http: &reqwest::Client, base: &Url) -> anyhow::Result<()> {
        const ATTEMPTS: u32 = 4;
        let mut attempt = 1;
        loop {
            match self.try_sign_in(http, base).await {
                Ok(()) => return Ok(()),
                Err((true, e)) if attempt < ATTEMPTS => {
                    tracing::info!("{}: {e:#}; trying again", self.side);
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                    attempt += 1;
                }
                Err((_, e)) => return Err(e),
            }
        }
    }

    /// One sign-in; the error says whether trying again may help.
    async fn try_sign_in(
        &self,
        http: &reqwest::Client,
        base: &Url,
    ) -> Result<(), (bool, anyhow::Error)> {
        let side = self.side;
        let url = base.join(&self.spec.path).map_err(|e| (false, e.into()))?;
        let mut fields: Vec<(&str, &str)> = self
            .spec
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.push((&self.spec.username_field, &self.username));
        fields.push((&self.spec.password_field, self.password.expose()));
        let rb = http.post(url);
        let rb = match self.spec.body {
            BodyKind::Form => rb.form(&fields),
            BodyKind::Json => rb.json(&fields.into_iter().collect::<BTreeMap<_, _>>()),
        };
        let resp = rb.send().await.map_err(|e| {
            let transient = e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
            let e: anyhow::Result<()> = Err(anyhow::anyhow!(
                "{side}: signing in at {}: {}",
                self.spec.path,
                self.scrub(&e.to_string())
            ));
            (transient, e.kind(ErrorKind::Network).unwrap_err())
        })?;
        let status = resp.status();
        let token = resp
            .headers()
            .get(self.spec.token_header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let transient = status.as_u16() == 429 || status.is_server_error();
            let e: anyhow::Result<()> = Err(anyhow::anyhow!(
                "{side}: signing in as {} at {} was refused ({status}): {}",
                self.username,
                self.spec.path,
                self.scrub(&crate::net::body_summary(&body))
            ));
            let kind = if transient {
                ErrorKind::Platform
            } else {
                ErrorKind::Credentials
            };
            return Err((transient, e.kind(kind).unwrap_err()));
        }
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
            (
                false,
                anyhow::anyhow!(
                    "{side}: signing in at {} answered {status} without a {} header",
                    self.spec.path,
                    self.spec.token_header
                ),
            )
        })?;
        *self.token.lock().unwrap() = Some(Secret::new(token));
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::debug!("{side}: signed in as {}", self.username);
        Ok(())
    }

    /// Keep the session alive until [`Login::sign_out`] (or the end of the process).
    pub fn start_keep_alive(self: &std::sync::Arc<Self>, http: reqwest::Client, base: Url) {
        let Some(call) = self.spec.keep_alive.clone() else {
            return;
        };
        let every = Duration::from_secs(call.every_s.unwrap_or(60).max(1));
        let me = std::sync::Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let every = match me.upgrade() {
                Some(login) => login.keep_alive_every(&http, &base, every).await,
                None => return,
            };
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                let Some(login) = me.upgrade() else { return };
                let seen = login.generation();
                let answer = login.call(&http, &base, &call).await;
                match answer {
                    Ok(s) if s == reqwest::StatusCode::UNAUTHORIZED => {
                        if let Err(e) = login.refresh(&http, &base, seen).await {
                            tracing::warn!("{e}");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!("{}: keep-alive: {e}", login.side),
                }
            }
        });
        if let Some(old) = self.keep_alive.lock().unwrap().replace(task) {
            old.abort();
        }
    }

    /// How often to keep the session alive: `every`, or a third of the idle timeout the
    /// server states when that is sooner (never under [`KEEP_ALIVE_FLOOR`]). A server that
    /// does not say keeps `every`.
    async fn keep_alive_every(
        &self,
        http: &reqwest::Client,
        base: &Url,
        every: Duration,
    ) -> Duration {
        let Some(at) = &self.spec.session_timeout else {
            return every;
        };
        match self.session_timeout(http, base, at).await {
            Ok(timeout) => {
                let ahead = (timeout / 3).max(KEEP_ALIVE_FLOOR);
                tracing::debug!(
                    "{}: sessions end after {timeout:?} idle; keeping alive every {:?}",
                    self.side,
                    ahead.min(every)
                );
                ahead.min(every)
            }
            Err(e) => {
                tracing::debug!(
                    "{}: session timeout unknown ({}); keeping alive every {every:?}",
                    self.side,
                    self.scrub(&format!("{e:#}"))
                );
                every
            }
        }
    }

    async fn session_timeout(
        &self,
        http: &reqwest::Client,
        base: &Url,
        at: &TimeoutAt,
    ) -> anyhow::Result<Duration> {
        let what = format!("GET {}", at.path);
        let resp = self.apply(http.get(base.join(&at.path)?)).send().await?;
        if !resp.status().is_success() {
            anyhow::bail!("{what} answered {}", resp.status());
        }
        // Bounded: a server could answer without end.
        let body = crate::net::client::read_capped(resp, TIMEOUT_ANSWER_MAX, &what).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let secs = v
            .pointer(&at.pointer)
            .and_then(serde_json::Value::as_f64)
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                anyhow::anyhow!("no positive number at {} in GET {}", at.pointer, at.path)
            })?;
        // A day is more than any keep-alive interval: no need to keep more.
        Ok(Duration::from_secs_f64(secs.min(86_400.0)))
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        base: &Url,
        call: &Call,
    ) -> anyhow::Result<reqwest::StatusCode> {
        let method: reqwest::Method = call.method.parse()?;
        let resp = self
            .apply(http.request(method, base.join(&call.path)?))
            .send()
            .await?;
        Ok(resp.status())
    }

    /// End the session: stop keeping it alive and sign out (a refusal is only logged: the
    /// session ends by itself later).
    pub async fn sign_out(&self, http: &reqwest::Client, base: &Url) {
        if let Some(h) = self.keep_alive.lock().unwrap().take() {
            h.abort();
        }
        if self.token.lock().unwrap().is_none() {
            return;
        }
        if let Some(call) = &self.spec.logout {
            match self.call(http, base, call).await {
                Ok(s) => tracing::debug!("{}: signed out ({s})", self.side),
                Err(e) => {
                    tracing::debug!("{}: signing out: {}", self.side, self.scrub(&e.to_string()))
                }
            }
        }
        *self.token.lock().unwrap() = None;
    }

    fn scrub(&self, text: &str) -> String {
        self.secret_values().mask(text)
    }
}

#[cfg(test)]
mod tests {
    //! Against a tiny login server: a token header and a session cookie, both required;
    //! sessions that end; keep-alive; logout.
    use super::*;
    use crate::net::client::ClientConfig;
    use crate::net::http::Request;
    use crate::net::{Connection, Credential, Environments, HttpClient, Policy};
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct Server {
        logins: AtomicUsize,
        keep_alives: AtomicUsize,
        logouts: AtomicUsize,
        /// the one live session: (token, cookie)
        live: std::sync::Mutex<Option<(String, String)>>,
        /// what the last data request carried
        seen: std::sync::Mutex<Option<(String, String)>>,
        /// what `GET api/sessions` answers (the session's idle timeout)
        sessions: std::sync::Mutex<String>,
    }

    impl Server {
        fn authorised(&self, h: &HeaderMap) -> bool {
            let token = h
                .get("x-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let cookie = h
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            *self.seen.lock().unwrap() = Some((token.to_string(), cookie.to_string()));
            self.live
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|(t, c)| t == token && cookie.contains(&format!("SESSION={c}")))
        }
    }

    async fn serve() -> (Arc<Server>, String) {
        use axum::routing::{get, post, put};
        let state = Arc::new(Server::default());
        let s = state.clone();
        let login = post(move |body: String| {
            let s = s.clone();
            async move {
                if !body.contains("password=s3cret%21") || !body.contains("mode=1") {
                    return (
                        StatusCode::UNAUTHORIZED,
                        HeaderMap::new(),
                        "{\"code\":\"ERR009\"}",
                    );
                }
                let n = s.logins.fetch_add(1, Ordering::SeqCst) + 1;
                let (token, cookie) = (format!("tok-{n}"), format!("s{n}"));
                let mut h = HeaderMap::new();
                h.insert("x-token", token.parse().unwrap());
                h.insert(
                    "set-cookie",
                    format!("SESSION={cookie}; Path=/lib").parse().unwrap(),
                );
                *s.live.lock().unwrap() = Some((token, cookie));
                (StatusCode::NO_CONTENT, h, "")
            }
        });
        let s = state.clone();
        let things = get(move |h: HeaderMap| {
            let s = s.clone();
            async move {
                if s.authorised(&h) {
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }
        });
        let s = state.clone();
        let keep = put(move |h: HeaderMap| {
            let s = s.clone();
            async move {
                s.keep_alives.fetch_add(1, Ordering::SeqCst);
                if s.authorised(&h) {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }
        });
        let s = state.clone();
        let keep = keep.get(move || {
            let s = s.clone();
            async move { s.sessions.lock().unwrap().clone() }
        });
        let s = state.clone();
        let logout = post(move || {
            let s = s.clone();
            async move {
                s.logouts.fetch_add(1, Ordering::SeqCst);
                *s.live.lock().unwrap() = None;
                StatusCode::NO_CONTENT
            }
        });
        let app = axum::Router::new()
            .route("/lib/api/auth/login", login)
            .route("/lib/api/things", things)
            .route("/lib/api/sessions", keep)
            .route("/lib/api/auth/logout", logout);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/lib/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (state, url)
    }

    fn spec(every_s: u64) -> Spec {
        toml::from_str(&format!(
            "path = 'api/auth/login'\ntoken-header = 'X-Token'\nfields = {{ mode = '1' }}\n\
             keep-alive = {{ method = 'PUT', path = 'api/sessions', every-s = {every_s} }}\n\
             logout = {{ path = 'api/auth/logout' }}\n"
        ))
        .unwrap()
    }

    fn client(url: &str, password: &str, every_s: u64) -> HttpClient {
        let input = AuthInput {
            username: Some("admin".into()),
            password: Some(Secret::new(password)),
            ..Default::default()
        };
        let conn = |side| {
            let login = Login::new(spec(every_s), side, &input).unwrap();
            Connection::new(side, url, Credential::Login(Arc::new(login))).unwrap()
        };
        let envs = Environments {
            source: conn(Side::Source),
            target: Connection::new(Side::Target, url, Credential::None).unwrap(),
        };
        HttpClient::new(envs, &ClientConfig::default()).unwrap()
    }

    async fn get(c: &HttpClient, headers: Vec<(String, String)>) -> Result<u16, String> {
        let mut r = Request::get(Side::Source, "api/things");
        r.headers = headers;
        c.send(&Policy::default(), r, 1 << 20)
            .await
            .map(|r| r.status)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_session_is_opened_renewed_once_kept_alive_and_closed() {
        let (server, url) = serve().await;

        // A wrong password: refused, and the message holds neither password.
        let wrong = client(&url, "not-it-at-all", 3600);
        let e = wrong.sign_in().await.unwrap_err().to_string();
        assert!(
            e.contains("source") && e.contains("refused") && e.contains("admin"),
            "{e}"
        );
        assert!(!e.contains("not-it-at-all") && !e.contains("s3cret"), "{e}");

        let c = client(&url, "s3cret!", 3600);
        assert!(!format!("{:?}", c.connection(Side::Source)).contains("s3cret"));
        c.sign_in().await.unwrap();
        assert_eq!(get(&c, vec![]).await, Ok(200));
        let (token, cookie) = server.seen.lock().unwrap().clone().unwrap();
        assert_eq!((token.as_str(), cookie.as_str()), ("tok-1", "SESSION=s1"));

        // The server ends the session: requests that see the 401 sign in once between them.
        *server.live.lock().unwrap() = None;
        let (a, b) = tokio::join!(get(&c, vec![]), get(&c, vec![]));
        assert_eq!((a, b), (Ok(200), Ok(200)));
        assert_eq!(
            server.logins.load(Ordering::SeqCst),
            2,
            "one re-login for both"
        );
        assert_eq!(server.seen.lock().unwrap().clone().unwrap().1, "SESSION=s2");

        // The session's token header and cookie are the host's.
        for h in ["X-Token", "cookie"] {
            let e = get(&c, vec![(h.into(), "forged".into())])
                .await
                .unwrap_err();
            assert!(e.contains("set by the host"), "{e}");
        }

        c.sign_out().await;
        assert_eq!(server.logouts.load(Ordering::SeqCst), 1);
        assert!(server.live.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn a_session_is_kept_alive_while_the_run_lasts() {
        let (server, url) = serve().await;
        let c = client(&url, "s3cret!", 1);
        c.sign_in().await.unwrap();
        // Keep-alive every second: wait (with room on a loaded machine) until it has run.
        for _ in 0..100 {
            if server.keep_alives.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(server.keep_alives.load(Ordering::SeqCst) > 0);
        c.sign_out().await;
        let after = server.keep_alives.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            server.keep_alives.load(Ordering::SeqCst),
            after,
            "stopped at sign-out"
        );
    }

    /// A login whose manifest says where the session's idle timeout is.
    fn login_reading_timeout(every_s: u64) -> Login {
        let mut spec = spec(every_s);
        spec.session_timeout = Some(TimeoutAt {
            path: "api/sessions".into(),
            pointer: "/timeout".into(),
        });
        let input = AuthInput {
            username: Some("admin".into()),
            password: Some(Secret::new("s3cret!")),
            ..Default::default()
        };
        Login::new(spec, Side::Source, &input).unwrap()
    }

    #[tokio::test]
    async fn keep_alive_runs_ahead_of_the_timeout_the_server_states() {
        let (server, url) = serve().await;
        let (http, base) = (reqwest::Client::new(), Url::parse(&url).unwrap());
        let login = login_reading_timeout(240);
        let hour = Duration::from_secs(3600);
        for (answer, every) in [
            // a third of a 9 s timeout; an hour's keep-alive is sooner than a third of a day
            (r#"{"timeout": 9}"#, Duration::from_secs(3)),
            (r#"{"timeout": 86400000}"#, hour),
            // never more often than the floor
            (r#"{"timeout": 0.01}"#, KEEP_ALIVE_FLOOR),
            // no number, not JSON: the manifest's interval
            (r#"{"timeout": "soon"}"#, hour),
            ("<html>", hour),
        ] {
            *server.sessions.lock().unwrap() = answer.into();
            assert_eq!(
                login.keep_alive_every(&http, &base, hour).await,
                every,
                "{answer}"
            );
        }
    }

    #[tokio::test]
    async fn a_session_timeout_answer_is_read_within_its_bound() {
        let (server, url) = serve().await;
        let (http, base) = (reqwest::Client::new(), Url::parse(&url).unwrap());
        let login = login_reading_timeout(240);
        let hour = Duration::from_secs(3600);
        let padded = |n: usize| format!(r#"{{"timeout": 9, "pad": "{}"}}"#, "x".repeat(n));
        *server.sessions.lock().unwrap() = padded(TIMEOUT_ANSWER_MAX as usize - 64);
        assert_eq!(
            login.keep_alive_every(&http, &base, hour).await,
            Duration::from_secs(3)
        );
        // Past the bound the answer is dropped, not buffered: the manifest's interval holds.
        *server.sessions.lock().unwrap() = padded(TIMEOUT_ANSWER_MAX as usize);
        assert_eq!(login.keep_alive_every(&http, &base, hour).await, hour);
    }
}
