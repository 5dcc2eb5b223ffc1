//! The server's file (`ferry serve --config server.toml`): its environments, the promotions
//! between them, its API tokens (as hashes) and where it keeps its jobs. Nothing secret is
//! written in it: an environment's credentials come from variables or files, as in a
//! promotion file, and are read when a job opens its session.
//!
//! ```toml
//! store = "ferry-jobs.sqlite"        # relative to this file; or "postgres://..." (FERRY_STORE_URL wins)
//! max_jobs = 2
//!
//! [environments.dev]                 # the [source]/[target] tables of a promotion file
//! platform = "unstract"
//! url = "http://127.0.0.1:8765"
//! org = "dev"
//! key_env = "DEV_KEY"
//!
//! [promotions.dev-to-qa]
//! source = "dev"
//! target = "qa"
//! file = "dev-to-qa.toml"            # optional: its [run], [kinds] and [[hooks]]
//! approval = { role = "approver", count = 1 }   # optional: a clone or restore applies
//!                                    # only a plan that many approved (or tokens = [...])
//!
//! [http]                             # optional; these are the defaults
//! header_timeout = "10s"             # to send a request's headers
//! idle_timeout = "60s"               # a connection with no byte either way is closed
//! max_connections = 512              # open at once; more wait to be accepted
//!
//! [[tokens]]
//! name = "ci"
//! role = "operator"                  # viewer, operator, approver or admin
//! sha256 = "…"                       # `ferry serve token --name ci --role operator`
//! ```

use crate::auth::{Role, Token};
use crate::listen::HttpLimits;
use ferry::{EnvToml, Loaded};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// a SQLite file (relative to this file) or a `postgres://` URL
    store: Option<String>,
    max_jobs: Option<usize>,
    /// where export jobs' packages are kept (default: `packages/` beside the store)
    packages: Option<PathBuf>,
    /// plugin directories to load beside the bundled plugins
    #[serde(default)]
    plugins: Vec<PathBuf>,
    #[serde(default)]
    environments: BTreeMap<String, EnvToml>,
    #[serde(default)]
    promotions: BTreeMap<String, PromotionToml>,
    #[serde(default)]
    tokens: Vec<TokenToml>,
    #[serde(default)]
    http: HttpToml,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpToml {
    header_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
}

