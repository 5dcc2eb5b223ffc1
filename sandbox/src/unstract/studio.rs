//! Prompt Studio's special endpoints: a tool's profiles (adapters by name), the project
//! transfer (export blob and multipart import), prompt sync, and the registry export.

use super::records::{create, page, stamp};
use super::shared::{Call, Org, Reply};
use super::store::{OrgData, id_text, spec};
use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// The adapter fields of a profile, with the import form field that sets each.
pub const PROFILE_ADAPTERS: [(&str, &str); 4] = [
    ("llm", "llm_adapter_id"),
    ("vector_store", "vector_db_adapter_id"),
    ("embedding_model", "embedding_adapter_id"),
    ("x2text", "x2text_adapter_id"),
];

const PROMPT_FIELDS: [&str; 10] = [
    "prompt_key",
    "prompt",
    "enforce_type",
    "sequence_number",
    "prompt_type",
    "output",
    "assert_prompt",
    "is_assert",
    "active",
    "required",
];
const TOOL_SETTINGS: [&str; 8] = [
    "preamble",
    "postamble",
    "summarize_context",
    "summarize_as_source",
    "enable_challenge",
    "enable_highlight",
    "exclude_failed",
    "single_pass_extraction_mode",
];
const PROFILE_SETTINGS: [&str; 6] = [
    "profile_name",
    "chunk_size",
    "chunk_overlap",
    "retrieval_strategy",
    "similarity_top_k",
    "section",
];

/// An adapter's name by id, including the platform-owned ones the org key cannot list.
fn adapter_name(data: &OrgData, id: &Value) -> Value {
    let id = id_text(id);
    data.find("adapter", &id)
        .or_else(|| data.hidden_adapters.get(&id))
        .map(|a| a["adapter_name"].clone())
        .unwrap_or(Value::Null)
}

/// A profile as the API shows it: adapters by name.
fn profile_view(data: &OrgData, p: &Value) -> Value {
    let mut v = p.clone();
    for (field, _) in PROFILE_ADAPTERS {
        if let Some(id) = p.get(field).filter(|x| !x.is_null()) {
            v[field] = adapter_name(data, id);
        }
    }
    v
}

/// `GET prompt-studio/prompt-studio-profile/{tool}/`
pub fn profiles(org: &Org, call: &Call, tool: &str) -> Reply {
    if call.method != Method::GET {
        return Reply::method_not_allowed(&call.method);
    }
    let data = org.data.lock().unwrap();
    if data.find("custom_tool", tool).is_none() {
        return Reply::not_found();
    }
    let rows: Vec<&Value> = data
        .rows_with("profile", "prompt_studio_tool", tool)
        .collect();
    page(call, rows, false, |p| profile_view(&data, p))
}

/// The export blob of a tool.
pub fn export_blob(data: &OrgData, tool: &Value) -> Value {
    let id = id_text(&tool["tool_id"]);
    let pick = |src: &Value, fields: &[&str]| -> Value {
        Value::Object(
            fields
                .iter()
                .filter_map(|f| src.get(*f).map(|v| (f.to_string(), v.clone())))
                .collect(),
        )
    };
    let default = data
        .rows_with("profile", "prompt_studio_tool", &id)
        .find(|p| p["is_default"] == true)
        .or_else(|| data.rows_with("profile", "prompt_studio_tool", &id).next());
    let mut profile = default
        .map(|p| pick(p, &PROFILE_SETTINGS))
        .unwrap_or_else(|| json!({}));
    if let Some(p) = default {
        for (field, _) in PROFILE_ADAPTERS {
            profile[field] = adapter_name(data, &p[field]);
        }
    }
    let mut prompts: Vec<Value> = data
        .rows_with("prompt", "tool_id", &id)
        .map(|p| pick(p, &PROMPT_FIELDS))
        .collect();
    prompts.sort_by_key(|p| p["sequence_number"].as_i64().unwrap_or(0));
    json!({
        "tool_metadata": pick(tool, &["tool_name", "description", "author", "icon"]),
        "tool_settings": pick(tool, &TOOL_SETTINGS),
        "default_profile_settings": profile,
        "prompts": prompts,
        "export_metadata": {"exported_at": "2026-01-01T00:00:00Z", "exported_by": "sandbox", "export_version": "1.0.0", "source_tool_id": id},
    })
}

