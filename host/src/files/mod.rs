//! The file capability: move one file from a download on the source to an upload on the
//! target. Raw bodies stream chunk by chunk; a JSON envelope (`{data, mime_type}`, top-level
//! keys) is unescaped into a spool file as it arrives and then streamed up, base64-decoded on
//! the way, so memory stays flat whatever the size. An envelope with nested pointers is read
//! whole, within the byte cap.

pub mod envelope;
mod package;

use crate::net::client::{classify, read_capped};
use crate::net::retry::Tried;
use crate::net::tape::Tape;
use crate::net::{HttpClient, HttpError, Policy, Side};
use base64::Engine as _;
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

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
struct OverCap(u64);

/// Move one file. Nothing is uploaded for a file over the cap or of a type not accepted.
pub async fn transfer(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
) -> Result<TransferOutcome, TransferError> {
    match client.tape() {
        Tape::Record(rec) => return package::save(client, policy, req, rec).await,
        Tape::Replay(replay) => return package::restore(client, policy, req, replay).await,
        Tape::Live => {}
    }
    let what = format!("GET {} on the source", req.download_path);
    // A transfer holds a request slot on both sides while the bytes flow.
    let _slots = client.admit_both().await;
    match fetch(client, policy, req, &what).await? {
        Fetched::Done(outcome) => Ok(outcome),
        Fetched::Raw(resp, mime) => stream_upload(client, policy, req, resp, mime).await,
        Fetched::Spooled(spooled) => upload_spool(client, policy, req, spooled).await,
        Fetched::Whole(bytes, mime) => {
            if bytes.len() as u64 > req.max_bytes {
                return Ok(TransferOutcome::TooLarge(bytes.len() as u64));
            }
            let n = bytes.len() as u64;
            let sha = hex::encode(Sha256::digest(&bytes));
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(req.filename.clone())
                .mime_str(&mime)
                .map_err(|e| TransferError::Shape(format!("bad media type {mime:?}: {e}")))?;
            let response = upload(client, policy, req, part).await?;
            Ok(TransferOutcome::Moved {
                bytes: n,
                sha256: sha,
                mime_type: mime,
                response,
            })
        }
    }
}

/// A download, checked (its media type; its size, where it is known before the bytes) and
/// ready to be read: what a transfer uploads, or an export saves.
enum Fetched {
    /// a raw body, to stream as it arrives, and its media type
    Raw(reqwest::Response, String),
    /// an envelope's data, spooled
    Spooled(Spooled),
    /// a nested envelope's file, read whole and decoded, and its media type
    Whole(Vec<u8>, String),
    /// nothing to move: too large, or not accepted
    Done(TransferOutcome),
}

async fn fetch(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    what: &str,
) -> Result<Fetched, TransferError> {
    match &req.encoding {
        Encoding::Raw => {
            let resp = download(client, policy, req, what).await?;
            let mime = media_type(&resp);
            if !accepted(&req.accept, &mime) {
                return Ok(Fetched::Done(TransferOutcome::Unsupported(mime)));
            }
            if let Some(n) = resp.content_length().filter(|n| *n > req.max_bytes) {
                return Ok(Fetched::Done(TransferOutcome::TooLarge(n)));
            }
            Ok(Fetched::Raw(resp, mime))
        }
        Encoding::JsonEnvelope {
            data,
            mime_type,
            base64,
        } => match (top_level(data), top_level(mime_type)) {
            (Some(data_key), Some(mime_key)) => {
                spool_envelope(client, policy, req, data_key, mime_key, *base64, what).await
            }
            _ => whole_envelope(client, policy, req, (data, mime_type, *base64), what).await,
        },
    }
}

