//! Masking secret values in what ferry shows: error messages, skip reasons, a hook's prints
//! and log lines, a package's recorded answers. A server or a hook may echo a secret as it
//! is, JSON-escaped (`\"`, `\\`, `\u00e9`) or URL-encoded (`%20`, `+`); every form is
//! masked. A secret of fewer than 4 characters is masked where it stands alone (not inside
//! a longer word), in messages only: in a recorded body it would break the JSON around it.

use serde_json::Value;

/// What is masked in its place.
pub const MASK: &str = "***";

/// Secrets shorter than this are masked only as whole tokens, and only in messages.
const SHORT: usize = 4;

/// The secret values of a resource or a run, in every form a server may echo them.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// forms of the secrets of `SHORT` characters or more, longest first (a secret that
    /// contains another is masked whole)
    long: Vec<String>,
    /// the shorter secrets and their forms
    short: Vec<String>,
}

impl Secrets {
    pub fn new<I: IntoIterator<Item = String>>(values: I) -> Secrets {
        let mut s = Secrets::default();
        for v in values {
            s.add(&v);
        }
        s
    }

    /// The strings at or below `pointers` in `body`, at any depth.
    pub fn of(body: &Value, pointers: &[String]) -> Secrets {
        let mut s = Secrets::default();
        for p in pointers {
            for (_, v) in crate::json::values_at(body, p) {
                s.add_value(&v);
            }
        }
        s
    }

    /// Every string in `v`, at any depth.
    pub fn add_value(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.add(s),
            Value::Array(a) => a.iter().for_each(|x| self.add_value(x)),
            Value::Object(o) => o.values().for_each(|x| self.add_value(x)),
            _ => {}
        }
    }

    /// One secret, in its plain, JSON-escaped and URL-encoded forms. Its forms are short or
    /// long as the secret is: a short secret's `%XX` form is masked where a short one is.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let short = secret.chars().count() < SHORT;
        for form in forms(secret) {
            self.insert(short, form);
        }
    }

    /// Both sets together, each form where it already stands.
    pub fn extend(&mut self, other: &Secrets) {
        for s in &other.long {
            self.insert(false, s.clone());
        }
        for s in &other.short {
            self.insert(true, s.clone());
        }
    }

    /// Keep one form, the longest first in its set.
    fn insert(&mut self, short: bool, form: String) {
        let into = if short {
            &mut self.short
        } else {
            &mut self.long
        };
        if !into.contains(&form) {
            let at = into.partition_point(|s| s.len() >= form.len());
            into.insert(at, form);
        }
    }

    /// A message with every secret masked, short ones where they stand alone.
    pub fn mask(&self, text: &str) -> String {
        let mut out = self.mask_long(text);
        for s in &self.short {
            out = mask_tokens(&out, s);
        }
        out
    }

    /// A recorded body with the secrets of 4 characters or more masked: what keeps its
    /// syntax (JSON stays JSON).
    pub fn mask_long(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.long {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// Whether `text` holds a secret of 4 characters or more, in any form.
    pub fn found_in(&self, text: &str) -> bool {
        self.long.iter().any(|s| text.contains(s.as_str()))
    }
}

/// The forms a server or a script may echo `s` in.
fn forms(s: &str) -> Vec<String> {
    let mut out = vec![s.to_string()];
    let mut push = |f: String| {
        if !f.is_empty() && !out.contains(&f) {
            out.push(f);
        }
    };
    // JSON-escaped, without the quotes; and with every non-ASCII character as \uXXXX, as
    // Python's json.dumps writes it.
    let json = serde_json::to_string(s).unwrap_or_default();
    if let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"')) {
        push(inner.to_string());
    }
    push(ascii_json(s));
    // URL-encoded: a query or form value (`+` for a space), a path segment (`%20`), and
    // the same in lower-case hex.
    push(url::form_urlencoded::byte_serialize(s.as_bytes()).collect());
    let pct = percent(s);
    push(lower_hex(&pct));
    push(pct);
    out
}

/// `s` JSON-escaped with every non-ASCII character as `\uXXXX` (surrogate pairs past the BMP).
fn ascii_json(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Every byte but the unreserved ones (RFC 3986) as `%XX`.
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%2F` as `%2f`: only the hex digits after a `%` change.
fn lower_hex(pct: &str) -> String {
    let mut out = String::with_capacity(pct.len());
    let mut after = 0;
    for c in pct.chars() {
        if c == '%' {
            after = 2;
            out.push(c);
        } else if after > 0 {
            after -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `token` masked where it is not part of a longer word (its neighbours are not letters or
/// digits).
fn mask_tokens(text: &str, token: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(token) {
        let head = &rest[..at];
        let prev = head.chars().next_back().or(before);
        let after = &rest[at + token.len()..];
        let next = after.chars().next();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        out.push_str(head);
        if word(prev) || word(next) {
            out.push_str(token);
        } else {
            out.push_str(MASK);
        }
        before = token.chars().next_back();
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_form_of_a_secret_is_masked() {
        let s = Secrets::new(["p\"a\\ss wörd/1".to_string()]);
        let plain = "p\"a\\ss wörd/1";
        let json_escaped = serde_json::to_string(plain).unwrap();
        let python = r#""p\"a\\ss w\u00f6rd/1""#;
        let form: String = url::form_urlencoded::byte_serialize(plain.as_bytes()).collect();
        let path = "p%22a%5Css%20w%C3%B6rd%2F1";
        for text in [
            plain.to_string(),
            json_escaped,
            python.to_string(),
            form,
            path.to_string(),
            path.to_lowercase(),
        ] {
            let m = s.mask(&format!("400: {{\"key\": {text}}}"));
            assert!(m.contains(MASK), "{text} kept in {m}");
            assert!(!m.contains("ss w"), "{m}");
            assert!(!m.contains("ss%20w") && !m.contains("ss+w"), "{m}");
        }
    }

    #[test]
    fn a_short_secret_is_masked_where_it_stands_alone() {
        let s = Secrets::new(["ab1".to_string(), "sk-123456".to_string()]);
        assert_eq!(
            s.mask(r#"400: {"key": "ab1", "note": "tab1e", "k2": "sk-123456"}"#),
            r#"400: {"key": "***", "note": "tab1e", "k2": "***"}"#
        );
        assert_eq!(s.mask("ab1ab1 ab1"), "ab1ab1 ***");
        // A recorded body keeps its syntax: short secrets stay, whichever way they came in.
        assert_eq!(s.mask_long(r#"{"id": "ab1"}"#), r#"{"id": "ab1"}"#);
        let mut merged = Secrets::default();
        merged.extend(&Secrets::new(["a b".to_string()]));
        assert_eq!(merged.mask_long("x a%20b"), "x a%20b");
        assert_eq!(merged.mask("x a%20b"), "x ***");
    }

    #[test]
    fn the_secrets_of_a_body_are_found_at_any_depth() {
        let body = json!({"meta": {"api_key": "sk-123456", "nested": ["tok-abcdef"], "n": 5}, "name": "sk"});
        let s = Secrets::of(&body, &["/meta".to_string()]);
        assert_eq!(
            s.mask(r#"{"api_key": "sk-123456", "t": "tok-abcdef", "name": "sk"}"#),
            r#"{"api_key": "***", "t": "***", "name": "sk"}"#
        );
        assert!(s.found_in("x tok-abcdef"));
        assert!(!Secrets::of(&body, &[]).found_in("sk-123456"));
    }
}
