//! Ferry's Strategy (MicroStrategy) pack: one kind, `project`, keyed by name. A project is
//! not copied object by object: the Library server duplicates it with an asynchronous job
//! (`api/projectDuplications`), which this plugin starts, follows and, when the run is
//! interrupted, cancels (`job.rs`). The run's options become the job's settings
//! (`settings.rs`).
//!
//! - `list` reads the source's projects; `find` looks for one of the same name on the target.
//! - `create` duplicates the project into the target under its (renamed) name.
//! - `update` (`--on-name-conflict update`) duplicates it into the existing target project:
//!   its objects go through the conflict rules (`--option existing-objects`).
//! - `export` (`ferry export`) runs the source's half of a duplication and downloads its
//!   package into ferry's; restoring that, `create` and `update` restore it through the
//!   target's `restoration` (package mode, always, from a package).
//! - `copy-files` reports the job: its ids, the statuses each side went through, the server's
//!   times, the package (package mode) and the settings used.

mod job;
mod settings;

use ferry_sdk::prelude::*;

#[derive(Default)]
pub struct Project;

fn info() -> KindInfo {
    KindInfo::new(
        "project",
        "Strategy projects, duplicated by server-side jobs",
    )
    .key(["/name"])
    .with_files()
    // A project as listed is a summary: its objects are not shown, so it cannot be compared
    // field by field, and an update always duplicates again.
    .not_comparable()
    .deletes()
}

/// A project as its environment lists it.
fn resource(p: &Value) -> Resource {
    let body = json!({
        "id": p["id"],
        "name": p["name"],
        "description": p["description"],
        "status": p["status"],
    });
    Resource::from_body(&info(), "/id", body)
}

fn projects(side: Side) -> Result<Vec<Value>> {
    let v = http::get(side, "projects", &[])?.ok()?.json()?;
    v.as_array()
        .cloned()
        .ok_or_else(|| Error::Invalid("api/projects did not answer a list".into()))
}

/// The source project's own name: rules may have renamed the resource's.
fn source_name(res: &Resource) -> Result<String> {
    projects(Side::Source)?
        .into_iter()
        .find(|p| p["id"].as_str() == Some(res.id.as_str()))
        .and_then(|p| p["name"].as_str().map(str::to_string))
        .ok_or_else(|| Error::NotFound(format!("the source has no project {}", res.id)))
}

/// Duplicate `res` (a source project, renamed as the target wants it) into the target,
/// into the project `into` when given.
fn duplicate(ctx: &Ctx, res: &Resource, into: Option<&str>) -> Result<Resource> {
    let mut settings = settings::from_ctx(ctx, into.is_some())?;
    settings.describe(res.str("/description"));
    // keep-id: a new project takes the source's id (Strategy's `keep_id`); an update fills
    // the target's project of that name, whatever its id.
    let into = into.or(ctx.flag("keep-id").then_some(res.id.as_str()));
    let name = res.str("/name");
    let source_name = source_name(res)?;
    let mut job = job::Job::new(&settings, (&res.id, &source_name), name, into);
    let done = job.run()?;
    let made = projects(Side::Target)?
        .into_iter()
        .find(|p| {
            p["id"].as_str() == Some(done.project_id.as_str()) || p["name"].as_str() == Some(name)
        })
        .ok_or_else(|| {
            Error::Fatal(format!(
                "duplication {} completed, but the target has no project {name:?}",
                done.summary["id"]
            ))
        })?;
    let mut made = resource(&made);
    made.body["duplication"] = done.summary;
    Ok(made)
}

impl Kind for Project {
    fn info(&self) -> KindInfo {
        info()
    }

    /// `DELETE api/projects/{id}` on the target: the project and its objects.
    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        http::delete(Side::Target, &format!("projects/{}", target.id))?.ok()?;
        Ok(())
    }

    /// `ferry export`: the source's half of a duplication, its package saved by the host
    /// (package mode); a restore replays it and restores the package on its target.
    fn export(&self, ctx: &Ctx, res: &Resource) -> Result<Value> {
        let mut settings = settings::for_export(ctx)?;
        settings.describe(res.str("/description"));
        let name = source_name(res)?;
        job::Job::new(&settings, (&res.id, &name), &name, None).export()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        Ok(projects(Side::Source)?.iter().map(resource).collect())
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let name = wanted.str("/name");
        Ok(projects(Side::Target)?
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .map(resource))
    }

    fn create(&self, ctx: &Ctx, res: &Resource) -> Result<Resource> {
        duplicate(ctx, res, None)
    }

    fn update(&self, ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        duplicate(ctx, res, Some(target_id))
    }

    /// The job's summary as the report's `files` entry (package mode: the package moved).
    fn copy_files(&self, _ctx: &Ctx, _source: &Resource, target: &Resource) -> Result<Value> {
        let job = &target.body["duplication"];
        let mut report = json!({"duplication": job});
        if let Some(p) = job.get("package") {
            report["moved"] = json!([{"name": format!("{}.projdup", job["id"].as_str().unwrap_or("")), "bytes": p["bytes"], "sha256": p["sha256"]}]);
        }
        Ok(report)
    }
}

ferry_sdk::export_cloner!(Project);
