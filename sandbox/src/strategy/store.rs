//! What one emulated Strategy environment holds: its projects (with their objects), its
//! configuration objects (users, user groups, security roles: environment-wide, as in
//! Strategy's metadata), its sessions and its duplications (each side's record and status);
//! and how a package's contents are imported under the conflict rules.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

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
    /// the project's alias (what `api/projects/{name}` shows); a duplication carries it
    #[serde(default)]
    pub alias: String,
    /// the project's settings by name (`api/v2/projects/{id}/settings`); a duplication
    /// carries them
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
}

impl Project {
    /// What `api/projects` and `api/monitors/projects` show.
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "alias": self.alias,
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
    /// the server's settings by name (`api/v2/iserver/settings`)
    pub server_settings: BTreeMap<String, Value>,
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
    /// object type → rule (1 use existing, 2 replace, 6 merge); type 5 is the default of
    /// configuration objects
    pub conflict_rules: BTreeMap<i64, i64>,
}

impl ImportSettings {
    /// From a duplication's `settings`: the conflict rules of `import.configurationObjects`,
    /// and for a type it does not name, those of `export.configurationObjects` (where the
    /// SDK puts the same list). A rule that is not 1, 2 or 6 is refused, naming where.
    pub fn from_settings(settings: &Value) -> Result<ImportSettings, String> {
        let import = &settings["import"];
        let config = &import["configurationObjects"];
        let mut conflict_rules = BTreeMap::new();
        for at in ["export", "import"] {
            let v = &settings[at]["configurationObjects"]["conflictRules"];
            for (t, r) in parse_rules(v) {
                if ![rules::USE_EXISTING, rules::REPLACE, rules::MERGE].contains(&r) {
                    return Err(format!(
                        "settings.{at}.configurationObjects.conflictRules: the rule for type {t} \
                         is {r}; conflict rules are 1 (use existing), 2 (replace), 6 (merge)"
                    ));
                }
                // The import's own list wins: it is read last.
                conflict_rules.insert(t, r);
            }
        }
        Ok(ImportSettings {
            description: import["description"].as_str().map(str::to_string),
            default_locale: import["defaultLocale"].as_i64(),
            locales: import["locales"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect()),
            match_users_by_login: config["matchUsersByLogin"].as_bool().unwrap_or(false),
            conflict_rules,
        })
    }

    /// The locales an import asks for, where 0 (what Strategy's SDK sends by default) is the
    /// source project's own.
    fn locales_of(&self, asked: &[i64], source: &Project) -> Vec<i64> {
        let mut out: Vec<i64> = vec![];
        for l in asked {
            let these = if *l == 0 {
                &source.locales[..]
            } else {
                std::slice::from_ref(l)
            };
            for l in these {
                if !out.contains(l) {
                    out.push(*l);
                }
            }
        }
        out
    }

