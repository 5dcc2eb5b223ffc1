//! Groups (`groups/`), matched by name; members (by email) with `--clone-group-members`.

use crate::common::NOT_COMPARED;
use crate::common::{get, list, scalar};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct Group;

fn info() -> KindInfo {
    KindInfo::new("group", "Unstract user groups, matched by name")
        .key(["/name"])
        .not_compared(NOT_COMPARED)
        .deletes()
}

fn emails(side: Side) -> Result<Vec<(String, String)>> {
    let v = get(side, "users/")?;
    Ok(v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| !u["is_service_account"].as_bool().unwrap_or(false))
        .filter_map(|u| Some((scalar(&u["id"]), u["email"].as_str()?.to_lowercase())))
        .collect())
}

impl Kind for Group {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        Ok(list(Side::Source, "groups/", &[])?
            .into_iter()
            .map(|g| Resource::from_body(&info(), "/id", g))
            .collect())
    }

    /// Asks the server to filter by name (a server that ignores it lists every group) and
    /// matches by name here: a create looks its new group up, so this must not read every
    /// group each time where the server can help.
    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let name = wanted.str("/name");
        Ok(list(Side::Target, "groups/", &[("name", name)])?
            .into_iter()
            .find(|g| g["name"].as_str() == Some(name))
            .map(|g| Resource::from_body(&info(), "/id", g)))
    }

    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        crate::common::match_all("groups/", &["name"], wanted, |g| {
            Resource::from_body(&info(), "/id", g)
        })
    }

    fn create(&self, ctx: &Ctx, res: &Resource) -> Result<Resource> {
        let name = res.str("/name");
        let body = json!({"name": name, "description": res.body.get("description").and_then(Value::as_str).unwrap_or("")});
        http::post_json(Side::Target, "groups/", &body)?.ok()?;
        // The answer has no id: find the new group by name.
        let created = self
            .find(ctx, res)?
            .ok_or_else(|| Error::Fatal(format!("group {name:?} was created but is not listed")))?;
        add_members(ctx, &created.id, res)?;
        Ok(created)
    }

    /// A group's name and description are its key and a note; what can change is its
    /// members: add the source's that the target group lacks.
    fn update(&self, ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        add_members(ctx, target_id, res)?;
        let name = res.str("/name");
        self.find(ctx, res)?
            .ok_or_else(|| Error::NotFound(format!("group {name:?} is not on the target")))
    }

    /// What `--clone-group-members` reads of the source: the group's members.
    fn export(&self, _ctx: &Ctx, res: &Resource) -> Result<Value> {
        let members = list(Side::Source, &format!("groups/{}/members/", res.id), &[])?;
        Ok(json!({"members": members.len()}))
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("groups/{}/", target.id))
    }
}

/// With `--clone-group-members`, add to the target group the source group's members (by
/// email) that it lacks.
fn add_members(ctx: &Ctx, target_id: &str, res: &Resource) -> Result<()> {
    if !ctx.flag("clone-group-members") {
        return Ok(());
    }
    let name = res.str("/name");
    let members = list(Side::Source, &format!("groups/{}/members/", res.id), &[])?;
    let target_users = emails(Side::Target)?;
    let mut ids = Vec::new();
    for m in members {
        if m["is_service_account"].as_bool().unwrap_or(false) {
            continue;
        }
        let email = m["email"].as_str().unwrap_or("").to_lowercase();
        match target_users.iter().find(|(_, e)| *e == email) {
            Some((id, _)) => ids.push(json!(id.parse::<i64>().unwrap_or_default())),
            None => log::warn(format!(
                "group {name:?}: member {email} is not in the target org"
            )),
        }
    }
    let present: Vec<String> = list(Side::Target, &format!("groups/{target_id}/members/"), &[])?
        .iter()
        .map(|m| scalar(&m["id"]))
        .collect();
    ids.retain(|id| !present.contains(&id.to_string()));
    if !ids.is_empty() {
        http::post_json_idempotent(
            Side::Target,
            &format!("groups/{target_id}/members/"),
            &json!({"user_ids": ids}),
        )?
        .ok()?;
    }
    Ok(())
}