/// A raw download's media type, without its parameters.
fn media_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// Download a nested envelope and read it whole, within the cap (base64 makes it about 4/3
/// of the file; allowed for, and the JSON around it): its file and media type, or why there
/// is nothing to upload.
async fn whole_envelope(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    (data, mime_type, base64): (&str, &str, bool),
    what: &str,
) -> Result<Fetched, TransferError> {
    let resp = download(client, policy, req, what).await?;
    let cap = req.max_bytes.saturating_mul(4) / 3 + 64 * 1024;
    let body = match read_capped(resp, cap, what).await {
        Err(HttpError::TooLarge { .. }) => {
            return Ok(Fetched::Done(TransferOutcome::TooLarge(
                req.max_bytes.saturating_add(1),
            )));
        }
        other => other?,
    };
    let (bytes, mime) = decode_envelope(&body, data, mime_type, base64, what)?;
    if !accepted(&req.accept, &mime) {
        return Ok(Fetched::Done(TransferOutcome::Unsupported(mime)));
    }
    Ok(Fetched::Whole(bytes, mime))
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
fn top_level(pointer: &str) -> Option<String> {
    let key = pointer.strip_prefix('/')?;
    (!key.contains('/')).then(|| key.replace("~1", "/").replace("~0", "~"))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A file spooled on disk, ready to be read again as often as an upload needs: its data
/// (base64 still, when `decode`), the exact length it decodes to, and its media type.
struct Spooled {
    file: std::fs::File,
    length: u64,
    decode: bool,
    whitespace: bool,
    mime: String,
}

/// Download an envelope and spool its data string (unescaped, still base64), checking the
/// cap, the media type and the base64's length on the way.
#[allow(clippy::too_many_arguments)]
async fn spool_envelope(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    data_key: String,
    mime_key: String,
    base64: bool,
    what: &str,
) -> Result<Fetched, TransferError> {
    // base64 is 4/3 of the file: a data string longer than that is over the cap either way.
    let raw_cap = req.max_bytes.saturating_mul(4) / 3 + 16;
    let retry = client.retry_policy();
    let mut attempt = 1;
    // Download and spool; a connection cut mid-body starts the download again.
    let scanner = loop {
        let resp = download(client, policy, req, what).await?;
        let spool = tempfile::tempfile()
            .map_err(|e| TransferError::Shape(format!("cannot make a spool file: {e}")))?;
        let mut scanner = envelope::Scanner::new(
            &data_key,
            &mime_key,
            std::io::BufWriter::with_capacity(64 * 1024, spool),
        );
        let mut body = resp.bytes_stream();
        let mut cut = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    cut = Some(classify(what, e));
                    break;
                }
            };
            scanner
                .feed(&chunk)
                .map_err(|e| TransferError::Shape(format!("{what}: {e}")))?;
            if scanner.data_len > raw_cap {
                return Ok(Fetched::Done(TransferOutcome::TooLarge(
                    scanner.data_len.saturating_mul(3) / 4,
                )));
            }
        }
        match cut {
            None => break scanner,
            Some(e) => match retry.next(true, attempt, Tried::Failed(&e)) {
                Some(wait) => {
                    tracing::debug!("{what}: {e}; download again in {} ms", wait.as_millis());
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(e.into()),
            },
        }
    };
    let done = scanner
        .finish()
        .map_err(|e| TransferError::Shape(format!("{what}: {e}")))?;
    let (writer, raw_len, mime) = (done.sink, done.len, done.mime);
    if !done.saw_data {
        return Err(TransferError::Shape(format!(
            "{what}: the envelope has no {data_key:?}"
        )));
    }
    let mime = mime.unwrap_or_else(|| "application/octet-stream".into());
    if !accepted(&req.accept, &mime) {
        return Ok(Fetched::Done(TransferOutcome::Unsupported(mime)));
    }
    let decode = base64 && !mime.starts_with("text/");
    if decode && done.nonws % 4 != 0 {
        return Err(TransferError::Shape(format!(
            "{what}: bad base64: the data ends mid-group (truncated?)"
        )));
    }
    let size = if decode { done.nonws / 4 * 3 } else { raw_len };
    // With padding the decoded size is up to 2 bytes less than `size`; the stream's cap is exact.
    if size > req.max_bytes.saturating_add(if decode { 2 } else { 0 }) {
        return Ok(Fetched::Done(TransferOutcome::TooLarge(size)));
    }
    let mut file = writer
        .into_inner()
        .map_err(|e| TransferError::Shape(format!("spooling the file: {e}")))?;
    // The exact length, so the upload carries a Content-Length (a server can then take the
    // body in one allocation): base64 padding at the end takes 1 or 2 bytes off.
    let length = if decode {
        size - padding(&mut file)
            .map_err(|e| TransferError::Shape(format!("spooling the file: {e}")))?
    } else {
        size
    };
    Ok(Fetched::Spooled(Spooled {
        file,
        length,
        decode,
        whitespace: done.nonws != raw_len,
        mime,
    }))
}

