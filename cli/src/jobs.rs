//! `ferry jobs`: a client of `ferry serve`'s API, with the token from `FERRY_TOKEN`.

use super::exit;
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
pub(crate) struct Server {
    /// The job server's URL, e.g. http://127.0.0.1:8750
    #[arg(long, env = "FERRY_SERVER", value_name = "URL")]
    server: String,
    /// The API token (`ferry serve token`); better given as FERRY_TOKEN than as a flag.
    #[arg(
        long,
        env = "FERRY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: String,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Copy, Clone, Debug, ValueEnum, Default, PartialEq, Eq)]
enum Output {
    #[default]
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub(crate) enum JobsCommand {
    /// The server's jobs, newest first.
    List {
        #[command(flatten)]
        server: Server,
        /// Only these statuses (comma-separated): queued, running, succeeded, failed,
        /// cancelling, cancelled.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job: status, phase, progress, counts, message.
    Show {
        #[command(flatten)]
        server: Server,
        id: String,
    },
    /// Start a job of one of the server's promotions; with --wait, follow it and exit 0 if
    /// it succeeded, 1 if not.
    Start {
        #[command(flatten)]
        server: Server,
        promotion: String,
        #[arg(long, value_parser = ["plan", "clone", "export", "restore"], default_value = "clone")]
        mode: String,
        /// For a restore: the export job whose package to restore.
        #[arg(long, value_name = "JOB")]
        package: Option<String>,
        #[arg(long)]
        wait: bool,
    },
    /// Approve the plan a job awaits approval of (its digest, as `show` gives it): the job
    /// applies that plan, and only it, once the promotion's count of approvals is in.
    Approve {
        #[command(flatten)]
        server: Server,
        id: String,
        /// The digest of the plan approved (`sha256:…`).
        #[arg(long)]
        digest: String,
    },
    /// Reject the plan a job awaits approval of: the job ends, cancelled.
    Reject {
        #[command(flatten)]
        server: Server,
        id: String,
        /// Why, for the job's record and log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Cancel a job: nothing new starts, what is in flight finishes.
    Cancel {
        #[command(flatten)]
        server: Server,
        id: String,
    },
    /// A job's log lines, on stdout (one JSON object a line with --output json); --follow
    /// prints new ones until the job ends, and exits 1 if it did not succeed.
    Logs {
        #[command(flatten)]
        server: Server,
        id: String,
        #[arg(long, short)]
        follow: bool,
    },
}

struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    token: String,
}

/// A job id as the server makes them (a ULID): checked before it goes into a URL, where `..`
/// or `/` would reach another route (URLs resolve `%2e%2e` as `..`, so encoding is not
/// enough).
fn job_id(id: &str) -> anyhow::Result<&str> {
    if id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        anyhow::bail!("{id:?} is not a job id (26 letters and digits, as `ferry jobs list` shows)")
    }
}

impl Client {
    fn new(s: &Server) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()?,
            base: reqwest::Url::parse(s.server.trim())
                .map_err(|e| anyhow::anyhow!("--server {}: {e}", s.server))?,
            token: s.token.trim().to_string(),
        })
    }

    /// The URL of `segments` under `/v1/` (each percent-encoded) with `query` (encoded: a
    /// value holding `&` stays one value).
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> reqwest::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map(|mut p| {
                p.pop_if_empty().push("v1").extend(segments);
            })
            .ok();
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// Call the API; an error answer becomes its code and message.
    async fn call(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let e = &json["error"];
            anyhow::bail!(
                "the server answered {status}: {} ({})",
                e["message"].as_str().unwrap_or(&text),
                e["code"].as_str().unwrap_or("?")
            );
        }
        Ok(json)
    }

    async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, self.url(segments, query), None)
            .await
    }
}

/// An answer of the server that is an error is the job command's failure (exit 1), not a
/// usage error.
pub(crate) async fn run(c: JobsCommand) -> anyhow::Result<u8> {
    match call(c).await {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(exit::FAILED)
        }
    }
}

