//! What Versori's published API accepts as the body of each write the emulator serves, in
//! our own words: fields, their JSON types, which are required, and that no other field is
//! taken. A body that breaks it is refused with 400 in Versori's error shape, naming the
//! field, before any route sees it: an emulator that stored what the platform refuses would
//! hide a pack that sends it.
//!
//! Facts from Versori's public OpenAPI document (SystemCreate, AuthSchemeConfig,
//! CreateProjectVersion, File, LinkSystem, UpdateConnectionTemplate, EnvironmentConfig,
//! DeploymentSpec, CloneEnvironmentRequest, SyncEnvironmentsRequest,
//! ChangeEnvironmentExecutionPoolRequest, EnvSystemConnectionCreate, ConnectionUpdate,
//! LinkConnectionEnvironment, ProjectCreate, ProjectUpdate, ProjectSettings); kept to what the
//! emulator's routes take.

use axum::http::Method;
use serde_json::Value;

/// A JSON value's expected shape.
pub enum Shape {
    Str,
    Bool,
    Int,
    /// any JSON value (a field the emulator passes through)
    Any,
    /// an object of string values (Versori's Labels)
    Labels,
    /// an object whose values are any JSON (variables)
    Map,
    Array(&'static Shape),
    /// a string, one of these
    OneOf(&'static [&'static str]),
    /// an object with these fields and no other
    Object(&'static [Field]),
}

pub struct Field {
    name: &'static str,
    required: bool,
    shape: Shape,
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        required: true,
        shape,
    }
}

const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        required: false,
        shape,
    }
}

/// One of a system's ways to authenticate: its `type`, and the settings of that type.
const AUTH_SCHEME_CONFIG: Shape = Shape::Object(&[
    opt("id", Shape::Str),
    req(
        "type",
        Shape::OneOf(&[
            "none",
            "api-key",
            "basic-auth",
            "oauth2",
            "hmac",
            "jwt-bearer",
            "certificate",
            "oauth1",
            "secret",
        ]),
    ),
    opt("description", Shape::Str),
    opt("none", Shape::Any),
    opt("apiKey", Shape::Any),
    opt("basicAuth", Shape::Any),
    opt("oauth2", Shape::Any),
    opt("oauth1", Shape::Any),
    opt("hmac", Shape::Any),
    opt("certificate", Shape::Any),
]);

const SYSTEM_CREATE: Shape = Shape::Object(&[
    req("name", Shape::Str),
    req("domain", Shape::Str),
    req("templateBaseUrl", Shape::Str),
    req("authSchemeConfigs", Shape::Array(&AUTH_SCHEME_CONFIG)),
    opt("labels", Shape::Labels),
]);

const FILE: Shape = Shape::Object(&[req("filename", Shape::Str), req("content", Shape::Str)]);

const VERSION_CREATE: Shape = Shape::Object(&[
    req("name", Shape::Str),
    req("files", Shape::Array(&FILE)),
    opt("description", Shape::Str),
    opt("labels", Shape::Labels),
]);

const LINK_SYSTEM: Shape = Shape::Object(&[
    req("systemId", Shape::Str),
    req("name", Shape::Str),
    req("environmentId", Shape::Str),
    opt("dynamic", Shape::Bool),
]);

const DEPLOYMENT_SPEC: Shape = Shape::Object(&[
    opt("replicas", Shape::Int),
    opt("autoscaling", Shape::Any),
    opt("staticIP", Shape::Bool),
    opt("resources", Shape::Any),
    opt("serviceAccountName", Shape::Str),
]);

const ENVIRONMENT_CONFIG: Shape = Shape::Object(&[opt("deploymentSpec", DEPLOYMENT_SPEC)]);

const CLONE_ENVIRONMENT: Shape = Shape::Object(&[
    req("oldEnvName", Shape::Str),
    req("newEnvName", Shape::Str),
    opt("executionPool", Shape::Str),
    opt("cloneSystems", Shape::Bool),
    opt("copyStaticUserVariables", Shape::Bool),
]);

const EXECUTION_POOL: Shape = Shape::Object(&[req("executionPool", Shape::Str)]);

const LINK_CONNECTION: Shape = Shape::Object(&[req("connectionTemplateId", Shape::Str)]);

const VARIABLES: Shape = Shape::Map;

const CONNECTION: Shape = Shape::Object(&[
    req("name", Shape::Str),
    req("credentials", Shape::Array(&Shape::Map)),
    opt("baseUrl", Shape::Str),
]);

const CONNECTION_CREATE: Shape = Shape::Object(&[
    req("connectionTemplateId", Shape::Str),
    req("connection", CONNECTION),
    opt("externalId", Shape::Str),
]);

const CONNECTION_UPDATE: Shape = Shape::Object(&[
    req("name", Shape::Str),
    req("credentials", Shape::Array(&Shape::Map)),
    req("baseUrl", Shape::Str),
]);

const PROJECT_CREATE: Shape =
    Shape::Object(&[req("name", Shape::Str), opt("executionPool", Shape::Str)]);

const PROJECT_UPDATE: Shape = Shape::Object(&[
    opt("name", Shape::Str),
    opt(
        "settings",
        Shape::Object(&[
            opt("acceptCodeChangesAutomatically", Shape::Bool),
            opt("testingMockWithAI", Shape::Bool),
            opt("planningChatVersion", Shape::Str),
            opt("chatStoredInDB", Shape::Bool),
            opt("defaultEnvironment", Shape::Str),
        ]),
    ),
    opt("metadata", Shape::Any),
]);

