//! The library's integration tests: one binary, a module per area. They drive the plugin
//! runtimes and the transform hooks through the library alone; what needs the `ferry`
//! command is tested in `cli/tests/it`.

mod hooks;
mod host_registry;
mod paging_bounds;
mod redirects;
mod rhai_sandbox;
mod support;
mod tag_cloner;
mod wasm_sandbox;
