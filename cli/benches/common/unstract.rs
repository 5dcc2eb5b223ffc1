//! The Unstract sandbox as the benchmarks start it (shared by the benchmarks).

use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox};

/// A local sandbox serving `orgs`, adding `latency_ms` to every request.
pub(crate) fn start(rt: &tokio::runtime::Runtime, orgs: Vec<OrgSpec>, latency_ms: u64) -> Sandbox {
    let mut config = Config::local(orgs);
    config.faults = Faults {
        latency_ms,
        ..Faults::default()
    };
    rt.block_on(Sandbox::start(config)).expect("sandbox")
}

/// The `ferry` binary with its state and cache under `dir`, and none of the caller's keys.
#[allow(dead_code)]
pub(crate) fn ferry(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.env("FERRY_STATE_DIR", dir.join("state"))
        .env("FERRY_CACHE_DIR", dir.join("cache"))
        .env_remove("UNSTRACT_SRC_PLATFORM_KEY")
        .env_remove("UNSTRACT_TGT_PLATFORM_KEY");
    c
}
