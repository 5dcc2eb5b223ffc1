//! Ferry: promote a platform's configuration from one environment to another.
//!
//! The host supplies the capabilities (`net`: HTTP with credentials, paging and the
//! sandbox's network rules; `files`: streaming transfers), and runs untrusted plugins in
//! sandboxes (`plugin`: the WASM and Rhai runtimes and the registry that finds plugins).
//! `engine` plans and applies a promotion; `transform` rewrites resources per environment
//! (the rules and hooks of a `promotion` file). `sandbox` emulates a platform for tests and
//! demos. `cli` is the `ferry` command.

pub mod cli;
pub mod engine;
pub mod files;
pub mod net;
pub mod plugin;
pub mod promotion;
pub mod sandbox;
pub mod session;
pub mod transform;
