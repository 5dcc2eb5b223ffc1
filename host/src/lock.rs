//! One writer per target: a lease in a small SQLite database under ferry's state directory
//! (`locks.sqlite`), shared by every ferry process on the machine (CLI runs, and the job
//! server of `ferry serve`). A lease names its holder and expires unless its holder
//! renews it, so a crashed run frees its target by itself after the lease's time; `ferry
//! unlock ID` breaks one sooner, and a lease whose holder ran on this machine and is gone
//! (killed) is taken over at once. SQLite's transactions make taking a lease atomic across
//! processes, which a lock file cannot do safely once it must expire.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a lease lives without renewal; its holder renews it every third of that.
pub const TTL: Duration = Duration::from_secs(60);

/// A lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaseInfo {
    pub id: String,
    /// the target's identity (platform and URL)
    pub target: String,
    /// who holds it: `ferry clone (pid 4242, user ana)`
    pub holder: String,
    /// Unix seconds
    pub acquired: i64,
    pub expires: i64,
}

impl std::fmt::Display for LeaseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let left = self.expires.saturating_sub(now());
        write!(
            f,
            "{} is locked by {} (lock {}, lease ends in {left} s unless renewed)",
            self.target, self.holder, self.id
        )
    }
}

/// The locks database.
#[derive(Debug, Clone)]
pub struct Locks {
    path: PathBuf,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Locks {
    pub fn at(path: PathBuf) -> Locks {
        Locks { path }
    }

    /// The machine's locks, under ferry's state directory; `None` when there is none.
    pub fn standard() -> Option<Locks> {
        crate::state::state_dir().map(|d| Locks::at(d.join("locks.sqlite")))
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

    /// Take the lease of `target` for `ttl`, unless someone else holds it: then their lease.
    pub fn try_acquire(
        &self,
        target: &str,
        holder: &str,
        ttl: Duration,
    ) -> anyhow::Result<Result<Lease, LeaseInfo>> {
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
        Ok(Ok(Lease::start(self.clone(), id, target.to_string(), ttl)))
    }

    /// Every lease, expired ones included (they show as ending in 0 s).
    pub fn list(&self) -> anyhow::Result<Vec<LeaseInfo>> {
        let c = self.open()?;
        let mut q = c.prepare(
            "SELECT id, target, holder, acquired, expires FROM target_leases ORDER BY acquired",
        )?;
        let rows = q.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Break a lease by its id: whether there was one.
    pub fn unlock(&self, id: &str) -> anyhow::Result<bool> {
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
}

/// This machine's name, so that a lease's holder can be checked for life here only.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether a process of this machine runs. Where it cannot be known (no `/proc`), it is
/// taken as running, and its lease ends with its expiry.
fn alive(pid: i64) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeaseInfo> {
    Ok(LeaseInfo {
        id: r.get(0)?,
        target: r.get(1)?,
        holder: r.get(2)?,
        acquired: r.get(3)?,
        expires: r.get(4)?,
    })
}

/// A held lease: renewed in the background while it lives, released when dropped.
#[derive(Debug)]
pub struct Lease {
    locks: Locks,
    pub id: String,
    pub target: String,
    /// dropped (or sent on) to stop the renewer
    stop: Option<std::sync::mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl Lease {
    fn start(locks: Locks, id: String, target: String, ttl: Duration) -> Lease {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        // A thread, not a task: the lease must be renewed even while the runtime is busy.
        let (l, i) = (locks.clone(), id.clone());
        let renewer = std::thread::Builder::new()
            .name("ferry-lease".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(ttl / 3)
                {
                    match l.renew(&i, ttl) {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!("the lock {i} was broken by someone else (ferry unlock); another run may now write the target");
                            return;
                        }
                        Err(e) => tracing::warn!("cannot renew the lock {i}: {e:#}"),
                    }
                }
            })
            .ok();
        Lease {
            locks,
            id,
            target,
            stop: Some(stop),
            renewer,
        }
    }

    /// Stop renewing (the lease then ends at its expiry unless released).
    fn stop_renewing(&mut self) {
        self.stop.take();
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
impl Lease {
    /// Stop renewing without releasing: what a crashed holder leaves.
    fn abandon(mut self) {
        self.stop_renewing();
        std::mem::forget(self);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop_renewing();
        if let Err(e) = self.locks.unlock(&self.id) {
            tracing::warn!("cannot release the lock {}: {e:#}", self.id);
        }
    }
}

/// Who this process is, for a lease's holder: `ferry clone (pid 4242, user ana)`.
pub fn holder(what: &str) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("{what} (pid {}, user {user})", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_until_released_expired_or_broken() {
        let dir = tempfile::tempdir().unwrap();
        let locks = Locks::at(dir.path().join("locks.sqlite"));
        let a = locks
            .try_acquire("unstract prod", "a", TTL)
            .unwrap()
            .unwrap();
        let held = locks
            .try_acquire("unstract prod", "b", TTL)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (held.holder.as_str(), held.id.as_str()),
            ("a", a.id.as_str())
        );
        assert!(held.to_string().contains("locked by a"), "{held}");
        // Another target is free.
        let other = locks.try_acquire("unstract qa", "b", TTL).unwrap().unwrap();
        assert_eq!(locks.list().unwrap().len(), 2);
        drop(a);
        let b = locks
            .try_acquire("unstract prod", "b", TTL)
            .unwrap()
            .unwrap();
        // Broken by its id: free again.
        assert!(locks.unlock(&b.id).unwrap());
        assert!(!locks.unlock("no such lock").unwrap());
        b.abandon();
        let _c = locks
            .try_acquire("unstract prod", "c", TTL)
            .unwrap()
            .unwrap();
        drop(other);
        // An expired lease is taken over.
        let locks2 = Locks::at(dir.path().join("other.sqlite"));
        let d = locks2
            .try_acquire("t", "d", Duration::from_secs(1))
            .unwrap()
            .unwrap();
        let stale = d.id.clone();
        d.abandon();
        std::thread::sleep(Duration::from_millis(2100));
        let e = locks2.try_acquire("t", "e", TTL).unwrap().unwrap();
        assert_ne!(e.id, stale);
    }
}
