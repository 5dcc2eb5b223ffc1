//! The promotion file (`ferry clone --config promote.toml`): where to read and write, what
//! to take, and how to rewrite it for the target environment. Flags override it.
//!
//! ```toml
//! [source]
//! name = "dev"                       # what hooks see as ctx.source_env (default: the org)
//! url = "https://us-central.unstract.com"
//! org = "org_dev"
//! key_env = "DEV_PLATFORM_KEY"       # or key_file = "keys/dev"; never the key itself
//!
//! [target]
//! name = "qa"
//! url = "https://us-central.unstract.com"
//! org = "org_qa"
//! key_env = "QA_PLATFORM_KEY"
//!
//! [run]                              # the flags of `ferry clone`, all optional
//! exclude = ["pipeline"]
//! on_name_conflict = "adopt"
//!
//! [kinds.adapter]                    # rules per kind (see transform::rules)
//! map = { "openai-dev" = "openai-qa" }
//!
//! [[hooks]]
//! uses = "rename.rhai"               # relative to this file, or "bundled:rename.wasm"
//! kinds = ["workflow"]
//! with = { from = "-dev", to = "-qa" }
//! ```
//!
//! Every error names the file, line and column, and never quotes the file's text (a key
//! written by mistake must not reach a terminal or a CI log).

use crate::engine::OnConflict;
use crate::transform::rules::{KindRules, Template, expand_env};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionFile {
    #[serde(default)]
    pub source: EnvToml,
    #[serde(default)]
    pub target: EnvToml,
    #[serde(default)]
    pub run: RunToml,
    #[serde(default)]
    pub kinds: BTreeMap<Spanned<String>, KindRules>,
    #[serde(default)]
    pub hooks: Vec<HookToml>,
    /// a rollout's targets (`ferry rollout`), each a `[target]` table with a `name`
    #[serde(default)]
    pub targets: Vec<EnvToml>,
    /// how a rollout goes through them
    #[serde(default)]
    pub rollout: Option<crate::rollout::RolloutToml>,
}

/// A table whose own keys are its fields and whose other keys go to `short`, the
/// platform's short forms. Written out rather than `#[serde(flatten)]`, which buffers the
/// table and so loses the line and column of every error in it.
macro_rules! with_short_forms {
    ($ty:ident, $what:literal, [$($field:ident),* $(,)?]) => {
        impl $ty {
            /// the keys the table has of its own, which no alias may take
            pub const KEYS: &[&str] = &[$(stringify!($field)),*];
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> serde::de::Visitor<'de> for Fields {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> Result<$ty, A::Error> {
                        let mut out = $ty::default();
                        while let Some(key) = m.next_key::<String>()? {
                            match key.as_str() {
                                $(stringify!($field) => out.$field = m.next_value()?,)*
                                _ => {
                                    let value = m.next_value()?;
                                    out.short.insert(key, value);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(Fields)
            }
        }
    };
}

/// One environment. Keys it does not know are the platform's short forms (`org = "dev"`
/// for Unstract's `params.org`), checked when the platform's manifest is known.
#[derive(Debug, Clone, Default)]
pub struct EnvToml {
    /// the environment's name, as hooks see it (default: the platform's label, e.g. the org)
    pub name: Option<String>,
    /// the platform (default: `--platform`, else unstract); both sides name the same one
    pub platform: Option<String>,
    pub url: Option<Expanded>,
    /// the platform's connection parameters: `params = { org = "…", project = "…" }`
    pub params: BTreeMap<String, Expanded>,
    /// short for `[….auth] key_env`
    pub key_env: Option<String>,
    /// short for `[….auth] key_file`
    pub key_file: Option<PathBuf>,
    pub key: Option<KeyInFile>,
    pub auth: AuthToml,
    /// the platform's short forms for parameters (its manifest's `aliases`)
    pub short: BTreeMap<String, Spanned<Expanded>>,
}

with_short_forms!(
    EnvToml,
    "an environment table",
    [name, platform, url, params, key_env, key_file, key, auth]
);

/// `[source.auth]` / `[target.auth]`: where the credentials come from, never the secrets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthToml {
    pub key_env: Option<String>,
    pub key_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<KeyInFile>,
    #[serde(default)]
    pub password: Option<PasswordInFile>,
}

/// The `[run]` table: the flags of `ferry clone` and `ferry plan`. Keys it does not know
/// are the platform's short forms, checked when its manifest is known.
#[derive(Debug, Default)]
pub struct RunToml {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub select: Vec<String>,
    pub select_tag: Vec<String>,
    pub on_name_conflict: Option<OnConflict>,
    pub concurrency: Option<u16>,
    pub max_file_size: Option<Size>,
    pub skip_files: Option<bool>,
    /// the platform's options (`--option NAME=VALUE`)
    pub options: BTreeMap<String, toml::Value>,
    pub rate_limit: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub attempts: Option<u32>,
    pub connect_timeout: Option<u64>,
    pub request_timeout: Option<u64>,
    pub max_list_items: Option<u64>,
    pub max_list_bytes: Option<Size>,
    /// the platform's short forms for options (and for parameters on both sides)
    pub short: BTreeMap<String, Spanned<toml::Value>>,
}

with_short_forms!(
    RunToml,
    "the [run] table",
    [
        include,
        exclude,
        select,
        select_tag,
        on_name_conflict,
        concurrency,
        max_file_size,
        skip_files,
        options,
        rate_limit,
        max_in_flight,
        attempts,
        connect_timeout,
        request_timeout,
        max_list_items,
        max_list_bytes
    ]
);

/// One entry of the hook chain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookToml {
    /// a path (`.rhai` or `.wasm`, relative to the promotion file) or `bundled:NAME`
    pub uses: Spanned<String>,
    /// kinds it applies to (default: all)
    #[serde(default)]
    pub kinds: Vec<Spanned<String>>,
    /// its parameters (`${env:NAME}` expanded)
    pub with: Option<Template>,
}

