//! Tags (`tags/`): DRF-paged at 50 a page, matched by exact name.

use crate::common::NOT_COMPARED;
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct Tag;

/// The fields a tag is created from; everything else is server-managed.
const WRITABLE: [&str; 2] = ["name", "description"];

fn info() -> KindInfo {
    KindInfo::new("tag", "Unstract tags, matched by name")
        .key(["/name"])
        .not_compared(NOT_COMPARED)
        .deletes()
        .partial_updates()
}

fn writable(body: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for f in WRITABLE {
        match body.get(f) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(v) => {
                out.insert(f.into(), v.clone());
            }
        }
    }
    Value::Object(out)
}

impl Kind for Tag {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let rows = http::list_all(Side::Source, "tags/", &[], Paging::DrfNext)?;
        let info = info();
        Ok(rows
            .into_iter()
            .map(|row| Resource::from_body(&info, "/id", row))
            .collect())
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let name = wanted.str("/name");
        // The name filter is exact on the server, but check again: a lenient server must
        // not make us adopt a different tag.
        let rows = http::list_all(Side::Target, "tags/", &[("name", name)], Paging::DrfNext)?;
        let info = info();
        Ok(rows
            .into_iter()
            .find(|row| row.get("name").and_then(Value::as_str) == Some(name))
            .map(|row| Resource::from_body(&info, "/id", row)))
    }

    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        crate::common::match_all("tags/", &["name"], wanted, |t| {
            Resource::from_body(&info(), "/id", t)
        })
    }

    fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let created = http::post_json(Side::Target, "tags/", &writable(&res.body))?
            .ok()?
            .json()?;
        log::debug(format!("created tag {:?}", res.key));
        Ok(Resource::from_body(&info(), "/id", created))
    }

    fn update_fields(
        &self,
        _ctx: &Ctx,
        target_id: &str,
        res: &Resource,
        fields: &[String],
    ) -> Result<Resource> {
        let updated = crate::common::patch_fields(
            "tags/",
            target_id,
            writable(&res.body),
            &res.body,
            fields,
            false,
        )?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let path = format!("tags/{target_id}/");
        let updated = http::patch_json(Side::Target, &path, &writable(&res.body))?
            .ok()?
            .json()?;
        Ok(Resource::from_body(&info(), "/id", updated))
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("tags/{}/", target.id))
    }
}
