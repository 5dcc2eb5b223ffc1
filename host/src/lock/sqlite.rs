//! Leases in a small SQLite database under ferry's state directory (`locks.sqlite`), shared
//! by every ferry process on the machine (CLI runs, and the job server of `ferry serve`).
//! SQLite's transactions make taking a lease atomic across processes, which a lock file
//! cannot do safely once it must expire. A lease whose holder ran on this machine and is gone
//! (killed) is taken over at once.

use super::{LeaseInfo, LeaseStore, Taken, alive, now, this_host};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::PathBuf;
use std::time::Duration;

/// The locks database of one machine.
#[derive(Debug, Clone)]
pub struct SqliteLeases {
    path: PathBuf,
}

impl SqliteLeases {
    pub fn at(path: PathBuf) -> SqliteLeases {
        SqliteLeases { path }
    }

    fn open(&self) -> anyhow::Result<Connection> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let c = Connection::open(&self.path).map_err(|e| {
            anyhow::anyhow!("opening the locks database {}: {e}", self.path.display())
        })?;
        c.busy_timeout(Duration::from_secs(10))?;
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS target_leases (
                target TEXT PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                holder TEXT NOT NULL,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                acquired INTEGER NOT NULL,
                expires INTEGER NOT NULL
            );",
        )?;
        Ok(c)
    }
}

impl LeaseStore for SqliteLeases {
    fn try_acquire(
        &self,
        target: &str,
        holder: &str,
        ttl: Duration,
    ) -> anyhow::Result<Result<Taken, LeaseInfo>> {
        let mut c = self.open()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let t = now();
        // An expired lease is no one's, and neither is one whose holder, on this machine, has
        // died (SIGKILL): no need to wait for its lease to end.
        tx.execute(
            "DELETE FROM target_leases WHERE target = ?1 AND expires <= ?2",
            params![target, t],
        )?;
        let (host, pid) = (this_host(), std::process::id() as i64);
        let dead: Option<(String, i64)> = tx
            .query_row(
                "SELECT id, pid FROM target_leases WHERE target = ?1 AND host = ?2 AND pid != ?3",
                params![target, host, pid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .filter(|(_, p)| !alive(*p));
        if let Some((id, _)) = dead {
            tracing::info!("taking over lock {id}: its holder is no longer running");
            tx.execute("DELETE FROM target_leases WHERE id = ?1", params![id])?;
        }
        let held = tx
            .query_row(
                "SELECT id, target, holder, acquired, expires FROM target_leases WHERE target = ?1",
                params![target],
                row,
            )
            .optional()?;
        if let Some(h) = held {
            return Ok(Err(h));
        }
        let id = ulid::Ulid::new().to_string();
        tx.execute(
            "INSERT INTO target_leases (target, id, holder, host, pid, acquired, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![target, id, holder, host, pid, t, t + ttl.as_secs().max(1) as i64],
        )?;
        tx.commit()?;
        Ok(Ok(Taken { id, token: None }))
    }

    fn list(&self) -> anyhow::Result<Vec<LeaseInfo>> {
        let c = self.open()?;
        let mut q = c.prepare(
            "SELECT id, target, holder, acquired, expires FROM target_leases ORDER BY acquired",
        )?;
        let rows = q.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn unlock(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self
            .open()?
            .execute("DELETE FROM target_leases WHERE id = ?1", params![id])?
            > 0)
    }

    fn renew(&self, id: &str, ttl: Duration) -> anyhow::Result<bool> {
        let n = self.open()?.execute(
            "UPDATE target_leases SET expires = ?1 WHERE id = ?2",
            params![now() + ttl.as_secs().max(1) as i64, id],
        )?;
        Ok(n > 0)
    }

    fn holds(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self
            .open()?
            .query_row(
                "SELECT 1 FROM target_leases WHERE id = ?1 AND expires > ?2",
                params![id, now()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn describe(&self) -> String {
        format!("the locks database {}", self.path.display())
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeaseInfo> {
    Ok(LeaseInfo {
        id: r.get(0)?,
        target: r.get(1)?,
        holder: r.get(2)?,
        acquired: r.get(3)?,
        expires: r.get(4)?,
        token: None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_holder_at_a_time_until_released_expired_or_broken() {
        let dir = tempfile::tempdir().unwrap();
        let locks = super::super::Locks::at(dir.path().join("locks.sqlite"));
        super::super::conformance(&locks, "unstract");
    }

    #[test]
    fn a_mistyped_url_is_not_taken_for_a_file() {
        let e = super::super::Locks::from_spec("postgress://h/db").unwrap_err();
        assert!(e.to_string().contains("postgres:// URL"), "{e}");
    }
}
