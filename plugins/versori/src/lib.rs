//! Ferry's Versori pack: one kind, `environment`, keyed by name.
//!
//! - Within one project (source and target name the same organisation and project), `create`
//!   is Versori's own clone call (`environments/clone`) and `update` syncs the deployed
//!   version (`environments/sync`) and the config (`same_project.rs`).
//! - Across projects and organisations, which that call cannot do, `create` makes the
//!   environment in the target project and copies what can be copied (`cross_project.rs`):
//!   config and execution pool, the variables schema (merged), systems (matched or made),
//!   connection templates, static connections (linked within one organisation; elsewhere
//!   reported as credentials needed, their secrets being unreadable), static variables, and
//!   the deployed version, deployed unless a connection is missing.
//!
//! From a package (`ferry export`, then `--from-package`), a restore always fills the
//! environment as across projects: the package holds what that reads of the source.
//!
//! `list` gives each source environment with what a clone copies (`env.rs`), so that rules
//! and hooks can rewrite any of it (a system's `templateBaseUrl`, a static variable).

mod cross_project;
mod env;
mod same_project;

use ferry_sdk::prelude::*;

#[derive(Default)]
pub struct Environment;

pub fn info() -> KindInfo {
    KindInfo::new("environment", "Versori environments of a project")
        .key(["/name"])
        .with_files()
        // Whether it is running is the target's own state, labels no call can set, and the
        // times the server keeps: none is configuration a clone could make equal.
        .not_compared([
            "status",
            "/labels",
            "createdAt",
            "updatedAt",
            "lastDeployedAt",
        ])
        .deletes()
}

impl Kind for Environment {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, ctx: &Ctx) -> Result<Vec<Resource>> {
        let sides = env::Sides::of(ctx)?;
        env::listed(ctx, &sides)
    }

    fn find(&self, ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let sides = env::Sides::of(ctx)?;
        let project = env::project(Side::Target, &sides.target_project)?;
        let name = wanted.str("/name");
        let envs = project["environments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(e) = envs.iter().find(|e| e["name"].as_str() == Some(name)) {
            let mut found = env::summary(e);
            if withheld_deploy(ctx, &sides, wanted, &found)? {
                // Not deployed because this run does not deploy it (the option, or
                // connections that must be made first, which the report names): not a
                // difference the run could close, so not one it reports.
                if let Some(b) = found.body.as_object_mut() {
                    b.remove("deployedVersion");
                }
            }
            return Ok(Some(found));
        }
        // The cap is known before any write: the plan fails, naming it.
        if envs.len() >= env::MAX_ENVIRONMENTS {
            return Err(Error::Invalid(format!(
                "project {:?} already has {} environments, Versori's maximum: environment {name:?} cannot be made (delete one, or pick an existing name)",
                project["name"].as_str().unwrap_or(""),
                envs.len()
            )));
        }
        // So is the pool it would run on.
        env::pool(ctx, wanted)?;
        Ok(None)
    }

    fn create(&self, ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let sides = env::Sides::of(ctx)?;
        if sides.same_project() {
            same_project::create(ctx, &sides, res)
        } else {
            cross_project::fill(ctx, &sides, res, None)
        }
    }

    fn update(&self, ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let sides = env::Sides::of(ctx)?;
        if sides.same_project() {
            same_project::update(&sides, res)
        } else {
            cross_project::fill(ctx, &sides, res, Some(target_id))
        }
    }

    /// `ferry export`: what a fill across projects reads of the source beyond the listing
    /// (the project's variables schema, the deployed version's files), kept in the package.
    fn export(&self, ctx: &Ctx, res: &Resource) -> Result<Value> {
        let sides = env::Sides::of(ctx)?;
        let sp = &sides.source_project;
        http::get(Side::Source, &format!("projects/{sp}/variables"), &[])?.ok()?;
        let mut files = 0;
        if let Some(vid) = res.body["deployedVersion"]["id"].as_str() {
            let f = http::get(
                Side::Source,
                &format!("projects/{sp}/versions/{vid}/files"),
                &[],
            )?
            .ok()?
            .json()?;
            files = f["files"].as_array().map_or(0, Vec::len);
        }
        Ok(json!({"variables_schema": true, "deployed_files": files}))
    }

    /// Versori's environment delete (`POST projects/{id}/environments/{envId}`), in the target
    /// project: its connection templates go with it. Systems are the organisation's, shared
    /// by other environments, and versions are the project's: both stay.
    fn delete(&self, ctx: &Ctx, target: &Resource) -> Result<()> {
        let sides = env::Sides::of(ctx)?;
        let path = format!(
            "projects/{}/environments/{}",
            sides.target_project, target.id
        );
        // The document's delete takes no body.
        http::request(
            Side::Target,
            http::Method::Post,
            &path,
            &[],
            &[],
            http::Body::Empty,
        )?
        .ok()?;
        Ok(())
    }

    /// What the clone did, as the report's `files` entry: copied, linked, made, skipped,
    /// and the credentials the target still needs.
    fn copy_files(&self, ctx: &Ctx, source: &Resource, target: &Resource) -> Result<Value> {
        if let Some(done) = target.body.get("clone") {
            return Ok(done.clone());
        }
        // Adopted, nothing written. Across organisations, the connections the target still
        // lacks are reported again, on every run until they exist.
        let sides = env::Sides::of(ctx)?;
        if sides.same_org() {
            return Ok(json!({}));
        }
        let needed = cross_project::still_needed(&sides, source, target)?;
        Ok(json!({"mode": "cross-organisation", "adopted": true, "credentials_needed": needed}))
    }
}

/// Whether the target environment lacks the source's deployed version because a fill
/// withholds the deploy: `--option deploy=false`, or across organisations a static
/// connection still missing.
fn withheld_deploy(
    ctx: &Ctx,
    sides: &env::Sides,
    wanted: &Resource,
    found: &Resource,
) -> Result<bool> {
    let lacking = wanted.body["deployedVersion"]["name"].is_string()
        && found.body["deployedVersion"].is_null();
    if !lacking || sides.same_project() {
        return Ok(false);
    }
    if !ctx.flag("deploy") {
        return Ok(true);
    }
    Ok(!sides.same_org() && !cross_project::still_needed(sides, wanted, found)?.is_empty())
}

ferry_sdk::export_cloner!(Environment);
