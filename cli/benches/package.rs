//! `cargo bench -p ferry-cli --bench package [-- OPTIONS]`: packages against the Unstract
//! sandbox. Prints markdown tables (the ones in BENCHMARKS.md); nothing is asserted.
//!
//! - `org`: an org of `--size` resources at `--latency-ms` per request, cloned directly, then
//!   exported and restored into another org: the times, their ratio, the package's size, and
//!   whether both targets ended up the same (secret fields aside: the restore's rules set them).
//! - `file`: one Prompt Studio document of `--file-size`, exported and restored without
//!   latency: each way's wall time, throughput and peak memory.

#[path = "common/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "common/unstract.rs"]
mod unstract;
use unstract::{ferry, start};

use ferry_sandbox::unstract::{OrgSpec, Sandbox, Seed};
use measure::{Cost, measure};
use serde_json::Value;
use std::path::Path;

const HELP: &str = "\
cargo bench -p ferry-cli --bench package [-- OPTIONS]

  --cases LIST       org, file (default both)
  --size N           the org case's resources (default 1000)
  --latency-ms N     the org case's latency per request (default 20)
  --file-size SIZE   the file case's document (default 1GB)
";

struct Opts {
    cases: Vec<String>,
    size: usize,
    latency_ms: u64,
    file_size: u64,
}

fn opts() -> Opts {
    let mut o = Opts {
        cases: vec!["org".into(), "file".into()],
        size: 1000,
        latency_ms: 20,
        file_size: 1 << 30,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().unwrap_or_else(|| panic!("{a} {what}"));
        match a.as_str() {
            "--bench" => {}
            "--cases" => o.cases = value("LIST").split(',').map(String::from).collect(),
            "--size" => o.size = value("N").parse().expect("--size N"),
            "--latency-ms" => o.latency_ms = value("N").parse().expect("--latency-ms N"),
            "--file-size" => {
                o.file_size = ferry_sandbox::kit::parse_size(&value("SIZE")).expect("--file-size")
            }
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0)
            }
            other => panic!("unknown option {other}\n{HELP}"),
        }
    }
    o
}

