//! A source that is a file: what the source answers while `ferry export` runs a plugin's
//! `export` calls is recorded, and a restore from the package plays it back, so that a
//! plugin's writes read "the source" as they always do and never learn it is a package.
//!
//! - [`Tape::Record`] (an export): source requests go out, and while recording is on
//!   (during `export` calls; never during `list`, whose answers may hold secrets) each answer
//!   is kept, the last one per request. A file transfer's download is saved as a file of its
//!   own (named by its sha256) instead of being uploaded. An export has no target: a target
//!   request fails.
//! - [`Tape::Replay`] (a restore): source requests are answered from the recording, after the
//!   same checks as a live request; one the recording lacks fails, naming it. A transfer's
//!   download is read from its saved file.

use super::http::{Request, Response};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One recorded answer of the source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Answer {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// the headers the plugin set (never a credential: the host adds those, and refuses
    /// them from a plugin)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// the body as text, or base64 when it is not UTF-8 (`base64`)
    pub body: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub base64: bool,
}

/// A file a transfer downloaded from the source, saved in the package.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedFile {
    /// the download it answers
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// the package entry holding its bytes: `files/<sha256>`
    pub entry: String,
    pub bytes: u64,
    pub sha256: String,
    pub mime_type: String,
}

/// A file an export's transfer did not save: too large for `--max-file-size`, or of a type
/// the transfer does not accept. A restore's transfer of it ends the same way.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeftFile {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// at least this many bytes, over the export's cap
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub too_large: Option<u64>,
    /// its media type, not accepted
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
}

