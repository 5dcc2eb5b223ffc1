//! Bindings for the exports of `ferry:plugin@1.2.0` (wit/v1.2.0). Its imports are served by
//! the 1.3.0 definitions in `v1_3` (a superset), and its types are 1.3.0's (the same
//! shapes), so a 1.2.0 cloner needs nothing here but its exports. Frozen, like its WIT.

wasmtime::component::bindgen!({
    path: "../wit/v1.2.0",
    world: "cloner-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "ferry:plugin/types": super::v1_3::types,
        "ferry:plugin/http": super::v1_3::ferry::plugin::http,
        "ferry:plugin/files": super::v1_3::ferry::plugin::files,
        "ferry:plugin/log": super::v1_3::ferry::plugin::log,
        "ferry:plugin/timer": super::v1_3::ferry::plugin::timer,
    },
});

/// The version in a 1.2.0 component's export names.
pub const VERSION: &str = "1.2.0";
