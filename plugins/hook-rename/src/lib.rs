//! Rename a resource for its target environment: "openai-dev" -> "openai-prod". The twin of
//! `scripts/rename.rhai` (same params, same output), as a WASM component: bundled into ferry
//! as `uses = "bundled:rename.wasm"`.
//!
//! Params: `from` (default "-" + source env), `to` (default "-" + target env), `at`
//! ("suffix", "prefix" or "anywhere"; default "suffix").

use ferry_hook_sdk::{Context, Hook, Outcome, Resource, Value};

struct Rename;

fn param(ctx: &Context, name: &str, default: String) -> Result<String, String> {
    match ctx.params.get(name) {
        None => Ok(default),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("rename: param {name} must be a string")),
    }
}

impl Hook for Rename {
    fn apply(ctx: &Context, mut res: Resource) -> Result<Outcome, String> {
        let from = param(ctx, "from", format!("-{}", ctx.source_env))?;
        let to = param(ctx, "to", format!("-{}", ctx.target_env))?;
        let at = param(ctx, "at", "suffix".into())?;
        let mut parts: Vec<String> = res.key.split(" / ").map(str::to_string).collect();
        let name = parts[0].clone();
        let renamed = match at.as_str() {
            "suffix" => name
                .strip_suffix(from.as_str())
                .map(|stem| format!("{stem}{to}"))
                .unwrap_or_else(|| name.clone()),
            "prefix" => name
                .strip_prefix(from.as_str())
                .map(|rest| format!("{to}{rest}"))
                .unwrap_or_else(|| name.clone()),
            "anywhere" if from.is_empty() => name.clone(),
            "anywhere" => name.replace(from.as_str(), &to),
            other => {
                return Err(format!(
                    "rename: param at must be suffix, prefix or anywhere, not {other}"
                ));
            }
        };
        if renamed != name {
            parts[0] = renamed;
            res.key = parts.join(" / ");
        }
        Ok(Outcome::Keep(res))
    }
}

ferry_hook_sdk::export_hook!(Rename);
