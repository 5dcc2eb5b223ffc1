//! Prompts of Prompt Studio projects (`prompt-studio/prompt/`), matched by key within their
//! project. A new project brings its prompts with it (import); this kind adds the ones an
//! adopted project lacks, and with `update` makes changed ones equal.

use crate::common::NOT_COMPARED;
use crate::common::{list, payload, scalar};
use ferry_sdk::prelude::*;

#[derive(Default)]
pub(crate) struct Prompt;

fn info() -> KindInfo {
    KindInfo::new(
        "prompt",
        "Prompt Studio prompts, matched by key within their project",
    )
    .key(["/_ferry/tool_name", "/prompt_key"])
    .reference("/tool_id", "custom_tool")
    .not_compared(NOT_COMPARED)
    .deletes()
}

/// The prompts of each project, read in one batch.
fn prompts_of<'a>(side: Side, tools: impl Iterator<Item = &'a str>) -> Result<Vec<Vec<Value>>> {
    let lists: Vec<_> = tools
        .map(|id| {
            (
                side,
                "prompt-studio/prompt/".to_string(),
                vec![("tool_id".to_string(), id.to_string())],
            )
        })
        .collect();
    http::list_all_many(&lists, Paging::DrfNext)
}

fn resource(mut p: Value, tool_name: &str) -> Resource {
    p["_ferry"] = json!({"tool_name": tool_name});
    Resource::from_body(&info(), "/prompt_id", p)
}

impl Kind for Prompt {
    fn info(&self) -> KindInfo {
        info()
    }

    fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> {
        let tools: Vec<(String, String)> = list(Side::Source, "prompt-studio/", &[])?
            .iter()
            .map(|t| (scalar(&t["tool_id"]), scalar(&t["tool_name"])))
            .collect();
        let mut out = Vec::new();
        for ((id, name), prompts) in tools.iter().zip(prompts_of(
            Side::Source,
            tools.iter().map(|(id, _)| id.as_str()),
        )?) {
            for mut p in prompts {
                p["tool_id"] = json!(id);
                out.push(resource(p, name));
            }
        }
        Ok(out)
    }

    /// One list of prompts per project that has wanted prompts, in one batch.
    fn find_all(&self, _ctx: &Ctx, wanted: &[Resource]) -> Result<Option<Vec<Option<Resource>>>> {
        let mut tools: Vec<&str> = wanted.iter().map(|w| w.str("/tool_id")).collect();
        tools.sort_unstable();
        tools.dedup();
        let lists: std::collections::HashMap<&str, Vec<Value>> = tools
            .iter()
            .copied()
            .zip(prompts_of(Side::Target, tools.iter().copied())?)
            .collect();
        Ok(Some(
            wanted
                .iter()
                .map(|w| {
                    let (tool, key) = (w.str("/tool_id"), w.str("/prompt_key"));
                    lists[tool]
                        .iter()
                        .find(|p| p["prompt_key"].as_str() == Some(key))
                        .map(|p| {
                            let mut p = p.clone();
                            p["tool_id"] = json!(tool);
                            resource(p, w.str("/_ferry/tool_name"))
                        })
                })
                .collect(),
        ))
    }

    fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> {
        let tool = wanted.str("/tool_id");
        let key = wanted.str("/prompt_key");
        let hit = list(Side::Target, "prompt-studio/prompt/", &[("tool_id", tool)])?
            .into_iter()
            .find(|p| p["prompt_key"].as_str() == Some(key));
        Ok(hit.map(|mut p| {
            p["tool_id"] = json!(tool);
            resource(p, wanted.str("/_ferry/tool_name"))
        }))
    }

    fn create(&self, ctx: &Ctx, res: &Resource) -> Result<Resource> {
        // The project's import may have brought it already.
        if let Some(existing) = self.find(ctx, res)? {
            return Ok(existing);
        }
        let body = payload(
            &res.body,
            &["prompt_id", "profile_manager", "created_by", "modified_by"],
        );
        let mut created = http::post_json(Side::Target, "prompt-studio/prompt/", &body)?
            .ok()?
            .json()?;
        created["tool_id"] = json!(res.str("/tool_id"));
        Ok(resource(created, res.str("/_ferry/tool_name")))
    }

    fn update(&self, _ctx: &Ctx, target_id: &str, res: &Resource) -> Result<Resource> {
        let body = payload(&res.body, &["prompt_id", "profile_manager", "tool_id"]);
        let mut updated = http::patch_json(
            Side::Target,
            &format!("prompt-studio/prompt/{target_id}/"),
            &body,
        )?
        .ok()?
        .json()?;
        updated["tool_id"] = json!(res.str("/tool_id"));
        Ok(resource(updated, res.str("/_ferry/tool_name")))
    }

    fn delete(&self, _ctx: &Ctx, target: &Resource) -> Result<()> {
        crate::common::delete(&format!("prompt-studio/prompt/{}/", target.id))
    }
}
