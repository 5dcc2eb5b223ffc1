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
    /// the request's JSON body, where the emulator keeps bodies (a test mode)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
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

/// The log an emulator keeps: every request with its times, counted from the emulator's
/// start.
pub struct RequestLog {
    entries: std::sync::Mutex<Vec<LogEntry>>,
    started: std::time::Instant,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            entries: std::sync::Mutex::new(vec![]),
            started: std::time::Instant::now(),
        }
    }
}

impl RequestLog {
    /// Time since the emulator started: a request's start, to give [`RequestLog::record`].
    pub fn now(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Log a request that began at `start` and ends now; its number in the log.
    pub fn record(
        &self,
        org: &str,
        method: &str,
        path: &str,
        query: &str,
        status: u16,
        start: std::time::Duration,
    ) -> u64 {
        let mut log = self.entries.lock().unwrap();
        let seq = log.len() as u64;
        log.push(LogEntry {
            seq,
            org: org.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            status,
            start_us: start.as_micros() as u64,
            end_us: self.now().as_micros() as u64,
            body: None,
        });
        seq
    }

    /// Keep the JSON body of the request numbered `seq` (an emulator's test mode).
    pub fn keep_body(&self, seq: u64, body: serde_json::Value) {
        if let Some(e) = self.entries().get_mut(seq as usize) {
            e.body = Some(body);
        }
    }

    /// The requests so far.
    pub fn entries(&self) -> std::sync::MutexGuard<'_, Vec<LogEntry>> {
        self.entries.lock().unwrap()
    }

    pub fn snapshot(&self) -> Vec<LogEntry> {
        self.entries().clone()
    }
}
