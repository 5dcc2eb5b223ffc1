//! The job store in PostgreSQL (`store = "postgres://..."`, or `FERRY_STORE_URL`): a
//! database several servers can share. The schema is the SQLite store's, step for step, in
//! PostgreSQL's dialect; applied steps are counted in `ferry_migrations`.
//!
//! The synchronous client runs a small runtime of its own, which must not be started from the
//! server's async threads: one connection lives on a thread of its own, and each call is sent
//! to it and waited for (a statement or two, as with SQLite).

use super::{Doc, JobStore};
use crate::job::{Job, Line, Status};
use postgres::{Client, NoTls};
use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

/// The migrations, in order; a released step never changes (as in `sqlite`).
const MIGRATIONS: [&str; 1] = ["CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        record TEXT NOT NULL,
        plan TEXT,
        report TEXT
    );
    CREATE INDEX jobs_status ON jobs(status);
    CREATE TABLE job_log (
        job TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (job, seq)
    );"];

type Work = Box<dyn FnOnce(&mut Client) + Send>;

pub struct PostgresStore {
    work: Mutex<Sender<Work>>,
}

fn sql(e: postgres::Error) -> anyhow::Error {
    anyhow::anyhow!("job store: {e}")
}

fn connect(url: &str) -> anyhow::Result<Client> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| anyhow::anyhow!("the job store's URL is not a PostgreSQL one: {e}"))?;
    config.connect_timeout(Duration::from_secs(10));
    // A dead peer is noticed (its session lock then freed) in minutes, not hours; a statement
    // never waits forever (the server calls the store under its locks).
    config.keepalives_idle(Duration::from_secs(30));
    config.options("-c statement_timeout=30000");
    config
        .connect(NoTls)
        .map_err(|e| anyhow::anyhow!("cannot open the job store {}: {e}", describe(url)))
}

fn describe(url: &str) -> String {
    super::StoreAt::Postgres(url.into()).describe()
}

