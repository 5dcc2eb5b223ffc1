//! Reading from the source: the download, retried while that is safe, and a nested
//! envelope read whole.

use super::types::{TransferError, TransferOutcome, TransferRequest, accepted};
use crate::net::client::{classify, read_capped};
use crate::net::retry::Tried;
use crate::net::{HttpClient, HttpError, Policy, Side};
use base64::Engine as _;
use reqwest::Method;
use serde_json::Value;

/// GET the file, again while that is safe (see `net::retry`), until the source answers 2xx.
pub(super) async fn download(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    what: &str,
) -> Result<reqwest::Response, TransferError> {
    let retry = client.retry_policy();
    let mut attempt = 1;
    let mut renewed = false;
    loop {
        let session = client.session(Side::Source);
        let result = client
            .prepare(
                policy,
                Side::Source,
                Method::GET,
                &req.download_path,
                &req.download_query,
                &[],
            )?
            .send()
            .await
            .map_err(|e| classify(what, e));
        // A session that ended is opened again once, and the download started again.
        if !renewed
            && matches!(&result, Ok(r) if r.status() == 401)
            && client.renew(Side::Source, session).await
        {
            renewed = true;
            continue;
        }
        let wait = match &result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => {
                let after = r.headers().get("retry-after").and_then(|v| v.to_str().ok());
                retry.next(
                    true,
                    attempt,
                    Tried::Status {
                        status: r.status().as_u16(),
                        retry_after: after,
                    },
                )
            }
            Err(e) => retry.next(true, attempt, Tried::Failed(e)),
        };
        match (wait, result) {
            (Some(d), _) => {
                tokio::time::sleep(d).await;
                attempt += 1;
            }
            (None, Ok(r)) if r.status().is_success() => return Ok(r),
            (None, Ok(r)) => {
                return Err(TransferError::Status {
                    what: what.to_string(),
                    status: r.status().as_u16(),
                    body: String::new(),
                    retry_after: None,
                });
            }
            (None, Err(e)) => return Err(e.into()),
        }
    }
}

/// A raw download's media type, without its parameters.
pub(super) fn media_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// Download a nested envelope and read it whole, within the cap (base64 makes it about 4/3
/// of the file; allowed for, and the JSON around it): its file and media type, or why there
/// is nothing to upload (`Err` inside).
pub(super) async fn whole_envelope(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    (data, mime_type, base64): (&str, &str, bool),
    what: &str,
) -> Result<Result<(Vec<u8>, String), TransferOutcome>, TransferError> {
    let resp = download(client, policy, req, what).await?;
    let cap = req.max_bytes.saturating_mul(4) / 3 + 64 * 1024;
    let body = match read_capped(resp, cap, what).await {
        Err(HttpError::TooLarge { .. }) => {
            return Ok(Err(TransferOutcome::TooLarge(
                req.max_bytes.saturating_add(1),
            )));
        }
        other => other?,
    };
    let (bytes, mime) = decode_envelope(&body, data, mime_type, base64, what)?;
    if !accepted(&req.accept, &mime) {
        return Ok(Err(TransferOutcome::Unsupported(mime)));
    }
    Ok(Ok((bytes, mime)))
}

/// A whole envelope's file and media type (base64 decoded, except text/* types, which
/// travel as text even in a base64 envelope: Unstract sends PDFs base64, CSV plain).
fn decode_envelope(
    body: &[u8],
    data: &str,
    mime_type: &str,
    base64: bool,
    what: &str,
) -> Result<(Vec<u8>, String), TransferError> {
    let env: Value = serde_json::from_slice(body)
        .map_err(|e| TransferError::Shape(format!("{what}: not a JSON envelope: {e}")))?;
    let mime = env
        .pointer(mime_type)
        .and_then(Value::as_str)
        .unwrap_or("application/octet-stream")
        .to_string();
    let text = env
        .pointer(data)
        .and_then(Value::as_str)
        .ok_or_else(|| TransferError::Shape(format!("{what}: no string at {data:?}")))?;
    let bytes = if base64 && !mime.starts_with("text/") {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| TransferError::Shape(format!("{what}: bad base64: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    Ok((bytes, mime))
}

/// "/data" -> "data"; `None` for a nested pointer.
pub(super) fn top_level(pointer: &str) -> Option<String> {
    let key = pointer.strip_prefix('/')?;
    (!key.contains('/')).then(|| key.replace("~1", "/").replace("~0", "~"))
}