/// A string with `${env:NAME}` expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Expanded(pub String);

impl TryFrom<String> for Expanded {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        expand_env(&s).map(Expanded)
    }
}

/// A size: `25`, `25MB`, `1.5GB`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "Value")]
pub struct Size(pub u64);

impl TryFrom<Value> for Size {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .map(Size)
                .ok_or_else(|| format!("{n} is not a size in bytes")),
            Value::String(s) => parse_size(&s).map(Size),
            other => Err(format!(
                "{other} is not a size (examples: 25, \"25MB\", \"1.5GB\")"
            )),
        }
    }
}

/// A key or password kept in a file: its first line, trimmed; an empty file is an error.
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let value = text.trim();
    if value.is_empty() {
        anyhow::bail!("{} is empty", path.display());
    }
    Ok(value.to_string())
}

/// `key = "..."` (or `password = "..."`) in a promotion file: always refused.
#[derive(Debug, Clone)]
pub struct KeyInFile;

impl<'de> Deserialize<'de> for KeyInFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Consume the value without keeping it.
        let _ = serde::de::IgnoredAny::deserialize(d)?;
        Err(serde::de::Error::custom(
            "a key written in the promotion file is refused (these files are shared and committed); use key_env = \"VARIABLE\" or key_file = \"path\"",
        ))
    }
}

/// `password = "..."` in a promotion file: always refused.
#[derive(Debug, Clone)]
pub struct PasswordInFile;

impl<'de> Deserialize<'de> for PasswordInFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = serde::de::IgnoredAny::deserialize(d)?;
        Err(serde::de::Error::custom(
            "a password written in the promotion file is refused (these files are shared and committed); use password_env = \"VARIABLE\" or password_file = \"path\"",
        ))
    }
}

/// `25` (bytes), `25MB`, `1.5GB`, `512K`: powers of 1024, as Unstract's tool reads them.
/// The same crate and settings as the sandbox's, so the two read a size alike.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("{s:?} is not a size (examples: 25, 25MB, 1.5GB): {e}"))
}

/// A loaded promotion file, with what is needed to report positions in it.
#[derive(Debug)]
pub struct Loaded {
    pub file: PromotionFile,
    /// how errors name it (its path)
    pub name: String,
    /// its folder: hook paths and key files are relative to it
    pub dir: PathBuf,
    text: String,
}

