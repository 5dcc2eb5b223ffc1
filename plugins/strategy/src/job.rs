//! One project duplication, driven to its end: started on the source (or found again after
//! an interrupted run), started on the target (sync) or its package streamed across
//! (package), polled on each side with a backoff until it settles, cancelled on each side
//! where it runs when the run is interrupted.

use crate::settings::{Mode, Settings};
use ferry_sdk::files::{Download, Encoding, TransferOutcome, TransferRequest, Upload};
use ferry_sdk::prelude::*;

/// A settled duplication: what the report shows of it.
pub(crate) struct Outcome {
    /// the target project's id
    pub project_id: String,
    pub summary: Value,
}

/// Statuses, compared without regard to case (the docs write them in lower case, the
/// servers and the SDK in upper case).
fn status(rec: &Value) -> String {
    rec["status"].as_str().unwrap_or("").to_ascii_uppercase()
}

const FAILED: [&str; 3] = ["EXPORT_FAILED", "IMPORT_FAILED", "CANCELLED"];

/// One side's duplications (the first 1,000), under the key the SDK reads (`duplications`)
/// or the one the docs show (`projectDuplications`).
fn duplications(side: Side) -> Result<Vec<Value>> {
    let mut list = http::get(
        side,
        "projectDuplications",
        &[("offset", "0"), ("limit", "1000")],
    )?
    .ok()?
    .json()?;
    let records = match list.get_mut("duplications").filter(|v| v.is_array()) {
        Some(v) => v.take(),
        None => list
            .get_mut("projectDuplications")
            .map(Value::take)
            .unwrap_or_default(),
    };
    Ok(match records {
        Value::Array(a) => a,
        _ => vec![],
    })
}

fn side_name(side: Side) -> &'static str {
    if side == Side::Source {
        "source"
    } else {
        "target"
    }
}

/// What one side of the job went through.
#[derive(Default)]
struct Seen {
    statuses: Vec<String>,
    created: Value,
    finished: Value,
}

impl Seen {
    fn saw(&mut self, rec: &Value) {
        let s = status(rec);
        if self.statuses.last() != Some(&s) {
            self.statuses.push(s);
        }
        if self.created.is_null() {
            self.created = rec["createdDate"].clone();
        }
        self.finished = rec["lastUpdatedDate"].clone();
    }
    fn json(&self) -> Value {
        json!({"statuses": self.statuses, "created": self.created, "last_updated": self.finished})
    }
}

pub(crate) struct Job<'a> {
    pub settings: &'a Settings,
    /// the source project
    pub project_id: &'a str,
    pub project_name: &'a str,
    /// the target project's name, and its id when the job fills an existing project
    pub target_name: &'a str,
    pub into: Option<&'a str>,
    source: Seen,
    target: Seen,
    id: String,
    restoration: Option<String>,
    package: Option<(u64, String)>,
    /// time spent waiting on the job so far, on either side (what polling backs off with)
    waited_ms: u64,
}