/// Upload a spooled file, decoding it on the way when it is base64, and again while the
/// target refuses it without handling it (429, 503 with Retry-After, no connection).
async fn upload_spool(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    spooled: Spooled,
) -> Result<TransferOutcome, TransferError> {
    use std::io::{Seek, SeekFrom};
    let Spooled {
        mut file,
        length,
        decode,
        whitespace,
        mime,
    } = spooled;
    let retry = client.retry_policy();
    let mut attempt = 1;
    loop {
        file.seek(SeekFrom::Start(0))
            .map_err(|e| TransferError::Shape(format!("spooling the file: {e}")))?;
        let copy = file
            .try_clone()
            .map_err(|e| TransferError::Shape(format!("spooling the file: {e}")))?;
        let counted = Arc::new(Mutex::new((Sha256::new(), 0u64)));
        let seen = counted.clone();
        let cap = req.max_bytes;
        // A blocking thread reads the spool and decodes; this task hashes and sends: the
        // two halves of the work run on two cores at once.
        let chunks = spool_reader(
            copy,
            decode.then(|| envelope::Base64Stream::new(whitespace)),
        );
        let stream = chunks.map(move |chunk| -> Result<bytes::Bytes, BoxError> {
            let out = chunk?;
            let mut h = seen.lock().expect("hasher lock");
            h.1 += out.len() as u64;
            if h.1 > cap {
                return Err(Box::new(OverCap(cap)));
            }
            h.0.update(&out);
            Ok(out)
        });
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::wrap_stream(stream),
            length,
        )
        .file_name(req.filename.clone())
        .mime_str(&mime)
        .map_err(|e| TransferError::Shape(format!("bad media type {mime:?}: {e}")))?;
        let result = upload(client, policy, req, part).await;
        let wait = match &result {
            Err(TransferError::Status {
                status,
                retry_after,
                ..
            }) => retry.next(
                false,
                attempt,
                Tried::Status {
                    status: *status,
                    retry_after: retry_after.as_deref(),
                },
            ),
            Err(TransferError::Http(e)) => retry.next(false, attempt, Tried::Failed(e)),
            _ => None,
        };
        match wait {
            Some(d) => {
                tracing::debug!(
                    "POST {} on the target: refused; upload again in {} ms",
                    req.upload_path,
                    d.as_millis()
                );
                tokio::time::sleep(d).await;
                attempt += 1;
            }
            None => return outcome(result, &counted, cap, mime),
        }
    }
}

/// The whole spool, decoded on the way when `decoder` is given, in chunks of a MiB made on
/// a blocking thread a few chunks ahead of the upload; the thread stops when the upload does
/// (the stream is dropped). The spool is mapped into memory a window at a time and read in
/// place: reading it into a buffer first cost as much as decoding it.
fn spool_reader(
    file: std::fs::File,
    mut decoder: Option<envelope::Base64Stream>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, BoxError>> {
    const CHUNK: usize = 1 << 20;
    // Mapped pages count as the process's memory while mapped: one window at a time keeps
    // that small.
    const WINDOW: u64 = 8 << 20;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, BoxError>>(4);
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Result<bytes::Bytes, BoxError>| {
            let failed = chunk.is_err();
            tx.blocking_send(chunk).is_ok() && !failed
        };
        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                send(Err(e.into()));
                return;
            }
        };
        let mut at = 0;
        while at < len {
            let size = WINDOW.min(len - at);
            // SAFETY: the spool is this transfer's own unlinked temporary file; nothing else
            // can change or truncate it while it is mapped.
            let window = match unsafe {
                memmap2::MmapOptions::new()
                    .offset(at)
                    .len(size as usize)
                    .map(&file)
            } {
                Ok(w) => w,
                Err(e) => {
                    send(Err(e.into()));
                    return;
                }
            };
            let _ = window.advise(memmap2::Advice::Sequential);
            for piece in window.chunks(CHUNK) {
                let chunk = match &mut decoder {
                    Some(d) => d
                        .feed(piece)
                        .map(bytes::Bytes::from)
                        .map_err(BoxError::from),
                    None => Ok(bytes::Bytes::copy_from_slice(piece)),
                };
                if !send(chunk) {
                    return;
                }
            }
            at += size;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// How many `=` end the base64 text in `file` (whitespace after them ignored).
fn padding(file: &mut std::fs::File) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.seek(SeekFrom::End(0))?;
    let from = len.saturating_sub(64);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::with_capacity(64);
    file.read_to_end(&mut tail)?;
    Ok(tail
        .iter()
        .rev()
        .filter(|b| !b.is_ascii_whitespace())
        .take(2)
        .filter(|&&b| b == b'=')
        .count() as u64)
}

