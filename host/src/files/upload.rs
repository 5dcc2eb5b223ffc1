//! Writing to the target: a multipart upload, streamed from the download or from a spool,
//! hashed and counted on the way and stopped at the cap.

use super::envelope;
use super::spool::{Spooled, spool_reader};
use super::types::{BoxError, OverCap, TransferError, TransferOutcome, TransferRequest};
use crate::net::client::{classify, read_capped};
use crate::net::retry::Tried;
use crate::net::{HttpClient, Policy, Side};
use futures::StreamExt;
use reqwest::Method;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// Upload a spooled file, decoding it on the way when it is base64, and again while the
/// target refuses it without handling it (429, 503 with Retry-After, no connection).
pub(super) async fn upload_spool(
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

/// Pipe the download's chunks into the upload's multipart body, hashing and counting on the
/// way; passing the cap aborts the upload.
pub(super) async fn stream_upload(
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

pub(super) async fn upload(
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
