//! A platform, as its pack declares it in a plugin manifest: how to reach an environment
//! (`[connection]`: a base-URL template and its parameters, the headers the host owns, the
//! credential scheme and the variables that supply credentials) and the run options its
//! cloners read (`[options]`). The host knows credential schemes; the URL shape, the
//! parameters and the options are the pack's.
//!
//! ```toml
//! platform = "unstract"
//! [connection]
//! base-url = "{url}/{api_prefix}/unstract/{org}/"
//! label = "{org}"                      # names the environment in reports (default: {url})
//! headers = { "X-Tenant" = "{org}" }   # sent by the host on every request
//! [connection.params.org]
//! description = "organisation id"
//! required = true
//! pattern = "^[a-z0-9_-]+$"
//! aliases = ["org"]                    # `org = "…"` in [source]/[target], --source-org
//! [connection.params.api_prefix]
//! default = "api/v1"
//! aliases = ["api_prefix"]             # …, and run-wide (both sides): --api-prefix
//! [connection.auth]
//! scheme = "bearer"                    # bearer | header | login (see net::auth)
//! key-env = { source = "SRC_KEY", target = "TGT_KEY" }
//! [options.clone-group-members]
//! type = "bool"
//! default = false
//! description = "also add groups' members"
//! aliases = ["clone_group_members"]    # `clone_group_members = true` in [run]
//! ```
//!
//! Aliases are a platform's short forms: the names its users know from the platform's own
//! tools. The host knows none of them; it resolves each against the manifest.

