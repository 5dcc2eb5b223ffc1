//! Finding and loading plugins: the ones bundled into the binary at build time, then every
//! `*.wasm` (with its `<stem>.toml` manifest) and `*.rhai` cloner in the plugin directories.
//! Each kind must come from exactly one plugin, unless the user picks one.

use super::PluginError;
use super::manifest::{Limits, Manifest};
use super::rhai::RhaiCloner;
use super::types::{CallContext, KindInfo, Resource, Stored};
use super::wasm::state::Grant;
use super::wasm::{WasmCloner, WasmRuntime};
use crate::net::Policy;
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A plugin compiled into the binary by `host/build.rs`.
pub struct Bundled {
    pub name: &'static str,
    pub wasm: &'static [u8],
    pub manifest: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// What `ferry plugins list` shows about one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// "bundled" or the file it was loaded from
    pub source: String,
    /// "wasm" or "rhai"
    pub runtime: &'static str,
    pub sha256: String,
    pub limits: Limits,
    pub kinds: Vec<KindInfo>,
}

/// A loaded cloner, whichever runtime runs it.
#[derive(Clone)]
pub enum Cloner {
    Wasm(WasmCloner),
    Rhai(RhaiCloner),
}

impl Cloner {
    pub async fn kinds(&self) -> Result<Vec<KindInfo>, PluginError> {
        match self {
            Cloner::Wasm(c) => c.kinds().await,
            Cloner::Rhai(c) => c.kinds().await,
        }
    }
    pub async fn list(
        &self,
        grant: Grant,
        ctx: &CallContext,
        kind: &str,
    ) -> Result<Vec<Stored>, PluginError> {
        match self {
            Cloner::Wasm(c) => c.list(grant, ctx, kind).await,
            Cloner::Rhai(c) => Ok(c
                .list(grant, ctx, kind)
                .await?
                .into_iter()
                .map(Resource::pack)
                .collect()),
        }
    }
    pub async fn find(
        &self,
        grant: Grant,
        ctx: &CallContext,
        kind: &str,
        wanted: &Resource,
    ) -> Result<Option<Stored>, PluginError> {
        let found = match self {
            Cloner::Wasm(c) => c.find(grant, ctx, kind, wanted).await,
            Cloner::Rhai(c) => c.find(grant, ctx, kind, wanted).await,
        };
        Ok(found?.map(Resource::pack))
    }
    /// Look up each `(index, wanted)` on the target: in one call when the plugin has a batch
    /// lookup for the kind (`find-all`, contract 1.1.0), else one `find` per resource,
    /// `concurrency` at a time. Answers carry the caller's index.
    pub async fn find_many(
        &self,
        grant: &Grant,
        ctx: &CallContext,
        kind: &str,
        wanted: Vec<(usize, Resource)>,
        concurrency: usize,
    ) -> Result<Vec<(usize, Option<Stored>)>, PluginError> {
        use futures::{StreamExt, TryStreamExt};
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        if let Cloner::Wasm(c) = self {
            let resources: Vec<&Resource> = wanted.iter().map(|(_, r)| r).collect();
            if let Some(found) = c.find_all(grant.clone(), ctx, kind, &resources).await? {
                return Ok(wanted.into_iter().map(|(i, _)| i).zip(found).collect());
            }
        }
        futures::stream::iter(wanted.into_iter().map(|(i, w)| async move {
            self.find(grant.clone(), ctx, kind, &w)
                .await
                .map(|f| (i, f))
        }))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
    }

    pub async fn create(
        &self,
        grant: Grant,
        ctx: &CallContext,
        kind: &str,
        res: &Resource,
    ) -> Result<Stored, PluginError> {
        let created = match self {
            Cloner::Wasm(c) => c.create(grant, ctx, kind, res).await,
            Cloner::Rhai(c) => c.create(grant, ctx, kind, res).await,
        };
        created.map(Resource::pack)
    }
    pub async fn update(
        &self,
        grant: Grant,
        ctx: &CallContext,
        kind: &str,
        target_id: &str,
        res: &Resource,
    ) -> Result<Stored, PluginError> {
        let updated = match self {
            Cloner::Wasm(c) => c.update(grant, ctx, kind, target_id, res).await,
            Cloner::Rhai(c) => c.update(grant, ctx, kind, target_id, res).await,
        };
        updated.map(Resource::pack)
    }
    pub async fn copy_files(
        &self,
        grant: Grant,
        ctx: &CallContext,
        kind: &str,
        source: &Resource,
        target: &Resource,
    ) -> Result<serde_json::Value, PluginError> {
        match self {
            Cloner::Wasm(c) => c.copy_files(grant, ctx, kind, source, target).await,
            Cloner::Rhai(c) => c.copy_files(grant, ctx, kind, source, target).await,
        }
    }
}

/// Where to look for plugins, and which plugin wins a kind two of them declare.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Load the plugins compiled into the binary.
    pub bundled: bool,
    /// Directories (or single plugin files) to load, in order; a later plugin with the same
    /// name replaces an earlier one.
    pub paths: Vec<PathBuf>,
    /// `KIND=PLUGIN` choices for kinds declared by more than one plugin.
    pub kind_choice: BTreeMap<String, String>,
}