/// Apply the steps not applied yet, under a lock that makes two servers starting at once
/// take turns.
fn migrate(c: &mut Client) -> anyhow::Result<()> {
    let mut tx = c.transaction().map_err(sql)?;
    // One number for ferry's job store: any other use of advisory locks keeps clear of it.
    tx.execute("SELECT pg_advisory_xact_lock(7262011)", &[])
        .map_err(sql)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ferry_migrations (step INTEGER PRIMARY KEY)")
        .map_err(sql)?;
    let done: i64 = tx
        .query_one("SELECT COUNT(*) FROM ferry_migrations", &[])
        .map_err(sql)?
        .get(0);
    for (i, step) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        tx.batch_execute(step).map_err(sql)?;
        tx.execute(
            "INSERT INTO ferry_migrations (step) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)?;
    Ok(())
}

/// One server per database, until replicas claim jobs: two servers sharing one would each
/// resume the other's unfinished jobs at start. The connection holds a session lock for the
/// server's life; a second server waits a few seconds for it (a restart: the old server's
/// connection is closing), then refuses to start.
fn only_server(c: &mut Client, url: &str) -> anyhow::Result<()> {
    let waited = std::time::Instant::now();
    loop {
        let got: bool = c
            .query_one("SELECT pg_try_advisory_lock(7262012)", &[])
            .map_err(sql)?
            .get(0);
        if got {
            return Ok(());
        }
        if waited.elapsed() > Duration::from_secs(5) {
            anyhow::bail!(
                "another ferry serve uses the job store {}: several servers on one database are not supported yet",
                describe(url)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl PostgresStore {
    pub fn open(url: &str) -> anyhow::Result<PostgresStore> {
        let (tx, rx) = channel::<Work>();
        let (opened, open_rx) = channel::<anyhow::Result<()>>();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("ferry-job-store".into())
            .spawn(move || {
                // Connected and migrated here too: the caller may be on the async runtime.
                let first = connect(&url).and_then(|mut c| {
                    migrate(&mut c).map_err(|e| {
                        anyhow::anyhow!("migrating the job store {}: {e}", describe(&url))
                    })?;
                    only_server(&mut c, &url)?;
                    Ok(c)
                });
                let mut client = match first {
                    Ok(c) => {
                        let _ = opened.send(Ok(()));
                        Some(c)
                    }
                    Err(e) => {
                        let _ = opened.send(Err(e));
                        return;
                    }
                };
                for work in rx {
                    // A connection lost (the database restarted) is opened again for the
                    // next call; the call that saw it fails.
                    if client.as_ref().is_none_or(|c| c.is_closed()) {
                        // The session lock went with the old connection: take it again, or
                        // serve no more (another server may have started meanwhile).
                        client = connect(&url)
                            .and_then(|mut c| only_server(&mut c, &url).map(|_| c))
                            .map_err(|e| tracing::warn!("{e:#}"))
                            .ok();
                    }
                    match client.as_mut() {
                        Some(c) => work(c),
                        // Dropping the work drops its answer's sender: the caller hears of it.
                        None => drop(work),
                    }
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start the job store's thread: {e}"))?;
        open_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the job store's thread stopped"))??;
        Ok(PostgresStore {
            work: Mutex::new(tx),
        })
    }

    /// Run `f` on the store's connection and wait for its answer.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = channel();
        self.work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| anyhow::anyhow!("job store: its thread has stopped"))?;
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(answer) => answer,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(anyhow::anyhow!(
                "job store: the database did not answer within 60 s"
            )),
            Err(_) => Err(anyhow::anyhow!("job store: the database cannot be reached")),
        }
    }
}

fn record(json: &str) -> anyhow::Result<Job> {
    Ok(serde_json::from_str(json)?)
}

impl JobStore for PostgresStore {
    fn put(&self, job: &Job) -> anyhow::Result<()> {
        let record = serde_json::to_string(job)?;
        let (id, status) = (job.id.clone(), job.status.name().to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO jobs (id, status, record) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET status = $2, record = $3",
                &[&id, &status, &record],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn get(&self, id: &str) -> anyhow::Result<Option<Job>> {
        let id = id.to_string();
        let r: Option<String> = self.call(move |c| {
            Ok(c.query_opt("SELECT record FROM jobs WHERE id = $1", &[&id])
                .map_err(sql)?
                .map(|r| r.get(0)))
        })?;
        r.as_deref().map(record).transpose()
    }

    fn list(
        &self,
        statuses: &[Status],
        mode: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<(Vec<Job>, usize)> {
        // Every value is bound: empty filters match all.
        let names: Vec<String> = statuses.iter().map(|s| s.name().to_string()).collect();
        let mode = mode.map(str::to_string);
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let (offset, limit) = (as_i64(offset), as_i64(limit));
        let (rows, total): (Vec<String>, i64) = self.call(move |c| {
            const FILTER: &str = "WHERE (cardinality($1::text[]) = 0 OR status = ANY($1))
                AND ($2::text IS NULL OR (record::jsonb)->>'mode' = $2)";
            let total: i64 = c
                .query_one(
                    &format!("SELECT COUNT(*) FROM jobs {FILTER}"),
                    &[&names, &mode],
                )
                .map_err(sql)?
                .get(0);
            let rows = c
                .query(
                    &format!(
                        "SELECT record FROM jobs {FILTER} ORDER BY id DESC LIMIT $3 OFFSET $4"
                    ),
                    &[&names, &mode, &limit, &offset],
                )
                .map_err(sql)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok((rows, total))
        })?;
        let jobs = rows
            .iter()
            .map(|r| record(r))
            .collect::<anyhow::Result<Vec<Job>>>()?;
        Ok((jobs, total as usize))
    }

    fn unfinished(&self) -> anyhow::Result<Vec<Job>> {
        let rows: Vec<String> = self.call(|c| {
            Ok(c.query(
                "SELECT record FROM jobs WHERE status IN ('queued','running','cancelling') ORDER BY id",
                &[],
            )
            .map_err(sql)?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })?;
        rows.iter().map(|r| record(r)).collect()
    }

    fn put_doc(&self, id: &str, what: Doc, json: &str) -> anyhow::Result<()> {
        let (id, json) = (id.to_string(), json.to_string());
        self.call(move |c| {
            c.execute(
                &format!("UPDATE jobs SET {} = $2 WHERE id = $1", what.column()),
                &[&id, &json],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn doc(&self, id: &str, what: Doc) -> anyhow::Result<Option<String>> {
        let id = id.to_string();
        self.call(move |c| {
            Ok(c.query_opt(
                &format!("SELECT {} FROM jobs WHERE id = $1", what.column()),
                &[&id],
            )
            .map_err(sql)?
            .and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }

    fn log(&self, id: &str, level: &str, message: &str) -> anyhow::Result<Line> {
        let line = Line {
            seq: 0,
            at: crate::job::now(),
            level: level.to_string(),
            message: message.to_string(),
        };
        let id = id.to_string();
        self.call(move |c| {
            let mut tx = c.transaction().map_err(sql)?;
            // The job's row, locked: two writers of one job's log take turns for the number.
            let exists = tx
                .query_opt("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", &[&id])
                .map_err(sql)?
                .is_some();
            let seq: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM job_log WHERE job = $1",
                    &[&id],
                )
                .map_err(sql)?
                .get(0);
            // A line that arrives after its job was deleted is dropped.
            if exists {
                tx.execute(
                    "INSERT INTO job_log (job, seq, at, level, message) VALUES ($1, $2, $3, $4, $5)",
                    &[&id, &seq, &line.at, &line.level, &line.message],
                )
                .map_err(sql)?;
            }
            tx.commit().map_err(sql)?;
            Ok(Line { seq, ..line })
        })
    }

    fn lines(&self, id: &str, after: i64, limit: usize) -> anyhow::Result<Vec<Line>> {
        let id = id.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c| {
            Ok(c.query(
                "SELECT seq, at, level, message FROM
                   (SELECT * FROM job_log WHERE job = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3) t
                 ORDER BY seq",
                &[&id, &after, &limit],
            )
            .map_err(sql)?
            .iter()
            .map(|r| Line {
                seq: r.get(0),
                at: r.get(1),
                level: r.get(2),
                message: r.get(3),
            })
            .collect())
        })
    }

    fn delete(&self, id: &str) -> anyhow::Result<()> {
        let id = id.to_string();
        self.call(move |c| {
            let mut tx = c.transaction().map_err(sql)?;
            tx.execute("DELETE FROM job_log WHERE job = $1", &[&id])
                .map_err(sql)?;
            tx.execute("DELETE FROM jobs WHERE id = $1", &[&id])
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    /// The store's behaviour on a real server (`FERRY_TEST_POSTGRES`, set by `.ci/run`), in a
    /// database of its own; without one the test says so and passes, except in CI.
    #[test]
    fn jobs_logs_and_documents_survive_reopening_on_postgres() {
        let Some(url) = crate::store::test_database() else {
            return;
        };
        super::super::conformance(&|| Box::new(super::PostgresStore::open(&url).unwrap()));
        // Opening again migrates nothing twice; a second server on it is refused.
        let first = super::PostgresStore::open(&url).unwrap();
        let second = super::PostgresStore::open(&url).err().unwrap().to_string();
        assert!(second.contains("another ferry serve"), "{second}");
        drop(first);
    }
}