    /// The conflict rule of a configuration object: its type's, else type 5's (the default
    /// the docs give for all configuration objects), else use existing.
    fn config_rule(&self, o: &Object) -> i64 {
        self.conflict_rules
            .get(&o.type_)
            .or_else(|| self.conflict_rules.get(&5))
            .copied()
            .unwrap_or(rules::USE_EXISTING)
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

    /// Import `what` as the project `name`: into the project `into` when it names an existing
    /// one (its objects are then replaced or kept under the conflict rules), else as a new
    /// project with the id `into` asks for (`keep_id`) or a new one.
    /// Configuration objects are matched by id (users also by login with
    /// `matchUsersByLogin`) and merged under the conflict rules; absent ones are created.
    pub fn import(
        &mut self,
        what: &Exported,
        name: &str,
        into: Option<&str>,
        s: &ImportSettings,
    ) -> String {
        // An id that names no project here is kept for the new one (`keep_id`).
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
            let rule = s.config_rule(obj);
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
        // Groups and roles name their users by id: the ones matched by login are the target's.
        for c in self.config.iter_mut() {
            for r in c.refs.iter_mut() {
                if let Some(to) = renamed.get(r) {
                    *r = to.clone();
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
            p.settings = what.project.settings.clone();
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
            default_locale: s
                .default_locale
                .filter(|l| *l != 0)
                .unwrap_or(what.project.default_locale),
            locales: s
                .locales
                .as_ref()
                .map(|ls| s.locales_of(ls, &what.project))
                .unwrap_or_else(|| what.project.locales.clone()),
            objects: incoming,
            payload: what.project.payload.clone(),
            alias: what.project.alias.clone(),
            settings: what.project.settings.clone(),
        });
        target_id
    }
}

/// A Strategy object id: 32 upper-case hex digits.
pub fn new_id() -> String {
    format!("{:016X}{:016X}", fastrand::u64(..), fastrand::u64(..))
}

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
    /// a duplication within one environment (`Project.duplicate`): it exports, then imports
    /// into the same environment
    Local,
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
    pub(super) fn set(&mut self, status: Status, progress: u8, at: Instant) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::duplication::export;
    use crate::strategy::seed;

    fn demo() -> EnvData {
        let mut env = EnvData::default();
        seed::base(&mut env);
        seed::fill(&mut env, &seed::Seed::Demo);
        env
    }

    fn named<'a>(env: &'a EnvData, name: &str) -> &'a Object {
        env.config.iter().find(|o| o.name == name).unwrap()
    }

    fn alice_id(env: &EnvData) -> String {
        let alice = env
            .config
            .iter()
            .find(|o| o.login.as_deref() == Some("alice"));
        alice.unwrap().id.clone()
    }

    fn rules(pairs: &[(i64, i64)]) -> Value {
        Value::Array(
            pairs
                .iter()
                .map(|(t, r)| json!({"type": t, "rule": r}))
                .collect(),
        )
    }

    #[test]
    fn export_rules_select_configuration_objects() {
        let env = demo();
        let tutorial = env.project_named("Tutorial").unwrap().id.clone();
        let names = |settings: Value| -> Vec<String> {
            let mut n: Vec<String> = export(&env, &tutorial, &settings)
                .unwrap()
                .config
                .iter()
                .map(|o| o.name.clone())
                .collect();
            n.sort();
            n
        };
        // 1 (the default): what relates to the project.
        assert_eq!(
            names(json!({})),
            ["Alice Analyst", "Analyst", "Analysts", "Bob Builder"]
        );
        // 0 for users and groups; roles still by their default.
        let none = json!({"export": {"configurationObjects": {"rules": rules(&[(34, 0)])}}});
        assert_eq!(names(none), ["Analyst"]);
        // 2: the ids in `objects`.
        let carol = named(&env, "Carol Outsider").id.clone();
        let selected = json!({"export": {"configurationObjects": {
            "rules": rules(&[(34, 2)]), "objects": [carol]}}});
        assert_eq!(names(selected), ["Analyst", "Carol Outsider"]);
        // The SDK's `conflictRules` beside them are conflict rules: REPLACE and MERGE
        // select nothing away.
        let conflict = json!({"export": {"configurationObjects": {
            "conflictRules": rules(&[(34, 2), (44, 6)])}}});
        assert_eq!(
            names(conflict),
            ["Alice Analyst", "Analyst", "Analysts", "Bob Builder"]
        );
        // 3 on type 5, the default: all; 34 overrides it.
        let all = json!({"export": {"configurationObjects": {"rules": rules(&[(5, 3)])}}});
        assert_eq!(names(all).len(), 9);
        let no_users =
            json!({"export": {"configurationObjects": {"rules": rules(&[(5, 3), (34, 0)])}}});
        assert_eq!(names(no_users), ["Analyst", "Sales Viewer"]);
        // includeAllUserGroups adds every group whatever the rule.
        let groups = json!({"export": {"configurationObjects": {
            "rules": rules(&[(34, 0)]), "includeAllUserGroups": true}}});
        assert_eq!(
            names(groups),
            ["Analyst", "Analysts", "Auditors", "Everyone"]
        );
        for (bad, says) in [
            (rules(&[(34, 6)]), "type 34 is 6"),
            (rules(&[(5, 2)]), "type 5 (the default) is 2"),
            (rules(&[(44, 0)]), "type 44 takes no export rule"),
        ] {
            let bad = json!({"export": {"configurationObjects": {"rules": bad}}});
            let e = export(&env, &tutorial, &bad).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn conflict_rules_come_from_the_import_then_the_export_and_type_5_is_the_default() {
        let s = |v: Value| ImportSettings::from_settings(&v);
        let both = s(json!({
            "export": {"configurationObjects": {"conflictRules": rules(&[(34, 6), (44, 2)])}},
            "import": {"configurationObjects": {"conflictRules": rules(&[(44, 1), (5, 2)])}},
        }))
        .unwrap();
        assert_eq!(
            both.conflict_rules,
            [(5, 2), (34, 6), (44, 1)].into_iter().collect()
        );
        let env = demo();
        assert_eq!(both.config_rule(named(&env, "Analyst")), 1);
        assert_eq!(both.config_rule(named(&env, "Alice Analyst")), 6);
        let default = s(json!({"import": {"configurationObjects": {
            "conflictRules": rules(&[(5, 2)])}}}))
        .unwrap();
        assert_eq!(default.config_rule(named(&env, "Analyst")), 2);
        assert_eq!(s(json!({})).unwrap().config_rule(named(&env, "Analyst")), 1);
        let e = s(json!({"import": {"configurationObjects": {
            "conflictRules": rules(&[(34, 3)])}}}))
        .unwrap_err();
        assert!(
            e.contains("settings.import.configurationObjects.conflictRules") && e.contains("3"),
            "{e}"
        );
    }

    #[test]
    fn import_conflict_rules_and_matching_by_login() {
        let source = demo();
        let tutorial = source.project_named("Tutorial").unwrap().id.clone();
        let what = export(&source, &tutorial, &json!({})).unwrap();
        // The target has its own alice (another id, one grant) and the same Analyst role.
        let target = || {
            let mut t = EnvData::default();
            seed::base(&mut t);
            let mut alice = named(&source, "Alice Analyst").clone();
            alice.id = new_id();
            alice.grants = vec!["export-data".into()];
            alice.description = "PROD's alice".into();
            t.config.push(alice);
            let mut role = named(&source, "Analyst").clone();
            role.grants = vec!["approve".into()];
            t.config.push(role);
            t
        };
        let settings = |by_login: bool, users: i64, roles: i64| ImportSettings {
            match_users_by_login: by_login,
            conflict_rules: [(34, users), (44, roles)].into_iter().collect(),
            ..Default::default()
        };
        let alices = |t: &EnvData| {
            t.config
                .iter()
                .filter(|o| o.login.as_deref() == Some("alice"))
                .count()
        };

        // By id (the default), PROD's alice is another user: a second alice arrives.
        let mut t = target();
        t.import(&what, "Tutorial", None, &settings(false, 1, 1));
        assert_eq!(alices(&t), 2);
        // use existing: the role keeps PROD's grants.
        assert_eq!(named(&t, "Analyst").grants, ["approve"]);

        // By login: one alice; use existing keeps PROD's, and references follow her id.
        let mut t = target();
        t.import(&what, "Tutorial", None, &settings(true, 1, 6));
        assert_eq!(alices(&t), 1);
        let prod_alice = t
            .config
            .iter()
            .find(|o| o.login.as_deref() == Some("alice"))
            .unwrap()
            .clone();
        assert_eq!(prod_alice.description, "PROD's alice");
        assert!(named(&t, "Analysts").refs.contains(&prod_alice.id));
        // merge: the role's grants are the union.
        assert_eq!(
            named(&t, "Analyst").grants,
            ["approve", "run-reports", "use-dashboards"]
        );

        // replace: the source's alice overwrites PROD's, keeping PROD's id.
        let mut t = target();
        let kept = alice_id(&t);
        t.import(&what, "Tutorial", None, &settings(true, 2, 2));
        let a = t
            .config
            .iter()
            .find(|o| o.login.as_deref() == Some("alice"))
            .unwrap();
        assert_eq!((a.id.as_str(), a.description.as_str()), (kept.as_str(), ""));
        assert_eq!(a.grants, ["run-reports", "use-dashboards"]);
        assert_eq!(
            named(&t, "Analyst").grants,
            ["run-reports", "use-dashboards"]
        );
    }
}