use crate::net::auth::AuthSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The platform a plugin without a `platform` line serves: every one (a kind pack written
/// before platforms existed keeps loading into the runs it was written for).
pub const ANY: &str = "*";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConnectionSpec {
    /// `{url}` is the environment's URL (`--source-url`); every other `{name}` a parameter
    pub base_url: String,
    /// what names the environment in reports and hooks' `source_env` (default `{url}`)
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    /// headers the host sends on every request; a plugin may never set them
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub auth: AuthSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ParamSpec {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// a regular expression the whole value must match
    #[serde(default)]
    pub pattern: Option<String>,
    /// short forms: a key of a promotion file's [source]/[target] table (and, run-wide, of
    /// [run]) that sets this parameter
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// false: the parameter says how a run signs in, not where it writes (Versori's `auth`:
    /// `Bearer` or `JWT`). It is left out of the environment's identity, so choosing it per
    /// run keeps the target's managed records, journal and lease; only
    /// `[connection.auth] prefix` may name it.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub identity: bool,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    Bool,
    String,
    Integer,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OptionSpec {
    #[serde(rename = "type")]
    pub kind: OptionType,
    #[serde(default)]
    pub default: Option<toml::Value>,
    #[serde(default)]
    pub description: String,
    /// short forms: a key of a promotion file's [run] table that sets this option
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A connection parameter as a front end gives it: by its name, or by a short form the
/// platform declares (resolved when the platform is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    Param(String),
    /// a short form, and where it was given (`promote.toml:3:1`, `--source-org`)
    Alias {
        name: String,
        at: String,
    },
}

/// A run-wide short form as a front end gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Short {
    pub name: String,
    pub value: String,
    /// where it was given, for errors: `promote.toml:8:1`, `--api-prefix`
    pub at: String,
}

impl ConnectionSpec {
    /// Check the template and the declarations when the manifest is read.
    pub fn check(&self) -> anyhow::Result<()> {
        for template in [Some(&self.base_url), self.label.as_ref()]
            .into_iter()
            .flatten()
            .chain(self.headers.values())
        {
            for name in placeholders(template)? {
                if name != "url" && !self.params.contains_key(&name) {
                    anyhow::bail!(
                        "[connection] {template:?} names {{{name}}}, which [connection.params] does not declare"
                    );
                }
                if self.params.get(&name).is_some_and(|p| !p.identity) {
                    anyhow::bail!(
                        "[connection] {template:?} names {{{name}}}, a parameter with identity = false: only [connection.auth] prefix may"
                    );
                }
            }
        }
        if let crate::net::auth::AuthSpec::Bearer(b) = &self.auth {
            for name in placeholders(&b.prefix)? {
                if !self.params.contains_key(&name) {
                    anyhow::bail!(
                        "[connection.auth] prefix {:?} names {{{name}}}, which [connection.params] does not declare",
                        b.prefix
                    );
                }
            }
        }
        if !self.base_url.starts_with("{url}") {
            anyhow::bail!("[connection] base-url must start with {{url}}");
        }
        for (name, p) in &self.params {
            if name == "url" || name.is_empty() {
                anyhow::bail!("[connection.params] {name:?}: reserved or empty name");
            }
            if let Some(re) = &p.pattern {
                regex::Regex::new(re).map_err(|e| {
                    anyhow::anyhow!("[connection.params.{name}] pattern is not a regex: {e}")
                })?;
            }
            check_aliases(&format!("[connection.params.{name}]"), &p.aliases, ENV_KEYS)?;
        }
        self.auth.check()
    }

    /// The parameters of one environment: the given ones checked, defaults filled in.
    /// Errors name the side and how to give what is missing.
    pub fn resolve_params(
        &self,
        side: &str,
        given: &[(Given, String)],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        // Later entries win: the front end orders them file first, overrides last.
        let mut named: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in given {
            let name = match key {
                Given::Param(n) => n.clone(),
                Given::Alias { name, at } => self.param_of(name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{at}: {side} {name:?} is neither a setting nor a short form the platform declares ({})",
                        declared(self.param_aliases())
                    )
                })?,
            };
            named.insert(name, value.clone());
        }
        let given = &named;
        for name in given.keys() {
            if !self.params.contains_key(name) {
                let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "{side} parameter {name:?} is not one this platform declares (it has: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                );
            }
        }
        let mut out = BTreeMap::new();
        for (name, spec) in &self.params {
            let value = given.get(name).cloned().or_else(|| spec.default.clone());
            let Some(value) = value else {
                if spec.required {
                    anyhow::bail!(
                        "no {side} {name}: give `{side}.params` {name}=VALUE ({})",
                        spec.description
                    );
                }
                continue;
            };
            if let Some(re) = &spec.pattern {
                let re = regex::Regex::new(&format!("^(?:{re})$")).expect("checked on load");
                if !re.is_match(&value) {
                    anyhow::bail!(
                        "{side} {name} {value:?} does not match the pattern {:?} ({})",
                        spec.pattern.as_deref().unwrap_or_default(),
                        spec.description
                    );
                }
            }
            if value.contains(['?', '#', '\\']) || value.split('/').any(|s| s == "..") {
                anyhow::bail!("{side} {name} {value:?} cannot go into a URL path");
            }
            out.insert(name.clone(), value);
        }
        Ok(out)
    }

    /// The parameter an alias stands for.
    pub fn param_of(&self, alias: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(_, p)| p.aliases.iter().any(|a| a == alias))
            .map(|(n, _)| n.clone())
    }

    /// The parameters' short forms, as errors list them: `org for params.org`.
    fn param_aliases(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|(n, p)| p.aliases.iter().map(move |a| format!("{a} for params.{n}")))
            .collect()
    }

    /// The parameters that make the environment's identity (all but `identity = false`).
    pub fn identity_params(&self, params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        params
            .iter()
            .filter(|(k, _)| self.params.get(*k).is_none_or(|p| p.identity))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The credential's prefix word, its `{param}`s filled in (`{auth}`: `Bearer` or `JWT`).
    pub fn render_prefix(prefix: &str, params: &BTreeMap<String, String>) -> String {
        render(prefix, "", params, false)
    }

    /// The environment's base URL.
    pub fn base_url(&self, url: &str, params: &BTreeMap<String, String>) -> String {
        render(&self.base_url, url, params, true)
    }

    /// The environment's label in reports.
    pub fn label(&self, url: &str, params: &BTreeMap<String, String>) -> Option<String> {
        self.label.as_ref().map(|l| render(l, url, params, false))
    }

    /// The host-owned headers, rendered.
    pub fn headers(&self, url: &str, params: &BTreeMap<String, String>) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), render(v, url, params, false)))
            .collect()
    }
}

