//! Project duplications: each environment's side of a job (the source's export, the target's
//! import, a restoration from a package), the status machine that moves them with time, and
//! what an export takes from a project under its settings.
//!
//! Source: `EXPORTING → EXPORT_SYNCING → EXPORTED` (or `EXPORT_FAILED`). Target:
//! `IMPORT_SYNCING` until the source has exported, then `IMPORTING → COMPLETED` (or
//! `IMPORT_FAILED`); a restoration starts at `IMPORTING`. A cancel goes through `CANCELLING`
//! to `CANCELLED`; cancelling the source before `EXPORTED` cancels the target's side too.
//! Statuses are upper case, as Strategy's SDK parses them.

use super::store::{EnvData, Exported, ImportSettings, Object, types};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Exporting,
    ExportSyncing,
    Exported,
    ExportFailed,
    ImportSyncing,
    Importing,
    Completed,
    ImportFailed,
    Cancelling,
    Cancelled,
}

impl Status {
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
    /// Whether a cancel is accepted (the documented list).
    pub fn cancellable(self) -> bool {
        matches!(
            self,
            Status::Exporting | Status::ExportSyncing | Status::ImportSyncing | Status::Importing
        )
    }
    pub fn is_running(self) -> bool {
        self.cancellable() || self == Status::Cancelling
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
    Restore,
}

/// One environment's side of a duplication.
pub struct Duplication {
    pub id: String,
    pub side: Side,
    /// the request's `source`, `target` and `settings`, echoed in the record
    pub source: Value,
    pub target: Value,
    pub settings: Value,
    /// the environment (sandbox name) the source side runs in
    pub source_env: String,
    pub status: Status,
    /// when it entered its status (a transition is dated when it happened, not when a
    /// request first saw it: the records' times are the server's own)
    pub since: Instant,
    born: Instant,
    pub progress: u8,
    pub message: String,
    pub created: SystemTime,
    pub updated: SystemTime,
    /// every status it has been in, in order (the dump shows them)
    pub history: Vec<Status>,
    /// source: what the export took; restore: what the package held
    pub package: Option<Arc<Exported>>,
    /// armed from the environment's job faults when the side started
    pub fail: bool,
    /// the target project an import made or filled
    pub project_id: Option<String>,
}

impl Duplication {
    pub fn new(id: &str, side: Side, body: &Value, source_env: &str, status: Status) -> Self {
        let now = SystemTime::now();
        let born = Instant::now();
        Duplication {
            id: id.to_string(),
            side,
            source: body["source"].clone(),
            target: body["target"].clone(),
            settings: body["settings"].clone(),
            source_env: source_env.to_string(),
            status,
            since: born,
            born,
            progress: 0,
            message: String::new(),
            created: now,
            updated: now,
            history: vec![status],
            package: None,
            fail: false,
            project_id: None,
        }
    }

    /// Enter `status` at instant `at` (or update the progress of the current one).
    fn set(&mut self, status: Status, progress: u8, at: Instant) {
        if status != self.status {
            self.status = status;
            self.since = at;
            self.history.push(status);
        }
        self.progress = progress;
        self.updated = self.created + at.saturating_duration_since(self.born);
    }

    /// Begin a cancel (the caller checked that it may).
    pub fn cancel(&mut self, now: Instant) {
        self.message = "Cancelled by the user.".into();
        self.set(Status::Cancelling, self.progress, now);
    }

    /// The record as the REST API shows it.
    pub fn record(&self) -> Value {
        json!({
            "id": self.id,
            "source": with_creator(&self.source),
            "target": with_creator(&self.target),
            "createdDate": timestamp(self.created),
            "lastUpdatedDate": timestamp(self.updated),
            "status": self.status,
            "progress": self.progress,
            "message": self.message,
            "settings": self.settings,
        })
    }
}

fn with_creator(side: &Value) -> Value {
    let mut v = side.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "creator".into(),
            json!({"id": "54F3D26011D2896560009A8E67019608", "name": "Administrator"}),
        );
    }
    v
}

/// `2025-05-20T02:30:24.632+0000`, the form Strategy writes.
pub fn timestamp(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+0000",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Days since 1970-01-01 as a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// How long each phase lasts: `step` for syncs and cancels, two steps for exporting and
/// importing.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub step: Duration,
}

impl Pace {
    fn phase(&self, s: Status) -> Duration {
        match s {
            Status::Exporting | Status::Importing => self.step * 2,
            Status::Cancelling => self.step / 2,
            _ => self.step,
        }
    }
}

