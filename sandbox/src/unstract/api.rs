//! The Platform API: routes below `/{prefix}/unstract/{org}/`. Kinds in the store's table get
//! the generic list / detail / create / update / share handlers; the rest (users, groups'
//! members, prompt studio's profiles, transfer, sync, registry, files, API keys) are here.

use super::records::{create, page, validate};
use super::shared::{Call, Org, Reply};
use super::store::{OrgData, SERVER_MANAGED, SPECS, Spec, id_text};
use super::{files, studio};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

pub async fn route(org: &Org, call: Call) -> Reply {
    let segments = call.segments.clone();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    // Special routes first: they share prefixes with the generic ones.
    match seg.as_slice() {
        ["users"] => return users(org, &call),
        ["groups", id, "members"] => return members(org, &call, id),
        ["api", "keys", "pipeline" | "api", id] => return api_keys(org, &call, id),
        ["prompt-studio", "prompt-studio-profile", tool] => {
            return studio::profiles(org, &call, tool);
        }
        ["prompt-studio", "project-transfer", rest @ ..] => {
            return studio::transfer(org, &call, rest).await;
        }
        ["prompt-studio", "export", tool] => return studio::export(org, &call, tool),
        ["prompt-studio", tool, "sync-prompts"] => return studio::sync_prompts(org, &call, tool),
        ["prompt-studio", "file", tool] => {
            let tool = tool.to_string();
            return files::file(org, call, &tool).await;
        }
        _ => {}
    }
    // Generic routes, longest route first (`workflow/endpoint` before `workflow/{id}`).
    let mut specs: Vec<&Spec> = SPECS.iter().collect();
    specs.sort_by_key(|s| std::cmp::Reverse(s.route.len()));
    for s in specs {
        let route: Vec<&str> = s.route.split('/').collect();
        if !seg.starts_with(&route) {
            continue;
        }
        return match &seg[route.len()..] {
            [] => collection(org, &call, s),
            [id] => item(org, &call, s, id),
            [id, "share"] => share(org, &call, s, id),
            _ => Reply::not_found(),
        };
    }
    Reply::not_found()
}

fn collection(org: &Org, call: &Call, s: &'static Spec) -> Reply {
    match call.method {
        Method::GET | Method::HEAD => list(org, call, s),
        Method::OPTIONS => Reply::ok(s.options()),
        Method::POST if s.kind == "workflow_endpoint" || s.kind == "registry" => {
            Reply::method_not_allowed(&call.method)
        }
        Method::POST => match call.json() {
            Ok(body) => create(&mut org.data.lock().unwrap(), &org.name, s, body),
            Err(r) => r,
        },
        _ => Reply::method_not_allowed(&call.method),
    }
}

fn item(org: &Org, call: &Call, s: &'static Spec, id: &str) -> Reply {
    let mut data = org.data.lock().unwrap();
    match call.method {
        Method::GET | Method::HEAD => match data.find(s.kind, id) {
            Some(row) => Reply::ok(row.clone()),
            None => Reply::not_found(),
        },
        Method::PATCH | Method::PUT => match call.json() {
            Ok(body) => update(&mut data, s, id, body, call.method == Method::PUT),
            Err(r) => r,
        },
        Method::DELETE => match data.col(s.kind).remove(s.id, id) {
            Some(_) => Reply::Empty(StatusCode::NO_CONTENT),
            None => Reply::not_found(),
        },
        Method::OPTIONS => Reply::ok(s.options()),
        _ => Reply::method_not_allowed(&call.method),
    }
}

/// GET a collection: exact-match filters, then a bare list, or DRF pages when the kind pages
/// or the client asks (`page` / `page_size`).
fn list(org: &Org, call: &Call, s: &Spec) -> Reply {
    let data = org.data.lock().unwrap();
    let wanted = |row: &&Value| {
        s.filters.iter().all(|(param, field)| {
            call.query
                .get(*param)
                .is_none_or(|want| id_text(&row[*field]) == *want)
        })
    };
    // One filter narrows through its index; the others are checked on what it leaves.
    let rows: Vec<&Value> = match s
        .filters
        .iter()
        .find_map(|(param, field)| Some((*field, call.query.get(*param)?)))
    {
        Some((field, want)) => data.rows_with(s.kind, field, want).filter(wanted).collect(),
        None => data.rows(s.kind).collect(),
    };
    page(call, rows, s.paged, |row| s.row(row))
}

