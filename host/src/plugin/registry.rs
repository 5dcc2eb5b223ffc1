//! Finding and loading plugins: the ones bundled into the binary at build time, then every
//! `*.wasm` and `*.rhai` cloner (each with its `<stem>.toml` manifest) in the plugin
//! directories. A plugin serves one platform (its manifest's `platform`; none: every
//! platform), and one plugin per platform declares the platform's connection and options.
//! A run loads only its platform's plugins. Within a platform, each kind must come from
//! exactly one plugin, unless the user picks one.

use super::cloner::Cloner;
use super::cloner::ClonerCalls;
use super::manifest::{Limits, Manifest};
use super::platform::{self, Platform};
use super::rhai::RhaiCloner;
use super::types::KindInfo;
use super::wasm::WasmRuntime;
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
    /// the platform it serves (`*`: every platform)
    pub platform: String,
    pub version: String,
    pub description: String,
    /// "bundled" or the file it was loaded from
    pub source: String,
    /// "wasm" or "rhai"
    pub runtime: &'static str,
    pub sha256: String,
    pub limits: Limits,
    /// its manifest's exceptions to the read-only source (`POST jobs/{id}`)
    pub source_writes: Vec<String>,
    pub kinds: Vec<KindInfo>,
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
    /// Load only this platform's plugins (and those that serve every platform); `None`:
    /// every plugin, each platform's kinds apart (`ferry plugins list`).
    pub platform: Option<String>,
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
            platform: None,
        }
    }
}

pub struct Registry {
    plugins: Vec<(PluginInfo, Cloner)>,
    /// (platform, kind) → plugin
    by_kind: BTreeMap<(String, String), usize>,
    platforms: BTreeMap<String, Platform>,
    /// the run's platform, when the registry was loaded for one
    platform: Option<String>,
}

/// A plugin file found on disk or in the binary, not yet loaded.
struct Candidate {
    name: String,
    source: String,
    manifest: Manifest,
    kind: CandidateKind,
}

enum CandidateKind {
    Wasm { bytes: Vec<u8> },
    Rhai { path: PathBuf },
}

impl Candidate {
    /// The platform it serves in this load: its own, or the run's when it serves every one.
    fn platform(&self, run: Option<&str>) -> String {
        match (&self.manifest.platform, run) {
            (Some(p), _) => p.clone(),
            (None, Some(r)) => r.to_string(),
            (None, None) => platform::ANY.to_string(),
        }
    }
}

impl Registry {
    pub async fn load(runtime: &WasmRuntime, discovery: &Discovery) -> anyhow::Result<Registry> {
        let mut candidates: Vec<Candidate> = Vec::new();
        // The bundled plugins' platforms stay known without their cloners (`--no-bundled`
        // with a directory of one's own cloners for a bundled platform).
        let mut bundled_platforms = Vec::new();
        for b in BUNDLED {
            let manifest = b
                .manifest
                .map(|m| Manifest::parse(m, &format!("bundled plugin {}", b.name)))
                .transpose()?
                .unwrap_or_default();
            let c = Candidate {
                name: manifest.name.clone().unwrap_or_else(|| b.name.to_string()),
                source: "bundled".into(),
                manifest,
                kind: CandidateKind::Wasm {
                    bytes: b.wasm.to_vec(),
                },
            };
            if discovery.bundled {
                candidates.push(c);
            } else {
                bundled_platforms.push(c);
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
        // A run loads its platform's plugins only: another platform's kinds never meet its own.
        let run = discovery.platform.as_deref();
        let known: std::collections::BTreeSet<String> = chosen
            .iter()
            .chain(&bundled_platforms)
            .filter(|c| c.manifest.connection.is_some())
            .filter_map(|c| c.manifest.platform.clone())
            .collect();
        chosen.retain(|c| match (&c.manifest.platform, run) {
            (Some(p), Some(r)) => p == r,
            _ => true,
        });
        let platforms = platforms(&bundled_platforms, &chosen, run)?;
        if let Some(r) = run
            && !platforms.contains_key(r)
        {
            anyhow::bail!(
                "platform {r:?}: no loaded plugin declares it (a plugin's manifest names its platform and, for one plugin, its [connection]){}",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; known: {}",
                        known.into_iter().collect::<Vec<_>>().join(", ")
                    )
                }
            );
        }
        let mut plugins = Vec::new();
        for c in chosen {
            let platform = c.platform(run);
            plugins.push(load_one(runtime, c, platform).await?);
        }
        let mut registry = Registry::assemble(plugins, &discovery.kind_choice)?;
        registry.platforms = platforms;
        registry.platform = run.map(str::to_string);
        Ok(registry)
    }

