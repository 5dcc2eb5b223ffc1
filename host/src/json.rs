//! JSON pointers over resource bodies: reading and rewriting the values at a pointer in which
//! `*` matches every array element or object member (`/settings/connectors/*`), setting a value
//! (making objects on the way) and removing one. A leaf: the engine, the transform rules and
//! the plugin types all use it.

use serde_json::Value;

/// Every value at `pointer` (absent and null values are left out), with the concrete pointer
/// of each.
pub fn values_at(body: &Value, pointer: &str) -> Vec<(String, Value)> {
    let parts: Vec<String> = split(pointer);
    let mut out = Vec::new();
    walk(body, &parts, String::new(), &mut out);
    out
}

fn split(pointer: &str) -> Vec<String> {
    pointer
        .strip_prefix('/')
        .map(|p| {
            p.split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect()
        })
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn walk(v: &Value, parts: &[String], at: String, out: &mut Vec<(String, Value)>) {
    let Some((first, rest)) = parts.split_first() else {
        if !v.is_null() {
            out.push((at, v.clone()));
        }
        return;
    };
    match (first.as_str(), v) {
        ("*", Value::Array(a)) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, rest, format!("{at}/{i}"), out);
            }
        }
        ("*", Value::Object(o)) => {
            for (k, x) in o {
                walk(x, rest, format!("{at}/{}", escape(k)), out);
            }
        }
        (key, Value::Object(o)) => {
            if let Some(x) = o.get(key) {
                walk(x, rest, format!("{at}/{}", escape(key)), out);
            }
        }
        (key, Value::Array(a)) => {
            if let Some(x) = key.parse::<usize>().ok().and_then(|i| a.get(i)) {
                walk(x, rest, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// Replace the value at a concrete pointer (one returned by [`values_at`]).
pub fn set_at(body: &mut Value, concrete: &str, new: Value) {
    if let Some(slot) = body.pointer_mut(concrete) {
        *slot = new;
    }
}

/// A reference value as text, for matching against ids and keys.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The target value keeps the source value's type: numbers stay numbers.
pub fn like(source: &Value, target: &str) -> Value {
    match source {
        Value::Number(_) => target
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(target.to_string())),
        _ => Value::String(target.to_string()),
    }
}

/// Set the value at a pointer, creating objects on the way; `false` when the path crosses
/// something that is not an object (or an array index that does not exist).
pub fn put(body: &mut Value, pointer: &str, value: Value) -> bool {
    if pointer.is_empty() {
        *body = value;
        return true;
    }
    let parts: Vec<String> = pointer[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut at = body;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        at = match at {
            Value::Object(o) => {
                if last {
                    o.insert(part.clone(), value);
                    return true;
                }
                o.entry(part.clone())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            Value::Array(a) => match part.parse::<usize>().ok().filter(|&n| n < a.len()) {
                Some(n) if last => {
                    a[n] = value;
                    return true;
                }
                Some(n) => &mut a[n],
                None => return false,
            },
            Value::Null => {
                *at = Value::Object(Default::default());
                let Value::Object(o) = at else { unreachable!() };
                if last {
                    o.insert(part.clone(), value);
                    return true;
                }
                o.entry(part.clone())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            _ => return false,
        };
    }
    false
}

/// Remove the value at a pointer, if it is there.
pub fn remove(body: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match body.pointer_mut(parent) {
        Some(Value::Object(o)) => {
            o.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Some(n) = last.parse::<usize>().ok().filter(|&n| n < a.len()) {
                a.remove(n);
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
    fn wildcards_reach_every_member() {
        let body =
            json!({"a": {"x": "1", "y": null}, "list": [{"id": 5}, {"id": 6}, {}], "s/t": "7"});
        let got: Vec<(String, Value)> = values_at(&body, "/list/*/id");
        assert_eq!(
            got,
            vec![
                ("/list/0/id".to_string(), json!(5)),
                ("/list/1/id".to_string(), json!(6))
            ]
        );
        assert_eq!(
            values_at(&body, "/a/*").len(),
            1,
            "null values are left out"
        );
        assert_eq!(values_at(&body, "/s~1t")[0].1, json!("7"));
        assert!(values_at(&body, "/missing/x").is_empty());
        let mut b = body.clone();
        set_at(&mut b, "/list/1/id", like(&json!(6), "60"));
        assert_eq!(b["list"][1]["id"], json!(60));
    }

    #[test]
    fn put_and_remove_by_pointer() {
        let mut b = json!({"a": {"b": 1}, "l": [1, 2], "s": "x"});
        assert!(put(&mut b, "/a/c/d", json!(true)));
        assert!(put(&mut b, "/l/1", json!(5)));
        assert!(!put(&mut b, "/l/9", json!(5)));
        assert!(!put(&mut b, "/s/x", json!(5)));
        remove(&mut b, "/a/b");
        remove(&mut b, "/l/0");
        remove(&mut b, "/missing/x");
        assert_eq!(b, json!({"a": {"c": {"d": true}}, "l": [5], "s": "x"}));
    }
}
