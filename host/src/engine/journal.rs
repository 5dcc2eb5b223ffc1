//! The creates journal: a line is appended before each create and after it completes (its
//! files included), per target. A run killed between the two (SIGKILL, power cut, OOM)
//! leaves a resource that may exist half-made on the target (a project imported but not yet
//! published or shared); the next run finds it there and, instead of adopting it as it is,
//! completes it with `update`. Lines go to the kernel with every append, so a killed process
//! loses none; the file is rewritten at the end of a run with only what is still open.
//!
//! A run may name itself (a server job's attempts share its name): its lines carry the name,
//! and a later attempt knows which resources an earlier one created, to count them as
//! created by the job rather than adopted.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::state::state_dir;

#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    file: Mutex<Option<std::fs::File>>,
    /// (kind, key) of creates started and not completed by earlier runs
    open: BTreeSet<(String, String)>,
    /// this run's name, written on its lines
    run: Option<String>,
    /// (kind, key) of creates earlier attempts of this run started
    by_this_run: BTreeSet<(String, String)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    /// "started" or "done"
    event: String,
    kind: String,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<String>,
}

impl Journal {
    /// No journal: nothing is remembered between runs.
    pub fn none() -> Journal {
        Journal {
            path: None,
            file: Mutex::new(None),
            open: BTreeSet::new(),
            run: None,
            by_this_run: BTreeSet::new(),
        }
    }

    /// The journal of one target (`target` identifies it: its base URL), under `dir`.
    pub fn open(dir: PathBuf, target: &str) -> Journal {
        Journal::open_for(dir, target, None)
    }

    /// The same, for a run named `run` whose earlier attempts may have written to it.
    pub fn open_for(dir: PathBuf, target: &str, run: Option<&str>) -> Journal {
        let name = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(target.as_bytes())[..12]);
        let path = dir.join(format!("{name}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let open = still_open(&text);
        let by_this_run = match run {
            Some(run) => started_by(&text, run),
            None => BTreeSet::new(),
        };
        let run = run.map(str::to_string);
        let file = std::fs::create_dir_all(&dir)
            .and_then(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
            })
            .and_then(|mut f| {
                // End a torn last line, so the next line stands on its own.
                if std::fs::read(&path).is_ok_and(|b| b.last().is_some_and(|&c| c != b'\n')) {
                    writeln!(f)?;
                }
                Ok(f)
            });
        match file {
            Ok(f) => Journal {
                path: Some(path),
                file: Mutex::new(Some(f)),
                open,
                run,
                by_this_run,
            },
            Err(e) => {
                tracing::warn!(
                    "cannot write the creates journal {}: {e}; a run killed midway may leave half-made resources that a re-run adopts",
                    path.display()
                );
                Journal {
                    path: None,
                    file: Mutex::new(None),
                    open,
                    run,
                    by_this_run,
                }
            }
        }
    }

    /// The journal of a target under ferry's state directory (see [`crate::state::state_dir`]).
    pub fn for_target(target: &str, run: Option<&str>) -> Journal {
        match state_dir() {
            Some(d) => Journal::open_for(d, target, run),
            None => Journal::none(),
        }
    }

    /// Whether an earlier attempt of this run started creating this resource (and perhaps
    /// saw it through): then it is the run's creation, whatever this attempt does with it.
    pub fn started_earlier(&self, kind: &str, key: &str) -> bool {
        self.by_this_run
            .contains(&(kind.to_string(), key.to_string()))
    }

    /// Whether an earlier run started creating this resource and did not see it through.
    pub fn unfinished(&self, kind: &str, key: &str) -> bool {
        self.open.contains(&(kind.to_string(), key.to_string()))
    }

    pub fn started(&self, kind: &str, key: &str) {
        self.append("started", kind, key);
    }

    pub fn done(&self, kind: &str, key: &str) {
        self.append("done", kind, key);
    }

    fn append(&self, event: &str, kind: &str, key: &str) {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = guard.as_mut() {
            let line = serde_json::to_string(&Line {
                event: event.into(),
                kind: kind.into(),
                key: key.into(),
                run: self.run.clone(),
            })
            .unwrap_or_default();
            let _ = writeln!(f, "{line}");
        }
    }

    /// Rewrite the file with only the creates still open (after a run).
    pub fn compact(&self) {
        let Some(path) = &self.path else { return };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let body: String = still_open(&text)
            .into_iter()
            .map(|(kind, key)| {
                serde_json::to_string(&Line {
                    event: "started".into(),
                    kind,
                    key,
                    run: None,
                })
                .unwrap_or_default()
                    + "\n"
            })
            .collect();
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, body).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

/// The creates a journal's text started and did not finish, as (kind, key). A torn last line
/// (killed mid-write) is ignored.
fn still_open(text: &str) -> BTreeSet<(String, String)> {
    let mut open = BTreeSet::new();
    for line in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
    {
        let k = (line.kind, line.key);
        if line.event == "started" {
            open.insert(k);
        } else {
            open.remove(&k);
        }
    }
    open
}

/// The creates the lines of `run` started.
fn started_by(text: &str, run: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .filter(|l| l.event == "started" && l.run.as_deref() == Some(run))
        .map(|l| (l.kind, l.key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_started_and_not_done_is_unfinished_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().to_path_buf(), "http://t/org/");
        j.started("tag", "a");
        j.started("tag", "b");
        j.done("tag", "a");
        drop(j);
        // A torn last line, as a kill mid-write leaves.
        let path = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"event\":\"do")
            .unwrap();
        let j = Journal::open(dir.path().to_path_buf(), "http://t/org/");
        assert!(j.unfinished("tag", "b") && !j.unfinished("tag", "a"));
        assert!(
            !Journal::open(dir.path().to_path_buf(), "http://other/").unfinished("tag", "b"),
            "per target"
        );
        j.done("tag", "b");
        j.compact();
        assert!(!Journal::open(dir.path().to_path_buf(), "http://t/org/").unfinished("tag", "b"));
    }

    #[test]
    fn a_later_attempt_of_a_named_run_knows_what_the_earlier_ones_created() {
        let dir = tempfile::tempdir().unwrap();
        let first = Journal::open_for(dir.path().to_path_buf(), "http://t/", Some("job 1"));
        first.started("tag", "a");
        first.done("tag", "a");
        first.started("tag", "b");
        drop(first); // killed: no compaction
        let other = Journal::open_for(dir.path().to_path_buf(), "http://t/", Some("job 2"));
        other.started("tag", "c");
        drop(other);
        let again = Journal::open_for(dir.path().to_path_buf(), "http://t/", Some("job 1"));
        assert!(again.started_earlier("tag", "a") && again.started_earlier("tag", "b"));
        assert!(!again.started_earlier("tag", "c"), "another run's create");
        let unnamed = Journal::open(dir.path().to_path_buf(), "http://t/");
        assert!(!unnamed.started_earlier("tag", "a"));
    }
}
