//! `cargo bench -p ferry-cli --bench compare [-- OPTIONS]`: ferry against Unstract's own clone
//! tool and against the least time any client could take, on one sandbox with a fixed
//! latency per request. Prints markdown tables (the ones in BENCHMARKS.md); `--help` lists
//! the options. Nothing here is a test: it measures and reports, it asserts no time.
//!
//! Every client runs as a child process, so its wall time, peak memory (`ru_maxrss`) and CPU
//! time are its own; the sandbox runs in this process and logs every request with its start
//! and end, from which the request counts and the bound come (see `bound`).

#[path = "common/measure.rs"]
mod measure;
#[path = "common/unstract.rs"]
mod unstract;
use unstract::start;
#[path = "../../sandbox/tests/it/support/reference.rs"]
mod reference;

use measure::{Cost, measure};

use ferry_sandbox::unstract::shared::LogEntry;
use ferry_sandbox::unstract::{OrgSpec, Sandbox, Seed};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const HELP: &str = "\
cargo bench -p ferry-cli --bench compare [-- OPTIONS]

  --latency-ms N     latency the sandbox adds to every request (default 20)
  --sizes LIST       resources in the clone cases (default 100,1000,10000)
  --cases LIST       which cases: clone, noop, file, scale, overhead (default all)
  --file-size SIZE   the large-file case (default 1GB)
  --scale N          the no-latency scale case (default 100000)
  --no-reference     leave Unstract's clone tool out
  --out FILE         also write the tables to FILE
  --keep DIR         keep each run's output and request log (JSON) in DIR
";

struct Opts {
    latency_ms: u64,
    sizes: Vec<usize>,
    cases: Vec<String>,
    file_size: u64,
    scale: usize,
    reference: bool,
    out: Option<PathBuf>,
    keep: Option<PathBuf>,
}

fn opts() -> Opts {
    let mut o = Opts {
        latency_ms: 20,
        sizes: vec![100, 1000, 10000],
        cases: ["clone", "noop", "file", "scale", "overhead"]
            .map(String::from)
            .to_vec(),
        file_size: 1 << 30,
        scale: 100_000,
        reference: true,
        out: None,
        keep: None,
    };
    let mut args = std::env::args().skip(1);
    let list = |v: Option<String>| {
        v.unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--latency-ms" => {
                o.latency_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--latency-ms N")
            }
            "--sizes" => {
                o.sizes = list(args.next())
                    .iter()
                    .map(|s| s.parse().expect("--sizes: numbers"))
                    .collect()
            }
            "--cases" => o.cases = list(args.next()),
            "--file-size" => {
                o.file_size = ferry::promotion::parse_size(&args.next().expect("--file-size SIZE"))
                    .expect("--file-size")
            }
            "--scale" => o.scale = args.next().and_then(|v| v.parse().ok()).expect("--scale N"),
            "--no-reference" => o.reference = false,
            "--out" => o.out = args.next().map(PathBuf::from),
            "--keep" => o.keep = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown option {other:?}\n\n{HELP}");
                std::process::exit(2);
            }
        }
    }
    o
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The requests of one run, as the sandbox logged them.
#[derive(Debug, Clone, Default)]
struct Traffic {
    source_reads: usize,
    target_reads: usize,
    target_writes: usize,
    /// mean time the sandbox took per request, latency included
    mean_ms: f64,
    /// the most requests that were in flight at one moment
    peak_in_flight: usize,
}

