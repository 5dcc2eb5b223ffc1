//! Platform keys of the sandbox: three tiers per org, stable for a given org name (so a
//! demo's keys do not change between runs) unless overridden.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a key may do: `read` (GET, HEAD, OPTIONS), `read_write` (+ POST, PUT, PATCH),
/// `full_access` (+ DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Read,
    ReadWrite,
    FullAccess,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Read, Tier::ReadWrite, Tier::FullAccess];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Read => "read",
            Tier::ReadWrite => "read_write",
            Tier::FullAccess => "full_access",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The least tier a method needs.
    pub fn needed_for(method: &axum::http::Method) -> Tier {
        match *method {
            axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS => {
                Tier::Read
            }
            axum::http::Method::DELETE => Tier::FullAccess,
            _ => Tier::ReadWrite,
        }
    }
}

/// The default key of `org` at `tier`: derived from the names, so stable across runs.
pub fn derived(org: &str, tier: Tier) -> String {
    let digest = Sha256::digest(format!("ferry-sandbox/{org}/{}", tier.name()).as_bytes());
    format!("sbx_{}_{}", tier.name(), &hex::encode(digest)[..24])
}

/// The three keys of one org.
#[derive(Debug, Clone, Serialize)]
pub struct OrgKeys {
    pub read: String,
    pub read_write: String,
    pub full_access: String,
}

impl OrgKeys {
    pub fn derived(org: &str) -> Self {
        OrgKeys {
            read: derived(org, Tier::Read),
            read_write: derived(org, Tier::ReadWrite),
            full_access: derived(org, Tier::FullAccess),
        }
    }

    pub fn set(&mut self, tier: Tier, key: String) {
        match tier {
            Tier::Read => self.read = key,
            Tier::ReadWrite => self.read_write = key,
            Tier::FullAccess => self.full_access = key,
        }
    }

    pub fn tier_of(&self, key: &str) -> Option<Tier> {
        // Constant-time enough for a local sandbox; the point is the tier logic.
        [
            (Tier::Read, &self.read),
            (Tier::ReadWrite, &self.read_write),
            (Tier::FullAccess, &self.full_access),
        ]
        .into_iter()
        .find(|(_, k)| k.as_str() == key)
        .map(|(t, _)| t)
    }
}
