//! What the Unstract kinds share: payloads cut to what a client may write, exact-name
//! lookups, sharing (users by email, groups already remapped by the host) and reading
//! details.

use ferry_sdk::prelude::*;

/// Fields the server sets; never sent.
pub(crate) const SERVER_MANAGED: [&str; 12] = [
    "id",
    "organization",
    "created_by",
    "created_by_email",
    "modified_by",
    "modified_by_email",
    "created_at",
    "modified_at",
    "shared_users",
    "shared_groups",
    "shared_to_org",
    "workflow_owner",
];

/// Fields that are never differences between environments: the org, users (ids of each
/// org's own accounts), and the times and authors the server keeps. Every kind declares
/// them beside its own.
pub(crate) const NOT_COMPARED: [&str; 7] = [
    "organization",
    "shared_users",
    "created_at",
    "modified_at",
    "updated_at",
    "created_by",
    "modified_by",
];

/// DELETE a target resource; one already gone answers `NotFound`, which the host counts as
/// deleted.
pub(crate) fn delete(path: &str) -> Result<()> {
    http::delete(Side::Target, path)?.ok()?;
    Ok(())
}

/// Only the top-level fields named by `fields` (JSON pointers such as "/description") of a
/// payload: what a partial update sends.
pub(crate) fn only(payload: Value, fields: &[String]) -> Value {
    let wanted: Vec<&str> = fields
        .iter()
        .map(|f| f.trim_start_matches('/').split('/').next().unwrap_or(""))
        .collect();
    match payload {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

/// A partial update: PATCH only the `fields` of `payload` that differ (a GET when none of
/// them is writable, a difference in the host's `_ferry` notes say), and share again when
/// the sharing differs (`shares`). Returns the target's resource as it is now.
pub(crate) fn patch_fields(
    route: &str,
    target_id: &str,
    payload: Value,
    body: &Value,
    fields: &[String],
    shares: bool,
) -> Result<Value> {
    let patch = only(payload, fields);
    let path = format!("{route}{target_id}/");
    let updated = if patch.as_object().is_some_and(|o| o.is_empty()) {
        get(Side::Target, &path)?
    } else {
        http::patch_json(Side::Target, &path, &patch)?
            .ok()?
            .json()?
    };
    if shares && fields.iter().any(|f| f.starts_with("/shared_")) {
        share(route, target_id, body)?;
    }
    Ok(updated)
}

/// The body to POST: the source's fields minus server-managed ones, `extra_out` and the
/// host-only `_ferry` notes; nulls and empty strings dropped (false and 0 kept).
pub(crate) fn payload(body: &Value, extra_out: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(obj) = body.as_object() {
        for (k, v) in obj {
            if SERVER_MANAGED.contains(&k.as_str())
                || extra_out.contains(&k.as_str())
                || k.starts_with('_')
                || k == "is_owner"
            {
                continue;
            }
            if v.is_null() || v.as_str() == Some("") {
                continue;
            }
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// GET a list (bare or DRF-paged) following every page.
pub(crate) fn list(side: Side, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>> {
    http::list_all(side, path, query, Paging::DrfNext)
}

/// The one row of `path` whose `field` equals `value` exactly, filtered on the server and
/// checked again here.
pub(crate) fn by_exact(
    side: Side,
    path: &str,
    query: &[(&str, &str)],
    checks: &[(&str, &str)],
) -> Result<Option<Value>> {
    let rows = list(side, path, query)?;
    Ok(rows.into_iter().find(|r| {
        checks
            .iter()
            .all(|(f, v)| r.get(*f).and_then(Value::as_str) == Some(*v))
    }))
}

/// GET one object.
pub(crate) fn get(side: Side, path: &str) -> Result<Value> {
    http::get(side, path, &[])?.ok()?.json()
}

/// Every row of a list, replaced by its detail (`{path}{id}/`), read in one batch.
pub(crate) fn with_details(rows: Vec<Value>, path: &str, id: &str) -> Result<Vec<Value>> {
    let paths: Vec<String> = rows
        .iter()
        .map(|row| format!("{path}{}/", scalar(&row[id])))
        .collect();
    let details = http::get_all(Side::Source, &paths)?;
    Ok(rows
        .into_iter()
        .zip(details)
        .map(|(row, mut detail)| {
            // Keep list-only fields the detail lacks.
            if let (Some(d), Some(r)) = (detail.as_object_mut(), row.as_object()) {
                for (k, v) in r {
                    d.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            detail
        })
        .collect())
}

/// A batch lookup by exact key: list `path` on the target once and match each wanted
/// resource by its `fields` (top-level text fields), instead of one filtered GET each.
/// The first row of a key wins, as it does for `by_exact`.
pub(crate) fn match_all(
    path: &str,
    fields: &[&str],
    wanted: &[Resource],
    make: impl Fn(Value) -> Resource,
) -> Result<Option<Vec<Option<Resource>>>> {
    let key = |v: &Value| {
        fields
            .iter()
            .map(|f| v.get(*f).and_then(Value::as_str).map(str::to_string))
            .collect::<Option<Vec<String>>>()
    };
    let mut rows: std::collections::HashMap<Vec<String>, Value> = std::collections::HashMap::new();
    for row in list(Side::Target, path, &[])? {
        if let Some(k) = key(&row) {
            rows.entry(k).or_insert(row);
        }
    }
    Ok(Some(
        wanted
            .iter()
            .map(|w| key(&w.body).and_then(|k| rows.get(&k).cloned()).map(&make))
            .collect(),
    ))
}

/// Every row of a per-workflow list (`tool_instance/`, `workflow/endpoint/`) in one request,
/// grouped by workflow id, in the server's order: one GET instead of one per workflow.
pub(crate) fn by_workflow(
    side: Side,
    path: &str,
) -> Result<std::collections::HashMap<String, Vec<Value>>> {
    let mut out: std::collections::HashMap<String, Vec<Value>> = std::collections::HashMap::new();
    for row in list(side, path, &[])? {
        let w = if row["workflow"].is_null() {
            &row["workflow_id"]
        } else {
            &row["workflow"]
        };
        out.entry(scalar(w)).or_default().push(row);
    }
    Ok(out)
}

/// The connector of a workflow endpoint: it comes as an object, an id, or only as
/// `connector_instance_id`.
pub(crate) fn endpoint_connector(e: &Value) -> Value {
    match &e["connector_instance"] {
        Value::Object(o) => o.get("id").cloned().unwrap_or(Value::Null),
        Value::Null => e["connector_instance_id"].clone(),
        other => other.clone(),
    }
}

pub(crate) fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Users of a side: id -> (email, is_service_account).
fn users(side: Side) -> Result<Vec<(String, String, bool)>> {
    let v = get(side, "users/")?;
    Ok(v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| {
            Some((
                scalar(&u["id"]),
                u["email"].as_str()?.to_lowercase(),
                u["is_service_account"].as_bool().unwrap_or(false),
            ))
        })
        .collect())
}

/// During `ferry export`: read what [`share`] will read of the source for `source` (the
/// users, when the resource is shared with some), so that a restore finds it in the package.
pub(crate) fn export_share(source: &Value) -> Result<Value> {
    let owner = scalar(&source["created_by"]);
    let shared = source["shared_users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(scalar)
        .any(|u| u != owner);
    if shared {
        users(Side::Source)?;
    }
    Ok(Value::Null)
}

/// Share a target resource as its source is shared: groups (ids already remapped by the
/// host), users by email, the org flag. Sends nothing when there is nothing to share.
pub(crate) fn share(route: &str, target_id: &str, source: &Value) -> Result<()> {
    let groups: Vec<Value> = source["shared_groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let owner = scalar(&source["created_by"]);
    let source_users: Vec<String> = source["shared_users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(scalar)
        .filter(|u| *u != owner)
        .collect();
    let to_org = source["shared_to_org"].as_bool().unwrap_or(false);
    if groups.is_empty() && source_users.is_empty() && !to_org {
        return Ok(());
    }
    let mut user_ids = Vec::new();
    if !source_users.is_empty() {
        let (src, tgt) = (users(Side::Source)?, users(Side::Target)?);
        for u in source_users {
            let Some((_, email, service)) = src.iter().find(|(id, _, _)| *id == u) else {
                log::warn(format!(
                    "shared user {u} is not in the source's user list; not shared"
                ));
                continue;
            };
            if *service {
                continue;
            }
            match tgt.iter().find(|(_, e, _)| e == email) {
                Some((id, _, _)) => user_ids.push(json!(id.parse::<i64>().unwrap_or_default())),
                None => log::warn(format!("user {email} is not in the target org; not shared")),
            }
        }
    }
    let body = json!({"shared_to_org": to_org, "shared_users": user_ids, "shared_groups": groups});
    http::post_json_idempotent(Side::Target, &format!("{route}{target_id}/share/"), &body)?.ok()?;
    Ok(())
}