/// Short forms listed for an error: `it declares org for params.org, ...`.
fn declared(all: Vec<String>) -> String {
    if all.is_empty() {
        "it declares none".into()
    } else {
        format!("it declares {}", all.join(", "))
    }
}

/// The `{name}`s of a template.
fn placeholders(template: &str) -> anyhow::Result<Vec<String>> {
    let mut out = vec![];
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| anyhow::anyhow!("[connection] {template:?}: an unclosed '{{'"))?;
        out.push(rest[start + 1..start + end].to_string());
        rest = &rest[start + end + 1..];
    }
    Ok(out)
}

/// Fill a template. In a URL, values lose their slashes at both ends (so `api/v1/` and
/// `/api/v1` both fit `{url}/{api_prefix}/`) and `{url}` its trailing ones.
fn render(template: &str, url: &str, params: &BTreeMap<String, String>, in_url: bool) -> String {
    let mut out = template.replace("{url}", url.trim_end_matches('/'));
    for (k, v) in params {
        let v = if in_url { v.trim_matches('/') } else { v };
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// The keys of a promotion file's [source]/[target] table, which no alias may take (the
/// same as `promotion::EnvToml::KEYS`, which a test checks: the plugin modules do not read
/// the promotion file's).
pub(crate) const ENV_KEYS: &[&str] = &[
    "name", "platform", "url", "params", "key_env", "key_file", "key", "auth",
];
/// The keys of a promotion file's [run] table (`promotion::RunToml::KEYS`).
pub(crate) const RUN_KEYS: &[&str] = &[
    "include",
    "exclude",
    "select",
    "select_tag",
    "on_name_conflict",
    "concurrency",
    "max_file_size",
    "skip_files",
    "options",
    "rate_limit",
    "max_in_flight",
    "attempts",
    "connect_timeout",
    "request_timeout",
    "max_list_items",
    "max_list_bytes",
];

/// An alias is a TOML bare key that is also a flag (`_` as `-`), and not one of the keys
/// the table already has.
fn check_aliases(table: &str, aliases: &[String], taken: &[&str]) -> anyhow::Result<()> {
    for a in aliases {
        let ok = a.starts_with(|c: char| c.is_ascii_lowercase())
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            anyhow::bail!("{table} alias {a:?}: an alias is lowercase letters, digits and '_'");
        }
        if taken.contains(&a.as_str()) {
            anyhow::bail!("{table} alias {a:?}: the promotion file already has that key");
        }
    }
    Ok(())
}

impl OptionSpec {
    /// Check the declaration when the manifest is read.
    pub fn check_decl(&self, name: &str) -> anyhow::Result<()> {
        if let Some(d) = self.default_text() {
            self.check(name, &d)
                .map_err(|e| anyhow::anyhow!("[options.{name}] default: {e}"))?;
        }
        check_aliases(&format!("[options.{name}]"), &self.aliases, RUN_KEYS)
    }

    /// A value given as text, checked against the type; returned as the text plugins get.
    pub fn check(&self, name: &str, value: &str) -> anyhow::Result<String> {
        match self.kind {
            OptionType::Bool => match value {
                "true" | "1" | "yes" => Ok("true".into()),
                "false" | "0" | "no" => Ok("false".into()),
                _ => anyhow::bail!("option {name}={value:?}: give true or false"),
            },
            OptionType::Integer => value
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| anyhow::anyhow!("option {name}={value:?}: give a whole number")),
            OptionType::String => Ok(value.to_string()),
        }
    }

    /// The default as the text plugins get, if there is one.
    pub fn default_text(&self) -> Option<String> {
        self.default.as_ref().map(option_text)
    }
}

/// An option's value written in TOML (`true`, `3`, `"x"`) as the text plugins get.
pub fn option_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One platform: its connection and options, and the plugins that serve it.
#[derive(Debug, Clone, Serialize)]
pub struct Platform {
    pub name: String,
    /// the plugin whose manifest declared the connection
    pub declared_by: String,
    /// declared by a plugin compiled into ferry
    pub bundled: bool,
    pub connection: ConnectionSpec,
    pub options: BTreeMap<String, OptionSpec>,
}