    /// What `discovery` would find now, as text that changes when a plugin file or its
    /// manifest changes (name, size, time): whether a registry loaded before is still true.
    pub fn stamp(discovery: &Discovery) -> anyhow::Result<String> {
        let mut out = String::new();
        for path in &discovery.paths {
            for file in plugin_files(path)? {
                for f in [file.clone(), file.with_extension("toml")] {
                    if let Ok(m) = std::fs::metadata(&f) {
                        let at = m
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                        out += &format!("{}\t{}\t{at:?}\n", f.display(), m.len());
                    }
                }
            }
        }
        Ok(out)
    }

    fn assemble(
        plugins: Vec<(PluginInfo, Cloner)>,
        choice: &BTreeMap<String, String>,
    ) -> anyhow::Result<Registry> {
        // A plugin for every platform takes its kinds to each platform loaded (whose own
        // kinds they may then clash with), or stands alone when no platform is loaded.
        let mut scopes: Vec<String> = plugins
            .iter()
            .map(|(i, _)| i.platform.clone())
            .filter(|p| p != platform::ANY)
            .collect();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            scopes.push(platform::ANY.to_string());
        }
        let mut declared: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for (i, (info, _)) in plugins.iter().enumerate() {
            let own = [info.platform.clone()];
            let serves: &[String] = if info.platform == platform::ANY {
                &scopes
            } else {
                &own
            };
            for p in serves {
                for k in &info.kinds {
                    declared
                        .entry((p.clone(), k.name.clone()))
                        .or_default()
                        .push(i);
                }
            }
        }
        for (kind, plugin) in choice {
            let owners: Vec<usize> = declared
                .iter()
                .filter(|((_, k), _)| k == kind)
                .flat_map(|(_, o)| o.iter().copied())
                .collect();
            if owners.is_empty() {
                anyhow::bail!(
                    "`kind_plugin` {kind}={plugin}: no loaded plugin declares the kind {kind:?}"
                )
            }
            if !owners.iter().any(|&i| plugins[i].0.name == *plugin) {
                let names: Vec<&str> = owners.iter().map(|&i| plugins[i].0.name.as_str()).collect();
                anyhow::bail!(
                    "`kind_plugin` {kind}={plugin}: plugin {plugin:?} does not declare {kind:?} (declared by {})",
                    names.join(", ")
                );
            }
        }
        let mut by_kind = BTreeMap::new();
        for ((platform, kind), owners) in declared {
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
                        "platform {platform}: kind {kind:?} is declared by several plugins: {}; pick one with `kind_plugin` {kind}=PLUGIN",
                        names.join(", ")
                    );
                }
            };
            by_kind.insert((platform, kind), owner);
        }
        Ok(Registry {
            plugins,
            by_kind,
            platforms: BTreeMap::new(),
            platform: None,
        })
    }

    pub fn plugins(&self) -> impl Iterator<Item = &PluginInfo> {
        self.plugins.iter().map(|(i, _)| i)
    }

    /// The platforms the loaded plugins declare.
    pub fn platforms(&self) -> impl Iterator<Item = &Platform> {
        self.platforms.values()
    }

    /// The platform the registry was loaded for (`Discovery::platform`).
    pub fn platform(&self) -> Option<&Platform> {
        self.platforms.get(self.platform.as_deref()?)
    }

    /// The plugin that handles `kind` on the run's platform (without one: on the only
    /// platform that has the kind), and what it declared about it.
    pub fn cloner_for(&self, kind: &str) -> Option<(&PluginInfo, &KindInfo, &Cloner)> {
        let i = match &self.platform {
            Some(p) => *self.by_kind.get(&(p.clone(), kind.to_string()))?,
            None => {
                let mut owners = self
                    .by_kind
                    .iter()
                    .filter(|((_, k), _)| k == kind)
                    .map(|(_, &i)| i);
                let first = owners.next()?;
                if owners.any(|i| i != first) {
                    return None;
                }
                first
            }
        };
        let (info, cloner) = &self.plugins[i];
        let k = info.kinds.iter().find(|k| k.name == kind)?;
        Some((info, k, cloner))
    }

    /// Every kind with the plugin that handles it, sorted by platform and name.
    pub fn kinds(&self) -> impl Iterator<Item = (&KindInfo, &PluginInfo)> {
        self.by_kind.iter().filter_map(|((_, kind), &i)| {
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
            let manifest = Manifest::beside(file)?.unwrap_or_default();
            Ok(Candidate {
                name: manifest.name.clone().unwrap_or(stem),
                source,
                manifest,
                kind: CandidateKind::Wasm { bytes },
            })
        }
        Some("rhai") => Ok(Candidate {
            name: stem,
            source,
            manifest: Manifest::beside(file)?.unwrap_or_default(),
            kind: CandidateKind::Rhai {
                path: file.to_path_buf(),
            },
        }),
        _ => anyhow::bail!("{source}: a plugin is a .wasm component or a .rhai script"),
    }
}

