//! What an administrator scripting with Strategy's SDK reads first about a project and the
//! server: a project's status and alias (`api/projects/{name}`), its settings and their
//! catalogue (`api/v2/projects/{id}/settings[/config]`), its languages, the cluster's nodes
//! and the projects loaded on them (`api/monitors/iServer/nodes`), and the server's settings
//! (`api/v2/iserver/settings[/config]`). Everything is read from the store: a project's
//! settings and alias are what a duplication carried, its languages are its locales.

use super::shared::{Call, Shared, error, json_reply};
use super::store::{EnvData, Project};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The one node the emulator runs on.
pub const NODE: &str = "sandbox";

/// One setting of a catalogue: its name, type, a description and its default value.
struct Setting {
    name: &'static str,
    /// `number`, `boolean`, `enum` or `string`, as the catalogue names types
    kind: &'static str,
    description: &'static str,
    default: fn() -> Value,
}

/// The project settings the emulator knows (a handful of Strategy's several hundred): each
/// is in the catalogue, and a new project starts with its default.
const PROJECT_SETTINGS: &[Setting] = &[
    Setting {
        name: "maxReportExecutionTime",
        kind: "number",
        description: "Maximum execution time for interactive reports (seconds)",
        default: || json!(600),
    },
    Setting {
        name: "enableReportServerCaching",
        kind: "boolean",
        description: "Enable report server caching",
        default: || json!(true),
    },
    Setting {
        name: "cacheEncryptionLevel",
        kind: "enum",
        description: "Encryption level of caches on disk",
        default: || json!(0),
    },
    Setting {
        name: "maxCubeSizeForDownload",
        kind: "number",
        description: "Maximum size of a cube for download (bytes)",
        default: || json!(100u64 << 20),
    },
    Setting {
        name: "projectDescription",
        kind: "string",
        description: "Description shown to users",
        default: || json!(""),
    },
];

/// The server settings the emulator knows.
const SERVER_SETTINGS: &[Setting] = &[
    Setting {
        name: "maxJobsPerServer",
        kind: "number",
        description: "Maximum number of jobs on the server",
        default: || json!(10000),
    },
    Setting {
        name: "workSetMaxMemoryConsumption",
        kind: "number",
        description: "Maximum memory of the working sets (bytes)",
        default: || json!(200u64 << 20),
    },
    Setting {
        name: "enablePerformanceMonitoring",
        kind: "boolean",
        description: "Collect performance counters",
        default: || json!(false),
    },
];

/// The settings a new project starts with.
pub fn project_defaults() -> BTreeMap<String, Value> {
    defaults(PROJECT_SETTINGS)
}

/// The settings a new environment starts with.
pub fn server_defaults() -> BTreeMap<String, Value> {
    defaults(SERVER_SETTINGS)
}

fn defaults(catalogue: &[Setting]) -> BTreeMap<String, Value> {
    catalogue
        .iter()
        .map(|s| (s.name.to_string(), (s.default)()))
        .collect()
}

/// `{name: {description, type, ...}}`: what each setting is, as `settings/config` answers.
fn catalogue(settings: &[Setting]) -> Value {
    let mut out = Map::new();
    for s in settings {
        let mut v = json!({"description": s.description, "type": s.kind});
        match s.kind {
            "number" => {
                v["min_value"] = json!(-1);
                v["max_value"] = json!(i64::MAX);
            }
            "enum" => {
                v["options"] = json!([
                    {"name": "None", "value": 0},
                    {"name": "Low", "value": 1},
                    {"name": "High", "value": 2},
                ]);
            }
            _ => {}
        }
        out.insert(s.name.into(), v);
    }
    Value::Object(out)
}

/// `{name: {value}}`: the values, as `settings` answers.
fn values(settings: &BTreeMap<String, Value>) -> Value {
    let out: Map<String, Value> = settings
        .iter()
        .map(|(k, v)| (k.clone(), json!({"value": v})))
        .collect();
    Value::Object(out)
}

