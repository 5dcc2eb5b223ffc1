//! File contents moved by the host, source download -> target upload; bytes never enter
//! the plugin.

use crate::bindings::cloner::ferry::plugin::files as wit;
use crate::{Error, Result};

pub use wit::{Download, Encoding, JsonEnvelope, Moved, TransferOutcome, TransferRequest, Upload};

/// Stream one file from the source to the target.
pub fn transfer(req: &TransferRequest) -> Result<TransferOutcome> {
    wit::transfer(req).map_err(Error::from)
}

/// Sleep between polls of a server-side job without spending the plugin's CPU budget.
/// Returns [`Error::Cancelled`] when the run is being interrupted.
pub fn sleep_ms(ms: u32) -> Result<()> {
    crate::bindings::cloner::ferry::plugin::timer::sleep(ms).map_err(Error::from)
}
