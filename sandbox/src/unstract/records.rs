//! Records of an org, as the API makes them: created (checked, stamped, with what a
//! creation brings along), and listed a page at a time. The routes (`api`, `files`,
//! `studio`) and the seeds all make records so; this module uses none of them.

use super::shared::{Call, Reply};
use super::store::{OrgData, SERVER_MANAGED, Spec, id_text, spec};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// References the server checks on create and update: (kind, field, referenced kind).
pub(super) const REFERENCES: [(&str, &str, &str); 6] = [
    ("pipeline", "workflow", "workflow"),
    ("api_deployment", "workflow", "workflow"),
    ("tool_instance", "workflow_id", "workflow"),
    ("prompt", "tool_id", "custom_tool"),
    ("profile", "prompt_studio_tool", "custom_tool"),
    ("document", "tool", "custom_tool"),
];

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
pub(super) fn validate(
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
    data.note_ignored(s, "POST", body);
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
pub(super) fn after_create(
    data: &mut OrgData,
    org: &str,
    kind: &str,
    row: &mut Map<String, Value>,
) {
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

pub(super) fn mint_key(data: &mut OrgData, org: &str, owner: &str, kind: &str) -> String {
    let key = data.next_uuid(org);
    let entry = json!({"id": data.next_uuid(org), "api_key": key, "description": format!("{kind} key"), "is_active": true});
    data.api_keys
        .entry(owner.to_string())
        .or_default()
        .push(entry);
    key
}
