//! Where ferry keeps what outlives a run on this machine: the creates journals, the
//! managed-resources records and the target leases. A leaf, so the lock and the engine both
//! read it without reaching into each other.

use std::path::PathBuf;

/// Ferry's state directory: `$FERRY_STATE_DIR`, else `$XDG_STATE_HOME/ferry/journal`, else
/// `~/.local/state/ferry/journal`. The creates journals and the managed-resources records
/// live there, one file each per target.
pub fn state_dir() -> Option<PathBuf> {
    std::env::var_os("FERRY_STATE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let base = std::env::var_os("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
                })?;
            Some(base.join("ferry").join("journal"))
        })
}