/// What the run-wide short forms come to: parameters for both sides, and options.
#[derive(Debug, Default)]
pub struct RunAliases {
    pub params: Vec<(Given, String)>,
    pub options: Vec<(String, String)>,
}

impl Platform {
    /// Resolve run-wide short forms (`[run]` keys, or a front end's flags such as
    /// `--api-prefix`): an option's alias sets the option; a parameter's sets it on both sides.
    pub fn run_aliases(&self, given: &[Short]) -> anyhow::Result<RunAliases> {
        let mut out = RunAliases::default();
        for Short {
            name: alias,
            value,
            at,
        } in given
        {
            if let Some((name, _)) = self
                .options
                .iter()
                .find(|(_, o)| o.aliases.iter().any(|a| a == alias))
            {
                out.options.push((name.clone(), value.clone()));
            } else if let Some(p) = self.connection.param_of(alias) {
                out.params.push((Given::Param(p), value.clone()));
            } else {
                let mut all: Vec<String> = self
                    .options
                    .iter()
                    .flat_map(|(n, o)| {
                        o.aliases
                            .iter()
                            .map(move |a| format!("{a} for options.{n}"))
                    })
                    .collect();
                all.extend(self.connection.param_aliases());
                anyhow::bail!(
                    "{at}: {alias:?} is neither a setting nor a short form platform {} declares ({})",
                    self.name,
                    declared(all)
                );
            }
        }
        Ok(out)
    }

    /// The run's plugin options: every given one checked against the declarations, then the
    /// declared defaults for the rest.
    pub fn options(&self, given: &[(String, String)]) -> anyhow::Result<Vec<(String, String)>> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in given {
            let Some(spec) = self.options.get(name) else {
                let known: Vec<String> = self
                    .options
                    .iter()
                    .map(|(n, s)| format!("{n} ({})", s.description))
                    .collect();
                anyhow::bail!(
                    "platform {} has no option {name:?}; its options: {}",
                    self.name,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                );
            };
            out.insert(name.clone(), spec.check(name, value)?);
        }
        for (name, spec) in &self.options {
            if let (false, Some(d)) = (out.contains_key(name), spec.default_text()) {
                out.insert(name.clone(), d);
            }
        }
        Ok(out.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> ConnectionSpec {
        let s: ConnectionSpec = toml::from_str(text).unwrap();
        s.check().unwrap();
        s
    }

    fn param(name: &str, value: &str) -> (Given, String) {
        (Given::Param(name.into()), value.into())
    }

    #[test]
    fn a_sign_in_parameter_fills_the_prefix_and_stays_out_of_the_identity() {
        let s = spec(
            "base-url = '{url}/{org}/'
[params.org]
required = true
[params.auth]
default = 'Bearer'
pattern = 'Bearer|JWT'
identity = false
[auth]
scheme = 'bearer'
prefix = '{auth}'
",
        );
        let p = s
            .resolve_params("target", &[param("org", "a"), param("auth", "JWT")])
            .unwrap();
        assert_eq!(ConnectionSpec::render_prefix("{auth}", &p), "JWT");
        let kept: Vec<String> = s.identity_params(&p).into_keys().collect();
        assert_eq!(kept, ["org"]);
        // Only the prefix may name it: a URL that did would move the target with it.
        let bad: ConnectionSpec = toml::from_str(
            "base-url = '{url}/{auth}/'
[params.auth]
identity = false
[auth]
scheme = 'bearer'
",
        )
        .unwrap();
        assert!(
            bad.check()
                .unwrap_err()
                .to_string()
                .contains("identity = false")
        );
        let undeclared: ConnectionSpec = toml::from_str(
            "base-url = '{url}/'
[auth]
scheme = 'bearer'
prefix = '{how}'
",
        )
        .unwrap();
        assert!(
            undeclared
                .check()
                .unwrap_err()
                .to_string()
                .contains("{how}")
        );
    }

    fn alias(name: &str) -> Given {
        Given::Alias {
            name: name.into(),
            at: "p.toml:1:1".into(),
        }
    }

    fn short(name: &str, value: &str) -> Short {
        Short {
            name: name.into(),
            value: value.into(),
            at: "p.toml:1:1".into(),
        }
    }

    #[test]
    fn aliases_stand_for_what_the_manifest_says_and_nothing_else() {
        let s = spec(
            "base-url = '{url}/{prefix}/{org}/'\n[params.org]\nrequired = true\naliases = ['organisation']\n[params.prefix]\ndefault = 'v1'\naliases = ['api_prefix']\n[auth]\nscheme = 'bearer'\n",
        );
        // In order, a later entry wins, whether it names the parameter or its alias.
        let given = [param("org", "a"), (alias("organisation"), "b".into())];
        let p = s.resolve_params("source", &given).unwrap();
        assert_eq!(s.base_url("http://h", &p), "http://h/v1/b/");
        let e = s
            .resolve_params("source", &[(alias("org"), "x".into())])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"org\"") && e.contains("organisation for params.org"),
            "{e}"
        );
        let platform = Platform {
            name: "p".into(),
            declared_by: "p".into(),
            bundled: false,
            connection: s,
            options: [(
                "deep".to_string(),
                OptionSpec {
                    kind: OptionType::Bool,
                    default: None,
                    description: String::new(),
                    aliases: vec!["deep_copy".into()],
                },
            )]
            .into(),
        };
        let run = platform
            .run_aliases(&[short("deep_copy", "true"), short("api_prefix", "v2")])
            .unwrap();
        assert_eq!(run.options, vec![("deep".to_string(), "true".to_string())]);
        assert_eq!(run.params, vec![param("prefix", "v2")]);
        let e = platform
            .run_aliases(&[short("concurency", "3")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("p.toml:1:1: ") && e.contains("concurency") && e.contains("deep_copy"),
            "{e}"
        );
        // An alias may not take a key the promotion file already has.
        let bad: ConnectionSpec = toml::from_str(
            "base-url = '{url}/{o}/'\n[params.o]\naliases = ['url']\n[auth]\nscheme = 'bearer'\n",
        )
        .unwrap();
        assert!(bad.check().unwrap_err().to_string().contains("already has"));
    }

