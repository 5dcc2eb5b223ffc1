//! Bindings for `ferry:plugin@1.3.0` (wit/v1.3.0) and the host side of its imports. The
//! linker defines these imports only: they satisfy 1.0.0, 1.1.0 and 1.2.0 components'
//! imports too (each minor version only adds), and `v1`, `v1_1` and `v1_2` keep the older
//! exports' bindings, so plugins built against them keep loading.

use super::state::HostState;
use crate::files::{self, Encoding, TransferOutcome, TransferRequest};
use crate::net;
use crate::net::http::{FormPart, HttpError, Request, RequestBody};
use crate::net::paging::{self, ListError, Paging};
use crate::plugin::types as host;
use futures::StreamExt;
use std::time::{Duration, Instant};

wasmtime::component::bindgen!({
    path: "../wit/v1.3.0",
    world: "cloner-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::ferry::plugin::types;
use self::ferry::plugin::{files as wfiles, http as whttp, log as wlog, timer as wtimer};

/// The package and version of this contract, as it appears in a component's export names.
pub const VERSION: &str = "1.3.0";

/// A rule of the sandbox broken by a plugin: the call fails (trap) whatever the plugin does
/// with the answer, and the message names the rule.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub String);

fn violation(state: &HostState, what: impl std::fmt::Display) -> wasmtime::Error {
    wasmtime::Error::new(Violation(format!(
        "plugin {} broke a sandbox rule: {what}",
        state.plugin
    )))
}

/// Turn a network failure into what the guest sees, or a trap for a broken rule.
fn http_failure(state: &HostState, e: HttpError) -> wasmtime::Result<types::Error> {
    match e {
        HttpError::Refused(r) => Err(violation(state, r)),
        HttpError::TooLarge { what, limit } => Err(violation(
            state,
            format!(
                "{what}: response body over the plugin's limit of {limit} bytes (max-response-mib)"
            ),
        )),
        e if e.is_transient() => Ok(types::Error::Transient(e.to_string())),
        e => Ok(types::Error::Fatal(e.to_string())),
    }
}

fn side(s: types::Side) -> net::Side {
    match s {
        types::Side::Source => net::Side::Source,
        types::Side::Target => net::Side::Target,
    }
}

fn method(m: whttp::Method) -> reqwest::Method {
    use whttp::Method as M;
    match m {
        M::Get => reqwest::Method::GET,
        M::Head => reqwest::Method::HEAD,
        M::Options => reqwest::Method::OPTIONS,
        M::Post => reqwest::Method::POST,
        M::Put => reqwest::Method::PUT,
        M::Patch => reqwest::Method::PATCH,
        M::Delete => reqwest::Method::DELETE,
    }
}

fn no_network(state: &HostState) -> types::Error {
    types::Error::Denied(format!(
        "plugin {}: this call has no network access",
        state.plugin
    ))
}

impl types::Host for HostState {}

fn request(req: whttp::Request) -> Request {
    let body = match req.body {
        whttp::Body::Empty => RequestBody::Empty,
        whttp::Body::Json(t) => RequestBody::Json(t),
        whttp::Body::Bytes((content_type, data)) => RequestBody::Bytes { content_type, data },
        whttp::Body::Form(parts) => RequestBody::Form(
            parts
                .into_iter()
                .map(|p| FormPart {
                    name: p.name,
                    filename: p.filename,
                    content_type: p.content_type,
                    data: p.data,
                })
                .collect(),
        ),
    };
    Request {
        side: side(req.side),
        method: method(req.method),
        path: req.path,
        query: req.query,
        headers: req.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        body,
    }
}

fn response(r: net::http::Response) -> whttp::Response {
    whttp::Response {
        status: r.status,
        headers: r
            .headers
            .into_iter()
            .map(|(name, value)| whttp::Header { name, value })
            .collect(),
        body: r.body,
    }
}

fn paging(p: whttp::Paging) -> Paging {
    match p {
        whttp::Paging::None(items) => Paging::None { items },
        whttp::Paging::DrfNext => Paging::DrfNext,
        whttp::Paging::PageNumber(p) => Paging::PageNumber {
            page_param: p.page_param,
            size_param: p.size_param,
            size: p.size,
            items: p.items,
        },
        whttp::Paging::OffsetLimit(p) => Paging::OffsetLimit {
            offset_param: p.offset_param,
            limit_param: p.limit_param,
            limit: p.limit,
            items: p.items,
        },
        whttp::Paging::Cursor(p) => Paging::Cursor {
            param: p.param,
            next: p.next,
            items: p.items,
        },
    }
}

/// What a failed list is to the guest: the status decides the case.
fn list_failure(state: &HostState, e: ListError) -> wasmtime::Result<types::Error> {
    match e {
        ListError::Http(e) => http_failure(state, e),
        ListError::Status { what, status, body } => {
            let msg = format!("{what} answered {status}: {body}");
            Ok(match status {
                404 => types::Error::NotFound(msg),
                401 | 403 => types::Error::Denied(msg),
                400 | 422 => types::Error::Invalid(msg),
                429 | 500..=599 => types::Error::Transient(msg),
                _ => types::Error::Fatal(msg),
            })
        }
        e @ ListError::Shape { .. } => Ok(types::Error::Invalid(e.to_string())),
        // A bound of the run: trying again would pass it again.
        e @ ListError::Bound { .. } => Ok(types::Error::Fatal(e.to_string())),
    }
}

/// What a sent request is to the guest: the response, an error case, or a trap.
fn answer(
    state: &HostState,
    r: Result<net::http::Response, HttpError>,
) -> wasmtime::Result<Result<whttp::Response, types::Error>> {
    match r {
        Ok(r) => Ok(Ok(response(r))),
        Err(e) => http_failure(state, e).map(Err),
    }
}

/// What a read list is to the guest: its items as JSON text, an error case, or a trap.
/// What names the plugin's memory in a list's bound.
const MEMORY_SETTING: &str = "the plugin's memory-mib";

/// A list's items as the JSON texts the guest gets.
fn texts(items: Vec<serde_json::Value>) -> Vec<String> {
    items.into_iter().map(|v| v.to_string()).collect()
}

fn items(
    state: &HostState,
    r: Result<Vec<String>, ListError>,
) -> wasmtime::Result<Result<Vec<String>, types::Error>> {
    match r {
        Ok(items) => Ok(Ok(items)),
        Err(e) => list_failure(state, e).map(Err),
    }
}

/// Run `work` on every element of a batch, as many at once as the client's batch width (the
/// environment's in-flight cap also holds), answers in order.
async fn batch<T, R, F, Fut>(client: &net::HttpClient, elements: Vec<T>, work: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    futures::stream::iter(elements.into_iter().map(work))
        .buffered(client.batch_width())
        .collect()
        .await
}

impl whttp::Host for HostState {
    async fn send(
        &mut self,
        req: whttp::Request,
    ) -> wasmtime::Result<Result<whttp::Response, types::Error>> {
        let Some(client) = self.grant.http.clone() else {
            return Ok(Err(no_network(self)));
        };
        let started = Instant::now();
        let result = client
            .send(&self.policy, request(req), self.limits.max_response_bytes)
            .await;
        self.credit(started);
        answer(self, result)
    }

    async fn list_all(
        &mut self,
        s: types::Side,
        path: String,
        query: Vec<(String, String)>,
        p: whttp::Paging,
    ) -> wasmtime::Result<Result<Vec<String>, types::Error>> {
        let Some(client) = self.grant.http.clone() else {
            return Ok(Err(no_network(self)));
        };
        let started = Instant::now();
        // The list goes into the guest's memory: it may hold no more than that.
        let bounds = client
            .list_bounds()
            .within(self.limits.memory_bytes, MEMORY_SETTING);
        let paging = paging(p);
        let listing = paging::Listing {
            side: side(s),
            path: &path,
            query: &query,
            paging: &paging,
        };
        let result = paging::list_all_within(
            &client,
            &self.policy,
            listing,
            self.limits.max_response_bytes,
            bounds,
        )
        .await
        .map(texts);
        self.credit(started);
        items(self, result)
    }

    async fn send_all(
        &mut self,
        reqs: Vec<whttp::Request>,
    ) -> wasmtime::Result<Vec<Result<whttp::Response, types::Error>>> {
        let Some(client) = self.grant.http.clone() else {
            return Ok(reqs.iter().map(|_| Err(no_network(self))).collect());
        };
        let reqs: Vec<Request> = reqs.into_iter().map(request).collect();
        // A refused request fails the call before any of the batch is sent.
        if let Some(refusal) = reqs
            .iter()
            .find_map(|r| match client.check(&self.policy, r) {
                Err(HttpError::Refused(refusal)) => Some(refusal),
                _ => None,
            })
        {
            return Err(violation(self, refusal));
        }
        let started = Instant::now();
        let (policy, max) = (&*self.policy, self.limits.max_response_bytes);
        // The answers wait in the host until the batch ends, then go into the guest's memory:
        // together they get no more than that memory. What passes it is an error in its place.
        let budget = self.limits.memory_bytes;
        let held = std::sync::atomic::AtomicU64::new(0);
        let client = &client;
        let results = batch(client, reqs, |r| {
            let what = format!("{} {} on the {}", r.method, r.path, r.side);
            let held = &held;
            async move {
                let resp = client.send(policy, r, max).await?;
                let n = resp.body.len() as u64;
                let total = held.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
                if total > budget {
                    return Err(HttpError::TooLarge {
                        what: format!("{what}: the batch's answers together (memory-mib)"),
                        limit: budget,
                    });
                }
                Ok(resp)
            }
        })
        .await;
        self.credit(started);
        results.into_iter().map(|r| answer(self, r)).collect()
    }

    async fn list_all_many(
        &mut self,
        lists: Vec<whttp::ListRequest>,
    ) -> wasmtime::Result<Vec<Result<Vec<String>, types::Error>>> {
        let Some(client) = self.grant.http.clone() else {
            return Ok(lists.iter().map(|_| Err(no_network(self))).collect());
        };
        let started = Instant::now();
        let (policy, max) = (&*self.policy, self.limits.max_response_bytes);
        // The lists wait in the host until the batch ends, then go into the guest's memory,
        // which needs room to read them too: each, and all together, hold no more than half
        // of it.
        let budget = self.limits.memory_bytes / 2;
        let bounds = client.list_bounds().within(budget, MEMORY_SETTING);
        let held = std::sync::atomic::AtomicU64::new(0);
        let client = &client;
        let results = batch(client, lists, |l| {
            let held = &held;
            async move {
                let paging = paging(l.paging);
                let listing = paging::Listing {
                    side: side(l.side),
                    path: &l.path,
                    query: &l.query,
                    paging: &paging,
                };
                let items = paging::list_all_within(client, policy, listing, max, bounds)
                    .await
                    .map(texts)?;
                let n: u64 = items.iter().map(|i| i.len() as u64).sum();
                let total = held.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
                if total > budget {
                    return Err(ListError::Bound {
                        what: format!("GET {} on the {}", l.path, side(l.side)),
                        limit: budget,
                        unit: "bytes",
                        setting: "the batch's lists together, half the plugin's memory-mib",
                    });
                }
                Ok(items)
            }
        })
        .await;
        self.credit(started);
        results.into_iter().map(|r| items(self, r)).collect()
    }
}

impl wfiles::Host for HostState {
    async fn transfer(
        &mut self,
        req: wfiles::TransferRequest,
    ) -> wasmtime::Result<Result<wfiles::TransferOutcome, types::Error>> {
        let Some(client) = self.grant.http.clone() else {
            return Ok(Err(no_network(self)));
        };
        let encoding = match req.download.encoding {
            wfiles::Encoding::Raw => Encoding::Raw,
            wfiles::Encoding::JsonEnvelope(e) => Encoding::JsonEnvelope {
                data: e.data,
                mime_type: e.mime_type,
                base64: e.base64,
            },
        };
        let request = TransferRequest {
            download_path: req.download.path,
            download_query: req.download.query,
            encoding,
            upload_path: req.upload.path,
            upload_field: req.upload.field,
            filename: req.upload.filename,
            upload_fields: req.upload.fields,
            // A plugin's own cap, never above the run's --max-file-size.
            max_bytes: req.max_bytes.min(client.max_file_size()),
            accept: req.accept,
        };
        let started = Instant::now();
        let result = files::transfer(&client, &self.policy, &request).await;
        self.credit(started);
        match result {
            Ok(TransferOutcome::Moved {
                bytes,
                sha256,
                mime_type,
                response,
            }) => Ok(Ok(wfiles::TransferOutcome::Moved(wfiles::Moved {
                bytes,
                sha256,
                mime_type,
                response,
            }))),
            Ok(TransferOutcome::TooLarge(n)) => Ok(Ok(wfiles::TransferOutcome::TooLarge(n))),
            Ok(TransferOutcome::Unsupported(m)) => Ok(Ok(wfiles::TransferOutcome::Unsupported(m))),
            Err(files::TransferError::Http(e)) => http_failure(self, e).map(Err),
            Err(e @ files::TransferError::SessionRenewed(_)) => {
                Ok(Err(types::Error::Transient(e.to_string())))
            }
            Err(e @ files::TransferError::Status { status, .. }) => {
                let msg = e.to_string();
                Ok(Err(match status {
                    404 => types::Error::NotFound(msg),
                    401 | 403 => types::Error::Denied(msg),
                    400 | 422 => types::Error::Invalid(msg),
                    429 | 500..=599 => types::Error::Transient(msg),
                    _ => types::Error::Fatal(msg),
                }))
            }
            Err(e) => Ok(Err(types::Error::Fatal(e.to_string()))),
        }
    }
}

impl wlog::Host for HostState {
    async fn write(&mut self, level: wlog::Level, message: String) -> wasmtime::Result<()> {
        // Cap a line: a plugin must not flood the logs.
        let message: String = message.chars().take(4096).collect();
        if !self.logged.take(message.len()) {
            return Ok(());
        }
        let message = self.grant.mask.mask(&message);
        let plugin = &*self.plugin;
        match level {
            wlog::Level::Trace => tracing::trace!(plugin, "{message}"),
            wlog::Level::Debug => tracing::debug!(plugin, "{message}"),
            wlog::Level::Info => tracing::info!(plugin, "{message}"),
            wlog::Level::Warn => tracing::warn!(plugin, "{message}"),
            wlog::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }
}

impl wtimer::Host for HostState {
    async fn sleep(&mut self, ms: u32) -> wasmtime::Result<Result<(), types::Error>> {
        let started = Instant::now();
        let cancel = self.grant.cancel.clone();
        let interrupted = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms as u64)) => false,
            _ = cancel.cancelled() => true,
        };
        self.credit(started);
        Ok(if interrupted {
            Err(types::Error::Cancelled)
        } else {
            Ok(())
        })
    }

    async fn progress(&mut self, percent: u8, message: String) -> wasmtime::Result<()> {
        let message: String = message.chars().take(512).collect();
        self.grant
            .progress
            .plugin(&self.plugin, percent.min(100), &message);
        tracing::info!(
            plugin = &*self.plugin,
            percent = percent.min(100),
            "{message}"
        );
        Ok(())
    }
}

