//! API deployments (`api/deployment/`, DRF-paged), matched by API name. The target mints
//! its own API key; the source's is never copied.

use crate::common::NOT_COMPARED;
use crate::common::{by_exact, list, payload, share, with_details};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct ApiDeployment;

fn info() -> KindInfo {
    KindInfo::new("api_deployment", "API deployments, matched by API name")
        .key(["/api_name"])
        .reference("/workflow", "workflow")
        .secret("/api_key")
        .optional_reference("/shared_groups/*", "group")
        .not_compared(NOT_COMPARED)
        .not_compared(["/api_endpoint", "/api_key"])
        .deletes()
}

const NOT_SENT: [&str; 2] = ["api_key", "api_endpoint"];

impl Kind for ApiDeployment {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let rows = with_details(
            list(Side::Source, "api/deployment/", &[])?,
            "api/deployment/",
            "id",
        )?;
        Ok(rows
            .into_iter()
            .map(|mut d| {
                if d["workflow"].is_null() {
                    d["workflow"] = d["workflow_id"].clone();
                }
                Resource::from_body(&info(), "/id", d)
            })
            .collect())
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let name = wanted.str("/api_name");
        Ok(by_exact(
            Side::Target,
            "api/deployment/",
            &[("api_name", name)],
            &[("api_name", name)],
        )?
        .map(|d| Resource::from_body(&info(), "/id", d)))
    }

    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        crate::common::match_all("api/deployment/", &["api_name"], wanted, |d| {
            Resource::from_body(&info(), "/id", d)
        })
    }

    fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let created = http::post_json(
            Side::Target,
            "api/deployment/",
            &payload(&res.body, &NOT_SENT),
        )?
        .ok()?
        .json()?;
        let r = Resource::from_body(&info(), "/id", created);
        share("api/deployment/", &r.id, &res.body)?;
        Ok(r)
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let updated = http::patch_json(
            Side::Target,
            &format!("api/deployment/{target_id}/"),
            &payload(&res.body, &NOT_SENT),
        )?
        .ok()?
        .json()?;
        share("api/deployment/", target_id, &res.body)?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    /// What a write reads of the source beyond the listing: the users it is shared with.
    fn export(&self, _ctx: &Ctx, res: &Resource) -> Result<Value> {
        crate::common::export_share(&res.body)
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("api/deployment/{}/", target.id))
    }
}