/// `GET prompt-studio/project-transfer/{tool}` (export) and
/// `POST prompt-studio/project-transfer/` (multipart import).
pub async fn transfer(org: &Org, call: &Call, rest: &[&str]) -> Reply {
    match (&call.method, rest) {
        (&Method::GET, [tool]) => {
            let data = org.data.lock().unwrap();
            match data.find("custom_tool", tool) {
                Some(t) => Reply::ok(export_blob(&data, t)),
                None => Reply::not_found(),
            }
        }
        (&Method::POST, []) => import(org, call).await,
        _ => Reply::method_not_allowed(&call.method),
    }
}

async fn import(org: &Org, call: &Call) -> Reply {
    let mut form = match call.form("file", "Send the export as multipart/form-data.") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut blob: Option<Value> = None;
    let mut fields: Map<String, Value> = Map::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Reply::invalid("file", format!("could not read the form: {e}")),
        };
        let name = field.name().unwrap_or("").to_string();
        let Ok(bytes) = field.bytes().await else {
            return Reply::invalid(&name, "could not read this part");
        };
        if name == "file" {
            match serde_json::from_slice(&bytes) {
                Ok(v) => blob = Some(v),
                Err(e) => return Reply::invalid("file", format!("Invalid JSON file: {e}")),
            }
        } else {
            fields.insert(
                name,
                Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            );
        }
    }
    let Some(blob) = blob else {
        return Reply::invalid("file", "No file was submitted.");
    };
    let Some(name) = blob
        .pointer("/tool_metadata/tool_name")
        .and_then(Value::as_str)
    else {
        return Reply::invalid("file", "The export has no tool_metadata.tool_name.");
    };

    let mut data = org.data.lock().unwrap();
    // A clashing name is made unique, as the real backend does.
    let mut unique = name.to_string();
    let mut n = 1;
    while data
        .rows_with("custom_tool", "tool_name", &unique)
        .next()
        .is_some()
    {
        unique = format!("{name} ({n})");
        n += 1;
    }
    let mut tool = blob["tool_metadata"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    tool.insert("tool_name".into(), json!(unique));
    if let Some(settings) = blob["tool_settings"].as_object() {
        tool.extend(settings.clone());
    }
    let reply = create(
        &mut data,
        &org.name,
        spec("custom_tool"),
        Value::Object(tool),
    );
    let Reply::Json(StatusCode::CREATED, row) = reply else {
        return reply;
    };
    let tool_id = id_text(&row["tool_id"]);

    // The default profile, with the adapters the form names (those that exist).
    let mut profile = blob["default_profile_settings"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut needs_config = false;
    for (field, form_field) in super::studio::PROFILE_ADAPTERS {
        let id = fields
            .get(form_field)
            .map(id_text)
            .filter(|id| data.find("adapter", id).is_some());
        needs_config |= id.is_none();
        profile.insert(field.into(), id.map(Value::String).unwrap_or(Value::Null));
    }
    profile.entry("profile_name").or_insert(json!("Default"));
    profile.insert("prompt_studio_tool".into(), json!(tool_id));
    profile.insert("is_default".into(), json!(true));
    let _ = create(
        &mut data,
        &org.name,
        spec("profile"),
        Value::Object(profile),
    );
    sync(&mut data, &org.name, &tool_id, &blob);
    Reply::created(
        json!({"tool_id": tool_id, "needs_adapter_config": needs_config, "message": if needs_config { "Project imported; configure its adapters" } else { "Project imported successfully" }}),
    )
}

/// Make a tool's prompts those of an export blob, matched by `prompt_key`.
fn sync(data: &mut OrgData, org: &str, tool: &str, blob: &Value) {
    let wanted: Vec<Value> = blob["prompts"].as_array().cloned().unwrap_or_default();
    let keys: Vec<String> = wanted.iter().map(|p| id_text(&p["prompt_key"])).collect();
    let stale: Vec<String> = data
        .rows_with("prompt", "tool_id", tool)
        .filter(|p| !keys.contains(&id_text(&p["prompt_key"])))
        .map(|p| id_text(&p["prompt_id"]))
        .collect();
    for id in stale {
        data.col("prompt").remove("prompt_id", &id);
    }
    for p in wanted {
        let key = id_text(&p["prompt_key"]);
        let existing = data
            .rows_with("prompt", "tool_id", tool)
            .find(|x| id_text(&x["prompt_key"]) == key)
            .map(|x| id_text(&x["prompt_id"]));
        match existing {
            Some(id) => {
                if let Some(src) = p.as_object() {
                    data.col("prompt").modify(&id, |row| {
                        for f in PROMPT_FIELDS {
                            if let Some(v) = src.get(f) {
                                row[f] = v.clone();
                            }
                        }
                    });
                }
            }
            None => {
                let mut body = p.as_object().cloned().unwrap_or_default();
                body.insert("tool_id".into(), json!(tool));
                let _ = create(data, org, spec("prompt"), Value::Object(body));
            }
        }
    }
}

/// `POST prompt-studio/{tool}/sync-prompts/ {"data": blob, "create_copy": false}`
pub fn sync_prompts(org: &Org, call: &Call, tool: &str) -> Reply {
    if call.method != Method::POST {
        return Reply::method_not_allowed(&call.method);
    }
    let body = match call.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(blob) = body.get("data").filter(|d| d.is_object()) else {
        return Reply::invalid("data", "This field is required.");
    };
    let mut data = org.data.lock().unwrap();
    if data.find("custom_tool", tool).is_none() {
        return Reply::not_found();
    }
    sync(&mut data, &org.name, tool, blob);
    Reply::ok(json!({"message": "Prompts synced successfully"}))
}

/// `POST prompt-studio/export/{tool}`: publish the tool to the registry (one entry per tool,
/// refreshed on every export).
pub fn export(org: &Org, call: &Call, tool: &str) -> Reply {
    if call.method != Method::POST {
        return Reply::method_not_allowed(&call.method);
    }
    let mut data = org.data.lock().unwrap();
    let Some(t) = data.find("custom_tool", tool).cloned() else {
        return Reply::not_found();
    };
    publish(&mut data, &org.name, &t);
    Reply::ok(json!({"message": "Custom tool exported successfully."}))
}

/// Create or refresh the registry entry of a tool.
pub fn publish(data: &mut OrgData, org: &str, tool: &Value) -> String {
    let tool_id = id_text(&tool["tool_id"]);
    let blob = export_blob(data, tool);
    let existing = data
        .rows_with("registry", "custom_tool", &tool_id)
        .next()
        .map(|r| id_text(&r["prompt_registry_id"]));
    let id = existing.unwrap_or_else(|| data.next_uuid(org));
    let mut row = Map::new();
    row.insert("prompt_registry_id".into(), json!(id));
    row.insert("custom_tool".into(), json!(tool_id));
    row.insert("name".into(), tool["tool_name"].clone());
    row.insert(
        "description".into(),
        tool.get("description").cloned().unwrap_or(Value::Null),
    );
    row.insert(
        "tool_spec".into(),
        json!({"prompts": blob["prompts"].as_array().map(|p| p.len()).unwrap_or(0)}),
    );
    stamp(&mut row, data, org);
    data.col("registry")
        .insert("prompt_registry_id", Value::Object(row));
    id
}