impl HttpToml {
    fn limits(&self, name: &str) -> anyhow::Result<HttpLimits> {
        let d = HttpLimits::default();
        let duration = |field: &str, v: &Option<String>, default| match v {
            None => Ok(default),
            Some(text) => match humantime::parse_duration(text) {
                Ok(t) if !t.is_zero() => Ok(t),
                Ok(_) => anyhow::bail!("{name}: [http] {field} must be more than 0"),
                Err(e) => anyhow::bail!("{name}: [http] {field} = {text:?}: {e} (e.g. \"10s\")"),
            },
        };
        let max_connections = self.max_connections.unwrap_or(d.max_connections);
        if max_connections == 0 {
            anyhow::bail!("{name}: [http] max_connections must be 1 or more");
        }
        Ok(HttpLimits {
            header_timeout: duration("header_timeout", &self.header_timeout, d.header_timeout)?,
            idle_timeout: duration("idle_timeout", &self.idle_timeout, d.idle_timeout)?,
            max_connections,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromotionToml {
    source: String,
    target: String,
    file: Option<PathBuf>,
    description: Option<String>,
    approval: Option<ApprovalToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalToml {
    role: Option<Role>,
    tokens: Option<Vec<String>>,
    count: Option<u32>,
}

/// Who must approve a promotion's plan before a clone or restore applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// approvals of one plan it takes, each by another token
    pub count: u32,
    pub by: Approvers,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Approvers {
    /// tokens of this role or above
    Role(Role),
    /// these tokens, by name
    Tokens(Vec<String>),
}

impl Approval {
    /// Whether a token may approve or reject under this rule.
    pub fn allows(&self, name: &str, role: Role) -> bool {
        match &self.by {
            Approvers::Role(r) => role >= *r,
            Approvers::Tokens(names) => names.iter().any(|n| n == name),
        }
    }

    pub fn describe(&self) -> String {
        match &self.by {
            Approvers::Role(r) => format!("{} by the {} role or above", self.count, r.name()),
            Approvers::Tokens(n) => format!("{} by {}", self.count, n.join(", ")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenToml {
    name: String,
    role: Role,
    sha256: String,
}

/// A promotion the server runs: two of its environments and, optionally, a promotion file.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub name: String,
    pub platform: String,
    pub source: String,
    pub target: String,
    pub file: Option<PathBuf>,
    pub description: Option<String>,
    pub approval: Option<Approval>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub store: crate::store::StoreAt,
    pub packages: PathBuf,
    pub max_jobs: usize,
    pub plugins: Vec<PathBuf>,
    pub environments: BTreeMap<String, EnvToml>,
    pub promotions: BTreeMap<String, Promotion>,
    /// the tokens at start; the server re-reads them on SIGHUP or `POST /v1/admin/reload`
    pub tokens: Vec<Token>,
    pub http: HttpLimits,
    /// the file this was read from (none when parsed from text)
    pub file: Option<PathBuf>,
}

/// A promotion's `approval` table, checked.
fn approval(what: &str, a: ApprovalToml) -> anyhow::Result<Approval> {
    let count = a.count.unwrap_or(1);
    if count == 0 {
        anyhow::bail!("{what} approval: count must be 1 or more");
    }
    let by = match (a.role, a.tokens) {
        (Some(_), Some(_)) => {
            anyhow::bail!("{what} approval: give role or tokens, not both")
        }
        (Some(r), None) if r < Role::Approver => anyhow::bail!(
            "{what} approval: role {} may not approve (approver or admin)",
            r.name()
        ),
        (Some(r), None) => Approvers::Role(r),
        (None, Some(t)) if t.len() < count as usize => anyhow::bail!(
            "{what} approval: {count} approvals from {} token(s) cannot be had",
            t.len()
        ),
        (None, Some(t)) => Approvers::Tokens(t),
        (None, None) => Approvers::Role(Role::Approver),
    };
    Ok(Approval { count, by })
}

impl Config {
    pub fn read(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the server's config {}: {e}", path.display())
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = std::fs::canonicalize(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &dir
        })?;
        let mut config = Config::parse(&path.display().to_string(), &text, &dir)?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parse and check a config; `name` is how errors call it, `dir` what its paths are
    /// relative to.
    pub fn parse(name: &str, text: &str, dir: &Path) -> anyhow::Result<Config> {
        let f: File = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{name}{at}: {}", e.message().trim())
        })?;
        let mut environments = f.environments;
        for (env_name, env) in environments.iter_mut() {
            let what = format!("{name}: [environments.{env_name}]");
            let url = env
                .url
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("{what} has no url"))?;
            let parsed = url::Url::parse(&url.0).map_err(|e| anyhow::anyhow!("{what} url: {e}"))?;
            // A URL is shown in every job: a password in it would be shown too.
            if !parsed.username().is_empty()
                || parsed.password().is_some()
                || parsed.query().is_some()
            {
                anyhow::bail!(
                    "{what} url holds credentials or a query (every job shows it); use key_env/key_file or [auth], and params"
                );
            }
            if env.platform.is_none() {
                anyhow::bail!("{what} has no platform (unstract, strategy, versori, ...)");
            }
            // Key files are relative to this file; a job's promotion file lives elsewhere.
            for f in [
                &mut env.key_file,
                &mut env.auth.key_file,
                &mut env.auth.password_file,
            ]
            .into_iter()
            .flatten()
            {
                *f = dir.join(&*f);
            }
            if env.name.is_none() {
                env.name = Some(env_name.clone());
            }
        }
        let mut promotions = BTreeMap::new();
        for (p_name, p) in f.promotions {
            let what = format!("{name}: [promotions.{p_name}]");
            let side = |s: &str, which: &str| {
                environments.get(s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{what} {which} = {s:?}: no [environments.{s}] (there are: {})",
                        environments.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
            };
            let (s, t) = (side(&p.source, "source")?, side(&p.target, "target")?);
            if s.platform != t.platform {
                anyhow::bail!("{what}: its source and target are on different platforms");
            }
            let file = p.file.map(|f| dir.join(f));
            if let Some(f) = &file {
                Loaded::read(f).map_err(|e| anyhow::anyhow!("{what} file: {e:#}"))?;
            }
            promotions.insert(
                p_name.clone(),
                Promotion {
                    name: p_name,
                    platform: s.platform.clone().unwrap_or_default(),
                    source: p.source,
                    target: p.target,
                    file,
                    description: p.description,
                    approval: p.approval.map(|a| approval(&what, a)).transpose()?,
                },
            );
        }
        // A token list names tokens the file has.
        for p in promotions.values() {
            if let Some(Approval {
                by: Approvers::Tokens(names),
                ..
            }) = &p.approval
                && let Some(n) = names
                    .iter()
                    .find(|n| !f.tokens.iter().any(|t| &t.name == *n))
            {
                anyhow::bail!(
                    "{name}: [promotions.{}] approval: no token is named {n:?}",
                    p.name
                );
            }
        }
        let mut tokens = Vec::new();
        for t in f.tokens {
            let hash = t.sha256.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!(
                    "{name}: token {:?}: sha256 must be 64 hex digits (the token's hash, never the token)",
                    t.name
                );
            }
            // One secret would be two tokens: which name and role it has would depend on
            // the order of the file.
            if let Some(same) = tokens.iter().find(|o: &&Token| o.sha256 == hash) {
                anyhow::bail!(
                    "{name}: tokens {:?} and {:?} have the same sha256: give each its own token",
                    same.name,
                    t.name
                );
            }
            tokens.push(Token {
                name: t.name,
                role: t.role,
                sha256: hash,
            });
        }
        if tokens.is_empty() {
            anyhow::bail!(
                "{name}: no [[tokens]]: nobody could use the server (`ferry serve token` makes one)"
            );
        }
        // FERRY_STORE_URL wins: a deployment names its database outside the file.
        let named = std::env::var("FERRY_STORE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or(f.store);
        use crate::store::StoreAt;
        let store = match named.as_deref().map(StoreAt::parse).transpose() {
            Err(e) => anyhow::bail!("{name}: store {e}"),
            Ok(Some(StoreAt::Sqlite(p))) => StoreAt::Sqlite(dir.join(p)),
            Ok(Some(pg)) => pg,
            Ok(None) => StoreAt::Sqlite(dir.join("ferry-jobs.sqlite")),
        };
        let packages = match (f.packages, &store) {
            (Some(p), _) => dir.join(p),
            (None, crate::store::StoreAt::Sqlite(s)) => s.parent().unwrap_or(dir).join("packages"),
            (None, crate::store::StoreAt::Postgres(_)) => dir.join("packages"),
        };
        Ok(Config {
            store,
            packages,
            max_jobs: f.max_jobs.unwrap_or(2).max(1),
            plugins: f.plugins.into_iter().map(|p| dir.join(p)).collect(),
            environments,
            promotions,
            tokens,
            http: f.http.limits(name)?,
            file: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse("server.toml", text, Path::new("/srv"))
    }

    #[test]
    fn reads_environments_promotions_and_tokens() {
        let c = parse(&format!(
            r#"
            [environments.dev]
            platform = "unstract"
            url = "http://127.0.0.1:1"
            org = "dev"
            key_file = "keys/dev"
            [environments.qa]
            platform = "unstract"
            url = "http://127.0.0.1:1"
            org = "qa"
            [promotions.dev-to-qa]
            source = "dev"
            target = "qa"
            [[tokens]]
            name = "ci"
            role = "operator"
            sha256 = "{HASH}"
            "#
        ))
        .unwrap();
        assert_eq!(c.promotions["dev-to-qa"].platform, "unstract");
        assert_eq!(
            c.environments["dev"].key_file.as_deref(),
            Some(Path::new("/srv/keys/dev"))
        );
        assert_eq!(
            c.store,
            crate::store::StoreAt::Sqlite("/srv/ferry-jobs.sqlite".into())
        );
        assert_eq!(c.tokens[0].role, Role::Operator);
        assert_eq!(c.http, HttpLimits::default());
    }

    #[test]
    fn the_listeners_limits_are_read_and_checked() {
        let token = format!("[[tokens]]\nname = \"a\"\nrole = \"admin\"\nsha256 = \"{HASH}\"\n");
        let c = parse(&format!(
            "{token}[http]\nheader_timeout = \"2s\"\nidle_timeout = \"5m\"\nmax_connections = 8\n"
        ))
        .unwrap();
        assert_eq!(
            c.http,
            HttpLimits {
                header_timeout: std::time::Duration::from_secs(2),
                idle_timeout: std::time::Duration::from_secs(300),
                max_connections: 8,
            }
        );
        for (bad, wanted) in [
            ("header_timeout = \"soon\"", "header_timeout"),
            ("idle_timeout = \"0s\"", "more than 0"),
            ("max_connections = 0", "max_connections"),
            ("max_conns = 3", "max_conns"),
        ] {
            let e = parse(&format!("{token}[http]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(wanted), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_what_would_leak_or_cannot_run() {
        let token = format!("[[tokens]]\nname = \"a\"\nrole = \"admin\"\nsha256 = \"{HASH}\"\n");
        let env = "[environments.dev]\nplatform = \"unstract\"\nurl = \"http://127.0.0.1:1\"\n";
        let e = parse(&format!("{env}key = \"k\"\n{token}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("refused") && !e.contains("\"k\""), "{e}");
        let e = parse(&format!(
            "[environments.dev]\nplatform = \"unstract\"\nurl = \"http://u:p@127.0.0.1:1\"\n{token}"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("holds credentials") && !e.contains("u:p"), "{e}");
        let e = parse(&format!(
            "[environments.dev]\nplatform = \"unstract\"\nurl = \"http://127.0.0.1:1/?api_key=s3cret\"\n{token}"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("holds credentials") && !e.contains("s3cret"),
            "{e}"
        );
        let e = parse(&format!(
            "{env}[promotions.p]\nsource = \"dev\"\ntarget = \"prod\"\n{token}"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("no [environments.prod]"), "{e}");
        let e = parse("[[tokens]]\nname = \"a\"\nrole = \"admin\"\nsha256 = \"s3cret\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 hex digits") && !e.contains("s3cret"), "{e}");
        assert!(
            parse(env)
                .unwrap_err()
                .to_string()
                .contains("no [[tokens]]")
        );
        let e = parse(&format!(
            "[[tokens]]\nname = \"a\"\nrole = \"root\"\nsha256 = \"{HASH}\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("root"), "{e}");
        // One hash twice, in any case, is refused naming both entries.
        let e = parse(&format!(
            "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{HASH}\"\n\
             [[tokens]]\nname = \"b\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
            HASH.to_ascii_uppercase()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("tokens \"a\" and \"b\" have the same sha256"),
            "{e}"
        );
    }

    #[test]
    fn an_approval_names_who_may_give_it() {
        let with = |approval: &str| {
            parse(&format!(
                "[environments.dev]\nplatform = \"unstract\"\nurl = \"http://127.0.0.1:1\"\n\
                 [environments.qa]\nplatform = \"unstract\"\nurl = \"http://127.0.0.1:1\"\n\
                 [promotions.p]\nsource = \"dev\"\ntarget = \"qa\"\napproval = {approval}\n\
                 [[tokens]]\nname = \"ana\"\nrole = \"approver\"\nsha256 = \"{HASH}\"\n"
            ))
        };
        let c = with("{}").unwrap();
        let a = c.promotions["p"].approval.clone().unwrap();
        assert_eq!(
            (a.count, a.by.clone()),
            (1, Approvers::Role(Role::Approver))
        );
        assert!(a.allows("x", Role::Admin) && !a.allows("x", Role::Operator));
        let c = with("{ tokens = [\"ana\"] }").unwrap();
        let a = c.promotions["p"].approval.clone().unwrap();
        assert!(a.allows("ana", Role::Viewer) && !a.allows("ben", Role::Admin));
        for (bad, says) in [
            ("{ role = \"operator\" }", "may not approve"),
            ("{ tokens = [\"ben\"] }", "no token is named \"ben\""),
            ("{ tokens = [\"ana\"], count = 2 }", "cannot be had"),
            ("{ role = \"admin\", tokens = [\"ana\"] }", "not both"),
            ("{ count = 0 }", "1 or more"),
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
