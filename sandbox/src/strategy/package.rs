//! The emulator's `.projdup` package: a tar archive of what an export took.
//!
//! - `duplication.json`: the format, the duplication id, its source and settings, and the
//!   exported project (objects, configuration objects, the payload's size);
//! - `payload/NAME`: the project's generated payload, if it has one (a `package:SIZE`
//!   seed), streamed out in chunks: a multi-GiB package costs no memory;
//! - `checksums.json` last: the sha256 of the other entries, computed as they were written.
//!
//! A restoration reads it back from a stream, checking every digest.

use super::store::{Exported, Payload};
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Read;

pub const FORMAT: &str = "ferry-sandbox-projdup/1";
const BLOCK: usize = 512;
const CHUNK: usize = 256 * 1024;

fn padded(n: u64) -> u64 {
    n.div_ceil(BLOCK as u64) * BLOCK as u64
}

fn header(path: &str, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("a short ASCII path");
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// An entry's bytes, its header before and its padding after.
fn entry(path: &str, data: &[u8]) -> Vec<u8> {
    let mut out = header(path, data.len() as u64);
    out.extend_from_slice(data);
    out.resize(
        out.len() + (padded(data.len() as u64) as usize - data.len()),
        0,
    );
    out
}

/// The payload's bytes from `offset`: the same for a seed every time.
pub fn fill(seed: u64, chunk_index: u64, buf: &mut [u8]) {
    fastrand::Rng::with_seed(seed ^ chunk_index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).fill(buf);
}

fn payload_path(p: &Payload) -> String {
    format!("payload/{}", p.name)
}

fn checksums(digests: &[(String, String)]) -> Vec<u8> {
    let map: serde_json::Map<String, Value> = digests
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    serde_json::to_vec(&map).unwrap()
}

/// A package being written: its exact length (for `Content-Length`) and its bytes as a
/// stream.
pub struct Outgoing {
    pub len: u64,
    pub stream: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
}

pub fn write(id: &str, source: &Value, settings: &Value, what: &Exported) -> Outgoing {
    let manifest = serde_json::to_vec(&json!({
        "format": FORMAT,
        "id": id,
        "source": source,
        "settings": settings,
        "exported": what,
    }))
    .unwrap();
    let head = entry("duplication.json", &manifest);
    let mut digests = vec![(
        "duplication.json".to_string(),
        hex::encode(Sha256::digest(&manifest)),
    )];
    let payload = what.project.payload.clone();
    // The checksums' length does not depend on the digests' values (64 hex digits each).
    let mut dummy = digests.clone();
    if let Some(p) = &payload {
        dummy.push((payload_path(p), "0".repeat(64)));
    }
    let sums_len = checksums(&dummy).len() as u64;
    let len = head.len() as u64
        + payload
            .as_ref()
            .map(|p| BLOCK as u64 + padded(p.size))
            .unwrap_or(0)
        + BLOCK as u64
        + padded(sums_len)
        + 2 * BLOCK as u64;

    enum State {
        Head(Vec<u8>),
        Payload { sent: u64, hasher: Sha256 },
        Tail,
        Done,
    }
    let stream = futures::stream::unfold(
        (State::Head(head), payload, 0u64, digests.split_off(0)),
        |(state, payload, chunk, mut digests)| async move {
            match state {
                State::Head(head) => {
                    let next = match &payload {
                        Some(_) => State::Payload {
                            sent: 0,
                            hasher: Sha256::new(),
                        },
                        None => State::Tail,
                    };
                    let mut out = head;
                    if let Some(p) = &payload {
                        out.extend(header(&payload_path(p), p.size));
                    }
                    Some((Ok(Bytes::from(out)), (next, payload, chunk, digests)))
                }
                State::Payload { sent, mut hasher } => {
                    let p = payload.as_ref().expect("a payload state has a payload");
                    let n = (p.size - sent).min(CHUNK as u64) as usize;
                    let mut buf = vec![0u8; n];
                    fill(p.seed.unwrap_or(0), chunk, &mut buf);
                    hasher.update(&buf);
                    let sent = sent + n as u64;
                    let next = if sent == p.size {
                        digests.push((payload_path(p), hex::encode(hasher.finalize())));
                        buf.resize(buf.len() + (padded(p.size) - p.size) as usize, 0);
                        State::Tail
                    } else {
                        State::Payload { sent, hasher }
                    };
                    Some((Ok(Bytes::from(buf)), (next, payload, chunk + 1, digests)))
                }
                State::Tail => {
                    let mut out = entry("checksums.json", &checksums(&digests));
                    out.extend(std::iter::repeat_n(0u8, 2 * BLOCK));
                    Some((Ok(Bytes::from(out)), (State::Done, payload, chunk, digests)))
                }
                State::Done => None,
            }
        },
    );
    Outgoing {
        len,
        stream: Box::pin(stream),
    }
}

/// What a package held, checked.
#[derive(Debug)]
pub struct Incoming {
    pub id: String,
    pub source: Value,
    pub settings: Value,
    pub exported: Exported,
    /// the package's size in bytes
    pub size: u64,
    pub sha256: String,
}

/// Read a package from `reader` (a blocking reader: call it on a blocking thread), checking
/// its format and every digest. The error says what is wrong with it.
pub fn read(reader: impl Read) -> Result<Incoming, String> {
    let mut counted = Counting {
        inner: reader,
        read: 0,
        hasher: Sha256::new(),
    };
    let mut archive = tar::Archive::new(&mut counted);
    let mut manifest: Option<(Value, String)> = None;
    let mut payload_digest: Option<(String, u64, String)> = None;
    let mut sums: Option<Value> = None;
    let entries = archive
        .entries()
        .map_err(|e| format!("the package is not a tar archive: {e}"))?;
    for e in entries {
        let mut e = e.map_err(|e| format!("the package is not a tar archive: {e}"))?;
        let path = e
            .path()
            .map_err(|e| format!("an entry has a bad name: {e}"))?
            .to_string_lossy()
            .into_owned();
        if path == "duplication.json" || path == "checksums.json" {
            let mut text = Vec::new();
            (&mut e)
                .take(64 << 20)
                .read_to_end(&mut text)
                .map_err(|e| format!("{path}: {e}"))?;
            let v: Value =
                serde_json::from_slice(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
            if path == "duplication.json" {
                manifest = Some((v, hex::encode(Sha256::digest(&text))));
            } else {
                sums = Some(v);
            }
        } else if path.starts_with("payload/") {
            let mut h = Sha256::new();
            let n = std::io::copy(&mut e, &mut HashWriter(&mut h))
                .map_err(|e| format!("{path}: {e}"))?;
            payload_digest = Some((path, n, hex::encode(h.finalize())));
        } else {
            return Err(format!("unexpected entry {path:?}"));
        }
    }
    std::io::copy(&mut counted, &mut std::io::sink()).map_err(|e| e.to_string())?;
    let (manifest, manifest_sha) =
        manifest.ok_or("the package has no duplication.json: not a duplication package")?;
    if manifest["format"] != FORMAT {
        return Err(format!(
            "duplication.json: format {} is not {FORMAT}",
            manifest["format"]
        ));
    }
    let sums = sums.ok_or("the package has no checksums.json: it was cut short")?;
    if sums["duplication.json"].as_str() != Some(&manifest_sha) {
        return Err("duplication.json does not match its checksum".into());
    }
    let mut exported: Exported = serde_json::from_value(manifest["exported"].clone())
        .map_err(|e| format!("duplication.json: exported: {e}"))?;
    if let Some(p) = &mut exported.project.payload {
        let Some((path, n, sha)) = &payload_digest else {
            return Err(format!("the package lacks {}", payload_path(p)));
        };
        if *n != p.size || sums[path].as_str() != Some(sha.as_str()) {
            return Err(format!("{path} does not match its size or checksum"));
        }
        p.sha256 = Some(sha.clone());
    }
    Ok(Incoming {
        id: manifest["id"].as_str().unwrap_or_default().to_string(),
        source: manifest["source"].clone(),
        settings: manifest["settings"].clone(),
        exported,
        size: counted.read,
        sha256: hex::encode(counted.hasher.finalize()),
    })
}

struct Counting<R> {
    inner: R,
    read: u64,
    hasher: Sha256,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::store::Project;
    use futures::StreamExt;

    fn exported(payload: Option<u64>) -> Exported {
        Exported {
            project: Project {
                id: "P1".into(),
                name: "Tutorial".into(),
                description: String::new(),
                status: 0,
                default_locale: 0,
                locales: vec![0],
                objects: vec![],
                payload: payload.map(|size| Payload {
                    name: "cube.bin".into(),
                    size,
                    seed: Some(7),
                    sha256: None,
                }),
                alias: String::new(),
                settings: Default::default(),
            },
            config: vec![],
        }
    }

    async fn bytes_of(o: Outgoing) -> Vec<u8> {
        let mut out = vec![];
        let mut s = o.stream;
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_package_reads_back_with_its_length_and_digests() {
        for size in [None, Some(0), Some(1), Some(700_000)] {
            let o = write("D1", &json!({}), &json!({}), &exported(size));
            let len = o.len;
            let bytes = bytes_of(o).await;
            assert_eq!(bytes.len() as u64, len, "{size:?}");
            let back = read(&bytes[..]).unwrap();
            assert_eq!(back.id, "D1");
            assert_eq!(back.size, len);
            assert_eq!(
                back.exported.project.payload.map(|p| p.size),
                size,
                "{size:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_changed_or_cut_package_is_refused() {
        let bytes = bytes_of(write("D1", &json!({}), &json!({}), &exported(Some(5000)))).await;
        let mut changed = bytes.clone();
        changed[BLOCK * 3 + 10] ^= 1; // inside the payload
        assert!(read(&changed[..]).unwrap_err().contains("checksum"));
        let cut = &bytes[..bytes.len() / 2];
        assert!(read(cut).is_err());
        assert!(read(&b"not a tar"[..]).is_err());
    }
}