impl Traffic {
    fn of(entries: &[LogEntry], source: &str, target: &str) -> Traffic {
        let read = |e: &LogEntry| matches!(e.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        let mine: Vec<&LogEntry> = entries
            .iter()
            .filter(|e| e.org == source || e.org == target)
            .collect();
        let mut edges: Vec<(u64, i32)> = mine
            .iter()
            .flat_map(|e| [(e.start_us, 1), (e.end_us, -1)])
            .collect();
        edges.sort_by_key(|&(t, d)| (t, d));
        let (mut now, mut peak) = (0i32, 0i32);
        for (_, d) in edges {
            now += d;
            peak = peak.max(now);
        }
        let total_ms: f64 = mine
            .iter()
            .map(|e| (e.end_us - e.start_us) as f64 / 1000.0)
            .sum();
        Traffic {
            source_reads: mine.iter().filter(|e| e.org == source && read(e)).count(),
            target_reads: mine.iter().filter(|e| e.org == target && read(e)).count(),
            target_writes: mine.iter().filter(|e| e.org == target && !read(e)).count(),
            mean_ms: if mine.is_empty() {
                0.0
            } else {
                total_ms / mine.len() as f64
            },
            peak_in_flight: peak as usize,
        }
    }
    fn requests(&self) -> usize {
        self.source_reads + self.target_reads + self.target_writes
    }
}

/// The longest chain of resources in the source where each references the one before: each
/// needs its own write, and a write cannot start before the id of what it references is
/// known. Computed on the sandbox's canonical dump, where references are labels.
fn longest_chain(dump: &Value) -> usize {
    let mut refs: HashMap<String, Vec<String>> = HashMap::new();
    let labels: std::collections::HashSet<String> = dump
        .as_object()
        .unwrap()
        .values()
        .flat_map(|rows| rows.as_object().unwrap().keys().cloned())
        .collect();
    fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    for rows in dump.as_object().unwrap().values() {
        for (label, row) in rows.as_object().unwrap() {
            let mut found = Vec::new();
            strings(row, &mut found);
            // A child's label names its parent: `prompt:custom_tool:X/key`.
            let parent = label
                .split_once(':')
                .map(|(_, rest)| rest.rsplit_once('/').map_or(rest, |(p, _)| p))
                .unwrap_or("");
            let to: Vec<String> = found
                .into_iter()
                .chain([parent])
                .filter(|s| *s != label && labels.contains(*s))
                .map(str::to_string)
                .collect();
            refs.insert(label.clone(), to);
        }
    }
    fn depth(
        l: &str,
        refs: &HashMap<String, Vec<String>>,
        memo: &mut HashMap<String, usize>,
        seen: &mut Vec<String>,
    ) -> usize {
        if let Some(d) = memo.get(l) {
            return *d;
        }
        if seen.iter().any(|s| s == l) {
            return 0;
        }
        seen.push(l.to_string());
        let d = 1 + refs
            .get(l)
            .map(|r| {
                r.iter()
                    .map(|x| depth(x, refs, memo, seen))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        seen.pop();
        memo.insert(l.to_string(), d);
        d
    }
    let mut memo = HashMap::new();
    refs.keys()
        .map(|l| depth(l, &refs, &mut memo, &mut Vec::new()))
        .max()
        .unwrap_or(0)
}

/// The least wall time any client could reach for `work` at `concurrency`: no less than the
/// longest chain of requests that must follow one another (one read of the source, then one
/// write per resource along the longest reference chain), and no less than the time of all
/// the requests that must happen spread perfectly over the concurrency.
fn bound(work: &Traffic, chain: usize, concurrency: usize) -> Duration {
    let chain_ms = (chain + 1) as f64 * work.mean_ms;
    let spread_ms = work.requests() as f64 * work.mean_ms / concurrency.max(1) as f64;
    Duration::from_secs_f64(chain_ms.max(spread_ms) / 1000.0)
}

/// The requests that must happen, from runs that all did the same work: each kind of request
/// counted as the fewest any client needed.
fn least_work(runs: &[&Traffic]) -> Traffic {
    let min = |f: fn(&Traffic) -> usize| runs.iter().map(|t| f(t)).min().unwrap_or(0);
    let n: usize = runs.iter().map(|t| t.requests()).sum();
    let mean = runs
        .iter()
        .map(|t| t.mean_ms * t.requests() as f64)
        .sum::<f64>()
        / n.max(1) as f64;
    Traffic {
        source_reads: min(|t| t.source_reads),
        target_reads: min(|t| t.target_reads),
        target_writes: min(|t| t.target_writes),
        mean_ms: mean,
        peak_in_flight: 0,
    }
}

/// A client to compare.
#[derive(Clone)]
enum Tool {
    Ferry { concurrency: Option<u16> },
    Reference { concurrency: u16 },
}

impl Tool {
    fn name(&self) -> String {
        match self {
            Tool::Ferry { concurrency: None } => "ferry (defaults)".into(),
            Tool::Ferry {
                concurrency: Some(c),
            } => format!("ferry --concurrency {c}"),
            Tool::Reference { concurrency } => {
                format!("unstract.clone --concurrency {concurrency}")
            }
        }
    }
    /// Requests it may have in flight at once.
    fn concurrency(&self) -> usize {
        match self {
            Tool::Ferry { concurrency } => {
                concurrency.unwrap_or(ferry_cli::defaults::CONCURRENCY) as usize
            }
            Tool::Reference { concurrency } => *concurrency as usize,
        }
    }
}

struct Bench {
    ferry: PathBuf,
    python: Option<PathBuf>,
    work: tempfile::TempDir,
    /// where run outputs and request logs go
    logs: PathBuf,
    tables: String,
}

/// One measured run.
struct Run {
    tool: Tool,
    cost: Cost,
    traffic: Traffic,
    entries: Vec<LogEntry>,
}

impl Bench {
    fn command(
        &self,
        tool: &Tool,
        sandbox: &Sandbox,
        source: &str,
        target: &str,
        extra: &[&str],
    ) -> Command {
        let mut cmd = match tool {
            Tool::Ferry { concurrency } => {
                let mut c = Command::new(&self.ferry);
                c.args(["clone", "--output", "json"])
                    .env("FERRY_STATE_DIR", self.work.path().join("state"))
                    .env("FERRY_CACHE_DIR", self.work.path().join("cache"));
                if let Some(n) = concurrency {
                    c.args(["--concurrency", &n.to_string()]);
                }
                c
            }
            Tool::Reference { concurrency } => {
                let mut c = Command::new(self.python.as_ref().expect("reference tool"));
                c.args([
                    "-m",
                    "unstract.clone",
                    "clone",
                    "--concurrency",
                    &concurrency.to_string(),
                ])
                .env("NO_COLOR", "1");
                c
            }
        };
        cmd.args([
            "--clone-group-members",
            "--source-url",
            sandbox.url(),
            "--source-org",
            source,
            "--target-url",
            sandbox.url(),
            "--target-org",
            target,
        ]);
        cmd.args(extra);
        cmd.env("UNSTRACT_SRC_PLATFORM_KEY", sandbox.keys(source).read)
            .env("UNSTRACT_TGT_PLATFORM_KEY", sandbox.keys(target).read_write);
        cmd
    }

    fn run(
        &self,
        tool: &Tool,
        sandbox: &Sandbox,
        source: &str,
        target: &str,
        extra: &[&str],
        label: &str,
    ) -> Run {
        let from = sandbox.log().len();
        let log = self.logs.join(format!("{label}.log"));
        let cost = measure(self.command(tool, sandbox, source, target, extra), &log);
        if cost.exit != 0 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            eprintln!(
                "{} exited with {} (log {}):\n{}",
                tool.name(),
                cost.exit,
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let entries: Vec<LogEntry> = sandbox.log().split_off(from);
        let _ = std::fs::write(
            self.logs.join(format!("{label}.requests.json")),
            serde_json::to_vec(&entries).unwrap(),
        );
        let traffic = Traffic::of(&entries, source, target);
        eprintln!(
            "  {label}: {} in {:.2} s, {} requests, peak {:.0} MiB",
            tool.name(),
            cost.wall.as_secs_f64(),
            traffic.requests(),
            cost.peak_mib
        );
        Run {
            tool: tool.clone(),
            cost,
            traffic,
            entries,
        }
    }

    fn emit(&mut self, text: &str) {
        println!("{text}");
        self.tables.push_str(text);
        self.tables.push('\n');
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Clone an org of `size` resources with every tool into fresh targets; then, with `noop`,
/// clone again into ferry's target, which has everything already.
fn clone_case(
    b: &mut Bench,
    rt: &tokio::runtime::Runtime,
    size: usize,
    latency_ms: u64,
    noop: bool,
) {
    // The defaults are --concurrency 32; 16 is the reference tool's higher setting, and 8
    // shows the trend.
    let mut tools = vec![
        Tool::Ferry { concurrency: None },
        Tool::Ferry {
            concurrency: Some(16),
        },
        Tool::Ferry {
            concurrency: Some(8),
        },
    ];
    if b.python.is_some() {
        tools.extend([
            Tool::Reference { concurrency: 4 },
            Tool::Reference { concurrency: 16 },
        ]);
    }
    let targets: Vec<String> = (0..tools.len()).map(|i| format!("t{i}")).collect();
    let mut orgs = vec![OrgSpec::seeded("src", Seed::Scale(size))];
    orgs.extend(targets.iter().map(|t| OrgSpec::new(t)));
    let sandbox = start(rt, orgs, latency_ms);
    let source = sandbox.dump("src");
    let resources: usize = source
        .as_object()
        .unwrap()
        .values()
        .map(|r| r.as_object().unwrap().len())
        .sum();
    let chain = longest_chain(&source);
    eprintln!("clone: {resources} resources, longest reference chain {chain}");
    let runs: Vec<Run> = tools
        .iter()
        .zip(&targets)
        .map(|(t, target)| {
            b.run(
                t,
                &sandbox,
                "src",
                target,
                &[],
                &format!("clone-{size}-{target}"),
            )
        })
        .collect();

    // Did they all do the same work? Compare what each target ended up with.
    let dumps: Vec<Value> = targets.iter().map(|t| sandbox.dump(t)).collect();
    let rows = |d: &Value| {
        d.as_object()
            .unwrap()
            .values()
            .map(|r| r.as_object().unwrap().len())
            .sum::<usize>()
    };
    let same = dumps.iter().all(|d| *d == dumps[0]);
    let least = least_work(
        &runs
            .iter()
            .filter(|r| r.cost.exit == 0)
            .map(|r| &r.traffic)
            .collect::<Vec<_>>(),
    );
    let ferry_wall = runs[0].cost.wall;

    b.emit(&format!(
        "\n### Clone, {resources} resources in the source, {latency_ms} ms per request\n"
    ));
    b.emit(&format!("Target resources after the run: {}. All targets equal: {}. Longest reference chain: {chain}. Requests that must happen: {} ({} source reads, {} target reads, {} writes; the fewest any tool made), {:.1} ms each on average.\n", dumps.iter().map(rows).map(|n| n.to_string()).collect::<Vec<_>>().join(" / "), if same { "yes" } else { "no" }, least.requests(), least.source_reads, least.target_reads, least.target_writes, least.mean_ms));
    b.emit("| tool | exit | wall s | requests | reads src/tgt | writes | peak in flight | peak RSS MiB | CPU s | time / ferry | bound s | time / bound |");
    b.emit("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        // The bound at the concurrency the tool actually used, if it went over its setting.
        let c = r.tool.concurrency().max(r.traffic.peak_in_flight);
        let bd = bound(&least, chain, c);
        b.emit(&format!(
            "| {} | {} | {} | {} | {}/{} | {} | {} | {:.0} | {} | {:.2}× | {} (at {c}) | {:.2}× |",
            r.tool.name(),
            r.cost.exit,
            secs(r.cost.wall),
            r.traffic.requests(),
            r.traffic.source_reads,
            r.traffic.target_reads,
            r.traffic.target_writes,
            r.traffic.peak_in_flight,
            r.cost.peak_mib,
            secs(r.cost.cpu),
            r.cost.wall.as_secs_f64() / ferry_wall.as_secs_f64(),
            secs(bd),
            r.cost.wall.as_secs_f64() / bd.as_secs_f64()
        ));
    }

    if noop {
        // The re-run reads both orgs and finds nothing to do. Reading both orgs at the least
        // costs the source reads twice over (the target holds the same resources now).
        let again = b.run(
            &tools[0],
            &sandbox,
            "src",
            &targets[0],
            &[],
            &format!("noop-{size}"),
        );
        let changed = sandbox.dump(&targets[0]) != dumps[0];
        let read = Traffic {
            source_reads: least.source_reads,
            target_reads: least.source_reads,
            target_writes: 0,
            mean_ms: least.mean_ms,
            peak_in_flight: 0,
        };
        // At the concurrency the run actually used, as for the clone.
        let read_bound = bound(
            &read,
            1,
            tools[0].concurrency().max(again.traffic.peak_in_flight),
        );
        b.emit(&format!(
            "\n### No-op re-run of the {resources}-resource clone (ferry defaults)\n"
        ));
        b.emit("| wall s | requests | reads src/tgt | writes | target changed | reading both orgs, least s | time / reading |");
        b.emit("|---|---|---|---|---|---|---|");
        b.emit(&format!(
            "| {} | {} | {}/{} | {} | {} | {} | {:.2}× |",
            secs(again.cost.wall),
            again.traffic.requests(),
            again.traffic.source_reads,
            again.traffic.target_reads,
            again.traffic.target_writes,
            if changed { "yes" } else { "no" },
            secs(read_bound),
            again.cost.wall.as_secs_f64() / read_bound.as_secs_f64()
        ));
    }
    rt.block_on(sandbox.stop());
}

/// One file of `size` bytes: ferry's peak memory and throughput against curl downloading the
/// same document and uploading the same bytes, on loopback, without latency.
fn file_case(b: &mut Bench, rt: &tokio::runtime::Runtime, size: u64) {
    let sandbox = start(
        rt,
        vec![OrgSpec::seeded("src", Seed::File(size)), OrgSpec::new("t0")],
        0,
    );
    let mib = size as f64 / (1u64 << 20) as f64;
    let max = format!("{}", size + (1 << 20));
    let run = b.run(
        &Tool::Ferry { concurrency: None },
        &sandbox,
        "src",
        "t0",
        &["--max-file-size", &max],
        "file-ferry",
    );
    // The transfer: from the download's start to the upload's end, as the sandbox saw them.
    let download = run
        .entries
        .iter()
        .find(|e| e.org == "src" && e.path.starts_with("prompt-studio/file/"))
        .expect("the download");
    let upload = run
        .entries
        .iter()
        .find(|e| e.org == "t0" && e.method == "POST" && e.path.starts_with("prompt-studio/file/"))
        .expect("the upload");
    let ferry_transfer = Duration::from_micros(upload.end_us - download.start_us);
    let (source_doc, target) = (
        sandbox.dump("src")["document"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["file"]
            .clone(),
        sandbox.dump("t0"),
    );
    let moved = target["document"]
        .as_object()
        .unwrap()
        .values()
        .any(|d| d["file"] == source_doc);

    // curl: the same download to a file, then the decoded bytes uploaded as the same form
    // (into the project ferry made, as a second document).
    let rows = |org: &str, path: &str| -> Value {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-H",
                &format!("Authorization: Bearer {}", sandbox.keys(org).read_write),
            ])
            .arg(format!("{}{path}", sandbox.org_url(org)))
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("JSON from the sandbox")
    };
    let projects = rows("src", "prompt-studio/");
    let tool = projects["results"]
        .as_array()
        .or(projects.as_array())
        .and_then(|a| a.first().cloned())
        .expect("a project");
    let tool_id = tool["tool_id"].as_str().unwrap().to_string();
    let docs = rows(
        "src",
        &format!("prompt-studio/prompt-document/?tool_id={tool_id}"),
    );
    let doc_id = docs
        .as_array()
        .and_then(|a| a.first())
        .map(|d| d["document_id"].as_str().unwrap().to_string())
        .expect("a document");
    let target_tool = rows("t0", "prompt-studio/");
    let target_tool_id = target_tool["results"]
        .as_array()
        .or(target_tool.as_array())
        .and_then(|a| a.first())
        .map(|t| t["tool_id"].as_str().unwrap().to_string())
        .expect("a target project");
    let json_file = b.work.path().join("download.json");
    let raw_file = b.work.path().join("large.pdf");
    let started = Instant::now();
    let got = Command::new("curl")
        .args(["-sS", "-o"])
        .arg(&json_file)
        .args([
            "-H",
            &format!("Authorization: Bearer {}", sandbox.keys("src").read),
        ])
        .arg(format!(
            "{}prompt-studio/file/{tool_id}?document_id={doc_id}",
            sandbox.org_url("src")
        ))
        .status()
        .expect("curl");
    let download_time = started.elapsed();
    assert!(got.success(), "curl download failed");
    // Decoding is not timed: curl is given the bytes for free.
    {
        use base64::Engine as _;
        let text = std::fs::read(&json_file).unwrap();
        let v: Value = serde_json::from_slice(&text).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(&raw_file, bytes).unwrap();
        std::fs::remove_file(&json_file).unwrap();
    }
    let started = Instant::now();
    let sent = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("Authorization: Bearer {}", sandbox.keys("t0").read_write),
        ])
        .args([
            "-F",
            &format!(
                "file=@{};filename=large-copy.pdf;type=application/pdf",
                raw_file.display()
            ),
        ])
        .arg(format!(
            "{}prompt-studio/file/{target_tool_id}",
            sandbox.org_url("t0")
        ))
        .output()
        .expect("curl");
    let upload_time = started.elapsed();
    let _ = std::fs::remove_file(&raw_file);
    let curl_time = download_time + upload_time;
    let code = String::from_utf8_lossy(&sent.stdout).to_string();

    b.emit(&format!("\n### One file of {mib:.0} MiB, no latency\n"));
    b.emit(&format!("curl: download {} s + upload {} s (HTTP {code}); decoding the download for the upload is not counted.\n", secs(download_time), secs(upload_time)));
    b.emit("| client | exit | file arrived | transfer s | MiB/s | share of curl's throughput | whole run s | CPU s | peak RSS MiB |");
    b.emit("|---|---|---|---|---|---|---|---|---|");
    b.emit(&format!(
        "| ferry (defaults) | {} | {} | {} | {:.0} | {:.0}% | {} | {} | {:.0} |",
        run.cost.exit,
        if moved { "yes, same sha256" } else { "NO" },
        secs(ferry_transfer),
        mib / ferry_transfer.as_secs_f64(),
        100.0 * curl_time.as_secs_f64() / ferry_transfer.as_secs_f64(),
        secs(run.cost.wall),
        secs(run.cost.cpu),
        run.cost.peak_mib
    ));
    b.emit(&format!(
        "| curl, download then upload | 0 | - | {} | {:.0} | 100% | - | - | - |",
        secs(curl_time),
        mib / curl_time.as_secs_f64()
    ));
    rt.block_on(sandbox.stop());
}

/// Growth without latency: time per resource and peak memory at several sizes.
fn scale_case(b: &mut Bench, rt: &tokio::runtime::Runtime, sizes: &[usize]) {
    b.emit("\n### Scale, no latency (ferry defaults)\n");
    b.emit("| resources | wall s | ms per resource | requests | peak RSS MiB | KiB per resource | CPU s |");
    b.emit("|---|---|---|---|---|---|---|");
    for &size in sizes {
        let sandbox = start(
            rt,
            vec![
                OrgSpec::seeded("src", Seed::Scale(size)),
                OrgSpec::new("t0"),
            ],
            0,
        );
        let resources: usize = sandbox
            .dump("src")
            .as_object()
            .unwrap()
            .values()
            .map(|r| r.as_object().unwrap().len())
            .sum();
        let run = b.run(
            &Tool::Ferry { concurrency: None },
            &sandbox,
            "src",
            "t0",
            &[],
            &format!("scale-{size}"),
        );
        b.emit(&format!(
            "| {resources} | {} | {:.2} | {} | {:.0} | {:.1} | {} |",
            secs(run.cost.wall),
            run.cost.wall.as_secs_f64() * 1000.0 / resources as f64,
            run.traffic.requests(),
            run.cost.peak_mib,
            run.cost.peak_mib * 1024.0 / resources as f64,
            secs(run.cost.cpu)
        ));
        rt.block_on(sandbox.stop());
    }
}

/// The cost of the sandboxes: with no latency, the time spent inside WASM guests (the cloner,
/// instantiation included) and in a Rhai hook, per resource, against the run's CPU time.
fn overhead_case(b: &mut Bench, rt: &tokio::runtime::Runtime, size: usize) {
    let sandbox = start(
        rt,
        vec![
            OrgSpec::seeded("src", Seed::Scale(size)),
            OrgSpec::new("t0"),
            OrgSpec::new("t1"),
        ],
        0,
    );
    let resources: usize = sandbox
        .dump("src")
        .as_object()
        .unwrap()
        .values()
        .map(|r| r.as_object().unwrap().len())
        .sum();
    let file = b.work.path().join("overhead.toml");
    // The ready-made rename hook on every resource, as a Rhai script and as a WASM component.
    let promotion = |uses: &str| {
        format!(
            "[run]\nclone_group_members = true\n\n[[hooks]]\nuses = \"{uses}\"\nwith = {{ from = \" \", to = \" \", at = \"anywhere\" }}\n"
        )
    };
    b.emit(&format!("\n### Plugin overhead, {resources} resources, no latency (ferry --concurrency 1, the rename hook on every resource)\n"));
    b.emit("| hook | wall s | CPU s | CPU µs per resource | WASM guest µs per resource (calls) | hook µs per resource (calls) | WASM + hook share of CPU |");
    b.emit("|---|---|---|---|---|---|---|");
    for (target, uses) in [("t0", "bundled:rename.rhai"), ("t1", "bundled:rename.wasm")] {
        std::fs::write(&file, promotion(uses)).unwrap();
        let report = b.work.path().join(format!("overhead-{target}.json"));
        // One plugin call at a time: a guest's wall time is then its CPU time, not time spent
        // waiting for one of the 2 cores behind other guests.
        let run = b.run(
            &Tool::Ferry {
                concurrency: Some(1),
            },
            &sandbox,
            "src",
            target,
            &[
                "--config",
                file.to_str().unwrap(),
                "--report",
                report.to_str().unwrap(),
            ],
            &format!("overhead-{target}"),
        );
        let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default())
            .unwrap_or(Value::Null);
        let ms = |k: &str| r["runtime"][k]["ms"].as_f64().unwrap_or(0.0);
        let calls = |k: &str| r["runtime"][k]["calls"].as_u64().unwrap_or(0);
        // A WASM hook's time is counted in `wasm` with the cloner's: the WASM row shows both,
        // and its difference from the Rhai row's WASM column is the hook's share.
        let hook_ms = if uses.ends_with(".rhai") {
            ms("rhai_hooks")
        } else {
            0.0
        };
        let per = |ms: f64| ms * 1000.0 / resources as f64;
        let cpu_ms = run.cost.cpu.as_secs_f64() * 1000.0;
        b.emit(&format!(
            "| {uses} | {} | {} | {:.0} | {:.0} ({}) | {} | {:.0}% |",
            secs(run.cost.wall),
            secs(run.cost.cpu),
            per(cpu_ms),
            per(ms("wasm")),
            calls("wasm"),
            if uses.ends_with(".rhai") {
                format!("{:.0} ({})", per(hook_ms), calls("rhai_hooks"))
            } else {
                "in the WASM column".into()
            },
            100.0 * (ms("wasm") + hook_ms) / cpu_ms
        ));
    }
    rt.block_on(sandbox.stop());
}

fn main() {
    let o = opts();
    let root = repo_root();
    let python = if o.reference {
        match reference::reference_python(&root) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("the reference tool is not available ({e}); going on without it");
                None
            }
        }
    } else {
        None
    };
    let work = tempfile::tempdir().unwrap();
    let logs = o.keep.clone().unwrap_or_else(|| work.path().to_path_buf());
    std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));
    let mut b = Bench {
        ferry: PathBuf::from(env!("CARGO_BIN_EXE_ferry")),
        python,
        work,
        logs,
        tables: String::new(),
    };
    let rt = rt();
    // Warm the compiled-plugin cache, as any second run of ferry finds it.
    let _ = Command::new(&b.ferry)
        .args(["plugins", "list"])
        .env("FERRY_CACHE_DIR", b.work.path().join("cache"))
        .output();

    b.emit(&format!("## Figures\n\nMachine: {} cores, {}. Command: `cargo bench -p ferry-cli --bench compare -- {}`.", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), machine(), std::env::args().skip(1).filter(|a| a != "--bench").collect::<Vec<_>>().join(" ")));
    let has = |c: &str| o.cases.iter().any(|x| x == c);
    for &size in &o.sizes {
        if has("clone") || has("noop") {
            clone_case(&mut b, &rt, size, o.latency_ms, has("noop") && size == 1000);
        }
    }
    if has("overhead") {
        overhead_case(&mut b, &rt, 1000);
    }
    if has("file") {
        file_case(&mut b, &rt, o.file_size);
    }
    if has("scale") {
        let mut sizes: Vec<usize> = [o.scale / 10, o.scale / 3, o.scale]
            .into_iter()
            .filter(|&n| n >= 100)
            .collect();
        sizes.dedup();
        scale_case(&mut b, &rt, &sizes);
    }
    if let Some(out) = &o.out {
        std::fs::write(out, &b.tables).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    }
}

/// The CPU model and memory, from /proc.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{:.0} GiB", k as f64 / 1048576.0))
        .unwrap_or_default();
    format!("{cpu}, {mem}")
}
