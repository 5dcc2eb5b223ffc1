//! Pure helpers for scripts, each returning a new value rather than changing its argument.
//! They exist because Rhai's own `replace` edits a string in place and returns `()`, so the
//! natural `r.name = r.name.replace("dev", "prod")` would blank the name.
//!
//! | helper | does |
//! |---|---|
//! | `replace_all(s, from, to)` | every `from` in `s` replaced by `to` |
//! | `regex_replace(s, pattern, with)` | every match replaced; `$1`, `${name}` expand captures |
//! | `regex_match(s, pattern)` | whether `pattern` matches somewhere in `s` |
//! | `swap_prefix(s, old, new)` / `swap_suffix(s, old, new)` | `old` swapped for `new` at that end, else `s` unchanged |
//! | `get_path(v, "/a/0/b")` | the value at a JSON pointer, `()` if absent |
//! | `set_path(v, "/a/b", x)` | a copy of `v` with the value at the pointer set (objects created on the way) |
//! | `remove_path(v, "/a/b")` | a copy of `v` without that value |
//! | `to_json(v)` / `parse_json(s)` | JSON text to and from values |
//! | `skip(reason)` | a hook's answer for "leave this resource behind" |

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};
use std::cell::RefCell;
use std::collections::HashMap;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// A hook's request to leave the resource behind.
#[derive(Debug, Clone)]
pub(super) struct Skip(pub String);

pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Skip>("Skip");
    engine.register_fn("skip", |reason: &str| Skip(reason.to_string()));
    engine.register_fn(
        "replace_all",
        |s: &str, from: &str, to: &str| -> Fallible<String> {
            if from.is_empty() {
                return Err("replace_all: the text to replace is empty".into());
            }
            Ok(s.replace(from, to))
        },
    );
    engine.register_fn(
        "regex_replace",
        |s: &str, pattern: &str, with: &str| -> Fallible<String> {
            with_regex(pattern, |re| re.replace_all(s, with).into_owned())
        },
    );
    engine.register_fn("regex_match", |s: &str, pattern: &str| -> Fallible<bool> {
        with_regex(pattern, |re| re.is_match(s))
    });
    engine.register_fn("swap_prefix", |s: &str, old: &str, new: &str| -> String {
        match s.strip_prefix(old) {
            Some(rest) => format!("{new}{rest}"),
            None => s.to_string(),
        }
    });
    engine.register_fn("swap_suffix", |s: &str, old: &str, new: &str| -> String {
        match s.strip_suffix(old) {
            Some(rest) => format!("{rest}{new}"),
            None => s.to_string(),
        }
    });
    engine.register_fn(
        "get_path",
        |v: Dynamic, pointer: &str| -> Fallible<Dynamic> {
            Ok(get(&v, &split(pointer)?).unwrap_or(Dynamic::UNIT))
        },
    );
    engine.register_fn(
        "set_path",
        |v: Dynamic, pointer: &str, x: Dynamic| -> Fallible<Dynamic> {
            let mut v = v;
            set(&mut v, &split(pointer)?, x, pointer)?;
            Ok(v)
        },
    );
    engine.register_fn(
        "remove_path",
        |v: Dynamic, pointer: &str| -> Fallible<Dynamic> {
            let mut v = v;
            remove(&mut v, &split(pointer)?);
            Ok(v)
        },
    );
    engine.register_fn("to_json", |v: Dynamic| -> Fallible<String> {
        let json: serde_json::Value = rhai::serde::from_dynamic(&v)?;
        Ok(json.to_string())
    });
    engine.register_fn("parse_json", |s: &str| -> Fallible<Dynamic> {
        let json: serde_json::Value =
            serde_json::from_str(s).map_err(|e| format!("parse_json: {e}"))?;
        rhai::serde::to_dynamic(json)
    });
}

thread_local! {
    /// Compiled patterns, so a hook run over thousands of resources compiles each once.
    static REGEXES: RefCell<HashMap<String, regex::Regex>> = RefCell::new(HashMap::new());
}

fn with_regex<R>(pattern: &str, f: impl FnOnce(&regex::Regex) -> R) -> Fallible<R> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            // The regex crate runs in linear time; the size limit bounds compile memory.
            let re = regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("invalid regex {pattern:?}: {e}"))?;
            if cache.len() >= 64 {
                cache.clear();
            }
            cache.insert(pattern.to_string(), re);
        }
        Ok(f(&cache[pattern]))
    })
}

/// "/a/b~1c/0" -> ["a", "b/c", "0"] (RFC 6901 escapes). "" is the whole value.
fn split(pointer: &str) -> Fallible<Vec<String>> {
    if pointer.is_empty() {
        return Ok(vec![]);
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("{pointer:?} is not a JSON pointer (it must start with '/')").into());
    };
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn get(v: &Dynamic, path: &[String]) -> Option<Dynamic> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v.clone());
    };
    if let Some(map) = v.read_lock::<Map>() {
        return get(map.get(first.as_str())?, rest);
    }
    if let Some(arr) = v.read_lock::<Array>() {
        return get(arr.get(first.parse::<usize>().ok()?)?, rest);
    }
    None
}

fn set(v: &mut Dynamic, path: &[String], x: Dynamic, pointer: &str) -> Fallible<()> {
    let Some((first, rest)) = path.split_first() else {
        *v = x;
        return Ok(());
    };
    if v.is_unit() {
        *v = Dynamic::from_map(Map::new());
    }
    if let Some(mut map) = v.write_lock::<Map>() {
        let slot = map.entry(first.as_str().into()).or_insert(Dynamic::UNIT);
        return set(slot, rest, x, pointer);
    }
    if let Some(mut arr) = v.write_lock::<Array>() {
        let i: usize = first
            .parse()
            .map_err(|_| format!("set_path {pointer:?}: {first:?} is not an array index"))?;
        if i == arr.len() {
            arr.push(Dynamic::UNIT);
        }
        let len = arr.len();
        let slot = arr.get_mut(i).ok_or_else(|| {
            format!("set_path {pointer:?}: index {i} is past the end ({len} items)")
        })?;
        return set(slot, rest, x, pointer);
    }
    Err(format!(
        "set_path {pointer:?}: {first:?} is inside a {}, not an object or array",
        v.type_name()
    )
    .into())
}

fn remove(v: &mut Dynamic, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(mut map) = v.write_lock::<Map>() {
        if rest.is_empty() {
            map.remove(first.as_str());
        } else if let Some(child) = map.get_mut(first.as_str()) {
            remove(child, rest);
        }
        return;
    }
    if let Some(mut arr) = v.write_lock::<Array>()
        && let Ok(i) = first.parse::<usize>()
        && i < arr.len()
    {
        if rest.is_empty() {
            let _ = arr.remove(i);
        } else {
            remove(&mut arr[i], rest);
        }
    }
}
