//! Tests that need a program of the system (Debian's Chromium, later PostgreSQL): outside CI a
//! missing one is a notice naming the install command and the test is skipped; in CI
//! (`CI=true`, where `.ci/run` installs them) it is a failure, so a broken install cannot
//! pass unseen.

use std::path::Path;

/// Whether every one of `programs` is there. `what` names them for people, `install` is the
/// command that installs them.
pub(crate) fn has_programs(what: &str, programs: &[&str], install: &str) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "this test needs {what} ({} missing); install it with: {install}",
        missing.join(", ")
    );
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    false
}

/// CI runs set `CI=true` (`.ci/run` does, as most CI services do).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
