//! Across projects and organisations, which Versori's clone call cannot do: the environment
//! is made in the target project (cloned there from one of its own, since no call creates an
//! environment outright) or filled when it exists (`update`), then given, in order:
//! 1. its config and execution pool;
//! 2. the variables schema, merged: the target project's other environments keep what they
//!    need;
//! 3. systems: the same ones within an organisation, else matched by name and domain, else
//!    made;
//! 4. connection templates under the same SDK names;
//! 5. static connections: linked within one organisation; across, their secrets cannot be
//!    read, so each template left without one is reported as a credential needed;
//! 6. the static variables;
//! 7. the deployed version's files as a version of the target project (a unique name, or the
//!    one made by an earlier run), deployed unless a connection is missing.
//!
//! Each step looks first and writes only what is missing, so a re-run after a kill or a
//! fault completes the environment without a second system, template or version.

use crate::env::{self, Sides};
use ferry_sdk::prelude::*;

struct Done {
    steps: Vec<Value>,
    credentials: Vec<Value>,
}

impl Done {
    fn note(&mut self, what: &str, detail: Value) {
        self.steps.push(json!({"step": what, "detail": detail}));
    }
}

fn envs(p: &Value) -> Vec<Value> {
    p["environments"].as_array().cloned().unwrap_or_default()
}

