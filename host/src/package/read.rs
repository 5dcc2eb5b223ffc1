//! Opening a package: one pass over the archive that checks everything before anything else
//! happens, so that a damaged, tampered or hostile package is refused before the first write
//! to a target. The head comes first: the manifest and its sha256 (read whole, each within a
//! bound), the signature checked over the raw bytes when asked, and only then the manifest
//! parsed, in a format this ferry knows, its digests well formed and its declared sizes
//! within bounds. Every other entry must be a regular file listed once, read through its
//! declared size (refused at the first byte beyond) and match its sha256; none may be
//! missing. Resources and answers are kept in memory (a plan holds them anyway); files are
//! extracted to a temporary directory, a chunk at a time.

use super::sign::{self, SignatureEntry};
use super::{ANSWERS, FORMAT, Line, MANIFEST, MANIFEST_SHA, Manifest, SIGNATURE};
use crate::net::tape::Answer;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What a restore demands of a package's signature.
#[derive(Default, Clone)]
pub struct Trust {
    /// check the signature with this key (`--verify PUBKEY`): an unsigned package is refused
    pub verify: Option<ed25519_dalek::VerifyingKey>,
    /// refuse a package that is not signed and verified (`--require-signature`)
    pub require_signature: bool,
}

/// How the package is signed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Signed {
    /// not signed
    No,
    /// signed, but no key was given to check it with
    Unchecked {
        public_key: String,
    },
    Verified {
        public_key: String,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("package {path}: {}{problem}", entry.as_ref().map(|e| format!("entry {e}: ")).unwrap_or_default())]
pub struct PackageError {
    pub path: String,
    /// the entry at fault, when one is
    pub entry: Option<String>,
    pub problem: String,
}

/// An opened, checked package.
pub struct Package {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub signature: Signed,
    /// resources per kind, as the source listed them (secrets left out)
    pub resources: BTreeMap<String, Vec<Line>>,
    pub answers: Vec<Answer>,
    /// the archive's size in bytes
    pub size: u64,
    files: tempfile::TempDir,
}

/// What opening a package may cost, whatever its manifest says: each bound is named in the
/// error that passes it. The manifest and its signature are read (and the signature checked
/// over the raw bytes) before anything is parsed; every other entry is read through its
/// declared size plus one byte, and refused at the first byte beyond.
mod bounds {
    /// the manifest, read whole before it is verified and parsed
    pub(super) const MANIFEST: u64 = 8 << 20;
    /// its sha256 entry and the signature entry
    pub(super) const SMALL: u64 = 64 << 10;
    /// resources and answers, kept in memory: all of them together
    pub(super) const TEXT: u64 = 1 << 30;
    /// the files, extracted to a temporary directory: all of them together
    pub(super) const FILES: u64 = 256 << 30;
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    n: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.hash.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
}

/// Whether `s` is a sha256 as the format writes it: 64 lowercase hex digits.
fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Package({})", self.path.display())
    }
}

impl Package {
    /// A kind's resources as a listing gives them.
    pub fn listed(&self, kind: &str) -> Vec<crate::plugin::Stored> {
        self.resources
            .get(kind)
            .into_iter()
            .flatten()
            .map(|l| {
                crate::plugin::Resource {
                    kind: kind.to_string(),
                    id: l.id.clone(),
                    key: l.key.clone(),
                    body: l.body.clone(),
                    skip: l.skip.clone(),
                }
                .pack()
            })
            .collect()
    }

    /// Where the extracted files are (`<sha256>` each).
    pub fn files_dir(&self) -> &Path {
        self.files.path()
    }