/// Move every duplication of every environment on to where time has brought it. An import
/// that completes writes its project into its environment.
pub fn advance(envs: &mut BTreeMap<String, EnvData>, pace: Pace, now: Instant) {
    // The source sides as they stand, for the targets that wait on them.
    type SourceSide = (Status, Instant, Option<Arc<Exported>>);
    let sources: BTreeMap<(String, String), SourceSide> = envs
        .iter()
        .flat_map(|(name, e)| {
            e.duplications
                .iter()
                .filter(|d| d.side == Side::Source)
                .map(move |d| {
                    (
                        (name.clone(), d.id.clone()),
                        (d.status, d.since, d.package.clone()),
                    )
                })
        })
        .collect();
    for env in envs.values_mut() {
        let mut imports = vec![];
        for (i, d) in env.duplications.iter_mut().enumerate() {
            // A long pause can pass several phases: loop until one is still running.
            loop {
                let spent = now.saturating_duration_since(d.since);
                let length = pace.phase(d.status);
                let share = (spent.as_secs_f64() / length.as_secs_f64()).min(1.0);
                let done = spent >= length;
                // when the phase ended, if it has
                let end = d.since + length;
                let before = d.status;
                match d.status {
                    Status::Exporting if done && d.fail => {
                        d.message = "Export failed: the sandbox was told to fail this export \
                                     (export_failed)."
                            .into();
                        d.set(Status::ExportFailed, d.progress, end);
                    }
                    Status::Exporting if done => d.set(Status::ExportSyncing, 60, end),
                    Status::Exporting => d.set(Status::Exporting, (share * 60.0) as u8, now),
                    Status::ExportSyncing if done => d.set(Status::Exported, 100, end),
                    Status::ExportSyncing => {
                        d.set(Status::ExportSyncing, 60 + (share * 39.0) as u8, now)
                    }
                    Status::ImportSyncing => {
                        match sources.get(&(d.source_env.clone(), d.id.clone())) {
                            Some((Status::Exported, at, package)) => {
                                d.package = package.clone();
                                d.set(Status::Importing, 0, (*at).max(d.since));
                            }
                            Some((Status::ExportFailed, at, _)) => {
                                d.message =
                                    "Import failed: the export on the source failed.".into();
                                d.set(Status::ImportFailed, 0, (*at).max(d.since));
                            }
                            Some((Status::Cancelled | Status::Cancelling, at, _)) => {
                                d.message = "Cancelled on the source.".into();
                                d.set(Status::Cancelled, 0, (*at).max(d.since));
                            }
                            None => {
                                d.message = "Import failed: the source duplication no longer \
                                             exists."
                                    .into();
                                d.set(Status::ImportFailed, 0, now);
                            }
                            Some(_) => {}
                        }
                    }
                    Status::Importing if done && d.fail => {
                        d.message = "Import failed: the sandbox was told to fail this import \
                                     (import_failed)."
                            .into();
                        d.set(Status::ImportFailed, d.progress, end);
                    }
                    Status::Importing if done => imports.push((i, end)),
                    Status::Importing => d.set(Status::Importing, (share * 99.0) as u8, now),
                    Status::Cancelling if done => d.set(Status::Cancelled, d.progress, end),
                    _ => {}
                }
                if d.status == before || imports.last().is_some_and(|(j, _)| *j == i) {
                    break;
                }
            }
        }
        for (i, at) in imports {
            let d = &env.duplications[i];
            let Some(package) = d.package.clone() else {
                continue;
            };
            let name = d.target["project"]["name"]
                .as_str()
                .unwrap_or(&package.project.name)
                .to_string();
            let into = d.target["project"]["id"]
                .as_str()
                .filter(|id| env.project(id).is_some())
                .map(str::to_string);
            let settings = ImportSettings::from_json(&d.settings["import"]);
            let id = env.import(&package, &name, into.as_deref(), &settings);
            let d = &mut env.duplications[i];
            d.project_id = Some(id.clone());
            if let Some(t) = d.target.as_object_mut() {
                t.insert("project".into(), json!({"id": id, "name": name}));
            }
            d.set(Status::Completed, 100, at);
        }
    }
}

/// What an export takes, under `settings.export`:
/// - `projectObjectsPreference.schemaObjectsOnly`: only schema objects (attributes);
///   `skipAllProfileFolders`: no object of a user's profile folder; `skipEmptyProfileFolders`:
///   no profile folder that holds nothing;
/// - `configurationObjects`: an export rule per type (the docs' `rules`, or `conflictRules`
///   as the SDK names them): 0 none, 1 related to the project (the default), 2 the ids in
///   `objects`, 3 all; `includeAllUserGroups`: every user group whatever its rule.
pub fn export(env: &EnvData, project_id: &str, settings: &Value) -> Result<Exported, String> {
    let project = env
        .project(project_id)
        .ok_or_else(|| format!("no project {project_id}"))?;
    let prefs = &settings["export"]["projectObjectsPreference"];
    let flag = |k: &str| prefs[k].as_bool().unwrap_or(false);
    let mut objects: Vec<Object> = project
        .objects
        .iter()
        .filter(|o| !flag("schemaObjectsOnly") || o.is_schema())
        .filter(|o| {
            !(flag("skipAllProfileFolders")
                && o.folder
                    .as_deref()
                    .is_some_and(|f| f.starts_with("profile:")))
        })
        .cloned()
        .collect();
    if flag("skipEmptyProfileFolders") {
        let used: Vec<String> = objects
            .iter()
            .filter(|o| o.type_ != types::FOLDER)
            .filter_map(|o| o.folder.clone())
            .collect();
        objects.retain(|o| {
            o.type_ != types::FOLDER || !o.name.starts_with("profile:") || used.contains(&o.name)
        });
    }
    let config_settings = &settings["export"]["configurationObjects"];
    let rules = if config_settings["rules"].is_array() {
        &config_settings["rules"]
    } else {
        &config_settings["conflictRules"]
    };
    let rules = super::store::parse_rules(rules);
    if let Some((t, r)) = rules.iter().find(|(_, r)| !(0..=3).contains(*r)) {
        return Err(format!(
            "settings.export.configurationObjects: the export rule for type {t} is {r}; \
             export rules are 0 (none), 1 (project-related), 2 (selected), 3 (all)"
        ));
    }
    let selected: Vec<&str> = config_settings["objects"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let all_groups = config_settings["includeAllUserGroups"]
        .as_bool()
        .unwrap_or(false);
    let config = env
        .config
        .iter()
        .filter(|c| {
            if all_groups && c.subtype == types::USER_GROUP {
                return true;
            }
            match rules.get(&c.type_).copied().unwrap_or(1) {
                0 => false,
                1 => c.projects.iter().any(|p| p == project_id),
                2 => selected.contains(&c.id.as_str()),
                _ => true,
            }
        })
        .cloned()
        .collect();
    Ok(Exported {
        project: super::store::Project {
            objects,
            ..project.clone()
        },
        config,
    })
}