/// The restore's promotion file: its target, and the secrets a package leaves out.
fn restore_file(dir: &Path, sb: &Sandbox, org: &str) -> std::path::PathBuf {
    let path = dir.join(format!("restore-{org}.toml"));
    let text = format!(
        "[target]\nurl = \"{}\"\norg = \"{org}\"\nkey_env = \"BENCH_TARGET_KEY\"\n\n[kinds.adapter]\nset = {{ \"/adapter_metadata\" = {{ api_key = \"bench\" }} }}\n\n[kinds.connector]\nset = {{ \"/connector_metadata\" = {{ token = \"bench\" }} }}\n",
        sb.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn export(dir: &Path, sb: &Sandbox, org: &str, out: &Path) -> Cost {
    let mut c = ferry(dir);
    c.args([
        "export",
        "--source-url",
        sb.url(),
        "--source-org",
        org,
        "--max-file-size",
        "4GB",
        "--out",
    ])
    .arg(out)
    .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys(org).read);
    checked(
        measure(c, &dir.join(format!("export-{org}.log"))),
        dir,
        &format!("export-{org}"),
    )
}

fn restore(dir: &Path, sb: &Sandbox, package: &Path, org: &str) -> Cost {
    let mut c = ferry(dir);
    c.args(["clone", "--from-package"])
        .arg(package)
        .args(["--max-file-size", "4GB", "--config"])
        .arg(restore_file(dir, sb, org))
        .env("BENCH_TARGET_KEY", sb.keys(org).read_write);
    checked(
        measure(c, &dir.join(format!("restore-{org}.log"))),
        dir,
        &format!("restore-{org}"),
    )
}

fn checked(c: Cost, dir: &Path, what: &str) -> Cost {
    if c.exit != 0 {
        let log = std::fs::read_to_string(dir.join(format!("{what}.log"))).unwrap_or_default();
        panic!("{what} exited {}:\n{log}", c.exit);
    }
    c
}

/// A dump without the secret fields.
fn without_secrets(mut dump: Value) -> Value {
    for rows in dump.as_object_mut().unwrap().values_mut() {
        for row in rows.as_object_mut().unwrap().values_mut() {
            if let Some(o) = row.as_object_mut() {
                for f in ["adapter_metadata", "connector_metadata"] {
                    o.remove(f);
                }
            }
        }
    }
    dump
}

fn org_case(rt: &tokio::runtime::Runtime, dir: &Path, o: &Opts) {
    let sb = start(
        rt,
        vec![
            OrgSpec::seeded("src", Seed::Scale(o.size)),
            OrgSpec::new("direct"),
            OrgSpec::new("restored"),
        ],
        o.latency_ms,
    );
    let mut c = ferry(dir);
    c.args([
        "clone",
        "--source-url",
        sb.url(),
        "--source-org",
        "src",
        "--target-url",
        sb.url(),
        "--target-org",
        "direct",
        "--max-file-size",
        "4GB",
    ])
    .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys("src").read)
    .env("UNSTRACT_TGT_PLATFORM_KEY", sb.keys("direct").read_write);
    let direct = checked(measure(c, &dir.join("direct.log")), dir, "direct");
    let package = dir.join("org.ferrypkg");
    let e = export(dir, &sb, "src", &package);
    let r = restore(dir, &sb, &package, "restored");
    let same = without_secrets(sb.dump("direct")) == without_secrets(sb.dump("restored"));
    let resources: usize = sb
        .dump("src")
        .as_object()
        .unwrap()
        .values()
        .map(|r| r.as_object().unwrap().len())
        .sum();
    let bytes = std::fs::metadata(&package).unwrap().len();
    println!(
        "\n### Export and restore, {resources} resources in the source, {} ms per request\n",
        o.latency_ms
    );
    println!("| run | wall | peak memory |\n|---|---|---|");
    println!(
        "| direct clone | {:.2} s | {:.1} MiB |",
        direct.wall.as_secs_f64(),
        direct.peak_mib
    );
    println!(
        "| export | {:.2} s | {:.1} MiB |",
        e.wall.as_secs_f64(),
        e.peak_mib
    );
    println!(
        "| restore | {:.2} s | {:.1} MiB |",
        r.wall.as_secs_f64(),
        r.peak_mib
    );
    println!(
        "\nexport + restore against the direct clone: {:.2}×; the package: {} bytes ({:.1} KiB); \
         the two targets {}",
        (e.wall + r.wall).as_secs_f64() / direct.wall.as_secs_f64(),
        bytes,
        bytes as f64 / 1024.0,
        if same {
            "are the same (secret fields aside)"
        } else {
            "DIFFER"
        }
    );
}

fn file_case(rt: &tokio::runtime::Runtime, dir: &Path, o: &Opts) {
    let sb = start(
        rt,
        vec![
            OrgSpec::seeded("big", Seed::File(o.file_size)),
            OrgSpec::new("dst"),
        ],
        0,
    );
    let package = dir.join("file.ferrypkg");
    let e = export(dir, &sb, "big", &package);
    let r = restore(dir, &sb, &package, "dst");
    let files = |d: &Value| -> Vec<Value> {
        d["document"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| r["file"].clone())
            .collect()
    };
    let same = files(&sb.dump("big")) == files(&sb.dump("dst"));
    let mib = o.file_size as f64 / (1 << 20) as f64;
    println!("\n### One file of {mib:.0} MiB through a package, no latency\n");
    println!("| way | wall | throughput | peak memory |\n|---|---|---|---|");
    for (way, c) in [
        ("export (source → package)", e),
        ("restore (package → target)", r),
    ] {
        println!(
            "| {way} | {:.2} s | {:.0} MiB/s | {:.1} MiB |",
            c.wall.as_secs_f64(),
            mib / c.wall.as_secs_f64(),
            c.peak_mib
        );
    }
    println!(
        "\nthe package: {} bytes; the target's file {} the source's",
        std::fs::metadata(&package).unwrap().len(),
        if same { "equals" } else { "DIFFERS FROM" }
    );
}

fn main() {
    let o = opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    if o.cases.iter().any(|c| c == "org") {
        org_case(&rt, dir.path(), &o);
    }
    if o.cases.iter().any(|c| c == "file") {
        file_case(&rt, dir.path(), &o);
    }
}