    /// Open and check a package: its head (manifest, digest, signature), what the manifest
    /// declares, every entry against it, and that none is missing. Nothing is trusted before
    /// it is checked, and nothing read costs more than [`bounds`] allow.
    pub fn open(path: &Path, trust: &Trust) -> Result<Package, PackageError> {
        let fail = failing(path);
        let file =
            std::fs::File::open(path).map_err(|e| fail(None, format!("cannot open it: {e}")))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let z =
            zstd::Decoder::new(file).map_err(|e| fail(None, format!("not a zstd stream: {e}")))?;
        let mut archive = tar::Archive::new(z);
        let mut entries = Entries {
            inner: archive
                .entries()
                .map_err(|e| fail(None, format!("not a tar archive: {e}")))?,
            fail: &fail,
            after: "the start".into(),
        };
        let Head {
            manifest,
            signature,
            next: first,
        } = head(&mut entries, trust)?;
        declared(&manifest).map_err(|(entry, p)| fail(entry.as_deref(), p))?;
        let files = tempfile::Builder::new()
            .prefix("ferry-restore-")
            .tempdir()
            .map_err(|e| fail(None, format!("cannot make a directory for its files: {e}")))?;
        let body = body(&mut entries, first, &manifest, files.path())?;
        complete(&manifest, &body).map_err(|(entry, p)| fail(Some(&entry), p))?;
        Ok(Package {
            path: path.to_path_buf(),
            manifest,
            signature,
            resources: body.resources,
            answers: body.answers,
            size,
            files,
        })
    }
}

type Fail<'a> = dyn Fn(Option<&str>, String) -> PackageError + 'a;

fn failing(path: &Path) -> impl Fn(Option<&str>, String) -> PackageError {
    let shown = path.display().to_string();
    move |entry, problem| PackageError {
        path: shown.clone(),
        entry: entry.map(str::to_string),
        problem,
    }
}

/// The archive's entries, one after the other, with the name of the last one read for the
/// error when the next cannot be.
struct Entries<'a, 'f, R: Read> {
    inner: tar::Entries<'a, R>,
    fail: &'f Fail<'f>,
    after: String,
}

impl<'a, R: Read> Entries<'a, '_, R> {
    fn next(&mut self) -> Result<Option<tar::Entry<'a, R>>, PackageError> {
        match self.inner.next() {
            None => Ok(None),
            Some(Ok(e)) => {
                self.after = name_of(&e);
                // Only plain files: a link or a device could point the extraction elsewhere.
                if !e.header().entry_type().is_file() {
                    return Err((self.fail)(
                        Some(&self.after),
                        format!(
                            "a {:?} entry: a package holds only regular files",
                            e.header().entry_type()
                        ),
                    ));
                }
                Ok(Some(e))
            }
            Some(Err(e)) => Err((self.fail)(
                None,
                format!(
                    "reading the entry after {}: {e} (the package is truncated or damaged)",
                    self.after
                ),
            )),
        }
    }
}

fn name_of<R: Read>(e: &tar::Entry<'_, R>) -> String {
    e.path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Read an entry whole, refusing it past `limit` bytes (`what` names the bound).
fn read_capped(r: &mut impl Read, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let mut buf = vec![];
    r.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{e} (the package is truncated or damaged)"))?;
    if buf.len() as u64 > limit {
        return Err(format!("larger than {what} ({limit} bytes)"));
    }
    Ok(buf)
}

/// The package's head, checked, and the first entry after it.
struct Head<'a, R: Read> {
    manifest: Manifest,
    signature: Signed,
    next: Option<tar::Entry<'a, R>>,
}

