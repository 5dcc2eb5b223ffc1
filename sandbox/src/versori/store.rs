//! What an emulated Versori organisation holds: systems and connections (organisation-wide),
//! projects with their environments, variables schema, versions and connection templates;
//! and how each looks on the wire (ULIDs, RFC3339 times, secrets redacted on read).

use serde_json::{Value, json};
use std::time::SystemTime;

/// A new ULID, as Versori's ids are.
pub fn ulid() -> String {
    ulid::Ulid::new().to_string()
}

/// Whether `s` is a ULID (26 Crockford base32 characters), as Versori's clients require.
pub fn is_ulid(s: &str) -> bool {
    ulid::Ulid::from_string(s).is_ok()
}

pub fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

/// A credential's fields that Versori never shows back.
const SECRET_FIELDS: [&str; 7] = [
    "value",
    "password",
    "clientSecret",
    "accessToken",
    "refreshToken",
    "valueBase64",
    "secret",
];

pub const REDACTED: &str = "<redacted>";

/// `credentials` with every secret field replaced.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = if SECRET_FIELDS.contains(&k.as_str()) && x.is_string() {
                        json!(REDACTED)
                    } else {
                        redact(x)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[derive(Debug, Clone)]
pub struct System {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub template_base_url: String,
    pub auth_scheme_configs: Value,
    pub labels: Value,
}

impl System {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "domain": self.domain,
            "templateBaseUrl": self.template_base_url,
            "authSchemeConfigs": self.shown_auth(),
        })
    }

    /// The auth scheme configs as Versori shows them: an OAuth client's secret (and an
    /// OAuth 1 consumer's) held, never displayed: the field is left out.
    pub fn shown_auth(&self) -> Value {
        fn strip(v: &Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .filter(|(k, _)| !matches!(k.as_str(), "clientSecret" | "consumerSecret"))
                        .map(|(k, x)| (k.clone(), strip(x)))
                        .collect(),
                ),
                Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
                other => other.clone(),
            }
        }
        strip(&self.auth_scheme_configs)
    }
}

/// What POST systems does with an OAuth 2.0 grant's credential (the document's rule): with
/// neither `credentialId` nor `organisationId` a new credential is made in this
/// organisation; with both, they must name one of this organisation's; one alone is
/// refused. The configs as stored, or the field that breaks the rule and why.
pub fn grant_credentials(configs: &Value, org_id: &str) -> Result<Value, (String, String)> {
    let mut out = configs.clone();
    for (i, c) in out.as_array_mut().into_iter().flatten().enumerate() {
        for variant in ["authorizationCode", "password"] {
            let at = format!("authSchemeConfigs[{i}].oauth2.grant.{variant}");
            let Some(g) = c
                .pointer_mut(&format!("/oauth2/grant/{variant}"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            match (g.get("credentialId"), g.get("organisationId")) {
                (None, None) => {
                    g.insert("credentialId".into(), json!(ulid()));
                    g.insert("organisationId".into(), json!(org_id));
                }
                (Some(_), Some(o)) if o == org_id => {}
                (Some(_), Some(_)) => {
                    return Err((
                        format!("{at}.organisationId"),
                        "names a credential of another organisation".into(),
                    ));
                }
                (Some(_), None) => {
                    return Err((
                        format!("{at}.organisationId"),
                        "is required with credentialId".into(),
                    ));
                }
                (None, Some(_)) => {
                    return Err((
                        format!("{at}.credentialId"),
                        "is required with organisationId".into(),
                    ));
                }
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub name: String,
    /// as given, secrets included (shown redacted)
    pub credentials: Value,
    pub base_url: String,
    pub system_id: String,
    /// the templates (of any environment) it serves as the static connection
    pub templates: Vec<String>,
    /// an end user's connection (POST connections with `externalId`): that user's id and the
    /// template; it is never an environment's static connection
    pub end_user: Option<(String, String)>,
    pub created: String,
    pub updated: String,
}

impl Connection {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "credentials": redact(&self.credentials),
            "createdAt": self.created,
            "updatedAt": self.updated,
            "baseUrl": self.base_url,
            "systemId": self.system_id,
            "connectionTemplateId": self
                .templates
                .first()
                .or(self.end_user.as_ref().map(|(_, t)| t)),
        })
    }
}

/// A system linked to one environment of a project, under the name code uses for it.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub system_id: String,
    pub env_id: String,
    pub name: String,
    pub dynamic: bool,
    pub auth_scheme_config_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Version {
    pub id: String,
    pub name: String,
    pub state: String,
    pub created: String,
    pub description: String,
    pub labels: Value,
    /// `[{filename, content}]`
    pub files: Value,
}

impl Version {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "createdAt": self.created,
            "description": self.description,
            "labels": self.labels,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub id: String,
    pub name: String,
    /// running | suspended | error | draft
    pub status: String,
    pub created: String,
    pub updated: String,
    pub public_url: String,
    pub execution_pool: String,
    pub labels: Value,
    pub config: Value,
    pub deployed_version: Option<String>,
    pub last_deployed: Option<String>,
    /// the static user's variables
    pub variables: Value,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created: String,
    pub updated: String,
    pub settings: Value,
    pub schema: Value,
    pub current_files: Value,
    pub environments: Vec<Environment>,
    pub versions: Vec<Version>,
    pub templates: Vec<Template>,
}

impl Project {
    pub fn env_named(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn env_json(&self, e: &Environment) -> Value {
        let mut v = json!({
            "id": e.id,
            "name": e.name,
            "status": e.status,
            "createdAt": e.created,
            "updatedAt": e.updated,
            "publicUrl": e.public_url,
            "executionPool": e.execution_pool,
            "labels": e.labels,
            "config": e.config,
        });
        if let Some(ver) = e
            .deployed_version
            .as_deref()
            .and_then(|id| self.version(id))
        {
            v["deployedVersion"] = ver.json();
            v["files"] = ver.files.clone();
        }
        // Always there (the document requires it): null until the first deploy.
        v["lastDeployedAt"] = json!(e.last_deployed);
        v
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "environments": self.environments.iter().map(|e| self.env_json(e)).collect::<Vec<_>>(),
            "currentFiles": self.current_files,
            "createdAt": self.created,
            "updatedAt": self.updated,
            "settings": self.settings,
            "metadata": {},
            "starred": false,
            "dynamicVariablesSchema": self.schema,
        })
    }

    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "createdAt": self.created,
            "updatedAt": self.updated,
            "environments": self.environments.iter().map(|e| self.env_json(e)).collect::<Vec<_>>(),
            "starred": false,
        })
    }
}