const SYNC_ENVIRONMENTS: Shape = Shape::Object(&[
    req("sourceEnvName", Shape::Str),
    req("targetEnvName", Shape::Str),
]);

const TEMPLATE_UPDATE: Shape = Shape::Object(&[
    opt("name", Shape::Str),
    opt("dynamic", Shape::Bool),
    opt("authSchemeConfigIds", Shape::Array(&Shape::Str)),
]);

/// The shape the body of `method` on the organisation's path `seg` must have, when the
/// emulator knows it.
pub fn request(method: &Method, seg: &[&str]) -> Option<&'static Shape> {
    Some(match (method, seg) {
        (&Method::POST, ["systems"]) => &SYSTEM_CREATE,
        (&Method::POST, ["projects", _, "versions"]) => &VERSION_CREATE,
        (&Method::POST, ["projects", _, "connection-templates"]) => &LINK_SYSTEM,
        (&Method::POST, ["projects", _, "environments", "clone"]) => &CLONE_ENVIRONMENT,
        (&Method::PUT, ["projects", _, "environments", "execution-pools"]) => &EXECUTION_POOL,
        (&Method::PUT, ["environments", _, "config"]) => &ENVIRONMENT_CONFIG,
        (&Method::PATCH, ["environments", _, "variables"]) => &VARIABLES,
        (&Method::POST, ["connections", _, "link"]) => &LINK_CONNECTION,
        (&Method::POST, ["connections"]) => &CONNECTION_CREATE,
        (&Method::PUT, ["connections", _]) => &CONNECTION_UPDATE,
        (&Method::POST, ["projects"]) => &PROJECT_CREATE,
        (&Method::PUT, ["projects", _]) => &PROJECT_UPDATE,
        (&Method::POST, ["projects", _, "environments", "sync"]) => &SYNC_ENVIRONMENTS,
        (&Method::PUT, ["projects", _, "connection-templates", _]) => &TEMPLATE_UPDATE,
        _ => return None,
    })
}

/// Check `v` against `shape`; the first break, as (field path, what is wrong).
pub fn check(v: &Value, shape: &Shape, at: &str) -> Result<(), (String, String)> {
    let wrong = |what: &str| Err((at.trim_start_matches('.').to_string(), what.to_string()));
    match (shape, v) {
        (Shape::Any, _) => Ok(()),
        (Shape::Str, Value::String(_)) => Ok(()),
        (Shape::OneOf(allowed), Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        (Shape::OneOf(allowed), _) => wrong(&format!("must be one of {}", allowed.join(", "))),
        (Shape::Bool, Value::Bool(_)) => Ok(()),
        (Shape::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        (Shape::Labels, Value::Object(m)) => match m.iter().find(|(_, v)| !v.is_string()) {
            Some((k, _)) => Err((
                format!("{}.{k}", at.trim_start_matches('.')),
                "must be a string".into(),
            )),
            None => Ok(()),
        },
        (Shape::Map, Value::Object(_)) => Ok(()),
        (Shape::Array(item), Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                check(v, item, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Shape::Object(fields), Value::Object(m)) => {
            if let Some(k) = m
                .keys()
                .find(|k| !fields.iter().any(|f| f.name == k.as_str()))
            {
                return Err((
                    format!("{}.{k}", at.trim_start_matches('.'))
                        .trim_start_matches('.')
                        .to_string(),
                    "is not a field of this request".into(),
                ));
            }
            for f in *fields {
                let path = format!("{at}.{}", f.name);
                match m.get(f.name) {
                    None if f.required => {
                        return Err((
                            path.trim_start_matches('.').to_string(),
                            "is required".into(),
                        ));
                    }
                    None => {}
                    Some(v) => check(v, &f.shape, &path)?,
                }
            }
            Ok(())
        }
        (Shape::Str, _) => wrong("must be a string"),
        (Shape::Bool, _) => wrong("must be a boolean"),
        (Shape::Int, _) => wrong("must be an integer"),
        (Shape::Labels, _) => wrong("must be an object of strings"),
        (Shape::Map, _) => wrong("must be an object"),
        (Shape::Array(_), _) => wrong("must be an array"),
        (Shape::Object(_), _) => wrong("must be an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_breaking_the_contract_is_named_where() {
        let shape = request(&Method::POST, &["projects", "p", "versions"]).unwrap();
        let good = json!({"name": "v1", "files": [{"filename": "a.ts", "content": ""}]});
        assert!(check(&good, shape, "").is_ok());
        let nested = json!({"name": "v1", "files": {"files": [], "labels": {}}});
        assert_eq!(
            check(&nested, shape, ""),
            Err(("files".into(), "must be an array".into()))
        );
        let null_labels = json!({"name": "v1", "files": [], "labels": null});
        assert_eq!(check(&null_labels, shape, "").unwrap_err().0, "labels");
        let system = request(&Method::POST, &["systems"]).unwrap();
        let extra = json!({"name": "s", "domain": "d", "templateBaseUrl": "u", "authSchemeConfigs": [], "owner": 1});
        assert_eq!(check(&extra, system, "").unwrap_err().0, "owner");
        let config = request(&Method::PUT, &["environments", "e", "config"]).unwrap();
        assert_eq!(
            check(&json!({"deploymentSpec": {"replicas": "many"}}), config, ""),
            Err((
                "deploymentSpec.replicas".into(),
                "must be an integer".into()
            ))
        );
    }
}
