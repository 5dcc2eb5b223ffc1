//! What one emulated Strategy environment holds: its projects (with their objects), its
//! configuration objects (users, user groups, security roles: environment-wide, as in
//! Strategy's metadata), its sessions and its duplications; and how a package's contents are
//! imported under the conflict rules.

use super::duplication::Duplication;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// Strategy's object types (`EnumDSSXMLObjectTypes`) that the emulator knows.
pub mod types {
    pub const REPORT: i64 = 3;
    pub const METRIC: i64 = 4;
    pub const FOLDER: i64 = 8;
    pub const ATTRIBUTE: i64 = 12;
    pub const PROJECT: i64 = 32;
    /// users and user groups (subtypes [`USER`] and [`USER_GROUP`])
    pub const USER_OR_GROUP: i64 = 34;
    pub const SECURITY_ROLE: i64 = 44;
    pub const DASHBOARD: i64 = 55;
    pub const USER: i64 = 8704;
    pub const USER_GROUP: i64 = 8705;
}

/// The conflict rules of an import (`ProjectDuplicationRule`).
pub mod rules {
    pub const USE_EXISTING: i64 = 1;
    pub const REPLACE: i64 = 2;
    pub const MERGE: i64 = 6;
}

/// One object of a project or of the environment's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: i64,
    #[serde(default)]
    pub subtype: i64,
    pub name: String,
    /// users: their login (what `matchUsersByLogin` matches on)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// project objects: `public` or `profile:<login>` (a user's profile folder)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// the ids it uses: a report's metrics and attributes, a group's members, a role's
    /// users
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// users and roles: what MERGE unions (privileges, group memberships)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
    /// configuration objects: the projects they relate to (export rule 1)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<String>,
    /// free text that a REPLACE carries over and USE_EXISTING keeps
    #[serde(default)]
    pub description: String,
}

impl Object {
    pub fn is_schema(&self) -> bool {
        self.type_ == types::ATTRIBUTE
    }

    /// The kind as the dump names it.
    pub fn kind(&self) -> &'static str {
        match (self.type_, self.subtype) {
            (types::ATTRIBUTE, _) => "attribute",
            (types::METRIC, _) => "metric",
            (types::REPORT, _) => "report",
            (types::DASHBOARD, _) => "dashboard",
            (types::FOLDER, _) => "folder",
            (types::SECURITY_ROLE, _) => "security_role",
            (types::USER_OR_GROUP, types::USER_GROUP) => "user_group",
            (types::USER_OR_GROUP, _) => "user",
            _ => "object",
        }
    }
}

/// A large generated part of a project (a cube's data, say), held as a size and a seed:
/// it costs no memory, and a package streams it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub name: String,
    pub size: u64,
    /// where the bytes come from: the generator's seed (a seeded project), or nothing
    /// (an imported project keeps only what it was sent: size and digest)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: i64,
    #[serde(rename = "defaultLocale")]
    pub default_locale: i64,
    pub locales: Vec<i64>,
    pub objects: Vec<Object>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

impl Project {
    /// What `api/projects` and `api/monitors/projects` show.
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "alias": "",
            "owner": {"id": "54F3D26011D2896560009A8E67019608", "name": "Administrator"},
        })
    }
}

/// A signed-in session: its token, its cookie, and when it was last used.
pub struct Session {
    pub token: String,
    pub cookie: String,
    pub user: String,
    pub last: Instant,
}

/// Failures the admin API arms for an environment's next jobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobFaults {
    /// the exports started here fail at the end of exporting
    pub export_failed: bool,
    /// the imports run here fail at the end of importing
    pub import_failed: bool,
}

#[derive(Default)]
pub struct EnvData {
    pub projects: Vec<Project>,
    pub config: Vec<Object>,
    pub sessions: Vec<Session>,
    /// this environment's side of each duplication, by id, in creation order
    pub duplications: Vec<Duplication>,
    pub jobs: JobFaults,
    /// requests that changed something, for the stats
    pub writes: u64,
}

/// What a package (or a server-side sync) carries: the project as exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exported {
    pub project: Project,
    pub config: Vec<Object>,
}

/// How an import treats what it brings (from `settings.import`).
#[derive(Debug, Clone, Default)]
pub struct ImportSettings {
    pub description: Option<String>,
    pub default_locale: Option<i64>,
    pub locales: Option<Vec<i64>>,
    pub match_users_by_login: bool,
    /// object type → rule (1 use existing, 2 replace, 6 merge)
    pub conflict_rules: BTreeMap<i64, i64>,
}

