//! `ferry demo`: start the sandbox with a seeded DEV org and an empty PROD org, print the
//! plan, run the clone, print the report, and say how to look at the result.

use super::clone::{Endpoints, Output, RunArgs, Session, promote};
use super::exit;
use super::plugins::PluginArgs;
use crate::engine::OnConflict;
use crate::sandbox::{Config, OrgSpec, Sandbox, Seed};
use clap::Args;

#[derive(Args, Debug)]
pub struct DemoArgs {
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
    #[arg(long, default_value_t = 8)]
    concurrency: u16,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let mut config = Config::local(vec![OrgSpec::seeded("dev", args.seed.clone()), OrgSpec::new("prod")]);
    config.listen = args.listen;
    let sandbox = Sandbox::start(config).await?;
    let url = sandbox.url().to_string();
    println!("Sandbox platform at {url}: org \"dev\" seeded ({:?}), org \"prod\" empty.\n", args.seed);
    let run = RunArgs {
        endpoints: Endpoints { source_url: url.clone(), source_org: "dev".into(), source_key: sandbox.keys("dev").read, target_url: url.clone(), target_org: "prod".into(), target_key: sandbox.keys("prod").read_write, api_prefix: "api/v1".into(), rate_limit: 0, max_in_flight: 32, attempts: 5, connect_timeout: 10, request_timeout: 120 },
        include: vec![],
        exclude: vec![],
        select: vec![],
        select_tag: vec![],
        on_name_conflict: OnConflict::Adopt,
        on_name_conflict_kind: vec![],
        concurrency: args.concurrency,
        max_file_size: 25 << 20,
        skip_files: false,
        clone_group_members: true,
        report: None,
        output: Output::Table,
        plugins: PluginArgs::default(),
    };
    let session = Session::open(&run).await?;

    println!("== Plan (ferry plan): nothing written yet ==");
    let planned = promote(&session, &run, true, true).await?;
    print!("{}", planned.render());

    println!("\n== Clone (ferry clone) ==");
    let report = promote(&session, &run, false, false).await?;
    print!("{}", report.render());
    let writes_to_source = sandbox.writes_to("dev").len();
    println!("\nThe source received {writes_to_source} writes (it is only ever read).");

    println!("\n== Again: a re-run converges, nothing left to do ==");
    let again = promote(&session, &run, true, true).await?;
    println!("{} changes pending.", again.pending());

    let key = sandbox.admin_key().to_string();
    println!("\nLook at the result:");
    println!("  curl -s -H 'Authorization: Bearer {key}' {url}/_admin/orgs/prod/dump");
    println!("  curl -s -H 'Authorization: Bearer {}' {}", sandbox.keys("prod").read, sandbox.org_url("prod") + "workflow/");
    if args.serve {
        println!("\nServing until Ctrl-C.");
        let _ = tokio::signal::ctrl_c().await;
    } else {
        println!("(run `ferry demo --serve` to keep the sandbox up and try those)");
    }
    sandbox.stop().await;
    Ok(if report.failed() > 0 { exit::FAILED } else { exit::OK })
}
