//! API tokens and roles. The server's file holds each token's sha256, never the token: a
//! leaked config opens nothing. A request names its token as `Authorization: Bearer …`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do; each role may do what the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// read jobs, plans, reports, logs and packages
    Viewer,
    /// and start and cancel jobs
    Operator,
    /// and approve or reject the plans of promotions that ask for approval
    Approver,
    /// and delete finished jobs, reload the tokens
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    pub role: Role,
    /// lowercase hex
    pub sha256: String,
}

/// The hash the server's file keeps of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A new random token: `ferry_` and 32 random bytes in hex.
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(format!("ferry_{}", hex::encode(bytes)))
}

/// The token a presented secret is, if any. Every hash is compared in full, so the time
/// taken tells nothing about which one came close.
pub fn find<'a>(tokens: &'a [Token], presented: &str) -> Option<&'a Token> {
    let h = hash(presented);
    let mut found = None;
    for t in tokens {
        let same = t
            .sha256
            .bytes()
            .zip(h.bytes())
            .fold(t.sha256.len() ^ h.len(), |acc, (a, b)| {
                acc | (a ^ b) as usize
            });
        if same == 0 {
            found = Some(t);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_found_by_its_hash_only() {
        let secret = new_token().unwrap();
        let tokens = vec![Token {
            name: "ci".into(),
            role: Role::Operator,
            sha256: hash(&secret),
        }];
        assert_eq!(find(&tokens, &secret).map(|t| t.name.as_str()), Some("ci"));
        assert!(find(&tokens, "ferry_guess").is_none());
        assert!(
            find(&tokens, &tokens[0].sha256).is_none(),
            "the hash is not the token"
        );
        assert!(
            Role::Admin > Role::Approver
                && Role::Approver > Role::Operator
                && Role::Operator > Role::Viewer
        );
    }
}
