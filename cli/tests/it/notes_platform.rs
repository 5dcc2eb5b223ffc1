//! A platform that ferry's host has never heard of: "notes", whose pack is a Rhai script and
//! a manifest in `tests/fixtures/notes/` (a header-key credential, a space parameter with a
//! pattern, an option, two kinds with a reference, offset/limit paging), cloned end to end
//! against its emulator (`ferry_sandbox::notes`) with `--platform notes --plugins DIR`.

use crate::support::{expect, ferry_command, json_of, output, repo_root};
use ferry_sandbox::notes::Notes;

fn pack() -> String {
    repo_root()
        .join("tests/fixtures/notes")
        .to_string_lossy()
        .into_owned()
}

/// `ferry SUB --platform notes` from space `from` to space `to`; the source key on the
/// command line, the target's in the variable the manifest declares.
fn notes(sub: &str, n: &Notes, from: &str, to: &str, extra: &[&str]) -> std::process::Output {
    let mut c = ferry_command();
    c.args([sub, "--platform", "notes", "--plugins", &pack()])
        .args([
            "--source-url",
            n.url(),
            "--source-param",
            &format!("space={from}"),
        ])
        .args(["--source-key", &n.key(from)])
        .args([
            "--target-url",
            n.url(),
            "--target-param",
            &format!("space={to}"),
        ])
        .args(extra)
        .env("NOTES_TARGET_KEY", n.key(to));
    output(&mut c)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_from_a_plugin_directory_clones_end_to_end() {
    let n = Notes::start(&[("dev", true), ("prod", false), ("qa", false)])
        .await
        .unwrap();

    let out = notes("clone", &n, "dev", "prod", &["--output", "json"]);
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["kinds"]["notebook"]["created"], 3, "{report:#}");
    assert_eq!(report["kinds"]["note"]["created"], 45, "{report:#}");
    // Only the run's platform's plugins were loaded: no Unstract kind is in the report.
    assert_eq!(report["kinds"].as_object().unwrap().len(), 2, "{report:#}");
    assert!(
        report["target"].as_str().unwrap().starts_with("prod @ "),
        "{report:#}"
    );
    assert_eq!(n.dump("prod"), n.dump("dev"));
    assert!(n.writes_to("dev").is_empty(), "the source is only read");
    // Three pages of notes were read (offset/limit, 20 a page).
    let pages = n
        .log()
        .iter()
        .filter(|l| l.org == "dev" && l.method == "GET" && l.path == "notes")
        .count();
    assert_eq!(pages, 3);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for key in [n.key("dev"), n.key("prod")] {
        assert!(!all.contains(&key), "a key reached the output");
    }

    // A re-run has nothing to do.
    let out = notes("plan", &n, "dev", "prod", &["--detailed-exitcode"]);
    expect(&out, 0);

    // The platform's option reaches the cloner.
    let out = notes("clone", &n, "dev", "qa", &["--option", "copy-color=false"]);
    expect(&out, 0);
    let colors: Vec<String> = n.dump("qa")["notebooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["color"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(colors, ["grey", "grey", "grey"]);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platforms_declarations_check_what_a_run_gives() {
    let n = Notes::start(&[("dev", true), ("prod", false)])
        .await
        .unwrap();
    let refused = |out: &std::process::Output, wanted: &[&str]| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for w in wanted {
            assert!(err.contains(w), "wanted {w:?} in: {err}");
        }
        assert!(err.contains("nothing was written"), "{err}");
    };
    refused(
        &notes("clone", &n, "dev", "prod", &["--option", "depth=3"]),
        &["no option \"depth\"", "copy-color"],
    );
    refused(
        &notes(
            "clone",
            &n,
            "dev",
            "prod",
            &["--option", "copy-color=maybe"],
        ),
        &["copy-color", "true or false"],
    );
    refused(
        &notes("clone", &n, "dev", "Prod!", &[]),
        &["target space", "pattern"],
    );
    refused(
        &notes("clone", &n, "dev", "prod", &["--target-param", "shelf=1"]),
        &["\"shelf\"", "space"],
    );
    // No target key: the message names the manifest's variable.
    let mut c = ferry_command();
    c.args(["clone", "--platform", "notes", "--plugins", &pack()])
        .args(["--source-url", n.url(), "--source-param", "space=dev"])
        .args(["--source-key", &n.key("dev")])
        .args(["--target-url", n.url()]);
    refused(
        &output(&mut c),
        &["no target space", "--target-param space="],
    );
    c.args(["--target-param", "space=prod"]);
    refused(&output(&mut c), &["no target key", "NOTES_TARGET_KEY"]);
    // Another space's key: the server's 403 stops the run before any write.
    let out = notes("clone", &n, "dev", "prod", &["--target-key", &n.key("dev")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(n.writes_to("prod").is_empty());
    // An unknown platform names the ones there are.
    let mut c = ferry_command();
    c.args(["clone", "--platform", "nope", "--plugins", &pack()])
        .args(["--source-url", n.url(), "--target-url", n.url()]);
    refused(
        &output(&mut c),
        &[
            "platform \"nope\"",
            "known: notes, strategy, unstract, versori",
        ],
    );
    n.stop().await;
}

#[test]
fn plugins_list_groups_by_platform() {
    let out = ferry_command()
        .args(["plugins", "list", "--output", "json", "--plugins", &pack()])
        .output()
        .unwrap();
    expect(&out, 0);
    let v = json_of(&out);
    let plugins = v.as_array().unwrap();
    let notes = plugins.iter().find(|p| p["name"] == "notes").unwrap();
    assert_eq!(notes["platform"], "notes");
    assert_eq!(notes["runtime"], "rhai");
    assert_eq!(notes["declares"]["auth"], "header");
    assert!(notes["declares"]["options"]["copy-color"].is_object());
    for k in notes["kinds"].as_array().unwrap() {
        assert_eq!(k["platform"], "notes");
    }
    let unstract = plugins.iter().find(|p| p["name"] == "unstract").unwrap();
    assert_eq!(unstract["platform"], "unstract");
    assert_eq!(unstract["kinds"][0]["platform"], "unstract");
    // Both platforms load side by side: their kinds are apart.
    let table = ferry_command()
        .args(["plugins", "list", "--plugins", &pack()])
        .output()
        .unwrap();
    expect(&table, 0);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("platform notes") && text.contains("platform unstract"),
        "{text}"
    );
}

#[test]
fn the_host_names_no_platform_of_the_tests() {
    // The proof is only worth something if the host did not learn the platform.
    let mut stack = vec![repo_root().join("host/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let text = std::fs::read_to_string(&p).unwrap();
                for word in ["X-Notes-Key", "notebook", "spaces/{space}"] {
                    assert!(!text.contains(word), "{} names {word}", p.display());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promotion_file_names_the_platform_its_parameters_and_credentials() {
    let n = Notes::start(&[("dev", true), ("prod", false)])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dev.key"), n.key("dev")).unwrap();
    let file = dir.path().join("promote.toml");
    let text = format!(
        "[source]\nplatform = \"notes\"\nurl = \"{url}\"\nparams = {{ space = \"dev\" }}\n\
         [source.auth]\nkey_file = \"dev.key\"\n\
         [target]\nplatform = \"notes\"\nurl = \"{url}\"\nparams = {{ space = \"prod\" }}\n\
         [target.auth]\nkey_env = \"PROD_NOTES\"\n\
         [run]\noptions = {{ copy-color = false }}\n\
         [kinds.notebook]\nrename = {{ prefix = \"Notebook\", to = \"Book\" }}\n",
        url = n.url()
    );
    std::fs::write(&file, text).unwrap();
    let mut c = ferry_command();
    c.args([
        "clone",
        "--plugins",
        &pack(),
        "--config",
        file.to_str().unwrap(),
    ])
    .env("PROD_NOTES", n.key("prod"));
    expect(&output(&mut c), 0);
    let dump = n.dump("prod");
    assert_eq!(dump["notebooks"][0]["title"], "Book 1", "{dump:#}");
    assert_eq!(dump["notebooks"][0]["color"], "grey", "{dump:#}");
    assert_eq!(dump["notes"].as_array().unwrap().len(), 45);
    assert_eq!(dump["notes"][0]["notebook"], "Book 1", "{dump:#}");

    // A password in the file is refused, as a key is.
    std::fs::write(&file, "[source.auth]\npassword = \"hunter22\"\n").unwrap();
    let out = output(ferry_command().args([
        "plan",
        "--plugins",
        &pack(),
        "--config",
        file.to_str().unwrap(),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a password written in the promotion file is refused"),
        "{err}"
    );
    assert!(!err.contains("hunter22"), "{err}");
    n.stop().await;
}
