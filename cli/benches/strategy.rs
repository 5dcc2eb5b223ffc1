//! `cargo bench -p ferry-cli --bench strategy [-- OPTIONS]`: the Strategy pack against the
//! emulated Library server. Prints markdown tables (the ones in BENCHMARKS.md); nothing is
//! asserted.
//!
//! - `package`: one project whose package is `--package-size` (default 2 GiB), duplicated in
//!   package mode: ferry's wall time, peak memory and the transfer's throughput, against curl
//!   downloading the same package to a file and uploading that file as a restoration.
//! - `polling`: one project duplicated in sync mode at ferry's default polling, with server
//!   phases of `--job-step-ms` (default 4000): the time ferry adds to the job's own time on
//!   the server (wall time minus the span from the job's creation on the source to its
//!   completion on the target).

#[path = "common/measure.rs"]
mod measure;

use ferry_sandbox::strategy::{Config, EnvSpec, Sandbox, Seed};
use measure::measure;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HELP: &str = "\
cargo bench -p ferry-cli --bench strategy [-- OPTIONS]

  --cases LIST         package, polling (default both)
  --package-size SIZE  the package case's package (default 2GB)
  --job-step-ms N      the polling case's server phase (default 4000)
";

struct Opts {
    cases: Vec<String>,
    package_size: u64,
    step_ms: u64,
}

fn opts() -> Opts {
    let mut o = Opts {
        cases: vec!["package".into(), "polling".into()],
        package_size: 2 << 30,
        step_ms: 4000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--cases" => {
                o.cases = args
                    .next()
                    .expect("--cases LIST")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--package-size" => {
                o.package_size =
                    ferry_sandbox::kit::parse_size(&args.next().expect("--package-size SIZE"))
                        .expect("--package-size")
            }
            "--job-step-ms" => {
                o.step_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--job-step-ms N")
            }
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => panic!("unknown option {other}\n{HELP}"),
        }
    }
    o
}

fn ferry(sb: &Sandbox, from: &str, to: &str, extra: &[&str], dir: &Path) -> Command {
    let (s, t) = (sb.env(from), sb.env(to));
    let pw = dir.join(format!("{to}.pw"));
    std::fs::write(&pw, &t.password).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.args(["clone", "--platform", "strategy"])
        .args(["--source-url", &s.url, "--source-user", &s.username])
        .args(["--target-url", &t.url, "--target-user", &t.username])
        .arg("--target-password-file")
        .arg(&pw)
        .args(extra)
        .env("STRATEGY_SOURCE_PASSWORD", &s.password)
        .env("FERRY_STATE_DIR", dir.join("state"))
        .env("FERRY_CACHE_DIR", dir.join("cache"));
    c
}

fn read_report(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Sign in with curl; returns the token (the cookie lands in `jar`).
fn curl_login(url: &str, user: &str, password: &str, jar: &Path) -> String {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "-c"])
        .arg(jar)
        .args(["-X", "POST", &format!("{url}/api/auth/login")])
        .args(["--data-urlencode", &format!("username={user}")])
        .args([
            "--data-urlencode",
            &format!("password={password}"),
            "-d",
            "loginMode=1",
        ])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-mstr-authtoken:")
                .map(|t| t.trim().to_string())
        })
        .expect("a token from the login")
}

