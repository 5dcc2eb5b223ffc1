//! Ferry: promote a platform's configuration from one environment to another.
//!
//! The host supplies the capabilities (`net`: HTTP with credentials, paging and the
//! sandbox's network rules; `files`: streaming transfers), and runs untrusted plugins in
//! sandboxes (`plugin`: the WASM and Rhai runtimes, the registry that finds plugins, and the
//! platforms their manifests declare). `engine` plans and applies a promotion; `transform`
//! rewrites resources per environment (the rules and hooks of a `promotion` file);
//! `session` opens one promotion and drives it, for the `ferry` command (crate `ferry-cli`)
//! or any other front end. The emulated platforms are in crate `ferry-sandbox`.

// The front ends' API: what the CLI, the job server and other hosts of a run use.
pub use engine::OnConflict;
pub use engine::outcome::Outcome;
pub use engine::plan::PlanError;
pub use engine::progress::{NoProgress, PluginProgress, Progress};
pub use engine::report::Report;
pub use error::{Error, ErrorKind};
pub use host::Host;
pub use package::{Package, Trust};
pub use plugin::platform::{Given, Short};
pub use plugin::registry::Discovery;
pub use promotion::{EnvToml, Loaded};
pub use session::{EnvSpec, Session, Settings, Sides};
pub use settings::{Overrides, SideOverrides};

pub mod database;
pub mod defaults;
pub mod engine;
mod error;
pub mod files;
mod host;
pub mod json;
mod kinds;
pub mod lock;
pub mod net;
pub mod package;
pub mod plugin;
pub mod promotion;
pub mod redact;
pub mod rollout;
pub mod session;
pub mod settings;
pub mod state;
pub mod transform;
