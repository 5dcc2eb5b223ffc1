//! Workflows (`workflow/`), matched by name. Creating one makes its SOURCE and DESTINATION
//! endpoints on the server; `workflow_endpoint` configures them. A workflow is only useful
//! with the project it runs and the connectors of its endpoints, so it declares them as
//! references (`/_ferry/uses/...`): if one of them is skipped, so is the workflow, and with it
//! its pipelines and API deployments.

use crate::common::NOT_COMPARED;
use crate::common::{
    by_exact, by_workflow, endpoint_connector, list, payload, scalar, share, with_details,
};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct Workflow;

fn info() -> KindInfo {
    KindInfo::new("workflow", "Unstract workflows, matched by name")
        .key(["/workflow_name"])
        .optional_reference("/shared_groups/*", "group")
        .reference_by_field("/_ferry/uses/tool", "custom_tool", "/prompt_registry_id")
        .reference("/_ferry/uses/connectors/*", "connector")
        .not_compared(NOT_COMPARED)
        .deletes()
        .partial_updates()
}

impl Kind for Workflow {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let instances = by_workflow(Side::Source, "tool_instance/")?;
        let endpoints = by_workflow(Side::Source, "workflow/endpoint/")?;
        let mut out = Vec::new();
        for mut w in with_details(list(Side::Source, "workflow/", &[])?, "workflow/", "id")? {
            let id = scalar(&w["id"]);
            let tool = instances
                .get(&id)
                .and_then(|t| t.first())
                .map(|t| t["tool_id"].clone())
                .unwrap_or(Value::Null);
            let connectors: Vec<Value> = endpoints
                .get(&id)
                .into_iter()
                .flatten()
                .map(endpoint_connector)
                .filter(|c| !c.is_null())
                .collect();
            w["_ferry"] = json!({"uses": {"tool": tool, "connectors": connectors}});
            out.push(Resource::from_body(&info(), "/id", w));
        }
        Ok(out)
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let name = wanted.str("/workflow_name");
        Ok(by_exact(
            Side::Target,
            "workflow/",
            &[("workflow_name", name)],
            &[("workflow_name", name)],
        )?
        .map(|w| Resource::from_body(&info(), "/id", w)))
    }

    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        crate::common::match_all("workflow/", &["workflow_name"], wanted, |w| {
            Resource::from_body(&info(), "/id", w)
        })
    }

    fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let created = http::post_json(Side::Target, "workflow/", &payload(&res.body, &[]))?
            .ok()?
            .json()?;
        let r = Resource::from_body(&info(), "/id", created);
        share("workflow/", &r.id, &res.body)?;
        Ok(r)
    }

    fn update_fields(
        &self,
        _ctx: &Ctx,
        target_id: &str,
        res: &Resource,
        fields: &[String],
    ) -> Result<Resource> {
        let updated = crate::common::patch_fields(
            "workflow/",
            target_id,
            payload(&res.body, &[]),
            &res.body,
            fields,
            true,
        )?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let updated = http::patch_json(
            Side::Target,
            &format!("workflow/{target_id}/"),
            &payload(&res.body, &[]),
        )?
        .ok()?
        .json()?;
        share("workflow/", target_id, &res.body)?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    /// What a write reads of the source beyond the listing: the users it is shared with.
    fn export(&self, _ctx: &Ctx, res: &Resource) -> Result<Value> {
        crate::common::export_share(&res.body)
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("workflow/{}/", target.id))
    }
}
