//! A loaded cloner, whichever runtime runs it. Each runtime (`wasm`, `rhai`) implements
//! [`ClonerCalls`]; the engine only sees [`Cloner`], so a new runtime is one more impl.

use super::PluginError;
use super::grant::Grant;
use super::types::{CallContext, KindInfo, Resource, Stored};
use std::sync::Arc;

/// What every cloner call carries: what the plugin may reach (the grant), the run's options
/// and the kind it is about.
#[derive(Clone)]
pub struct Call<'a> {
    pub grant: Grant,
    pub ctx: &'a CallContext,
    pub kind: &'a str,
}

impl<'a> Call<'a> {
    pub fn new(grant: Grant, ctx: &'a CallContext, kind: &'a str) -> Call<'a> {
        Call { grant, ctx, kind }
    }
}

/// The calls of the cloner contract, as a runtime answers them.
#[async_trait::async_trait]
pub trait ClonerCalls: Send + Sync {
    async fn kinds(&self) -> Result<Vec<KindInfo>, PluginError>;
    async fn list(&self, call: Call<'_>) -> Result<Vec<Stored>, PluginError>;
    async fn find(
        &self,
        call: Call<'_>,
        wanted: &Resource,
    ) -> Result<Option<Resource>, PluginError>;
    /// A batch lookup; `None` when the plugin has none for the kind (the default).
    async fn find_all(
        &self,
        _call: Call<'_>,
        _wanted: &[&Resource],
    ) -> Result<Option<Vec<Option<Stored>>>, PluginError> {
        Ok(None)
    }
    async fn create(&self, call: Call<'_>, res: &Resource) -> Result<Resource, PluginError>;
    async fn update(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
    ) -> Result<Resource, PluginError>;
    async fn copy_files(
        &self,
        call: Call<'_>,
        source: &Resource,
        target: &Resource,
    ) -> Result<serde_json::Value, PluginError>;
    /// Write only `fields` (top-level JSON pointers) of `res`; the default writes it whole,
    /// for runtimes and plugins that have no partial update.
    async fn update_fields(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
        _fields: &[String],
    ) -> Result<Resource, PluginError> {
        self.update(call, target_id, res).await
    }
    /// Delete a target resource. Only called for kinds whose support says `deletes`.
    async fn delete(&self, call: Call<'_>, target: &Resource) -> Result<(), PluginError>;
    /// Read from the source what a later write of `res` reads there (`ferry export`); the
    /// host records the answers. The default reads nothing (contracts before 1.3.0).
    async fn export(
        &self,
        _call: Call<'_>,
        _res: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        Ok(serde_json::Value::Null)
    }
}

#[derive(Clone)]
pub struct Cloner(Arc<dyn ClonerCalls>);

impl Cloner {
    pub fn new(calls: impl ClonerCalls + 'static) -> Cloner {
        Cloner(Arc::new(calls))
    }

    pub async fn kinds(&self) -> Result<Vec<KindInfo>, PluginError> {
        self.0.kinds().await
    }

    pub async fn list(&self, call: Call<'_>) -> Result<Vec<Stored>, PluginError> {
        self.0.list(call).await
    }

    pub async fn find(
        &self,
        call: Call<'_>,
        wanted: &Resource,
    ) -> Result<Option<Stored>, PluginError> {
        Ok(self.0.find(call, wanted).await?.map(Resource::pack))
    }

    /// Look up each `(index, wanted)` on the target: in one call when the plugin has a batch
    /// lookup for the kind (`find-all`, contract 1.1.0), else one `find` per resource,
    /// `concurrency` at a time. Answers carry the caller's index.
    pub async fn find_many(
        &self,
        call: Call<'_>,
        wanted: Vec<(usize, Resource)>,
        concurrency: usize,
    ) -> Result<Vec<(usize, Option<Stored>)>, PluginError> {
        use futures::{StreamExt, TryStreamExt};
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let resources: Vec<&Resource> = wanted.iter().map(|(_, r)| r).collect();
        if let Some(found) = self.0.find_all(call.clone(), &resources).await? {
            return Ok(wanted.into_iter().map(|(i, _)| i).zip(found).collect());
        }
        let call = &call;
        futures::stream::iter(
            wanted
                .into_iter()
                .map(|(i, w)| async move { self.find(call.clone(), &w).await.map(|f| (i, f)) }),
        )
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
    }

    pub async fn create(&self, call: Call<'_>, res: &Resource) -> Result<Stored, PluginError> {
        self.0.create(call, res).await.map(Resource::pack)
    }

    pub async fn update(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
    ) -> Result<Stored, PluginError> {
        self.0
            .update(call, target_id, res)
            .await
            .map(Resource::pack)
    }

    /// Update, writing only `fields` when the kind supports partial updates.
    pub async fn update_fields(
        &self,
        call: Call<'_>,
        target_id: &str,
        res: &Resource,
        fields: &[String],
    ) -> Result<Stored, PluginError> {
        self.0
            .update_fields(call, target_id, res, fields)
            .await
            .map(Resource::pack)
    }

    pub async fn delete(&self, call: Call<'_>, target: &Resource) -> Result<(), PluginError> {
        self.0.delete(call, target).await
    }

    pub async fn copy_files(
        &self,
        call: Call<'_>,
        source: &Resource,
        target: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        self.0.copy_files(call, source, target).await
    }

    pub async fn export(
        &self,
        call: Call<'_>,
        res: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        self.0.export(call, res).await
    }
}
