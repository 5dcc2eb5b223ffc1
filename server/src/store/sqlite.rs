//! The job store in one SQLite file (embedded, nothing to install): the default, for one
//! server on one machine.

use super::{Doc, JobStore};
use crate::job::{Job, Line, Status};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use std::path::Path;
use std::sync::Mutex;

/// Each step is applied once, in order (SQLite's `user_version` counts them); a released
/// step never changes.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
        "CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            record TEXT NOT NULL,
            plan TEXT,
            report TEXT
        );
        CREATE INDEX jobs_status ON jobs(status);
        CREATE TABLE job_log (
            job TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at TEXT NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (job, seq)
        );",
    )])
}

pub struct SqliteStore {
    db: Mutex<Connection>,
}

fn sql(e: rusqlite::Error) -> anyhow::Error {
    anyhow::anyhow!("job store: {e}")
}

impl SqliteStore {
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let mut c = Connection::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the job store {}: {e}", path.display()))?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        // WAL: readers (the API) never wait for the writer (the jobs).
        c.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        c.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        migrations()
            .to_latest(&mut c)
            .map_err(|e| anyhow::anyhow!("migrating the job store {}: {e}", path.display()))?;
        Ok(SqliteStore { db: Mutex::new(c) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl JobStore for SqliteStore {
    /// Insert or replace a job's record.
    fn put(&self, job: &Job) -> anyhow::Result<()> {
        let record = serde_json::to_string(job)?;
        self.db()
            .execute(
                "INSERT INTO jobs (id, status, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET status = ?2, record = ?3",
                params![job.id, job.status.name(), record],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn get(&self, id: &str) -> anyhow::Result<Option<Job>> {
        let r: Option<String> = self
            .db()
            .query_row("SELECT record FROM jobs WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        r.map(|r| serde_json::from_str(&r).map_err(Into::into))
            .transpose()
    }

    /// Jobs with one of `statuses` (any when empty) and of `mode` (any when `None`), newest
    /// first, and how many there are.
    fn list(
        &self,
        statuses: &[Status],
        mode: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<(Vec<Job>, usize)> {
        let mut names: Vec<&str> = statuses.iter().map(|s| s.name()).collect();
        let mut filters = vec![];
        if !names.is_empty() {
            filters.push(format!(
                "status IN ({})",
                (1..=names.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if let Some(m) = mode {
            names.push(m);
            filters.push(format!("json_extract(record, '$.mode') = ?{}", names.len()));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        let db = self.db();
        let total: i64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM jobs {filter}"),
                rusqlite::params_from_iter(&names),
                |r| r.get(0),
            )
            .map_err(sql)?;
        // The page's bounds are bound as parameters, never pasted into the SQL.
        let (limit_at, offset_at) = (names.len() + 1, names.len() + 2);
        let mut st = db
            .prepare(&format!(
                "SELECT record FROM jobs {filter} ORDER BY id DESC LIMIT ?{limit_at} OFFSET ?{offset_at}"
            ))
            .map_err(sql)?;
        let mut values: Vec<rusqlite::types::Value> = names
            .iter()
            .map(|n| rusqlite::types::Value::Text(n.to_string()))
            .collect();
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        values.push(rusqlite::types::Value::Integer(as_i64(limit)));
        values.push(rusqlite::types::Value::Integer(as_i64(offset)));
        let jobs = st
            .query_map(rusqlite::params_from_iter(&values), |r| {
                r.get::<_, String>(0)
            })
            .map_err(sql)?
            .map(|r| Ok(serde_json::from_str(&r.map_err(sql)?)?))
            .collect::<anyhow::Result<Vec<Job>>>()?;
        Ok((jobs, total as usize))
    }

    /// Jobs still to run, oldest first.
    fn unfinished(&self) -> anyhow::Result<Vec<Job>> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT record FROM jobs WHERE status IN ('queued','running','cancelling') ORDER BY id")
            .map_err(sql)?;
        let jobs = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql)?
            .map(|r| Ok(serde_json::from_str(&r.map_err(sql)?)?))
            .collect::<anyhow::Result<Vec<Job>>>()?;
        Ok(jobs)
    }

    /// Keep a job's plan or report (JSON); `what` is `plan` or `report`.
    fn put_doc(&self, id: &str, what: Doc, json: &str) -> anyhow::Result<()> {
        self.db()
            .execute(
                &format!("UPDATE jobs SET {} = ?2 WHERE id = ?1", what.column()),
                params![id, json],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn doc(&self, id: &str, what: Doc) -> anyhow::Result<Option<String>> {
        Ok(self
            .db()
            .query_row(
                &format!("SELECT {} FROM jobs WHERE id = ?1", what.column()),
                [id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map_err(sql)?
            .flatten())
    }

    /// Append a line to a job's log; returns it with its number.
    fn log(&self, id: &str, level: &str, message: &str) -> anyhow::Result<Line> {
        let db = self.db();
        let seq: i64 = db
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM job_log WHERE job = ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(sql)?;
        let line = Line {
            seq,
            at: crate::job::now(),
            level: level.to_string(),
            message: message.to_string(),
        };
        // A line that arrives after its job was deleted is dropped.
        db.execute(
            "INSERT INTO job_log (job, seq, at, level, message)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1)",
            params![id, line.seq, line.at, line.level, line.message],
        )
        .map_err(sql)?;
        Ok(line)
    }

    /// A job's log lines after `after`, the last `limit` of them.
    fn lines(&self, id: &str, after: i64, limit: usize) -> anyhow::Result<Vec<Line>> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT seq, at, level, message FROM
                   (SELECT * FROM job_log WHERE job = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3)
                 ORDER BY seq",
            )
            .map_err(sql)?;
        let lines = st
            .query_map(params![id, after, limit as i64], |r| {
                Ok(Line {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    level: r.get(2)?,
                    message: r.get(3)?,
                })
            })
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        Ok(lines)
    }

    fn delete(&self, id: &str) -> anyhow::Result<()> {
        let db = self.db();
        db.execute("DELETE FROM job_log WHERE job = ?1", [id])
            .map_err(sql)?;
        db.execute("DELETE FROM jobs WHERE id = ?1", [id])
            .map_err(sql)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jobs_logs_and_documents_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite");
        super::super::conformance(&|| Box::new(super::SqliteStore::open(&path).unwrap()));
    }
}
