//! The outside judge of the emulated Versori API: `contract.toml` holds the facts of
//! Versori's published API that Ferry relies on (endpoints, their query parameters, request
//! and answer bodies with JSON types and required fields, status codes), in our own words.
//!
//! Two uses. Every request body is checked against it, always: one that breaks it is refused
//! with 400 in Versori's error shape, naming the field, before any route sees it (an emulator
//! that stored what the platform refuses would hide a pack that sends it). In the judge mode
//! (`Config::judge`, on in every test) the request's endpoint and query keys, and every answer
//! the emulator sends, are checked as well: an answer with a field the document does not
//! define is how a pack comes to rely on one.

use axum::http::Method;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A JSON value's expected shape, as the file writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str,
    Bool,
    Int,
    Num,
    /// any JSON value
    Any,
    /// an object with free keys and any values (variables)
    Map,
    /// an object with free keys and string values (Versori's Labels)
    Labels,
    Array(Box<Expr>),
    /// a string, one of these
    Enum(Vec<String>),
    Nullable(Box<Expr>),
    /// a `[types.NAME]` table: an object with those fields and no other
    Named(String),
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub required: bool,
    pub expr: Expr,
}

/// An answer's body: none (204) or of a shape.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Of(Expr),
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub method: Method,
    /// segments below `/api/v2/o/{org}/`; `None` for a `{param}`
    pub path: Vec<Option<String>>,
    pub written: String,
    pub query: Vec<String>,
    pub request: Option<Expr>,
    /// by status code; `default` covers every status not listed (Versori: errors)
    pub answers: BTreeMap<u16, Body>,
    pub default: Option<Body>,
}

#[derive(Debug)]
pub struct Contract {
    pub types: BTreeMap<String, Vec<Field>>,
    pub endpoints: Vec<Endpoint>,
}

/// The file as TOML gives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    types: BTreeMap<String, BTreeMap<String, String>>,
    endpoint: Vec<FileEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEndpoint {
    method: String,
    path: String,
    #[serde(default)]
    query: Vec<String>,
    request: Option<String>,
    answers: BTreeMap<String, String>,
}

/// Where one check failed: the field's path and what is wrong.
pub type Breach = (String, String);

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    Contract::parse(include_str!("contract.toml"))
        .unwrap_or_else(|e| panic!("sandbox/src/versori/contract.toml: {e}"))
});

pub fn contract() -> &'static Contract {
    &CONTRACT
}

/// Parse a type expression: `string`, `[T]`, `enum(a|b)`, `nullable T`, a type's name.
fn expr(s: &str) -> Result<Expr, String> {
    let s = s.trim();
    Ok(match s {
        "string" => Expr::Str,
        "boolean" => Expr::Bool,
        "integer" => Expr::Int,
        "number" => Expr::Num,
        "any" => Expr::Any,
        "map" => Expr::Map,
        "labels" => Expr::Labels,
        _ if s.starts_with('[') && s.ends_with(']') => {
            Expr::Array(Box::new(expr(&s[1..s.len() - 1])?))
        }
        _ if s.starts_with("enum(") && s.ends_with(')') => Expr::Enum(
            s[5..s.len() - 1]
                .split('|')
                .map(|v| v.trim().to_string())
                .collect(),
        ),
        _ if s.starts_with("nullable ") => Expr::Nullable(Box::new(expr(&s[9..])?)),
        _ if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Expr::Named(s.to_string())
        }
        _ => return Err(format!("{s:?} is not a type expression")),
    })
}

