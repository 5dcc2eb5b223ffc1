//! A download, checked and ready to be read: what a transfer uploads, or an export saves.

use super::download::{download, media_type, top_level, whole_envelope};
use super::spool::{Keys, Spooled, spool_envelope};
use super::types::{Encoding, TransferError, TransferOutcome, TransferRequest, accepted};
use crate::net::{HttpClient, Policy};

/// A download, checked (its media type; its size, where it is known before the bytes) and
/// ready to be read: what a transfer uploads, or an export saves.
pub(super) enum Fetched {
    /// a raw body, to stream as it arrives, and its media type
    Raw(reqwest::Response, String),
    /// an envelope's data, spooled
    Spooled(Spooled),
    /// a nested envelope's file, read whole and decoded, and its media type
    Whole(Vec<u8>, String),
    /// nothing to move: too large, or not accepted
    Done(TransferOutcome),
}

pub(super) async fn fetch(
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
            (Some(data), Some(mime)) => {
                let keys = Keys {
                    data,
                    mime,
                    base64: *base64,
                };
                Ok(
                    match spool_envelope(client, policy, req, keys, what).await? {
                        Ok(spooled) => Fetched::Spooled(spooled),
                        Err(outcome) => Fetched::Done(outcome),
                    },
                )
            }
            _ => {
                let keys = (data.as_str(), mime_type.as_str(), *base64);
                Ok(
                    match whole_envelope(client, policy, req, keys, what).await? {
                        Ok((bytes, mime)) => Fetched::Whole(bytes, mime),
                        Err(outcome) => Fetched::Done(outcome),
                    },
                )
            }
        },
    }
}