// ---- conversions between this version's types and the host's ----

impl From<types::KindInfo> for host::KindInfo {
    fn from(k: types::KindInfo) -> Self {
        host::KindInfo {
            name: k.name,
            description: k.description,
            depends_on: k.depends_on,
            key: k.key,
            references: k
                .references
                .into_iter()
                .map(|r| host::Reference {
                    pointer: r.pointer,
                    kind: r.kind,
                    by: match r.by {
                        types::RefBy::Id => host::RefBy::Id,
                        types::RefBy::Key => host::RefBy::Key,
                        types::RefBy::Field(f) => host::RefBy::Field(f),
                    },
                    required: r.required,
                })
                .collect(),
            secrets: k.secrets,
            has_files: k.has_files,
            support: host::Support::default(),
        }
    }
}

impl From<types::Error> for host::GuestError {
    fn from(e: types::Error) -> Self {
        match e {
            types::Error::NotFound(m) => host::GuestError::NotFound(m),
            types::Error::Conflict(m) => host::GuestError::Conflict(m),
            types::Error::Invalid(m) => host::GuestError::Invalid(m),
            types::Error::Denied(m) => host::GuestError::Denied(m),
            types::Error::Transient(m) => host::GuestError::Transient(m),
            types::Error::Cancelled => host::GuestError::Cancelled,
            types::Error::Fatal(m) => host::GuestError::Fatal(m),
        }
    }
}

pub fn to_wit(r: &host::Resource) -> types::Resource {
    types::Resource {
        kind: r.kind.clone(),
        id: r.id.clone(),
        key: r.key.clone(),
        body: r.body.to_string(),
        skip: r.skip.clone(),
    }
}

/// A plugin's resource, its body parsed or packed (`B`), as the caller keeps it.
pub fn from_wit<B: host::FromJson>(
    plugin: &str,
    r: types::Resource,
) -> Result<host::Resource<B>, host::GuestError> {
    let body = B::from_json_text(r.body).map_err(|e| {
        host::GuestError::Invalid(format!(
            "plugin {plugin} returned a {} whose body is not JSON: {e}",
            r.kind
        ))
    })?;
    Ok(host::Resource {
        kind: r.kind,
        id: r.id,
        key: r.key,
        body,
        skip: r.skip,
    })
}

pub fn context(c: &host::CallContext) -> types::CallContext {
    types::CallContext {
        options: c.options.clone(),
    }
}
