//! A `ferry serve` child over a test's sandbox: its file (one source org `dev`, the given
//! targets, one promotion per target, a token per role), its address, and a small API client.

use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub(crate) const VIEWER: &str = "test-viewer-token";
pub(crate) const OPERATOR: &str = "test-operator-token";
pub(crate) const ADMIN: &str = "test-admin-token";

pub(crate) struct Serve {
    pub child: Child,
    pub url: String,
    http: reqwest::Client,
}

/// The sandbox a server test runs on: `dev` seeded with `seed`, and empty `targets`.
pub(crate) async fn sandbox(seed: Seed, targets: &[&str]) -> Sandbox {
    let mut orgs = vec![OrgSpec::seeded("dev", seed)];
    orgs.extend(targets.iter().map(|t| OrgSpec::new(t)));
    Sandbox::start(Config::local(orgs)).await.unwrap()
}

/// Make promotion `name` of the file at `path` (written by [`write_config`]) ask for
/// `approval` (a TOML inline table).
pub(crate) fn ask_approval(path: &Path, name: &str, approval: &str) {
    let header = format!("[promotions.{name}]\n");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(&header), "no {header} in {}", path.display());
    let text = text.replace(&header, &format!("{header}approval = {approval}\n"));
    std::fs::write(path, text).unwrap();
}

/// The server's file: `dev` and each target as environments, `dev-to-T` promotions; those
/// `files` names get a promotion file with that text.
pub(crate) fn write_config(
    dir: &Path,
    sb: &Sandbox,
    targets: &[&str],
    max_jobs: usize,
    files: &[(&str, &str)],
) -> PathBuf {
    let mut text = format!("store = \"jobs.sqlite\"\nmax_jobs = {max_jobs}\n\n");
    text += &tokens();
    text += &format!(
        "[environments.dev]\nplatform = \"unstract\"\nurl = \"{}\"\norg = \"dev\"\nkey_env = \"TEST_KEY_DEV\"\n\n",
        sb.url()
    );
    for t in targets {
        text += &format!(
            "[environments.{t}]\nplatform = \"unstract\"\nurl = \"{}\"\norg = \"{t}\"\nkey_env = \"TEST_KEY_{}\"\n\n",
            sb.url(),
            t.to_uppercase()
        );
        text += &format!("[promotions.dev-to-{t}]\nsource = \"dev\"\ntarget = \"{t}\"\n");
        if let Some((_, file)) = files.iter().find(|(name, _)| name == t) {
            std::fs::write(dir.join(format!("{t}.toml")), file).unwrap();
            text += &format!("file = \"{t}.toml\"\n");
        }
        text += "\n";
    }
    let path = dir.join("server.toml");
    std::fs::write(&path, text).unwrap();
    path
}

impl Serve {
    /// Start `ferry serve` on the file in `dir` (written by [`write_config`]), with the keys
    /// of `dev` and `targets` in its environment and `state` as its state folder (locks).
    pub(crate) fn start(dir: &Path, sb: &Sandbox, targets: &[&str], state: &Path) -> Serve {
        Serve::start_also(dir, sb, targets, state, &[])
    }

    /// The same with more variables (`FERRY_STORE_URL`).
    pub(crate) fn start_also(
        dir: &Path,
        sb: &Sandbox,
        targets: &[&str],
        state: &Path,
        more: &[(String, String)],
    ) -> Serve {
        let mut vars = vec![("TEST_KEY_DEV".to_string(), sb.keys("dev").read)];
        vars.extend(more.iter().cloned());
        for t in targets {
            vars.push((
                format!("TEST_KEY_{}", t.to_uppercase()),
                sb.keys(t).read_write,
            ));
        }
        Serve::start_with(dir, &vars, state)
    }

    /// Start `ferry serve` on `dir/server.toml` with these variables (the credentials its
    /// environments name).
    pub(crate) fn start_with(dir: &Path, vars: &[(String, String)], state: &Path) -> Serve {
        let mut c = super::ferry_command();
        c.args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(dir.join("server.toml"))
            .env("FERRY_STATE_DIR", state)
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("serve.log")).unwrap(),
            ));
        let mut child = c.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| {
                    panic!(
                        "ferry serve ended: {}",
                        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
                    )
                })
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep reading its stdout, so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve {
            child,
            url,

            http: reqwest::Client::new(),
        }
    }

    /// A request with `token` (none: no Authorization header); the status and the body.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A call that must answer `status`; its body as JSON (Null when empty).
    pub(crate) async fn expect(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let (got, text) = self.call(method, path, Some(token), body).await;
        assert_eq!(got, status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub(crate) async fn start_job(&self, promotion: &str, mode: &str) -> Value {
        self.expect(
            "POST",
            "/v1/jobs",
            OPERATOR,
            Some(json!({"promotion": promotion, "mode": mode})),
            201,
        )
        .await
    }

    /// Poll a job until it finished; its record.
    pub(crate) async fn wait(&self, id: &str, within: Duration) -> Value {
        let t = Instant::now();
        loop {
            let job = self
                .expect("GET", &format!("/v1/jobs/{id}"), VIEWER, None, 200)
                .await;
            if matches!(
                job["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return job;
            }
            assert!(t.elapsed() < within, "job {id} did not finish: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `[[tokens]]` entries of the three test tokens.
pub(crate) fn tokens() -> String {
    let mut text = String::new();
    for (name, role, token) in [
        ("viewer", "viewer", VIEWER),
        ("operator", "operator", OPERATOR),
        ("admin", "admin", ADMIN),
    ] {
        text += &format!(
            "[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n\n",
            hash_of(token)
        );
    }
    text
}

/// A token's sha256, as the server's file keeps it.
pub(crate) fn hash_of(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}
