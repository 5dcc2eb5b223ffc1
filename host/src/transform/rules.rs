//! The declarative rules of a promotion file, per kind (`[kinds.adapter]`): rename, map
//! references to the target's own resources, set and remove fields, leave resources behind.
//! Every value is checked while the file is read, so a mistake is reported with its line.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What to do when a resource already exists on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// use the target's resource as it is
    Adopt,
    /// make the target's writable fields equal the source's
    Update,
    /// stop before any write
    Abort,
}

impl std::str::FromStr for OnConflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "adopt" => Ok(OnConflict::Adopt),
            "update" => Ok(OnConflict::Update),
            "abort" => Ok(OnConflict::Abort),
            _ => Err(format!("{s:?}: the policy must be adopt, update or abort")),
        }
    }
}

/// The rules of one kind, in the order they apply: `leave`, `map`, `rename`, `set`, `remove`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRules {
    /// adopt, update or abort when the resource exists on the target (overrides the run's)
    pub on_name_conflict: Option<OnConflict>,
    /// resources whose name (or key) matches one of these globs stay behind
    #[serde(default)]
    pub leave: Vec<Glob>,
    /// source name → name of the target's own resource to use instead (never written)
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    pub rename: Option<Rename>,
    /// JSON pointer → value (strings may hold `${env:NAME}`)
    #[serde(default)]
    pub set: BTreeMap<Pointer, Template>,
    /// JSON pointers to remove
    #[serde(default)]
    pub remove: Vec<Pointer>,
}

/// A JSON pointer: empty or starting with `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Pointer(pub String);

impl TryFrom<String> for Pointer {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.starts_with('/') {
            Ok(Pointer(s))
        } else {
            Err(format!(
                "{s:?} is not a JSON pointer (it must start with '/', e.g. \"/description\")"
            ))
        }
    }
}

/// A glob on names (`scratch-*`, `*-tmp`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Glob(pub glob::Pattern);

impl TryFrom<String> for Glob {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        glob::Pattern::new(&s)
            .map(Glob)
            .map_err(|e| format!("{s:?} is not a valid glob: {e}"))
    }
}

/// `rename = { suffix = "-dev", to = "-qa" }`, `{ prefix = "dev_", to = "qa_" }` or
/// `{ regex = "^(.*)-dev-(\\d+)$", to = "$1-qa-$2" }`; `field` picks the field (default: the
/// kind's first key field). A name that does not match is left as it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RenameToml")]
pub struct Rename {
    pub how: RenameHow,
    pub to: String,
    pub field: Option<String>,
}

#[derive(Debug, Clone)]
pub enum RenameHow {
    Suffix(String),
    Prefix(String),
    Regex(regex::Regex),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameToml {
    suffix: Option<String>,
    prefix: Option<String>,
    regex: Option<String>,
    to: String,
    field: Option<Pointer>,
}

impl TryFrom<RenameToml> for Rename {
    type Error = String;
    fn try_from(t: RenameToml) -> Result<Self, String> {
        let how = match (t.suffix, t.prefix, t.regex) {
            (Some(s), None, None) => RenameHow::Suffix(s),
            (None, Some(p), None) => RenameHow::Prefix(p),
            (None, None, Some(r)) => RenameHow::Regex(
                regex::Regex::new(&r).map_err(|e| format!("rename.regex {r:?}: {e}"))?,
            ),
            _ => {
                return Err(
                    "rename takes exactly one of suffix, prefix or regex (with to = \"...\")"
                        .into(),
                );
            }
        };
        Ok(Rename {
            how,
            to: t.to,
            field: t.field.map(|p| p.0),
        })
    }
}

impl Rename {
    /// The new name, or `None` when the rule does not apply to this name.
    pub fn apply(&self, name: &str) -> Option<String> {
        let out = match &self.how {
            RenameHow::Suffix(s) => name
                .strip_suffix(s.as_str())
                .map(|stem| format!("{stem}{}", self.to)),
            RenameHow::Prefix(p) => name
                .strip_prefix(p.as_str())
                .map(|rest| format!("{}{rest}", self.to)),
            RenameHow::Regex(r) => r
                .is_match(name)
                .then(|| r.replace(name, self.to.as_str()).into_owned()),
        };
        out.filter(|n| n != name)
    }
}

/// A value to set, with `${env:NAME}` expanded when the file is read. `shown` is what plans
/// and reports show instead of the value (the unexpanded text), since an environment
/// variable often holds a credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct Template {
    pub value: Value,
    pub shown: Option<Value>,
}

impl TryFrom<Value> for Template {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        let expanded = expand_value(&v)?;
        let shown = (expanded != v).then_some(v);
        Ok(Template {
            value: expanded,
            shown,
        })
    }
}

fn expand_value(v: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(expand_env(s)?),
        Value::Array(a) => Value::Array(a.iter().map(expand_value).collect::<Result<_, _>>()?),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), expand_value(x)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Replace every `${env:NAME}` with the variable's value; an unset variable is an error.
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{s:?}: \"${{env:\" without a closing \"}}\""))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{s:?}: {name:?} is not an environment variable name"
            ));
        }
        let value = std::env::var(name)
            .map_err(|_| format!("environment variable {name} is not set (named by {s:?})"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rename(t: &str) -> Result<Rename, String> {
        #[derive(Deserialize)]
        struct W {
            rename: Rename,
        }
        toml::from_str::<W>(t)
            .map(|w| w.rename)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn renames_by_suffix_prefix_and_regex() {
        let s = rename(r#"rename = { suffix = "-dev", to = "-qa" }"#).unwrap();
        assert_eq!(s.apply("openai-dev").as_deref(), Some("openai-qa"));
        assert_eq!(s.apply("openai-devx"), None);
        let p = rename(r#"rename = { prefix = "dev_", to = "qa_" }"#).unwrap();
        assert_eq!(p.apply("dev_inbox").as_deref(), Some("qa_inbox"));
        let r = rename(r#"rename = { regex = '^(\w+)-dev-(\d+)$', to = "$1-prod-$2" }"#).unwrap();
        assert_eq!(r.apply("my-s3-dev-01"), None, "\\w does not take the dash");
        assert_eq!(r.apply("box-dev-07").as_deref(), Some("box-prod-07"));
        let both = rename(r#"rename = { suffix = "a", prefix = "b", to = "c" }"#).unwrap_err();
        assert!(
            both.contains("exactly one of") && both.contains("line 1"),
            "{both}"
        );
        let bad = rename(r#"rename = { regex = "(", to = "c" }"#).unwrap_err();
        assert!(bad.contains("rename.regex"), "{bad}");
    }

    #[test]
    fn env_values_expand_and_a_missing_one_is_named() {
        // SAFETY: tests of this module read only this variable.
        unsafe { std::env::set_var("FERRY_RULES_TEST_VAR", "v1") };
        assert_eq!(
            expand_env("a-${env:FERRY_RULES_TEST_VAR}-b").unwrap(),
            "a-v1-b"
        );
        let e = expand_env("${env:FERRY_RULES_TEST_MISSING}").unwrap_err();
        assert!(e.contains("FERRY_RULES_TEST_MISSING is not set"), "{e}");
        let t = Template::try_from(json!({"url": "${env:FERRY_RULES_TEST_VAR}"})).unwrap();
        assert_eq!(t.value, json!({"url": "v1"}));
        assert_eq!(t.shown, Some(json!({"url": "${env:FERRY_RULES_TEST_VAR}"})));
    }
}
