//! Leases in PostgreSQL (`--lock-store postgres://...`, `FERRY_LOCK_STORE`): for runs on
//! several machines, two CI runners or several `ferry serve` replicas writing one target.
//! Times are the database's (`now()`), so machines whose clocks disagree agree on expiry; a
//! lease's fencing token comes from a sequence, so it only grows. A holder is never taken for
//! dead by its process id here: machines (or containers) may share a host name, so a lease
//! ends only by its expiry or `ferry unlock`.
//!
//! Each call opens its own connection on a thread of its own: the synchronous client runs a
//! small runtime of its own, which must not be started from the async runtime's threads, and
//! leases are taken, renewed and checked rarely (once a second at most, per run).

use super::{LeaseInfo, LeaseStore, Taken, this_host};
use postgres::{Client, NoTls};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PostgresLeases {
    url: String,
    /// the schema is known to be there: not made again on every call
    ready: Arc<AtomicBool>,
}

/// The schema, made if missing. One statement at a time: two first runs at once may both try,
/// and the loser's error is only that the object exists.
const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS ferry_target_leases (
        target TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        holder TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        acquired BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        token BIGINT NOT NULL
    )",
    "CREATE SEQUENCE IF NOT EXISTS ferry_lease_tokens",
];

/// The database's clock, in Unix seconds.
const NOW: &str = "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)";

impl PostgresLeases {
    pub fn new(url: &str) -> anyhow::Result<PostgresLeases> {
        url.parse::<postgres::Config>()
            .map_err(|e| anyhow::anyhow!("the lock store's URL is not a PostgreSQL one: {e}"))?;
        Ok(PostgresLeases {
            url: url.into(),
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Run `f` with a connection, on a thread of its own.
    fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> anyhow::Result<T> + Send,
    ) -> anyhow::Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut config: postgres::Config = self.url.parse()?;
                config.connect_timeout(Duration::from_secs(10));
                config.keepalives_idle(Duration::from_secs(30));
                let mut c = config
                    .connect(NoTls)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", self.describe()))?;
                if !self.ready.load(Ordering::SeqCst) {
                    for statement in SCHEMA {
                        if let Err(e) = c.batch_execute(statement) {
                            // Made meanwhile by another first run, or made before by a role
                            // that may create it where this one may only use it.
                            use postgres::error::SqlState;
                            let fine = e.code().is_some_and(|c| {
                                *c == SqlState::UNIQUE_VIOLATION
                                    || *c == SqlState::DUPLICATE_TABLE
                                    || *c == SqlState::DUPLICATE_OBJECT
                                    || *c == SqlState::INSUFFICIENT_PRIVILEGE
                            });
                            if !fine {
                                return Err(anyhow::anyhow!("{}: {e}", self.describe()));
                            }
                        }
                    }
                    self.ready.store(true, Ordering::SeqCst);
                }
                f(&mut c)
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the lock store's thread panicked")))
        })
    }
}

fn info(r: &postgres::Row) -> LeaseInfo {
    LeaseInfo {
        id: r.get(0),
        target: r.get(1),
        holder: r.get(2),
        acquired: r.get(3),
        expires: r.get(4),
        token: Some(r.get(5)),
    }
}

impl LeaseStore for PostgresLeases {
    fn try_acquire(
        &self,
        target: &str,
        holder: &str,
        ttl: Duration,
    ) -> anyhow::Result<Result<Taken, LeaseInfo>> {
        let ttl = ttl.as_secs().max(1) as i64;
        let (host, pid) = (this_host(), std::process::id() as i64);
        // The holder seen may release between the insert and the look at it: try again.
        for _ in 0..3 {
            let (target, holder, host) = (target.to_string(), holder.to_string(), host.clone());
            let attempt = self.with(move |c| {
                let mut tx = c.transaction()?;
                // An expired lease is no one's (by the database's clock).
                tx.execute(
                    &format!(
                        "DELETE FROM ferry_target_leases WHERE target = $1 AND expires <= {NOW}"
                    ),
                    &[&target],
                )?;
                let id = ulid::Ulid::new().to_string();
                // The primary key decides between two runs that get here at once.
                let made = tx.query_opt(
                    &format!(
                        "INSERT INTO ferry_target_leases (target, id, holder, host, pid, acquired, expires, token)
                         VALUES ($1, $2, $3, $4, $5, {NOW}, {NOW} + $6, nextval('ferry_lease_tokens'))
                         ON CONFLICT (target) DO NOTHING RETURNING token"
                    ),
                    &[&target, &id, &holder, &host, &pid, &ttl],
                )?;
                let out = match made {
                    Some(r) => Some(Ok(Taken {
                        id,
                        token: Some(r.get(0)),
                    })),
                    None => tx
                        .query_opt(
                            "SELECT id, target, holder, acquired, expires, token FROM ferry_target_leases WHERE target = $1",
                            &[&target],
                        )?
                        .map(|r| Err(info(&r))),
                };
                tx.commit()?;
                Ok(out)
            })?;
            if let Some(out) = attempt {
                return Ok(out);
            }
        }
        anyhow::bail!(
            "{}: the lease of {target} kept changing hands",
            self.describe()
        )
    }

    fn list(&self) -> anyhow::Result<Vec<LeaseInfo>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT id, target, holder, acquired, expires, token FROM ferry_target_leases ORDER BY acquired, token",
                &[],
            )?
            .iter()
            .map(info)
            .collect())
        })
    }

    fn unlock(&self, id: &str) -> anyhow::Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM ferry_target_leases WHERE id = $1", &[&id])? > 0))
    }

    fn renew(&self, id: &str, ttl: Duration) -> anyhow::Result<bool> {
        let ttl = ttl.as_secs().max(1) as i64;
        // Only a lease that has not expired: one past its time may already be another's.
        self.with(|c| {
            Ok(c.execute(
                &format!(
                    "UPDATE ferry_target_leases SET expires = {NOW} + $2 WHERE id = $1 AND expires > {NOW}"
                ),
                &[&id, &ttl],
            )? > 0)
        })
    }

    fn holds(&self, id: &str) -> anyhow::Result<bool> {
        self.with(|c| {
            Ok(c.query_opt(
                &format!("SELECT 1 FROM ferry_target_leases WHERE id = $1 AND expires > {NOW}"),
                &[&id],
            )?
            .is_some())
        })
    }

    fn describe(&self) -> String {
        let named = crate::database::Database::Postgres(self.url.clone()).describe();
        format!("the lock store {named}")
    }
}

#[cfg(test)]
mod tests {
    use crate::lock::LeaseStore;
    /// The store's behaviour on a real server: `FERRY_TEST_POSTGRES` (a URL), which `.ci/run`
    /// sets from the cluster it starts. Without it the test says so and passes, except in CI.
    #[test]
    fn one_holder_at_a_time_on_postgres() {
        let Some(url) = crate::lock::test_postgres() else {
            return;
        };
        let locks = super::super::Locks::from_spec(&url).unwrap();
        let tag = format!("pg-{}", ulid::Ulid::new());
        super::super::conformance(&locks, &tag);
        let named = super::PostgresLeases::new("postgres://u:secret1@h/db?password=secret2")
            .unwrap()
            .describe();
        assert!(!named.contains("secret"), "{named}");
    }
}
