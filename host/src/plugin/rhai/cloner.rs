//! Rhai cloners: the `cloner` contract of the WIT, as script functions.
//!
//! ```rhai
//! fn kinds() { [#{ name: "label", key: ["/name"], depends_on: [], references: [] }] }
//! // a reference: #{ pointer: "/project", kind: "project", by: "id" | "key" | "/field", required: true }
//! // a resource map may carry skip: "reason" when it cannot be cloned
//! fn list(ctx, kind) { list_all("source", "labels/", #{}, "drf-next").map(|b| #{ id: `${b.id}`, key: b.name, body: b }) }
//! fn find(ctx, kind, wanted) { ... }        // a resource map, or () when absent
//! fn create(ctx, kind, res) { ... }         // the created resource
//! fn update(ctx, kind, target_id, res) { ... }
//! ```
//!
//! Besides the pure helpers, a cloner script gets the host's HTTP (`http.rs`), with the same
//! rules as a WASM plugin (credentials added by the host, source read-only, two base URLs):
//! `http_get(side, path [, query])`, `http_send(side, method, path, body)` (both answer
//! `#{ status, body }`, the body parsed as JSON when it is JSON) and
//! `list_all(side, path, query, paging)` with paging `"drf-next"`, `"none"`, `"none:FIELD"`
//! or `#{ style: "page-number" | "offset-limit" | "cursor", ... }`.

use super::decl::KindDecl;
use super::hook::{resource_from_dynamic, resource_to_dynamic};
use super::http::{CallEnv, ENV, register_http};
use super::{Budget, RhaiLimits, ScriptFailure, classify, engine, syntax_error};
use crate::net::Policy;
use crate::plugin::PluginError;
use crate::plugin::cloner::{Call, ClonerCalls};
use crate::plugin::grant::Grant;
use crate::plugin::manifest::{Limits, Manifest};
use crate::plugin::types::{CallContext, GuestError, KindInfo, Resource, Stored};
use rhai::{AST, Array, Dynamic, Engine, Map, Scope};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct RhaiCloner {
    name: Arc<str>,
    engine: Arc<Engine>,
    ast: Arc<AST>,
    limits: RhaiLimits,
    wall: std::time::Duration,
    policy: Arc<Policy>,
    sha256: String,
    version: String,
    description: String,
}

