//! `cargo bench -p ferry-cli --bench serve [-- OPTIONS]`: `ferry serve` against the Unstract
//! sandbox. Prints markdown tables (the ones in BENCHMARKS.md); nothing is asserted.
//!
//! - overhead: one clone of an org of `--size` resources at `--latency-ms` per request, from
//!   the CLI and as a server job (submitted, run, seen finished by a client polling every
//!   50 ms): the difference is what the server adds to a job.
//! - throughput: `--targets` targets, one job each at once (`max_jobs` = targets), then two
//!   re-runs each (which converge: nothing to write): jobs per minute.

#[path = "common/unstract.rs"]
mod unstract;
use unstract::ferry;

use ferry_sandbox::unstract::{OrgSpec, Sandbox, Seed};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-operator-token";

struct Opts {
    size: usize,
    latency_ms: u64,
    targets: usize,
}

fn opts() -> Opts {
    let mut o = Opts {
        size: 1000,
        latency_ms: 20,
        targets: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().unwrap_or_else(|| panic!("{a} {what}"));
        match a.as_str() {
            "--bench" => {}
            "--size" => o.size = value("N").parse().expect("--size N"),
            "--latency-ms" => o.latency_ms = value("N").parse().expect("--latency-ms N"),
            "--targets" => o.targets = value("N").parse().expect("--targets N"),
            other => panic!("unknown option {other} (--size N, --latency-ms N, --targets N)"),
        }
    }
    o
}

/// The server's file: `dev` → each of `targets`.
fn config(dir: &Path, sb: &Sandbox, targets: &[String], max_jobs: usize) {
    use sha2::Digest;
    let mut text = format!(
        "store = \"jobs.sqlite\"\nmax_jobs = {max_jobs}\n\n[environments.dev]\nplatform = \"unstract\"\nurl = \"{}\"\norg = \"dev\"\nkey_env = \"BENCH_KEY_DEV\"\n\n",
        sb.url()
    );
    for t in targets {
        text += &format!(
            "[environments.{t}]\nplatform = \"unstract\"\nurl = \"{}\"\norg = \"{t}\"\nkey_env = \"BENCH_KEY_{}\"\n\n[promotions.dev-to-{t}]\nsource = \"dev\"\ntarget = \"{t}\"\n\n",
            sb.url(),
            t.to_uppercase()
        );
    }
    text += &format!(
        "[[tokens]]\nname = \"bench\"\nrole = \"operator\"\nsha256 = \"{}\"\n",
        hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()))
    );
    std::fs::write(dir.join("server.toml"), text).unwrap();
}

fn serve(dir: &Path, sb: &Sandbox, targets: &[String]) -> (Child, String) {
    let mut c = ferry(dir);
    c.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(dir.join("server.toml"))
        .env("BENCH_KEY_DEV", sb.keys("dev").read)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for t in targets {
        c.env(
            format!("BENCH_KEY_{}", t.to_uppercase()),
            sb.keys(t).read_write,
        );
    }
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("ferry serve's banner").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

async fn submit(http: &reqwest::Client, url: &str, promotion: &str) -> String {
    let job: Value = http
        .post(format!("{url}/v1/jobs"))
        .bearer_auth(TOKEN)
        .json(&json!({"promotion": promotion, "mode": "clone"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    job["id"].as_str().expect("a job").to_string()
}

async fn wait(http: &reqwest::Client, url: &str, id: &str) -> Value {
    loop {
        let job: Value = http
            .get(format!("{url}/v1/jobs/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if matches!(
            job["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            assert_eq!(job["status"], "succeeded", "{job}");
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Jobs onto these targets, all submitted at once; the wall time until the last finished.
async fn batch(http: &reqwest::Client, url: &str, promotions: &[String]) -> Duration {
    let t = Instant::now();
    let ids = futures::future::join_all(promotions.iter().map(|p| submit(http, url, p))).await;
    for id in ids {
        wait(http, url, &id).await;
    }
    t.elapsed()
}

fn main() {
    let o = opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut targets: Vec<String> = vec!["one".into()];
    targets.extend((0..o.targets).map(|i| format!("t{i}")));
    let mut orgs = vec![
        OrgSpec::seeded("dev", Seed::Scale(o.size)),
        OrgSpec::new("cli"),
    ];
    orgs.extend(targets.iter().map(|t| OrgSpec::new(t)));
    let sb = unstract::start(&rt, orgs, o.latency_ms);

    // The same clone from the CLI.
    let t = Instant::now();
    let out = ferry(dir.path())
        .args([
            "clone",
            "--source-url",
            sb.url(),
            "--source-org",
            "dev",
            "--target-url",
            sb.url(),
            "--target-org",
            "cli",
        ])
        .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys("dev").read)
        .env("UNSTRACT_TGT_PLATFORM_KEY", sb.keys("cli").read_write)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let cli = t.elapsed();

    config(dir.path(), &sb, &targets, o.targets.max(1));
    let (mut child, url) = serve(dir.path(), &sb, &targets);
    let http = reqwest::Client::new();
    let (job, first, reruns) = rt.block_on(async {
        let job = batch(&http, &url, &["dev-to-one".to_string()]).await;
        let promotions: Vec<String> = (0..o.targets).map(|i| format!("dev-to-t{i}")).collect();
        let first = batch(&http, &url, &promotions).await;
        let twice: Vec<String> = promotions
            .iter()
            .chain(promotions.iter())
            .cloned()
            .collect();
        let reruns = batch(&http, &url, &twice).await;
        (job, first, reruns)
    });
    let _ = child.kill();
    let _ = child.wait();
    let same = targets.iter().all(|t| sb.dump(t) == sb.dump("cli"));

    println!(
        "\n### ferry serve: the {}-resource org at {} ms per request\n",
        o.size, o.latency_ms
    );
    println!("| run | wall | |");
    println!("|---|---:|---|");
    println!("| `ferry clone` (CLI) | {:.2} s | |", cli.as_secs_f64());
    println!(
        "| the same clone as a server job (submit → seen finished) | {:.2} s | overhead {:+.2} s ({:.2}×) |",
        job.as_secs_f64(),
        job.as_secs_f64() - cli.as_secs_f64(),
        job.as_secs_f64() / cli.as_secs_f64()
    );
    let per_min = |n: usize, d: Duration| n as f64 * 60.0 / d.as_secs_f64();
    println!(
        "| {} first clones onto {} targets at once | {:.2} s | **{:.1} jobs/min** |",
        o.targets,
        o.targets,
        first.as_secs_f64(),
        per_min(o.targets, first)
    );
    println!(
        "| {} re-runs (two per target; they converge, nothing to write) | {:.2} s | **{:.1} jobs/min** |",
        2 * o.targets,
        reruns.as_secs_f64(),
        per_min(2 * o.targets, reruns)
    );
    println!("\nevery target equals the CLI's: {same}");
}