impl Loaded {
    /// The same file run between these environments instead of its own `[source]` and
    /// `[target]` (a job server names them in its own file).
    pub fn between(mut self, source: EnvToml, target: EnvToml) -> Loaded {
        self.file.source = source;
        self.file.target = target;
        self.file.targets.clear();
        self
    }

    /// The file read again from its text: a rollout runs it once per target.
    pub fn again(&self) -> anyhow::Result<Loaded> {
        Loaded::parse(&self.name, &self.text, self.dir.clone())
    }

    pub fn read(path: &Path) -> anyhow::Result<Loaded> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the promotion file {}: {e}", path.display())
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Loaded::parse(&path.display().to_string(), &text, dir)
    }

    /// Parse a promotion file's text; `name` is how errors refer to it.
    pub fn parse(name: &str, text: &str, dir: PathBuf) -> anyhow::Result<Loaded> {
        let file: PromotionFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| position(text, s.start))
                .unwrap_or_default();
            anyhow::anyhow!("{name}{at}: {}", e.message().trim())
        })?;
        Ok(Loaded {
            file,
            name: name.to_string(),
            dir,
            text: text.to_string(),
        })
    }

    /// `promote.toml:12:5` for a spanned value.
    pub fn at<T>(&self, s: &Spanned<T>) -> String {
        format!("{}{}", self.name, position(&self.text, s.span().start))
    }

    /// The key of one side: `key_env`, or `key_file`; `None` when the file names neither.
    fn env(&self, side: &str) -> &EnvToml {
        if side == "source" {
            &self.file.source
        } else {
            &self.file.target
        }
    }

    /// The side's key, from its `key_env` or `key_file` (in `[side]` or `[side.auth]`).
    pub fn key(&self, side: &str) -> anyhow::Result<Option<String>> {
        let env = self.env(side);
        let var = env.key_env.as_ref().or(env.auth.key_env.as_ref());
        let file = env.key_file.as_ref().or(env.auth.key_file.as_ref());
        self.secret(side, "key", var, file)
    }

    /// The side's password, from `[side.auth]`'s `password_env` or `password_file`.
    pub fn password(&self, side: &str) -> anyhow::Result<Option<String>> {
        let a = &self.env(side).auth;
        self.secret(
            side,
            "password",
            a.password_env.as_ref(),
            a.password_file.as_ref(),
        )
    }

    fn secret(
        &self,
        side: &str,
        what: &str,
        var: Option<&String>,
        file: Option<&PathBuf>,
    ) -> anyhow::Result<Option<String>> {
        match (var, file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "{}: [{side}] has both {what}_env and {what}_file; keep one",
                self.name
            ),
            (Some(var), None) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Ok(Some(k.trim().to_string())),
                _ => anyhow::bail!(
                    "{}: [{side}] {what}_env = {var:?}, but the environment variable {var} is not set (or is empty)",
                    self.name
                ),
            },
            (None, Some(f)) => read_secret_file(&self.dir.join(f))
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{}: [{side}] {what}_file: {e}", self.name)),
            (None, None) => Ok(None),
        }
    }

    /// Check that every kind the file names is one a loaded plugin declares.
    pub fn check_kinds(&self, known: &std::collections::BTreeSet<String>) -> anyhow::Result<()> {
        let unknown = |k: &Spanned<String>, what: &str| {
            anyhow::anyhow!(
                "{}: {what} names unknown kind {:?} (known: {})",
                self.at(k),
                k.get_ref(),
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        for k in self.file.kinds.keys() {
            if !known.contains(k.get_ref()) {
                return Err(unknown(k, "[kinds.*]"));
            }
        }
        for h in &self.file.hooks {
            if let Some(k) = h.kinds.iter().find(|k| !known.contains(k.get_ref())) {
                return Err(unknown(k, "a hook's kinds"));
            }
        }
        Ok(())
    }
}

/// `:LINE:COLUMN` (1-based) of a byte offset.
fn position(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    format!(":{line}:{col}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Loaded, String> {
        Loaded::parse("p.toml", t, PathBuf::new()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_file_reads() {
        let l = parse(
            r#"
[source]
name = "dev"
url = "http://127.0.0.1:1"
org = "dev"
key_env = "DEV_KEY"
[target]
url = "http://127.0.0.1:1"
org = "prod"
key_file = "prod.key"
[run]
exclude = ["pipeline"]
on_name_conflict = "update"
max_file_size = "10MB"
[kinds.adapter]
map = { "openai-dev" = "openai-prod" }
rename = { suffix = "-dev", to = "-prod" }
set = { "/description" = "promoted" }
remove = ["/shared_users"]
leave = ["scratch-*"]
on_name_conflict = "adopt"
[[hooks]]
uses = "bundled:rename.rhai"
kinds = ["workflow"]
with = { to = "-prod" }
"#,
        )
        .unwrap();
        assert_eq!(l.file.run.max_file_size.unwrap().0, 10 << 20);
        assert_eq!(l.file.kinds.len(), 1);
        assert_eq!(l.file.hooks[0].uses.get_ref(), "bundled:rename.rhai");
        assert_eq!(l.at(&l.file.hooks[0].kinds[0]), "p.toml:24:10");
    }

    #[test]
    fn errors_name_line_and_column_and_never_quote_a_key() {
        // A key the table does not know is a short form, whose value is text.
        let e = parse("[source]\nurl = \"x\"\nurl2 = 1\n").unwrap_err();
        assert!(e.starts_with("p.toml:3:8:") && e.contains("string"), "{e}");
        let e = parse("[source]\nurl = 1\n").unwrap_err();
        assert!(e.starts_with("p.toml:2:7:"), "{e}");
        let e = parse("[run]\nconcurrency = \"x\"\n").unwrap_err();
        assert!(e.starts_with("p.toml:2:15:"), "{e}");
        let e = parse("[source]\nurl = \"x\n").unwrap_err();
        assert!(e.starts_with("p.toml:2:"), "{e}");
        let e = parse("[target]\norg = \"p\"\nkey = \"sk-very-secret\"\n").unwrap_err();
        assert!(
            e.starts_with("p.toml:3:7:") && e.contains("key_env") && !e.contains("sk-very-secret"),
            "{e}"
        );
        let e = parse("[kinds.tag]\nset = { \"description\" = 1 }\n").unwrap_err();
        assert!(
            e.starts_with("p.toml:2:") && e.contains("must start with '/'"),
            "{e}"
        );
        let e = parse("[source]\nurl = \"${env:FERRY_PROMOTION_TEST_UNSET}\"\n").unwrap_err();
        assert!(
            e.starts_with("p.toml:2:7:") && e.contains("FERRY_PROMOTION_TEST_UNSET is not set"),
            "{e}"
        );
        let e = parse("[run]\nmax_file_size = \"5XB\"\n").unwrap_err();
        assert!(e.contains("not a size"), "{e}");
    }

    #[test]
    fn short_forms_are_the_keys_a_table_does_not_have() {
        let l = Loaded::parse(
            "p.toml",
            "[source]\nurl = \"x\"\norg = \"dev\"\n[run]\ndeep = true\nconcurrency = 3\n",
            PathBuf::new(),
        )
        .unwrap();
        assert_eq!(l.file.source.short["org"].get_ref().0, "dev");
        assert_eq!(l.at(&l.file.source.short["org"]), "p.toml:3:7");
        assert_eq!(l.file.source.url.as_ref().unwrap().0, "x");
        assert_eq!(
            l.file.run.short["deep"].get_ref(),
            &toml::Value::Boolean(true)
        );
        assert_eq!(l.file.run.concurrency, Some(3));
        // The platform's check of aliases reads the same lists of keys.
        assert_eq!(EnvToml::KEYS, crate::plugin::platform::ENV_KEYS);
        assert_eq!(RunToml::KEYS, crate::plugin::platform::RUN_KEYS);
    }

    #[test]
    fn sizes_read_like_unstracts_tool() {
        assert_eq!(parse_size("25").unwrap(), 25);
        assert_eq!(parse_size("25MB").unwrap(), 25 << 20);
        assert_eq!(parse_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_size(" 512 kb ").unwrap(), 512 << 10);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("5XB").unwrap_err().contains("not a size"));
    }
}