impl RhaiCloner {
    pub fn load(name: &str, path: &Path) -> anyhow::Result<Self> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading plugin {origin}: {e}"))?;
        let manifest = Manifest::beside(path)?.unwrap_or_default();
        let mut limits = RhaiLimits::CLONER;
        if let Some(ms) = manifest.limits.cpu_ms {
            limits.cpu = std::time::Duration::from_millis(ms);
        }
        let wall = Limits::CLONER.with_overrides(&manifest.limits).wall;
        let mut engine = engine(&limits, &origin);
        register_http(&mut engine);
        let ast = engine
            .compile(&text)
            .map_err(|e| anyhow::anyhow!("{}", syntax_error(&origin, &e)))?;
        for (f, n) in [("kinds", 0), ("list", 2), ("find", 3), ("create", 3)] {
            if !ast
                .iter_functions()
                .any(|d| d.name == f && d.params.len() == n)
            {
                anyhow::bail!(
                    "plugin {origin}: a Rhai cloner must define fn {f} with {n} parameters"
                );
            }
        }
        Ok(RhaiCloner {
            name: Arc::from(manifest.name.clone().unwrap_or_else(|| name.to_string())),
            engine: Arc::new(engine),
            ast: Arc::new(ast),
            limits,
            wall,
            policy: Arc::new(Policy {
                source_writes: manifest.source_write_rules(),
            }),
            sha256: hex::encode(sha2::Sha256::digest(text.as_bytes())),
            version: manifest.version.unwrap_or_else(|| "unversioned".into()),
            description: manifest.description.unwrap_or_default(),
        })
    }

    /// Its manifest's exceptions to the read-only source.
    pub fn source_writes(&self) -> Vec<String> {
        self.policy
            .source_writes
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn version(&self) -> &str {
        &self.version
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The limits, in the same shape as a WASM plugin's.
    pub fn limits(&self) -> Limits {
        Limits {
            cpu: self.limits.cpu,
            wall: self.wall,
            memory_bytes: self.limits.max_string as u64,
            max_response_bytes: Limits::CLONER.max_response_bytes,
        }
    }

    /// Call script function `f` on a blocking thread with the call's network grant.
    async fn call(
        &self,
        grant: Grant,
        what: String,
        f: &'static str,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, PluginError> {
        let this = self.clone();
        let handle = tokio::runtime::Handle::current();
        let w = what.clone();
        // Ends the script when this call ends, however it ends: past its wall-clock limit,
        // cancelled, or dropped by its caller. The thread cannot be killed; it stops at its
        // next operation and sends no request after (every host call checks the token).
        let stop = grant.cancel.child_token();
        let _stop_on_exit = stop.clone().drop_guard();
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let stats = grant.stats.clone();
            let env = grant.http.map(|client| CallEnv {
                client,
                policy: this.policy.clone(),
                handle,
                violation: None,
                stop: stop.clone(),
            });
            ENV.with(|e| *e.borrow_mut() = env);
            let started = std::time::Instant::now();
            let result = {
                let budget = Budget::start_until(this.limits.cpu, stop);
                let r = this
                    .engine
                    .call_fn::<Dynamic>(&mut Scope::new(), &this.ast, f, args);
                budget.report(&this.name);
                r
            };
            stats.rhai_cloners.add(started.elapsed());
            let violation = ENV.with(|e| e.borrow_mut().take().and_then(|env| env.violation));
            if let Some(message) = violation {
                return Err(PluginError::Violation { call: w, message });
            }
            result.map_err(|e| match classify(&e, &this.limits) {
                ScriptFailure::Limit(limit) => PluginError::Limit {
                    plugin: this.name.to_string(),
                    call: w.clone(),
                    limit,
                },
                ScriptFailure::Error(m) => {
                    let error = match m.strip_prefix("transient: ") {
                        Some(t) => GuestError::Transient(t.to_string()),
                        None => GuestError::Fatal(m),
                    };
                    PluginError::Guest {
                        plugin: this.name.to_string(),
                        call: w.clone(),
                        error,
                    }
                }
            })
        });
        match tokio::time::timeout(self.wall, task).await {
            Err(_) => Err(PluginError::Limit {
                plugin: self.name.to_string(),
                call: what,
                limit: format!("wall-clock time of {} ms (wall-ms)", self.wall.as_millis()),
            }),
            Ok(Err(e)) => Err(PluginError::Trap {
                plugin: self.name.to_string(),
                call: what,
                message: format!("script thread failed: {e}"),
                stderr: String::new(),
            }),
            Ok(Ok(r)) => r,
        }
    }

    fn invalid(&self, call: &str, m: impl std::fmt::Display) -> PluginError {
        PluginError::Guest {
            plugin: self.name.to_string(),
            call: call.to_string(),
            error: GuestError::Invalid(m.to_string()),
        }
    }

    fn ctx(c: &CallContext) -> Dynamic {
        let m: Map = c
            .options
            .iter()
            .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
            .collect();
        Dynamic::from_map(m)
    }

    fn resource(&self, call: &str, kind: &str, v: &Dynamic) -> Result<Resource, PluginError> {
        let blank = Resource::new(kind, "", "", serde_json::Value::Null);
        let r = resource_from_dynamic(v, &blank).map_err(|e| self.invalid(call, e))?;
        if r.id.is_empty() {
            return Err(self.invalid(call, "a resource must have a non-empty id"));
        }
        Ok(r)
    }

    fn res_arg(&self, call: &str, r: &Resource) -> Result<Dynamic, PluginError> {
        resource_to_dynamic(r).map_err(|e| self.invalid(call, e))
    }
}

#[async_trait::async_trait]
impl ClonerCalls for RhaiCloner {
    async fn kinds(&self) -> Result<Vec<KindInfo>, PluginError> {
        let v = self
            .call(Grant::offline(), "kinds".into(), "kinds", vec![])
            .await?;
        let decls: Vec<KindDecl> = rhai::serde::from_dynamic(&v).map_err(|e| {
            self.invalid(
                "kinds",
                format!("kinds() must return an array of kind maps: {e}"),
            )
        })?;
        let has = |name: &str, params: usize| {
            self.ast
                .iter_functions()
                .any(|f| f.name == name && f.params.len() == params)
        };
        let (deletes, partial) = (has("delete", 3), has("update_fields", 5));
        Ok(decls
            .into_iter()
            .map(|d| d.into_info(deletes, partial))
            .collect())
    }

    async fn list(&self, call: Call<'_>) -> Result<Vec<Stored>, PluginError> {
        let Call { grant, ctx, kind } = call;
        let what = format!("list {kind}");
        let v = self
            .call(
                grant,
                what.clone(),
                "list",
                vec![Self::ctx(ctx), kind.into()],
            )
            .await?;
        let arr = v
            .try_cast::<Array>()
            .ok_or_else(|| self.invalid(&what, "list must return an array of resources"))?;
        arr.iter()
            .map(|r| self.resource(&what, kind, r).map(Resource::pack))
            .collect()
    }

