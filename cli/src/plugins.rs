//! `ferry plugins list`: what plugins are loaded, from where, with which kinds and limits.

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ferry::plugin::registry::Discovery;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub(crate) enum PluginsCommand {
    /// List the loaded plugins, their kinds and their limits.
    List(ListArgs),
}

/// Where plugins come from; shared by every command that loads them.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct PluginArgs {
    /// A directory of plugins (`*.wasm` with an optional `<stem>.toml` manifest, `*.rhai`)
    /// or a single plugin file; repeatable. Also from FERRY_PLUGIN_PATH (`:`-separated).
    #[arg(long = "plugins", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Which plugin handles a kind that several plugins declare; repeatable.
    #[arg(long = "kind-plugin", value_name = "KIND=PLUGIN", value_parser = parse_choice)]
    pub kind_plugin: Vec<(String, String)>,
    /// Load only the plugins given with --plugins, not the ones built into ferry.
    #[arg(long)]
    pub no_bundled: bool,
}

impl PluginArgs {
    pub(crate) fn discovery(&self) -> Discovery {
        let mut d = Discovery::standard(&self.paths);
        d.bundled = !self.no_bundled;
        d.kind_choice = self.kind_plugin.iter().cloned().collect::<BTreeMap<_, _>>();
        d
    }
}

fn parse_choice(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, p)) if !k.is_empty() && !p.is_empty() => Ok((k.to_string(), p.to_string())),
        _ => Err(format!("{s:?} must be KIND=PLUGIN")),
    }
}

#[derive(Copy, Clone, Debug, ValueEnum, Default)]
pub(crate) enum Output {
    #[default]
    Table,
    Json,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    plugins: PluginArgs,
    /// table for people, json for machines
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

pub(crate) async fn run(cmd: PluginsCommand) -> anyhow::Result<u8> {
    match cmd {
        PluginsCommand::List(args) => list(args).await,
    }
}

async fn list(args: ListArgs) -> anyhow::Result<u8> {
    let registry = ferry::Host::new()?
        .registry(&args.plugins.discovery())
        .await?;
    match args.output {
        Output::Json => {
            // Every plugin and every kind carries its platform; the plugin that declares a
            // platform carries its connection and options too.
            let mut plugins = serde_json::to_value(registry.plugins().collect::<Vec<_>>())?;
            for p in plugins.as_array_mut().into_iter().flatten() {
                let platform = p["platform"].clone();
                for k in p["kinds"].as_array_mut().into_iter().flatten() {
                    k["platform"] = platform.clone();
                }
                if let Some(decl) = registry
                    .platforms()
                    .find(|d| p["name"] == d.declared_by.as_str())
                {
                    p["declares"] = serde_json::json!({
                        "connection": decl.connection,
                        "auth": decl.connection.auth.scheme(),
                        "options": decl.options,
                    });
                }
            }
            println!("{}", serde_json::to_string_pretty(&plugins)?);
        }
        Output::Table => {
            for p in registry.platforms() {
                let c = &p.connection;
                println!("platform {} (declared by plugin {})", p.name, p.declared_by);
                println!("  base URL  {}   auth: {}", c.base_url, c.auth.scheme());
                for (name, spec) in &c.params {
                    println!(
                        "  param     {name}{}{}  {}",
                        if spec.required { " (required)" } else { "" },
                        spec.default
                            .as_ref()
                            .map(|d| format!(" [default: {d}]"))
                            .unwrap_or_default(),
                        spec.description
                    );
                }
                for (name, o) in &p.options {
                    println!(
                        "  option    {name} ({:?}{})  {}",
                        o.kind,
                        o.default_text()
                            .map(|d| format!(", default {d}"))
                            .unwrap_or_default(),
                        o.description
                    );
                }
                println!();
            }
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_header([
                "platform",
                "plugin",
                "version",
                "runtime",
                "source",
                "sha256",
                "limits",
                "source writes",
            ]);
            for p in registry.plugins() {
                t.add_row([
                    p.platform.clone(),
                    p.name.clone(),
                    p.version.clone(),
                    p.runtime.to_string(),
                    p.source.clone(),
                    p.sha256[..12].to_string(),
                    p.limits.summary(),
                    p.source_writes.join("\n"),
                ]);
            }
            println!("{t}");
            let mut k = Table::new();
            k.load_preset(UTF8_FULL_CONDENSED).set_header([
                "platform",
                "kind",
                "plugin",
                "depends on",
                "key",
                "references",
                "secrets",
                "files",
                "supports",
            ]);
            for (kind, p) in registry.kinds() {
                let refs: Vec<String> = kind
                    .references
                    .iter()
                    .map(|r| {
                        let by = match &r.by {
                            ferry::plugin::types::RefBy::Id => String::new(),
                            ferry::plugin::types::RefBy::Key => " (by key)".into(),
                            ferry::plugin::types::RefBy::Field(f) => format!(" (by {f})"),
                        };
                        format!(
                            "{} -> {}{by}{}",
                            r.pointer,
                            r.kind,
                            if r.required { "" } else { ", optional" }
                        )
                    })
                    .collect();
                k.add_row([
                    p.platform.clone(),
                    kind.name.clone(),
                    p.name.clone(),
                    kind.depends_on.join(", "),
                    kind.key.join(", "),
                    refs.join("\n"),
                    kind.secrets.join(", "),
                    if kind.has_files {
                        "yes".into()
                    } else {
                        String::new()
                    },
                    supports(&kind.support),
                ]);
            }
            println!("{k}");
        }
    }
    Ok(super::exit::OK)
}

/// What a kind supports beyond create and update (contract 1.2.0), in one cell.
fn supports(s: &ferry::plugin::types::Support) -> String {
    let mut out = vec![];
    if s.deletes {
        out.push("delete (--prune)".to_string());
    }
    if s.partial_update {
        out.push("partial update".to_string());
    }
    if !s.comparable {
        out.push("not compared".to_string());
    } else if !s.not_compared.is_empty() {
        out.push(format!("diff ignores {}", s.not_compared.join(", ")));
    }
    out.join("\n")
}