impl Discovery {
    /// Bundled plugins, then `$FERRY_PLUGIN_PATH` (`:`-separated), then `extra`.
    pub fn standard(extra: &[PathBuf]) -> Self {
        let mut paths: Vec<PathBuf> = std::env::var_os("FERRY_PLUGIN_PATH")
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        paths.extend(extra.iter().cloned());
        Discovery {
            bundled: true,
            paths,
            kind_choice: BTreeMap::new(),
        }
    }
}

pub struct Registry {
    plugins: Vec<(PluginInfo, Cloner)>,
    by_kind: BTreeMap<String, usize>,
}

/// A plugin file found on disk or in the binary, not yet loaded.
struct Candidate {
    name: String,
    source: String,
    kind: CandidateKind,
}

enum CandidateKind {
    Wasm {
        bytes: Vec<u8>,
        manifest: Option<Manifest>,
    },
    Rhai {
        path: PathBuf,
    },
}

impl Registry {
    pub async fn load(runtime: &WasmRuntime, discovery: &Discovery) -> anyhow::Result<Registry> {
        let mut candidates: Vec<Candidate> = Vec::new();
        if discovery.bundled {
            for b in BUNDLED {
                let manifest = b
                    .manifest
                    .map(|m| Manifest::parse(m, &format!("bundled plugin {}", b.name)))
                    .transpose()?;
                let name = manifest
                    .as_ref()
                    .and_then(|m| m.name.clone())
                    .unwrap_or_else(|| b.name.to_string());
                candidates.push(Candidate {
                    name,
                    source: "bundled".into(),
                    kind: CandidateKind::Wasm {
                        bytes: b.wasm.to_vec(),
                        manifest,
                    },
                });
            }
        }
        for path in &discovery.paths {
            for file in plugin_files(path)? {
                candidates.push(read_candidate(&file)?);
            }
        }
        // A later plugin of the same name replaces an earlier one (a directory over the
        // bundled copy, say).
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        let mut chosen: Vec<Candidate> = Vec::new();
        for c in candidates {
            if let Some(&i) = by_name.get(&c.name) {
                tracing::info!(
                    "plugin {} from {} replaces the one from {}",
                    c.name,
                    c.source,
                    chosen[i].source
                );
                chosen[i] = c;
            } else {
                by_name.insert(c.name.clone(), chosen.len());
                chosen.push(c);
            }
        }
        let mut plugins = Vec::new();
        for c in chosen {
            plugins.push(load_one(runtime, c).await?);
        }
        Registry::assemble(plugins, &discovery.kind_choice)
    }

    fn assemble(
        plugins: Vec<(PluginInfo, Cloner)>,
        choice: &BTreeMap<String, String>,
    ) -> anyhow::Result<Registry> {
        let mut declared: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, (info, _)) in plugins.iter().enumerate() {
            for k in &info.kinds {
                declared.entry(k.name.clone()).or_default().push(i);
            }
        }
        for (kind, plugin) in choice {
            let Some(owners) = declared.get(kind) else {
                anyhow::bail!(
                    "--kind-plugin {kind}={plugin}: no loaded plugin declares the kind {kind:?}"
                )
            };
            if !owners.iter().any(|&i| plugins[i].0.name == *plugin) {
                let names: Vec<&str> = owners.iter().map(|&i| plugins[i].0.name.as_str()).collect();
                anyhow::bail!(
                    "--kind-plugin {kind}={plugin}: plugin {plugin:?} does not declare {kind:?} (declared by {})",
                    names.join(", ")
                );
            }
        }
        let mut by_kind = BTreeMap::new();
        for (kind, owners) in declared {
            let owner = match (owners.as_slice(), choice.get(&kind)) {
                (&[only], _) => only,
                (_, Some(name)) => *owners
                    .iter()
                    .find(|&&i| plugins[i].0.name == *name)
                    .expect("checked above"),
                (_, None) => {
                    let names: Vec<String> = owners
                        .iter()
                        .map(|&i| format!("{} ({})", plugins[i].0.name, plugins[i].0.source))
                        .collect();
                    anyhow::bail!(
                        "kind {kind:?} is declared by several plugins: {}; pick one with --kind-plugin {kind}=PLUGIN",
                        names.join(", ")
                    );
                }
            };
            by_kind.insert(kind, owner);
        }
        Ok(Registry { plugins, by_kind })
    }

    pub fn plugins(&self) -> impl Iterator<Item = &PluginInfo> {
        self.plugins.iter().map(|(i, _)| i)
    }

    /// The plugin that handles `kind`, and what it declared about it.
    pub fn cloner_for(&self, kind: &str) -> Option<(&PluginInfo, &KindInfo, &Cloner)> {
        let &i = self.by_kind.get(kind)?;
        let (info, cloner) = &self.plugins[i];
        let k = info.kinds.iter().find(|k| k.name == kind)?;
        Some((info, k, cloner))
    }

    /// Every kind with the plugin that handles it, sorted by name.
    pub fn kinds(&self) -> impl Iterator<Item = (&KindInfo, &PluginInfo)> {
        self.by_kind.iter().filter_map(|(kind, &i)| {
            let info = &self.plugins[i].0;
            info.kinds
                .iter()
                .find(|k| &k.name == kind)
                .map(|k| (k, info))
        })
    }
}

