//! The small manifest beside a plugin's `.wasm` (same stem, `.toml`): its name, version and
//! limits. Every field is optional; a plugin without a manifest gets the defaults.
//!
//! ```toml
//! name = "unstract"
//! version = "0.1.0"
//! platform = "unstract"   # the platform it serves; [connection] and [options]: see platform.rs
//! [limits]
//! cpu-ms = 30000          # guest execution time per call (host calls and sleeps excluded)
//! wall-ms = 600000        # whole call, host calls included
//! memory-mib = 128        # linear memory of one instance
//! max-response-mib = 64   # one HTTP response body
//! [source-writes]
//! allow = ["POST projectDuplications", "PUT projectDuplications/{id}"]
//!                         # exceptions to the read-only source: exact relative paths, {id} for one segment
//! ```

use super::platform::{ConnectionSpec, OptionSpec};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub limits: LimitsToml,
    #[serde(default)]
    pub source_writes: SourceWrites,
    /// the platform this plugin serves (none: every platform)
    pub platform: Option<String>,
    /// how to reach the platform's environments (declared by one plugin per platform)
    pub connection: Option<ConnectionSpec>,
    /// the platform's run options (`--option NAME=VALUE`)
    #[serde(default)]
    pub options: BTreeMap<String, OptionSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsToml {
    pub cpu_ms: Option<u64>,
    pub wall_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub max_response_mib: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceWrites {
    #[serde(default)]
    pub allow: Vec<String>,
}

/// The limits one plugin runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// guest execution time per call; time in host calls and sleeps does not count
    #[serde(with = "millis")]
    pub cpu: Duration,
    /// the whole call, wall clock
    #[serde(with = "millis")]
    pub wall: Duration,
    /// bytes of linear memory per instance
    pub memory_bytes: u64,
    /// bytes of one HTTP response body
    pub max_response_bytes: u64,
}

impl Limits {
    /// Defaults for cloners.
    pub const CLONER: Limits = Limits {
        cpu: Duration::from_secs(30),
        wall: Duration::from_secs(600),
        memory_bytes: 128 << 20,
        max_response_bytes: 64 << 20,
    };
    /// Defaults for WASM transform hooks: no network, little time.
    pub const HOOK: Limits = Limits {
        cpu: Duration::from_millis(250),
        wall: Duration::from_secs(5),
        memory_bytes: 32 << 20,
        max_response_bytes: 0,
    };

    pub fn with_overrides(self, t: &LimitsToml) -> Limits {
        Limits {
            cpu: t.cpu_ms.map(Duration::from_millis).unwrap_or(self.cpu),
            wall: t.wall_ms.map(Duration::from_millis).unwrap_or(self.wall),
            memory_bytes: t.memory_mib.map(|m| m << 20).unwrap_or(self.memory_bytes),
            max_response_bytes: t
                .max_response_mib
                .map(|m| m << 20)
                .unwrap_or(self.max_response_bytes),
        }
    }

    /// One line for people: "cpu 30s, wall 600s, memory 128 MiB, response 64 MiB".
    pub fn summary(&self) -> String {
        format!(
            "cpu {}, wall {}, memory {} MiB, response {} MiB",
            human_duration(self.cpu),
            human_duration(self.wall),
            self.memory_bytes >> 20,
            self.max_response_bytes >> 20
        )
    }
}

