//! An export (`ferry export`): read the source as a plan does (every kind, selection and its
//! closure), let each resource's cloner read what a later write of it will need (`export`,
//! contract 1.3.0: the source's answers and files are recorded), leave out the secret fields,
//! and write it all as a package. Nothing is written to any target; there is none.

use super::Options;
use super::plan::{self, PlanError, Selected};
use super::progress::Progress;
use crate::net::tape::Recorder;
use crate::package::{self, Builder, CredentialNeeded, ExportNote, Line, Manifest};
use crate::plugin::grant::Grant;
use crate::plugin::{Call, PluginError, Registry};
use crate::redact::Secrets;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What `export` made.
#[derive(Debug, serde::Serialize)]
pub struct Exported {
    pub path: String,
    /// the package's size in bytes
    pub bytes: u64,
    pub counts: BTreeMap<String, usize>,
    pub files: usize,
    pub file_bytes: u64,
    pub credentials: Vec<CredentialNeeded>,
    pub signed: bool,
    pub elapsed_ms: u64,
}

/// What the caller knows of the run that the engine does not: the manifest's fields that
/// describe the source and the plugins.
pub struct About {
    pub platform: String,
    pub source: package::SourceInfo,
    pub plugins: Vec<package::PluginUsed>,
}

/// Where an export goes: the recorder of the source's answers, the package being built,
/// what describes it, the signing key, and the file.
pub struct PackageOut<'a> {
    pub recorder: &'a Recorder,
    pub builder: Builder,
    pub about: About,
    pub key: Option<&'a ed25519_dalek::SigningKey>,
    pub out: &'a Path,
}

pub async fn export(
    registry: &Registry,
    grant: &Grant,
    opts: &Options,
    to: PackageOut<'_>,
    progress: &dyn Progress,
) -> Result<Exported, PlanError> {
    let PackageOut {
        recorder,
        mut builder,
        about,
        key,
        out,
    } = to;
    let started = std::time::Instant::now();
    // What listing reads is not recorded: it may hold secrets.
    recorder.recording(false);
    let Selected { kinds, items, .. } = plan::read_selected(registry, grant, opts).await?;
    let ctx = plan::context(opts);

    // Each resource's own reads, recorded.
    recorder.recording(true);
    let total = items.iter().filter(|it| it.source.skip.is_none()).count();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let notes: Vec<Option<ExportNote>> = futures::stream::iter(items.iter().map(|it| {
        let (ctx, grant, done) = (&ctx, grant.clone(), &done);
        async move {
            if it.source.skip.is_some() {
                return Ok(None);
            }
            let (_, _, cloner) = registry
                .cloner_for(&it.source.kind)
                .expect("registered kind");
            let note = cloner
                .export(Call::new(grant, ctx, &it.source.kind), &it.source.unpack())
                .await?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let percent = (n * 100 / total.max(1)) as u8;
            progress.plugin(
                "export",
                percent,
                &format!("{n}/{total}: {} {}", it.source.kind, it.source.key),
            );
            Ok::<_, PluginError>((!note.is_null()).then(|| ExportNote {
                kind: it.source.kind.clone(),
                key: it.source.key.clone(),
                note,
            }))
        }
    }))
    .buffered(opts.concurrency.max(1))
    .try_collect()
    .await?;
    recorder.recording(false);

    // The resources, secrets left out.
    let io = |e: std::io::Error| PlanError::Usage(format!("writing the package: {e}"));
    let mut counts = BTreeMap::new();
    let mut credentials = vec![];
    // The values left out: should a source answer echo one, it is masked.
    let mut secrets = Secrets::default();
    for k in &kinds {
        let mut lines = vec![];
        for it in items.iter().filter(|it| it.source.kind == k.name) {
            let mut body = it.source.body.value();
            for pointer in &k.secrets {
                for (concrete, v) in crate::json::values_at(&body, pointer) {
                    if v.is_null() {
                        continue;
                    }
                    secrets.add_value(&v);
                    remove_at(&mut body, &concrete);
                    credentials.push(CredentialNeeded {
                        kind: k.name.clone(),
                        key: it.source.key.clone(),
                        field: concrete,
                    });
                }
            }
            lines.push(Line {
                id: it.source.id.clone(),
                key: it.source.key.clone(),
                body,
                skip: it.source.skip.clone(),
            });
        }
        counts.insert(k.name.clone(), lines.len());
        builder
            .add_lines(&package::resources_entry(&k.name), lines)
            .map_err(io)?;
    }
    let (mut answers, files, files_left) = recorder.take();
    // A plugin should read nothing secret in `export`; should a server echo a resource's
    // secret in an answer anyway, it never reaches the package.
    mask(&mut answers, &secrets);
    builder.add_lines(package::ANSWERS, answers).map_err(io)?;
    for f in &files {
        builder.add_saved(f);
    }
    let file_bytes = files.iter().map(|f| f.bytes).sum();
    let manifest = Manifest {
        format: package::FORMAT,
        ferry: env!("CARGO_PKG_VERSION").into(),
        platform: about.platform,
        contract: crate::plugin::wasm::VERSIONS
            .last()
            .expect("a version")
            .to_string(),
        plugins: about.plugins,
        source: about.source,
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        selection: (&opts.selection).into(),
        counts: counts.clone(),
        entries: vec![],
        files: files.clone(),
        files_left,
        credentials: credentials.clone(),
        exports: notes.into_iter().flatten().collect(),
    };
    let bytes = builder
        .finish(manifest, key, out)
        .map_err(|e| PlanError::Usage(format!("{e:#}")))?;
    Ok(Exported {
        path: out.display().to_string(),
        bytes,
        counts,
        files: files.len(),
        file_bytes,
        credentials,
        signed: key.is_some(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Mask every secret value (longest first, in every form) in the answers' text.
fn mask(answers: &mut [crate::net::tape::Answer], secrets: &Secrets) {
    for a in answers.iter_mut().filter(|a| !a.base64) {
        if secrets.found_in(&a.body) {
            tracing::warn!(
                "{} {}: the source's answer holds a secret value; it is masked in the package",
                a.method,
                a.path
            );
            a.body = secrets.mask_long(&a.body);
        }
    }
}

/// Remove the member or element at a concrete JSON pointer.
fn remove_at(body: &mut Value, concrete: &str) {
    let Some((parent, last)) = concrete.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = if parent.is_empty() {
        Some(body)
    } else {
        body.pointer_mut(parent)
    };
    match target {
        Some(Value::Object(o)) => {
            o.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a[i] = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_echoed_in_an_answer_is_masked() {
        let answer = |body: &str| crate::net::tape::Answer {
            method: "GET".into(),
            path: "users/".into(),
            query: vec![],
            headers: vec![],
            status: 200,
            content_type: None,
            body: body.into(),
            base64: false,
        };
        let mut a = vec![
            answer(r#"{"token": "sk-live-123456", "name": "x"}"#),
            answer("plain"),
        ];
        mask(&mut a, &Secrets::new(["sk-live-123456".to_string()]));
        assert_eq!(a[0].body, r#"{"token": "***", "name": "x"}"#);
        assert_eq!(a[1].body, "plain");
    }

    #[test]
    fn a_secret_is_removed_where_it_is() {
        let mut b = json!({"a": {"key": "s3cret", "keep": 1}, "list": ["x", "y"]});
        remove_at(&mut b, "/a/key");
        remove_at(&mut b, "/list/1");
        assert_eq!(b, json!({"a": {"keep": 1}, "list": ["x", null]}));
    }
}
