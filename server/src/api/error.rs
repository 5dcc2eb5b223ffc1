//! The API's one error shape, `{"error": {"code", "message"}}`, for the handlers' refusals,
//! the extractors' rejections, unknown routes and methods, and the server's own faults.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// What went wrong, for a client to branch on (the message is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no token, or not a known one
    Unauthorized,
    /// 403: the token's role may not do this
    Forbidden,
    /// 404: no such job or route
    NotFound,
    /// 400: a query, a path or a value the server does not take
    BadRequest,
    /// 422: a body that is JSON but not the documented shape
    Unprocessable,
    /// 415: a body that is not `application/json`
    UnsupportedMediaType,
    /// 413: a body over 64 KiB
    PayloadTooLarge,
    /// 405: the route does not take that method
    MethodNotAllowed,
    /// 409: the job has finished (cancel)
    Finished,
    /// 409: the job has not finished (delete)
    NotFinished,
    /// 409: a queued or running restore reads this export's package (delete)
    InUse,
    /// 409: a restore's `package` names a job that is not a succeeded export of its platform
    PackageUnusable,
    /// 409: the job awaits no approval (approve, reject)
    NotAwaitingApproval,
    /// 409: the digest approved is not that of the plan the job awaits approval of
    DigestMismatch,
    /// 409: this token approved the plan already
    AlreadyDecided,
    /// 409: the server's file does not read or check (reload)
    ConfigInvalid,
    /// 409: the job has no such plan, report or package: not yet, or none in its mode
    NotReady,
    /// 500: the server's fault; the message names a reference in its log
    Internal,
}

pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

pub type Answer<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no {what}"),
        )
    }
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// An extractor's rejection, with the code its status means.
    fn rejected(status: StatusCode, text: String) -> ApiError {
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::Unprocessable,
            _ => ErrorCode::BadRequest,
        };
        ApiError::new(status, code, text)
    }

    /// A route that exists, asked with a method it does not take.
    pub fn method_not_allowed(method: &Method) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            format!("this route does not take {method}"),
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        ApiError::rejected(e.status(), e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::rejected(StatusCode::BAD_REQUEST, e.body_text())
    }
}

impl From<anyhow::Error> for ApiError {
    /// A fault of the server's own: the log has the details (store paths, SQL), the client a
    /// reference to find them by.
    fn from(e: anyhow::Error) -> ApiError {
        let reference = format!("{:016x}", reference_number());
        tracing::error!(reference, "{e:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            format!("internal error; the server's log has it under reference {reference}"),
        )
    }
}

/// A random reference for an internal error (no crate for one number).
fn reference_number() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
