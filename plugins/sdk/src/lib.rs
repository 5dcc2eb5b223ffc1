//! The Ferry plugin SDK: write a cloner for a new kind of resource as one short file.
//!
//! A cloner implements [`Kind`] for a unit struct and the crate exports every kind it has
//! with [`export_cloner!`]:
//!
//! ```ignore
//! use ferry_sdk::prelude::*;
//!
//! #[derive(Default)]
//! pub struct Tag;
//!
//! impl Kind for Tag {
//!     fn info(&self) -> KindInfo { KindInfo::new("tag", "Tags").key(["/name"]) }
//!     fn list(&self, _ctx: &Ctx) -> Result<Vec<Resource>> { /* http::list_all(...) */ }
//!     fn find(&self, _ctx: &Ctx, wanted: &Resource) -> Result<Option<Resource>> { /* ... */ }
//!     fn create(&self, _ctx: &Ctx, res: &Resource) -> Result<Resource> { /* ... */ }
//! }
//!
//! ferry_sdk::export_cloner!(Tag);
//! ```
//!
//! The wit-bindgen bindings stay inside this crate ([`bindings`]); plugins see plain Rust
//! types and `serde_json::Value` bodies. The host adds credentials, follows pages, retries
//! and streams files: a plugin only says what to ask for.

pub mod files;
pub mod http;
pub mod log;
pub mod timer;
mod types;

pub use serde_json::{self, Value, json};
pub use types::*;

/// Generated bindings of `ferry:plugin@1.3.0`. Plugins do not need them directly.
#[doc(hidden)]
pub mod bindings {
    pub mod cloner {
        wit_bindgen::generate!({
            path: "../../wit/v1.3.0",
            world: "cloner-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_cloner_world",
            default_bindings_module: "ferry_sdk::bindings::cloner",
        });
    }
}

/// Everything a cloner file needs.
pub mod prelude {
    pub use crate::files;
    pub use crate::http::{self, Paging, Response};
    pub use crate::log;
    pub use crate::timer;
    pub use crate::{Ctx, Error, Kind, KindInfo, Resource, Result, Side, Value, json, require_str};
}

/// Export one or more [`Kind`] implementations (unit structs with `Default`) as the
/// plugin's `cloner` interface.
#[macro_export]
macro_rules! export_cloner {
    ($($kind:ty),+ $(,)?) => {
        #[doc(hidden)]
        pub struct __FerryCloner;

        impl __FerryCloner {
            fn __kinds() -> ::std::vec::Vec<::std::boxed::Box<dyn $crate::Kind>> {
                ::std::vec![$(::std::boxed::Box::new(<$kind as ::std::default::Default>::default())),+]
            }
        }

        impl $crate::bindings::cloner::exports::ferry::plugin::cloner::Guest for __FerryCloner {
            fn kinds() -> ::std::vec::Vec<$crate::bindings::cloner::ferry::plugin::types::KindInfo> {
                $crate::rt::kinds(&Self::__kinds())
            }
            fn list(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::cloner::ferry::plugin::types::Resource>,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::list(&Self::__kinds(), ctx, &kind)
            }
            fn find(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                wanted: $crate::bindings::cloner::ferry::plugin::types::Resource,
            ) -> ::std::result::Result<
                ::std::option::Option<$crate::bindings::cloner::ferry::plugin::types::Resource>,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::find(&Self::__kinds(), ctx, &kind, wanted)
            }
            fn find_all(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                wanted: ::std::vec::Vec<$crate::bindings::cloner::ferry::plugin::types::Resource>,
            ) -> ::std::result::Result<
                ::std::option::Option<::std::vec::Vec<::std::option::Option<$crate::bindings::cloner::ferry::plugin::types::Resource>>>,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::find_all(&Self::__kinds(), ctx, &kind, wanted)
            }
            fn create(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                res: $crate::bindings::cloner::ferry::plugin::types::Resource,
            ) -> ::std::result::Result<
                $crate::bindings::cloner::ferry::plugin::types::Resource,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::create(&Self::__kinds(), ctx, &kind, res)
            }
            fn update(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                target_id: ::std::string::String,
                res: $crate::bindings::cloner::ferry::plugin::types::Resource,
            ) -> ::std::result::Result<
                $crate::bindings::cloner::ferry::plugin::types::Resource,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::update(&Self::__kinds(), ctx, &kind, target_id, res)
            }
            fn support() -> ::std::vec::Vec<$crate::bindings::cloner::ferry::plugin::types::KindSupport> {
                $crate::rt::support(&Self::__kinds())
            }
            fn delete(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                target: $crate::bindings::cloner::ferry::plugin::types::Resource,
            ) -> ::std::result::Result<(), $crate::bindings::cloner::ferry::plugin::types::Error> {
                $crate::rt::delete(&Self::__kinds(), ctx, &kind, target)
            }
            fn update_fields(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                target_id: ::std::string::String,
                res: $crate::bindings::cloner::ferry::plugin::types::Resource,
                fields: ::std::vec::Vec<::std::string::String>,
            ) -> ::std::result::Result<
                $crate::bindings::cloner::ferry::plugin::types::Resource,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::update_fields(&Self::__kinds(), ctx, &kind, target_id, res, fields)
            }
            fn copy_files(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                source: $crate::bindings::cloner::ferry::plugin::types::Resource,
                target: $crate::bindings::cloner::ferry::plugin::types::Resource,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::copy_files(&Self::__kinds(), ctx, &kind, source, target)
            }
            fn export(
                ctx: $crate::bindings::cloner::ferry::plugin::types::CallContext,
                kind: ::std::string::String,
                res: $crate::bindings::cloner::ferry::plugin::types::Resource,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::cloner::ferry::plugin::types::Error,
            > {
                $crate::rt::export(&Self::__kinds(), ctx, &kind, res)
            }
        }

        $crate::bindings::cloner::__export_cloner_world!(__FerryCloner with_types_in $crate::bindings::cloner);
    };
}

