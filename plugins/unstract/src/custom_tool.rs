//! Prompt Studio projects (`prompt-studio/`), matched by name. A new one is imported from the
//! source's project-transfer export with the target's adapters (named by its default
//! profile), then published to the registry, whose id tool instances reference. Its documents
//! are copied by `copy-files`, streamed by the host, and the default document is set.

use crate::common::NOT_COMPARED;
use crate::common::{get, list, scalar, share};
use ferry_sdk::files::{
    Download, Encoding, JsonEnvelope, TransferOutcome, TransferRequest, Upload,
};
use ferry_sdk::http::{Body, FormPart, Method};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct CustomTool;

/// The profile's adapter fields and the import form field for each.
const ADAPTERS: [(&str, &str); 4] = [
    ("llm", "llm_adapter_id"),
    ("vector_store", "vector_db_adapter_id"),
    ("embedding_model", "embedding_adapter_id"),
    ("x2text", "x2text_adapter_id"),
];

fn info() -> KindInfo {
    let mut k = KindInfo::new("custom_tool", "Prompt Studio projects with prompts, settings, default profile and documents, matched by name").key(["/tool_name"]).with_files().optional_reference("/shared_groups/*", "group");
    for (field, _) in ADAPTERS {
        k = k.reference_by_field(
            &format!("/_ferry/profile/{field}"),
            "adapter",
            "/adapter_name",
        );
    }
    k.not_compared(NOT_COMPARED)
        .not_compared(["/output", "/prompt_registry_id"])
        .deletes()
}

/// A profile's adapter as a name (the API gives a name, or an object with one).
fn adapter_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o
            .get("adapter_name")
            .or_else(|| o.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

/// Per tool, the lists at `prefix{id}/` (or, with `by`, at `prefix?by={id}`), read in one batch.
fn lists_of(side: Side, ids: &[String], prefix: &str, by: Option<&str>) -> Result<Vec<Vec<Value>>> {
    let lists: Vec<_> = ids
        .iter()
        .map(|id| match by {
            Some(param) => (
                side,
                prefix.to_string(),
                vec![(param.to_string(), id.clone())],
            ),
            None => (side, format!("{prefix}{id}/"), vec![]),
        })
        .collect();
    http::list_all_many(&lists, Paging::DrfNext)
}

/// Each tool's registry id (null when it is not published), read in one batch.
fn registry_ids(side: Side, ids: &[String]) -> Result<Vec<Value>> {
    Ok(
        lists_of(side, ids, "prompt-studio/registry/", Some("custom_tool"))?
            .into_iter()
            .map(|rows| {
                rows.first()
                    .map(|r| Value::String(scalar(&r["prompt_registry_id"])))
                    .unwrap_or(Value::Null)
            })
            .collect(),
    )
}

/// The target's view of tools, with their registry ids, as the engine needs them.
fn target_resources(ids: &[String]) -> Result<Vec<Resource>> {
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("prompt-studio/{id}/"))
        .collect();
    let bodies = http::get_all(Side::Target, &paths)?;
    Ok(bodies
        .into_iter()
        .zip(registry_ids(Side::Target, ids)?)
        .map(|(mut body, registry)| {
            body["prompt_registry_id"] = registry;
            Resource::from_body(&info(), "/tool_id", body)
        })
        .collect())
}

fn target_resource(tool_id: &str) -> Result<Resource> {
    Ok(target_resources(&[tool_id.to_string()])?.remove(0))
}