fn human_duration(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

mod millis {
    use serde::Serializer;
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

impl Manifest {
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Manifest> {
        let m: Manifest =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("plugin manifest {origin}: {e}"))?;
        for rule in &m.source_writes.allow {
            rule.parse::<crate::net::policy::WriteRule>().map_err(|e| {
                anyhow::anyhow!("plugin manifest {origin}: [source-writes] allow: {e}")
            })?;
        }
        if m.limits.memory_mib == Some(0)
            || m.limits.cpu_ms == Some(0)
            || m.limits.wall_ms == Some(0)
        {
            anyhow::bail!("plugin manifest {origin}: a limit of 0 would make every call fail");
        }
        if let Some(p) = &m.platform
            && (p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'))
        {
            anyhow::bail!(
                "plugin manifest {origin}: platform {p:?}: a platform name is lowercase letters, digits, '-' and '_'"
            );
        }
        if m.platform.is_none() && (m.connection.is_some() || !m.options.is_empty()) {
            anyhow::bail!(
                "plugin manifest {origin}: [connection] and [options] belong to a platform: add platform = \"NAME\""
            );
        }
        if let Some(c) = &m.connection {
            c.check()
                .map_err(|e| anyhow::anyhow!("plugin manifest {origin}: {e}"))?;
        }
        for (name, o) in &m.options {
            o.check_decl(name)
                .map_err(|e| anyhow::anyhow!("plugin manifest {origin}: {e}"))?;
        }
        // One name, one meaning: a run-wide short form may be an option's or a parameter's.
        let mut seen = std::collections::BTreeSet::new();
        let params = m.connection.iter().flat_map(|c| c.params.values());
        for a in params
            .flat_map(|p| &p.aliases)
            .chain(m.options.values().flat_map(|o| &o.aliases))
        {
            if !seen.insert(a) {
                anyhow::bail!("plugin manifest {origin}: alias {a:?} is declared twice");
            }
        }
        Ok(m)
    }

    /// Read `<stem>.toml` beside a `.wasm` or `.rhai`, if there is one.
    pub fn beside(wasm: &Path) -> anyhow::Result<Option<Manifest>> {
        let path = wasm.with_extension("toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(Manifest::parse(&text, &path.display().to_string())?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The source-write exceptions (checked by `parse`).
    pub fn source_write_rules(&self) -> Vec<crate::net::policy::WriteRule> {
        self.source_writes
            .allow
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_overrides_limits_and_refuses_unknown_fields() {
        let m =
            Manifest::parse("name='x'\n[limits]\ncpu-ms = 500\nmemory-mib = 16\n", "t").unwrap();
        let l = Limits::CLONER.with_overrides(&m.limits);
        assert_eq!(l.cpu, Duration::from_millis(500));
        assert_eq!(l.memory_bytes, 16 << 20);
        assert_eq!(l.wall, Limits::CLONER.wall);
        let e = Manifest::parse("[limits]\ncpu = 5\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("cpu"), "{e}");
        assert!(Manifest::parse("[source-writes]\nallow=['post']\n", "t").is_err());
        assert!(Manifest::parse("[source-writes]\nallow=['POST jobs/{id}']\n", "t").is_ok());
        let e = Manifest::parse("[source-writes]\nallow=['POST jobs/*']\n", "u.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("u.toml") && e.contains("jobs/*"), "{e}");
    }

    #[test]
    fn a_platform_declares_its_connection_and_options() {
        let text = "platform = 'p'\n[connection]\nbase-url = '{url}/o/{org}/'\n[connection.params.org]\nrequired = true\n[connection.auth]\nscheme = 'login'\npath = 'api/auth/login'\ntoken-header = 'X-Token'\nkeep-alive = { method = 'PUT', path = 'api/sessions', every-s = 30 }\n[options.deep]\ntype = 'bool'\ndefault = false\n";
        let m = Manifest::parse(text, "p.toml").unwrap();
        assert_eq!(m.platform.as_deref(), Some("p"));
        assert_eq!(m.connection.unwrap().auth.scheme(), "login");
        let e = Manifest::parse("[options.x]\ntype = 'bool'\n", "q.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("q.toml") && e.contains("platform"), "{e}");
        let e = Manifest::parse("platform = 'p'\n[connection]\nbase-url = '{url}/'\n[connection.auth]\nscheme = 'magic'\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.toml") && e.contains("magic"), "{e}");
        let e = Manifest::parse(
            "platform = 'p'\n[options.n]\ntype = 'integer'\ndefault = 'x'\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[options.n]"), "{e}");
    }
}
