//! A Rhai cloner run by `ferry clone` from a plugin folder: a kind-level `depends_on` holds
//! every resource of the kind until the kind it names has ended.

use crate::support;
use serde_json::Value;

/// A kind-level `depends_on` (no reference) holds every resource of the kind until every one
/// of the kind it names has ended, through one barrier per kind, not a wait per pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_waits_for_every_resource_of_the_kind_it_depends_on() {
    use ferry_sandbox::unstract::Seed;
    let sb = support::dev_and_prod(Seed::Scale(300)).await;
    let dir = tempfile::tempdir().unwrap();
    // The source's tags, split in two kinds by the number in their name.
    let script = r#"
        fn kinds() { [
            #{ name: "even", description: "even tags", key: ["/name"] },
            #{ name: "odd", description: "odd tags, after every even one", key: ["/name"], depends_on: ["even"] },
        ] }
        fn list(ctx, kind) {
            let out = [];
            for t in list_all("source", "tags/", #{}, "drf-next") {
                let n = parse_int(t.name.split(" ")[1]);
                if (n % 2 == 0) == (kind == "even") {
                    out.push(#{ id: `${t.id}`, key: t.name, body: #{ name: t.name, description: t.description } });
                }
            }
            out
        }
        fn find(ctx, kind, wanted) { () }
        fn create(ctx, kind, res) {
            let r = http_send("target", "POST", "tags/", res.body);
            #{ id: `${r.body.id}`, key: res.key, body: r.body }
        }
    "#;
    std::fs::write(dir.path().join("tags.rhai"), script).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "clone",
            "--no-bundled",
            "--plugins",
            dir.path().to_str().unwrap(),
            "--concurrency",
            "8",
        ])
        .args([
            "--source-url",
            sb.url(),
            "--source-org",
            "dev",
            "--target-url",
            sb.url(),
            "--target-org",
            "prod",
        ])
        .env("UNSTRACT_SRC_PLATFORM_KEY", sb.keys("dev").read)
        .env("UNSTRACT_TGT_PLATFORM_KEY", sb.keys("prod").read_write)
        .env("FERRY_STATE_DIR", dir.path().join("state"))
        .env("FERRY_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The target's tags in the order they were made: every even one before any odd one.
    let page: Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/unstract/prod/tags/?page_size=1000",
            sb.url()
        ))
        .bearer_auth(sb.keys("prod").read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let odd: Vec<bool> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["name"]
                .as_str()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse::<u32>()
                .unwrap()
                % 2
                == 1
        })
        .collect();
    assert!(
        odd.len() > 20 && odd.contains(&true),
        "{} tags made",
        odd.len()
    );
    let first_odd = odd.iter().position(|&o| o).unwrap();
    assert!(
        odd[first_odd..].iter().all(|&o| o),
        "an even tag was made after an odd one: {odd:?}"
    );
    sb.stop().await;
}