impl Kind for CustomTool {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        // Each of the four reads per tool goes as one batch over all tools.
        let ids: Vec<String> = list(Side::Source, "prompt-studio/", &[])?
            .iter()
            .map(|row| scalar(&row["tool_id"]))
            .collect();
        let bodies = http::get_all(
            Side::Source,
            &ids.iter()
                .map(|id| format!("prompt-studio/{id}/"))
                .collect::<Vec<_>>(),
        )?;
        let profiles = lists_of(
            Side::Source,
            &ids,
            "prompt-studio/prompt-studio-profile/",
            None,
        )?;
        let exports = http::get_all(
            Side::Source,
            &ids.iter()
                .map(|id| format!("prompt-studio/project-transfer/{id}"))
                .collect::<Vec<_>>(),
        )?;
        let registries = registry_ids(Side::Source, &ids)?;
        let mut out = Vec::new();
        for (((mut body, profiles), export), registry) in bodies
            .into_iter()
            .zip(profiles)
            .zip(exports)
            .zip(registries)
        {
            let default = profiles
                .iter()
                .find(|p| p["is_default"].as_bool().unwrap_or(false))
                .or(profiles.first())
                .cloned()
                .unwrap_or(Value::Null);
            let mut profile = serde_json::Map::new();
            for (field, _) in ADAPTERS {
                if let Some(name) = adapter_name(&default[field]) {
                    profile.insert(field.into(), json!(name));
                }
            }
            body["_ferry"] = json!({"profile": profile, "export": export});
            body["prompt_registry_id"] = registry;
            out.push(Resource::from_body(&info(), "/tool_id", body));
        }
        Ok(out)
    }

    fn find(&self, ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        Ok(self
            .find_all(ctx, std::slice::from_ref(wanted))?
            .and_then(|mut f| f.pop())
            .flatten())
    }

    /// One listing of the target's projects for all of them, then the found ones' details
    /// in one batch.
    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        let mut by_name = std::collections::HashMap::new();
        for t in list(Side::Target, "prompt-studio/", &[])? {
            if let Some(name) = t["tool_name"].as_str() {
                by_name
                    .entry(name.to_string())
                    .or_insert_with(|| scalar(&t["tool_id"]));
            }
        }
        let hits: Vec<Option<String>> = wanted
            .iter()
            .map(|w| by_name.get(w.str("/tool_name")).cloned())
            .collect();
        let ids: Vec<String> = hits.iter().flatten().cloned().collect();
        let mut found = target_resources(&ids)?.into_iter();
        Ok(Some(
            hits.into_iter()
                .map(|h| h.and_then(|_| found.next()))
                .collect(),
        ))
    }

    fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> {
        // The profile's adapters by name, as the host rewrote them, to target ids.
        let mut parts = Vec::new();
        let named: Vec<(&str, &str)> = ADAPTERS
            .iter()
            .filter_map(|(field, form)| {
                Some((
                    *form,
                    res.body
                        .pointer(&format!("/_ferry/profile/{field}"))
                        .and_then(Value::as_str)?,
                ))
            })
            .collect();
        let lookups: Vec<_> = named
            .iter()
            .map(|(_, name)| {
                (
                    Side::Target,
                    "adapter/".to_string(),
                    vec![("adapter_name".to_string(), name.to_string())],
                )
            })
            .collect();
        for ((form, name), rows) in named
            .iter()
            .zip(http::list_all_many(&lookups, Paging::DrfNext)?)
        {
            let (form, name) = (*form, *name);
            let hit = rows
                .into_iter()
                .find(|a| a["adapter_name"].as_str() == Some(name));
            match hit {
                Some(a) => parts.push(FormPart {
                    name: form.into(),
                    filename: None,
                    content_type: None,
                    data: scalar(&a["id"]).into_bytes(),
                }),
                None => log::warn(format!(
                    "project {:?}: adapter {name:?} is not on the target",
                    res.key
                )),
            }
        }
        let mut export = res
            .body
            .pointer("/_ferry/export")
            .cloned()
            .unwrap_or(Value::Null);
        export["tool_metadata"]["tool_name"] = json!(res.str("/tool_name"));
        parts.push(FormPart {
            name: "file".into(),
            filename: Some(format!("{}.json", res.key)),
            content_type: Some("application/json".into()),
            data: export.to_string().into_bytes(),
        });
        let imported = http::request(
            Side::Target,
            Method::Post,
            "prompt-studio/project-transfer/",
            &[],
            &[],
            Body::Form(parts),
        )?
        .ok()?
        .json()?;
        let tool_id = scalar(&imported["tool_id"]);
        if imported["needs_adapter_config"].as_bool().unwrap_or(false) {
            log::warn(format!(
                "project {:?} was imported but needs its adapters configured on the target",
                res.key
            ));
        }
        let name = get(Side::Target, &format!("prompt-studio/{tool_id}/"))?["tool_name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if name != res.str("/tool_name") {
            return Err(Error::Conflict(format!(
                "the target imported project {:?} as {name:?}: a project of that name appeared meanwhile",
                res.key
            )));
        }
        // Publish to the registry when the source project is published.
        if !res.body["prompt_registry_id"].is_null() {
            http::post_json_idempotent(
                Side::Target,
                &format!("prompt-studio/export/{tool_id}"),
                &json!({"is_shared_with_org": false, "user_id": [], "force_export": true}),
            )?
            .ok()?;
        }
        share("prompt-studio/", &tool_id, &res.body)?;
        target_resource(&tool_id)
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        // Settings, then the prompts from the source's export.
        let settings = res
            .body
            .pointer("/_ferry/export/tool_settings")
            .cloned()
            .unwrap_or(json!({}));
        let mut patch = settings.as_object().cloned().unwrap_or_default();
        for f in ["description", "author", "icon"] {
            if let Some(v) = res.body.get(f) {
                patch.insert(f.into(), v.clone());
            }
        }
        http::patch_json(
            Side::Target,
            &format!("prompt-studio/{target_id}/"),
            &Value::Object(patch),
        )?
        .ok()?;
        let export = res
            .body
            .pointer("/_ferry/export")
            .cloned()
            .unwrap_or(Value::Null);
        http::post_json_idempotent(
            Side::Target,
            &format!("prompt-studio/{target_id}/sync-prompts/"),
            &json!({"data": export, "create_copy": false}),
        )?
        .ok()?;
        if !res.body["prompt_registry_id"].is_null() {
            http::post_json_idempotent(
                Side::Target,
                &format!("prompt-studio/export/{target_id}"),
                &json!({"is_shared_with_org": false, "user_id": [], "force_export": true}),
            )?
            .ok()?;
        }
        share("prompt-studio/", target_id, &res.body)?;
        target_resource(target_id)
    }

    fn copy_files(&self, ctx: &Ctx, source: &Resource, target: &Resource) -> Result<Value> {
        let max: u64 = ctx
            .option("max-file-size")
            .and_then(|m| m.parse().ok())
            .unwrap_or(25 << 20);
        // Both sides' documents in one batch: a re-run that has nothing to move waits for one
        // round trip here, not two.
        let path = "prompt-studio/prompt-document/".to_string();
        let both = [
            (
                Side::Source,
                path.clone(),
                vec![("tool_id".to_string(), source.id.clone())],
            ),
            (
                Side::Target,
                path,
                vec![("tool_id".to_string(), target.id.clone())],
            ),
        ];
        let [docs, on_target]: [Vec<Value>; 2] = http::list_all_many(&both, Paging::DrfNext)?
            .try_into()
            .map_err(|_| {
                Error::Fatal("list-all-many answered a different number of lists".into())
            })?;
        let present: Vec<String> = on_target
            .iter()
            .map(|d| scalar(&d["document_name"]))
            .collect();
        let (mut moved, mut too_large, mut unsupported, mut failed) =
            (vec![], vec![], vec![], vec![]);
        for d in &docs {
            let name = scalar(&d["document_name"]);
            if present.contains(&name) {
                continue;
            }
            let req = document(source, d, &target.id, max);
            match ferry_sdk::files::transfer(&req) {
                Ok(TransferOutcome::Moved(m)) => {
                    moved.push(json!({"name": name, "bytes": m.bytes, "sha256": m.sha256}))
                }
                Ok(TransferOutcome::TooLarge(n)) => {
                    too_large.push(json!({"name": name, "bytes": n}))
                }
                Ok(TransferOutcome::Unsupported(mime)) => {
                    unsupported.push(json!({"name": name, "mime_type": mime}))
                }
                Err(e) => failed.push(json!({"name": name, "error": e.to_string()})),
            }
        }
        // When nothing was moved, the target as it was read (matched, or just made) says
        // whether it already has a default document.
        if !moved.is_empty() || !has_default(&target.body) {
            set_default_document(source, target, &docs)?;
        }
        Ok(
            json!({"moved": moved, "too_large": too_large, "unsupported": unsupported, "failed": failed}),
        )
    }

    /// What a write reads of the source beyond the listing: the users it is shared with, its
    /// documents' list, and each document (saved in the package by the host).
    fn export(&self, ctx: &Ctx, res: &Resource) -> Result<Value> {
        crate::common::export_share(&res.body)?;
        let max: u64 = ctx
            .option("max-file-size")
            .and_then(|m| m.parse().ok())
            .unwrap_or(25 << 20);
        let docs = list(
            Side::Source,
            "prompt-studio/prompt-document/",
            &[("tool_id", &res.id)],
        )?;
        let (mut saved, mut too_large, mut unsupported) = (vec![], vec![], vec![]);
        for d in &docs {
            let name = scalar(&d["document_name"]);
            match ferry_sdk::files::transfer(&document(res, d, "", max))? {
                TransferOutcome::Moved(m) => {
                    saved.push(json!({"name": name, "bytes": m.bytes, "sha256": m.sha256}))
                }
                TransferOutcome::TooLarge(n) => too_large.push(json!({"name": name, "bytes": n})),
                TransferOutcome::Unsupported(mime) => {
                    unsupported.push(json!({"name": name, "mime_type": mime}))
                }
            }
        }
        Ok(json!({"documents": saved, "too_large": too_large, "unsupported": unsupported}))
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("prompt-studio/{}/", target.id))
    }
}

