//! File contents moved by the host, source download -> target upload; bytes never enter
//! the plugin.

use crate::bindings::cloner::ferry::plugin::files as wit;
use crate::{Error, Result};

pub use wit::{Download, Encoding, JsonEnvelope, Moved, TransferOutcome, TransferRequest, Upload};

/// Stream one file from the source to the target.
pub fn transfer(req: &TransferRequest) -> Result<TransferOutcome> {
    wit::transfer(req).map_err(Error::from)
}

/// Kept for plugins written before [`crate::timer`]: the same as `timer::sleep_ms`.
pub fn sleep_ms(ms: u32) -> Result<()> {
    crate::timer::sleep_ms(ms)
}
