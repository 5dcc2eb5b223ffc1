//! The Unstract sandbox as the benchmarks start it (shared by the benchmarks).

use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox};

/// A local sandbox serving `orgs`, adding `latency_ms` to every request.
pub fn start(rt: &tokio::runtime::Runtime, orgs: Vec<OrgSpec>, latency_ms: u64) -> Sandbox {
    let mut config = Config::local(orgs);
    config.faults = Faults {
        latency_ms,
        ..Faults::default()
    };
    rt.block_on(Sandbox::start(config)).expect("sandbox")
}