/// The transfer of one source document of `source` into target project `target_id`.
fn document(source: &Resource, doc: &Value, target_id: &str, max: u64) -> TransferRequest {
    TransferRequest {
        download: Download {
            path: format!("prompt-studio/file/{}", source.id),
            query: vec![("document_id".into(), scalar(&doc["document_id"]))],
            encoding: Encoding::JsonEnvelope(JsonEnvelope {
                data: "/data".into(),
                mime_type: "/mime_type".into(),
                base64: true,
            }),
        },
        upload: Upload {
            path: format!("prompt-studio/file/{target_id}"),
            field: "file".into(),
            filename: scalar(&doc["document_name"]),
            fields: vec![],
        },
        max_bytes: max,
        accept: vec![
            "application/pdf".into(),
            "text/plain".into(),
            "text/csv".into(),
        ],
    }
}

fn has_default(tool: &Value) -> bool {
    !(tool["output"].is_null() || tool["output"].as_str() == Some(""))
}

/// The target project's default document: the source's, by name, unless the target has one.
fn set_default_document(source: &Resource, target: &Resource, docs: &[Value]) -> Result<()> {
    let tool = get(Side::Target, &format!("prompt-studio/{}/", target.id))?;
    if has_default(&tool) {
        return Ok(());
    }
    let wanted = docs
        .iter()
        .find(|d| scalar(&d["document_id"]) == scalar(&source.body["output"]))
        .map(|d| scalar(&d["document_name"]));
    let now = list(
        Side::Target,
        "prompt-studio/prompt-document/",
        &[("tool_id", &target.id)],
    )?;
    // The source's default when it is there (not yet, if its copy failed: the next try sets
    // it); the first document when the source names none.
    let pick = match &wanted {
        Some(name) => now.iter().find(|d| scalar(&d["document_name"]) == *name),
        None => now.first(),
    };
    if let Some(doc) = pick {
        http::patch_json(
            Side::Target,
            &format!("prompt-studio/{}/", target.id),
            &json!({"output": scalar(&doc["document_id"])}),
        )?
        .ok()?;
    }
    Ok(())
}