/// A language's object id, the emulator's convention: the locale id (LCID) in hex, then a
/// fixed tail (English (United States), 1033, is `000004094A6F46B8A1BCF6B25FDE7E2C`); the
/// same on every environment, as a built-in language's id is.
pub fn language_id(lcid: i64) -> String {
    format!("{:08X}4A6F46B8A1BCF6B25FDE7E2C", lcid as u32)
}

fn language_name(lcid: i64) -> String {
    match lcid {
        1031 => "German (Germany)".into(),
        1033 => "English (United States)".into(),
        1036 => "French (France)".into(),
        2057 => "English (United Kingdom)".into(),
        3082 => "Spanish (Spain)".into(),
        n => format!("Language {n}"),
    }
}

/// The answers of this module's routes, or `None` for a path it does not serve.
pub fn route(shared: &Shared, call: &Call, seg: &[&str]) -> Option<Response> {
    let envs = shared.world();
    let env = &envs[&call.env];
    let reply = match seg {
        ["projects", id_or_name] => match project(env, id_or_name) {
            Ok(p) => json_reply(StatusCode::OK, p.summary()),
            Err(r) => r,
        },
        ["projects", id, "languages"] => match project(env, id) {
            Ok(p) => json_reply(StatusCode::OK, languages(p)),
            Err(r) => r,
        },
        ["v2", "projects", id, "settings", "config"] => match project(env, id) {
            Ok(_) => json_reply(StatusCode::OK, catalogue(PROJECT_SETTINGS)),
            Err(r) => r,
        },
        ["v2", "projects", id, "settings"] => match project(env, id) {
            Ok(p) => json_reply(StatusCode::OK, values(&p.settings)),
            Err(r) => r,
        },
        ["v2", "iserver", "settings", "config"] => {
            json_reply(StatusCode::OK, catalogue(SERVER_SETTINGS))
        }
        ["v2", "iserver", "settings"] => json_reply(StatusCode::OK, values(&env.server_settings)),
        ["monitors", "iServer", "nodes"] => json_reply(StatusCode::OK, nodes(env, call)),
        _ => return None,
    };
    Some(reply)
}

/// A project by id, or (as `api/projects/{name}` takes it) by name.
fn project<'a>(env: &'a EnvData, id_or_name: &str) -> Result<&'a Project, Response> {
    env.project(id_or_name)
        .or_else(|| env.project_named(id_or_name))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "ERR004",
                &format!("Project {id_or_name} does not exist on this environment."),
            )
        })
}

/// `api/projects/{id}/languages`: the data and metadata languages are the project's locales
/// (locale 0 is the project's default).
fn languages(p: &Project) -> Value {
    let default = language_id(p.default_locale);
    let mut langs = Map::new();
    for l in p
        .locales
        .iter()
        .map(|&l| if l == 0 { p.default_locale } else { l })
    {
        langs.insert(language_id(l), json!({"name": language_name(l)}));
    }
    langs
        .entry(default.clone())
        .or_insert_with(|| json!({"name": language_name(p.default_locale)}));
    json!({
        "data": {"defaultLanguage": default, "currentMode": "none", "languages": langs},
        "metadata": {"default": default, "languages": langs},
    })
}

/// `api/monitors/iServer/nodes`: the one node and the projects on it (a project whose
/// status is 0 is loaded), filtered by `name` and `projects.id` as the server does.
fn nodes(env: &EnvData, call: &Call) -> Value {
    if call.query.get("name").is_some_and(|n| n != NODE) {
        return json!({"nodes": []});
    }
    let wanted = call.query.get("projects.id");
    let projects: Vec<Value> = env
        .projects
        .iter()
        .filter(|p| wanted.is_none_or(|id| *id == p.id))
        .map(|p| {
            let status = if p.status == 0 { "loaded" } else { "unloaded" };
            json!({"id": p.id, "name": p.name, "status": status})
        })
        .collect();
    json!({"nodes": [{
        "name": NODE,
        "port": 34952,
        "status": "running",
        "load": 0,
        "ipAddress": "127.0.0.1",
        "default": true,
        "projects": projects,
    }]})
}