pub(crate) fn fill(
    ctx: &Ctx,
    sides: &Sides,
    res: &Resource,
    existing: Option<&str>,
) -> Result<Resource> {
    let name = res.str("/name").to_string();
    let tp = &sides.target_project;
    let mut done = Done {
        steps: vec![],
        credentials: vec![],
    };
    // The pool must exist on the target before anything is written: for an environment
    // the run makes, the plan checked it (find); an update checks it here.
    let pool = match existing {
        Some(_) => env::pool(ctx, res)?,
        None => env::pool_name(ctx, res),
    };

    // The environment itself.
    let project = env::project(Side::Target, tp)?;
    let target = match envs(&project)
        .into_iter()
        .find(|e| existing.is_some_and(|id| e["id"] == id) || e["name"] == name.as_str())
    {
        Some(e) => e,
        None => {
            let base = envs(&project)
                .first()
                .and_then(|e| e["name"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "project {tp} has no environment to clone a new one from"
                    ))
                })?;
            let body = json!({"oldEnvName": base, "newEnvName": name, "executionPool": pool, "cloneSystems": false, "copyStaticUserVariables": false});
            let p = http::post_json(
                Side::Target,
                &format!("projects/{tp}/environments/clone"),
                &body,
            )?
            .ok()?
            .json()?;
            done.note("environment", json!({"made from": base}));
            envs(&p)
                .into_iter()
                .find(|e| e["name"] == name.as_str())
                .ok_or_else(|| {
                    Error::Fatal(format!("the clone answered without environment {name:?}"))
                })?
        }
    };
    let env_id = require_str(&target, "/id", "the target environment")?.to_string();

    // 1. Config and pool.
    if res.body["config"].is_object() && target["config"] != res.body["config"] {
        http::put_json(
            Side::Target,
            &format!("environments/{env_id}/config"),
            &res.body["config"],
        )?
        .ok()?;
        done.note("config", res.body["config"].clone());
    }
    if !pool.is_empty() && target["executionPool"].as_str() != Some(pool.as_str()) {
        let path = format!("projects/{tp}/environments/execution-pools");
        http::request(
            Side::Target,
            http::Method::Put,
            &path,
            &[("project_env", &name)],
            &[],
            http::Body::Json(json!({"executionPool": pool}).to_string()),
        )?
        .ok()?;
        done.note("execution pool", json!(pool));
    }

    // 2. The variables schema, merged.
    let source_schema = http::get(
        Side::Source,
        &format!("projects/{}/variables", sides.source_project),
        &[],
    )?
    .ok()?
    .json()?;
    let target_schema = http::get(Side::Target, &format!("projects/{tp}/variables"), &[])?
        .ok()?
        .json()?;
    let merged = merge_schema(&target_schema, &source_schema);
    if merged != target_schema {
        http::put_json(Side::Target, &format!("projects/{tp}/variables"), &merged)?.ok()?;
        done.note("variables schema", json!("merged"));
    }

    // 3-5. Systems, templates, connections.
    let have = http::list_all(
        Side::Target,
        &format!("projects/{tp}/connection-templates"),
        &[("env_id", &env_id)],
        env::cursor(),
    )?;
    let mut target_systems: Option<Vec<Value>> = None;
    let mut missing = vec![];
    for t in res.body["templates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let sdk = t["name"].as_str().unwrap_or("").to_string();
        let dynamic = t["dynamic"].as_bool().unwrap_or(false);
        let tid = match have.iter().find(|h| h["name"] == sdk.as_str()) {
            Some(h) => {
                require_str(h, "/connectionTemplateId", "the target's connection")?.to_string()
            }
            None => {
                let system_id = system_for(sides, &t["system"], &mut target_systems, &mut done)?;
                let body = json!({"systemId": system_id, "name": sdk, "environmentId": env_id, "dynamic": dynamic});
                let made = http::post_json(
                    Side::Target,
                    &format!("projects/{tp}/connection-templates"),
                    &body,
                )?
                .ok()?
                .json()?;
                done.note("connection template", json!(sdk));
                made["connectionTemplateId"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            }
        };
        if dynamic {
            continue;
        }
        let linked = http::list_all(
            Side::Target,
            &format!("projects/{tp}/connections"),
            &[("env_id", &env_id)],
            env::cursor(),
        )?
        .iter()
        .any(|c| c["connectionTemplateId"] == tid.as_str());
        if linked {
            continue;
        }
        match t["connection"]["id"].as_str() {
            Some(cid) if sides.same_org() => {
                http::post_json(
                    Side::Target,
                    &format!("connections/{cid}/link"),
                    &json!({"connectionTemplateId": tid}),
                )?
                .ok()?;
                done.note(
                    "connection linked",
                    json!({"template": sdk, "connection": t["connection"]["name"]}),
                );
            }
            _ => {
                missing.push(sdk.clone());
                done.credentials
                    .push(needs_connection(&name, &t, &sdk, &tid));
            }
        }
    }

    // 6. Static variables, now that the schema knows them.
    if let Some(wanted) = res.body["variables"].as_object().filter(|v| !v.is_empty()) {
        let current = http::get(
            Side::Target,
            &format!("environments/{env_id}/activations"),
            &[("static", "true")],
        )?
        .ok()?
        .json()?;
        let current = &current[0]["dynamicVariables"];
        if wanted.iter().any(|(k, v)| current.get(k) != Some(v)) {
            http::patch_json(
                Side::Target,
                &format!("environments/{env_id}/variables"),
                &res.body["variables"],
            )?
            .ok()?;
            done.note("static variables", json!(wanted.len()));
        }
    }

    // 7. The deployed version.
    let mut deploy = json!(null);
    if let Some(vid) = res.body["deployedVersion"]["id"].as_str() {
        if !ctx.flag("deploy") {
            deploy = json!({"skipped": "--option deploy=false"});
        } else if !missing.is_empty() {
            deploy = json!({"skipped": format!("a deploy would be refused: no static connection for {}", missing.join(", "))});
        } else {
            let files = http::get(
                Side::Source,
                &format!("projects/{}/versions/{vid}/files", sides.source_project),
                &[],
            )?
            .ok()?
            .json()?;
            let version = version_for(tp, &res.body["deployedVersion"], &files["files"])?;
            let deployed = target["deployedVersion"]["id"].as_str() == Some(version.as_str());
            if !deployed {
                let path = format!("projects/{tp}/versions/{version}/deploy");
                http::request(
                    Side::Target,
                    http::Method::Put,
                    &path,
                    &[("project_env", &name)],
                    &[],
                    // The document requires a body: an object with nothing in it.
                    http::Body::Json("{}".into()),
                )?
                .ok()?;
            }
            deploy = json!({"version": version, "deployed": true});
        }
    }

    let p = env::project(Side::Target, tp)?;
    let made = envs(&p)
        .into_iter()
        .find(|e| e["id"] == env_id.as_str())
        .ok_or_else(|| Error::Fatal(format!("environment {name:?} is gone")))?;
    let mut out = env::summary(&made);
    out.body["clone"] = json!({
        "mode": if sides.same_org() { "cross-project" } else { "cross-organisation" },
        "steps": done.steps,
        "deploy": deploy,
        "credentials_needed": done.credentials,
        "not_copied": [
            "labels: no call sets an environment's labels",
            "publicUrl: Versori gives every environment its own",
            "connections' secrets: Versori never shows them (see credentials_needed)",
            "end users and their activations: their credentials are theirs",
        ],
    });
    Ok(out)
}

