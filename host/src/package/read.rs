//! Opening a package: one pass over the archive that checks everything before anything else
//! happens, so that a damaged or tampered package is refused before the first write to a
//! target. The manifest must come first, in a format this ferry knows, and match its own
//! sha256; the signature is checked when asked; every other entry must be listed, and its
//! size and sha256 match as it streams by; none may be missing. Resources and answers are
//! kept in memory (a plan holds them anyway); files are extracted to a temporary directory,
//! a chunk at a time.

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

/// The largest manifest or JSON-lines entry read into memory (the files have no limit).
const MAX_TEXT_ENTRY: u64 = 1 << 30;

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

    pub fn open(path: &Path, trust: &Trust) -> Result<Package, PackageError> {
        let shown = path.display().to_string();
        let fail = |entry: Option<&str>, problem: String| PackageError {
            path: shown.clone(),
            entry: entry.map(str::to_string),
            problem,
        };
        let file =
            std::fs::File::open(path).map_err(|e| fail(None, format!("cannot open it: {e}")))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let z =
            zstd::Decoder::new(file).map_err(|e| fail(None, format!("not a zstd stream: {e}")))?;
        let mut archive = tar::Archive::new(z);
        let mut entries = archive
            .entries()
            .map_err(|e| fail(None, format!("not a tar archive: {e}")))?;
        let mut after: String;
        let mut next = |after: &str| -> Result<Option<tar::Entry<'_, _>>, PackageError> {
            match entries.next() {
                None => Ok(None),
                Some(Ok(e)) => Ok(Some(e)),
                Some(Err(e)) => Err(fail(
                    None,
                    format!(
                        "reading the entry after {after}: {e} (the package is truncated or damaged)"
                    ),
                )),
            }
        };
        let name_of = |e: &tar::Entry<'_, _>| -> String {
            e.path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        };

        // The manifest, first.
        let Some(mut first) = next("the start")? else {
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
        let bytes = read_text(&mut first).map_err(|e| fail(Some(MANIFEST), e))?;
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

        // Its sha256.
        let Some(mut digest) = next(MANIFEST)? else {
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
        let said = String::from_utf8_lossy(
            &read_text(&mut digest).map_err(|e| fail(Some(MANIFEST_SHA), e))?,
        )
        .trim()
        .to_string();
        let actual = hex::encode(Sha256::digest(&bytes));
        if said != actual {
            return Err(fail(
                Some(MANIFEST),
                format!(
                    "its sha256 is {actual}, {MANIFEST_SHA} says {said}: the manifest was changed"
                ),
            ));
        }
        after = MANIFEST_SHA.into();

        // The signature, when there is one, then the entries.
        let mut pending = next(&after)?;
        let mut signature = Signed::No;
        if let Some(mut e) = pending.take_if(|e| name_of(e) == SIGNATURE) {
            let text = read_text(&mut e).map_err(|e| fail(Some(SIGNATURE), e))?;
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
            after = SIGNATURE.into();
            pending = next(&after)?;
        }
        match (&signature, &trust.verify, trust.require_signature) {
            (Signed::No, Some(_), _) | (Signed::No, _, true) => {
                return Err(fail(None, "it is not signed, and a signature was required (--verify / --require-signature)".into()));
            }
            (Signed::Unchecked { .. }, None, true) => {
                return Err(fail(
                    None,
                    "--require-signature needs --verify PUBKEY to check the signature with".into(),
                ));
            }
            _ => {}
        }

        let listed: BTreeMap<&str, &super::Entry> = manifest
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e))
            .collect();
        let files = tempfile::Builder::new()
            .prefix("ferry-restore-")
            .tempdir()
            .map_err(|e| fail(None, format!("cannot make a directory for its files: {e}")))?;
        let mut seen: HashSet<String> = HashSet::new();
        let mut resources: BTreeMap<String, Vec<Line>> = BTreeMap::new();
        let mut answers = vec![];
        while let Some(mut e) = pending {
            let name = name_of(&e);
            let Some(expected) = listed.get(name.as_str()) else {
                return Err(fail(
                    Some(&name),
                    "not in the manifest: the package was changed".into(),
                ));
            };
            if !seen.insert(name.clone()) {
                return Err(fail(Some(&name), "appears twice".into()));
            }
            let problem = |p: String| fail(Some(&name), p);
            let mut reader = Hashing {
                inner: &mut e,
                hash: Sha256::new(),
                n: 0,
            };
            let mut text = None;
            if let Some(sha) = name.strip_prefix("files/") {
                if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(problem("a file entry is named by its sha256".into()));
                }
                let mut out = std::fs::File::create(files.path().join(sha))
                    .map_err(|e| problem(format!("cannot extract it: {e}")))?;
                std::io::copy(&mut reader, &mut out)
                    .map_err(|e| problem(format!("{e} (the package is truncated or damaged)")))?;
                out.flush()
                    .map_err(|e| problem(format!("cannot extract it: {e}")))?;
            } else {
                let mut buf = vec![];
                (&mut reader)
                    .take(MAX_TEXT_ENTRY)
                    .read_to_end(&mut buf)
                    .map_err(|e| problem(format!("{e} (the package is truncated or damaged)")))?;
                text = Some(buf);
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
                    answers = lines(&buf).map_err(problem)?;
                } else if let Some(kind) = name
                    .strip_prefix("resources/")
                    .and_then(|n| n.strip_suffix(".jsonl"))
                {
                    resources.insert(kind.to_string(), lines(&buf).map_err(problem)?);
                } else {
                    return Err(problem("an entry this format does not have".into()));
                }
            }
            after = name;
            pending = next(&after)?;
        }
        if let Some(missing) = manifest.entries.iter().find(|e| !seen.contains(&e.name)) {
            return Err(fail(
                Some(&missing.name),
                "missing: the package is truncated or incomplete".into(),
            ));
        }
        for (kind, n) in &manifest.counts {
            let have = resources.get(kind).map_or(0, Vec::len);
            if have != *n {
                return Err(fail(
                    Some(&super::resources_entry(kind)),
                    format!("{have} resources, the manifest counts {n}"),
                ));
            }
        }
        for f in &manifest.files {
            if !seen.contains(&f.entry) || f.entry != format!("files/{}", f.sha256) {
                return Err(fail(
                    Some(&f.entry),
                    format!("the manifest names it for {} but it is not there", f.path),
                ));
            }
        }
        Ok(Package {
            path: path.to_path_buf(),
            manifest,
            signature,
            resources,
            answers,
            size,
            files,
        })
    }
}

fn read_text(r: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut buf = vec![];
    r.take(MAX_TEXT_ENTRY)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{e} (the package is truncated or damaged)"))?;
    Ok(buf)
}

fn lines<T: serde::de::DeserializeOwned>(buf: &[u8]) -> Result<Vec<T>, String> {
    buf.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| serde_json::from_slice(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
