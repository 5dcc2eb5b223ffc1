//! `ferry::Host` keeps the registries it loaded: a server's jobs share one, and a plugin
//! rebuilt in place is picked up without a restart.

use ferry::{Discovery, Host};
use std::sync::Arc;

#[tokio::test]
async fn a_registry_is_loaded_once_until_a_plugin_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tag.rhai");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/rhai/tag.rhai"
    );
    std::fs::copy(fixture, &script).unwrap();
    let host = Host::with_cache(None).unwrap();
    let discovery = Discovery {
        bundled: false,
        paths: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let first = host.registry(&discovery).await.unwrap();
    let again = host.registry(&discovery).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "loaded twice");
    assert!(first.kinds().any(|(k, _)| k.name == "tag"));
    // Another place to look is another registry.
    let other = tempfile::tempdir().unwrap();
    let elsewhere = Discovery {
        bundled: false,
        paths: vec![other.path().to_path_buf()],
        ..Default::default()
    };
    let empty = host.registry(&elsewhere).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &empty));
    // The script changes (a size the stamp sees): it is loaded again.
    let mut text = std::fs::read_to_string(&script).unwrap();
    text.push_str("\n// rebuilt\n");
    std::fs::write(&script, text).unwrap();
    let after = host.registry(&discovery).await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &after),
        "a changed plugin was not loaded again"
    );
}