    async fn find(
        &self,
        call: Call<'_>,
        wanted: &Resource,
    ) -> Result<Option<Resource>, PluginError> {
        let Call { grant, ctx, kind } = call;
        let what = format!("find {kind} {:?}", wanted.key);
        let arg = self.res_arg(&what, wanted)?;
        let v = self
            .call(
                grant,
                what.clone(),
                "find",
                vec![Self::ctx(ctx), kind.into(), arg],
            )
            .await?;
        if v.is_unit() {
            Ok(None)
        } else {
            self.resource(&what, kind, &v).map(Some)
        }
    }

    async fn create(&self, call: Call<'_>, res: &Resource) -> Result<Resource, PluginError> {
        let Call { grant, ctx, kind } = call;
        let what = format!("create {kind} {:?}", res.key);
        let arg = self.res_arg(&what, res)?;
        let v = self
            .call(
                grant,
                what.clone(),
                "create",
                vec![Self::ctx(ctx), kind.into(), arg],
            )
            .await?;
        self.resource(&what, kind, &v)
    }

    async fn update(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
    ) -> Result<Resource, PluginError> {
        let Call { grant, ctx, kind } = call;
        let what = format!("update {kind} {:?}", res.key);
        if !self
            .ast
            .iter_functions()
            .any(|f| f.name == "update" && f.params.len() == 4)
        {
            return Err(PluginError::Guest {
                plugin: self.name.to_string(),
                call: what,
                error: GuestError::Denied(
                    "this cloner does not update resources (no fn update)".into(),
                ),
            });
        }
        let arg = self.res_arg(&what, res)?;
        let v = self
            .call(
                grant,
                what.clone(),
                "update",
                vec![Self::ctx(ctx), kind.into(), target_id.into(), arg],
            )
            .await?;
        self.resource(&what, kind, &v)
    }

    async fn update_fields(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
        fields: &[String],
    ) -> Result<Resource, PluginError> {
        let Call { grant, ctx, kind } = call;
        if !self
            .ast
            .iter_functions()
            .any(|f| f.name == "update_fields" && f.params.len() == 5)
        {
            return self
                .update(Call::new(grant, ctx, kind), target_id, res)
                .await;
        }
        let what = format!("update {kind} {:?}", res.key);
        let arg = self.res_arg(&what, res)?;
        let list: rhai::Array = fields.iter().map(|f| f.clone().into()).collect();
        let v = self
            .call(
                grant,
                what.clone(),
                "update_fields",
                vec![
                    Self::ctx(ctx),
                    kind.into(),
                    target_id.into(),
                    arg,
                    list.into(),
                ],
            )
            .await?;
        self.resource(&what, kind, &v)
    }

    async fn delete(&self, call: Call<'_>, target: &Resource) -> Result<(), PluginError> {
        let Call { grant, ctx, kind } = call;
        let what = format!("delete {kind} {:?}", target.key);
        let arg = self.res_arg(&what, target)?;
        self.call(
            grant,
            what,
            "delete",
            vec![Self::ctx(ctx), kind.into(), arg],
        )
        .await
        .map(|_| ())
    }

    async fn copy_files(
        &self,
        call: Call<'_>,
        source: &Resource,
        target: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        let Call { grant, ctx, kind } = call;
        let what = format!("copy-files {kind} {:?}", source.key);
        if !self
            .ast
            .iter_functions()
            .any(|f| f.name == "copy_files" && f.params.len() == 4)
        {
            return Ok(serde_json::json!({}));
        }
        let (s, t) = (self.res_arg(&what, source)?, self.res_arg(&what, target)?);
        let v = self
            .call(
                grant,
                what.clone(),
                "copy_files",
                vec![Self::ctx(ctx), kind.into(), s, t],
            )
            .await?;
        rhai::serde::from_dynamic(&v).map_err(|e| self.invalid(&what, e))
    }

    /// `fn export(ctx, kind, res)` when the script has one (`ferry export`), else nothing
    /// is read beyond the listing.
    async fn export(
        &self,
        call: Call<'_>,
        res: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        let Call { grant, ctx, kind } = call;
        if !self
            .ast
            .iter_functions()
            .any(|f| f.name == "export" && f.params.len() == 3)
        {
            return Ok(serde_json::Value::Null);
        }
        let what = format!("export {kind} {:?}", res.key);
        let arg = self.res_arg(&what, res)?;
        let v = self
            .call(
                grant,
                what.clone(),
                "export",
                vec![Self::ctx(ctx), kind.into(), arg],
            )
            .await?;
        rhai::serde::from_dynamic(&v).map_err(|e| self.invalid(&what, e))
    }
}
