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
}

pub(crate) async fn run(args: UnlockArgs) -> anyhow::Result<u8> {
    let locks = Locks::standard()
        .ok_or_else(|| anyhow::anyhow!("no state directory (set HOME or FERRY_STATE_DIR)"))?;
    if args.list {
        for l in locks.list()? {
            println!(
                "{}\t{}\t{}\texpires {}",
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