/// The glue between the generated `Guest` trait and [`Kind`]; called by [`export_cloner!`].
#[doc(hidden)]
pub mod rt {
    use crate::bindings::cloner::ferry::plugin::types as wit;
    use crate::{Ctx, Error, Kind, Resource};

    fn pick<'a>(kinds: &'a [Box<dyn Kind>], name: &str) -> Result<&'a dyn Kind, wit::Error> {
        kinds
            .iter()
            .find(|k| k.info().name == name)
            .map(|k| k.as_ref())
            .ok_or_else(|| wit::Error::Invalid(format!("this plugin has no kind {name:?}")))
    }

    pub fn kinds(kinds: &[Box<dyn Kind>]) -> Vec<wit::KindInfo> {
        kinds.iter().map(|k| k.info().into()).collect()
    }

    pub fn list(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
    ) -> Result<Vec<wit::Resource>, wit::Error> {
        let k = pick(kinds, kind)?;
        let ctx = Ctx::from(ctx);
        Ok(k.list(&ctx)
            .map_err(Error::into_wit)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn find(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        wanted: wit::Resource,
    ) -> Result<Option<wit::Resource>, wit::Error> {
        let k = pick(kinds, kind)?;
        let wanted = Resource::try_from(wanted).map_err(Error::into_wit)?;
        Ok(k.find(&Ctx::from(ctx), &wanted)
            .map_err(Error::into_wit)?
            .map(Into::into))
    }

    pub fn find_all(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        wanted: Vec<wit::Resource>,
    ) -> Result<Option<Vec<Option<wit::Resource>>>, wit::Error> {
        let k = pick(kinds, kind)?;
        let wanted = wanted
            .into_iter()
            .map(Resource::try_from)
            .collect::<crate::Result<Vec<_>>>()
            .map_err(Error::into_wit)?;
        let found = k
            .find_all(&Ctx::from(ctx), &wanted)
            .map_err(Error::into_wit)?;
        Ok(found.map(|f| f.into_iter().map(|r| r.map(Into::into)).collect()))
    }

    pub fn create(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        res: wit::Resource,
    ) -> Result<wit::Resource, wit::Error> {
        let k = pick(kinds, kind)?;
        let res = Resource::try_from(res).map_err(Error::into_wit)?;
        Ok(k.create(&Ctx::from(ctx), &res)
            .map_err(Error::into_wit)?
            .into())
    }

    pub fn update(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        target_id: String,
        res: wit::Resource,
    ) -> Result<wit::Resource, wit::Error> {
        let k = pick(kinds, kind)?;
        let res = Resource::try_from(res).map_err(Error::into_wit)?;
        Ok(k.update(&Ctx::from(ctx), &target_id, &res)
            .map_err(Error::into_wit)?
            .into())
    }

    pub fn support(kinds: &[Box<dyn Kind>]) -> Vec<wit::KindSupport> {
        kinds.iter().map(|k| (&k.info()).into()).collect()
    }

    pub fn delete(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        target: wit::Resource,
    ) -> Result<(), wit::Error> {
        let k = pick(kinds, kind)?;
        let target = Resource::try_from(target).map_err(Error::into_wit)?;
        k.delete(&Ctx::from(ctx), &target).map_err(Error::into_wit)
    }

    pub fn update_fields(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        target_id: String,
        res: wit::Resource,
        fields: Vec<String>,
    ) -> Result<wit::Resource, wit::Error> {
        let k = pick(kinds, kind)?;
        let res = Resource::try_from(res).map_err(Error::into_wit)?;
        Ok(k.update_fields(&Ctx::from(ctx), &target_id, &res, &fields)
            .map_err(Error::into_wit)?
            .into())
    }

    pub fn copy_files(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        source: wit::Resource,
        target: wit::Resource,
    ) -> Result<String, wit::Error> {
        let k = pick(kinds, kind)?;
        let source = Resource::try_from(source).map_err(Error::into_wit)?;
        let target = Resource::try_from(target).map_err(Error::into_wit)?;
        let summary = k
            .copy_files(&Ctx::from(ctx), &source, &target)
            .map_err(Error::into_wit)?;
        Ok(summary.to_string())
    }

    pub fn export(
        kinds: &[Box<dyn Kind>],
        ctx: wit::CallContext,
        kind: &str,
        res: wit::Resource,
    ) -> Result<String, wit::Error> {
        let k = pick(kinds, kind)?;
        let res = Resource::try_from(res).map_err(Error::into_wit)?;
        Ok(k.export(&Ctx::from(ctx), &res)
            .map_err(Error::into_wit)?
            .to_string())
    }
}