/// What the report says of a static template left without a connection.
fn needs_connection(env_name: &str, template: &Value, sdk: &str, tid: &str) -> Value {
    json!({
        "key": format!("{env_name}/{sdk}"),
        "reason": format!(
            "system {:?} needs a static connection in environment {env_name:?}: connections cannot be copied (their secrets are never shown); create one for template {sdk:?} (POST connections with connectionTemplateId {tid})",
            template["system"]["name"].as_str().unwrap_or(sdk)
        ),
    })
}

/// Across organisations, for an environment the run adopts (it writes nothing): the source's
/// static templates whose counterpart in the target environment still has no connection.
/// Said on every run until someone makes them.
pub(crate) fn still_needed(
    sides: &Sides,
    source: &Resource,
    target: &Resource,
) -> Result<Vec<Value>> {
    let tp = &sides.target_project;
    let env_id = target.id.as_str();
    let name = target.str("/name");
    let have = http::list_all(
        Side::Target,
        &format!("projects/{tp}/connection-templates"),
        &[("env_id", env_id)],
        env::cursor(),
    )?;
    let connections = http::list_all(
        Side::Target,
        &format!("projects/{tp}/connections"),
        &[("env_id", env_id)],
        env::cursor(),
    )?;
    let mut needed = vec![];
    for t in source.body["templates"].as_array().into_iter().flatten() {
        if t["dynamic"].as_bool().unwrap_or(false) {
            continue;
        }
        let sdk = t["name"].as_str().unwrap_or("");
        let Some(h) = have.iter().find(|h| h["name"] == sdk) else {
            continue;
        };
        let tid = require_str(
            h,
            "/connectionTemplateId",
            "the target's connection template",
        )?;
        if !connections.iter().any(|c| c["connectionTemplateId"] == tid) {
            needed.push(needs_connection(name, t, sdk, tid));
        }
    }
    Ok(needed)
}

/// The target's properties stay as they are; the source's that it lacks are added, and a
/// property either requires stays required.
fn merge_schema(target: &Value, source: &Value) -> Value {
    let mut out = if target.is_object() {
        target.clone()
    } else {
        json!({"type": "object"})
    };
    if !out["properties"].is_object() {
        out["properties"] = json!({});
    }
    for (k, v) in source["properties"].as_object().into_iter().flatten() {
        if out["properties"].get(k).is_none() {
            out["properties"][k] = v.clone();
        }
    }
    let mut required: Vec<Value> = out["required"].as_array().cloned().unwrap_or_default();
    for r in source["required"].as_array().into_iter().flatten() {
        if !required.contains(r) {
            required.push(r.clone());
        }
    }
    if !required.is_empty() {
        out["required"] = json!(required);
    }
    out
}