/// Pipe the download's chunks into the upload's multipart body, hashing and counting on the
/// way; passing the cap aborts the upload.
async fn stream_upload(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    resp: reqwest::Response,
    mime: String,
) -> Result<TransferOutcome, TransferError> {
    let hasher = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let seen = hasher.clone();
    let cap = req.max_bytes;
    let length = resp.content_length();
    let body = resp.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        let mut h = seen.lock().expect("hasher lock");
        h.1 += chunk.len() as u64;
        if h.1 > cap {
            return Err(Box::new(OverCap(cap)) as Box<dyn std::error::Error + Send + Sync>);
        }
        h.0.update(&chunk);
        Ok(chunk)
    });
    // The download's length, when it gives one, goes on to the upload: a server such as
    // Django reads no multipart body without a Content-Length.
    let body = reqwest::Body::wrap_stream(body);
    let part = match length {
        Some(n) => reqwest::multipart::Part::stream_with_length(body, n),
        None => reqwest::multipart::Part::stream(body),
    }
    .file_name(req.filename.clone())
    .mime_str(&mime)
    .map_err(|e| TransferError::Shape(format!("bad media type {mime:?}: {e}")))?;
    let result = upload(client, policy, req, part).await;
    outcome(result, &hasher, cap, mime)
}

/// What a streamed upload came to, from its result and what passed through the stream.
fn outcome(
    result: Result<String, TransferError>,
    counted: &Mutex<(Sha256, u64)>,
    cap: u64,
    mime: String,
) -> Result<TransferOutcome, TransferError> {
    let (h, n) = {
        let g = counted.lock().expect("hasher lock");
        (g.0.clone(), g.1)
    };
    match result {
        // The stream stopped at the cap: not an error, a file too large.
        Err(_) if n > cap => Ok(TransferOutcome::TooLarge(n)),
        Err(e) => Err(e),
        Ok(response) => Ok(TransferOutcome::Moved {
            bytes: n,
            sha256: hex::encode(h.finalize()),
            mime_type: mime,
            response,
        }),
    }
}

