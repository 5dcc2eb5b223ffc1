//! `ferry serve`: the job server (crate `ferry-server`), and `ferry serve token` to make an
//! API token and the line the server's file keeps of it.

use clap::{Args, Subcommand};
use ferry_server::auth::Role;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ServeArgs {
    #[command(subcommand)]
    command: Option<ServeCommand>,
    /// Address to listen on (port 0 picks a free one; the banner says which).
    #[arg(long, default_value = "127.0.0.1:8750")]
    listen: SocketAddr,
    /// The server's file: environments, promotions, tokens, store (see scripts/server.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Jobs run at once, on different targets [default: the file's max_jobs, else 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    max_jobs: Option<u16>,
}

#[derive(Subcommand, Debug)]
enum ServeCommand {
    /// Make a new API token: prints the token (once) and the [[tokens]] entry for the file.
    Token {
        /// who uses it (shown as a job's started_by)
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "viewer" => Ok(Role::Viewer),
        "operator" => Ok(Role::Operator),
        "approver" => Ok(Role::Approver),
        "admin" => Ok(Role::Admin),
        _ => Err(format!(
            "{s:?}: a role is viewer, operator, approver or admin"
        )),
    }
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<u8> {
    if let Some(ServeCommand::Token { name, role }) = args.command {
        let token = ferry_server::auth::new_token()?;
        eprintln!("the token (shown once; keep it in a secret store, give it as FERRY_TOKEN):");
        println!("{token}");
        eprintln!("\nadd to the server's file:");
        eprintln!(
            "[[tokens]]\nname = {name:?}\nrole = \"{}\"\nsha256 = \"{}\"",
            role.name(),
            ferry_server::auth::hash(&token)
        );
        return Ok(super::exit::OK);
    }
    let Some(path) = args.config else {
        anyhow::bail!(
            "give the server's file: ferry serve --config server.toml (scripts/server.toml is an example)"
        );
    };
    let mut config = ferry_server::config::Config::read(&path)?;
    if let Some(n) = args.max_jobs {
        config.max_jobs = n as usize;
    }
    let (jobs, store) = (config.max_jobs, config.store.describe());
    ferry_server::serve(
        config,
        args.listen,
        |addr| {
            println!("ferry serve: listening on http://{addr} (dashboard at /, API at /v1/, OpenAPI at /v1/openapi.json)");
            println!("ferry serve: {jobs} job(s) at once, jobs kept in {store}");
            use std::io::Write;
            let _ = std::io::stdout().flush();
        },
        super::signals::stop_requested(),
    )
    .await?;
    // Ctrl-C or SIGTERM: the API has stopped. Jobs still running are left as a kill leaves
    // them: recorded as running, they run again at the next start (a re-run converges).
    // Exiting now, not waiting for them: the runtime would wait for their threads.
    eprintln!("ferry serve: stopped; jobs that were running run again at the next start");
    std::process::exit(super::exit::OK as i32)
}