/// The platforms the candidates declare: one `[connection]` (and `[options]`) each. A
/// plugin from a directory may declare a bundled platform anew (an on-premises deployment's
/// URL shape, say): its declaration replaces the bundled one.
fn platforms(
    bundled_only: &[Candidate],
    chosen: &[Candidate],
    run: Option<&str>,
) -> anyhow::Result<BTreeMap<String, Platform>> {
    let mut out: BTreeMap<String, Platform> = BTreeMap::new();
    for c in bundled_only.iter().chain(chosen) {
        if run.is_some_and(|r| c.manifest.platform.as_deref() != Some(r)) {
            continue;
        }
        let m = &c.manifest;
        let Some(connection) = &m.connection else {
            if !m.options.is_empty() {
                anyhow::bail!(
                    "plugin {} ({}): [options] go with the platform's [connection], in one plugin's manifest",
                    c.name,
                    c.source
                );
            }
            continue;
        };
        let name = c.platform(run);
        if let Some(first) = out.get(&name)
            && !first.bundled
        {
            anyhow::bail!(
                "platform {name}: both plugin {} and plugin {} ({}) declare its [connection]; one plugin per platform declares it",
                first.declared_by,
                c.name,
                c.source
            );
        }
        out.insert(
            name.clone(),
            Platform {
                name,
                declared_by: c.name.clone(),
                bundled: c.source == "bundled",
                connection: connection.clone(),
                options: m.options.clone(),
            },
        );
    }
    Ok(out)
}

async fn load_one(
    runtime: &WasmRuntime,
    c: Candidate,
    platform: String,
) -> anyhow::Result<(PluginInfo, Cloner)> {
    let manifest = c.manifest;
    match c.kind {
        CandidateKind::Wasm { bytes } => {
            let limits = Limits::CLONER.with_overrides(&manifest.limits);
            let policy = Policy {
                source_writes: manifest.source_write_rules(),
            };
            let source_writes = policy.source_writes.iter().map(|r| r.to_string()).collect();
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
                platform,
                version: manifest.version.unwrap_or_else(|| "unversioned".into()),
                description: manifest.description.unwrap_or_default(),
                source: c.source,
                runtime: "wasm",
                sha256: cloner.sha256().to_string(),
                limits,
                source_writes,
                kinds,
            };
            Ok((info, Cloner::new(cloner)))
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
                platform,
                version: cloner.version().to_string(),
                description: cloner.description().to_string(),
                source: c.source,
                runtime: "rhai",
                sha256: cloner.sha256().to_string(),
                limits: cloner.limits(),
                source_writes: cloner.source_writes(),
                kinds,
            };
            Ok((info, Cloner::new(cloner)))
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
            support: Default::default(),
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
