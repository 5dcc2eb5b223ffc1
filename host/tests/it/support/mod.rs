//! What the library's tests share: the test plugins, a small tag server.

mod plugins;
mod tag_server;

pub(crate) use plugins::{cache_dir, plugin_dir, repo_root, test_plugins};
pub(crate) use tag_server::{TestServer, listed};
