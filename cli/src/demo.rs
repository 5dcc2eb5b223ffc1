//! `ferry demo`: start the sandbox with a seeded DEV org and a PROD org that has only its own
//! services, print the plan of the promotion in `scripts/demo.toml` (rewrites included), run
//! it, print the report, and say how to look at the result.

use super::args::Output;
use super::args::{Endpoints, RunArgs};
use super::clone::{open_run, promote};
use super::exit;
use clap::Args;
use ferry::promotion::Loaded;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// What to seed DEV with: demo, small or a number of resources.
    #[arg(long, default_value = "demo")]
    seed: Seed,
    /// Keep the sandbox serving after the clone, until Ctrl-C, to look around.
    #[arg(long)]
    serve: bool,
    /// Address for the sandbox (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Plugin calls in flight at once.
    #[arg(long, default_value_t = super::args::defaults::CONCURRENCY)]
    concurrency: u16,
}

/// The promotion file the demo runs (`scripts/demo.toml`); the demo fills in URLs and keys.
const PROMOTION: &str = include_str!("../../scripts/demo.toml");

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let mut config = Config::local(vec![
        OrgSpec::seeded("dev", args.seed.clone()),
        OrgSpec::seeded("prod", Seed::Services),
    ]);
    config.listen = args.listen;
    // The demo shows a clone; the judge is for the tests.
    config.judge = false;
    let sandbox = Sandbox::start(config).await?;
    let url = sandbox.url().to_string();
    println!(
        "Sandbox platform at {url}: org \"dev\" seeded ({:?}); org \"prod\" has only its own adapters and connectors.",
        args.seed
    );
    println!(
        "The promotion file (scripts/demo.toml) maps DEV's services onto PROD's, renames, sets and scrubs fields.\n"
    );
    let run = RunArgs {
        endpoints: Endpoints {
            source_url: Some(url.clone()),
            source_org: Some("dev".into()),
            source_key: Some(sandbox.keys("dev").read),
            target_url: Some(url.clone()),
            target_org: Some("prod".into()),
            target_key: Some(sandbox.keys("prod").read_write),
            ..Default::default()
        },
        concurrency: Some(args.concurrency),
        ..Default::default()
    };
    let file = Loaded::parse(
        "scripts/demo.toml",
        PROMOTION,
        std::path::PathBuf::from("scripts"),
    )?;
    let (session, _) = open_run(run.settings_with(Some(file))?).await?;

    println!("== Plan (ferry plan --config scripts/demo.toml): nothing written yet ==");
    let planned = promote(&session, Output::Table, true, true).await?;
    print!("{}", crate::render::report(&planned));

    println!("\n== Clone (ferry clone --config scripts/demo.toml) ==");
    let report = promote(&session, Output::Table, false, false).await?;
    print!("{}", crate::render::report(&report));
    let writes_to_source = sandbox.writes_to("dev").len();
    println!("\nThe source received {writes_to_source} writes (it is only ever read).");

    println!("\n== Again: a re-run converges, nothing left to do ==");
    let again = promote(&session, Output::Table, true, true).await?;
    println!("{} changes pending.", again.pending());

    let key = sandbox.admin_key().to_string();
    println!("\nLook at the result:");
    println!("  curl -s -H 'Authorization: Bearer {key}' {url}/_admin/orgs/prod/dump");
    println!(
        "  curl -s -H 'Authorization: Bearer {}' {}",
        sandbox.keys("prod").read,
        sandbox.org_url("prod") + "workflow/"
    );
    if args.serve {
        println!("\nServing until Ctrl-C.");
        let _ = tokio::signal::ctrl_c().await;
    } else {
        println!("(run `ferry demo --serve` to keep the sandbox up and try those)");
    }
    sandbox.stop().await;
    Ok(if report.failed() > 0 {
        exit::FAILED
    } else {
        exit::OK
    })
}
