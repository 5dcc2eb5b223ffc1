//! Rhai transform hooks. A hook script defines
//!
//! ```rhai
//! fn transform(ctx, res) {
//!     // ctx: #{ source_env, target_env, kind, params }
//!     // res: #{ kind, id, key, body }
//!     res.body.name = swap_suffix(res.body.name, "-dev", "-prod");
//!     res                      // keep it (changed), or:  skip("why")  or  throw "error"
//! }
//! ```
//!
//! It gets the pure helpers and nothing else: no network, no files, no `eval`, no `import`.

use super::helpers::Skip;
use super::{Budget, RhaiLimits, ScriptFailure, classify, engine, syntax_error};
use crate::plugin::PluginError;
use crate::plugin::types::{GuestError, HookContext, HookOutcome, Resource};
use rhai::{AST, Dynamic, Engine, Map, Scope};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct RhaiHook {
    name: Arc<str>,
    engine: Arc<Engine>,
    ast: Arc<AST>,
    limits: RhaiLimits,
    sha256: String,
    stats: Arc<crate::plugin::stats::Stats>,
}

impl RhaiHook {
    pub fn load(path: &Path, limits: RhaiLimits) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading hook {}: {e}", path.display()))?;
        Self::compile(&path.display().to_string(), &text, limits)
    }

    /// Compile a hook; `name` is how errors refer to it (usually its path).
    pub fn compile(name: &str, text: &str, limits: RhaiLimits) -> anyhow::Result<Self> {
        let engine = engine(&limits, name);
        let ast = engine
            .compile(text)
            .map_err(|e| anyhow::anyhow!("{}", syntax_error(name, &e)))?;
        if !ast
            .iter_functions()
            .any(|f| f.name == "transform" && f.params.len() == 2)
        {
            anyhow::bail!("hook {name} must define fn transform(ctx, res)");
        }
        let sha256 = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        Ok(RhaiHook {
            name: Arc::from(name),
            engine: Arc::new(engine),
            ast: Arc::new(ast),
            limits,
            sha256,
            stats: Arc::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Run the hook on one resource, on a blocking thread.
    pub async fn apply(
        &self,
        ctx: &HookContext,
        res: &Resource,
    ) -> Result<HookOutcome, PluginError> {
        let hook = self.clone();
        let (ctx, res) = (ctx.clone(), res.clone());
        // The caller's span goes along: a print inside a server job lands in that job's log.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| hook.apply_blocking(&ctx, &res)))
            .await
            .unwrap_or_else(|e| {
                Err(PluginError::Trap {
                    plugin: self.name.to_string(),
                    call: "transform".into(),
                    message: format!("the hook thread failed: {e}"),
                    stderr: String::new(),
                })
            })
    }

    /// Run the hook on the current thread (which must not be an async worker).
    pub fn apply_blocking(
        &self,
        ctx: &HookContext,
        res: &Resource,
    ) -> Result<HookOutcome, PluginError> {
        let started = std::time::Instant::now();
        let out = self.run(ctx, res);
        self.stats.rhai_hooks.add(started.elapsed());
        out
    }

    fn run(&self, ctx: &HookContext, res: &Resource) -> Result<HookOutcome, PluginError> {
        let call = format!("transform {} {:?}", res.kind, res.key);
        let fail = |error: GuestError| PluginError::Guest {
            plugin: self.name.to_string(),
            call: call.clone(),
            error,
        };
        let to_dyn = |v: serde_json::Value| {
            rhai::serde::to_dynamic(v).map_err(|e| fail(GuestError::Invalid(e.to_string())))
        };
        let mut c = Map::new();
        c.insert("source_env".into(), ctx.source_env.clone().into());
        c.insert("target_env".into(), ctx.target_env.clone().into());
        c.insert("kind".into(), ctx.kind.clone().into());
        c.insert("params".into(), to_dyn(ctx.params.clone())?);
        let r = resource_to_dynamic(res).map_err(|e| fail(GuestError::Invalid(e)))?;

        let result = {
            let budget = Budget::start_masking(self.limits.cpu, &ctx.secrets);
            let r = self.engine.call_fn::<Dynamic>(
                &mut Scope::new(),
                &self.ast,
                "transform",
                (Dynamic::from_map(c), r),
            );
            budget.report(&self.name);
            r
        };
        let out = match result {
            Ok(v) => v,
            Err(e) => {
                return Err(match classify(&e, &self.limits) {
                    ScriptFailure::Limit(limit) => PluginError::Limit {
                        plugin: self.name.to_string(),
                        call,
                        limit,
                    },
                    ScriptFailure::Error(message) => fail(GuestError::Fatal(message)),
                });
            }
        };
        if let Some(skip) = out.clone().try_cast::<Skip>() {
            return Ok(HookOutcome::Skip(skip.0));
        }
        if !out.is_map() {
            return Err(fail(GuestError::Invalid(format!(
                "transform returned {}, expected the resource (res) or skip(reason)",
                out.type_name()
            ))));
        }
        resource_from_dynamic(&out, res)
            .map(HookOutcome::Keep)
            .map_err(|e| fail(GuestError::Invalid(e)))
    }
}

pub(super) fn resource_to_dynamic(res: &Resource) -> Result<Dynamic, String> {
    let mut m = Map::new();
    m.insert("kind".into(), res.kind.clone().into());
    m.insert("id".into(), res.id.clone().into());
    m.insert("key".into(), res.key.clone().into());
    m.insert(
        "body".into(),
        rhai::serde::to_dynamic(&res.body).map_err(|e| e.to_string())?,
    );
    Ok(Dynamic::from_map(m))
}

/// Read back a resource map; fields the script dropped keep their old values, except the
/// body, which must be there.
pub(super) fn resource_from_dynamic(v: &Dynamic, old: &Resource) -> Result<Resource, String> {
    let map = v.read_lock::<Map>().ok_or("the resource must be a map")?;
    let text = |field: &str, default: &str| -> Result<String, String> {
        match map.get(field) {
            None => Ok(default.to_string()),
            Some(v) if v.is_string() => Ok(v.clone().into_string().unwrap_or_default()),
            Some(v) => Err(format!(
                "res.{field} must be a string, not {}",
                v.type_name()
            )),
        }
    };
    let body = map.get("body").ok_or("the resource has no body")?;
    let body: serde_json::Value =
        rhai::serde::from_dynamic(body).map_err(|e| format!("res.body: {e}"))?;
    let skip = match map.get("skip") {
        None => old.skip.clone(),
        Some(v) if v.is_unit() => None,
        Some(v) if v.is_string() => Some(v.clone().into_string().unwrap_or_default()),
        Some(v) => return Err(format!("res.skip must be a string, not {}", v.type_name())),
    };
    Ok(Resource {
        kind: text("kind", &old.kind)?,
        id: text("id", &old.id)?,
        key: text("key", &old.key)?,
        body,
        skip,
    })
}

#[async_trait::async_trait]
impl crate::plugin::hook::HookCalls for RhaiHook {
    fn name(&self) -> &str {
        RhaiHook::name(self)
    }
    fn counting_into(&self, stats: Arc<crate::plugin::stats::Stats>) -> crate::plugin::hook::Hook {
        RhaiHook {
            stats,
            ..self.clone()
        }
        .into()
    }
    async fn apply(&self, ctx: &HookContext, res: &Resource) -> Result<HookOutcome, PluginError> {
        RhaiHook::apply(self, ctx, res).await
    }
}
