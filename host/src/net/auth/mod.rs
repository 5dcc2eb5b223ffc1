//! Credentials: how the host proves who it is to an environment. One module per scheme, as a
//! platform's manifest names it in `[connection.auth]`: `bearer` (`Authorization: <prefix>
//! <key>`), `header` (a key in a header of the platform's own) and `login` (a user name and
//! password exchanged for a session token and cookies). Keys, passwords and tokens are
//! [`Secret`]s: only the request builder sees their value, never a plugin, a log, a report,
//! a journal, a plan or an error message.

pub mod bearer;
pub mod header;
pub mod login;

use super::{Secret, Side};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[connection.auth]`: the scheme and its settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "scheme", rename_all = "lowercase")]
pub enum AuthSpec {
    Bearer(bearer::Spec),
    Header(header::Spec),
    /// boxed: a login's settings are several times the size of the other schemes'
    Login(Box<login::Spec>),
    /// no credential (a platform on a trusted network; tests)
    None,
}

/// Environment variables, one per side, that supply a credential.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Vars {
    pub source: Option<String>,
    pub target: Option<String>,
}

impl Vars {
    /// The variables looked at, in order: the declared one of `side`, then ferry's own
    /// (`FERRY_SOURCE_<WHAT>`).
    fn names(&self, side: Side, what: &str) -> Vec<String> {
        let declared = match side {
            Side::Source => &self.source,
            Side::Target => &self.target,
        };
        let generic = format!("FERRY_{}_{what}", side.to_string().to_ascii_uppercase());
        declared.iter().cloned().chain([generic]).collect()
    }

    /// The first of [`Vars::names`] that is set and non-empty.
    pub fn read(&self, side: Side, what: &str) -> Option<String> {
        self.names(side, what)
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .map(|v| v.trim().to_string())
            .find(|v| !v.is_empty())
    }

    /// How to name these variables in an error message.
    pub fn describe(&self, side: Side, what: &str) -> String {
        self.names(side, what).join(" or ")
    }
}

/// What a user gave for one side's credential, before the scheme reads its variables.
#[derive(Debug, Clone, Default)]
pub struct AuthInput {
    pub key: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// How the host authenticates to an environment, resolved for one side.
#[derive(Debug, Clone)]
pub enum Credential {
    None,
    /// `Authorization: <prefix> <key>`
    Bearer {
        prefix: String,
        key: Secret,
    },
    /// `<name>: <key>`
    Header {
        name: String,
        value: Secret,
    },
    /// a session opened with a user name and password (`login`)
    Login(Arc<login::Login>),
}

impl AuthSpec {
    pub fn check(&self) -> anyhow::Result<()> {
        match self {
            AuthSpec::Login(l) => l.check(),
            AuthSpec::Header(h) if h.name.trim().is_empty() => {
                anyhow::bail!("[connection.auth] scheme header needs a name")
            }
            _ => Ok(()),
        }
    }

    /// The credential of `side`: what the user gave, else the declared variables.
    /// `params` are the side's connection parameters: a bearer prefix may name one.
    pub fn credential(
        &self,
        side: Side,
        input: &AuthInput,
        params: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<Credential> {
        match self {
            AuthSpec::None => Ok(Credential::None),
            AuthSpec::Bearer(b) => Ok(Credential::Bearer {
                prefix: crate::plugin::platform::ConnectionSpec::render_prefix(&b.prefix, params),
                key: key(side, input, &b.key_env)?,
            }),
            AuthSpec::Header(h) => Ok(Credential::Header {
                name: h.name.clone(),
                value: key(side, input, &h.key_env)?,
            }),
            AuthSpec::Login(l) => Ok(Credential::Login(Arc::new(login::Login::new(
                (**l).clone(),
                side,
                input,
            )?))),
        }
    }

    /// A short name of the scheme, for `ferry plugins list`.
    pub fn scheme(&self) -> &'static str {
        match self {
            AuthSpec::Bearer(_) => "bearer",
            AuthSpec::Header(_) => "header",
            AuthSpec::Login(_) => "login",
            AuthSpec::None => "none",
        }
    }
}

fn key(side: Side, input: &AuthInput, vars: &Vars) -> anyhow::Result<Secret> {
    if let Some(k) = &input.key {
        return Ok(k.clone());
    }
    vars.read(side, "KEY").map(Secret::new).ok_or_else(|| {
        anyhow::anyhow!(
            "no {side} key: give --{side}-key, set {}, or name key_env or key_file in [{side}.auth] of a promotion file",
            vars.describe(side, "KEY")
        )
    })
}

impl Credential {
    /// `Authorization: Bearer <key>`.
    pub fn bearer(key: Secret) -> Credential {
        Credential::Bearer {
            prefix: "Bearer".into(),
            key,
        }
    }

    /// The header this credential travels in, which a plugin may therefore never set.
    pub fn header_name(&self) -> Option<&str> {
        match self {
            Credential::None => None,
            Credential::Bearer { .. } => Some("authorization"),
            Credential::Header { name, .. } => Some(name.as_str()),
            Credential::Login(l) => Some(l.token_header()),
        }
    }

    /// Add the credential to a request.
    pub fn apply(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::None => rb,
            Credential::Bearer { prefix, key } => bearer::apply(rb, prefix, key),
            Credential::Header { name, value } => header::apply(rb, name, value),
            Credential::Login(l) => l.apply(rb),
        }
    }

    /// Whether answers on this side set cookies worth keeping (a session's).
    pub fn keeps_cookies(&self) -> bool {
        matches!(self, Credential::Login(_))
    }
}
