//! The Ferry transform-hook SDK. A hook implements [`Hook`] and exports it with
//! [`export_hook!`]:
//!
//! ```ignore
//! use ferry_hook_sdk::{Context, Hook, Outcome, Resource};
//!
//! struct Upper;
//! impl Hook for Upper {
//!     fn apply(_ctx: &Context, mut res: Resource) -> Result<Outcome, String> {
//!         res.key = res.key.to_uppercase();
//!         Ok(Outcome::Keep(res))
//!     }
//! }
//! ferry_hook_sdk::export_hook!(Upper);
//! ```
//!
//! A hook runs in the same sandbox as a Rhai hook: it imports only `log` (no network, no
//! files) and runs under CPU, memory and output limits. It is a crate of its own, apart from
//! the cloner SDK, because a component implements one world.

pub use serde_json::{self, Value, json};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v1.1.0",
        world: "transform-hook",
        pub_export_macro: true,
        export_macro_name: "__export_hook_world",
        default_bindings_module: "ferry_hook_sdk::bindings",
    });
}

use bindings::exports::ferry::plugin::transform as wt;
use bindings::ferry::plugin::types as wtypes;

/// What the hook is told besides the resource.
#[derive(Debug, Clone)]
pub struct Context {
    /// environment names: "dev", "prod"
    pub source_env: String,
    pub target_env: String,
    pub kind: String,
    /// the hook's `with = { ... }` table
    pub params: Value,
}

impl Context {
    /// A string parameter, or `default`.
    pub fn param<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.params
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or(default)
    }
}

/// One resource. Change `body`, or `key` to rename (the host writes a new key into the
/// kind's key fields).
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub id: String,
    pub key: String,
    pub body: Value,
}

/// A hook's answer.
pub enum Outcome {
    /// the resource, changed or not
    Keep(Resource),
    /// leave it behind, with the reason
    Skip(String),
}

pub trait Hook {
    /// Transform one resource; an `Err` fails this resource (the run goes on).
    fn apply(ctx: &Context, res: Resource) -> Result<Outcome, String>;
}

/// Log a line through the host (it lands in ferry's log, tagged with the hook's name).
pub fn log(message: &str) {
    bindings::ferry::plugin::log::write(bindings::ferry::plugin::log::Level::Info, message);
}

#[doc(hidden)]
pub fn run<H: Hook>(ctx: wt::HookContext, res: wtypes::Resource) -> Result<wt::Outcome, String> {
    let params =
        serde_json::from_str(&ctx.params).map_err(|e| format!("params are not JSON: {e}"))?;
    let body = serde_json::from_str(&res.body)
        .map_err(|e| format!("body of {} {:?} is not JSON: {e}", res.kind, res.key))?;
    let skip = res.skip.clone();
    let ctx = Context {
        source_env: ctx.source_env,
        target_env: ctx.target_env,
        kind: ctx.kind,
        params,
    };
    let res = Resource {
        kind: res.kind,
        id: res.id,
        key: res.key,
        body,
    };
    Ok(match H::apply(&ctx, res)? {
        Outcome::Keep(r) => wt::Outcome::Keep(wtypes::Resource {
            kind: r.kind,
            id: r.id,
            key: r.key,
            body: r.body.to_string(),
            skip,
        }),
        Outcome::Skip(why) => wt::Outcome::Skip(why),
    })
}

/// Export a [`Hook`] as the component's `transform` interface.
#[macro_export]
macro_rules! export_hook {
    ($hook:ty) => {
        #[doc(hidden)]
        pub struct __FerryHook;
        impl $crate::bindings::exports::ferry::plugin::transform::Guest for __FerryHook {
            fn apply(
                ctx: $crate::bindings::exports::ferry::plugin::transform::HookContext,
                res: $crate::bindings::ferry::plugin::types::Resource,
            ) -> ::std::result::Result<$crate::bindings::exports::ferry::plugin::transform::Outcome, ::std::string::String> {
                $crate::run::<$hook>(ctx, res)
            }
        }
        $crate::bindings::__export_hook_world!(__FerryHook with_types_in $crate::bindings);
    };
}
