//! The file capability: move one file from a download on the source to an upload on the
//! target. Raw bodies stream chunk by chunk; a JSON envelope (`{data, mime_type}`, top-level
//! keys) is unescaped into a spool file as it arrives and then streamed up, base64-decoded on
//! the way, so memory stays flat whatever the size. An envelope with nested pointers is read
//! whole, within the byte cap.
//!
//! The steps, each a module that uses only those before it: `types`, `download`, `spool`
//! (envelopes to disk and back), `fetch` (a download checked), `upload`, `package` (a
//! transfer to or from a package instead of the target or the source).

mod download;
pub mod envelope;
mod fetch;
mod package;
mod spool;
mod types;
mod upload;

pub use types::{Encoding, TransferError, TransferOutcome, TransferRequest};

use crate::net::tape::Tape;
use crate::net::{HttpClient, Policy};
use fetch::{Fetched, fetch};
use sha2::{Digest, Sha256};
use upload::{stream_upload, upload, upload_spool};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Side;
    use futures::StreamExt;
    use spool::{padding, spool_reader};
    use std::io::Write;
    use std::sync::{Arc, Mutex};

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
