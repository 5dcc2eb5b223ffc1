//! The request log every emulated platform keeps: the benchmarks compute their bound from
//! it, and the tests check from it that a source received no write.

use serde::Serialize;

/// One request as the emulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    /// the org (or environment) it reached
    pub org: String,
    pub method: String,
    /// the path below the org (`tags/`), or the full path when no org was recognised
    pub path: String,
    pub query: String,
    pub status: u16,
    /// microseconds since the emulator started
    pub start_us: u64,
    pub end_us: u64,
}

impl LogEntry {
    /// Whether it could have changed something (not GET, HEAD or OPTIONS).
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

/// The requests other than GET/HEAD/OPTIONS that reached `org`.
pub fn writes_to(log: &[LogEntry], org: &str) -> Vec<LogEntry> {
    log.iter()
        .filter(|l| l.org == org && l.is_write())
        .cloned()
        .collect()
}
