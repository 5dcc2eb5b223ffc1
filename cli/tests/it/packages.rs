//! Packages end to end against the Unstract sandbox: `ferry export` then `ferry clone
//! --from-package` leaves the target as a direct clone does (secret fields aside: a package
//! never holds them, and the restore's rules set them); restoring again writes nothing; an
//! export writes nothing to the source; no secret value is anywhere in a package; a package
//! changed in a resource, a file or the manifest, truncated, of an unknown format, or
//! signed by another key is refused, naming the entry, before any write.

use crate::support;
use crate::support::{expect, json_of, measure};
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};

const SECRET: &str = "restored-secret-7f3a";

async fn sandbox() -> Sandbox {
    Sandbox::start(Config::local(vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::new("prod"),
        OrgSpec::new("qa"),
    ]))
    .await
    .unwrap()
}

fn export(sb: &Sandbox, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = support::ferry_command();
    c.args([
        "export",
        "--source-url",
        sb.url(),
        "--source-org",
        "dev",
        "--out",
    ])
    .arg(out)
    .args(extra)
    .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys("dev").read);
    support::output(&mut c)
}

/// The restore's promotion file: the target, and rules that set the secrets left out.
fn restore_config(dir: &Path, sb: &Sandbox, org: &str) -> PathBuf {
    let path = dir.join(format!("restore-{org}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[target]
url = "{}"
org = "{org}"
key_env = "FERRY_PKG_TARGET_KEY"

[kinds.adapter]
set = {{ "/adapter_metadata" = {{ credential = "${{env:FERRY_PKG_SECRET}}" }} }}

[kinds.connector]
set = {{ "/connector_metadata" = {{ token = "${{env:FERRY_PKG_SECRET}}" }} }}
"#,
            sb.url()
        ),
    )
    .unwrap();
    path
}

fn restore(
    sub: &str,
    sb: &Sandbox,
    dir: &Path,
    package: &Path,
    org: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut c = support::ferry_command();
    c.args([sub, "--from-package"])
        .arg(package)
        .arg("--config")
        .arg(restore_config(dir, sb, org))
        .args(extra)
        .env("FERRY_PKG_TARGET_KEY", sb.keys(org).read_write)
        .env("FERRY_PKG_SECRET", SECRET);
    support::output(&mut c)
}

/// A dump without the secret fields (a package leaves them out; the rules set them).
fn without_secrets(mut dump: Value) -> Value {
    for rows in dump.as_object_mut().unwrap().values_mut() {
        for row in rows.as_object_mut().unwrap().values_mut() {
            if let Some(o) = row.as_object_mut() {
                for f in ["adapter_metadata", "connector_metadata", "api_key"] {
                    o.remove(f);
                }
            }
        }
    }
    dump
}

/// Every credential held in a secret field of a dump: the values of its keys, secrets,
/// tokens and passwords (its names and URLs are not secret, and are elsewhere too).
fn secret_values(dump: &Value) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.len() >= 6 => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => {
                for (k, x) in o {
                    // under a secret-like name every string; elsewhere, nested objects
                    let secret_like = ["key", "secret", "token", "password"]
                        .iter()
                        .any(|w| k.contains(w));
                    if secret_like || x.is_object() {
                        strings(x, out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = vec![];
    for rows in dump.as_object().unwrap().values() {
        for row in rows.as_object().unwrap().values() {
            for f in ["adapter_metadata", "connector_metadata", "api_key"] {
                strings(&row[f], &mut out);
            }
        }
    }
    out
}

/// The archive's entries, decompressed.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let z = zstd::Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut a = tar::Archive::new(z);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut buf = vec![];
            e.read_to_end(&mut buf).unwrap();
            (name, buf)
        })
        .collect()
}

fn write_entries(path: &Path, entries: &[(String, Vec<u8>)]) {
    let z = zstd::Encoder::new(std::fs::File::create(path).unwrap(), 3).unwrap();
    let mut t = tar::Builder::new(z);
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        t.append_data(&mut h, name, &data[..]).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
}

/// A copy of `package` with `change` applied to its entries.
fn tampered(
    package: &Path,
    name: &str,
    change: impl FnOnce(&mut Vec<(String, Vec<u8>)>),
) -> PathBuf {
    let mut e = entries(package);
    change(&mut e);
    let out = package.with_file_name(name);
    write_entries(&out, &e);
    out
}