async fn upload(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    part: reqwest::multipart::Part,
) -> Result<String, TransferError> {
    let what = format!("POST {} on the target", req.upload_path);
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in &req.upload_fields {
        form = form.text(k.clone(), v.clone());
    }
    form = form.part(req.upload_field.clone(), part);
    let session = client.session(Side::Target);
    let rb = client.prepare(
        policy,
        Side::Target,
        Method::POST,
        &req.upload_path,
        &[],
        &[],
    )?;
    let resp = rb
        .multipart(form)
        .send()
        .await
        .map_err(|e| classify(&what, e))?;
    crate::net::client::refuse_redirected_write(&Method::POST, &req.upload_path, &resp)?;
    let status = resp.status().as_u16();
    if status == 401 && client.renew(Side::Target, session).await {
        return Err(TransferError::SessionRenewed(what));
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_capped(resp, 16 * 1024 * 1024, &what).await?;
    if !(200..300).contains(&status) {
        return Err(TransferError::Status {
            what,
            status,
            body: crate::net::body_summary(&body),
            retry_after,
        });
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// GET the file, again while that is safe (see `net::retry`), until the source answers 2xx.
async fn download(
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

fn accepted(accept: &[String], mime: &str) -> bool {
    accept.is_empty()
        || accept
            .iter()
            .any(|a| a == mime || (a.ends_with("/*") && mime.starts_with(&a[..a.len() - 1])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A source that serves `bytes` raw with their length, and a target that keeps what it
    /// was sent: the Content-Length header and the body.
    async fn raw_endpoints(
        bytes: Vec<u8>,
    ) -> (HttpClient, Arc<Mutex<Option<(Option<String>, Vec<u8>)>>>) {
        use axum::routing::{get, post};
        let got = Arc::new(Mutex::new(None));
        let keep = got.clone();
        let app = axum::Router::new()
            .route(
                "/src/doc",
                get(move || async move { ([("content-type", "application/pdf")], bytes) }),
            )
            .route(
                "/tgt/up",
                post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                        let length = headers
                            .get("content-length")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        *keep.lock().unwrap() = Some((length, body.to_vec()));
                        "{}"
                    },
                ),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let conn = |side, path: &str| {
            crate::net::Connection::new(
                side,
                &format!("http://{addr}/{path}/"),
                crate::net::Credential::None,
            )
            .unwrap()
        };
        let envs = crate::net::Environments {
            source: conn(Side::Source, "src"),
            target: conn(Side::Target, "tgt"),
        };
        let client = HttpClient::new(envs, &crate::net::client::ClientConfig::default()).unwrap();
        (client, got)
    }

    #[tokio::test]
    async fn a_raw_file_goes_up_with_its_length() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let (client, got) = raw_endpoints(bytes.clone()).await;
        let req = TransferRequest {
            download_path: "doc".into(),
            download_query: vec![],
            encoding: Encoding::Raw,
            upload_path: "up".into(),
            upload_field: "file".into(),
            filename: "a.pdf".into(),
            upload_fields: vec![],
            max_bytes: 1 << 20,
            accept: vec!["application/pdf".into()],
        };
        let out = transfer(&client, &Policy::default(), &req).await.unwrap();
        let TransferOutcome::Moved {
            bytes: n, sha256, ..
        } = out
        else {
            panic!("not moved: {out:?}");
        };
        assert_eq!(n, bytes.len() as u64);
        assert_eq!(sha256, hex::encode(Sha256::digest(&bytes)));
        let (length, body) = got.lock().unwrap().take().expect("an upload");
        // The form around the file makes the body longer than the file; its length is known.
        assert_eq!(length, Some(body.len().to_string()));
        assert!(body.windows(bytes.len()).any(|w| w == bytes.as_slice()));
    }

    /// Everything `spool_reader` gives for `text` spooled to a file.
    async fn read_back(text: &[u8], decoder: Option<envelope::Base64Stream>) -> Vec<u8> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(text).unwrap();
        let mut out = Vec::new();
        let mut chunks = std::pin::pin!(spool_reader(f, decoder));
        while let Some(c) = chunks.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn the_spool_is_read_whole_across_its_windows() {
        use base64::Engine as _;
        // 20 MiB: three 8 MiB windows, the last one short; some base64 groups straddle them.
        let bytes: Vec<u8> = (0..(20u32 << 20) / 4 * 3 + 2)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(read_back(text.as_bytes(), None).await, text.as_bytes());
        let decoded = read_back(text.as_bytes(), Some(envelope::Base64Stream::new(false))).await;
        assert!(
            decoded == bytes,
            "decoded {} bytes of {}",
            decoded.len(),
            bytes.len()
        );
        assert!(read_back(b"", None).await.is_empty());
        // Bad base64 ends the stream with an error.
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"QUJD*UJD").unwrap();
        let got: Vec<_> = spool_reader(f, Some(envelope::Base64Stream::new(false)))
            .collect()
            .await;
        assert!(got.last().unwrap().is_err());
    }

    #[test]
    fn padding_counts_the_closing_equals_signs() {
        for (text, want) in [
            ("QUJD", 0),
            ("QUI=", 1),
            ("QQ==", 2),
            ("QQ==\n", 2),
            ("QUI=  \r\n", 1),
            ("", 0),
        ] {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(text.as_bytes()).unwrap();
            assert_eq!(padding(&mut f).unwrap(), want, "{text:?}");
        }
    }
}
