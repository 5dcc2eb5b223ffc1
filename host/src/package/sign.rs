//! Signing packages with ed25519 (`ed25519-dalek`). A key file is one line of text,
//! `ferry-ed25519-secret <base64>` (the 32-byte seed) or `ferry-ed25519-public <base64>`; the
//! signature entry is JSON naming the public key and holding the signature of the manifest's
//! bytes, which list every other entry's sha256: one signature covers the whole package.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

const SECRET: &str = "ferry-ed25519-secret";
const PUBLIC: &str = "ferry-ed25519-public";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The signature entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    pub algorithm: String,
    /// the signer's public key (base64), for `package inspect`
    pub public_key: String,
    pub signature: String,
}

/// Make a key pair: the secret at `path` (readable by its owner only), the public key beside
/// it at `path.pub`. Refuses to overwrite either.
pub fn keygen(path: &Path) -> anyhow::Result<(std::path::PathBuf, String)> {
    let public_path = path.with_extension(match path.extension() {
        Some(e) => format!("{}.pub", e.to_string_lossy()),
        None => "pub".into(),
    });
    for p in [path, public_path.as_path()] {
        if p.exists() {
            anyhow::bail!("{} exists: ferry never overwrites a key", p.display());
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let public = b64().encode(key.verifying_key().as_bytes());
    write_private(path, &format!("{SECRET} {}\n", b64().encode(seed)))?;
    std::fs::write(&public_path, format!("{PUBLIC} {public}\n"))?;
    Ok((public_path, public))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn read_key(path: &Path, label: &str) -> anyhow::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read key {}: {e}", path.display()))?;
    let Some(rest) = text.trim().strip_prefix(label) else {
        anyhow::bail!(
            "{} is not a {label} key file (made by `ferry package keygen`)",
            path.display()
        );
    };
    let bytes = b64()
        .decode(rest.trim())
        .map_err(|e| anyhow::anyhow!("{}: bad base64: {e}", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{}: a key is 32 bytes", path.display()))
}

pub fn signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_key(path, SECRET)?))
}

pub fn verifying_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    VerifyingKey::from_bytes(&read_key(path, PUBLIC)?)
        .map_err(|e| anyhow::anyhow!("{}: not an ed25519 public key: {e}", path.display()))
}

pub fn sign(key: &SigningKey, manifest: &[u8]) -> SignatureEntry {
    SignatureEntry {
        algorithm: "ed25519".into(),
        public_key: b64().encode(key.verifying_key().as_bytes()),
        signature: b64().encode(key.sign(manifest).to_bytes()),
    }
}

/// Whether `entry` is `key`'s signature of `manifest`.
pub fn verify(key: &VerifyingKey, entry: &SignatureEntry, manifest: &[u8]) -> Result<(), String> {
    if entry.algorithm != "ed25519" {
        return Err(format!("unknown signature algorithm {:?}", entry.algorithm));
    }
    let bytes: [u8; 64] = b64()
        .decode(&entry.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 bytes of base64")?;
    key.verify(manifest, &Signature::from_bytes(&bytes))
        .map_err(|_| {
            if entry.public_key != b64().encode(key.as_bytes()) {
                format!(
                    "signed by another key ({}), not by the one given",
                    entry.public_key
                )
            } else {
                "the signature does not match the manifest".to_string()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let (pub_path, _) = keygen(&dir.path().join("k")).unwrap();
        let key = signing_key(&dir.path().join("k")).unwrap();
        let public = verifying_key(&pub_path).unwrap();
        let s = sign(&key, b"manifest");
        verify(&public, &s, b"manifest").unwrap();
        assert!(verify(&public, &s, b"manifesT").is_err());
        keygen(&dir.path().join("other")).unwrap();
        let other = verifying_key(&dir.path().join("other.pub")).unwrap();
        assert!(
            verify(&other, &s, b"manifest")
                .unwrap_err()
                .contains("another key")
        );
        assert!(keygen(&dir.path().join("k")).is_err(), "overwrote a key");
    }
}