/// The target system for a source template's system: the same one within an organisation,
/// else one with the same name and domain, else a new one.
fn system_for(
    sides: &Sides,
    system: &Value,
    cache: &mut Option<Vec<Value>>,
    done: &mut Done,
) -> Result<String> {
    if sides.same_org() {
        return Ok(require_str(system, "/id", "the source's system")?.to_string());
    }
    if cache.is_none() {
        *cache = Some(http::list_all(Side::Target, "systems", &[], env::cursor())?);
    }
    let systems = cache.as_mut().unwrap();
    if let Some(s) = systems
        .iter()
        .find(|s| s["name"] == system["name"] && s["domain"] == system["domain"])
    {
        return Ok(require_str(s, "/id", "the target's system")?.to_string());
    }
    // SystemCreate's fields only; labels when a rule gave the system some.
    let (auth, secrets) = auth_for_another_org(system);
    done.credentials.extend(secrets);
    let mut body = json!({
        "name": system["name"],
        "domain": system["domain"],
        "templateBaseUrl": system["templateBaseUrl"],
        "authSchemeConfigs": auth,
    });
    if let Some(labels) = system.get("labels").filter(|l| l.is_object()) {
        body["labels"] = labels.clone();
    }
    let made = http::post_json(Side::Target, "systems", &body)?
        .ok()?
        .json()?;
    done.note(
        "system made",
        json!({"name": system["name"], "domain": system["domain"]}),
    );
    systems.push(made.clone());
    Ok(require_str(&made, "/id", "POST systems")?.to_string())
}

/// A system's auth scheme configs for another organisation, and what must be set there by
/// hand. An OAuth 2.0 grant's client lives in a credential of the source organisation, which
/// the target cannot name, and its secret is never shown: the copy leaves both out (Versori
/// then makes a credential of the target's holding the client id) and the report says the
/// secret must be set.
fn auth_for_another_org(system: &Value) -> (Value, Vec<Value>) {
    let mut configs = system["authSchemeConfigs"].clone();
    let mut needed = vec![];
    let name = system["name"].as_str().unwrap_or("");
    for c in configs.as_array_mut().into_iter().flatten() {
        let about = c["oauth2"]["description"]
            .as_str()
            .or(c["oauth2"]["id"].as_str())
            .unwrap_or("")
            .to_string();
        for variant in ["authorizationCode", "password"] {
            let Some(g) = c
                .pointer_mut(&format!("/oauth2/grant/{variant}"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            g.remove("credentialId");
            g.remove("organisationId");
            g.remove("clientSecret");
            needed.push(json!({
                "key": format!("system/{name}/{about}"),
                "reason": format!(
                    "system {name:?} was made with OAuth 2.0 config {about:?} ({variant} grant) but not its client secret, which Versori never shows: set it in the target organisation"
                ),
            }));
        }
    }
    (configs, needed)
}

/// A version of the target project holding `files`: one of the source version's name (or a
/// suffixed one) with the same files, made by an earlier run, or a new one.
fn version_for(tp: &str, source: &Value, files: &Value) -> Result<String> {
    let versions = http::list_all(
        Side::Target,
        &format!("projects/{tp}/versions"),
        &[("first", "100")],
        env::cursor(),
    )?;
    let base = source["name"].as_str().unwrap_or("cloned").to_string();
    for n in 1.. {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let Some(v) = versions.iter().find(|v| v["name"] == name.as_str()) else {
            // CreateProjectVersion: `files` is the array of files; description and labels
            // only when the source version has them.
            let mut body = json!({"name": name, "files": files});
            if let Some(d) = source["description"].as_str() {
                body["description"] = json!(d);
            }
            if source["labels"].is_object() {
                body["labels"] = source["labels"].clone();
            }
            let made = http::post_json(Side::Target, &format!("projects/{tp}/versions"), &body)?
                .ok()?
                .json()?;
            return Ok(require_str(&made, "/id", "POST projects/{id}/versions")?.to_string());
        };
        let id = require_str(v, "/id", "a version of the target project")?;
        let theirs = http::get(
            Side::Target,
            &format!("projects/{tp}/versions/{id}/files"),
            &[],
        )?
        .ok()?
        .json()?;
        if theirs["files"] == *files {
            return Ok(id.to_string());
        }
    }
    unreachable!("the loop returns")
}
