//! What the emulators' tests share: the platforms' own Python clients, the checkout's root.

pub(crate) mod reference;

use std::path::PathBuf;

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