async fn call(c: JobsCommand) -> anyhow::Result<u8> {
    match c {
        JobsCommand::List {
            server,
            status,
            limit,
        } => {
            let client = Client::new(&server)?;
            let mut query = vec![("limit", limit.to_string())];
            if let Some(s) = status {
                query.push(("status", s));
            }
            let list = client.get(&["jobs"], &query).await?;
            if server.output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                t.set_header([
                    "id",
                    "promotion",
                    "mode",
                    "status",
                    "phase",
                    "progress",
                    "by",
                    "created",
                ]);
                for j in list["jobs"].as_array().into_iter().flatten() {
                    t.add_row([
                        text(&j["id"]),
                        text(&j["promotion"]),
                        text(&j["mode"]),
                        text(&j["status"]),
                        text(&j["phase"]),
                        format!("{}%", j["progress"]["percent"]),
                        text(&j["started_by"]),
                        text(&j["created"]),
                    ]);
                }
                println!("{t}");
                println!("{} job(s) in all", list["total"]);
            }
            Ok(exit::OK)
        }
        JobsCommand::Show { server, id } => {
            let client = Client::new(&server)?;
            let job = client.get(&["jobs", job_id(&id)?], &[]).await?;
            show(&job, server.output);
            Ok(exit::OK)
        }
        JobsCommand::Start {
            server,
            promotion,
            mode,
            package,
            wait,
        } => {
            let client = Client::new(&server)?;
            let mut body = serde_json::json!({"promotion": promotion, "mode": mode});
            if let Some(p) = package {
                body["package"] = p.into();
            }
            let job = client
                .call(
                    reqwest::Method::POST,
                    client.url(&["jobs"], &[]),
                    Some(body),
                )
                .await?;
            let id = text(&job["id"]);
            if !wait {
                show(&job, server.output);
                return Ok(exit::OK);
            }
            eprintln!("job {id} queued; following it");
            let job = follow(&client, &id, Lines::Stderr).await?;
            show(&job, server.output);
            Ok(if job["status"] == "succeeded" {
                exit::OK
            } else {
                exit::FAILED
            })
        }
        JobsCommand::Approve { server, id, digest } => {
            let body = serde_json::json!({ "digest": digest });
            act(&server, &id, "approve", Some(body)).await
        }
        JobsCommand::Reject { server, id, reason } => {
            let body = serde_json::json!({ "reason": reason });
            act(&server, &id, "reject", Some(body)).await
        }
        JobsCommand::Cancel { server, id } => act(&server, &id, "cancel", None).await,
        JobsCommand::Logs {
            server,
            id,
            follow: keep,
        } => {
            let client = Client::new(&server)?;
            let (id, lines) = (job_id(&id)?, Lines::Stdout(server.output));
            if !keep {
                print_lines(&client, id, 0, lines).await?;
                return Ok(exit::OK);
            }
            let job = follow(&client, id, lines).await?;
            Ok(if job["status"] == "succeeded" {
                exit::OK
            } else {
                eprintln!(
                    "job {id} ended {}: {}",
                    text(&job["status"]),
                    text(&job["message"])
                );
                exit::FAILED
            })
        }
    }
}

/// `POST /v1/jobs/{id}/{action}`, then show the job it answers.
async fn act(server: &Server, id: &str, action: &str, body: Option<Value>) -> anyhow::Result<u8> {
    let client = Client::new(server)?;
    let url = client.url(&["jobs", job_id(id)?, action], &[]);
    let job = client.call(reqwest::Method::POST, url, body).await?;
    show(&job, server.output);
    Ok(exit::OK)
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| {
        if v.is_null() {
            String::new()
        } else {
            v.to_string()
        }
    })
}

fn show(job: &Value, output: Output) {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(job).unwrap_or_default());
        return;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    for (k, v) in [
        ("id", text(&job["id"])),
        (
            "promotion",
            format!("{} ({})", text(&job["promotion"]), text(&job["mode"])),
        ),
        (
            "source → target",
            format!("{} → {}", text(&job["source"]), text(&job["target"])),
        ),
        ("status", text(&job["status"])),
        ("phase", text(&job["phase"])),
        (
            "progress",
            format!(
                "{}/{} ({}%)",
                job["progress"]["done"], job["progress"]["total"], job["progress"]["percent"]
            ),
        ),
        ("started by", text(&job["started_by"])),
        (
            "created / started / finished",
            format!(
                "{} / {} / {}",
                text(&job["created"]),
                text(&job["started"]),
                text(&job["finished"])
            ),
        ),
        ("counts", job["counts"].to_string()),
        ("message", text(&job["message"])),
        ("resumed", text(&job["resumed"])),
    ] {
        t.add_row([k.to_string(), v]);
    }
    let a = &job["approval"];
    if a.is_object() {
        let decisions: Vec<String> = a["decisions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{} {} ({})",
                    text(&d["verdict"]),
                    text(&d["by"]),
                    text(&d["at"])
                )
            })
            .collect();
        t.add_row(["approval needed".to_string(), text(&a["needed"])]);
        t.add_row(["plan awaiting approval".to_string(), text(&a["digest"])]);
        t.add_row(["decisions".to_string(), decisions.join("; ")]);
    }
    println!("{t}");
}

/// Where a job's log lines go: stdout for `jobs logs` (so `> file` keeps them), stderr
/// while `start --wait` follows a job whose record then goes to stdout.
#[derive(Clone, Copy)]
enum Lines {
    Stdout(Output),
    Stderr,
}

/// Print a job's lines after `after`; returns the last one's number.
async fn print_lines(client: &Client, id: &str, after: i64, to: Lines) -> anyhow::Result<i64> {
    let log = client
        .get(&["jobs", id, "log"], &[("after", after.to_string())])
        .await?;
    let mut last = after;
    for l in log["lines"].as_array().into_iter().flatten() {
        let human = || {
            format!(
                "{} {:5} {}",
                text(&l["at"]),
                text(&l["level"]),
                text(&l["message"])
            )
        };
        match to {
            Lines::Stdout(Output::Json) => println!("{l}"),
            Lines::Stdout(Output::Table) => println!("{}", human()),
            Lines::Stderr => eprintln!("{}", human()),
        }
        last = l["seq"].as_i64().unwrap_or(last);
    }
    Ok(last)
}

/// Poll a job until it finishes, printing its log lines; returns its record. A job that
/// awaits approval is waited for too, saying once how to approve it.
async fn follow(client: &Client, id: &str, to: Lines) -> anyhow::Result<Value> {
    let mut after = 0;
    let mut told = None;
    loop {
        let job = client.get(&["jobs", id], &[]).await?;
        after = print_lines(client, id, after, to).await?;
        let awaited = &job["approval"]["digest"];
        if job["status"] == "awaiting_approval" && told.as_ref() != Some(awaited) {
            eprintln!(
                "job {id} awaits approval ({}): ferry jobs approve {id} --digest {}",
                text(&job["approval"]["needed"]),
                text(awaited)
            );
            told = Some(awaited.clone());
        }
        if matches!(
            job["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
