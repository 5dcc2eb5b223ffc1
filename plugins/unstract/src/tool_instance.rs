//! Tool instances (`tool_instance/`): the Prompt Studio project a workflow runs, one per
//! workflow. It references the project through its registry id.

use crate::common::NOT_COMPARED;
use crate::common::{by_workflow, list, scalar};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct ToolInstance;

fn info() -> KindInfo {
    KindInfo::new(
        "tool_instance",
        "The project a workflow runs, one per workflow",
    )
    .key(["/_ferry/workflow_name"])
    .reference("/workflow", "workflow")
    .reference_by_field("/tool_id", "custom_tool", "/prompt_registry_id")
    .not_compared(NOT_COMPARED)
    .not_compared([
        "/workflow_id",
        "/metadata/prompt_registry_id",
        "/metadata/tool_instance_id",
    ])
    .deletes()
}

fn resource(mut t: Value, workflow_name: &str) -> Resource {
    t["_ferry"] = json!({"workflow_name": workflow_name});
    if t["workflow"].is_null() {
        t["workflow"] = t["workflow_id"].clone();
    }
    Resource::from_body(&info(), "/id", t)
}

/// The metadata to set: the source's, pointing at the target's registry entry and instance.
fn metadata(source: &Value, registry: &str, instance: &str) -> Value {
    let mut m = source["metadata"].as_object().cloned().unwrap_or_default();
    m.remove("tenant_id");
    m.insert("prompt_registry_id".into(), json!(registry));
    m.insert("tool_instance_id".into(), json!(instance));
    Value::Object(m)
}

impl Kind for ToolInstance {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let mut all = by_workflow(Side::Source, "tool_instance/")?;
        let mut out = Vec::new();
        for w in list(Side::Source, "workflow/", &[])? {
            let (id, name) = (scalar(&w["id"]), scalar(&w["workflow_name"]));
            let instances = all.remove(&id).unwrap_or_default();
            if instances.len() > 1 {
                log::warn(format!(
                    "workflow {name:?} has {} tool instances; the first is cloned",
                    instances.len()
                ));
            }
            if let Some(t) = instances.into_iter().next() {
                out.push(resource(t, &name));
            }
        }
        Ok(out)
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let workflow = wanted.str("/workflow");
        Ok(
            list(Side::Target, "tool_instance/", &[("workflow", workflow)])?
                .into_iter()
                .next()
                .map(|t| resource(t, wanted.str("/_ferry/workflow_name"))),
        )
    }

    /// The target's instances of every workflow in one listing.
    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        let all = by_workflow(Side::Target, "tool_instance/")?;
        Ok(Some(
            wanted
                .iter()
                .map(|w| {
                    all.get(w.str("/workflow"))
                        .and_then(|t| t.first())
                        .map(|t| resource(t.clone(), w.str("/_ferry/workflow_name")))
                })
                .collect(),
        ))
    }

    fn create(&self, ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let (workflow, registry) = (res.str("/workflow"), res.str("/tool_id"));
        let created = http::post_json(
            Side::Target,
            "tool_instance/",
            &json!({"workflow_id": workflow, "tool_id": registry}),
        )?
        .ok()?
        .json()?;
        let id = scalar(&created["id"]);
        self.update(ctx, &id, res)
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let m = metadata(&res.body, res.str("/tool_id"), target_id);
        let text = m.to_string();
        if ["NOT FOUND", "[DELETED ADAPTER", "[NEEDS UPDATE]"]
            .iter()
            .any(|s| text.contains(s))
        {
            return Err(Error::Invalid(format!(
                "the tool settings of {:?} name adapters that need fixing on the source",
                res.key
            )));
        }
        let updated = http::patch_json(
            Side::Target,
            &format!("tool_instance/{target_id}/"),
            &json!({"metadata": m}),
        )?
        .ok()?
        .json()?;
        Ok(resource(updated, res.str("/_ferry/workflow_name")))
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("tool_instance/{}/", target.id))
    }
}
