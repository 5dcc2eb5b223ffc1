//! `ferry hook test` and `ferry hook list`: develop a transform hook without any platform.
//! `test` runs one hook on one resource read from a file, exactly as a promotion would
//! (same sandbox, same key handling, same record of changes), and prints the result.

use super::exit;
use clap::{Args, Subcommand};
use ferry::plugin::hooks::bundled_names;
use ferry::plugin::types::{KindInfo, Resource};
use ferry::transform::{HookStep, Transformer, Verdict};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub(crate) enum HookCommand {
    /// Run a hook on one resource and print what it returns.
    Test(TestArgs),
    /// List the hooks bundled into ferry (`uses = "bundled:NAME"`).
    List,
}

#[derive(Args, Debug)]
pub(crate) struct TestArgs {
    /// The hook: a .rhai script, a .wasm component, or bundled:NAME.
    hook: String,
    /// The resource, as JSON: {"kind", "id", "key", "body"}, or just a body (then give --kind).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// A parameter, as `with = { ... }` in a promotion file would give it; VALUE is read as
    /// JSON when it is JSON (`--with 'map={"a":"b"}'`), else as a string; repeatable.
    #[arg(long = "with", value_name = "NAME=VALUE", value_parser = parse_param)]
    with: Vec<(String, Value)>,
    /// The resource's kind, when the input does not say.
    #[arg(long)]
    kind: Option<String>,
    /// The source environment's name the hook sees.
    #[arg(long, default_value = "dev")]
    source_env: String,
    /// The target environment's name the hook sees.
    #[arg(long, default_value = "prod")]
    target_env: String,
    /// The kind's key fields (JSON pointers), for a kind no loaded plugin declares
    /// [default: the declaring plugin's, else /name]
    #[arg(long = "key-field", value_name = "POINTER")]
    key_fields: Vec<String>,
    /// Print the kind's secret fields as they are (they are shown as *** otherwise).
    #[arg(long)]
    show_secrets: bool,
}

fn parse_param(s: &str) -> Result<(String, Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} must be NAME=VALUE"))?;
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

pub(crate) async fn run(cmd: HookCommand) -> anyhow::Result<u8> {
    match cmd {
        HookCommand::List => {
            for n in bundled_names() {
                println!("{n}");
            }
            Ok(exit::OK)
        }
        HookCommand::Test(args) => test(args).await,
    }
}

async fn test(args: TestArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.input.display()))?;
    let input: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", args.input.display()))?;
    let host = ferry::Host::new()?;
    let hook = host.hook(&args.hook, &std::env::current_dir()?)?;

    let (kind, id, key, body) = match input.get("body") {
        Some(body) => (
            input
                .get("kind")
                .and_then(Value::as_str)
                .map(str::to_string),
            input.get("id").map(ferry::json::text),
            input.get("key").and_then(Value::as_str).map(str::to_string),
            body.clone(),
        ),
        None => (None, None, None, input.clone()),
    };
    let kind = args.kind.clone().or(kind).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: the resource has no kind; give --kind",
            args.input.display()
        )
    })?;
    let info = kind_info(&host, &kind, &args.key_fields).await;
    let key = key.unwrap_or_else(|| info.key_of(&body));
    let res = Resource::new(&kind, id.as_deref().unwrap_or(""), &key, body);

    let params = Value::Object(args.with.into_iter().collect());
    let t = Transformer {
        source_env: args.source_env,
        target_env: args.target_env,
        hooks: vec![HookStep {
            hook,
            kinds: vec![],
            params,
        }],
        ..Default::default()
    };
    let done = t.apply(&info, res).await;
    let mut body = done.resource.body.clone();
    if !args.show_secrets {
        for p in &info.secrets {
            for (at, _) in ferry::json::values_at(&body.clone(), p) {
                ferry::json::set_at(&mut body, &at, json!("***"));
            }
        }
    }
    let resource = json!({"kind": done.resource.kind, "id": done.resource.id, "key": done.resource.key, "body": body});
    let (out, code) = match done.verdict {
        Verdict::Keep => (
            json!({"outcome": "keep", "resource": resource, "rewrites": done.rewrites}),
            exit::OK,
        ),
        Verdict::Leave(reason) => (json!({"outcome": "skip", "reason": reason}), exit::OK),
        Verdict::Fail(error) => (json!({"outcome": "error", "error": error}), exit::FAILED),
        Verdict::Map(to) => (json!({"outcome": "map", "to": to}), exit::OK),
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    for r in &done.rewrites {
        eprintln!("{r}");
    }
    Ok(code)
}

/// The kind's declaration from the bundled plugins, or one made of `--key-field`.
async fn kind_info(host: &ferry::Host, kind: &str, key_fields: &[String]) -> KindInfo {
    if key_fields.is_empty()
        && let Ok(reg) = host.registry(&ferry::Discovery::standard(&[])).await
        && let Some((k, _)) = reg.kinds().find(|(k, _)| k.name == kind)
    {
        return k.clone();
    }
    let key = if key_fields.is_empty() {
        vec!["/name".to_string()]
    } else {
        key_fields.to_vec()
    };
    KindInfo {
        name: kind.to_string(),
        description: String::new(),
        depends_on: vec![],
        key,
        references: vec![],
        secrets: vec![],
        has_files: false,
        support: Default::default(),
    }
}
