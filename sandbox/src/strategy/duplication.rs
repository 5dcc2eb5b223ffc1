//! Project duplications: each environment's side of a job (the source's export, the target's
//! import, a restoration from a package), the status machine that moves them with time, and
//! what an export takes from a project under its settings.
//!
//! Source: `EXPORTING → EXPORT_SYNCING → EXPORTED` (or `EXPORT_FAILED`). Target:
//! `IMPORT_SYNCING` until the source has exported, then `IMPORTING → COMPLETED` (or
//! `IMPORT_FAILED`); a restoration starts at `IMPORTING`. A cancel goes through `CANCELLING`
//! to `CANCELLED`; cancelling the source before `EXPORTED` cancels the target's side too.
//! Statuses are upper case, as Strategy's SDK parses them.

use super::store::{EnvData, Exported, ImportSettings, Object, Side, Status, types};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    // (source environment, duplication, target project) of the syncs that completed: the
    // source's record then names the project its copy became, as the docs show it.
    let mut completed: Vec<(String, String, String)> = vec![];
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
                    // Within one environment there is nothing to sync: the import follows.
                    Status::Exporting if done && d.side == Side::Local => {
                        d.set(Status::Importing, 0, end)
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
            let into = d.target["project"]["id"].as_str().map(str::to_string);
            // Checked when the duplication started.
            let settings = ImportSettings::from_settings(&d.settings).unwrap_or_default();
            let id = env.import(&package, &name, into.as_deref(), &settings);
            let d = &mut env.duplications[i];
            d.project_id = Some(id.clone());
            if let Some(t) = d.target.as_object_mut() {
                t.insert("project".into(), json!({"id": id, "name": name}));
            }
            d.set(Status::Completed, 100, at);
            if d.side == Side::Target {
                completed.push((d.source_env.clone(), d.id.clone(), id));
            }
        }
    }
    for (env, id, project) in completed {
        let source = envs
            .get_mut(&env)
            .and_then(|e| e.duplications.iter_mut().find(|d| d.id == id));
        if let Some(d) = source.filter(|d| d.side == Side::Source) {
            d.target["project"]["id"] = json!(project);
        }
    }
}

/// The export's selection rules (`export.configurationObjects.rules`, as the docs name
/// them; `conflictRules` beside them are conflict rules, see [`ImportSettings`]): type 5 is
/// the default for every configuration object, 1 (related to the project) or 3 (all); type
/// 34 (users and groups) overrides it with 0 (none), 1, 2 (the ids in `objects`) or 3.
#[derive(Debug, Clone, Copy)]
struct Selection {
    default: i64,
    users_and_groups: Option<i64>,
}

impl Selection {
    const DEFAULT: i64 = 5;

    fn from_json(v: &Value) -> Result<Selection, String> {
        let at = "settings.export.configurationObjects.rules";
        let mut s = Selection {
            default: 1,
            users_and_groups: None,
        };
        for (t, r) in super::store::parse_rules(v) {
            match (t, r) {
                (Self::DEFAULT, 1 | 3) => s.default = r,
                (Self::DEFAULT, _) => {
                    return Err(format!(
                        "{at}: the rule for type 5 (the default) is {r}; it takes 1 \
                         (project-related) or 3 (all)"
                    ));
                }
                (types::USER_OR_GROUP, 0..=3) => s.users_and_groups = Some(r),
                (types::USER_OR_GROUP, _) => {
                    return Err(format!(
                        "{at}: the rule for type 34 is {r}; export rules are 0 (none), 1 \
                         (project-related), 2 (selected), 3 (all)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "{at}: type {t} takes no export rule; only 5 (the default) and 34 \
                         (users and groups) do"
                    ));
                }
            }
        }
        Ok(s)
    }

    fn rule(&self, o: &Object) -> i64 {
        match self.users_and_groups {
            Some(r) if o.type_ == types::USER_OR_GROUP => r,
            _ => self.default,
        }
    }
}

/// What an export takes, under `settings.export`:
/// - `projectObjectsPreference.schemaObjectsOnly`: only schema objects (attributes);
///   `skipAllProfileFolders`: no object of a user's profile folder; `skipEmptyProfileFolders`:
///   no profile folder that holds nothing;
/// - `configurationObjects`: the [`Selection`] rules and the ids of `objects`;
///   `includeAllUserGroups`: every user group whatever its rule.
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
    let selection = Selection::from_json(&config_settings["rules"])?;
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
            match selection.rule(c) {
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
