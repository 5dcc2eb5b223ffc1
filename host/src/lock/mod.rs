//! One writer per target: a lease per target, named by the target's identity, held by one
//! run at a time. A lease names its holder and expires unless its holder renews it, so a
//! crashed run frees its target by itself; `ferry unlock ID` breaks one sooner.
//!
//! Where leases live is a [`LeaseStore`], with two leaves: a SQLite file under ferry's state
//! directory (`sqlite`, the default: every ferry process of one machine) and a PostgreSQL
//! database (`postgres`: runs on several machines, such as two CI runners or several
//! `ferry serve` replicas). A lease taken from PostgreSQL carries a fencing token, a number
//! that only grows. Whatever the store, a run's writes pass the [`Fence`]: once its lease is
//! gone (broken, or expired and taken over), the run's next write to the target is refused.

mod postgres;
mod sqlite;

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use postgres::PostgresLeases;
pub use sqlite::SqliteLeases;

/// How long a lease lives without renewal; its holder renews it every third of that.
pub const TTL: Duration = Duration::from_secs(60);

/// How often a lease's thread looks at whether it still holds: a broken lease stops the run's
/// writes within this long.
pub const FENCE_EVERY: Duration = Duration::from_secs(1);

/// A lease as the store holds it.
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
    /// the fencing token (PostgreSQL): each lease of the store has a larger one than any
    /// before it
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<i64>,
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

/// A lease just taken: its id and, where the store gives one, its fencing token.
#[derive(Debug, Clone)]
pub struct Taken {
    pub id: String,
    pub token: Option<i64>,
}

/// Where leases live. Every call is synchronous: a lease is renewed from a thread of its
/// own, off the async runtime, and taken or checked rarely.
pub trait LeaseStore: Send + Sync + std::fmt::Debug {
    /// Take the lease of `target` for `ttl`, unless someone else holds it: then theirs.
    fn try_acquire(
        &self,
        target: &str,
        holder: &str,
        ttl: Duration,
    ) -> anyhow::Result<Result<Taken, LeaseInfo>>;
    /// Every lease, expired ones included.
    fn list(&self) -> anyhow::Result<Vec<LeaseInfo>>;
    /// Break a lease by its id: whether there was one.
    fn unlock(&self, id: &str) -> anyhow::Result<bool>;
    /// Extend a lease: false when it is no longer there.
    fn renew(&self, id: &str, ttl: Duration) -> anyhow::Result<bool>;
    /// Whether the lease is there and not expired.
    fn holds(&self, id: &str) -> anyhow::Result<bool>;
    /// How messages name the store (never with a password).
    fn describe(&self) -> String;
}

/// The store a run takes its leases from.
#[derive(Debug, Clone)]
pub struct Locks(Arc<dyn LeaseStore>);

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Locks {
    /// Leases in a SQLite file.
    pub fn at(path: std::path::PathBuf) -> Locks {
        Locks(Arc::new(SqliteLeases::at(path)))
    }

    /// `postgres://...` (or `postgresql://...`): leases in that database; a path: a SQLite
    /// file (see [`crate::database::Database::parse`]).
    pub fn from_spec(spec: &str) -> anyhow::Result<Locks> {
        use crate::database::Database;
        match Database::parse(spec).map_err(|e| anyhow::anyhow!("the lock store {e}"))? {
            Database::Postgres(url) => Ok(Locks(Arc::new(PostgresLeases::new(&url)?))),
            Database::Sqlite(path) => Ok(Locks::at(path)),
        }
    }

    /// The run's store: `FERRY_LOCK_STORE` when set, else the machine's SQLite file under
    /// ferry's state directory; `None` when there is neither.
    pub fn standard() -> anyhow::Result<Option<Locks>> {
        match std::env::var("FERRY_LOCK_STORE") {
            Ok(s) if !s.trim().is_empty() => Locks::from_spec(s.trim())
                .map(Some)
                .map_err(|e| anyhow::anyhow!("FERRY_LOCK_STORE: {e:#}")),
            _ => Ok(crate::state::state_dir().map(|d| Locks::at(d.join("locks.sqlite")))),
        }
    }

    pub fn describe(&self) -> String {
        self.0.describe()
    }

    /// Take the lease of `target` for `ttl` (renewed until the [`Lease`] is dropped), unless
    /// someone else holds it: then their lease.
    pub fn try_acquire(
        &self,
        target: &str,
        holder: &str,
        ttl: Duration,
    ) -> anyhow::Result<Result<Lease, LeaseInfo>> {
        Ok(match self.0.try_acquire(target, holder, ttl)? {
            Ok(t) => Ok(Lease::start(self.clone(), t, target.to_string(), ttl)),
            Err(held) => Err(held),
        })
    }

    pub fn list(&self) -> anyhow::Result<Vec<LeaseInfo>> {
        self.0.list()
    }

    pub fn unlock(&self, id: &str) -> anyhow::Result<bool> {
        self.0.unlock(id)
    }
}

