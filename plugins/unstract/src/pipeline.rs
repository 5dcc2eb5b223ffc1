//! Pipelines (`pipeline/`, DRF-paged), ETL and TASK types, matched by name. The server
//! creates them active: an inactive source pipeline is deactivated after creation.

use crate::common::NOT_COMPARED;
use crate::common::{by_exact, list, payload, share, with_details};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct Pipeline;

fn info() -> KindInfo {
    KindInfo::new("pipeline", "ETL and TASK pipelines, matched by name")
        .key(["/pipeline_name"])
        .reference("/workflow", "workflow")
        .optional_reference("/shared_groups/*", "group")
        .not_compared(NOT_COMPARED)
        .deletes()
}

const NOT_SENT: [&str; 4] = ["run_count", "last_run_status", "last_run_time", "active"];

impl Kind for Pipeline {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let rows = with_details(list(Side::Source, "pipeline/", &[])?, "pipeline/", "id")?;
        Ok(rows
            .into_iter()
            .map(|mut p| {
                if p["workflow"].is_null() {
                    p["workflow"] = p["workflow_id"].clone();
                }
                let t = p["pipeline_type"].as_str().unwrap_or("").to_string();
                let r = Resource::from_body(&info(), "/id", p);
                if t == "ETL" || t == "TASK" {
                    r
                } else {
                    r.skipped(format!("pipelines of type {t} are not cloned"))
                }
            })
            .collect())
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let name = wanted.str("/pipeline_name");
        Ok(by_exact(
            Side::Target,
            "pipeline/",
            &[("pipeline_name", name)],
            &[("pipeline_name", name)],
        )?
        .map(|p| Resource::from_body(&info(), "/id", p)))
    }

    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        crate::common::match_all("pipeline/", &["pipeline_name"], wanted, |p| {
            Resource::from_body(&info(), "/id", p)
        })
    }

    fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let mut created =
            http::post_json(Side::Target, "pipeline/", &payload(&res.body, &NOT_SENT))?
                .ok()?
                .json()?;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        if res.body["active"] == json!(false) {
            created = http::patch_json(
                Side::Target,
                &format!("pipeline/{id}/"),
                &json!({"active": false}),
            )?
            .ok()?
            .json()?;
        }
        share("pipeline/", &id, &res.body)?;
        Ok(Resource::from_body(&info(), "/id", created))
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let mut body = payload(&res.body, &NOT_SENT[..3]);
        body["active"] = res.body.get("active").cloned().unwrap_or(json!(true));
        let updated = http::patch_json(Side::Target, &format!("pipeline/{target_id}/"), &body)?
            .ok()?
            .json()?;
        share("pipeline/", target_id, &res.body)?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    /// What a write reads of the source beyond the listing: the users it is shared with.
    fn export(&self, _ctx: &Ctx, res: &Resource) -> Result<Value> {
        crate::common::export_share(&res.body)
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("pipeline/{}/", target.id))
    }
}