    #[test]
    fn templates_render_params_and_refuse_undeclared_names() {
        let s = spec(
            "base-url = '{url}/{prefix}/x/{org}/'\nlabel = '{org}'\n[params.org]\nrequired = true\npattern = '[a-z]+'\n[params.prefix]\ndefault = 'api/v1'\n[auth]\nscheme = 'bearer'\n",
        );
        let p = s.resolve_params("source", &[param("org", "dev")]).unwrap();
        assert_eq!(s.base_url("http://h:1/", &p), "http://h:1/api/v1/x/dev/");
        assert_eq!(s.label("http://h", &p).as_deref(), Some("dev"));
        let e = s.resolve_params("source", &[]).unwrap_err().to_string();
        assert!(e.contains("`source.params` org="), "{e}");
        let e = s
            .resolve_params("target", &[param("org", "Dev1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("pattern"), "{e}");
        let e = s
            .resolve_params("target", &[param("nope", "x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("org, prefix"), "{e}");
        let bad: ConnectionSpec =
            toml::from_str("base-url = '{url}/{org}/'\n[auth]\nscheme = 'bearer'\n").unwrap();
        assert!(bad.check().unwrap_err().to_string().contains("{org}"));
    }

    #[test]
    fn options_are_checked_and_defaulted() {
        let p = Platform {
            name: "p".into(),
            declared_by: "p".into(),
            bundled: false,
            connection: spec("base-url = '{url}/'\n[auth]\nscheme = 'bearer'\n"),
            options: toml::from_str(
                "[a]\ntype = 'bool'\ndefault = false\ndescription = 'A'\n[n]\ntype = 'integer'\n",
            )
            .unwrap(),
        };
        assert_eq!(
            p.options(&[]).unwrap(),
            vec![("a".to_string(), "false".to_string())]
        );
        assert_eq!(
            p.options(&[("a".into(), "yes".into()), ("n".into(), "3".into())])
                .unwrap(),
            vec![("a".into(), "true".into()), ("n".into(), "3".into())]
        );
        let e = p
            .options(&[("z".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("a (A)") && e.contains("\"z\""), "{e}");
        assert!(p.options(&[("n".into(), "x".into())]).is_err());
    }
}