/// The manifest, its digest and its signature, checked in that order over the raw bytes,
/// then the manifest parsed.
fn head<'a, R: Read>(
    entries: &mut Entries<'a, '_, R>,
    trust: &Trust,
) -> Result<Head<'a, R>, PackageError> {
    let fail = entries.fail;
    let Some(mut first) = entries.next()? else {
        return Err(fail(None, "it is empty: not a ferry package".into()));
    };
    if name_of(&first) != MANIFEST {
        return Err(fail(
            None,
            format!(
                "its first entry is {:?}, not {MANIFEST}: not a ferry package",
                name_of(&first)
            ),
        ));
    }
    let bytes = read_capped(&mut first, bounds::MANIFEST, "the bound on a manifest")
        .map_err(|e| fail(Some(MANIFEST), e))?;

    let Some(mut digest) = entries.next()? else {
        return Err(fail(
            Some(MANIFEST_SHA),
            "missing: the package is truncated".into(),
        ));
    };
    if name_of(&digest) != MANIFEST_SHA {
        return Err(fail(
            Some(MANIFEST_SHA),
            format!("missing (found {:?} after the manifest)", name_of(&digest)),
        ));
    }
    let said = read_capped(&mut digest, bounds::SMALL, "the bound on a digest")
        .map_err(|e| fail(Some(MANIFEST_SHA), e))?;
    let said = String::from_utf8_lossy(&said).trim().to_string();
    let actual = hex::encode(Sha256::digest(&bytes));
    if said != actual {
        let said: String = said.chars().take(80).collect();
        return Err(fail(
            Some(MANIFEST),
            format!("its sha256 is {actual}, {MANIFEST_SHA} says {said}: the manifest was changed"),
        ));
    }

    let mut pending = entries.next()?;
    let mut signature = Signed::No;
    if let Some(mut e) = pending.take_if(|e| name_of(e) == SIGNATURE) {
        let text = read_capped(&mut e, bounds::SMALL, "the bound on a signature")
            .map_err(|e| fail(Some(SIGNATURE), e))?;
        let entry: SignatureEntry = serde_json::from_slice(&text)
            .map_err(|e| fail(Some(SIGNATURE), format!("not a signature: {e}")))?;
        signature = match &trust.verify {
            Some(key) => {
                sign::verify(key, &entry, &bytes).map_err(|e| fail(Some(SIGNATURE), e))?;
                Signed::Verified {
                    public_key: entry.public_key,
                }
            }
            None => Signed::Unchecked {
                public_key: entry.public_key,
            },
        };
        pending = entries.next()?;
    }
    match (&signature, &trust.verify, trust.require_signature) {
        (Signed::No, Some(_), _) | (Signed::No, _, true) => {
            return Err(fail(
                None,
                "it is not signed, and a signature was required (`verify` / `require_signature`)"
                    .into(),
            ));
        }
        (Signed::Unchecked { .. }, None, true) => {
            return Err(fail(
                None,
                "`require_signature` needs `verify` PUBKEY to check the signature with".into(),
            ));
        }
        _ => {}
    }

    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| fail(Some(MANIFEST), format!("not JSON: {e}")))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(f) if f == FORMAT as u64 => {}
        Some(f) => {
            return Err(fail(
                Some(MANIFEST),
                format!(
                    "format version {f}: this ferry reads version {FORMAT} (a newer ferry made it?)"
                ),
            ));
        }
        None => return Err(fail(Some(MANIFEST), "no format version".into())),
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| fail(Some(MANIFEST), format!("{e}")))?;
    Ok(Head {
        manifest,
        signature,
        next: pending,
    })
}

/// What the manifest declares, before any of it is read: every digest well formed, file
/// entries named by their digest, and the declared sizes within [`bounds`].
fn declared(m: &Manifest) -> Result<(), (Option<String>, String)> {
    let bad = |what: &str, s: &str| {
        let shown: String = s.chars().take(80).collect();
        (
            Some(MANIFEST.to_string()),
            format!("{what} has sha256 {shown:?}: not 64 hex digits"),
        )
    };
    for p in &m.plugins {
        if !is_digest(&p.sha256) {
            return Err(bad(&format!("plugin {}", p.name), &p.sha256));
        }
    }
    let (mut text, mut files) = (0u64, 0u64);
    for e in &m.entries {
        if !is_digest(&e.sha256) {
            return Err(bad(&format!("entry {}", e.name), &e.sha256));
        }
        match e.name.strip_prefix("files/") {
            Some(sha) if sha != e.sha256 => {
                return Err((
                    Some(e.name.clone()),
                    "a file entry is named by its sha256, and this one's is another".into(),
                ));
            }
            Some(_) => files = files.saturating_add(e.size),
            None => text = text.saturating_add(e.size),
        }
    }
    if text > bounds::TEXT {
        return Err((
            Some(MANIFEST.to_string()),
            format!(
                "its resources and answers come to {text} bytes, over the bound of {} bytes on what a package keeps in memory",
                bounds::TEXT
            ),
        ));
    }
    if files > bounds::FILES {
        return Err((
            Some(MANIFEST.to_string()),
            format!(
                "its files come to {files} bytes, over the bound of {} bytes on what a package extracts",
                bounds::FILES
            ),
        ));
    }
    for f in &m.files {
        if !is_digest(&f.sha256) {
            return Err(bad(&format!("file {}", f.path), &f.sha256));
        }
    }
    Ok(())
}

