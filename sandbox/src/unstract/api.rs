//! The Platform API: routes below `/{prefix}/unstract/{org}/`. Kinds in the store's table get
//! the generic list / detail / create / update / share handlers; the rest (users, groups'
//! members, prompt studio's profiles, transfer, sync, registry, files, API keys) are here.

use super::server::{Call, Org, Reply};
use super::store::{OrgData, SERVER_MANAGED, SPECS, Spec, id_text, spec};
use super::{files, studio};
use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// References the server checks on create and update: (kind, field, referenced kind).
const REFERENCES: [(&str, &str, &str); 6] = [
    ("pipeline", "workflow", "workflow"),
    ("api_deployment", "workflow", "workflow"),
    ("tool_instance", "workflow_id", "workflow"),
    ("prompt", "tool_id", "custom_tool"),
    ("profile", "prompt_studio_tool", "custom_tool"),
    ("document", "tool", "custom_tool"),
];

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

/// Answer `rows` as DRF would: `{count, next, previous, results}` at 50 a page (or
/// `page_size`, at most 1000) when paged, a bare list otherwise. Only the rows of the page
/// asked for are shown (`show`), so reading a kind page by page stays linear.
pub fn page<T>(call: &Call, rows: Vec<T>, paged: bool, show: impl Fn(T) -> Value) -> Reply {
    let asked = call.query.contains_key("page") || call.query.contains_key("page_size");
    if !paged && !asked {
        return Reply::ok(Value::Array(rows.into_iter().map(show).collect()));
    }
    let size: usize = call
        .query
        .get("page_size")
        .and_then(|p| p.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(50)
        .min(1000);
    let pages = rows.len().div_ceil(size).max(1);
    let number: usize = match call.query.get("page").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if (1..=pages).contains(&n) => n,
        Some(_) => return Reply::Json(StatusCode::NOT_FOUND, json!({"detail": "Invalid page."})),
    };
    let link = |n: usize| {
        let mut q: Vec<(String, String)> = call
            .query
            .iter()
            .filter(|(k, _)| *k != "page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        q.push(("page".into(), n.to_string()));
        let path = call.segments.join("/");
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        Value::String(format!("{}{path}/?{qs}", call.base))
    };
    let count = rows.len();
    let results: Vec<Value> = rows
        .into_iter()
        .skip((number - 1) * size)
        .take(size)
        .map(show)
        .collect();
    Reply::ok(json!({
        "count": count,
        "next": if number < pages { link(number + 1) } else { Value::Null },
        "previous": if number > 1 { link(number - 1) } else { Value::Null },
        "results": results,
    }))
}

/// Check the body of a create or update; `full` requires every required field.
fn validate(
    data: &OrgData,
    s: &Spec,
    body: &Map<String, Value>,
    existing_id: Option<&str>,
    full: bool,
) -> Result<(), Reply> {
    let mut errors = Map::new();
    if full {
        for f in s.required {
            if body.get(*f).is_none_or(|v| v.is_null() || v == "") {
                errors.insert(f.to_string(), json!(["This field is required."]));
            }
        }
    }
    for (kind, field, target) in REFERENCES {
        if kind != s.kind {
            continue;
        }
        if let Some(v) = body.get(field).filter(|v| !v.is_null())
            && data.find(target, &id_text(v)).is_none()
        {
            errors.insert(
                field.to_string(),
                json!([format!(
                    "Invalid pk \"{}\" - object does not exist.",
                    id_text(v)
                )]),
            );
        }
    }
    let existing = existing_id.and_then(|id| data.find(s.kind, id));
    let candidate = |f: &str| {
        body.get(f)
            .cloned()
            .or_else(|| existing.map(|e| e[f].clone()))
            .unwrap_or(Value::Null)
    };
    for set in s.unique {
        let clash = data
            .rows_with(s.kind, set[0], &id_text(&candidate(set[0])))
            .any(|row| {
                existing_id.is_none_or(|id| id_text(&row[s.id]) != id)
                    && set.iter().all(|f| candidate(f) == row[*f])
            });
        if clash {
            let message = if set.len() == 1 {
                format!(
                    "{} with this {} already exists.",
                    s.kind.replace('_', " "),
                    set[0].replace('_', " ")
                )
            } else {
                format!("The fields {} must make a unique set.", set.join(", "))
            };
            let field = if set.len() == 1 {
                set[0]
            } else {
                "non_field_errors"
            };
            errors.insert(field.to_string(), json!([message]));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Reply::Json(StatusCode::BAD_REQUEST, Value::Object(errors)))
    }
}

pub fn stamp(row: &mut Map<String, Value>, data: &mut OrgData, org: &str) {
    let n = data.next_int();
    let t = format!("2026-01-01T00:{:02}:{:02}.000000Z", (n / 60) % 60, n % 60);
    row.entry("organization").or_insert(json!(org));
    let admin = data.users.first().map(|u| u.0).unwrap_or(1);
    row.entry("created_by").or_insert(json!(admin));
    row.entry("created_by_email")
        .or_insert(json!("admin@acme.example"));
    row.entry("created_at").or_insert(json!(t.clone()));
    row.insert("modified_by".into(), json!(admin));
    row.insert("modified_at".into(), json!(t));
    row.entry("is_owner").or_insert(json!(true));
    for f in ["shared_users", "shared_groups"] {
        row.entry(f).or_insert(json!([]));
    }
    row.entry("shared_to_org").or_insert(json!(false));
}

/// Create a row of kind `s` from a client's body; kind-specific effects follow.
pub fn create(data: &mut OrgData, org: &str, s: &'static Spec, body: Value) -> Reply {
    let Some(body) = body.as_object() else {
        return Reply::invalid("non_field_errors", "Invalid data. Expected a dictionary.");
    };
    if let Err(r) = validate(data, s, body, None, true) {
        return r;
    }
    let mut row: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| s.accepts(k) && !SERVER_MANAGED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let id = if s.kind == "group" {
        json!(data.next_int())
    } else {
        json!(data.next_uuid(org))
    };
    row.insert(s.id.into(), id.clone());
    stamp(&mut row, data, org);
    after_create(data, org, s.kind, &mut row);
    let row = Value::Object(row);
    data.col(s.kind).insert(s.id, row.clone());
    if s.kind == "group" {
        // Unstract answers a group's creation without its id: clients re-list to find it.
        return Reply::created(
            json!({"name": row["name"], "description": row.get("description").cloned().unwrap_or(Value::Null)}),
        );
    }
    Reply::created(row)
}

/// What creating a kind does besides storing the row.
fn after_create(data: &mut OrgData, org: &str, kind: &str, row: &mut Map<String, Value>) {
    let id = id_text(&row[spec(kind).id]);
    match kind {
        "workflow" => {
            // A workflow comes with its SOURCE and DESTINATION endpoints.
            for t in ["SOURCE", "DESTINATION"] {
                let eid = data.next_uuid(org);
                let mut e = Map::new();
                for (k, v) in [
                    ("id", json!(eid)),
                    ("workflow", json!(id)),
                    ("endpoint_type", json!(t)),
                    ("connection_type", Value::Null),
                    ("configuration", json!({})),
                    ("connector_instance", Value::Null),
                    ("connector_instance_id", Value::Null),
                ] {
                    e.insert(k.into(), v);
                }
                stamp(&mut e, data, org);
                data.col("workflow_endpoint").insert("id", Value::Object(e));
            }
        }
        "pipeline" => {
            // Pipelines are created active, whatever the request says.
            row.insert("active".into(), json!(true));
            row.entry("cron_string").or_insert(Value::Null);
            row.insert("run_count".into(), json!(0));
            row.insert("last_run_status".into(), Value::Null);
            mint_key(data, org, &id, "pipeline");
        }
        "api_deployment" => {
            row.entry("is_active").or_insert(json!(true));
            let key = mint_key(data, org, &id, "api");
            row.insert("api_key".into(), json!(key));
            row.insert(
                "api_endpoint".into(),
                json!(format!(
                    "/deployment/api/{org}/{}/",
                    row.get("api_name").and_then(Value::as_str).unwrap_or("")
                )),
            );
        }
        "tool_instance" => {
            row.insert(
                "workflow".into(),
                row.get("workflow_id").cloned().unwrap_or(Value::Null),
            );
            row.entry("metadata").or_insert(json!({}));
            let n = data
                .rows_with("tool_instance", "workflow", &id_text(&row["workflow"]))
                .filter(|t| t["workflow"] == row["workflow"])
                .count();
            row.insert("step".into(), json!(n + 1));
        }
        _ => {}
    }
}

fn mint_key(data: &mut OrgData, org: &str, owner: &str, kind: &str) -> String {
    let key = data.next_uuid(org);
    let entry = json!({"id": data.next_uuid(org), "api_key": key, "description": format!("{kind} key"), "is_active": true});
    data.api_keys
        .entry(owner.to_string())
        .or_default()
        .push(entry);
    key
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
