//! A plan's digest: the sha256 of its canonical JSON. It covers what the plan would write and
//! where: every item's kind, key, action (with its reason), the target resource it would
//! update or adopt, the body the rules and hooks made and the references to rewrite in it;
//! every delete and its verdict. Two plans with one digest write the same things to the same
//! resources, so an approval of a digest is an approval of exactly those writes.

use super::plan::Plan;
use super::prune::Verdict;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `sha256:` and 64 hex digits.
pub fn of(plan: &Plan) -> String {
    let mut items: Vec<Value> = plan
        .items
        .iter()
        .map(|it| {
            let (action, reason) = match &it.action {
                super::Action::Skip(r) | super::Action::Fail(r) => (it.action.name(), Some(r)),
                a => (a.name(), None),
            };
            let references: Vec<Value> = it
                .edges
                .iter()
                .map(|e| {
                    let to = &plan.items[e.to].source;
                    json!([e.pointer, to.kind, to.key, e.source_value])
                })
                .collect();
            json!({
                "kind": it.source.kind,
                "key": it.source.key,
                "action": action,
                "reason": reason,
                "target": it.target.as_ref().map(|t| &t.id),
                "body": it.source.body.value(),
                "references": references,
            })
        })
        .collect();
    // Planning order may differ between two reads of the same source; the digest must not.
    items.sort_by_key(|v| (v["kind"].to_string(), v["key"].to_string()));
    let mut deletes: Vec<Value> = plan
        .deletes
        .iter()
        .map(|d| {
            let verdict = match &d.verdict {
                Verdict::Delete => "delete".to_string(),
                Verdict::Keep(why) => format!("keep: {why}"),
                Verdict::Pending => "pending".to_string(),
            };
            json!([d.record.kind, d.record.key, d.record.id, verdict])
        })
        .collect();
    deletes.sort_by_key(|v| v.to_string());
    let canonical = canonical(&json!({"items": items, "deletes": deletes}));
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// JSON text with every object's keys sorted, so a body's field order (as a server sent it)
/// does not change the digest.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_ignores_field_order_only() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"x": null, "y": [1, 2]}, "b": 1}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"a": {"x": null, "y": [2, 1]}, "b": 1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&a), canonical(&c), "array order is meaning");
        assert_eq!(canonical(&a), r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
    }
}