/// What a package holds for a download.
pub enum Saved<'a> {
    File(&'a SavedFile, PathBuf),
    Left(&'a LeftFile),
}

/// How a request is known on the tape: method, path (without a leading '/'), the query and
/// the plugin's headers (both in order of their names), so that the same request always finds
/// its answer. Not the body: a write a restore replays (Strategy's start of a duplication)
/// names the restore's target in its body, where the export's named none; what it is about is
/// in its path, query and headers (Strategy's `X-MSTR-ProjectID`).
pub fn key(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let mut q: Vec<&(String, String)> = query.iter().collect();
    q.sort();
    let mut k = format!(
        "{} {}",
        method.to_ascii_uppercase(),
        path.trim_start_matches('/')
    );
    for (i, (n, v)) in q.iter().enumerate() {
        k.push(if i == 0 { '?' } else { '&' });
        k.push_str(&format!("{n}={v}"));
    }
    let mut h: Vec<(String, &String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    h.sort();
    for (n, v) in h {
        k.push_str(&format!(" {n}: {v}"));
    }
    k
}

/// What the client does with the source.
#[derive(Clone, Default)]
pub enum Tape {
    /// a live source (a clone, a plan)
    #[default]
    Live,
    Record(std::sync::Arc<Recorder>),
    Replay(std::sync::Arc<Replay>),
}

/// The recording of an export.
pub struct Recorder {
    on: AtomicBool,
    answers: Mutex<BTreeMap<String, Answer>>,
    files: Mutex<BTreeMap<String, SavedFile>>,
    left: Mutex<BTreeMap<String, LeftFile>>,
    /// where saved files are written (`<dir>/<sha256>`)
    dir: PathBuf,
}

impl Recorder {
    pub fn new(dir: &Path) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(dir)?;
        Ok(Recorder {
            on: AtomicBool::new(false),
            answers: Mutex::default(),
            files: Mutex::default(),
            left: Mutex::default(),
            dir: dir.to_path_buf(),
        })
    }

    /// Record from now on (`true`) or not.
    pub fn recording(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }

    pub fn is_recording(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn keep(&self, req: &Request, resp: &Response) {
        if !self.is_recording() {
            return;
        }
        let content_type = resp
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone());
        let (body, base64) = match std::str::from_utf8(&resp.body) {
            Ok(t) => (t.to_string(), false),
            Err(_) => {
                use base64::Engine as _;
                (
                    base64::engine::general_purpose::STANDARD.encode(&resp.body),
                    true,
                )
            }
        };
        let a = Answer {
            method: req.method.to_string(),
            path: req.path.trim_start_matches('/').to_string(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            status: resp.status,
            content_type,
            body,
            base64,
        };
        let k = key(&a.method, &a.path, &a.query, &a.headers);
        self.answers.lock().expect("tape lock").insert(k, a);
    }

    pub(crate) fn keep_file(&self, f: SavedFile) {
        let k = key("GET", &f.path, &f.query, &[]);
        self.files.lock().expect("tape lock").insert(k, f);
    }

    pub(crate) fn keep_left(&self, f: LeftFile) {
        let k = key("GET", &f.path, &f.query, &[]);
        self.left.lock().expect("tape lock").insert(k, f);
    }

    /// Everything recorded, in a stable order.
    pub fn take(&self) -> (Vec<Answer>, Vec<SavedFile>, Vec<LeftFile>) {
        let a = self
            .answers
            .lock()
            .expect("tape lock")
            .values()
            .cloned()
            .collect();
        let f = self
            .files
            .lock()
            .expect("tape lock")
            .values()
            .cloned()
            .collect();
        let l = self
            .left
            .lock()
            .expect("tape lock")
            .values()
            .cloned()
            .collect();
        (a, f, l)
    }
}

/// The recording of a package, played back.
pub struct Replay {
    answers: HashMap<String, Answer>,
    files: HashMap<String, SavedFile>,
    left: HashMap<String, LeftFile>,
    /// where the package's files were extracted (`<dir>/<sha256>`)
    dir: PathBuf,
    /// what the report calls the package
    pub name: String,
}

impl Replay {
    pub fn new(
        name: &str,
        answers: Vec<Answer>,
        files: Vec<SavedFile>,
        left: Vec<LeftFile>,
        dir: &Path,
    ) -> Replay {
        Replay {
            answers: answers
                .into_iter()
                .map(|a| (key(&a.method, &a.path, &a.query, &a.headers), a))
                .collect(),
            files: files
                .into_iter()
                .map(|f| (key("GET", &f.path, &f.query, &[]), f))
                .collect(),
            left: left
                .into_iter()
                .map(|f| (key("GET", &f.path, &f.query, &[]), f))
                .collect(),
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }
    }

    pub(crate) fn answer(&self, req: &Request) -> Result<Response, String> {
        let k = key(req.method.as_str(), &req.path, &req.query, &req.headers);
        let a = self.answers.get(&k).ok_or_else(|| self.missing(&k))?;
        let body = if a.base64 {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(&a.body)
                .map_err(|e| format!("{k}: the package's answer is not base64: {e}"))?
        } else {
            a.body.clone().into_bytes()
        };
        Ok(Response {
            status: a.status,
            headers: a
                .content_type
                .iter()
                .map(|t| ("content-type".to_string(), t.clone()))
                .collect(),
            body,
        })
    }

    /// What the package holds for a download: the saved file and where its bytes are, or
    /// why the export left it out.
    pub(crate) fn file(&self, path: &str, query: &[(String, String)]) -> Result<Saved<'_>, String> {
        let k = key("GET", path, query, &[]);
        if let Some(f) = self.files.get(&k) {
            return Ok(Saved::File(f, self.dir.join(&f.sha256)));
        }
        self.left
            .get(&k)
            .map(Saved::Left)
            .ok_or_else(|| self.missing(&k))
    }

    fn missing(&self, k: &str) -> String {
        format!(
            "{k} on the source: package {} holds no answer for it (the plugin did not read it \
             in its export; a plugin built against a contract before 1.3.0 has no export)",
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_known_whatever_the_order_of_its_query() {
        let a = key(
            "get",
            "/users/",
            &[("b".into(), "2".into()), ("a".into(), "1".into())],
            &[],
        );
        let b = key(
            "GET",
            "users/",
            &[("a".into(), "1".into()), ("b".into(), "2".into())],
            &[],
        );
        assert_eq!(a, b);
        assert_eq!(a, "GET users/?a=1&b=2");
        let p = |id: &str| key("POST", "jobs", &[], &[("X-Project".into(), id.into())]);
        assert_ne!(p("1"), p("2"), "the headers tell two writes apart");
    }
}
