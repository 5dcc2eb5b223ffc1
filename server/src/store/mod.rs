//! The job store. A job's record is a JSON document beside the columns the queries need; its
//! plan, report and log lines are kept apart, so listing jobs never reads a report. The
//! schema changes by migrations only, the same steps in each dialect.
//!
//! One trait, two leaves: SQLite (`sqlite`, the default: one file, nothing to install) and
//! PostgreSQL (`postgres`: `store = "postgres://..."` in the server's file, or
//! `FERRY_STORE_URL`), the database several servers can share.

mod postgres;
mod sqlite;

use crate::job::{Job, Line, Status};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Where the jobs are kept: a SQLite file, or a PostgreSQL database.
pub use ferry::database::Database as StoreAt;

/// The store's operations. Synchronous: each is one short statement or two, as SQLite's are;
/// the PostgreSQL leaf keeps its connection on a thread of its own.
pub trait JobStore: Send + Sync {
    /// Insert or replace a job's record.
    fn put(&self, job: &Job) -> anyhow::Result<()>;
    fn get(&self, id: &str) -> anyhow::Result<Option<Job>>;
    /// Jobs with one of `statuses` (any when empty) and of `mode` (any when `None`), newest
    /// first, and how many there are.
    fn list(
        &self,
        statuses: &[Status],
        mode: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<(Vec<Job>, usize)>;
    /// Jobs still to run, oldest first.
    fn unfinished(&self) -> anyhow::Result<Vec<Job>>;
    /// Keep a job's plan or report (JSON).
    fn put_doc(&self, id: &str, what: Doc, json: &str) -> anyhow::Result<()>;
    fn doc(&self, id: &str, what: Doc) -> anyhow::Result<Option<String>>;
    /// Append a line to a job's log (dropped when the job is gone); the line, numbered.
    fn log(&self, id: &str, level: &str, message: &str) -> anyhow::Result<Line>;
    /// A job's log lines after `after`, the last `limit` of them.
    fn lines(&self, id: &str, after: i64, limit: usize) -> anyhow::Result<Vec<Line>>;
    fn delete(&self, id: &str) -> anyhow::Result<()>;
}

/// The server's store.
pub type Store = Box<dyn JobStore>;

/// Open the store `at` names, migrating it to the latest schema.
pub fn open(at: &StoreAt) -> anyhow::Result<Store> {
    Ok(match at {
        StoreAt::Sqlite(p) => Box::new(SqliteStore::open(p)?),
        StoreAt::Postgres(u) => Box::new(PostgresStore::open(u)?),
    })
}

#[derive(Debug, Clone, Copy)]
pub enum Doc {
    Plan,
    Report,
}

impl Doc {
    fn column(self) -> &'static str {
        match self {
            Doc::Plan => "plan",
            Doc::Report => "report",
        }
    }
}

/// What every store does, run on each leaf; `open` opens the same store again (what is put
/// must survive it).
#[cfg(test)]
pub(crate) fn conformance(open: &dyn Fn() -> Store) {
    use crate::job::Mode;
    let job = |id: &str, status: Status| Job {
        id: id.into(),
        status,
        ..Job::queued("p".into(), Mode::Clone, "ci".into(), "s".into(), "t".into())
    };
    {
        let s = open();
        s.put(&job("01A", Status::Succeeded)).unwrap();
        s.put(&job("01B", Status::Running)).unwrap();
        s.put(&job("01C", Status::Queued)).unwrap();
        s.put_doc("01A", Doc::Report, "{\"ok\":1}").unwrap();
        for i in 0..5 {
            s.log("01B", "INFO", &format!("line {i}")).unwrap();
        }
        s.log("01C", "INFO", "other job").unwrap();
        s.log("01X", "INFO", "no such job").unwrap();
    }
    let s = open();
    let (all, total) = s.list(&[], None, 0, 10).unwrap();
    assert_eq!((total, all[0].id.as_str()), (3, "01C"), "newest first");
    let (running, n) = s
        .list(&[Status::Running, Status::Queued], None, 0, 1)
        .unwrap();
    assert_eq!((n, running.len()), (2, 1));
    assert_eq!(
        s.list(&[Status::Running], Some("clone"), 0, 9).unwrap().1,
        1
    );
    assert_eq!(s.list(&[], Some("export"), 0, 9).unwrap().1, 0);
    assert_eq!(s.list(&[], None, 2, 9).unwrap().0.len(), 1, "paged");
    assert_eq!(
        s.unfinished()
            .unwrap()
            .iter()
            .map(|j| j.id.as_str())
            .collect::<Vec<_>>(),
        ["01B", "01C"]
    );
    assert_eq!(
        s.doc("01A", Doc::Report).unwrap().as_deref(),
        Some("{\"ok\":1}")
    );
    assert_eq!(s.doc("01A", Doc::Plan).unwrap(), None);
    let tail = s.lines("01B", 0, 2).unwrap();
    assert_eq!(
        tail.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        ["line 3", "line 4"]
    );
    assert_eq!(tail[1].seq, 5);
    assert_eq!(s.lines("01B", 4, 100).unwrap().len(), 1);
    assert!(
        s.lines("01X", 0, 10).unwrap().is_empty(),
        "a line of no job is not kept"
    );
    // A record replaced keeps one row.
    s.put(&job("01C", Status::Succeeded)).unwrap();
    assert_eq!(s.get("01C").unwrap().unwrap().status, Status::Succeeded);
    assert_eq!(s.list(&[], None, 0, 10).unwrap().1, 3);
    s.delete("01B").unwrap();
    assert!(s.get("01B").unwrap().is_none() && s.lines("01B", 0, 10).unwrap().is_empty());
}

/// A new, empty database on the tests' PostgreSQL server (`FERRY_TEST_POSTGRES`, which
/// `.ci/run` sets from the cluster it starts): its URL. Without the server a test says so
/// and passes, except in CI.
#[cfg(test)]
pub(crate) fn test_database() -> Option<String> {
    let url = match std::env::var("FERRY_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => u,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "FERRY_TEST_POSTGRES is not set: .ci/run starts a PostgreSQL cluster and sets it"
            )
        }
        _ => {
            eprintln!("skipped: no PostgreSQL (set FERRY_TEST_POSTGRES=postgres://...)");
            return None;
        }
    };
    let name = format!(
        "ferry_store_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let mut c =
        ::postgres::Client::connect(&url, ::postgres::NoTls).expect("the tests' PostgreSQL");
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let mut u = url::Url::parse(&url).unwrap();
    u.set_path(&name);
    Some(u.to_string())
}
