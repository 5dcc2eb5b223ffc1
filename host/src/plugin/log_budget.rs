//! How much one plugin or hook call may log: a plugin must not flood the logs (and a server
//! job's log, which keeps every line). Past the budget, lines are dropped and counted; the
//! call's end says how many.

/// Lines one call may log.
pub(crate) const LINES: u32 = 10_000;
/// Bytes one call may log (each line is also cut to 4096 characters).
pub(crate) const BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
pub(crate) struct LogBudget {
    lines: u32,
    bytes: usize,
    dropped: u64,
}

impl LogBudget {
    /// Whether a line of `len` bytes may be logged; if not, it is counted as dropped.
    pub(crate) fn take(&mut self, len: usize) -> bool {
        if self.lines >= LINES || self.bytes.saturating_add(len) > BYTES {
            self.dropped += 1;
            return false;
        }
        self.lines += 1;
        self.bytes += len;
        true
    }

    /// Say how many lines were dropped, if any.
    pub(crate) fn report(&self, plugin: &str) {
        if self.dropped > 0 {
            tracing::warn!(
                plugin,
                "{} log lines dropped: one call may log {LINES} lines or {} MiB",
                self.dropped,
                BYTES >> 20
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_budget_are_counted_not_logged() {
        let mut b = LogBudget::default();
        assert!((0..LINES).all(|_| b.take(10)));
        assert!(!b.take(1));
        assert!(!b.take(1));
        assert_eq!(b.dropped, 2);
        let mut b = LogBudget::default();
        assert!(b.take(BYTES));
        assert!(!b.take(1));
    }
}