/// What the entries after the head hold.
struct Body {
    seen: HashSet<String>,
    resources: BTreeMap<String, Vec<Line>>,
    answers: Vec<Answer>,
}

/// Every entry after the head, each listed once in the manifest and read through its
/// declared size: files extracted into `dir`, resources and answers parsed.
fn body<'a, R: Read>(
    entries: &mut Entries<'a, '_, R>,
    mut pending: Option<tar::Entry<'a, R>>,
    manifest: &Manifest,
    dir: &Path,
) -> Result<Body, PackageError> {
    let fail = entries.fail;
    let listed: BTreeMap<&str, &super::Entry> = manifest
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e))
        .collect();
    let mut out = Body {
        seen: HashSet::new(),
        resources: BTreeMap::new(),
        answers: vec![],
    };
    while let Some(mut e) = pending {
        let name = name_of(&e);
        let Some(expected) = listed.get(name.as_str()) else {
            return Err(fail(
                Some(&name),
                "not in the manifest: the package was changed".into(),
            ));
        };
        if !out.seen.insert(name.clone()) {
            return Err(fail(Some(&name), "appears twice".into()));
        }
        let problem = |p: String| fail(Some(&name), p);
        let mut reader = Hashing {
            inner: (&mut e).take(expected.size.saturating_add(1)),
            hash: Sha256::new(),
            n: 0,
        };
        let damaged =
            |e: std::io::Error| problem(format!("{e} (the package is truncated or damaged)"));
        let mut text = None;
        if name.starts_with("files/") {
            // Named by its digest, checked against the manifest's before this point.
            let mut file = std::fs::File::create(dir.join(&expected.sha256))
                .map_err(|e| problem(format!("cannot extract it: {e}")))?;
            std::io::copy(&mut reader, &mut file).map_err(damaged)?;
            file.flush()
                .map_err(|e| problem(format!("cannot extract it: {e}")))?;
        } else {
            let mut buf = vec![];
            reader.read_to_end(&mut buf).map_err(damaged)?;
            text = Some(buf);
        }
        if reader.n > expected.size {
            return Err(problem(format!(
                "longer than the {} bytes the manifest says: the entry was changed",
                expected.size
            )));
        }
        let sha = hex::encode(reader.hash.clone().finalize());
        if reader.n != expected.size || sha != expected.sha256 {
            return Err(problem(format!(
                "{} bytes with sha256 {sha}, the manifest says {} bytes with sha256 {}: the entry was changed",
                reader.n, expected.size, expected.sha256
            )));
        }
        if let Some(buf) = text {
            if name == ANSWERS {
                out.answers = lines(&buf).map_err(problem)?;
            } else if let Some(kind) = name
                .strip_prefix("resources/")
                .and_then(|n| n.strip_suffix(".jsonl"))
            {
                out.resources
                    .insert(kind.to_string(), lines(&buf).map_err(problem)?);
            } else {
                return Err(problem("an entry this format does not have".into()));
            }
        }
        pending = entries.next()?;
    }
    Ok(out)
}

/// Nothing the manifest lists is missing, and its counts and files agree with the body.
fn complete(m: &Manifest, body: &Body) -> Result<(), (String, String)> {
    if let Some(missing) = m.entries.iter().find(|e| !body.seen.contains(&e.name)) {
        return Err((
            missing.name.clone(),
            "missing: the package is truncated or incomplete".into(),
        ));
    }
    for (kind, n) in &m.counts {
        let have = body.resources.get(kind).map_or(0, Vec::len);
        if have != *n {
            return Err((
                super::resources_entry(kind),
                format!("{have} resources, the manifest counts {n}"),
            ));
        }
    }
    for f in &m.files {
        if !body.seen.contains(&f.entry) || f.entry != format!("files/{}", f.sha256) {
            return Err((
                f.entry.clone(),
                format!("the manifest names it for {} but it is not there", f.path),
            ));
        }
    }
    Ok(())
}

fn lines<T: serde::de::DeserializeOwned>(buf: &[u8]) -> Result<Vec<T>, String> {
    buf.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| serde_json::from_slice(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