/// This machine's name, so that a lease's holder can be checked for life here only.
pub(crate) fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether a process of this machine runs. Where it cannot be known (no `/proc`), it is
/// taken as running, and its lease ends with its expiry.
pub(crate) fn alive(pid: i64) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// A held lease: renewed in the background while it lives, released when dropped. Its thread
/// also looks every [`FENCE_EVERY`] at whether the lease still holds, so the [`Fence`] of the
/// run's writes is a flag to read, never a call to the store.
#[derive(Debug)]
pub struct Lease {
    locks: Locks,
    pub id: String,
    pub target: String,
    pub token: Option<i64>,
    /// set once the lease is known lost, or cannot be confirmed for half its time
    lost: Arc<AtomicBool>,
    /// dropped (or sent on) to stop the renewer
    stop: Option<std::sync::mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl Lease {
    fn start(locks: Locks, taken: Taken, target: String, ttl: Duration) -> Lease {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        // A thread, not a task: the lease must be renewed even while the runtime is busy.
        let (l, i, flag) = (locks.clone(), taken.id.clone(), lost.clone());
        let renewer = std::thread::Builder::new()
            .name("ferry-lease".into())
            .spawn(move || {
                let (mut renewed, mut confirmed) = (Instant::now(), Instant::now());
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(FENCE_EVERY.min(ttl / 3))
                {
                    let renew = renewed.elapsed() >= ttl / 3;
                    let answer = if renew {
                        l.0.renew(&i, ttl)
                    } else {
                        l.0.holds(&i)
                    };
                    match answer {
                        Ok(true) => {
                            confirmed = Instant::now();
                            if renew {
                                renewed = confirmed;
                            }
                        }
                        Ok(false) => {
                            tracing::warn!("the lock {i} was broken or taken over; this run writes no more to its target");
                            flag.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!("cannot reach the lock store for lock {i}: {e:#}");
                            // Unconfirmed for half its time, the lease may be another's
                            // before this run could know: fail closed.
                            if confirmed.elapsed() >= ttl / 2 {
                                tracing::warn!("the lock {i} could not be confirmed for {} s; this run writes no more to its target", confirmed.elapsed().as_secs());
                                flag.store(true, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                }
            })
            .ok();
        Lease {
            locks,
            id: taken.id,
            target,
            token: taken.token,
            lost,
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
    pub(crate) fn abandon(mut self) {
        self.stop_renewing();
        std::mem::forget(self);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.lost.store(true, Ordering::SeqCst);
        self.stop_renewing();
        if let Err(e) = self.locks.unlock(&self.id) {
            tracing::warn!("cannot release the lock {}: {e:#}", self.id);
        }
    }
}

/// What a run's writes to its target pass: while a lease is armed, a write goes only while
/// the lease's thread has not found it lost (its flag, read without a call). Unarmed (a plan,
/// or no store) it lets everything through.
#[derive(Debug, Clone, Default)]
pub struct Fence(Arc<Mutex<Option<Armed>>>);

#[derive(Debug)]
struct Armed {
    id: String,
    token: Option<i64>,
    lost: Arc<AtomicBool>,
}

impl Fence {
    /// Guard the writes with `lease` from now on.
    pub fn arm(&self, lease: &Lease) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Armed {
            id: lease.id.clone(),
            token: lease.token,
            lost: lease.lost.clone(),
        });
    }

    pub fn disarm(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Armed with `lease` until the guard is dropped.
    pub fn armed(&self, lease: &Lease) -> FenceGuard {
        self.arm(lease);
        FenceGuard(self.clone())
    }

    /// Ok to write, or why not.
    pub fn check(&self) -> Result<(), String> {
        let armed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match armed.as_ref() {
            Some(a) if a.lost.load(Ordering::SeqCst) => {
                let token = a.token.map(|t| format!(", token {t}")).unwrap_or_default();
                Err(format!(
                    "this run's lease on the target (lock {}{token}) was broken or taken over: it writes no more",
                    a.id
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Disarms its fence when dropped.
#[derive(Debug)]
pub struct FenceGuard(Fence);

impl Drop for FenceGuard {
    fn drop(&mut self) {
        self.0.disarm();
    }
}

/// Who this process is, for a lease's holder: `ferry clone (pid 4242, user ana)`.
pub fn holder(what: &str) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("{what} (pid {}, user {user})", std::process::id())
}

/// The behaviour every store must have, run on each (the PostgreSQL one where a server is
/// given).
#[cfg(test)]
pub(crate) fn conformance(locks: &Locks, tag: &str) {
    let target = |t: &str| format!("{tag} {t}");
    let a = locks
        .try_acquire(&target("prod"), "a", TTL)
        .unwrap()
        .unwrap();
    let held = locks
        .try_acquire(&target("prod"), "b", TTL)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (held.holder.as_str(), held.id.as_str()),
        ("a", a.id.as_str())
    );
    assert!(held.to_string().contains("locked by a"), "{held}");
    // Another target is free.
    let other = locks.try_acquire(&target("qa"), "b", TTL).unwrap().unwrap();
    assert!(locks.list().unwrap().len() >= 2);
    let fence = Fence::default();
    fence.arm(&a);
    assert!(fence.check().is_ok());
    drop(a);
    assert!(
        fence.check().unwrap_err().contains("writes no more"),
        "a released lease fences the writes"
    );
    // Broken by someone else: the lease's thread finds it within a second or so.
    let broken = locks
        .try_acquire(&target("broken"), "f", TTL)
        .unwrap()
        .unwrap();
    fence.arm(&broken);
    assert!(locks.unlock(&broken.id).unwrap());
    std::thread::sleep(FENCE_EVERY * 2 + Duration::from_millis(500));
    assert!(fence.check().is_err(), "a broken lease fences the writes");
    drop(broken);
    let b = locks
        .try_acquire(&target("prod"), "b", TTL)
        .unwrap()
        .unwrap();
    // Broken by its id: free again.
    assert!(locks.unlock(&b.id).unwrap());
    assert!(!locks.unlock("no such lock").unwrap());
    b.abandon();
    let _c = locks
        .try_acquire(&target("prod"), "c", TTL)
        .unwrap()
        .unwrap();
    drop(other);
    // An expired lease is taken over.
    let d = locks
        .try_acquire(&target("t"), "d", Duration::from_secs(1))
        .unwrap()
        .unwrap();
    let (stale, token) = (d.id.clone(), d.token);
    d.abandon();
    std::thread::sleep(Duration::from_millis(2100));
    let e = locks.try_acquire(&target("t"), "e", TTL).unwrap().unwrap();
    assert_ne!(e.id, stale);
    if let (Some(before), Some(after)) = (token, e.token) {
        assert!(after > before, "fencing tokens only grow");
    }
}

/// A PostgreSQL server for the tests: `FERRY_TEST_POSTGRES`, which `.ci/run` sets from the
/// throwaway cluster it starts. Without it a test says so and passes, except in CI.
#[cfg(test)]
pub(crate) fn test_postgres() -> Option<String> {
    match std::env::var("FERRY_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "FERRY_TEST_POSTGRES is not set: .ci/run starts a PostgreSQL cluster and sets it"
            )
        }
        _ => {
            eprintln!("skipped: no PostgreSQL (set FERRY_TEST_POSTGRES=postgres://...)");
            None
        }
    }
}
