//! Drift: how a resource the source would write differs, field by field, from what the
//! target holds. Only the fields both bodies have are compared (what the kind writes, and
//! what the target shows of it);
//! the fields the kind declares not compared (its pack names the platform's timestamps and
//! server-managed fields: the host knows no platform's names) are not differences; references
//! are compared after they were rewritten to the target's ids, so a reference that points at
//! the same resource is equal whatever its raw id; secret fields show as `***`.

use serde::Serialize;
use serde_json::Value;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FieldDiff {
    pub pointer: String,
    /// what the target holds (absent: the field is missing there)
    pub target: Option<Value>,
    /// what the source would write
    pub source: Option<Value>,
}

pub struct Comparer<'a> {
    /// the kind's fields that are never differences (its `kind-support`): JSON pointers, or
    /// bare names matched at any depth
    pub not_compared: &'a [String],
    /// the kind's secret fields (JSON pointers)
    pub secrets: &'a [String],
    /// the pointers whose values are the resource's own id on each side
    pub id_pointers: &'a [&'a str],
}

impl Comparer<'_> {
    fn ignored(&self, pointer: &str, name: &str) -> bool {
        self.id_pointers.contains(&pointer)
            || self
                .not_compared
                .iter()
                .any(|i| i == pointer || (!i.starts_with('/') && i == name))
    }

    fn secret(&self, pointer: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| pointer == s || pointer.starts_with(&format!("{s}/")))
    }

    fn shown(&self, pointer: &str, v: Option<&Value>) -> Option<Value> {
        v.map(|v| {
            if self.secret(pointer) {
                Value::String("***".into())
            } else {
                v.clone()
            }
        })
    }

    /// The fields of `source` whose values `target` does not hold.
    pub fn differences(&self, source: &Value, target: &Value) -> Vec<FieldDiff> {
        let mut out = vec![];
        self.walk("", source, Some(target), &mut out);
        out
    }

    fn walk(&self, at: &str, source: &Value, target: Option<&Value>, out: &mut Vec<FieldDiff>) {
        match (source, target) {
            (Value::Object(s), Some(Value::Object(t))) => {
                for (k, v) in s {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    if self.ignored(&p, k) {
                        continue;
                    }
                    self.walk(&p, v, t.get(k), out);
                }
            }
            (Value::Array(s), Some(Value::Array(t))) if s.len() == t.len() => {
                for (i, (a, b)) in s.iter().zip(t).enumerate() {
                    self.walk(&format!("{at}/{i}"), a, Some(b), out);
                }
            }
            // What the target does not show (a list that leaves out detail fields) is not
            // known to differ.
            (_, None) => {}
            (s, t) if Some(s) != t => out.push(FieldDiff {
                pointer: if at.is_empty() {
                    "/".into()
                } else {
                    at.to_string()
                },
                target: self.shown(at, t),
                source: self.shown(at, Some(s)),
            }),
            _ => {}
        }
    }
}

/// The top-level fields (`/name`) the differences are in, each once, in order: what a
/// partial update sends.
pub fn top_level(d: &[FieldDiff]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for f in d {
        let top = format!(
            "/{}",
            f.pointer
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("")
        );
        if !out.contains(&top) {
            out.push(top);
        }
    }
    out
}

fn short(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 80 {
                format!("{}…", t.chars().take(80).collect::<String>())
            } else {
                t
            }
        }
    }
}

/// A resource's differences, one line each: `  kind "key" /pointer: target → source`.
pub fn render(kind: &str, key: &str, d: &[FieldDiff]) -> String {
    d.iter()
        .map(|f| {
            format!(
                "  {kind} {key:?} {}: {} → {}\n",
                f.pointer,
                short(&f.target),
                short(&f.source)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_the_source_writes_and_is_not_the_servers() {
        let ignore = vec![
            "/organization".to_string(),
            "revision".to_string(),
            "created_at".to_string(),
        ];
        let secrets = vec!["/meta/key".to_string()];
        let c = Comparer {
            not_compared: &ignore,
            secrets: &secrets,
            id_pointers: &["/id"],
        };
        let source = json!({"id": 1, "name": "a", "organization": "dev", "created_at": "x",
            "meta": {"key": "s1", "url": "u", "revision": 3}, "tags": ["t1", "t2"], "note": null});
        let same = json!({"id": 9, "name": "a", "organization": "prod", "created_at": "y",
            "meta": {"key": "s1", "url": "u", "revision": 7}, "tags": ["t1", "t2"], "extra": 1});
        assert_eq!(c.differences(&source, &same), vec![]);
        let drifted =
            json!({"id": 9, "name": "b", "meta": {"key": "s2", "url": "u"}, "tags": ["t1"]});
        let d = c.differences(&source, &drifted);
        let pointers: Vec<&str> = d.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(pointers, ["/meta/key", "/name", "/tags"]);
        assert_eq!(d[0].source, Some(json!("***")), "secrets are masked");
        assert_eq!(d[0].target, Some(json!("***")));
        assert_eq!(d[1].target, Some(json!("b")));
        assert_eq!(top_level(&d), ["/meta", "/name", "/tags"]);
        // A timestamp the kind does not declare is a difference like any field.
        let c = Comparer {
            not_compared: &[],
            ..c
        };
        let d = c.differences(&json!({"created_at": "x"}), &json!({"created_at": "y"}));
        assert_eq!(d.len(), 1);
    }
}