impl Contract {
    pub fn parse(text: &str) -> Result<Contract, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut types = BTreeMap::new();
        for (name, fields) in file.types {
            let mut out = vec![];
            for (field, t) in fields {
                let (t, required) = match t.strip_suffix('?') {
                    Some(t) => (t, false),
                    None => (t.as_str(), true),
                };
                let expr = expr(t).map_err(|e| format!("types.{name}.{field}: {e}"))?;
                out.push(Field {
                    name: field,
                    required,
                    expr,
                });
            }
            types.insert(name, out);
        }
        let mut endpoints = vec![];
        for e in file.endpoint {
            let at = format!("endpoint {} {}", e.method, e.path);
            let method = Method::from_bytes(e.method.as_bytes()).map_err(|_| at.clone())?;
            let path = e
                .path
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                .collect();
            let request = e
                .request
                .as_deref()
                .map(expr)
                .transpose()
                .map_err(|m| format!("{at}: request: {m}"))?;
            let mut answers = BTreeMap::new();
            let mut default = None;
            for (status, body) in e.answers {
                let body = match body.as_str() {
                    "none" => Body::None,
                    b => Body::Of(expr(b).map_err(|m| format!("{at}: answers.{status}: {m}"))?),
                };
                if status == "default" {
                    default = Some(body);
                } else {
                    let code = status
                        .parse()
                        .map_err(|_| format!("{at}: {status:?} is not a status code"))?;
                    answers.insert(code, body);
                }
            }
            // Where the document lists no error answer, Versori still answers its errors in
            // the one shape it uses everywhere.
            if default.is_none() && types.contains_key("Error") {
                default = Some(Body::Of(Expr::Named("Error".into())));
            }
            endpoints.push(Endpoint {
                method,
                path,
                written: e.path,
                query: e.query,
                request,
                answers,
                default,
            });
        }
        let contract = Contract { types, endpoints };
        contract.check_names()?;
        Ok(contract)
    }

    /// Every type a field or an endpoint names is defined.
    fn check_names(&self) -> Result<(), String> {
        fn names<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
            match e {
                Expr::Named(n) => out.push(n),
                Expr::Array(i) | Expr::Nullable(i) => names(i, out),
                _ => {}
            }
        }
        let mut used = vec![];
        for (t, fields) in &self.types {
            for f in fields {
                let mut here = vec![];
                names(&f.expr, &mut here);
                used.extend(
                    here.into_iter()
                        .map(|n| (format!("types.{t}.{}", f.name), n)),
                );
            }
        }
        for e in &self.endpoints {
            let bodies =
                e.request
                    .iter()
                    .chain(
                        e.answers
                            .values()
                            .chain(e.default.iter())
                            .filter_map(|b| match b {
                                Body::Of(x) => Some(x),
                                Body::None => None,
                            }),
                    );
            for b in bodies {
                let mut here = vec![];
                names(b, &mut here);
                used.extend(
                    here.into_iter()
                        .map(|n| (format!("endpoint {} {}", e.method, e.written), n)),
                );
            }
        }
        match used.iter().find(|(_, n)| !self.types.contains_key(*n)) {
            Some((at, n)) => Err(format!("{at}: no type {n}")),
            None => Ok(()),
        }
    }

    /// The endpoint `method` on the organisation's path `seg` is, if the document has it:
    /// the one with the most literal segments among those that match (`environments/clone`
    /// before `environments/{environment_id}`).
    pub fn endpoint(&self, method: &Method, seg: &[&str]) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .filter(|e| {
                e.method == *method
                    && e.path.len() == seg.len()
                    && e.path
                        .iter()
                        .zip(seg)
                        .all(|(p, s)| p.as_deref().is_none_or(|p| p == *s))
            })
            .max_by_key(|e| e.path.iter().filter(|p| p.is_some()).count())
    }

    /// Check `v` against `e`; the first break.
    pub fn check(&self, v: &Value, e: &Expr, what: &str) -> Result<(), Breach> {
        self.check_at(v, e, "", what)
    }

    fn check_at(&self, v: &Value, e: &Expr, at: &str, what: &str) -> Result<(), Breach> {
        let wrong = |why: &str| Err((at.to_string(), why.to_string()));
        let join = |k: &str| {
            if at.is_empty() {
                k.to_string()
            } else {
                format!("{at}.{k}")
            }
        };
        match (e, v) {
            (Expr::Any, _) => Ok(()),
            (Expr::Nullable(_), Value::Null) => Ok(()),
            (Expr::Nullable(inner), v) => self.check_at(v, inner, at, what),
            (Expr::Str, Value::String(_)) => Ok(()),
            (Expr::Enum(allowed), Value::String(s)) if allowed.contains(s) => Ok(()),
            (Expr::Enum(allowed), _) => wrong(&format!("must be one of {}", allowed.join(", "))),
            (Expr::Bool, Value::Bool(_)) => Ok(()),
            (Expr::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
            (Expr::Num, Value::Number(_)) => Ok(()),
            (Expr::Map, Value::Object(_)) => Ok(()),
            (Expr::Labels, Value::Object(m)) => match m.iter().find(|(_, v)| !v.is_string()) {
                Some((k, _)) => Err((join(k), "must be a string".into())),
                None => Ok(()),
            },
            (Expr::Array(item), Value::Array(a)) => {
                for (i, v) in a.iter().enumerate() {
                    self.check_at(v, item, &format!("{at}[{i}]"), what)?;
                }
                Ok(())
            }
            (Expr::Named(name), Value::Object(m)) => {
                let fields = &self.types[name];
                if let Some(k) = m.keys().find(|k| !fields.iter().any(|f| f.name == **k)) {
                    return Err((join(k), format!("is not a field of this {what}")));
                }
                for f in fields {
                    match m.get(&f.name) {
                        None if f.required => return Err((join(&f.name), "is required".into())),
                        None => {}
                        Some(v) => self.check_at(v, &f.expr, &join(&f.name), what)?,
                    }
                }
                Ok(())
            }
            (Expr::Str, _) => wrong("must be a string"),
            (Expr::Bool, _) => wrong("must be a boolean"),
            (Expr::Int, _) => wrong("must be an integer"),
            (Expr::Num, _) => wrong("must be a number"),
            (Expr::Labels, _) => wrong("must be an object of strings"),
            (Expr::Map | Expr::Named(_), _) => wrong("must be an object"),
            (Expr::Array(_), _) => wrong("must be an array"),
        }
    }

    /// A request's breach: its body against the endpoint's request type. `None` when it is
    /// fine or the document has no such endpoint (the route answers that).
    pub fn request(&self, method: &Method, seg: &[&str], body: &Value) -> Option<Breach> {
        let e = self.endpoint(method, seg)?;
        match (&e.request, body) {
            (Some(t), body) => self.check(body, t, "request").err(),
            (None, Value::Null) => None,
            (None, _) => Some((String::new(), "this endpoint takes no body".into())),
        }
    }

    /// In the judge mode, what is wrong with a request beyond its body (which `request`
    /// checks): an endpoint or a query key the document does not have.
    pub fn judge_request(&self, method: &Method, seg: &[&str], query: &[&str]) -> Option<String> {
        let Some(e) = self.endpoint(method, seg) else {
            return Some(format!(
                "{method} {}: not an endpoint of the document",
                seg.join("/")
            ));
        };
        query
            .iter()
            .find(|k| !e.query.iter().any(|q| q == *k))
            .map(|k| format!("{method} {}: query {k:?} is not documented", e.written))
    }

    /// In the judge mode, what is wrong with an answer: a status the endpoint does not give
    /// or a body that breaks its type.
    pub fn judge_answer(
        &self,
        method: &Method,
        seg: &[&str],
        status: u16,
        body: Option<&Value>,
    ) -> Option<String> {
        let e = self.endpoint(method, seg)?;
        let at = format!("{method} {} answered {status}", e.written);
        // `default` stands for the errors: a success must be listed.
        let default = e.default.as_ref().filter(|_| !(200..300).contains(&status));
        let Some(expected) = e.answers.get(&status).or(default) else {
            return Some(format!("{at}: not a status the document lists"));
        };
        match (expected, body) {
            (Body::None, None) => None,
            (Body::None, Some(_)) => Some(format!("{at}: a body where the document has none")),
            (Body::Of(_), None) => Some(format!("{at}: no body")),
            (Body::Of(t), Some(v)) => self.check(v, t, "answer").err().map(|(f, why)| {
                format!("{at}: {} {why}", if f.is_empty() { "the body" } else { &f })
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_file_parses_and_names_only_its_types() {
        assert!(!contract().endpoints.is_empty());
        let bad = "[types.A]\nx = \"B\"\n[[endpoint]]\nmethod = \"GET\"\npath = \"a\"\nanswers = { 200 = \"A\" }\n";
        assert_eq!(Contract::parse(bad).unwrap_err(), "types.A.x: no type B");
    }

    #[test]
    fn a_body_breaking_the_contract_is_named_where() {
        let c = contract();
        let versions = ["projects", "p", "versions"];
        let good = json!({"name": "v1", "files": [{"filename": "a.ts", "content": ""}]});
        assert_eq!(c.request(&Method::POST, &versions, &good), None);
        let nested = json!({"name": "v1", "files": {"files": [], "labels": {}}});
        assert_eq!(
            c.request(&Method::POST, &versions, &nested),
            Some(("files".into(), "must be an array".into()))
        );
        let null_labels = json!({"name": "v1", "files": [], "labels": null});
        assert_eq!(
            c.request(&Method::POST, &versions, &null_labels).unwrap().0,
            "labels"
        );
        let extra = json!({"name": "s", "domain": "d", "templateBaseUrl": "u", "authSchemeConfigs": [], "owner": 1});
        assert_eq!(
            c.request(&Method::POST, &["systems"], &extra).unwrap().0,
            "owner"
        );
        assert_eq!(
            c.request(
                &Method::PUT,
                &["environments", "e", "config"],
                &json!({"deploymentSpec": {"replicas": "many"}})
            ),
            Some((
                "deploymentSpec.replicas".into(),
                "must be an integer".into()
            ))
        );
    }

    #[test]
    fn the_judge_names_an_undocumented_endpoint_query_status_and_field() {
        let c = contract();
        assert!(
            c.judge_request(&Method::GET, &["projects", "p", "nothing"], &[])
                .unwrap()
                .contains("not an endpoint")
        );
        assert!(
            c.judge_request(&Method::GET, &["projects"], &["colour"])
                .unwrap()
                .contains("\"colour\"")
        );
        let pools = ["execution-pools"];
        let good = json!({"executionPools": [{"name": "shared"}]});
        assert_eq!(c.judge_answer(&Method::GET, &pools, 200, Some(&good)), None);
        let extra = json!({"executionPools": [{"name": "shared", "size": 3}]});
        assert!(
            c.judge_answer(&Method::GET, &pools, 200, Some(&extra))
                .unwrap()
                .contains("executionPools[0].size is not a field of this answer")
        );
        assert!(
            c.judge_answer(&Method::GET, &pools, 200, None)
                .unwrap()
                .contains("no body")
        );
    }
}
