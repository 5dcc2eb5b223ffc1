//! What a rule or hook changed in a body, field by field, for the plan and the report.

use serde::Serialize;
use serde_json::Value;

/// One change to one field, and what made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rewrite {
    /// JSON pointer of the field
    pub pointer: String,
    /// the value before, as compact JSON (absent: the field was added)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// the value after (absent: the field was removed)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// the rule or hook: `kinds.adapter.rename`, `hook scripts/scrub.rhai`
    pub by: String,
}

impl std::fmt::Display for Rewrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
        write!(
            f,
            "{}: {} → {} ({})",
            self.pointer,
            show(&self.old),
            show(&self.new),
            self.by
        )
    }
}

/// Longest value shown in a rewrite; longer ones are cut with an ellipsis.
const SHOWN: usize = 120;

/// The leaf-level differences between two bodies. Arrays of different lengths count as one
/// change of the whole array.
pub fn diff(old: &Value, new: &Value, by: &str, secret: &dyn Fn(&str) -> bool) -> Vec<Rewrite> {
    let mut out = Vec::new();
    walk(Some(old), Some(new), String::new(), by, secret, &mut out);
    out
}

fn walk(
    old: Option<&Value>,
    new: Option<&Value>,
    at: String,
    by: &str,
    secret: &dyn Fn(&str) -> bool,
    out: &mut Vec<Rewrite>,
) {
    if old == new {
        return;
    }
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(
                    a.get(k),
                    b.get(k),
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    by,
                    secret,
                    out,
                );
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(Some(x), Some(y), format!("{at}/{i}"), by, secret, out);
            }
        }
        _ => {
            let hide = secret(&at);
            let show =
                |v: Option<&Value>| v.map(|v| if hide { "***".to_string() } else { shown(v) });
            out.push(Rewrite {
                pointer: if at.is_empty() { "/".into() } else { at },
                old: show(old),
                new: show(new),
                by: by.to_string(),
            });
        }
    }
}

fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= SHOWN {
        return text;
    }
    let cut: String = text.chars().take(SHOWN).collect();
    format!("{cut}…")
}

/// Whether a concrete pointer is at or below one of the secret pointers (which may hold `*`).
pub fn under_any(pointer: &str, patterns: &[String]) -> bool {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    patterns.iter().any(|p| {
        let pat: Vec<&str> = p.split('/').skip(1).collect();
        pat.len() <= parts.len() && pat.iter().zip(&parts).all(|(a, b)| *a == "*" || a == b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_listed_by_field_and_secrets_hidden() {
        let old = json!({"name": "a-dev", "meta": {"key": "sk-1", "url": "x"}, "list": [1, 2], "gone": true});
        let new = json!({"name": "a-prod", "meta": {"key": "sk-2", "url": "x"}, "list": [1, 2, 3], "added": "y"});
        let secrets = vec!["/meta/key".to_string()];
        let d = diff(&old, &new, "rule", &|p| under_any(p, &secrets));
        let lines: Vec<String> = d.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "/added: (absent) → \"y\" (rule)",
                "/gone: true → (absent) (rule)",
                "/list: [1,2] → [1,2,3] (rule)",
                "/meta/key: *** → *** (rule)",
                "/name: \"a-dev\" → \"a-prod\" (rule)",
            ]
        );
        assert!(under_any("/a/3/secret/x", &["/a/*/secret".to_string()]));
        assert!(!under_any("/a", &["/a/b".to_string()]));
    }
}