/// The plugin files of a directory (sorted, for a stable order), or the file itself.
fn plugin_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("plugin path {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading plugin directory {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("wasm" | "rhai")
            )
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read_candidate(file: &Path) -> anyhow::Result<Candidate> {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let source = file.display().to_string();
    match file.extension().and_then(|e| e.to_str()) {
        Some("wasm") => {
            let bytes = std::fs::read(file).with_context(|| format!("reading plugin {source}"))?;
            let manifest = Manifest::beside(file)?;
            let name = manifest
                .as_ref()
                .and_then(|m| m.name.clone())
                .unwrap_or(stem);
            Ok(Candidate {
                name,
                source,
                kind: CandidateKind::Wasm { bytes, manifest },
            })
        }
        Some("rhai") => Ok(Candidate {
            name: stem,
            source,
            kind: CandidateKind::Rhai {
                path: file.to_path_buf(),
            },
        }),
        _ => anyhow::bail!("{source}: a plugin is a .wasm component or a .rhai script"),
    }
}

async fn load_one(runtime: &WasmRuntime, c: Candidate) -> anyhow::Result<(PluginInfo, Cloner)> {
    match c.kind {
        CandidateKind::Wasm { bytes, manifest } => {
            let manifest = manifest.unwrap_or_default();
            let limits = Limits::CLONER.with_overrides(&manifest.limits);
            let policy = Policy {
                source_writes: manifest.source_write_rules(),
            };
            let cloner = runtime
                .load_cloner(&c.name, &bytes, limits, policy)
                .map_err(|e| anyhow::anyhow!("{e} (from {})", c.source))?;
            let kinds = cloner
                .kinds()
                .await
                .map_err(|e| anyhow::anyhow!("{e} (from {})", c.source))?;
            check_kinds(&c.name, &kinds)?;
            let info = PluginInfo {
                name: c.name,
                version: manifest.version.unwrap_or_else(|| "unversioned".into()),
                description: manifest.description.unwrap_or_default(),
                source: c.source,
                runtime: "wasm",
                sha256: cloner.sha256().to_string(),
                limits,
                kinds,
            };
            Ok((info, Cloner::Wasm(cloner)))
        }
        CandidateKind::Rhai { path } => {
            let cloner = RhaiCloner::load(&c.name, &path)?;
            let kinds = cloner
                .kinds()
                .await
                .map_err(|e| anyhow::anyhow!("{e} (from {})", c.source))?;
            check_kinds(&c.name, &kinds)?;
            let info = PluginInfo {
                name: c.name,
                version: cloner.version().to_string(),
                description: cloner.description().to_string(),
                source: c.source,
                runtime: "rhai",
                sha256: cloner.sha256().to_string(),
                limits: cloner.limits(),
                kinds,
            };
            Ok((info, Cloner::Rhai(cloner)))
        }
    }
}

/// What a plugin declares must make sense before the engine relies on it.
fn check_kinds(plugin: &str, kinds: &[KindInfo]) -> anyhow::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for k in kinds {
        let at = format!("plugin {plugin}, kind {:?}", k.name);
        if k.name.is_empty()
            || !k
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            anyhow::bail!("{at}: a kind name is lowercase letters, digits, '-' and '_'");
        }
        if !seen.insert(k.name.as_str()) {
            anyhow::bail!("{at}: declared twice");
        }
        if k.key.is_empty() {
            anyhow::bail!("{at}: declares no key fields, so it cannot be matched on the target");
        }
        for p in k
            .key
            .iter()
            .chain(&k.secrets)
            .chain(k.references.iter().map(|r| &r.pointer))
        {
            if !(p.is_empty() || p.starts_with('/')) {
                anyhow::bail!("{at}: {p:?} is not a JSON pointer (it must start with '/')");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> KindInfo {
        KindInfo {
            name: name.into(),
            description: String::new(),
            depends_on: vec![],
            key: vec!["/name".into()],
            references: vec![],
            secrets: vec![],
            has_files: false,
        }
    }

    #[test]
    fn declarations_are_checked() {
        assert!(check_kinds("p", &[kind("tag")]).is_ok());
        assert!(
            check_kinds("p", &[kind("Tag")])
                .unwrap_err()
                .to_string()
                .contains("lowercase")
        );
        assert!(
            check_kinds("p", &[kind("tag"), kind("tag")])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let mut k = kind("tag");
        k.key.clear();
        assert!(
            check_kinds("p", &[k])
                .unwrap_err()
                .to_string()
                .contains("no key")
        );
        let mut k = kind("tag");
        k.secrets.push("password".into());
        assert!(
            check_kinds("p", &[k])
                .unwrap_err()
                .to_string()
                .contains("JSON pointer")
        );
    }
}
