//! The two sides as the host describes them, and an environment as the pack lists it: its
//! own fields, its static variables and its connection templates with their systems.

use ferry_sdk::prelude::*;

/// Versori's cap on environments per project.
pub(crate) const MAX_ENVIRONMENTS: usize = 5;

pub(crate) struct Sides {
    pub source_url: String,
    pub target_url: String,
    pub source_org: String,
    pub target_org: String,
    pub source_project: String,
    pub target_project: String,
    /// the source is a package (`ferry.source-package`): its server is not there to copy
    /// from, so Versori's own clone and sync calls are out
    pub from_package: bool,
}

fn told(ctx: &Ctx, name: &str) -> Result<String> {
    ctx.option(name)
        .map(str::to_string)
        .ok_or_else(|| Error::Fatal(format!("the host did not say {name}")))
}

impl Sides {
    pub(crate) fn of(ctx: &Ctx) -> Result<Sides> {
        Ok(Sides {
            source_url: told(ctx, "ferry.source-url")?
                .trim_end_matches('/')
                .to_string(),
            // An export has no target: its calls (list, export) need none.
            target_url: ctx
                .option("ferry.target-url")
                .unwrap_or("")
                .trim_end_matches('/')
                .to_string(),
            source_org: told(ctx, "ferry.source-param.org")?,
            target_org: ctx
                .option("ferry.target-param.org")
                .unwrap_or("")
                .to_string(),
            source_project: told(ctx, "ferry.source-param.project")?,
            target_project: ctx
                .option("ferry.target-param.project")
                .unwrap_or("")
                .to_string(),
            from_package: ctx.option("ferry.source-package").is_some(),
        })
    }
    pub(crate) fn same_org(&self) -> bool {
        self.source_url == self.target_url && self.source_org == self.target_org
    }
    pub(crate) fn same_project(&self) -> bool {
        self.same_org() && self.source_project == self.target_project && !self.from_package
    }
}

pub(crate) fn project(side: Side, id: &str) -> Result<Value> {
    http::get(side, &format!("projects/{id}"), &[])?
        .ok()?
        .json()
}

pub(crate) fn cursor() -> Paging {
    Paging::Cursor(http::CursorPaging {
        param: "after".into(),
        next: "/next".into(),
        items: "/items".into(),
    })
}

/// An environment as `find` answers it: what a re-run compares.
pub(crate) fn summary(e: &Value) -> Resource {
    let body = json!({
        "id": e["id"],
        "name": e["name"],
        "status": e["status"],
        "executionPool": e["executionPool"],
        "config": e["config"],
        "labels": e["labels"],
        // As the listing has it (an object), so that `ferry diff` compares the names.
        "deployedVersion": e.get("deployedVersion").filter(|v| !v.is_null()).map(|v| json!({"name": v["name"]})),
    });
    Resource::from_body(&crate::info(), "/id", body)
}

/// Every environment of the source project, with what a clone copies.
pub(crate) fn listed(ctx: &Ctx, sides: &Sides) -> Result<Vec<Resource>> {
    let p = project(Side::Source, &sides.source_project)?;
    let envs = p["environments"].as_array().cloned().unwrap_or_default();
    let mut out = vec![];
    for e in envs {
        let id = require_str(&e, "/id", "an environment of the source project")?.to_string();
        let path = format!("projects/{}/connection-templates", sides.source_project);
        let templates = http::list_all(Side::Source, &path, &[("env_id", &id)], cursor())?;
        let path = format!("projects/{}/connections", sides.source_project);
        let connections = http::list_all(Side::Source, &path, &[("env_id", &id)], cursor())?;
        let activations = http::get(
            Side::Source,
            &format!("environments/{id}/activations"),
            &[("static", "true")],
        )?
        .ok()?
        .json()?;
        let variables = activations
            .as_array()
            .and_then(|a| a.first())
            .map(|a| a["dynamicVariables"].clone())
            .unwrap_or(json!({}));
        let systems: Vec<Value> = templates
            .iter()
            .map(|t| {
                let connection = connections
                    .iter()
                    .find(|c| c["connectionTemplateId"] == t["connectionTemplateId"])
                    .map(|c| json!({"id": c["id"], "name": c["name"]}));
                json!({
                    "name": t["name"],
                    "dynamic": t["dynamic"],
                    "system": {
                        // A template's `id` is its system's (the document has no systemId).
                        "id": t["id"],
                        "name": null,
                        "domain": t["domain"],
                        "templateBaseUrl": t["templateBaseUrl"],
                        "authSchemeConfigs": t["authSchemeConfigs"],
                    },
                    "connection": connection,
                })
            })
            .collect();
        // The systems' own names (the template carries the SDK name).
        let mut systems = systems;
        let paths = systems
            .iter()
            .map(|s| {
                Ok(format!(
                    "systems/{}",
                    require_str(s, "/system/id", "a connection template")?
                ))
            })
            .collect::<Result<Vec<String>>>()?;
        // A System has no labels in the document; a rule may still set `labels` on one,
        // which SystemCreate takes.
        for (s, sys) in systems.iter_mut().zip(http::get_all(Side::Source, &paths)?) {
            s["system"]["name"] = sys["name"].clone();
        }
        // The pool as the run would set it (`--option execution-pool`), so that an adopt
        // does not report the option's own effect as a difference.
        let pool = match ctx.option("execution-pool").unwrap_or("") {
            "" => e["executionPool"].clone(),
            p => json!(p),
        };
        let body = json!({
            "id": e["id"],
            "name": e["name"],
            "status": e["status"],
            "executionPool": pool,
            "config": e["config"],
            "labels": e["labels"],
            "variables": variables,
            "templates": systems,
            "deployedVersion": e.get("deployedVersion").map(|v| json!({"id": v["id"], "name": v["name"], "description": v["description"], "labels": v["labels"]})),
        });
        out.push(Resource::from_body(&crate::info(), "/id", body));
    }
    Ok(out)
}

/// The execution pool an environment the run makes or fills gets: the option's, else the
/// source's.
pub(crate) fn pool_name(ctx: &Ctx, res: &Resource) -> String {
    match ctx.option("execution-pool").unwrap_or("") {
        "" => res.str("/executionPool").to_string(),
        p => p.to_string(),
    }
}

/// [`pool_name`], checked: it must exist in the target organisation. The plan checks it
/// for an environment it will make (`find`), before any write.
pub(crate) fn pool(ctx: &Ctx, res: &Resource) -> Result<String> {
    let pool = pool_name(ctx, res);
    if pool.is_empty() {
        return Ok(pool);
    }
    let pools = http::get(Side::Target, "execution-pools", &[])?
        .ok()?
        .json()?;
    let known: Vec<&str> = pools["executionPools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    if !known.contains(&pool.as_str()) {
        return Err(Error::Invalid(format!(
            "execution pool {pool:?} does not exist in the target organisation (it has: {}); set --option execution-pool=NAME",
            known.join(", ")
        )));
    }
    Ok(pool)
}
