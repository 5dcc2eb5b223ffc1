//! The one launcher of a nested `cargo build` for the guest workspaces (`plugins/`,
//! `tests/plugins/`): the host's build script and the tests' support both include this file,
//! so the two cannot drift apart in what they strip from the outer build's environment.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `cargo build --release --target wasm32-wasip2` in `workspace`, into `target_dir` (its own
/// target directory, so the nested build never waits on the outer build's lock). Returns the
/// folder holding the built components.
pub(crate) fn build_guests(workspace: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir);
    // The outer build's flags, target, wrappers and features must not leak into the guest
    // build (a test binary's environment carries them too).
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_NET_OFFLINE")
            || k == "RUSTFLAGS"
            || k == "RUSTC_WRAPPER"
            || k == "RUSTC_WORKSPACE_WRAPPER"
            || k == "RUSTC"
            || k == "RUSTDOC"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo in {}: {e}", workspace.display()))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release --target wasm32-wasip2 in {} failed. \
             Is the guest target installed? Run: rustup target add wasm32-wasip2",
            workspace.display()
        ));
    }
    Ok(target_dir.join("wasm32-wasip2").join("release"))
}