fn update(data: &mut OrgData, s: &Spec, id: &str, body: Value, full: bool) -> Reply {
    let Some(body) = body.as_object() else {
        return Reply::invalid("non_field_errors", "Invalid data. Expected a dictionary.");
    };
    if data.find(s.kind, id).is_none() {
        return Reply::not_found();
    }
    if let Err(r) = validate(data, s, body, Some(id), full) {
        return r;
    }
    data.note_ignored(s, if full { "PUT" } else { "PATCH" }, body);
    let row = data.col(s.kind).modify(id, |row| {
        if let Some(obj) = row.as_object_mut() {
            for (k, v) in body {
                if s.accepts(k) && !SERVER_MANAGED.contains(&k.as_str()) {
                    obj.insert(k.clone(), v.clone());
                }
            }
            if s.kind == "workflow_endpoint" && body.contains_key("connector_instance_id") {
                obj.insert(
                    "connector_instance".into(),
                    body["connector_instance_id"].clone(),
                );
            }
        }
        row.clone()
    });
    Reply::ok(row.expect("checked above"))
}

/// `POST <kind>/{id}/share/ {shared_to_org, shared_users, shared_groups}`.
fn share(org: &Org, call: &Call, s: &Spec, id: &str) -> Reply {
    if call.method != Method::POST && call.method != Method::PATCH {
        return Reply::method_not_allowed(&call.method);
    }
    let body = match call.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut data = org.data.lock().unwrap();
    for u in body
        .get("shared_users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !data.users.iter().any(|(id, _, _)| Some(*id) == u.as_u64()) {
            return Reply::invalid(
                "shared_users",
                format!("Invalid pk \"{u}\" - object does not exist."),
            );
        }
    }
    for g in body
        .get("shared_groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if data.find("group", &id_text(g)).is_none() {
            return Reply::invalid(
                "shared_groups",
                format!("Invalid pk \"{g}\" - object does not exist."),
            );
        }
    }
    let shared = data.col(s.kind).modify(id, |row| {
        for f in ["shared_to_org", "shared_users", "shared_groups"] {
            if let Some(v) = body.get(f) {
                row[f] = v.clone();
            }
        }
        row.clone()
    });
    shared.map(Reply::ok).unwrap_or_else(Reply::not_found)
}

fn users(org: &Org, call: &Call) -> Reply {
    if call.method != Method::GET {
        return Reply::method_not_allowed(&call.method);
    }
    let data = org.data.lock().unwrap();
    let members: Vec<Value> = data
        .users
        .iter()
        .map(
            |(id, email, service)| json!({"id": id, "email": email, "is_service_account": service}),
        )
        .collect();
    Reply::ok(json!({ "members": members }))
}

fn members(org: &Org, call: &Call, group: &str) -> Reply {
    let mut data = org.data.lock().unwrap();
    let Ok(gid) = group.parse::<u64>() else {
        return Reply::not_found();
    };
    if data.find("group", group).is_none() {
        return Reply::not_found();
    }
    match call.method {
        Method::GET => {
            let ids = data.members.get(&gid).cloned().unwrap_or_default();
            let rows: Vec<Value> = data
                .users
                .iter()
                .filter(|(id, _, _)| ids.contains(id))
                .map(|(id, email, _)| json!({"id": id, "email": email}))
                .collect();
            Reply::ok(json!(rows))
        }
        Method::POST => {
            let body = match call.json() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Some(ids) = body.get("user_ids").and_then(Value::as_array) else {
                return Reply::invalid("user_ids", "This field is required.");
            };
            let mut add = Vec::new();
            for v in ids {
                match v
                    .as_u64()
                    .filter(|id| data.users.iter().any(|(u, _, _)| u == id))
                {
                    Some(id) => add.push(id),
                    None => {
                        return Reply::invalid(
                            "user_ids",
                            format!("Invalid pk \"{v}\" - object does not exist."),
                        );
                    }
                }
            }
            let list = data.members.entry(gid).or_default();
            for id in add {
                if !list.contains(&id) {
                    list.push(id);
                }
            }
            Reply::created(json!({"user_ids": list.clone()}))
        }
        _ => Reply::method_not_allowed(&call.method),
    }
}

fn api_keys(org: &Org, call: &Call, owner: &str) -> Reply {
    if call.method != Method::GET {
        return Reply::method_not_allowed(&call.method);
    }
    let data = org.data.lock().unwrap();
    match data.api_keys.get(owner) {
        Some(keys) => Reply::ok(json!(keys)),
        None => Reply::not_found(),
    }
}
