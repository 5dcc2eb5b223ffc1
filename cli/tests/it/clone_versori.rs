//! `ferry clone --platform versori` against the emulated Versori Platform API
//! (`ferry_sandbox::versori`): an environment cloned within its project by Versori's own call,
//! with each option; the cap; across projects (static connections linked, the version
//! deployed) and across organisations (systems made, connections reported as credentials
//! needed, the deploy skipped for them); re-runs that write nothing; faults; bad input.

use crate::support::{expect, ferry_command, json_of, output};
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::versori::{Config, OrgSpec, Sandbox, Seed};
use serde_json::{Value, json};
use std::process::Command;

async fn sandbox() -> Sandbox {
    Sandbox::start(Config::local(vec![
        OrgSpec::seeded("acme", Seed::Demo),
        OrgSpec::new("beta"),
    ]))
    .await
    .unwrap()
}

/// `ferry SUB --platform versori` from project `from` (org, project name) to `to`.
fn versori(
    sb: &Sandbox,
    sub: &str,
    from: (&str, &str),
    to: (&str, &str),
    extra: &[&str],
) -> Command {
    let side = |(org, project): (&str, &str)| {
        let id = sb
            .project_id(org, project)
            .unwrap_or_else(|| "01ARYZ6S41TPTWG9BAXN2R4S4T".into());
        (sb.org(org).org.clone(), id, sb.org(org).token.clone())
    };
    let (so, sp, st) = side(from);
    let (to_, tp, tt) = side(to);
    let mut c = ferry_command();
    c.args([sub, "--platform", "versori"])
        .args([
            "--source-url",
            sb.url(),
            "--source-param",
            &format!("org={so}"),
            "--source-param",
            &format!("project={sp}"),
        ])
        .args([
            "--target-url",
            sb.url(),
            "--target-param",
            &format!("org={to_}"),
            "--target-param",
            &format!("project={tp}"),
        ])
        .args(extra)
        .env("VERSORI_SOURCE_TOKEN", st)
        .env("VERSORI_TARGET_TOKEN", tt);
    c
}

/// A promotion file renaming environment `from` to `to`.
fn rename(dir: &tempfile::TempDir, from: &str, to: &str) -> String {
    let file = dir.path().join(format!("{from}-{to}.toml"));
    std::fs::write(
        &file,
        format!("[kinds.environment]\nrename = {{ regex = '^{from}$', to = \"{to}\" }}\n"),
    )
    .unwrap();
    file.to_string_lossy().into_owned()
}

fn env<'a>(dump: &'a Value, project: &str, name: &str) -> &'a Value {
    let e = &dump["projects"][project]["environments"][name];
    assert!(!e.is_null(), "no environment {project}/{name} in {dump:#}");
    e
}

