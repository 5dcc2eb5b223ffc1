//! Third-party Python clients the fidelity tests and the comparative benchmark drive, each
//! installed once into its own virtualenv under `target/` (PyPI is reachable here):
//!
//! - Unstract's own clone tool (PyPI `unstract-client==1.7.1`, `python -m unstract.clone`),
//!   in `target/reference-venv`; `FERRY_REFERENCE_PYTHON` names another interpreter that has it.
//! - Strategy's SDK (PyPI `mstrio-py==11.6.10.101`, `import mstrio`), in `target/mstrio-venv`;
//!   `FERRY_MSTRIO_PYTHON` names another interpreter that has it. Its licence is proprietary:
//!   it is a test-only dependency, never vendored.
//! - The judges of `ferry serve`'s API contract (PyPI `openapi-spec-validator`, `schemathesis`),
//!   in `target/api-check-venv`; `FERRY_API_CHECK_PYTHON` names another interpreter.
#![allow(dead_code)] // the benchmark and the CLI's tests include this file; each uses one installer

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const PACKAGE: &str = "unstract-client==1.7.1";
pub(crate) const MSTRIO_PACKAGE: &str = "mstrio-py==11.6.10.101";
pub(crate) const API_CHECK_PACKAGES: [&str; 2] =
    ["openapi-spec-validator==0.9.0", "schemathesis==4.32.5"];

/// An interpreter that can run `python -m unstract.clone`, installing it on first use.
pub(crate) fn reference_python(repo_root: &Path) -> Result<PathBuf, String> {
    venv_python(
        repo_root,
        "FERRY_REFERENCE_PYTHON",
        "reference-venv",
        "unstract.clone",
        &[PACKAGE],
    )
}

/// An interpreter that can `import mstrio` (Strategy's SDK), installing it on first use.
pub(crate) fn mstrio_python(repo_root: &Path) -> Result<PathBuf, String> {
    venv_python(
        repo_root,
        "FERRY_MSTRIO_PYTHON",
        "mstrio-venv",
        "mstrio",
        &[MSTRIO_PACKAGE],
    )
}

/// An interpreter that can import the OpenAPI validator and fuzzer, installing them on first
/// use.
pub(crate) fn api_check_python(repo_root: &Path) -> Result<PathBuf, String> {
    venv_python(
        repo_root,
        "FERRY_API_CHECK_PYTHON",
        "api-check-venv",
        "openapi_spec_validator, schemathesis",
        &API_CHECK_PACKAGES,
    )
}

/// The interpreter named by `env_var` if set; otherwise `target/<venv>/bin/python`, first
/// creating the venv and installing `packages` into it unless `import <module>` already works.
fn venv_python(
    repo_root: &Path,
    env_var: &str,
    venv: &str,
    module: &str,
    packages: &[&str],
) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(p));
    }
    let venv = repo_root.join("target").join(venv);
    let python = venv.join("bin").join("python");
    let import = format!("import {module}");
    let ready = Command::new(&python)
        .args(["-c", import.as_str()])
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
            .args(["install", "--quiet"])
            .args(packages)
            .status()
            .map_err(|e| format!("pip: {e}"))?;
        if !pip.success() {
            return Err(format!("pip install {} failed", packages.join(" ")));
        }
    }
    Ok(python)
}
