//! `ferry unlock`: list the targets' locks, or break a stale one by its id (see
//! `ferry::lock`). A lease ends by itself once its holder stops renewing it; this is for not
//! waiting that long after a crash.

use clap::Args;
use ferry::lock::Locks;

#[derive(Args, Debug)]
pub(crate) struct UnlockArgs {
    /// The lock to break (its id, as `ferry unlock --list` or a waiting run shows it).
    #[arg(required_unless_present = "list")]
    pub id: Option<String>,
    /// List the locks instead: id, target, holder, and when each lease ends.
    #[arg(long)]
    pub list: bool,
    /// Where the leases are: a postgres:// URL or a SQLite file [env: FERRY_LOCK_STORE;
    /// default: locks.sqlite in the state directory]
    #[arg(long, value_name = "URL|FILE")]
    pub lock_store: Option<String>,
}

pub(crate) async fn run(args: UnlockArgs) -> anyhow::Result<u8> {
    let locks = match &args.lock_store {
        Some(s) => Locks::from_spec(s)?,
        None => Locks::standard()?.ok_or_else(|| {
            anyhow::anyhow!("no state directory (set HOME or FERRY_STATE_DIR), and no --lock-store")
        })?,
    };
    if args.list {
        for l in locks.list()? {
            let token = l.token.map(|t| format!("\ttoken {t}")).unwrap_or_default();
            println!(
                "{}\t{}\t{}\texpires {}{token}",
                l.id, l.target, l.holder, l.expires
            );
        }
        return Ok(super::exit::OK);
    }
    let id = args.id.unwrap_or_default();
    if locks.unlock(&id)? {
        eprintln!(
            "lock {id} broken: its target is free (if its holder still runs, it stops renewing)"
        );
        Ok(super::exit::OK)
    } else {
        eprintln!("error: no lock {id} (ferry unlock --list shows them)");
        Ok(super::exit::FAILED)
    }
}
