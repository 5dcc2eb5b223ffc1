//! The HTTP types every part of `net` shares: a request as a plugin describes it, a response,
//! and the transport's errors. A leaf: the client, its retries and the tape all use it.

use super::Side;
use super::policy::Refusal;
use reqwest::Method;

/// One multipart part.
#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub enum RequestBody {
    Empty,
    Json(String),
    Bytes { content_type: String, data: Vec<u8> },
    Form(Vec<FormPart>),
}

/// A request as a plugin describes it: relative to a side's base URL, no credentials.
#[derive(Debug, Clone)]
pub struct Request {
    pub side: Side,
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
}

impl Request {
    pub fn get(side: Side, path: impl Into<String>) -> Self {
        Request {
            side,
            method: Method::GET,
            path: path.into(),
            query: vec![],
            headers: vec![],
            body: RequestBody::Empty,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("refused by the host: {0}")]
    Refused(#[from] Refusal),
    #[error("{what}: the response body is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: timed out")]
    Timeout { what: String },
    #[error("{what}: could not connect: {detail}")]
    Connect { what: String, detail: String },
    #[error("{what}: {detail}")]
    Other { what: String, detail: String },
    /// the side is not there to ask: an export has no target, a package's recording lacks
    /// the request (never worth retrying)
    #[error("{0}")]
    Unavailable(String),
}

impl HttpError {
    /// Worth trying later: timeouts, connections that failed or were cut. (Whether it is
    /// safe to try again is for the caller: a cut POST may have been applied.)
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpError::Timeout { .. } | HttpError::Connect { .. } | HttpError::Other { .. }
        )
    }
}

/// What one list may hold, whatever its server says (settings `max_list_items`,
/// `max_list_bytes`): part of the client's configuration, read by paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListBounds {
    pub items: u64,
    pub bytes: u64,
    /// what sets `bytes`, for the error that names it
    pub bytes_set_by: &'static str,
}

impl Default for ListBounds {
    fn default() -> Self {
        ListBounds {
            items: crate::defaults::MAX_LIST_ITEMS,
            bytes: crate::defaults::MAX_LIST_BYTES,
            bytes_set_by: "`max_list_bytes`",
        }
    }
}

impl ListBounds {
    /// The same, holding no more than `bytes`, which `set_by` names (a plugin's memory,
    /// which a list is returned into).
    pub fn within(self, bytes: u64, set_by: &'static str) -> ListBounds {
        if bytes < self.bytes {
            ListBounds {
                bytes,
                bytes_set_by: set_by,
                ..self
            }
        } else {
            self
        }
    }
}
