//! Spooling: an envelope's data string unescaped into a temporary file as it arrives, and
//! read back a window at a time (decoded on the way), so memory stays flat whatever the size.

use super::download::download;
use super::envelope;
use super::types::{BoxError, TransferError, TransferOutcome, TransferRequest, accepted};
use crate::net::client::classify;
use crate::net::retry::Tried;
use crate::net::{HttpClient, Policy};
use futures::StreamExt;

/// Where an envelope keeps the file: its top-level data and media-type keys, and whether the
/// data is base64.
pub(super) struct Keys {
    pub(super) data: String,
    pub(super) mime: String,
    pub(super) base64: bool,
}

/// A file spooled on disk, ready to be read again as often as an upload needs: its data
/// (base64 still, when `decode`), the exact length it decodes to, and its media type.
pub(super) struct Spooled {
    pub(super) file: std::fs::File,
    pub(super) length: u64,
    pub(super) decode: bool,
    pub(super) whitespace: bool,
    pub(super) mime: String,
}

/// Download an envelope and spool its data string (unescaped, still base64), checking the
/// cap, the media type and the base64's length on the way.
pub(super) async fn spool_envelope(
    client: &HttpClient,
    policy: &Policy,
    req: &TransferRequest,
    keys: Keys,
    what: &str,
) -> Result<Result<Spooled, TransferOutcome>, TransferError> {
    let Keys {
        data: data_key,
        mime: mime_key,
        base64,
    } = keys;
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
                return Ok(Err(TransferOutcome::TooLarge(
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
        return Ok(Err(TransferOutcome::Unsupported(mime)));
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
        return Ok(Err(TransferOutcome::TooLarge(size)));
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
    Ok(Ok(Spooled {
        file,
        length,
        decode,
        whitespace: done.nonws != raw_len,
        mime,
    }))
}

/// The whole spool, decoded on the way when `decoder` is given, in chunks of a MiB made on
/// a blocking thread a few chunks ahead of the upload; the thread stops when the upload does
/// (the stream is dropped). The spool is mapped into memory a window at a time and read in
/// place: reading it into a buffer first cost as much as decoding it.
pub(super) fn spool_reader(
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
pub(super) fn padding(file: &mut std::fs::File) -> std::io::Result<u64> {
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
