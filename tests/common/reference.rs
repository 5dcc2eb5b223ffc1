//! Unstract's own clone tool (PyPI `unstract-client==1.7.1`, `python -m unstract.clone`),
//! used by the fidelity test and the comparative benchmark. It is installed once into
//! `target/reference-venv`; `FERRY_REFERENCE_PYTHON` names another interpreter that has it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const PACKAGE: &str = "unstract-client==1.7.1";

/// An interpreter that can run `python -m unstract.clone`, installing it on first use.
pub fn reference_python(repo_root: &Path) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FERRY_REFERENCE_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = repo_root.join("target").join("reference-venv");
    let python = venv.join("bin").join("python");
    let ready = Command::new(&python)
        .args(["-c", "import unstract.clone"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .map_err(|e| format!("python3: {e}"))?;
        if !made.success() {
            return Err(format!("python3 -m venv {} failed", venv.display()));
        }
        let pip = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", PACKAGE])
            .status()
            .map_err(|e| format!("pip: {e}"))?;
        if !pip.success() {
            return Err(format!("pip install {PACKAGE} failed"));
        }
    }
    Ok(python)
}