impl ImportSettings {
    pub fn from_json(import: &Value) -> ImportSettings {
        let config = &import["configurationObjects"];
        ImportSettings {
            description: import["description"].as_str().map(str::to_string),
            default_locale: import["defaultLocale"].as_i64(),
            locales: import["locales"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect()),
            match_users_by_login: config["matchUsersByLogin"].as_bool().unwrap_or(false),
            conflict_rules: parse_rules(&config["conflictRules"]),
        }
    }
}

/// `[{type, rule}]` as a map.
pub fn parse_rules(v: &Value) -> BTreeMap<i64, i64> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| Some((r["type"].as_i64()?, r["rule"].as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

impl EnvData {
    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    pub fn project_named(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }

    /// Import `what` as the project `name` (into the project `into` when it names an
    /// existing one: its objects are then replaced or kept under the conflict rules).
    /// Configuration objects are matched by id (users also by login with
    /// `matchUsersByLogin`) and merged under the conflict rules; absent ones are created.
    pub fn import(
        &mut self,
        what: &Exported,
        name: &str,
        into: Option<&str>,
        s: &ImportSettings,
    ) -> String {
        let into = into.filter(|id| self.project(id).is_some());
        let target_id = into.map(str::to_string).unwrap_or_else(new_id);
        // What relates to the source project relates to its copy.
        let related = |ps: &[String]| -> Vec<String> {
            ps.iter()
                .map(|p| {
                    if *p == what.project.id {
                        target_id.clone()
                    } else {
                        p.clone()
                    }
                })
                .collect()
        };
        // Users matched by login take the target's id: references follow them.
        let mut renamed: BTreeMap<String, String> = BTreeMap::new();
        for obj in &what.config {
            let rule = s
                .conflict_rules
                .get(&obj.type_)
                .copied()
                .unwrap_or(rules::USE_EXISTING);
            let existing = self.config.iter_mut().find(|c| {
                c.id == obj.id
                    || (s.match_users_by_login
                        && obj.subtype == types::USER
                        && c.login.is_some()
                        && c.login == obj.login)
            });
            let obj = &Object {
                projects: related(&obj.projects),
                ..obj.clone()
            };
            match existing {
                None => self.config.push(obj.clone()),
                Some(c) => {
                    if c.id != obj.id {
                        renamed.insert(obj.id.clone(), c.id.clone());
                    }
                    match rule {
                        rules::REPLACE => {
                            let id = c.id.clone();
                            *c = Object { id, ..obj.clone() };
                        }
                        // MERGE is for users and security roles; other types fall back to
                        // USE_EXISTING, as Strategy does.
                        rules::MERGE
                            if obj.type_ == types::SECURITY_ROLE || obj.subtype == types::USER =>
                        {
                            for g in &obj.grants {
                                if !c.grants.contains(g) {
                                    c.grants.push(g.clone());
                                }
                            }
                            c.grants.sort();
                        }
                        _ => {}
                    }
                    for p in &obj.projects {
                        if !c.projects.contains(p) {
                            c.projects.push(p.clone());
                        }
                    }
                }
            }
        }
        let remap = |o: &Object| Object {
            refs: o
                .refs
                .iter()
                .map(|r| renamed.get(r).cloned().unwrap_or_else(|| r.clone()))
                .collect(),
            ..o.clone()
        };
        let incoming: Vec<Object> = what.project.objects.iter().map(remap).collect();
        if let Some(p) = self.projects.iter_mut().find(|p| p.id == target_id) {
            for obj in incoming {
                let rule = s
                    .conflict_rules
                    .get(&obj.type_)
                    .copied()
                    .unwrap_or(rules::REPLACE);
                match p.objects.iter_mut().find(|o| o.id == obj.id) {
                    None => p.objects.push(obj),
                    Some(o) if rule == rules::REPLACE => *o = obj,
                    Some(_) => {}
                }
            }
            if let Some(d) = &s.description {
                p.description = d.clone();
            }
            if what.project.payload.is_some() {
                p.payload = what.project.payload.clone();
            }
            return target_id;
        }
        self.projects.push(Project {
            id: target_id.clone(),
            name: name.to_string(),
            description: s
                .description
                .clone()
                .unwrap_or_else(|| what.project.description.clone()),
            status: 0,
            default_locale: s.default_locale.unwrap_or(what.project.default_locale),
            locales: s
                .locales
                .clone()
                .unwrap_or_else(|| what.project.locales.clone()),
            objects: incoming,
            payload: what.project.payload.clone(),
        });
        target_id
    }
}

/// A Strategy object id: 32 upper-case hex digits.
pub fn new_id() -> String {
    format!("{:016X}{:016X}", fastrand::u64(..), fastrand::u64(..))
}
