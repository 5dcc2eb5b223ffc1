//! `ferry export` (an environment to a package), `ferry package inspect` and `ferry package
//! keygen`. Restoring is `ferry plan|clone --from-package`, in `clone.rs`.

use super::args::{Output, RunArgs};
use super::exit;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ferry::engine::export::Exported;
use ferry::engine::progress::{PluginProgress, Progress};
use ferry::package::read::Signed;
use ferry::package::{Package, Trust, sign};
use ferry::session::Session;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The source flags, selection and promotion file of `ferry clone` (no target).
    #[command(flatten)]
    pub run: RunArgs,
    /// The package to write (replaced whole once it is complete).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Sign the package with this secret key (`ferry package keygen`).
    #[arg(long, value_name = "KEYFILE")]
    pub sign: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum PackageCommand {
    /// Print a package's manifest, counts per kind, files, the credentials a target will
    /// need, and whether its signature verifies; every entry is checked.
    Inspect(InspectArgs),
    /// Make an ed25519 key pair to sign packages with: KEYFILE (secret) and KEYFILE.pub.
    Keygen(KeygenArgs),
}

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    pub file: PathBuf,
    /// Check the signature with this public key.
    #[arg(long, value_name = "PUBKEY")]
    pub verify: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    pub keyfile: PathBuf,
}

/// Progress of an export: one line per resource read for it, on stderr.
struct Lines(bool);

impl Progress for Lines {}

impl PluginProgress for Lines {
    fn plugin(&self, plugin: &str, percent: u8, message: &str) {
        if self.0 {
            eprintln!("{plugin}: {percent}% {message}");
        }
    }
}

pub(crate) async fn export(args: ExportArgs) -> anyhow::Result<u8> {
    let key = args.sign.as_deref().map(sign::signing_key).transpose()?;
    let run = args.run.export_settings()?;
    let emit = run.emit;
    let session = Session::open(run.settings).await?;
    let quiet = emit.output == Output::Json;
    let result = session
        .export(&args.out, key.as_ref(), Arc::new(Lines(!quiet)))
        .await;
    session.close().await;
    let done = result.map_err(|e| anyhow::anyhow!("{e}\nno package was written"))?;
    if let Some(path) = &emit.report {
        std::fs::write(path, serde_json::to_string_pretty(&done)?)
            .map_err(|e| anyhow::anyhow!("writing the report to {}: {e}", path.display()))?;
    }
    match emit.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&done)?),
        Output::Table => print!("{}", render_export(&done)),
    }
    Ok(exit::OK)
}

/// Resources per kind, as a table.
fn counts(counts: &std::collections::BTreeMap<String, usize>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["kind", "resources"]);
    for (k, n) in counts {
        t.add_row([k.clone(), n.to_string()]);
    }
    format!("{t}\n")
}

fn render_export(e: &Exported) -> String {
    let total: usize = e.counts.values().sum();
    let mut out = format!(
        "exported {total} resources of {} kinds and {} files ({} bytes) to {} ({} bytes{}) in {} ms\n",
        e.counts.len(),
        e.files,
        e.file_bytes,
        e.path,
        e.bytes,
        if e.signed { ", signed" } else { "" },
        e.elapsed_ms
    );
    out += &counts(&e.counts);
    if !e.credentials.is_empty() {
        out += &format!(
            "{} secret fields were left out; a restore needs them set (a rule with \"${{env:NAME}}\"):\n",
            e.credentials.len()
        );
        for c in &e.credentials {
            out += &format!("  {} {:?}: {}\n", c.kind, c.key, c.field);
        }
    }
    out
}

pub(crate) async fn run(cmd: PackageCommand) -> anyhow::Result<u8> {
    match cmd {
        PackageCommand::Keygen(a) => {
            let (public_path, public) = sign::keygen(&a.keyfile)?;
            println!(
                "secret key: {} (keep it private)\npublic key: {} ({public})",
                a.keyfile.display(),
                public_path.display()
            );
            Ok(exit::OK)
        }
        PackageCommand::Inspect(a) => {
            let trust = Trust {
                verify: a.verify.as_deref().map(sign::verifying_key).transpose()?,
                require_signature: false,
            };
            let file = a.file.clone();
            let p = tokio::task::spawn_blocking(move || Package::open(&file, &trust)).await??;
            match a.output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "path": p.path,
                        "bytes": p.size,
                        "signature": p.signature,
                        "manifest": p.manifest,
                    }))?
                ),
                Output::Table => print!("{}", render_inspect(&p)),
            }
            Ok(exit::OK)
        }
    }
}

fn render_inspect(p: &Package) -> String {
    let m = &p.manifest;
    let mut out = format!(
        "package {} ({} bytes): format {}, made by ferry {} at {}\n",
        p.path.display(),
        p.size,
        m.format,
        m.ferry,
        m.created
    );
    out += &format!("platform {} (contract {})\n", m.platform, m.contract);
    out += &format!("source   {}\n", m.source.describe);
    for (k, v) in &m.source.params {
        out += &format!("         {k} = {v}\n");
    }
    out += &format!(
        "signature {}\n",
        match &p.signature {
            Signed::No => "none".to_string(),
            Signed::Unchecked { public_key } =>
                format!("by {public_key}, not checked (give --verify PUBKEY)"),
            Signed::Verified { public_key } => format!("verified: {public_key}"),
        }
    );
    let s = &m.selection;
    if !(s.include.is_empty() && s.exclude.is_empty() && s.select.is_empty() && s.tags.is_empty()) {
        out += &format!(
            "selection include {:?} exclude {:?} select {:?} tags {:?}\n",
            s.include, s.exclude, s.select, s.tags
        );
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["plugin", "version", "sha256", "kinds"]);
    for u in &m.plugins {
        t.add_row([
            u.name.clone(),
            u.version.clone(),
            u.sha256.get(..16).unwrap_or(&u.sha256).to_string(),
            u.kinds.join(", "),
        ]);
    }
    out += &format!("{t}\n");
    out += &counts(&m.counts);
    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
    out += &format!("files    {} ({bytes} bytes)\n", m.files.len());
    for f in &m.files {
        let query: Vec<String> = f.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let from = if query.is_empty() {
            f.path.clone()
        } else {
            format!("{}?{}", f.path, query.join("&"))
        };
        out += &format!(
            "  {} {} bytes {} <- {from}\n",
            f.entry, f.bytes, f.mime_type
        );
    }
    if m.credentials.is_empty() {
        out += "credentials needed: none\n";
    } else {
        out += "credentials needed (secret fields left out; set them with rules on restore):\n";
        for c in &m.credentials {
            out += &format!("  {} {:?}: {}\n", c.kind, c.key, c.field);
        }
    }
    out += &format!("entries  {} checked (sha256)\n", m.entries.len());
    out
}
