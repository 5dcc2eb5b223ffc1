//! HTTP through the host: name a side and a path; the host adds credentials, follows
//! pages, retries idempotent requests and enforces the sandbox's rules.

use crate::bindings::cloner::ferry::plugin::http as wit;
use crate::{Error, Result, Side};
use serde_json::Value;

pub use wit::{CursorPaging, OffsetLimitPaging, PageNumberPaging};

/// How a list endpoint pages.
pub enum Paging {
    /// A single response; items at this JSON pointer ("" = the body itself).
    None(&'static str),
    /// Django REST Framework `{count, next, previous, results}`.
    DrfNext,
    PageNumber(PageNumberPaging),
    OffsetLimit(OffsetLimitPaging),
    Cursor(CursorPaging),
}

impl From<Paging> for wit::Paging {
    fn from(p: Paging) -> Self {
        match p {
            Paging::None(items) => wit::Paging::None(items.to_string()),
            Paging::DrfNext => wit::Paging::DrfNext,
            Paging::PageNumber(p) => wit::Paging::PageNumber(p),
            Paging::OffsetLimit(p) => wit::Paging::OffsetLimit(p),
            Paging::Cursor(p) => wit::Paging::Cursor(p),
        }
    }
}

/// A response: status and body. A 4xx/5xx is a response too; [`Response::ok`] turns it into
/// an [`Error`] of the matching case.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    what: String,
}

/// An error body in one short line: an HTML error page (a proxy's) by its title, anything
/// else by its first 300 bytes.
fn summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 << 10)]);
    let lower = text.trim_start().to_ascii_lowercase();
    if lower.starts_with("<!doctype") || lower.starts_with("<html") {
        let title = ["title", "h1"].iter().find_map(|tag| {
            let start = lower.find(&format!("<{tag}"))?;
            let open_end = start + lower[start..].find('>')? + 1;
            let end = open_end + lower[open_end..].find(&format!("</{tag}"))?;
            let t = text.trim_start()[open_end..end].trim();
            (!t.is_empty()).then(|| t.to_string())
        });
        return format!(
            "an HTML page ({})",
            title.unwrap_or_else(|| "no title".into())
        );
    }
    text.chars().take(300).collect()
}

impl Response {
    /// The response if its status is 2xx, otherwise an error naming the request.
    pub fn ok(self) -> Result<Response> {
        let msg = || {
            format!(
                "{} answered {}: {}",
                self.what,
                self.status,
                summary(&self.body)
            )
        };
        match self.status {
            200..=299 => Ok(self),
            404 => Err(Error::NotFound(msg())),
            400 | 422 => Err(Error::Invalid(msg())),
            401 | 403 => Err(Error::Denied(msg())),
            409 => Err(Error::Conflict(msg())),
            429 | 500..=599 => Err(Error::Transient(msg())),
            _ => Err(Error::Fatal(msg())),
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Invalid(format!("{} did not answer JSON: {e}", self.what)))
    }
}

fn send(
    side: Side,
    method: wit::Method,
    path: &str,
    query: &[(&str, &str)],
    body: wit::Body,
) -> Result<Response> {
    request(side, method, path, query, &[], body)
}

/// Any request, with extra headers. The host refuses headers it owns (`Authorization`,
/// `Cookie`, `Host`, ...) and, on the source, any method but GET, HEAD and OPTIONS.
pub fn request(
    side: Side,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Body,
) -> Result<Response> {
    let req = Request::new(side, method, path, query, headers, body);
    let what = req.what();
    let r = wit::send(&req.0).map_err(Error::from)?;
    Ok(Response {
        status: r.status,
        body: r.body,
        what,
    })
}

/// A request to send with [`send_all`].
pub struct Request(wit::Request);

