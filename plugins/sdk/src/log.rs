//! Log lines into the host's tracing output, tagged with the plugin's name by the host.

use crate::bindings::cloner::ferry::plugin::log::{Level, write};

pub fn debug(msg: impl AsRef<str>) {
    write(Level::Debug, msg.as_ref());
}
pub fn info(msg: impl AsRef<str>) {
    write(Level::Info, msg.as_ref());
}
pub fn warn(msg: impl AsRef<str>) {
    write(Level::Warn, msg.as_ref());
}
pub fn error(msg: impl AsRef<str>) {
    write(Level::Error, msg.as_ref());
}
