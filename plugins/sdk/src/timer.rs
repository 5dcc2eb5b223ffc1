//! Waiting on a server-side job: sleeps that cost no CPU budget, and progress the host shows
//! on its progress bar and in the run's events.

use crate::bindings::cloner::ferry::plugin::timer as wit;
use crate::{Error, Result};

/// Sleep between polls without spending the plugin's CPU budget. Returns
/// [`Error::Cancelled`] when the run is being interrupted: cancel the job and return.
pub fn sleep_ms(ms: u32) -> Result<()> {
    wit::sleep(ms).map_err(Error::from)
}

/// Say how a long call is going: `percent` 0-100 (higher is taken as 100) and a short
/// message, such as the server's status. The host keeps the first 512 characters.
pub fn progress(percent: u8, message: &str) {
    wit::progress(percent, message)
}
