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

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use std::cell::RefCell;
use std::collections::HashMap;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// Refuse to build a string of `len` bytes past `max`. Rhai checks a value's size only
/// after a native function returns, so a function that can multiply its input (a replace,
/// a template) must check what it will build before building it: 1 MB with every byte
/// replaced by 8 KB is an 8 GB allocation, which aborts the process.
fn fits(what: &str, len: usize, max: usize) -> Fallible<()> {
    if len > max {
        return Err(EvalAltResult::ErrorDataTooLarge(
            format!("{what} would build a string of {len} bytes"),
            Position::NONE,
        )
        .into());
    }
    Ok(())
}

/// The length of `s` with every `from` replaced by `to`, computed without building it.
fn replaced_len(s: &str, from: &str, to: &str) -> usize {
    if from.is_empty() {
        // Rust puts `to` at every char boundary, both ends included.
        let n = s.chars().count() + 1;
        return s.len().saturating_add(n.saturating_mul(to.len()));
    }
    let n = s.matches(from).count();
    (s.len() - n * from.len()).saturating_add(n.saturating_mul(to.len()))
}

/// Every `from` in `s` replaced by `to`, or a size error before anything is built.
fn replace_checked(what: &str, s: &str, from: &str, to: &str, max: usize) -> Fallible<String> {
    fits(what, replaced_len(s, from, to), max)?;
    Ok(s.replace(from, to))
}

/// A hook's request to leave the resource behind.
#[derive(Debug, Clone)]
pub(super) struct Skip(pub String);

/// Register the helpers, and checked versions of Rhai's own `replace` (the engine's global
/// namespace is searched before the standard package, so these shadow its unchecked ones).
pub(super) fn register(engine: &mut Engine, max_string: usize) {
    let max = max_string;
    engine.register_type_with_name::<Skip>("Skip");
    engine.register_fn("skip", |reason: &str| Skip(reason.to_string()));
    engine.register_fn(
        "replace_all",
        move |s: &str, from: &str, to: &str| -> Fallible<String> {
            if from.is_empty() {
                return Err("replace_all: the text to replace is empty".into());
            }
            replace_checked("replace_all", s, from, to, max)
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, from: &str, to: &str| -> Fallible<()> {
            *s = replace_checked("replace", s, from, to, max)?.into();
            Ok(())
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, from: &str, to: char| -> Fallible<()> {
            *s = replace_checked("replace", s, from, to.encode_utf8(&mut [0; 4]), max)?.into();
            Ok(())
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, from: char, to: &str| -> Fallible<()> {
            *s = replace_checked("replace", s, from.encode_utf8(&mut [0; 4]), to, max)?.into();
            Ok(())
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, from: char, to: char| -> Fallible<()> {
            let (mut a, mut b) = ([0; 4], [0; 4]);
            let (from, to) = (&*from.encode_utf8(&mut a), &*to.encode_utf8(&mut b));
            *s = replace_checked("replace", s, from, to, max)?.into();
            Ok(())
        },
    );
    engine.register_fn(
        "regex_replace",
        move |s: &str, pattern: &str, with: &str| -> Fallible<String> {
            with_regex(pattern, |re| template::replace_all(re, s, with, max))?
        },
    );
    engine.register_fn("regex_match", |s: &str, pattern: &str| -> Fallible<bool> {
        with_regex(pattern, |re| re.is_match(s))
    });
    engine.register_fn(
        "swap_prefix",
        move |s: &str, old: &str, new: &str| -> Fallible<String> {
            Ok(match s.strip_prefix(old) {
                Some(rest) => {
                    fits("swap_prefix", new.len().saturating_add(rest.len()), max)?;
                    format!("{new}{rest}")
                }
                None => s.to_string(),
            })
        },
    );
    engine.register_fn(
        "swap_suffix",
        move |s: &str, old: &str, new: &str| -> Fallible<String> {
            Ok(match s.strip_suffix(old) {
                Some(rest) => {
                    fits("swap_suffix", rest.len().saturating_add(new.len()), max)?;
                    format!("{rest}{new}")
                }
                None => s.to_string(),
            })
        },
    );
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

/// `regex_replace`'s replacement templates (`$1`, `$name`, `${name}`, `$$`), expanded with
/// the size of each piece known before it is written: one `$0` repeated in a 1 MB template
/// over a 1 MB match would otherwise build a terabyte.
mod template {
    use super::{Fallible, fits};

    enum Piece<'a> {
        Text(&'a str),
        Index(usize),
        Name(&'a str),
    }

    /// The template's pieces, read as the regex crate reads them: `$` then the longest run
    /// of letters, digits and `_` (a number is a group's index), or `${...}`; `$$` is a
    /// dollar sign; a `$` that starts neither is itself.
    fn parse(t: &str) -> Vec<Piece<'_>> {
        let mut out = vec![];
        let mut rest = t;
        while let Some(at) = rest.find('$') {
            if at > 0 {
                out.push(Piece::Text(&rest[..at]));
            }
            let after = &rest[at + 1..];
            let (name, skip) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], end + 2),
                    None => ("", 0),
                }
            } else if let Some(tail) = after.strip_prefix('$') {
                out.push(Piece::Text("$"));
                rest = tail;
                continue;
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                out.push(Piece::Text("$"));
                rest = after;
                continue;
            }
            out.push(match name.parse::<usize>() {
                Ok(i) => Piece::Index(i),
                Err(_) => Piece::Name(name),
            });
            rest = &after[skip..];
        }
        if !rest.is_empty() {
            out.push(Piece::Text(rest));
        }
        out
    }

    pub(super) fn replace_all<'a>(
        re: &regex::Regex,
        s: &'a str,
        with: &'a str,
        max: usize,
    ) -> Fallible<String> {
        let pieces = parse(with);
        let mut out = String::new();
        let mut last = 0;
        for caps in re.captures_iter(s) {
            let m = caps.get(0).expect("group 0 is the match");
            let group = |p: &Piece<'a>| -> &'a str {
                match p {
                    Piece::Text(t) => t,
                    Piece::Index(i) => caps.get(*i).map_or("", |g| g.as_str()),
                    Piece::Name(n) => caps.name(n).map_or("", |g| g.as_str()),
                }
            };
            let grows = pieces
                .iter()
                .fold(m.start() - last, |n, p| n.saturating_add(group(p).len()));
            fits("regex_replace", out.len().saturating_add(grows), max)?;
            out.push_str(&s[last..m.start()]);
            for p in &pieces {
                out.push_str(group(p));
            }
            last = m.end();
        }
        fits("regex_replace", out.len() + (s.len() - last), max)?;
        out.push_str(&s[last..]);
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn templates_expand_as_the_regex_crate_does() {
            let re = regex::Regex::new(r"(?<word>[a-z]+)-(\d+)").unwrap();
            for t in [
                "$2:$1",
                "${word}_$2",
                "$$1",
                "$",
                "a$",
                "${2}x",
                "$2x",
                "${nope}",
                "$9",
                "${",
                "x$-y",
                "$word$",
            ] {
                let s = "ab-12 cd-3 !";
                assert_eq!(
                    super::replace_all(&re, s, t, 1 << 20).unwrap(),
                    re.replace_all(s, t),
                    "template {t:?}"
                );
            }
        }

        #[test]
        fn a_template_that_would_pass_the_limit_builds_nothing() {
            let re = regex::Regex::new("x+").unwrap();
            let s = "x".repeat(1000);
            let e = super::replace_all(&re, &s, &"$0".repeat(1000), 10_000).unwrap_err();
            assert!(e.to_string().contains("1000000 bytes"), "{e}");
        }
    }
}
