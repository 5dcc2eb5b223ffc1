//! The one table of defaults: what a run uses when neither a front end nor the promotion
//! file says. Every `Default` of the library's settings types reads from here. A leaf: it
//! imports nothing.

/// the platform of a run that names none (every flag of Unstract's clone tool works)
pub const PLATFORM: &str = "unstract";
pub const MAX_IN_FLIGHT: u32 = 32;
pub const ATTEMPTS: u32 = 5;
pub const CONNECT_TIMEOUT: u64 = 10;
pub const REQUEST_TIMEOUT: u64 = 120;
/// Plugin calls in flight. A create is a chain of requests, one after another, so this
/// is about how many requests apply keeps in flight: as many calls as the host has
/// slots keeps the slots full. Requests per host stay under MAX_IN_FLIGHT whatever it is.
pub const CONCURRENCY: u16 = 32;
pub const MAX_FILE_SIZE: u64 = 25 << 20;
/// what one listing may hold, whatever its server says (a server that ignores paging
/// or lies about its count is stopped there)
pub const MAX_LIST_ITEMS: u64 = 1_000_000;
pub const MAX_LIST_BYTES: u64 = 2 << 30;
/// seconds a run waits while another holds its target's lock
pub const LOCK_WAIT: u64 = 600;
