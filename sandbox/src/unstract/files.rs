//! Prompt Studio document files: `GET prompt-studio/file/{tool}?document_id=` answers
//! `{data, mime_type}` (base64 for PDFs, UTF-8 text for CSV and text), streamed so a large
//! file costs no memory; `POST prompt-studio/file/{tool}` takes a multipart `file` and creates
//! the document.

use super::shared::{Call, Org, Reply};
use super::store::{Blob, spec};
use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Uploads larger than this are kept as a size and digest only (the sandbox never holds a
/// gigabyte): downloading such a file again answers 410.
const KEEP_BYTES: usize = 64 << 20;

/// Bytes of a generated file: a PDF-looking header, then a deterministic pattern.
fn generated_chunk(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    const HEAD: &[u8] = b"%PDF-1.4\n% ferry sandbox generated document\n";
    let mut out = Vec::with_capacity(len);
    for i in 0..len as u64 {
        let at = offset + i;
        out.push(if (at as usize) < HEAD.len() {
            HEAD[at as usize]
        } else {
            b"0123456789abcdef\n"[((at.wrapping_mul(31) ^ seed) % 17) as usize]
        });
    }
    out
}

/// Every byte of a blob, as a stream of chunks.
fn chunks(blob: &Blob) -> futures::stream::BoxStream<'static, Bytes> {
    match blob {
        Blob::Bytes(b) => {
            let b = b.clone();
            futures::stream::iter(
                (0..b.len().div_ceil(1 << 16)).map(move |i| {
                    Bytes::copy_from_slice(&b[i << 16..((i + 1) << 16).min(b.len())])
                }),
            )
            .boxed()
        }
        Blob::Generated { size, seed } => {
            let (size, seed) = (*size, *seed);
            // base64 needs chunks that are multiples of 3 bytes to concatenate cleanly.
            let step: u64 = 3 << 16;
            futures::stream::iter((0..size.div_ceil(step)).map(move |i| {
                Bytes::from(generated_chunk(
                    seed,
                    i * step,
                    (size - i * step).min(step) as usize,
                ))
            }))
            .boxed()
        }
        Blob::Digest { .. } => futures::stream::empty().boxed(),
    }
}

pub fn digest(blob: &Blob) -> String {
    match blob {
        Blob::Bytes(b) => hex::encode(Sha256::digest(b.as_slice())),
        Blob::Generated { size, seed } => {
            let mut h = Sha256::new();
            let step: u64 = 3 << 16;
            let mut at = 0;
            while at < *size {
                let n = (*size - at).min(step);
                h.update(generated_chunk(*seed, at, n as usize));
                at += n;
            }
            hex::encode(h.finalize())
        }
        Blob::Digest { sha256, .. } => sha256.clone(),
    }
}

pub async fn file(org: &Org, call: Call, tool: &str) -> Reply {
    match call.method {
        Method::GET => download(org, &call, tool),
        Method::POST => upload(org, call, tool).await,
        _ => Reply::method_not_allowed(&call.method),
    }
}

fn download(org: &Org, call: &Call, tool: &str) -> Reply {
    let data = org.data.lock().unwrap();
    if data.find("custom_tool", tool).is_none() {
        return Reply::not_found();
    }
    let Some(doc) = call.query.get("document_id") else {
        return Reply::invalid("document_id", "This field is required.");
    };
    let Some((mime, blob)) = data.files.get(doc).filter(|_| {
        data.find("document", doc)
            .is_some_and(|d| d["tool"] == tool)
    }) else {
        return Reply::not_found();
    };
    let (mime, blob) = (mime.clone(), blob.clone());
    if matches!(blob, Blob::Digest { .. }) {
        return Reply::Json(
            StatusCode::GONE,
            json!({"detail": "this file was kept as a digest only"}),
        );
    }
    let binary = mime == "application/pdf";
    let open = Bytes::from_static(b"{\"data\": \"");
    let close = Bytes::from(format!("\", \"mime_type\": {}}}", Value::String(mime)));
    let encoded: futures::stream::BoxStream<'static, Bytes> = match (&blob, binary) {
        (_, true) => chunks(&blob)
            .map(|c| Bytes::from(base64::engine::general_purpose::STANDARD.encode(&c)))
            .boxed(),
        // Text files are small: escape them whole, so no character is cut at a chunk edge.
        (Blob::Bytes(b), false) => {
            let s = serde_json::to_string(&String::from_utf8_lossy(b)).unwrap();
            futures::stream::once(async move { Bytes::from(s[1..s.len() - 1].to_string()) }).boxed()
        }
        (_, false) => futures::stream::empty().boxed(),
    };
    let stream = futures::stream::once(async move { open })
        .chain(encoded)
        .chain(futures::stream::once(async move { close }))
        .map(Ok::<Bytes, std::io::Error>);
    Reply::Stream(
        StatusCode::OK,
        "application/json",
        Body::from_stream(stream),
    )
}

async fn upload(org: &Org, call: Call, tool: &str) -> Reply {
    if org.data.lock().unwrap().find("custom_tool", tool).is_none() {
        return Reply::not_found();
    }
    let mut form = match call.form("file", "Send the file as multipart/form-data.") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut stored = None;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Reply::invalid("file", format!("could not read the form: {e}")),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("document").to_string();
        let mime = field
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_else(|| mime_of(&name).to_string());
        let mut bytes = Vec::new();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            // A body cut midway is an error, never a shorter document.
            let chunk = match field.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => return Reply::invalid("file", format!("could not read the upload: {e}")),
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if bytes.len() < KEEP_BYTES {
                bytes.extend_from_slice(&chunk);
            }
        }
        let blob = if size as usize > KEEP_BYTES {
            Blob::Digest {
                size,
                sha256: hex::encode(hasher.finalize()),
            }
        } else {
            Blob::Bytes(std::sync::Arc::new(bytes))
        };
        stored = Some((name, mime, blob, size));
    }
    let Some((name, mime, blob, _size)) = stored else {
        return Reply::invalid("file", "No file was submitted.");
    };
    let mut data = org.data.lock().unwrap();
    let reply = super::records::create(
        &mut data,
        &org.name,
        spec("document"),
        json!({"document_name": name, "tool": tool}),
    );
    let Reply::Json(StatusCode::CREATED, row) = reply else {
        return reply;
    };
    let id = row["document_id"].as_str().unwrap_or_default().to_string();
    data.files.insert(id, (mime, blob));
    Reply::created(json!({"data": [row]}))
}

pub fn mime_of(name: &str) -> &'static str {
    match name
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("csv") => "text/csv",
        Some("txt") => "text/plain",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}