impl Request {
    pub fn new(
        side: Side,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Body,
    ) -> Request {
        Request(wit::Request {
            side,
            method,
            path: path.to_string(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: headers
                .iter()
                .map(|(n, v)| wit::Header {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            body,
        })
    }

    /// A GET.
    pub fn get(side: Side, path: &str, query: &[(&str, &str)]) -> Request {
        Request::new(side, Method::Get, path, query, &[], Body::Empty)
    }

    fn what(&self) -> String {
        let side = if self.0.side == Side::Source {
            "source"
        } else {
            "target"
        };
        format!(
            "{} {} on the {side}",
            method_name(self.0.method),
            self.0.path
        )
    }
}

/// Send several requests at once (the host sends up to the run's concurrency of them at a
/// time); one answer per request, in order.
pub fn send_all(reqs: Vec<Request>) -> Vec<Result<Response>> {
    let what: Vec<String> = reqs.iter().map(Request::what).collect();
    let reqs: Vec<wit::Request> = reqs.into_iter().map(|r| r.0).collect();
    wit::send_all(&reqs)
        .into_iter()
        .zip(what)
        .map(|(r, what)| {
            r.map(|r| Response {
                status: r.status,
                body: r.body,
                what,
            })
            .map_err(Error::from)
        })
        .collect()
}

/// GET several objects at once and parse each: the first failure (a status that is not 2xx,
/// a body that is not JSON) fails them all.
pub fn get_all(side: Side, paths: &[String]) -> Result<Vec<Value>> {
    send_all(paths.iter().map(|p| Request::get(side, p, &[])).collect())
        .into_iter()
        .map(|r| r?.ok()?.json())
        .collect()
}

fn method_name(m: wit::Method) -> &'static str {
    match m {
        wit::Method::Get => "GET",
        wit::Method::Head => "HEAD",
        wit::Method::Options => "OPTIONS",
        wit::Method::Post => "POST",
        wit::Method::Put => "PUT",
        wit::Method::Patch => "PATCH",
        wit::Method::Delete => "DELETE",
    }
}

/// GET a path.
pub fn get(side: Side, path: &str, query: &[(&str, &str)]) -> Result<Response> {
    send(side, wit::Method::Get, path, query, wit::Body::Empty)
}

/// POST a JSON body.
pub fn post_json(side: Side, path: &str, body: &Value) -> Result<Response> {
    send(
        side,
        wit::Method::Post,
        path,
        &[],
        wit::Body::Json(body.to_string()),
    )
}

/// PATCH a JSON body. Marked idempotent (it sets fields), so the host may send it again
/// after a cut connection or a 5xx.
pub fn patch_json(side: Side, path: &str, body: &Value) -> Result<Response> {
    let text = body.to_string();
    let key = idempotency_key("PATCH", path, &text);
    request(
        side,
        wit::Method::Patch,
        path,
        &[],
        &[("Idempotency-Key", &key)],
        wit::Body::Json(text),
    )
}

/// POST a JSON body that sets state (sharing, publishing, syncing): sending it twice has the
/// effect of once, so the host may retry it.
pub fn post_json_idempotent(side: Side, path: &str, body: &Value) -> Result<Response> {
    let text = body.to_string();
    let key = idempotency_key("POST", path, &text);
    request(
        side,
        wit::Method::Post,
        path,
        &[],
        &[("Idempotency-Key", &key)],
        wit::Body::Json(text),
    )
}

/// The same request gets the same key (FNV-1a of method, path and body).
fn idempotency_key(method: &str, path: &str, body: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in method.bytes().chain(path.bytes()).chain(body.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("ferry-{h:016x}")
}

/// PUT a JSON body.
pub fn put_json(side: Side, path: &str, body: &Value) -> Result<Response> {
    send(
        side,
        wit::Method::Put,
        path,
        &[],
        wit::Body::Json(body.to_string()),
    )
}

/// DELETE a path.
pub fn delete(side: Side, path: &str) -> Result<Response> {
    send(side, wit::Method::Delete, path, &[], wit::Body::Empty)
}

/// POST multipart/form-data: `(name, filename, content type, bytes)` per part.
pub fn post_form(side: Side, path: &str, parts: Vec<wit::FormPart>) -> Result<Response> {
    send(side, wit::Method::Post, path, &[], wit::Body::Form(parts))
}

pub use wit::{Body, FormPart, Method};

/// One list to read: the side, the path and the query.
pub type ListSpec = (Side, String, Vec<(String, String)>);

/// Read several lists at once, each through every page: `(side, path, query)` per list, all
/// paged alike. The first failure fails them all.
pub fn list_all_many(lists: &[ListSpec], paging: Paging) -> Result<Vec<Vec<Value>>> {
    let paging: wit::Paging = paging.into();
    let reqs: Vec<wit::ListRequest> = lists
        .iter()
        .map(|(side, path, query)| wit::ListRequest {
            side: *side,
            path: path.clone(),
            query: query.clone(),
            paging: paging.clone(),
        })
        .collect();
    wit::list_all_many(&reqs)
        .into_iter()
        .zip(lists)
        .map(|(items, (_, path, _))| {
            items
                .map_err(Error::from)?
                .iter()
                .map(|s| {
                    serde_json::from_str(s)
                        .map_err(|e| Error::Invalid(format!("an item of {path} is not JSON: {e}")))
                })
                .collect()
        })
        .collect()
}

/// GET `path` and follow every page; each item as JSON.
pub fn list_all(
    side: Side,
    path: &str,
    query: &[(&str, &str)],
    paging: Paging,
) -> Result<Vec<Value>> {
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let items = wit::list_all(side, path, &query, &paging.into()).map_err(Error::from)?;
    items
        .iter()
        .map(|s| {
            serde_json::from_str(s)
                .map_err(|e| Error::Invalid(format!("an item of {path} is not JSON: {e}")))
        })
        .collect()
}