fn env_count(sb: &Sandbox, org: &str, project: &str) -> usize {
    sb.dump(org)["projects"][project]["environments"]
        .as_object()
        .map(|m| m.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_a_project_the_clone_call_with_each_option_and_the_cap() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let p = ("acme", "orders-sync");
    let select = ["--select", "environment:development"];

    // Defaults (Versori's): no systems, no variables, the source's pool.
    let file = rename(&dir, "development", "staging");
    let out = output(&mut versori(
        &sb,
        "clone",
        p,
        p,
        &["--config", &file, "--output", "json", select[0], select[1]],
    ));
    expect(&out, 0);
    assert_eq!(json_of(&out)["kinds"]["environment"]["created"], 1);
    let d = sb.dump("acme");
    let (dev, staging) = (
        env(&d, "orders-sync", "development"),
        env(&d, "orders-sync", "staging"),
    );
    assert_eq!(staging["config"], dev["config"]);
    assert_eq!(staging["executionPool"], "versori");
    assert_eq!(staging["status"], "draft");
    assert_eq!(staging["templates"], json!({}));
    assert_eq!(staging["variables"], json!({}));

    // update: Versori's sync gives staging the deployed version.
    let out = output(&mut versori(
        &sb,
        "clone",
        p,
        p,
        &[
            "--config",
            &file,
            select[0],
            select[1],
            "--on-name-conflict",
            "update",
        ],
    ));
    expect(&out, 0);
    let d = sb.dump("acme");
    let (dev, staging) = (
        env(&d, "orders-sync", "development"),
        env(&d, "orders-sync", "staging"),
    );
    assert_eq!(
        (staging["status"].as_str(), &staging["deployedVersion"]),
        (Some("running"), &dev["deployedVersion"])
    );
    assert!(
        sb.log()
            .iter()
            .any(|l| l.method == "POST" && l.path.ends_with("/environments/sync"))
    );

    // Every option.
    let file = rename(&dir, "development", "qa");
    let opts = [
        "--option",
        "clone-systems=true",
        "--option",
        "copy-static-user-variables=true",
        "--option",
        "execution-pool=gcp-eu",
    ];
    let mut args = vec!["--config", file.as_str(), select[0], select[1]];
    args.extend(opts);
    expect(&output(&mut versori(&sb, "clone", p, p, &args)), 0);
    let d = sb.dump("acme");
    let (dev, qa) = (
        env(&d, "orders-sync", "development"),
        env(&d, "orders-sync", "qa"),
    );
    assert_eq!(qa["executionPool"], "gcp-eu");
    assert_eq!(qa["variables"], dev["variables"]);
    let names: Vec<&String> = qa["templates"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["hubspot", "shopify", "slack"]);
    assert!(
        qa["templates"]["shopify"]["connection"].is_null(),
        "connections are never cloned"
    );

    // A re-run adopts: no second environment, no write.
    let writes = sb.writes_to("acme").len();
    let mut again = args.clone();
    again.extend(["--output", "json"]);
    let out = output(&mut versori(&sb, "clone", p, p, &again));
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["kinds"]["environment"]["adopted"], 1);
    // Not deployed yet (Versori's clone call does not; `update` syncs it): a difference. The
    // option's own pool is not one.
    let fields: Vec<&str> = report["items"][0]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["/deployedVersion"], "{report:#}");
    assert_eq!(env_count(&sb, "acme", "orders-sync"), 3);
    assert_eq!(
        sb.writes_to("acme").len(),
        writes,
        "a re-run writes nothing"
    );

    // Without --select the project's other environments are sources too, each its own match
    // on the target: left out of the run, never adopted onto itself.
    let out = output(&mut versori(
        &sb,
        "clone",
        p,
        p,
        &["--config", &file, "--output", "json"],
    ));
    expect(&out, 0);
    let report = json_of(&out);
    let items = report["items"].as_array().unwrap();
    assert!(
        items.iter().all(|i| i["source_id"] != i["target_id"]),
        "{report:#}"
    );
    assert_eq!(items.len(), 1, "development onto qa only: {report:#}");
    assert_eq!(report["kinds"]["environment"]["adopted"], 1, "{report:#}");
    assert_eq!(sb.writes_to("acme").len(), writes, "nothing written");

    // The cap: five environments, then the plan refuses a sixth, naming the cap.
    for n in ["uat", "perf"] {
        let file = rename(&dir, "development", n);
        expect(
            &output(&mut versori(
                &sb,
                "clone",
                p,
                p,
                &["--config", &file, select[0], select[1]],
            )),
            0,
        );
    }
    assert_eq!(env_count(&sb, "acme", "orders-sync"), 5);
    let file = rename(&dir, "development", "sixth");
    let writes = sb.writes_to("acme").len();
    let out = output(&mut versori(
        &sb,
        "plan",
        p,
        p,
        &["--config", &file, select[0], select[1]],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("5 environments") && err.contains("maximum"),
        "{err}"
    );
    assert_eq!(sb.writes_to("acme").len(), writes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_projects_connections_are_linked_and_the_version_deployed() {
    let sb = sandbox().await;
    sb.add_project("acme", "orders-copy");
    let out = output(&mut versori(
        &sb,
        "clone",
        ("acme", "orders-sync"),
        ("acme", "orders-copy"),
        &[
            "--select",
            "environment:development",
            "--on-name-conflict",
            "update",
            "--output",
            "json",
        ],
    ));
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(report["credentials_needed"], json!([]), "{report:#}");
    let d = sb.dump("acme");
    let (src, dst) = (
        env(&d, "orders-sync", "development"),
        env(&d, "orders-copy", "development"),
    );
    // The same environment: config, variables, templates linked to the same connections,
    // the version deployed and running; but its labels, which no call sets.
    let unlabelled = |e: &Value| {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("labels");
        e
    };
    assert_eq!(unlabelled(dst), unlabelled(src), "{report:#}");
    let not_copied = &report["items"][0]["files"]["not_copied"];
    assert!(not_copied.to_string().contains("labels"), "{report:#}");
    assert_eq!(
        d["projects"]["orders-copy"]["schema"],
        d["projects"]["orders-sync"]["schema"]
    );
    // No system was made within one organisation.
    assert_eq!(d["systems"].as_object().unwrap().len(), 3);

    // A re-run changes nothing.
    let writes = sb.writes_to("acme").len();
    expect(
        &output(&mut versori(
            &sb,
            "clone",
            ("acme", "orders-sync"),
            ("acme", "orders-copy"),
            &["--select", "environment:development"],
        )),
        0,
    );
    assert_eq!(sb.writes_to("acme").len(), writes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_organisations_systems_are_made_and_connections_reported() {
    let sb = sandbox().await;
    sb.add_project("beta", "orders");
    let dir = tempfile::tempdir().unwrap();
    let file = rename(&dir, "development", "production");
    // A rule gives the target its own value of a static variable.
    let text = std::fs::read_to_string(&file).unwrap()
        + "set = { \"/variables/store\" = \"beta-store\" }\n";
    std::fs::write(&file, text).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            file.as_str(),
            "--select",
            "environment:development",
            "--output",
            "json",
        ];
        args.extend(extra);
        output(&mut versori(
            &sb,
            "clone",
            ("acme", "orders-sync"),
            ("beta", "orders"),
            &args,
        ))
    };
    let out = run(&[]);
    expect(&out, 0);
    let report = json_of(&out);
    let needed: Vec<&str> = report["credentials_needed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        needed,
        [
            "production/shopify",
            "production/slack",
            "system/HubSpot/HubSpot app"
        ],
        "{report:#}"
    );
    let item = &report["items"][0]["files"];
    assert!(
        item["deploy"]["skipped"]
            .as_str()
            .unwrap()
            .contains("shopify"),
        "{report:#}"
    );

    let (a, b) = (sb.dump("acme"), sb.dump("beta"));
    let (src, dst) = (
        env(&a, "orders-sync", "development"),
        env(&b, "orders", "production"),
    );
    for field in ["config", "executionPool"] {
        assert_eq!(dst[field], src[field], "{field}");
    }
    assert_eq!(
        dst["variables"],
        json!({"store": "beta-store", "batchSize": 50})
    );
    // The systems exist in beta now, matched by name and domain, with the same templates.
    assert_eq!(
        b["systems"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["HubSpot", "Shopify", "Slack"]
    );
    let templates = |e: &Value| -> Value {
        json!(
            e["templates"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, t)| (
                    k.clone(),
                    json!({"system": t["system"], "dynamic": t["dynamic"]})
                ))
                .collect::<serde_json::Map<_, _>>()
        )
    };
    assert_eq!(templates(dst), templates(src));
    assert!(dst["templates"]["shopify"]["connection"].is_null());
    assert_eq!(
        dst["status"], "draft",
        "the deploy was skipped: no connection"
    );
    assert!(
        b["connections"].as_object().unwrap().is_empty(),
        "secrets never cross"
    );
    // HubSpot's OAuth 2.0 config is copied in full but for its client: the source's
    // credential (another organisation's) and the secret Versori never shows. Versori made a
    // credential of beta's for it; the secret is the one thing to set by hand (reported).
    let oauth = |d: &Value| d["systems"]["HubSpot"]["authSchemeConfigs"][0]["oauth2"].clone();
    let (from, to) = (oauth(&a), oauth(&b));
    for field in ["description", "tokenUrl", "scopes", "defaultScopes"] {
        assert_eq!(to[field], from[field], "{field}");
    }
    let client = &to["grant"]["authorizationCode"];
    assert_eq!(client["organisationId"], sb.org("beta").org, "{to:#}");
    assert_ne!(
        client["credentialId"],
        from["grant"]["authorizationCode"]["credentialId"]
    );
    assert_eq!(client["clientId"], "hubspot-client-1");
    assert!(client.get("clientSecret").is_none(), "{to:#}");
    let schema = &b["projects"]["orders"]["schema"]["properties"];
    assert!(schema.get("store").is_some() && schema.get("batchSize").is_some());

    // A re-run that adopts still says which connections are missing, until they exist.
    let out = run(&[]);
    expect(&out, 0);
    let again = json_of(&out);
    assert_eq!(again["kinds"]["environment"]["adopted"], 1, "{again:#}");
    assert_eq!(
        again["items"][0]["differences"],
        json!([]),
        "the deploy this run withholds is not a difference: {again:#}"
    );
    // The connections, on every run until they exist. A client secret cannot be seen to be
    // set, so it is said once, by the run that made the system.
    let connections: Vec<&Value> = report["credentials_needed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["key"].as_str().unwrap().starts_with("system/"))
        .collect();
    assert_eq!(again["credentials_needed"], json!(connections));

    // A re-run makes no second environment, system, template or version.
    let before = sb.dump("beta");
    let writes = sb.writes_to("beta").len();
    let out = run(&["--on-name-conflict", "update"]);
    expect(&out, 0);
    assert_eq!(
        sb.dump("beta"),
        before,
        "an update of an equal environment changes nothing"
    );
    assert_eq!(sb.writes_to("beta").len(), writes, "and writes nothing");
    assert!(sb.writes_to("acme").is_empty(), "the source is only read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_do_not_make_duplicates() {
    let sb = sandbox().await;
    sb.add_project("beta", "orders");
    let dir = tempfile::tempdir().unwrap();
    let file = rename(&dir, "development", "production");
    let faults = Faults {
        error_rate: 0.1,
        drop_rate: 0.03,
        ..Default::default()
    };
    sb.set_faults("acme", faults.clone()).unwrap();
    sb.set_faults("beta", faults).unwrap();
    let args = [
        "--config",
        file.as_str(),
        "--select",
        "environment:development",
    ];
    // A run may fail under faults; run again until it completes (the re-run converges).
    let mut ok = false;
    for _ in 0..5 {
        let out = output(&mut versori(
            &sb,
            "clone",
            ("acme", "orders-sync"),
            ("beta", "orders"),
            &args,
        ));
        if out.status.code() == Some(0) {
            ok = true;
            break;
        }
    }
    sb.set_faults("acme", Faults::default()).unwrap();
    sb.set_faults("beta", Faults::default()).unwrap();
    assert!(ok, "no run completed under faults");
    let out = output(&mut versori(
        &sb,
        "clone",
        ("acme", "orders-sync"),
        ("beta", "orders"),
        &[&args[..], &["--on-name-conflict", "update"]].concat(),
    ));
    expect(&out, 0);
    let b = sb.dump("beta");
    assert_eq!(
        b["systems"].as_object().unwrap().len(),
        3,
        "one system each: {:#}",
        b["systems"]
    );
    assert_eq!(
        b["projects"]["orders"]["environments"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        b["projects"]["orders"]["environments"]["production"]["templates"]
            .as_object()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_any_write() {
    let sb = sandbox().await;
    let p = ("acme", "orders-sync");
    let refused = |out: &std::process::Output, wanted: &str| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(err.contains(wanted), "wanted {wanted:?} in: {err}");
    };
    // A wrong token.
    let mut c = versori(&sb, "clone", p, p, &[]);
    c.env("VERSORI_SOURCE_TOKEN", "vrs_wrong");
    let out = output(&mut c);
    refused(&out, "401");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("vrs_wrong"));
    // A malformed ULID: refused before any request.
    let before = sb.log().len();
    let mut c = ferry_command();
    c.args([
        "clone",
        "--platform",
        "versori",
        "--source-url",
        sb.url(),
        "--source-param",
        "org=not-a-ulid",
        "--source-param",
    ])
    .arg(format!(
        "project={}",
        sb.project_id("acme", "orders-sync").unwrap()
    ))
    .args([
        "--target-url",
        sb.url(),
        "--target-param",
        &format!("org={}", sb.org("acme").org),
    ])
    .args([
        "--target-param",
        &format!("project={}", sb.project_id("acme", "orders-sync").unwrap()),
    ])
    .env("VERSORI_SOURCE_TOKEN", &sb.org("acme").token)
    .env("VERSORI_TARGET_TOKEN", &sb.org("acme").token);
    refused(&output(&mut c), "org");
    assert_eq!(sb.log().len(), before, "no request was made");
    // An unknown project (a well-formed ULID that names none).
    refused(
        &output(&mut versori(
            &sb,
            "clone",
            ("acme", "no-such-project"),
            p,
            &[],
        )),
        "not found",
    );
    // Another organisation's token.
    let mut c = versori(&sb, "clone", p, p, &[]);
    c.env("VERSORI_TARGET_TOKEN", &sb.org("beta").token);
    refused(&output(&mut c), "403");
    // An unknown source environment.
    refused(
        &output(&mut versori(
            &sb,
            "clone",
            p,
            p,
            &["--select", "environment:nope"],
        )),
        "nope",
    );
    // An execution pool the organisation lacks, within one project: the plan refuses it.
    let dir = tempfile::tempdir().unwrap();
    let file = rename(&dir, "development", "staging");
    let out = output(&mut versori(
        &sb,
        "plan",
        p,
        p,
        &[
            "--config",
            &file,
            "--select",
            "environment:development",
            "--option",
            "execution-pool=no-such-pool",
        ],
    ));
    refused(&out, "execution pool \"no-such-pool\" does not exist");
    assert!(sb.writes_to("acme").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_write_a_rerun_completes_without_duplicates() {
    let sb = sandbox().await;
    let select = ["--select", "environment:development"];
    let dir = tempfile::tempdir().unwrap();
    let file = rename(&dir, "development", "production");
    let args = ["--config", file.as_str(), select[0], select[1]];
    sb.add_project("acme", "reference");
    let from = ("acme", "orders-sync");
    expect(
        &output(&mut versori(
            &sb,
            "clone",
            from,
            ("acme", "reference"),
            &args,
        )),
        0,
    );
    let expected = sb.dump("acme")["projects"]["reference"].clone();
    // Slow writes a little, so that each kill lands inside the clone.
    sb.set_faults(
        "acme",
        Faults {
            latency_ms: 15,
            ..Default::default()
        },
    )
    .unwrap();
    for at in [1, 2, 3, 4, 5, 6] {
        let project = format!("copy-{at}");
        sb.add_project("acme", &project);
        let base = sb.writes_to("acme").len();
        let mut child = versori(&sb, "clone", from, ("acme", &project), &args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        tokio::task::block_in_place(|| {
            while sb.writes_to("acme").len() < base + at && child.try_wait().unwrap().is_none() {
                assert!(started.elapsed() < std::time::Duration::from_secs(60));
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let out = output(&mut versori(&sb, "clone", from, ("acme", &project), &args));
        expect(&out, 0);
        let got = &sb.dump("acme")["projects"][&project];
        assert_eq!(got, &expected, "killed after {at} writes, then run again");
    }
    let d = sb.dump("acme");
    assert_eq!(d["systems"].as_object().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_projects_diff_shows_nothing_after_a_clone_and_prune_deletes_a_lost_environment() {
    let sb = sandbox().await;
    sb.add_project("acme", "orders-copy");
    let (from, to) = (("acme", "orders-sync"), ("acme", "orders-copy"));
    // A second environment on the source: `qa`, cloned from `development` in its project.
    let dir = tempfile::tempdir().unwrap();
    let file = rename(&dir, "development", "qa");
    expect(
        &output(&mut versori(&sb, "clone", from, from, &["--config", &file])),
        0,
    );
    // A new project has a `development` of its own, never deployed: a difference diff shows,
    // and `update` makes equal.
    let out = output(&mut versori(&sb, "diff", from, to, &["--output", "json"]));
    expect(&out, 2);
    let d = json_of(&out);
    assert_eq!(
        d["different"][0]["fields"][0]["pointer"], "/deployedVersion",
        "{d:#}"
    );
    assert_eq!(d["missing"][0]["key"], "qa", "{d:#}");
    let out = output(&mut versori(
        &sb,
        "clone",
        from,
        to,
        &["--on-name-conflict", "update"],
    ));
    expect(&out, 0);
    let out = output(&mut versori(&sb, "diff", from, to, &["--output", "json"]));
    expect(&out, 0);
    let d = json_of(&out);
    assert_eq!(d["equal"], 2, "{d:#}");

    // The source loses `qa`: without --prune it stays, with it it goes.
    sb.delete_environment("acme", "orders-sync", "qa");
    let out = output(&mut versori(&sb, "clone", from, to, &["--output", "json"]));
    expect(&out, 0);
    assert_eq!(json_of(&out)["deletes"][0]["outcome"], "pending");
    assert!(!sb.dump("acme")["projects"]["orders-copy"]["environments"]["qa"].is_null());
    // One of the two environments ferry manages there: over 30 %, so the count is named.
    let out = output(&mut versori(&sb, "clone", from, to, &["--prune"]));
    expect(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-delete 1"));
    // Signed in with the user's JWT this time (as Versori's CLI is): the scheme is chosen per
    // run and is not part of where the run writes, so it still finds what it manages.
    let prune = ["--prune", "--allow-delete", "1", "--output", "json"];
    let jwt = |c: &mut Command| {
        c.env("VERSORI_SOURCE_TOKEN", &sb.org("acme").jwt)
            .env("VERSORI_TARGET_TOKEN", &sb.org("acme").jwt);
    };
    let mut as_bearer = versori(&sb, "clone", from, to, &prune);
    jwt(&mut as_bearer);
    let out = output(&mut as_bearer);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a JWT is refused as a Bearer key"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let mut c = versori(&sb, "clone", from, to, &prune);
    c.args(["--source-param", "auth=JWT", "--target-param", "auth=JWT"]);
    jwt(&mut c);
    let out = output(&mut c);
    expect(&out, 0);
    assert_eq!(
        json_of(&out)["deletes"][0]["outcome"],
        "deleted",
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let envs = &sb.dump("acme")["projects"]["orders-copy"]["environments"];
    assert!(envs["qa"].is_null(), "{envs:#}");
    assert!(!envs["development"].is_null(), "{envs:#}");
    // The source project is untouched by all of it.
    assert!(!sb.dump("acme")["projects"]["orders-sync"]["environments"]["development"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_package_restores_as_a_direct_clone_across_projects_does() {
    let sb = sandbox().await;
    sb.add_project("acme", "orders-copy");
    sb.add_project("acme", "orders-pkg");
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("orders.ferrypkg");
    let args = [
        "--select",
        "environment:development",
        "--on-name-conflict",
        "update",
    ];
    expect(
        &output(&mut versori(
            &sb,
            "clone",
            ("acme", "orders-sync"),
            ("acme", "orders-copy"),
            &args,
        )),
        0,
    );

    // The export: the source's flags alone.
    let before = (sb.dump("acme"), sb.writes_to("acme").len());
    let mut c = ferry_command();
    c.args(["export", "--platform", "versori", "--source-url", sb.url()])
        .args(["--source-param", &format!("org={}", sb.org("acme").org)])
        .args([
            "--source-param",
            &format!("project={}", sb.project_id("acme", "orders-sync").unwrap()),
        ])
        .args([
            "--select",
            "environment:development",
            "--output",
            "json",
            "--out",
        ])
        .arg(&package)
        .env("VERSORI_SOURCE_TOKEN", sb.org("acme").token.clone());
    let out = output(&mut c);
    expect(&out, 0);
    assert_eq!(json_of(&out)["counts"]["environment"], 1);
    assert_eq!(
        (sb.dump("acme"), sb.writes_to("acme").len()),
        before,
        "an export wrote to its source"
    );
    let raw = std::fs::read(&package).unwrap();
    let token = sb.org("acme").token.clone();
    assert!(
        !raw.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is in the package"
    );

    // The restore fills the environment as across projects, from the package alone.
    let restore = |extra: &[&str]| {
        let (org, tp) = (
            sb.org("acme").org.clone(),
            sb.project_id("acme", "orders-pkg").unwrap(),
        );
        let mut c = ferry_command();
        c.arg("clone")
            .arg("--from-package")
            .arg(&package)
            .args([
                "--target-url",
                sb.url(),
                "--target-param",
                &format!("org={org}"),
                "--target-param",
                &format!("project={tp}"),
            ])
            .args(["--on-name-conflict", "update"])
            .args(extra)
            .env("VERSORI_TARGET_TOKEN", sb.org("acme").token.clone());
        output(&mut c)
    };
    let out = restore(&["--output", "json"]);
    expect(&out, 0);
    let report = json_of(&out);
    assert_eq!(
        report["items"][0]["files"]["mode"], "cross-project",
        "{report:#}"
    );
    let d = sb.dump("acme");
    let unlabelled = |e: &Value| {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("labels");
        e
    };
    assert_eq!(
        unlabelled(env(&d, "orders-pkg", "development")),
        unlabelled(env(&d, "orders-copy", "development")),
        "{report:#}"
    );
    assert_eq!(
        d["projects"]["orders-pkg"]["schema"],
        d["projects"]["orders-copy"]["schema"]
    );

    // Again: nothing to write.
    let writes = sb.writes_to("acme").len();
    expect(&restore(&[]), 0);
    assert_eq!(sb.writes_to("acme").len(), writes, "a second restore wrote");
}