fn package_case(sb: &Sandbox, size: u64, dir: &Path) {
    let (log, path) = (
        dir.join("ferry-package.log"),
        dir.join("package-report.json"),
    );
    let report_flag = path.to_str().unwrap();
    let cost = measure(
        ferry(
            sb,
            "big",
            "prod",
            &[
                "--option",
                "mode=package",
                "--max-file-size",
                "100GB",
                "--report",
                report_flag,
            ],
            dir,
        ),
        &log,
    );
    let report = read_report(&path);
    let job = &report["items"][0]["files"]["duplication"];
    let bytes = job["package"]["bytes"].as_u64().unwrap_or(0);
    // The transfer's own span, from the sandbox's log: the backup's GET to the restoration's end.
    let entries = sb.log();
    let get = entries
        .iter()
        .find(|e| e.org == "big" && e.path.ends_with("/backup"))
        .expect("a backup download");
    let put = entries
        .iter()
        .find(|e| e.org == "prod" && e.path == "projectDuplications/restoration")
        .expect("a restoration");
    let transfer = Duration::from_micros(put.end_us.saturating_sub(get.start_us));

    // curl: the same package downloaded to a file, then that file uploaded as a restoration.
    let id = job["id"].as_str().expect("a job id");
    let (s, t) = (sb.env("big"), sb.env("prod"));
    let (sj, tj) = (dir.join("src.jar"), dir.join("tgt.jar"));
    let stok = curl_login(&s.url, &s.username, &s.password, &sj);
    let ttok = curl_login(&t.url, &t.username, &t.password, &tj);
    let file = dir.join("package.projdup");
    let started = Instant::now();
    let ok = Command::new("curl")
        .args(["-s", "-f", "-b"])
        .arg(&sj)
        .args(["-H", &format!("X-MSTR-AuthToken: {stok}"), "-o"])
        .arg(&file)
        .arg(format!("{}/api/projectDuplications/{id}/backup", s.url))
        .status()
        .unwrap()
        .success();
    let down = started.elapsed();
    let metadata = serde_json::json!({
        "settings": {"import": {}},
        "target": {"environment": {"id": t.url, "name": t.url}, "project": {"name": "Warehouse by curl"}},
    });
    let started = Instant::now();
    let ok = ok
        && Command::new("curl")
            .args(["-s", "-f", "-o", "/dev/null", "-b"])
            .arg(&tj)
            .args(["-H", &format!("X-MSTR-AuthToken: {ttok}")])
            .args(["-F", &format!("metadata={metadata}")])
            .arg("-F")
            .arg(format!(
                "file=@{};filename=package.projdup;type=application/octet-stream",
                file.display()
            ))
            .arg(format!("{}/api/projectDuplications/restoration", t.url))
            .status()
            .unwrap()
            .success();
    let up = started.elapsed();
    let _ = std::fs::remove_file(&file);
    let rate = |d: Duration| mib(bytes) / d.as_secs_f64().max(1e-9);
    println!("### Package mode: one package of {:.0} MiB\n", mib(size));
    println!("| client | exit | wall s | transfer s | MiB/s | peak RSS MiB | CPU s |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| ferry (stream source → target) | {} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} |",
        cost.exit,
        cost.wall.as_secs_f64(),
        transfer.as_secs_f64(),
        rate(transfer),
        cost.peak_mib,
        cost.cpu.as_secs_f64()
    );
    println!(
        "| curl download to a file | {} | | {:.2} | {:.0} | | |",
        if ok { 0 } else { 1 },
        down.as_secs_f64(),
        rate(down)
    );
    println!(
        "| curl upload of that file | {} | | {:.2} | {:.0} | | |",
        if ok { 0 } else { 1 },
        up.as_secs_f64(),
        rate(up)
    );
    println!(
        "\nPackage {bytes} bytes, sha256 {}. Ferry's transfer against curl's slower leg (a stream is at best as fast as it): {:.0}%; against curl's download then upload: {:.0}%.\n",
        job["package"]["sha256"].as_str().unwrap_or("?"),
        100.0 * down.max(up).as_secs_f64() / transfer.as_secs_f64(),
        100.0 * (down + up).as_secs_f64() / transfer.as_secs_f64(),
    );
}

/// `2026-12-01T08:30:24.632+0000` as milliseconds since the epoch.
fn epoch_ms(t: &str) -> Option<i64> {
    let (date, time) = t.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let time = time.trim_end_matches("+0000").trim_end_matches('Z');
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h[0]) * 60 + h[1]) * 60_000 + h[2] * 1000 + ms.parse::<i64>().ok()?)
}

fn polling_case(sb: &Sandbox, step_ms: u64, dir: &Path) {
    let (log, path) = (
        dir.join("ferry-polling.log"),
        dir.join("polling-report.json"),
    );
    let report_flag = path.to_str().unwrap();
    let cost = measure(
        ferry(
            sb,
            "dev",
            "qa",
            &["--select", "project:Sales", "--report", report_flag],
            dir,
        ),
        &log,
    );
    let report = read_report(&path);
    let job = &report["items"][0]["files"]["duplication"];
    let created = job["source"]["created"].as_str().and_then(epoch_ms);
    let done = job["target"]["last_updated"].as_str().and_then(epoch_ms);
    let (Some(created), Some(done)) = (created, done) else {
        println!("polling: no job times in the report (exit {})", cost.exit);
        return;
    };
    let server = Duration::from_millis((done - created).max(0) as u64);
    let added = cost.wall.saturating_sub(server);
    let polls = sb
        .log()
        .iter()
        .filter(|e| {
            e.method == "GET" && e.path.starts_with("projectDuplications/") && e.path.len() > 30
        })
        .count();
    println!("### Polling: one project in sync mode, server phases of {step_ms} ms\n");
    println!("| exit | ferry wall s | job on the server s | added s | added % | polls |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {:.2} | {:.2} | {:.2} | {:.1}% | {polls} |\n",
        cost.exit,
        cost.wall.as_secs_f64(),
        server.as_secs_f64(),
        added.as_secs_f64(),
        100.0 * added.as_secs_f64() / server.as_secs_f64().max(1e-9)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = opts();
    let dir = tempfile::tempdir().unwrap();
    let keep: PathBuf = dir.path().to_path_buf();
    println!(
        "Machine: {} cores. Command: `cargo bench -p ferry-cli --bench strategy -- {}`.\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect::<Vec<_>>()
            .join(" ")
    );
    if o.cases.iter().any(|c| c == "package") {
        let mut c = Config::local(vec![
            EnvSpec::seeded("big", Seed::Package(o.package_size)),
            EnvSpec::new("prod"),
        ]);
        c.step = Duration::from_millis(100);
        let sb = Sandbox::start(c).await.unwrap();
        tokio::task::block_in_place(|| package_case(&sb, o.package_size, &keep));
    }
    if o.cases.iter().any(|c| c == "polling") {
        let mut c = Config::local(vec![EnvSpec::seeded("dev", Seed::Demo), EnvSpec::new("qa")]);
        c.step = Duration::from_millis(o.step_ms);
        let sb = Sandbox::start(c).await.unwrap();
        tokio::task::block_in_place(|| polling_case(&sb, o.step_ms, &keep));
    }
}
