//! Workflow endpoints (`workflow/endpoint/`): a workflow's SOURCE and DESTINATION, made by
//! the server with the workflow. Cloning one configures the target's: connection type,
//! configuration and connector.

use crate::common::NOT_COMPARED;
use crate::common::{by_workflow, endpoint_connector, list, scalar};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct WorkflowEndpoint;

fn info() -> KindInfo {
    KindInfo::new(
        "workflow_endpoint",
        "A workflow's SOURCE and DESTINATION settings",
    )
    .key(["/_ferry/workflow_name", "/endpoint_type"])
    .reference("/workflow", "workflow")
    .optional_reference("/connector_instance_id", "connector")
    .not_compared(NOT_COMPARED)
    .not_compared(["/connector_instance"])
    .deletes()
}

fn resource(mut e: Value, workflow_name: &str) -> Resource {
    e["_ferry"] = json!({"workflow_name": workflow_name});
    e["connector_instance_id"] = endpoint_connector(&e);
    Resource::from_body(&info(), "/id", e)
}

/// The target workflow's endpoint of the wanted type, configured or not.
/// A server-made endpoint left unconfigured does not count as the wanted one until it is.
fn configured(e: &Resource, wanted: &Resource) -> bool {
    !e.body["connection_type"].is_null() || wanted.body["connection_type"].is_null()
}

fn server_made(wanted: &Resource) -> Result<Option<Resource>> {
    let t = wanted.str("/endpoint_type");
    let hit = list(
        Side::Target,
        "workflow/endpoint/",
        &[("workflow", wanted.str("/workflow"))],
    )?
    .into_iter()
    .find(|e| e["endpoint_type"].as_str() == Some(t));
    Ok(hit.map(|e| resource(e, wanted.str("/_ferry/workflow_name"))))
}

impl Kind for WorkflowEndpoint {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let mut endpoints = by_workflow(Side::Source, "workflow/endpoint/")?;
        let mut out = Vec::new();
        for w in list(Side::Source, "workflow/", &[])? {
            let (id, name) = (scalar(&w["id"]), scalar(&w["workflow_name"]));
            out.extend(
                endpoints
                    .remove(&id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| resource(e, &name)),
            );
        }
        Ok(out)
    }

    /// The target's endpoint once configured. One the server made and nobody configured yet
    /// (a run stopped between creating the workflow and configuring its endpoints) does not
    /// count: `create` configures it.
    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        Ok(server_made(wanted)?.filter(|e| configured(e, wanted)))
    }

    /// The target's endpoints of every workflow in one listing.
    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        let all = by_workflow(Side::Target, "workflow/endpoint/")?;
        Ok(Some(
            wanted
                .iter()
                .map(|w| {
                    let t = w.str("/endpoint_type");
                    let hit = all
                        .get(w.str("/workflow"))
                        .and_then(|es| es.iter().find(|e| e["endpoint_type"].as_str() == Some(t)));
                    hit.map(|e| resource(e.clone(), w.str("/_ferry/workflow_name")))
                        .filter(|e| configured(e, w))
                })
                .collect(),
        ))
    }

    /// The server made the endpoint with the workflow: configure it.
    fn create(&self, ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let existing = server_made(res)?.ok_or_else(|| {
            Error::NotFound(format!(
                "the target workflow has no {} endpoint",
                res.str("/endpoint_type")
            ))
        })?;
        self.update(ctx, &existing.id, res)
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let mut body = json!({"configuration": res.body.get("configuration").cloned().filter(|c| !c.is_null()).unwrap_or(json!({})), "connector_instance_id": res.body["connector_instance_id"].clone()});
        if let Some(t) = res.body.get("connection_type").filter(|t| !t.is_null()) {
            body["connection_type"] = t.clone();
        }
        let updated = http::patch_json(
            Side::Target,
            &format!("workflow/endpoint/{target_id}/"),
            &body,
        )?
        .ok()?
        .json()?;
        Ok(resource(updated, res.str("/_ferry/workflow_name")))
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("workflow/endpoint/{}/", target.id))
    }
}
