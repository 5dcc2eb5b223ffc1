//! The dashboard in a real headless Chromium (Debian's `chromium`, driven through its
//! `chromedriver` by fantoccini): sign in with a token, start a job from the page, watch it
//! finish, open its report, then start another and cancel it; an admin approves a plan on
//! its job's page and watches it applied. `.ci/run` installs both
//! packages; without them the test is skipped with a notice, or fails in CI (`CI=true`);
//! FERRY_SKIP_BROWSER=1 skips it.

use crate::support;
use crate::support::serve::{ADMIN, OPERATOR, Serve, ask_approval, sandbox, write_config};
use fantoccini::{Client, ClientBuilder, Locator};
use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::Seed;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start chromedriver on a free port; its URL.
fn chromedriver() -> (Driver, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {CHROMEDRIVER}: {e} (apt-get install chromium chromium-driver)")
        });
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Driver(child), format!("http://127.0.0.1:{port}"))
}

async fn browser(driver: &str, profile: &std::path::Path) -> Client {
    // chromedriver is spoken to over plain HTTP; the TLS stack only needs a provider chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            // No network beyond loopback here: Chromium's background connections would be
            // refused, many at a time.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display())]
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a chromium session")
}

/// Wait until `css` matches an element (the page renders as the API answers).
async fn wait_for(c: &Client, css: &str, within: Duration) -> fantoccini::elements::Element {
    let t = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            return e;
        }
        if t.elapsed() > within {
            let error = match c.find(Locator::Css("#error")).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("no {css} after {within:?}; the page's error banner: {error:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With FERRY_SCREENSHOTS=DIR, save the page as DIR/NAME.png (to look at the dashboard).
async fn snapshot(c: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("FERRY_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// The text of the element `css` matches (it must be there).
async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Sign in on the login box with `token`, and wait until the page says `role`.
async fn sign_in(c: &Client, token: &str, role: &str) {
    let input = wait_for(c, "#token", Duration::from_secs(10)).await;
    input.send_keys(token).await.unwrap();
    c.find(Locator::Css("#login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t = Instant::now();
    loop {
        let who = text_of(c, "#whoami").await;
        if who.contains(role) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not signed in: {who:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether this run has the browser: skipped (with a notice) when it may not.
fn has_browser() -> bool {
    if std::env::var_os("FERRY_SKIP_BROWSER").is_some() {
        eprintln!("FERRY_SKIP_BROWSER is set: the browser test is skipped");
        return false;
    }
    support::system::has_programs(
        "Debian's chromium and chromium-driver",
        &[CHROMIUM, CHROMEDRIVER],
        "apt-get install chromium chromium-driver",
    )
}

async fn start_from_the_page(c: &Client, promotion: &str, mode: &str) -> String {
    wait_for(
        c,
        &format!("#promotion option[value='{promotion}']"),
        Duration::from_secs(10),
    )
    .await;
    c.find(Locator::Css("#promotion"))
        .await
        .unwrap()
        .select_by_value(promotion)
        .await
        .unwrap();
    c.find(Locator::Css("#mode"))
        .await
        .unwrap()
        .select_by_value(mode)
        .await
        .unwrap();
    wait_for(c, "#start:not([disabled])", Duration::from_secs(10))
        .await
        .click()
        .await
        .unwrap();
    let job = wait_for(
        c,
        "#job[data-id]:not([data-id=''])",
        Duration::from_secs(10),
    )
    .await;
    job.attr("data-id").await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_starts_watches_reports_and_cancels_jobs() {
    if !has_browser() {
        return;
    }
    let targets = ["t0", "t1"];
    let sb = sandbox(Seed::Demo, &targets).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sb, &targets, 2, &[]);
    let srv = Serve::start(dir.path(), &sb, &targets, state.path());
    let (_driver, driver_url) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path()).await;

    // Sign in; a wrong token is refused first.
    c.goto(&srv.url).await.unwrap();
    let token = wait_for(&c, "#token", Duration::from_secs(10)).await;
    snapshot(&c, "login").await;
    token.send_keys("wrong-token").await.unwrap();
    c.find(Locator::Css("#login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t = Instant::now();
    while text_of(&c, "#login-error").await.is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "a wrong token was not refused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    token.clear().await.unwrap();
    sign_in(&c, OPERATOR, "operator").await;
    // The token is in the tab's session storage, not in the page or its URL.
    let html = c.source().await.unwrap();
    assert!(
        !html.contains(OPERATOR) && !c.current_url().await.unwrap().as_str().contains(OPERATOR)
    );

    // Start a clone from the page and watch it finish; its report opens.
    let id = start_from_the_page(&c, "dev-to-t0", "clone").await;
    wait_for(
        &c,
        "#job[data-status='succeeded']",
        Duration::from_secs(120),
    )
    .await;
    let pct = text_of(&c, "#job-percent").await;
    assert!(pct.starts_with("100%"), "{pct}");
    wait_for(&c, "#report[data-loaded='true']", Duration::from_secs(20)).await;
    snapshot(&c, "job-succeeded").await;
    let rows = c
        .find_all(Locator::Css("#report-items tr.item"))
        .await
        .unwrap();
    assert!(rows.len() > 20, "{} report rows", rows.len());
    // Skipped and failed items come first.
    let first = rows[0]
        .attr("data-outcome")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        first == "skipped" || first == "failed",
        "the first row is {first}"
    );
    let log = text_of(&c, "#log").await;
    assert!(log.contains("created adapter"), "{log}");
    assert_eq!(
        srv.expect("GET", &format!("/v1/jobs/{id}"), OPERATOR, None, 200)
            .await["status"],
        "succeeded"
    );

    // Back to the list: the job is there; then start a slow one and cancel it.
    c.find(Locator::Css("#back"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        &format!("tr.job[data-id='{id}'][data-status='succeeded']"),
        Duration::from_secs(10),
    )
    .await;
    snapshot(&c, "list").await;
    // Slow enough that the clone cannot finish between its first write and the click that
    // cancels it, even on a loaded machine (at 150 ms a CI run once saw it finish first).
    sb.set_faults(
        "t1",
        Faults {
            latency_ms: 500,
            ..Default::default()
        },
    )
    .unwrap();
    let slow = start_from_the_page(&c, "dev-to-t1", "clone").await;
    wait_for(&c, "#job[data-status='running']", Duration::from_secs(60)).await;
    let t = Instant::now();
    while sb.writes_to("t1").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the slow clone never wrote"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for(&c, "#cancel:not([hidden])", Duration::from_secs(10))
        .await
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "#job[data-status='cancelled']",
        Duration::from_secs(120),
    )
    .await;
    snapshot(&c, "job-cancelled").await;
    let job = srv
        .expect("GET", &format!("/v1/jobs/{slow}"), OPERATOR, None, 200)
        .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(
        sb.writes_to("t1").len() < sb.writes_to("t0").len(),
        "the cancelled job stopped early"
    );
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_approves_the_plan_on_the_jobs_page() {
    if !has_browser() {
        return;
    }
    let sb = sandbox(Seed::Demo, &["t0"]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &sb, &["t0"], 2, &[]);
    ask_approval(&path, "dev-to-t0", "{ role = \"approver\" }");
    let srv = Serve::start(dir.path(), &sb, &["t0"], state.path());
    let job = srv.start_job("dev-to-t0", "clone").await;
    let id = job["id"].as_str().unwrap().to_string();
    let (_driver, driver_url) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path()).await;
    c.goto(&srv.url).await.unwrap();
    // An admin may approve the operator's job.
    sign_in(&c, ADMIN, "admin").await;
    c.goto(&format!("{}/#/jobs/{id}", srv.url)).await.unwrap();
    wait_for(
        &c,
        "#job[data-status='awaiting_approval']",
        Duration::from_secs(120),
    )
    .await;
    let digest = srv
        .expect("GET", &format!("/v1/jobs/{id}"), OPERATOR, None, 200)
        .await["approval"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(&c, "#plan[data-loaded='true']", Duration::from_secs(20)).await;
    let shown = wait_for(&c, "#approval-digest", Duration::from_secs(10))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shown, digest, "the card shows the plan awaiting approval");
    let plan_digest = text_of(&c, "#plan-digest").await;
    assert!(plan_digest.contains(&digest), "{plan_digest}");
    assert!(sb.writes_to("t0").is_empty());
    snapshot(&c, "job-awaiting-approval").await;
    wait_for(
        &c,
        "#approval-actions:not([hidden]) #approve",
        Duration::from_secs(10),
    )
    .await
    .click()
    .await
    .unwrap();
    wait_for(
        &c,
        "#job[data-status='succeeded']",
        Duration::from_secs(120),
    )
    .await;
    let decisions = text_of(&c, "#approval-decisions").await;
    assert!(decisions.contains("approved by admin"), "{decisions}");
    assert!(!sb.writes_to("t0").is_empty());
    c.close().await.unwrap();
}