fn flip(data: &mut [u8]) {
    let i = data.len() / 2;
    data[i] = if data[i] == b'a' { b'b' } else { b'a' };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_package_restores_as_a_direct_clone_does() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("dev.ferrypkg");

    expect(
        &support::output(&mut support::ferry_between("clone", &sb, "dev", "prod")),
        0,
    );

    let before = sb.dump("dev");
    let out = export(&sb, &package, &["--output", "json"]);
    expect(&out, 0);
    let done = json_of(&out);
    assert_eq!(done["counts"]["custom_tool"], 3, "{done:#}");
    assert!(
        done["files"].as_u64().unwrap() >= 4,
        "the documents are in it: {done:#}"
    );
    assert!(!done["credentials"].as_array().unwrap().is_empty());
    assert!(
        sb.writes_to("dev").is_empty(),
        "an export wrote to its source"
    );
    assert_eq!(sb.dump("dev"), before);

    // No secret of the source is anywhere in the package, compressed or not.
    let raw = std::fs::read(&package).unwrap();
    let mut plain = vec![];
    for (name, data) in entries(&package) {
        plain.extend_from_slice(name.as_bytes());
        plain.extend_from_slice(&data);
    }
    let secrets = secret_values(&before);
    assert!(secrets.len() >= 5, "{secrets:?}");
    for s in secrets.iter().chain([&sb.keys("dev").read]) {
        for bytes in [&raw, &plain] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "secret {s:?} is in the package"
            );
        }
    }

    // `package inspect` checks it and lists what a target will need.
    let mut c = support::ferry_command();
    let out = support::output(
        c.args(["package", "inspect", "--output", "json"])
            .arg(&package),
    );
    expect(&out, 0);
    let m = json_of(&out);
    assert_eq!(m["manifest"]["platform"], "unstract");
    assert_eq!(m["signature"]["status"], "no");
    assert!(
        m["manifest"]["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "/adapter_metadata")
    );
    assert!(!m.to_string().contains(&sb.keys("dev").read));

    // A plan from the package writes nothing and names the secrets the rules set none of.
    let out = restore(
        "plan",
        &sb,
        dir.path(),
        &package,
        "qa",
        &["--output", "json"],
    );
    expect(&out, 0);
    let plan = json_of(&out);
    assert!(
        plan["source"]
            .as_str()
            .unwrap()
            .starts_with("package dev.ferrypkg"),
        "{}",
        plan["source"]
    );
    assert!(sb.writes_to("qa").is_empty());
    let needed: Vec<&Value> = plan["credentials_needed"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(
        needed.iter().any(|c| c["kind"] == "api_deployment"),
        "{needed:?}"
    );
    assert!(
        !needed.iter().any(|c| c["kind"] == "adapter"),
        "the rules set the adapters': {needed:?}"
    );

    // The restore: the target equals the direct clone, the secrets are the rules'.
    let out = restore(
        "clone",
        &sb,
        dir.path(),
        &package,
        "qa",
        &["--output", "json"],
    );
    expect(&out, 0);
    let (prod, qa) = (sb.dump("prod"), sb.dump("qa"));
    assert_eq!(
        without_secrets(qa.clone()),
        without_secrets(prod),
        "the restore differs from the direct clone"
    );
    for row in qa["adapter"].as_object().unwrap().values() {
        assert_eq!(row["adapter_metadata"], json!({"credential": SECRET}));
    }
    assert!(sb.writes_to("dev").is_empty());

    // Again: nothing to write.
    let writes = sb.writes_to("qa").len();
    let out = restore(
        "clone",
        &sb,
        dir.path(),
        &package,
        "qa",
        &["--output", "json"],
    );
    expect(&out, 0);
    assert_eq!(sb.writes_to("qa").len(), writes, "a second restore wrote");
    let r = json_of(&out);
    assert!(
        r["kinds"]
            .as_object()
            .unwrap()
            .values()
            .all(|k| k["created"] == 0),
        "{:#}",
        r["kinds"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_tampered_package_is_refused_before_any_write() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("dev.ferrypkg");
    expect(&export(&sb, &package, &[]), 0);

    let resource = tampered(&package, "resource.ferrypkg", |e| {
        let (_, data) = e
            .iter_mut()
            .find(|(n, _)| n == "resources/tag.jsonl")
            .unwrap();
        flip(data);
    });
    let file = tampered(&package, "file.ferrypkg", |e| {
        let (_, data) = e.iter_mut().find(|(n, _)| n.starts_with("files/")).unwrap();
        flip(data);
    });
    let manifest = tampered(&package, "manifest.ferrypkg", |e| {
        let text = String::from_utf8(e[0].1.clone()).unwrap();
        e[0].1 = text
            .replacen(
                "\"platform\": \"unstract\"",
                "\"platform\": \"unstracT\"",
                1,
            )
            .into_bytes();
    });
    // A newer format, its manifest's own sha256 made to match: only the version is wrong.
    let format = tampered(&package, "format.ferrypkg", |e| {
        let text = String::from_utf8(e[0].1.clone()).unwrap();
        e[0].1 = text
            .replacen("\"format\": 1", "\"format\": 2", 1)
            .into_bytes();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&e[0].1));
        e[1].1 = format!("{sha}\n").into_bytes();
    });
    let dropped = tampered(&package, "dropped.ferrypkg", |e| {
        e.retain(|(n, _)| n != "resources/group.jsonl");
    });
    let truncated = dir.path().join("truncated.ferrypkg");
    let bytes = std::fs::read(&package).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();

    for (bad, names) in [
        (&resource, "resources/tag.jsonl"),
        (&file, "files/"),
        (&manifest, "manifest.json"),
        (&format, "format version 2"),
        (&dropped, "resources/group.jsonl"),
        (&truncated, "truncated"),
    ] {
        for sub in ["clone", "plan"] {
            let out = restore(sub, &sb, dir.path(), bad, "qa", &[]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{} was restored", bad.display());
            assert!(err.contains(names), "{}: {err}", bad.display());
            if sub == "clone" {
                assert!(err.contains("nothing was written"), "{err}");
            }
        }
        let mut c = support::ferry_command();
        let out = support::output(c.args(["package", "inspect"]).arg(bad));
        assert_ne!(out.status.code(), Some(0));
    }
    assert!(sb.writes_to("qa").is_empty(), "a refused package wrote");

    // A package of a selection lacks what it did not select: no prune from it.
    let selected = dir.path().join("selected.ferrypkg");
    expect(&export(&sb, &selected, &["--select", "tag:*fin*"]), 0);
    let out = restore("clone", &sb, dir.path(), &selected, "qa", &["--prune"]);
    expect(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exported with a selection"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sb.writes_to("qa").is_empty(), "a refused prune wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_package_is_restored_only_with_its_key() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, other) = (dir.path().join("release.key"), dir.path().join("other.key"));
    for k in [&key, &other] {
        let mut c = support::ferry_command();
        expect(&support::output(c.args(["package", "keygen"]).arg(k)), 0);
    }
    let mut c = support::ferry_command();
    assert_ne!(
        support::output(c.args(["package", "keygen"]).arg(&key))
            .status
            .code(),
        Some(0),
        "a key was overwritten"
    );
    let signed = dir.path().join("signed.ferrypkg");
    let unsigned = dir.path().join("unsigned.ferrypkg");
    expect(&export(&sb, &signed, &["--sign", key.to_str().unwrap()]), 0);
    expect(&export(&sb, &unsigned, &[]), 0);
    let public = |k: &Path| format!("{}.pub", k.display());

    let out = restore(
        "plan",
        &sb,
        dir.path(),
        &signed,
        "qa",
        &["--verify", &public(&key), "--require-signature"],
    );
    expect(&out, 0);
    for (package, verify, says) in [
        (&signed, public(&other), "another key"),
        (&unsigned, public(&key), "not signed"),
    ] {
        let out = restore(
            "clone",
            &sb,
            dir.path(),
            package,
            "qa",
            &["--verify", &verify, "--require-signature"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0));
        assert!(err.contains(says), "{err}");
    }
    // A changed resource in a signed package: its sha256 no longer matches the signed manifest.
    let changed = tampered(&signed, "changed.ferrypkg", |e| {
        let (_, data) = e
            .iter_mut()
            .find(|(n, _)| n == "resources/tag.jsonl")
            .unwrap();
        flip(data);
    });
    let out = restore(
        "clone",
        &sb,
        dir.path(),
        &changed,
        "qa",
        &["--verify", &public(&key)],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resources/tag.jsonl"));
    let mut c = support::ferry_command();
    let out = support::output(
        c.args(["package", "inspect", "--output", "json", "--verify"])
            .arg(public(&key))
            .arg(&signed),
    );
    expect(&out, 0);
    assert_eq!(json_of(&out)["signature"]["status"], "verified");
    assert!(sb.writes_to("qa").is_empty());
}

/// A file far larger than the memory it may take goes into a package and out of it in flat
/// memory: it streams to disk both ways, so the export and the restore of a 200 MiB file take
/// about what those of a 1 MiB file take (the test binary is a debug build, larger than a
/// release one: the 64 MiB mark for a 1 GiB file is measured on the release build by `cargo
/// bench -p ferry-cli --bench package`, in BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_goes_through_a_package_in_flat_memory() {
    const SIZE: u64 = 200 << 20;
    let sb = Sandbox::start(Config::local(vec![
        OrgSpec::seeded("dev", Seed::File(SIZE)),
        OrgSpec::seeded("tiny", Seed::File(1 << 20)),
        OrgSpec::new("prod"),
        OrgSpec::new("qa"),
        OrgSpec::new("uat"),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Over the export's --max-file-size (25 MB by default) the file is left out, and the
    // restore reports it too large, as a clone would; nothing fails.
    let capped = dir.path().join("capped.ferrypkg");
    let mut c = support::ferry_command();
    c.args([
        "export",
        "--source-url",
        sb.url(),
        "--source-org",
        "dev",
        "--out",
    ])
    .arg(&capped)
    .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys("dev").read);
    expect(&support::output(&mut c), 0);
    assert!(std::fs::metadata(&capped).unwrap().len() < 1 << 20);
    let out = restore(
        "clone",
        &sb,
        dir.path(),
        &capped,
        "uat",
        &["--output", "json", "--max-file-size", "1GB"],
    );
    expect(&out, 0);
    let files = &json_of(&out)["files"];
    assert_eq!(
        (
            files["too_large"].as_array().unwrap().len(),
            files["failed"].as_array().unwrap().len()
        ),
        (1, 0),
        "{files:#}"
    );

    let through = |from: &str, to: &str| {
        let package = dir.path().join(format!("{from}.ferrypkg"));
        let mut c = support::ferry_command();
        c.args([
            "export",
            "--source-url",
            sb.url(),
            "--source-org",
            from,
            "--max-file-size",
            "1GB",
            "--out",
        ])
        .arg(&package)
        .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys(from).read);
        let log = dir.path().join(format!("export-{from}.log"));
        let export = tokio::task::block_in_place(|| measure::measure(c, &log));
        assert_eq!(export.exit, 0, "{}", std::fs::read_to_string(&log).unwrap());
        let mut c = support::ferry_command();
        c.args(["clone", "--from-package"])
            .arg(&package)
            .args(["--max-file-size", "1GB", "--config"])
            .arg(restore_config(dir.path(), &sb, to))
            .env("FERRY_PKG_TARGET_KEY", sb.keys(to).read_write)
            .env("FERRY_PKG_SECRET", SECRET);
        let log = dir.path().join(format!("restore-{to}.log"));
        let restore = tokio::task::block_in_place(|| measure::measure(c, &log));
        assert_eq!(
            restore.exit,
            0,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        let files = |d: &Value| -> Vec<Value> {
            d["document"]
                .as_object()
                .unwrap()
                .values()
                .map(|r| r["file"].clone())
                .collect()
        };
        assert_eq!(files(&sb.dump(to)), files(&sb.dump(from)));
        (export.peak_mib, restore.peak_mib)
    };
    let small = through("tiny", "qa");
    let large = through("dev", "prod");
    assert_eq!(
        sb.dump("prod")["document"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["file"]["bytes"],
        SIZE
    );
    for (what, s, l) in [("export", small.0, large.0), ("restore", small.1, large.1)] {
        assert!(
            l < s + 24.0,
            "the {what} of a {} MiB file peaked at {l:.1} MiB, that of a 1 MiB file at {s:.1} MiB: memory grows with the file",
            SIZE >> 20
        );
    }
}
