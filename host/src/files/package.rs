//! Transfers when the source is a package (`net::tape`): an export saves the download as a
//! file of the package instead of uploading it; a restore uploads the saved file. Both stream,
//! a chunk at a time, so memory stays flat whatever the size.

use super::fetch::{Fetched, fetch};
use super::spool::{Spooled, spool_reader};
use super::types::{BoxError, TransferError, TransferOutcome, TransferRequest, accepted};
use super::upload::upload_spool;
use crate::net::tape::{LeftFile, Recorder, Replay, Saved, SavedFile};
use crate::net::{HttpClient, HttpError, Policy, Side};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Export: download and decode as a transfer would, and keep the bytes in the recorder's
/// directory under their sha256. The answer is `moved`, with an empty upload response.
pub(super) async fn save(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    rec: &Recorder,
) -> Result<TransferOutcome, TransferError> {
    let outcome = save_file(client, policy, req, rec).await?;
    // What was not saved ends the same way on restore.
    let left = |too_large, unsupported| LeftFile {
        path: req.download_path.trim_start_matches('/').to_string(),
        query: req.download_query.clone(),
        too_large,
        unsupported,
    };
    match &outcome {
        TransferOutcome::TooLarge(n) => rec.keep_left(left(Some(*n), None)),
        TransferOutcome::Unsupported(m) => rec.keep_left(left(None, Some(m.clone()))),
        TransferOutcome::Moved { .. } => {}
    }
    Ok(outcome)
}

async fn save_file(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    rec: &Recorder,
) -> Result<TransferOutcome, TransferError> {
    let what = format!("GET {} on the source", req.download_path);
    let _slot = client.admit(Side::Source).await;
    let (mut chunks, mime) = match fetch(client, policy, req, &what).await? {
        Fetched::Done(outcome) => return Ok(outcome),
        Fetched::Raw(resp, mime) => {
            let s = resp
                .bytes_stream()
                .map(|c| c.map_err(|e| Box::new(e) as BoxError));
            (s.boxed(), mime)
        }
        Fetched::Spooled(Spooled {
            file,
            decode,
            whitespace,
            mime,
            ..
        }) => {
            let decoder = decode.then(|| super::envelope::Base64Stream::new(whitespace));
            (spool_reader(file, decoder).boxed(), mime)
        }
        Fetched::Whole(bytes, mime) => {
            let one = futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) });
            (one.boxed(), mime)
        }
    };
    let shape =
        |e: std::io::Error| TransferError::Shape(format!("saving {what} in the package: {e}"));
    let mut tmp = tempfile::NamedTempFile::new_in(rec.dir()).map_err(shape)?;
    let (mut hash, mut n) = (Sha256::new(), 0u64);
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| TransferError::Shape(format!("{what}: {e}")))?;
            n += chunk.len() as u64;
            if n > req.max_bytes {
                return Ok(TransferOutcome::TooLarge(n));
            }
            hash.update(&chunk);
            out.write_all(&chunk).map_err(shape)?;
        }
        out.flush().map_err(shape)?;
    }
    let sha256 = hex::encode(hash.finalize());
    let path = rec.dir().join(&sha256);
    if !path.exists() {
        tmp.persist(&path).map_err(|e| shape(e.error))?;
    }
    rec.keep_file(SavedFile {
        path: req.download_path.trim_start_matches('/').to_string(),
        query: req.download_query.clone(),
        entry: format!("files/{sha256}"),
        bytes: n,
        sha256: sha256.clone(),
        mime_type: mime.clone(),
    });
    Ok(TransferOutcome::Moved {
        bytes: n,
        sha256,
        mime_type: mime,
        response: "{}".into(),
    })
}

/// Restore: upload the file the package saved for this download (its sha256 was checked when
/// the package was opened), with the checks a live transfer makes.
pub(super) async fn restore(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    replay: &Replay,
) -> Result<TransferOutcome, TransferError> {
    let mut probe = crate::net::Request::get(Side::Source, req.download_path.clone());
    probe.query = req.download_query.clone();
    client.check(policy, &probe)?;
    let (saved, path) = match replay
        .file(&req.download_path, &req.download_query)
        .map_err(|e| TransferError::Http(HttpError::Unavailable(e)))?
    {
        Saved::File(f, path) => (f, path),
        Saved::Left(l) => {
            return Ok(match (&l.too_large, &l.unsupported) {
                (_, Some(mime)) => TransferOutcome::Unsupported(mime.clone()),
                (n, None) => {
                    TransferOutcome::TooLarge(n.unwrap_or(req.max_bytes.saturating_add(1)))
                }
            });
        }
    };
    if !accepted(&req.accept, &saved.mime_type) {
        return Ok(TransferOutcome::Unsupported(saved.mime_type.clone()));
    }
    if saved.bytes > req.max_bytes {
        return Ok(TransferOutcome::TooLarge(saved.bytes));
    }
    let file = std::fs::File::open(&path).map_err(|e| {
        TransferError::Shape(format!(
            "{}: cannot open the package's file: {e}",
            saved.entry
        ))
    })?;
    let _slot = client.admit(Side::Target).await;
    upload_spool(
        client,
        policy,
        req,
        Spooled {
            file,
            length: saved.bytes,
            decode: false,
            whitespace: false,
            mime: saved.mime_type.clone(),
        },
    )
    .await
}
