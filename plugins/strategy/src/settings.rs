//! The run's options as a duplication's `settings` (what the export takes, how the import
//! treats what the target has), checked with errors that name the option.

use ferry_sdk::prelude::*;

/// Strategy's object types the settings name.
const USERS_AND_GROUPS: i64 = 34;
const SECURITY_ROLES: i64 = 44;
/// A project's own objects: reports, metrics, folders, attributes, dashboards.
const PROJECT_OBJECTS: [i64; 5] = [3, 4, 8, 12, 55];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// the servers move the package (the source's storage service syncs it to the target)
    Sync,
    /// ferry downloads the package from the source and restores it on the target
    Package,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Package => "package",
        }
    }
}

impl Settings {
    /// The import's description: the option's, else the project's own (what the target
    /// wants it to be, rules applied), so that the copy keeps it.
    pub(crate) fn describe(&mut self, project_description: &str) {
        let d = &mut self.body["import"]["description"];
        if d.as_str().is_none_or(str::is_empty) {
            *d = json!(project_description);
        }
    }
}

pub(crate) struct Settings {
    pub mode: Mode,
    /// the duplication body's `settings`
    pub body: Value,
    pub poll_max_ms: u32,
    pub timeout_s: u64,
    pub max_file_size: u64,
    pub source_url: String,
    pub target_url: String,
}

fn option<'a>(ctx: &'a Ctx, name: &str) -> &'a str {
    ctx.option(name).unwrap_or("")
}

fn integer(ctx: &Ctx, name: &str) -> Result<i64> {
    option(ctx, name).parse().map_err(|_| {
        Error::Invalid(format!(
            "--option {name}: {:?} is not a number",
            option(ctx, name)
        ))
    })
}

/// A conflict rule by its name: 1 use existing, 2 replace, 6 merge (users and roles only).
fn rule(ctx: &Ctx, name: &str, merge: bool) -> Result<i64> {
    match option(ctx, name) {
        "use-existing" => Ok(1),
        "replace" => Ok(2),
        "merge" if merge => Ok(6),
        other => Err(Error::Invalid(format!(
            "--option {name}={other}: use use-existing or replace{}",
            if merge { " or merge" } else { "" }
        ))),
    }
}

/// An environment's id as Strategy's duplication bodies give it: its Library URL.
fn environment(ctx: &Ctx, side: &str) -> Result<String> {
    let url = option(ctx, &format!("ferry.{side}-url")).trim_end_matches('/');
    if url.is_empty() {
        return Err(Error::Fatal(format!(
            "the host did not say the {side}'s URL"
        )));
    }
    Ok(url.to_string())
}

/// The settings of a duplication into a new project, or (`updating`) into an existing one.
/// From a package (`ferry.source-package`) the mode is always `package`: the source's server
/// is not there for the target's to pull from.
pub(crate) fn from_ctx(ctx: &Ctx, updating: bool) -> Result<Settings> {
    let mode = if option(ctx, "ferry.source-package").is_empty() {
        match option(ctx, "mode") {
            "sync" => Mode::Sync,
            "package" => Mode::Package,
            other => {
                return Err(Error::Invalid(format!(
                    "--option mode={other}: use sync or package"
                )));
            }
        }
    } else {
        Mode::Package
    };
    build(ctx, updating, mode, environment(ctx, "target")?)
}

/// What an export's job names as its target environment: an export has none, and the
/// server takes a job whose two environments are one for a same-environment duplication.
/// Nothing is sent to it (manual mode: the package is downloaded, a restore restores it
/// through the real target's `restoration`).
pub(crate) const EXPORT_TARGET: &str = "ferry-package";

/// The settings of an export's job (`ferry export`): the source's half only.
pub(crate) fn for_export(ctx: &Ctx) -> Result<Settings> {
    build(ctx, false, Mode::Package, EXPORT_TARGET.into())
}

fn build(ctx: &Ctx, updating: bool, mode: Mode, target_url: String) -> Result<Settings> {
    let (skip_empty, skip_all) = match option(ctx, "profile-folders") {
        "keep" => (false, false),
        "skip-empty" => (true, false),
        "skip-all" => (true, true),
        other => {
            return Err(Error::Invalid(format!(
                "--option profile-folders={other}: use keep, skip-empty or skip-all"
            )));
        }
    };
    let users = integer(ctx, "users")?;
    if !(0..=3).contains(&users) {
        return Err(Error::Invalid(format!(
            "--option users={users}: 0 none, 1 the project's, 2 selected, 3 all"
        )));
    }
    let mut conflict = vec![
        json!({"type": USERS_AND_GROUPS, "rule": rule(ctx, "existing-users", true)?}),
        json!({"type": SECURITY_ROLES, "rule": rule(ctx, "existing-roles", true)?}),
    ];
    let objects = rule(ctx, "existing-objects", false)?;
    if updating {
        conflict.extend(
            PROJECT_OBJECTS
                .iter()
                .map(|t| json!({"type": t, "rule": objects})),
        );
    }
    // The keys Strategy's SDK sends, always: 0 is the source's locale, and the description
    // is the source project's (see `Settings::describe`) unless the option gives one.
    let mut import = json!({
        "description": option(ctx, "description"),
        "defaultLocale": 0,
        "locales": [0],
        "configurationObjects": {
            "matchUsersByLogin": ctx.flag("match-users-by-login"),
            "conflictRules": conflict,
        },
    });
    let locales = option(ctx, "locales");
    if !locales.trim().is_empty() {
        let list = locales
            .split(',')
            .map(|l| l.trim().parse::<i64>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::Invalid(format!(
                    "--option locales={locales}: a comma-separated list of locale ids (1033,1036)"
                ))
            })?;
        import["defaultLocale"] = json!(list[0]);
        import["locales"] = json!(list);
    }
    let body = json!({
        "export": {
            "projectObjectsPreference": {
                "schemaObjectsOnly": ctx.flag("schema-objects-only"),
                "skipEmptyProfileFolders": skip_empty,
                "skipAllProfileFolders": skip_all,
            },
            "subscriptionPreferences": {
                "includeUserSubscriptions": true,
                "includeContactSubscriptions": true,
                "includeContactsAndContactGroups": false,
            },
            // The conflict rules here too, as Strategy's SDK sends them.
            "configurationObjects": {
                "includeAllUserGroups": ctx.flag("include-all-user-groups"),
                "conflictRules": conflict,
            },
        },
        "import": import,
    });
    let mut body = body;
    // The docs' selection rule for users and groups; 1 (the project's) is the server's
    // default, so it is sent only when another is asked for.
    if users != 1 {
        body["export"]["configurationObjects"]["rules"] =
            json!([{"type": USERS_AND_GROUPS, "rule": users}]);
    }
    let poll_max_s = integer(ctx, "poll-max-s")?;
    let timeout_s = integer(ctx, "job-timeout-s")?;
    if poll_max_s < 1 || timeout_s < 1 {
        return Err(Error::Invalid(
            "--option poll-max-s and job-timeout-s must be at least 1".into(),
        ));
    }
    Ok(Settings {
        mode,
        body,
        poll_max_ms: (poll_max_s.min(3600) * 1000) as u32,
        timeout_s: timeout_s as u64,
        max_file_size: option(ctx, "max-file-size").parse().unwrap_or(u64::MAX),
        source_url: environment(ctx, "source")?,
        target_url,
    })
}
