//! Where a store lives, as a user names it: a `postgres://` URL or a SQLite file's path. The
//! targets' leases (`lock`) and a job server's jobs are kept in one or the other.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    Sqlite(PathBuf),
    /// a `postgres://` (or `postgresql://`) URL
    Postgres(String),
}

impl Database {
    /// Read a store's name. Any other `scheme://` is refused: a mistyped URL must not become
    /// a local file (for leases, that would be no exclusion across machines).
    pub fn parse(spec: &str) -> anyhow::Result<Database> {
        let spec = spec.trim();
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Ok(Database::Postgres(spec.into()))
        } else if spec.is_empty() {
            anyhow::bail!("empty: a postgres:// URL or a SQLite file's path")
        } else if let Some((scheme, _)) = spec.split_once("://") {
            anyhow::bail!("{scheme}://...: a postgres:// URL or a SQLite file's path")
        } else {
            Ok(Database::Sqlite(spec.into()))
        }
    }

    /// How messages name it: the path, or the URL without its password wherever it is given
    /// (`user:pass@`, `?password=`).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres(u) => match url::Url::parse(u) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.set_query(None);
                    u.to_string()
                }
                Err(_) => "a PostgreSQL database".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Database;

    #[test]
    fn a_store_is_a_postgres_url_or_a_file_and_is_named_without_secrets() {
        assert_eq!(
            Database::parse("jobs.sqlite").unwrap(),
            Database::Sqlite("jobs.sqlite".into())
        );
        let pg = Database::parse("postgres://u:secret1@h/db?password=secret2").unwrap();
        assert!(!pg.describe().contains("secret"), "{}", pg.describe());
        for bad in ["", "postgress://h/db", "POSTGRES://h/db"] {
            let e = Database::parse(bad).unwrap_err().to_string();
            assert!(e.contains("postgres:// URL"), "{bad}: {e}");
        }
    }
}
