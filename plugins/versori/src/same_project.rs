//! Within one project: Versori's own calls. `create` is `environments/clone` with the run's
//! options; `update` is `environments/sync` (the deployed version) and the config.

use crate::env::{self, Sides};
use ferry_sdk::prelude::*;

fn source_name(sides: &Sides, res: &Resource) -> Result<String> {
    let p = env::project(Side::Source, &sides.source_project)?;
    p["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["id"].as_str() == Some(res.id.as_str()))
        .and_then(|e| e["name"].as_str().map(str::to_string))
        .ok_or_else(|| Error::NotFound(format!("the source project has no environment {}", res.id)))
}

fn env_named(p: &Value, name: &str) -> Result<Value> {
    p["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"].as_str() == Some(name))
        .cloned()
        .ok_or_else(|| Error::Fatal(format!("the project answered without environment {name:?}")))
}

pub(crate) fn create(ctx: &Ctx, sides: &Sides, res: &Resource) -> Result<Resource> {
    let old = source_name(sides, res)?;
    let new = res.str("/name").to_string();
    if old == new {
        return Err(Error::Invalid(format!(
            "environment {new:?} is cloned into its own project: give the new one a name (a rename rule, e.g. [kinds.environment] rename = {{ regex = '^{new}$', to = \"staging\" }})"
        )));
    }
    // The plan checked it exists (find).
    let pool = env::pool_name(ctx, res);
    let body = json!({
        "oldEnvName": old,
        "newEnvName": new,
        "executionPool": pool,
        "cloneSystems": ctx.flag("clone-systems"),
        "copyStaticUserVariables": ctx.flag("copy-static-user-variables"),
    });
    let path = format!("projects/{}/environments/clone", sides.target_project);
    let p = http::post_json(Side::Target, &path, &body)?.ok()?.json()?;
    let made = env_named(&p, &new)?;
    let id = require_str(&made, "/id", "the cloned environment")?;
    // What rules and hooks changed of the source's config and variables, the copy gets.
    if res.body["config"] != made["config"] && res.body["config"].is_object() {
        http::put_json(
            Side::Target,
            &format!("environments/{id}/config"),
            &res.body["config"],
        )?
        .ok()?;
    }
    if ctx.flag("copy-static-user-variables") && res.body["variables"].is_object() {
        http::patch_json(
            Side::Target,
            &format!("environments/{id}/variables"),
            &res.body["variables"],
        )?
        .ok()?;
    }
    let mut out = env::summary(&made);
    out.body["clone"] =
        json!({"mode": "same-project", "call": "environments/clone", "from": old, "options": body});
    Ok(out)
}

pub(crate) fn update(sides: &Sides, res: &Resource) -> Result<Resource> {
    let old = source_name(sides, res)?;
    let new = res.str("/name").to_string();
    let path = format!("projects/{}/environments/sync", sides.target_project);
    let p = http::post_json(
        Side::Target,
        &path,
        &json!({"sourceEnvName": old, "targetEnvName": new}),
    )?
    .ok()?
    .json()?;
    let made = env_named(&p, &new)?;
    if res.body["config"].is_object() && res.body["config"] != made["config"] {
        let id = require_str(&made, "/id", "the synced environment")?;
        http::put_json(
            Side::Target,
            &format!("environments/{id}/config"),
            &res.body["config"],
        )?
        .ok()?;
    }
    let p = env::project(Side::Target, &sides.target_project)?;
    let mut out = env::summary(&env_named(&p, &new)?);
    out.body["clone"] = json!({"mode": "same-project", "call": "environments/sync", "from": old});
    Ok(out)
}
