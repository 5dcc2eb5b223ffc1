//! Connectors (`connector/`), matched by name. Their metadata holds credentials (secret);
//! OAuth-backed or redacted ones cannot be cloned and are skipped with the reason, unless the
//! target already has one of the same name (then it is adopted).

use crate::common::NOT_COMPARED;
use crate::common::{by_exact, list, payload, share, with_details};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct Connector;

fn info() -> KindInfo {
    KindInfo::new("connector", "Unstract connectors, matched by name")
        .key(["/connector_name"])
        .secret("/connector_metadata")
        .optional_reference("/shared_groups/*", "group")
        .not_compared(NOT_COMPARED)
        .deletes()
        .partial_updates()
}

/// Why a connector cannot be cloned, if it cannot.
fn unclonable(body: &Value) -> Option<String> {
    let meta = &body["connector_metadata"];
    if meta.is_null() || meta.as_object().is_some_and(|m| m.is_empty()) {
        return Some("its metadata is empty or redacted (auto-provisioned); create it on the target with the same name and re-run".into());
    }
    if ["access_token", "refresh_token"].iter().any(|k| {
        meta.get(*k)
            .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
    }) {
        return Some("OAuth-backed: its credentials cannot be cloned; create and authorise it on the target with the same name, then re-run to adopt it".into());
    }
    None
}

impl Kind for Connector {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let rows = with_details(list(Side::Source, "connector/", &[])?, "connector/", "id")?;
        Ok(rows
            .into_iter()
            .map(|c| {
                let why = unclonable(&c);
                let r = Resource::from_body(&info(), "/id", c);
                match why {
                    Some(w) => r.skipped(w),
                    None => r,
                }
            })
            .collect())
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let name = wanted.str("/connector_name");
        Ok(by_exact(
            Side::Target,
            "connector/",
            &[("connector_name", name)],
            &[("connector_name", name)],
        )?
        .map(|c| Resource::from_body(&info(), "/id", c)))
    }

    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        crate::common::match_all("connector/", &["connector_name"], wanted, |c| {
            Resource::from_body(&info(), "/id", c)
        })
    }

    fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let created = http::post_json(Side::Target, "connector/", &payload(&res.body, &[]))?
            .ok()?
            .json()?;
        let r = Resource::from_body(&info(), "/id", created);
        share("connector/", &r.id, &res.body)?;
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
            "connector/",
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
            &format!("connector/{target_id}/"),
            &payload(&res.body, &[]),
        )?
        .ok()?
        .json()?;
        share("connector/", target_id, &res.body)?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    /// What a write reads of the source beyond the listing: the users it is shared with.
    fn export(&self, _ctx: &Ctx, res: &Resource) -> Result<Value> {
        crate::common::export_share(&res.body)
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("connector/{}/", target.id))
    }
}