impl<'a> Job<'a> {
    pub(crate) fn new(
        settings: &'a Settings,
        project: (&'a str, &'a str),
        target_name: &'a str,
        into: Option<&'a str>,
    ) -> Job<'a> {
        Job {
            settings,
            project_id: project.0,
            project_name: project.1,
            target_name,
            into,
            source: Seen::default(),
            target: Seen::default(),
            id: String::new(),
            restoration: None,
            package: None,
            waited_ms: 0,
        }
    }

    fn body(&self) -> Value {
        let env = |url: &str| json!({"id": url, "name": url});
        let mut target = json!({"name": self.target_name});
        if let Some(id) = self.into {
            target["id"] = json!(id);
        }
        json!({
            "source": {
                "environment": env(&self.settings.source_url),
                "project": {"id": self.project_id, "name": self.project_name},
            },
            "target": {"environment": env(&self.settings.target_url), "project": target},
            "settings": self.settings.body,
        })
    }

    /// Run the job to its end. Interrupted (Ctrl-C), it cancels itself on each side where
    /// it runs and returns [`Error::Cancelled`].
    pub(crate) fn run(&mut self) -> Result<Outcome> {
        match self.drive() {
            Err(Error::Cancelled) => {
                self.cancel();
                Err(Error::Cancelled)
            }
            other => other,
        }
    }

    /// The source's half alone, for `ferry export`: start (or find) the job, wait until the
    /// source has exported, and download its package, which the host saves in ferry's
    /// package. A restore replays these answers, then restores the package on its target.
    pub(crate) fn export(&mut self) -> Result<Value> {
        let exported = (|| {
            self.versions()?;
            self.start_source()?;
            let id = self.id.clone();
            self.wait(Side::Source, &id, &["EXPORTED"])
        })();
        if let Err(e) = exported {
            if matches!(e, Error::Cancelled) {
                self.cancel();
            }
            return Err(e);
        }
        match files::transfer(&self.transfer_request())? {
            TransferOutcome::Moved(m) => Ok(
                json!({"duplication": self.id, "package": {"bytes": m.bytes, "sha256": m.sha256}}),
            ),
            TransferOutcome::TooLarge(n) => Err(Error::Invalid(format!(
                "the package of duplication {} is at least {n} bytes, over --max-file-size ({} bytes): raise --max-file-size",
                self.id, self.settings.max_file_size
            ))),
            TransferOutcome::Unsupported(t) => {
                Err(Error::Invalid(format!("the package has media type {t}")))
            }
        }
    }

    fn versions(&self) -> Result<Value> {
        http::get(Side::Source, "projectDuplications/versions", &[])?
            .ok()?
            .json()
    }

    fn drive(&mut self) -> Result<Outcome> {
        // Compatibility first: the target checks the source's versions before any write.
        let versions = self.versions()?;
        http::post_json(Side::Target, "projectDuplications/validations", &versions)?.ok()?;
        self.start_source()?;
        self.finish()
    }

    /// The job on the source: one an earlier run started, or a new one.
    fn start_source(&mut self) -> Result<()> {
        match self.started()? {
            Some(rec) => {
                self.id = require_str(&rec, "/id", "an earlier duplication")?.to_string();
                log::info(format!(
                    "{}: waiting for duplication {} started earlier",
                    self.project_name, self.id
                ));
                self.source.saw(&rec);
            }
            None => {
                let rec = http::request(
                    Side::Source,
                    http::Method::Post,
                    "projectDuplications",
                    &[],
                    &[
                        ("X-MSTR-ProjectID", self.project_id),
                        ("Prefer", "respond-async"),
                    ],
                    http::Body::Json(self.body().to_string()),
                )?
                .ok()?
                .json()?;
                self.id = require_str(&rec, "/id", "POST projectDuplications")?.to_string();
                self.source.saw(&rec);
            }
        }
        Ok(())
    }

    /// The rest of the job, once the source has it: the target's side, to its end.
    fn finish(&mut self) -> Result<Outcome> {
        let done = match self.settings.mode {
            Mode::Sync => {
                self.start_on_target()?;
                let id = self.id.clone();
                self.wait(Side::Source, &id, &["EXPORTED"])?;
                self.wait(Side::Target, &id, &["COMPLETED"])?
            }
            Mode::Package => {
                let id = self.id.clone();
                self.wait(Side::Source, &id, &["EXPORTED"])?;
                let restore = match self.restoration_started()? {
                    Some(rec) => rec,
                    None => self.transfer()?,
                };
                let rid = require_str(&restore, "/id", "the restoration")?.to_string();
                self.restoration = Some(rid.clone());
                self.target.saw(&restore);
                self.wait(Side::Target, &rid, &["COMPLETED"])?
            }
        };
        let project_id = done["target"]["project"]["id"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut summary = json!({
            "mode": self.settings.mode.name(),
            "id": self.id,
            "source": self.source.json(),
            "target": self.target.json(),
            "settings": self.settings.body,
        });
        if let Some(r) = &self.restoration {
            summary["restoration"] = json!(r);
        }
        if let Some((bytes, sha)) = &self.package {
            summary["package"] = json!({"bytes": bytes, "sha256": sha});
        }
        Ok(Outcome {
            project_id,
            summary,
        })
    }

    /// The duplication an earlier, interrupted run started for this project and target
    /// name, if it can still complete.
    fn started(&self) -> Result<Option<Value>> {
        let records = duplications(Side::Source)?;
        let Some(found) = records.into_iter().rfind(|r| {
            r["source"]["project"]["id"] == self.project_id
                && r["target"]["project"]["name"] == self.target_name
                && r["target"]["environment"]["id"]
                    .as_str()
                    .map(|u| u.trim_end_matches('/'))
                    == Some(self.settings.target_url.as_str())
                && !FAILED.contains(&status(r).as_str())
                && status(r) != "CANCELLING"
        }) else {
            return Ok(None);
        };
        // In sync mode, a job whose target side has ended made the project it could (the
        // target lacks it now, or this call would not be made): start afresh.
        if self.settings.mode == Mode::Sync {
            let id = require_str(&found, "/id", "an earlier duplication")?;
            let r = http::get(Side::Target, &format!("projectDuplications/{id}"), &[])?;
            if r.status == 200 {
                let s = status(&r.json()?);
                if s == "COMPLETED" || FAILED.contains(&s.as_str()) {
                    return Ok(None);
                }
            }
        }
        Ok(Some(found))
    }

    /// Sync mode: the target's side of the job (unless an earlier run started it).
    fn start_on_target(&mut self) -> Result<()> {
        let path = format!("projectDuplications/{}", self.id);
        let r = http::get(Side::Target, &path, &[])?;
        if r.status == 200 {
            let rec = r.json()?;
            if !FAILED.contains(&status(&rec).as_str()) {
                self.target.saw(&rec);
                return Ok(());
            }
        }
        let rec = http::request(
            Side::Target,
            http::Method::Put,
            &path,
            &[],
            &[("Prefer", "respond-async")],
            http::Body::Json(self.body().to_string()),
        )?
        .ok()?
        .json()?;
        self.target.saw(&rec);
        Ok(())
    }

    /// Package mode: a restoration an earlier run started from this job's package.
    fn restoration_started(&self) -> Result<Option<Value>> {
        let records = duplications(Side::Target)?;
        Ok(records.into_iter().rfind(|r| {
            r["source"]["project"]["id"] == self.project_id
                && r["target"]["project"]["name"] == self.target_name
                && r["id"] != self.id.as_str()
                && !FAILED.contains(&status(r).as_str())
                && status(r) != "COMPLETED"
        }))
    }

    /// The package's download on the source and its upload into a restoration on the target.
    fn transfer_request(&self) -> TransferRequest {
        let mut target = json!({"name": self.target_name});
        if let Some(id) = self.into {
            target["id"] = json!(id);
        }
        let metadata = json!({
            "settings": {"import": self.settings.body["import"]},
            "target": {
                "environment": {"id": self.settings.target_url, "name": self.settings.target_url},
                "project": target,
            },
        });
        TransferRequest {
            download: Download {
                path: format!("projectDuplications/{}/backup", self.id),
                query: vec![],
                encoding: Encoding::Raw,
            },
            upload: Upload {
                path: "projectDuplications/restoration".into(),
                field: "file".into(),
                filename: "package.projdup".into(),
                fields: vec![("metadata".into(), metadata.to_string())],
            },
            max_bytes: self.settings.max_file_size,
            accept: vec![],
        }
    }

    /// Package mode: stream the package from the source into a restoration on the target;
    /// the bytes never pass through this plugin.
    fn transfer(&mut self) -> Result<Value> {
        let req = self.transfer_request();
        match files::transfer(&req)? {
            TransferOutcome::Moved(m) => {
                self.package = Some((m.bytes, m.sha256.clone()));
                serde_json::from_str(&m.response).map_err(|e| {
                    Error::Invalid(format!(
                        "the restoration answered something that is not JSON: {e}"
                    ))
                })
            }
            TransferOutcome::TooLarge(n) => Err(Error::Invalid(format!(
                "the package of duplication {} is at least {n} bytes, over --max-file-size ({} bytes): \
                 nothing was restored; raise --max-file-size, or use --option mode=sync",
                self.id, self.settings.max_file_size
            ))),
            TransferOutcome::Unsupported(t) => {
                Err(Error::Invalid(format!("the package has media type {t}")))
            }
        }
    }

    /// Poll one side's record of `id` until it is in `done`, up to `job-timeout-s`. Polls
    /// start every 0.5 s and back off with the job's age, a fortieth of the time waited so
    /// far, up to `poll-max-s`: a job is seen to end at most about 2.5 % after it did (or
    /// 0.5 s), and a long one costs a poll every `poll-max-s`. A failed or cancelled job is
    /// an error with the server's message; a poll that fails for a while is retried.
    fn wait(&mut self, side: Side, id: &str, done: &[&str]) -> Result<Value> {
        let path = format!("projectDuplications/{id}");
        let mut failures = 0;
        loop {
            match http::get(side, &path, &[])
                .and_then(|r| r.ok())
                .and_then(|r| r.json())
            {
                Ok(rec) => {
                    failures = 0;
                    let s = status(&rec);
                    if side == Side::Source {
                        self.source.saw(&rec);
                    } else {
                        self.target.saw(&rec);
                    }
                    let percent = rec["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 100.0) as u8;
                    timer::progress(
                        percent,
                        &format!(
                            "{} {} on the {}: {s}",
                            self.project_name,
                            id,
                            side_name(side)
                        ),
                    );
                    if done.contains(&s.as_str()) {
                        return Ok(rec);
                    }
                    if FAILED.contains(&s.as_str()) {
                        let message = rec["message"].as_str().unwrap_or("");
                        return Err(Error::Fatal(format!(
                            "duplication {id} of project {:?} ended {s} on the {}: {message}",
                            self.project_name,
                            side_name(side)
                        )));
                    }
                }
                // The host has retried what it could; a few more polls ride out an outage.
                Err(Error::Transient(m)) if failures < 5 => {
                    failures += 1;
                    log::warn(format!("polling duplication {id}: {m}"));
                }
                Err(e) => return Err(e),
            }
            if self.waited_ms / 1000 >= self.settings.timeout_s {
                return Err(Error::Fatal(format!(
                    "duplication {id} of project {:?} did not finish within {} s on the {}; it is still \
                     running on the server: run the same command again to wait for it (it is found \
                     again, not started twice), or raise --option job-timeout-s",
                    self.project_name,
                    self.settings.timeout_s,
                    side_name(side)
                )));
            }
            let delay = (self.waited_ms / 40).clamp(500, self.settings.poll_max_ms as u64) as u32;
            timer::sleep_ms(delay)?;
            self.waited_ms += delay as u64;
        }
    }

    /// Cancel the job on each side where it may still run (best effort: the run is ending).
    fn cancel(&self) {
        let body = json!({"status": "cancelled"});
        let mut sides = vec![(Side::Source, self.id.clone())];
        match &self.restoration {
            Some(r) => sides.push((Side::Target, r.clone())),
            None if self.settings.mode == Mode::Sync => sides.push((Side::Target, self.id.clone())),
            None => {}
        }
        for (side, id) in sides {
            if id.is_empty() {
                continue;
            }
            // A side that has ended, or whose cancel came from the source's, needs none.
            let path = format!("projectDuplications/{id}");
            let running = http::get(side, &path, &[])
                .and_then(|r| r.ok())
                .and_then(|r| r.json())
                .map(|rec| {
                    ["EXPORTING", "EXPORT_SYNCING", "IMPORT_SYNCING", "IMPORTING"]
                        .contains(&status(&rec).as_str())
                })
                .unwrap_or(true);
            if !running {
                continue;
            }
            let r = http::put_json(side, &format!("{path}/status"), &body);
            match r.and_then(|r| r.ok()) {
                Ok(_) => log::info(format!(
                    "cancelled duplication {id} on the {}",
                    side_name(side)
                )),
                Err(e) => log::warn(format!(
                    "cancelling duplication {id} on the {}: {e}",
                    side_name(side)
                )),
            }
        }
    }
}