pub struct Org {
    pub id: String,
    pub name: String,
    /// an API key: sent as `Authorization: Bearer <token>`
    pub token: String,
    /// a signed user token, as Versori's CLI holds one: sent as `Authorization: JWT <jwt>`
    pub jwt: String,
    pub pools: Vec<String>,
    pub systems: Vec<System>,
    pub connections: Vec<Connection>,
    pub projects: Vec<Project>,
    /// requests that changed something
    pub writes: u64,
}

impl Org {
    pub fn system(&self, id: &str) -> Option<&System> {
        self.systems.iter().find(|s| s.id == id)
    }

    /// A ConnectionTemplate as the document defines it, and only that: its `id` is the
    /// system's (there is no `systemId`), `connectionTemplateId` its own.
    pub fn template_json(&self, _p: &Project, t: &Template) -> Value {
        let s = self.system(&t.system_id);
        json!({
            "id": t.system_id,
            "connectionTemplateId": t.id,
            "name": t.name,
            "dynamic": t.dynamic,
            "domain": s.map(|s| s.domain.clone()),
            "templateBaseUrl": s.map(|s| s.template_base_url.clone()),
            "authSchemeConfigs": s.map(System::shown_auth),
        })
    }

    /// The non-dynamic templates of an environment that have no static connection: what
    /// refuses a deploy.
    pub fn missing_connections(&self, p: &Project, env_id: &str) -> Vec<String> {
        p.templates
            .iter()
            .filter(|t| t.env_id == env_id && !t.dynamic)
            .filter(|t| !self.connections.iter().any(|c| c.templates.contains(&t.id)))
            .map(|t| t.name.clone())
            .collect()
    }
}

/// Check static variables against the project's schema: known keys, and the declared type.
pub fn check_variables(schema: &Value, vars: &serde_json::Map<String, Value>) -> Vec<Value> {
    let props = &schema["properties"];
    vars.iter()
        .filter_map(|(k, v)| {
            let Some(p) = props.get(k) else {
                return Some(json!({"field": k, "message": "not in the project's variables schema"}));
            };
            let ok = match p["type"].as_str() {
                Some("string") => v.is_string(),
                Some("integer") => v.is_i64() || v.is_u64(),
                Some("number") => v.is_number(),
                Some("boolean") => v.is_boolean(),
                Some("object") => v.is_object(),
                Some("array") => v.is_array(),
                _ => true,
            };
            (!ok && !v.is_null()).then(|| {
                json!({"field": k, "message": format!("must be of type {}", p["type"].as_str().unwrap_or("?"))})
            })
        })
        .collect()
}
