//! What a transfer is asked and what it answers, and the helpers every step shares.

use crate::net::HttpError;

#[derive(Debug, Clone)]
pub enum Encoding {
    Raw,
    JsonEnvelope {
        data: String,
        mime_type: String,
        base64: bool,
    },
}

#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub download_path: String,
    pub download_query: Vec<(String, String)>,
    pub encoding: Encoding,
    pub upload_path: String,
    pub upload_field: String,
    pub filename: String,
    pub upload_fields: Vec<(String, String)>,
    pub max_bytes: u64,
    pub accept: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum TransferOutcome {
    Moved {
        bytes: u64,
        sha256: String,
        mime_type: String,
        response: String,
    },
    TooLarge(u64),
    Unsupported(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{what} answered {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    #[error("{0}")]
    Shape(String),
    /// The target's session ended under an upload (401); it is signed in again, but the
    /// streamed body is spent: the transfer is worth trying again.
    #[error("{0} answered 401: the session ended during the upload and was opened again")]
    SessionRenewed(String),
}

/// Raised inside the upload stream when the download passes the cap.
#[derive(Debug, thiserror::Error)]
#[error("file larger than {0} bytes")]
pub(super) struct OverCap(pub(super) u64);

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(super) fn accepted(accept: &[String], mime: &str) -> bool {
    accept.is_empty()
        || accept
            .iter()
            .any(|a| a == mime || (a.ends_with("/*") && mime.starts_with(&a[..a.len() - 1])))
}
