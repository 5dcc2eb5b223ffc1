//! Adapters (`adapter/`): LLMs, vector stores, embeddings, text extractors. Matched by name
//! and type; their metadata holds credentials (secret).

use crate::common::NOT_COMPARED;
use crate::common::{by_exact, list, payload, share, with_details};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct Adapter;

fn info() -> KindInfo {
    KindInfo::new("adapter", "Unstract adapters, matched by name and type")
        .key(["/adapter_name", "/adapter_type"])
        .secret("/adapter_metadata")
        .optional_reference("/shared_groups/*", "group")
        .not_compared(NOT_COMPARED)
        .deletes()
        .partial_updates()
}

impl Kind for Adapter {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let rows = with_details(list(Side::Source, "adapter/", &[])?, "adapter/", "id")?;
        Ok(rows
            .into_iter()
            .map(|a| Resource::from_body(&info(), "/id", a))
            .collect())
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let (name, kind) = (wanted.str("/adapter_name"), wanted.str("/adapter_type"));
        let hit = by_exact(
            Side::Target,
            "adapter/",
            &[("adapter_name", name), ("adapter_type", kind)],
            &[("adapter_name", name), ("adapter_type", kind)],
        )?;
        Ok(hit.map(|a| Resource::from_body(&info(), "/id", a)))
    }

    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        crate::common::match_all("adapter/", &["adapter_name", "adapter_type"], wanted, |a| {
            Resource::from_body(&info(), "/id", a)
        })
    }

    fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let created = http::post_json(
            Side::Target,
            "adapter/",
            &payload(&res.body, &["is_friction_less", "is_usable"]),
        )?
        .ok()?
        .json()?;
        let r = Resource::from_body(&info(), "/id", created);
        share("adapter/", &r.id, &res.body)?;
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
            "adapter/",
            target_id,
            payload(&res.body, &["is_friction_less", "is_usable"]),
            &res.body,
            fields,
            true,
        )?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let updated = http::patch_json(
            Side::Target,
            &format!("adapter/{target_id}/"),
            &payload(&res.body, &["is_friction_less", "is_usable"]),
        )?
        .ok()?
        .json()?;
        share("adapter/", target_id, &res.body)?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    /// What a write reads of the source beyond the listing: the users it is shared with.
    fn export(&self, _ctx: &Ctx, res: &Resource) -> Result<Value> {
        crate::common::export_share(&res.body)
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("adapter/{}/", target.id))
    }
}
