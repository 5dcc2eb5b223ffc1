//! Writing a package: entries are spooled to a temporary directory as they are made (each
//! hashed on the way), then the archive is written in one pass, manifest first, into a file
//! beside the destination that is renamed over it at the end: an export that fails leaves no
//! half-written package behind.

use super::{Entry, MANIFEST, MANIFEST_SHA, Manifest, SIGNATURE};
use crate::net::tape::SavedFile;
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct Builder {
    dir: tempfile::TempDir,
    entries: Vec<Entry>,
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    n: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.hash.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Builder {
    pub fn new() -> std::io::Result<Builder> {
        let dir = tempfile::Builder::new()
            .prefix("ferry-package-")
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("files"))?;
        Ok(Builder {
            dir,
            entries: vec![],
        })
    }

    /// Where the files an export saves are written (`<sha256>` each).
    pub fn files_dir(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// A JSON-lines entry, one value per line.
    pub fn add_lines<T: serde::Serialize>(
        &mut self,
        name: &str,
        lines: impl IntoIterator<Item = T>,
    ) -> std::io::Result<()> {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = Hashing {
            inner: BufWriter::new(std::fs::File::create(&path)?),
            hash: Sha256::new(),
            n: 0,
        };
        for line in lines {
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        self.entries.push(Entry {
            name: name.to_string(),
            size: out.n,
            sha256: hex::encode(out.hash.finalize()),
        });
        Ok(())
    }

    /// A file an export saved (already in [`Builder::files_dir`], hashed as it was written).
    pub fn add_saved(&mut self, f: &SavedFile) {
        if !self.entries.iter().any(|e| e.name == f.entry) {
            self.entries.push(Entry {
                name: f.entry.clone(),
                size: f.bytes,
                sha256: f.sha256.clone(),
            });
        }
    }

    /// Write the archive to `out`; signed with `key` when given. Returns its size.
    pub fn finish(
        self,
        mut manifest: Manifest,
        key: Option<&ed25519_dalek::SigningKey>,
        out: &Path,
    ) -> anyhow::Result<u64> {
        manifest.entries = self.entries.clone();
        let bytes = serde_json::to_vec_pretty(&manifest)?;
        let partial = out.with_file_name(format!(
            ".{}.partial",
            out.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("package")
        ));
        let file = std::fs::File::create(&partial)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
        let result = (|| -> anyhow::Result<()> {
            let mut z = zstd::Encoder::new(BufWriter::with_capacity(1 << 20, file), 3)?;
            // A frame checksum: a changed byte of the compressed file is caught as it is read.
            z.include_checksum(true)?;
            let mut tar = tar::Builder::new(z);
            append(&mut tar, MANIFEST, &bytes[..])?;
            let digest = format!("{}\n", hex::encode(Sha256::digest(&bytes)));
            append(&mut tar, MANIFEST_SHA, digest.as_bytes())?;
            if let Some(key) = key {
                let sig = serde_json::to_vec_pretty(&super::sign::sign(key, &bytes))?;
                append(&mut tar, SIGNATURE, &sig[..])?;
            }
            for e in &self.entries {
                let f = std::fs::File::open(self.dir.path().join(&e.name))?;
                let mut h = header(e.size);
                tar.append_data(&mut h, &e.name, f)?;
            }
            let z = tar.into_inner()?;
            z.finish()?.flush()?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!("writing {}", out.display())));
        }
        std::fs::rename(&partial, out)?;
        Ok(std::fs::metadata(out)?.len())
    }
}

/// Entries carry no owner or time: the same export makes the same bytes but for its manifest.
fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = header(data.len() as u64);
    tar.append_data(&mut h, name, data)
}
