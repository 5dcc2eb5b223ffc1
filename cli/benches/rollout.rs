//! `cargo bench -p ferry-cli --bench rollout [-- OPTIONS]`: one release to many sandbox orgs.
//! The demo seed's org is rolled out to `--targets` empty orgs at `--latency-ms` per request,
//! once per `--parallel` value (one wave, that many at once), and against as many `ferry
//! clone` runs one after the other. Prints a markdown table (the one in BENCHMARKS.md);
//! nothing is asserted.

#[path = "common/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "common/unstract.rs"]
mod unstract;
use unstract::{ferry, start};

use ferry_sandbox::unstract::{OrgSpec, Sandbox, Seed};
use measure::{Cost, measure};
use std::path::Path;

const HELP: &str = "\
cargo bench -p ferry-cli --bench rollout [-- OPTIONS]

  --targets N        orgs to roll out to (default 50)
  --latency-ms N     latency per request (default 20)
  --parallel LIST    targets at once, one rollout each (default 1,8,32)
  --sequential BOOL  also N `ferry clone` runs one after the other (default true)
";

struct Opts {
    targets: usize,
    latency_ms: u64,
    parallel: Vec<usize>,
    sequential: bool,
}

fn opts() -> Opts {
    let mut o = Opts {
        targets: 50,
        latency_ms: 20,
        parallel: vec![1, 8, 32],
        sequential: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().unwrap_or_else(|| panic!("{a} {what}"));
        match a.as_str() {
            "--bench" => {}
            "--targets" => o.targets = value("N").parse().expect("--targets N"),
            "--latency-ms" => o.latency_ms = value("N").parse().expect("--latency-ms N"),
            "--parallel" => {
                o.parallel = value("LIST")
                    .split(',')
                    .map(|p| p.parse().expect("--parallel 1,8,32"))
                    .collect()
            }
            "--sequential" => o.sequential = value("BOOL").parse().expect("--sequential BOOL"),
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0)
            }
            other => panic!("unknown option {other}\n{HELP}"),
        }
    }
    o
}

/// The secrets a package leaves out, set by rules (the same for every target).
const SECRETS: &str = "[kinds.adapter]\nset = { \"/adapter_metadata\" = { api_key = \"bench\" } }\n\n[kinds.connector]\nset = { \"/connector_metadata\" = { token = \"bench\" } }\n";

fn names(group: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{group}{i:03}")).collect()
}

/// A rollout of `dev` to the orgs of `group`, `parallel` at once; its cost and the targets'
/// mean time.
fn rollout(dir: &Path, sb: &Sandbox, group: &str, n: usize, parallel: usize) -> (Cost, f64) {
    let mut text = format!(
        "[source]\nurl = \"{}\"\norg = \"dev\"\nkey_env = \"BENCH_SRC\"\n\n[rollout]\nparallel = {parallel}\n\n{SECRETS}",
        sb.url()
    );
    let mut c = ferry(dir);
    for t in names(group, n) {
        text += &format!(
            "\n[[targets]]\nname = \"{t}\"\nurl = \"{}\"\norg = \"{t}\"\nkey_env = \"BENCH_{}\"\n",
            sb.url(),
            t.to_uppercase()
        );
        c.env(
            format!("BENCH_{}", t.to_uppercase()),
            sb.keys(&t).read_write,
        );
    }
    let file = dir.join(format!("{group}.toml"));
    std::fs::write(&file, text).unwrap();
    let report = dir.join(format!("{group}.json"));
    c.args(["rollout", "--config"])
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .env("BENCH_SRC", sb.keys("dev").read);
    let cost = checked(measure(c, &dir.join(format!("{group}.log"))), dir, group);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let times: Vec<f64> = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["duration_ms"].as_f64().unwrap() / 1000.0)
        .collect();
    (cost, times.iter().sum::<f64>() / times.len() as f64)
}

/// `n` clones of `dev`, one after the other, into the orgs of `group`: their summed cost.
fn sequential(dir: &Path, sb: &Sandbox, group: &str, n: usize) -> Cost {
    let file = dir.join("secrets.toml");
    std::fs::write(&file, SECRETS).unwrap();
    let mut total: Option<Cost> = None;
    for t in names(group, n) {
        let mut c = ferry(dir);
        c.args(["clone", "--config"])
            .arg(&file)
            .args([
                "--source-url",
                sb.url(),
                "--source-org",
                "dev",
                "--target-url",
                sb.url(),
                "--target-org",
                &t,
            ])
            .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys("dev").read)
            .env("UNSTRACT_TGT_PLATFORM_KEY", sb.keys(&t).read_write);
        let cost = checked(measure(c, &dir.join(format!("{t}.log"))), dir, &t);
        total = Some(match total {
            None => cost,
            Some(s) => Cost {
                wall: s.wall + cost.wall,
                cpu: s.cpu + cost.cpu,
                peak_mib: s.peak_mib.max(cost.peak_mib),
                exit: 0,
            },
        });
    }
    total.expect("at least one target")
}

fn checked(c: Cost, dir: &Path, what: &str) -> Cost {
    if c.exit != 0 {
        let log = std::fs::read_to_string(dir.join(format!("{what}.log"))).unwrap_or_default();
        panic!("{what} exited {}:\n{log}", c.exit);
    }
    c
}

fn main() {
    let o = opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut orgs = vec![OrgSpec::seeded("dev", Seed::Demo)];
    let mut groups: Vec<String> = o.parallel.iter().map(|p| format!("p{p}x")).collect();
    if o.sequential {
        groups.push("seq".into());
    }
    for g in &groups {
        orgs.extend(names(g, o.targets).iter().map(|n| OrgSpec::new(n)));
    }
    let sb = start(&rt, orgs, o.latency_ms);
    let dir = tempfile::tempdir().unwrap();
    println!(
        "\n### A rollout of the demo org to {} empty orgs, {} ms per request\n",
        o.targets, o.latency_ms
    );
    println!(
        "| run | wall | per target (wall / targets) | a target's own time (mean) | CPU | peak memory |\n|---|---|---|---|---|---|"
    );
    for p in &o.parallel {
        let (c, mean) = rollout(dir.path(), &sb, &format!("p{p}x"), o.targets, *p);
        println!(
            "| rollout, parallel {p} | {:.1} s | {:.2} s | {mean:.2} s | {:.1} s | {:.1} MiB |",
            c.wall.as_secs_f64(),
            c.wall.as_secs_f64() / o.targets as f64,
            c.cpu.as_secs_f64(),
            c.peak_mib
        );
    }
    if o.sequential {
        let c = sequential(dir.path(), &sb, "seq", o.targets);
        println!(
            "| {} `ferry clone` runs, one after the other | {:.1} s | {:.2} s | {:.2} s | {:.1} s | {:.1} MiB (largest run) |",
            o.targets,
            c.wall.as_secs_f64(),
            c.wall.as_secs_f64() / o.targets as f64,
            c.wall.as_secs_f64() / o.targets as f64,
            c.cpu.as_secs_f64(),
            c.peak_mib
        );
    }
    if o.sequential && !o.parallel.is_empty() {
        let same = sb.dump(&names("seq", 1)[0]) == sb.dump(&names(&groups[0], 1)[0]);
        println!(
            "\nA rolled-out target and a cloned one {}.",
            if same { "are the same" } else { "DIFFER" }
        );
    }
    rt.block_on(sb.stop());
}
