//! The test plugins (`tests/plugins`, built for wasm32-wasip2) and the checkout's paths.
//! The CLI's tests include this file too: one copy of how the test plugins are built.

#[path = "../../../build/nested_cargo.rs"]
mod nested_cargo;

use std::path::PathBuf;
use std::sync::OnceLock;

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Build `tests/plugins` for wasm32-wasip2 (once per test binary; cargo finds nothing to do
/// the second time) and return the directory holding the components.
pub(crate) fn test_plugins() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = repo_root();
            nested_cargo::build_guests(
                &root.join("tests/plugins"),
                &root.join("target").join("plugins"),
            )
            .unwrap_or_else(|e| panic!("building the test plugins: {e}"))
        })
        .clone()
}

/// A compile cache shared by the tests of this checkout (the runtime's on-disk cache), so
/// each test does not recompile the same component.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    Some(repo_root().join("target").join("test-wasm-cache"))
}

/// The component of a test plugin, with its manifest, copied into a fresh directory.
pub(crate) fn plugin_dir(crate_name: &str) -> tempfile::TempDir {
    let built = test_plugins();
    let dir = tempfile::tempdir().unwrap();
    let stem = crate_name.replace('-', "_");
    std::fs::copy(
        built.join(format!("{stem}.wasm")),
        dir.path().join(format!("{stem}.wasm")),
    )
    .unwrap();
    let manifest = repo_root()
        .join("tests/plugins")
        .join(crate_name.trim_start_matches("ferry-"))
        .join("plugin.toml");
    if manifest.exists() {
        std::fs::copy(manifest, dir.path().join(format!("{stem}.toml"))).unwrap();
    }
    dir
}
