//! Running jobs: the queue, at most `max_jobs` at once and one per target, each a ferry
//! session of its own (its own counters, plan, report and log). A job that waits for its
//! target does not take a slot: the scheduler starts only jobs whose target no other job
//! of this server holds; the target's lease (`ferry::lock`) then keeps out a CLI run or
//! another server, and the job waits for it in phase `waiting for the target`.

use crate::auth::Token;
use crate::config::Config;
use crate::job::{Job, Line, Mode, Progress as JobProgress, Status, now};
use crate::store::{Doc, Store};
use ferry::{
    Discovery, Host, Loaded, Outcome, Overrides, Package, PluginProgress, Progress, Report, Sides,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What the event streams carry.
#[derive(Debug, Clone)]
pub enum Event {
    /// a job's record changed (status, phase, progress)
    Job(Job),
    /// a job wrote a log line
    Log(String, Line),
    /// a job finished
    End(Job),
}

impl Event {
    pub fn job_id(&self) -> &str {
        match self {
            Event::Job(j) | Event::End(j) => &j.id,
            Event::Log(id, _) => id,
        }
    }
}

/// The jobs this server runs now, and the targets they hold.
#[derive(Default)]
struct Running {
    jobs: HashMap<String, CancellationToken>,
    targets: HashSet<String>,
}

pub struct Server {
    pub config: Config,
    /// the API tokens now: the file's at start, replaced by `reload_tokens`
    tokens: RwLock<Arc<[Token]>>,
    /// each promotion's target as sessions identify it (`resolve_targets`)
    targets: RwLock<HashMap<String, String>>,
    pub store: Store,
    pub events: broadcast::Sender<Event>,
    running: Mutex<Running>,
    wake: Notify,
    /// how long a job waits for a target a CLI run holds (the lease's own expiry frees a
    /// crashed holder's)
    pub lock_wait: Duration,
    /// the one plugin runtime every job's session opens on
    host: Host,
}

/// Progress figures are written at most this often (and at every phase and the end).
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

impl Server {
    pub fn new(config: Config) -> anyhow::Result<Arc<Server>> {
        let store = crate::store::open(&config.store)?;
        std::fs::create_dir_all(&config.packages)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", config.packages.display()))?;
        let (events, _) = broadcast::channel(4096);
        Ok(Arc::new(Server {
            tokens: RwLock::new(config.tokens.clone().into()),
            targets: Default::default(),
            config,
            store,
            events,
            running: Mutex::new(Running::default()),
            wake: Notify::new(),
            lock_wait: Duration::from_secs(24 * 3600),
            host: Host::new()?,
        }))
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tokens the API takes now.
    pub fn tokens(&self) -> Arc<[Token]> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Read the server's file again and take its tokens (a rotated or deleted token stops
    /// working; nothing else of the file changes before a restart). A file that does not
    /// read or check keeps the tokens as they were. Returns how many there are now.
    pub fn reload_tokens(&self) -> anyhow::Result<usize> {
        let Some(file) = &self.config.file else {
            anyhow::bail!("this server was not started from a file: nothing to reload");
        };
        let tokens = Config::read(file)?.tokens;
        let n = tokens.len();
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens.into();
        tracing::info!("tokens reloaded from {}: {n}", file.display());
        Ok(n)
    }

    /// Where an export job's package is kept.
    pub fn package_path(&self, id: &str) -> PathBuf {
        self.config.packages.join(format!("{id}.ferry"))
    }

    /// After a restart: a job that was running runs again (a re-run converges), and says so;
    /// one being cancelled is cancelled.
    pub fn recover(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        for mut job in self.store.unfinished()? {
            match job.status {
                Status::Running => {
                    job.status = Status::Queued;
                    job.phase = "queued".into();
                    job.resumed = true;
                    job.message = Some("resumed: the server stopped while this job ran".into());
                    self.store.put(&job)?;
                    self.log(
                        &job.id,
                        "WARN",
                        "the server stopped while this job ran; it runs again (a re-run converges)",
                    );
                    n += 1;
                }
                // Its own end, not a stale "resumed" message, and an end line in its log.
                Status::Cancelling => {
                    job.status = Status::Cancelled;
                    job.phase = "done".into();
                    job.finished = Some(now());
                    job.message = Some(
                        "the server stopped while the job was being cancelled; its report \
                         was not made (a clone or restore re-run converges)"
                            .into(),
                    );
                    self.store.put(&job)?;
                    self.log(
                        &job.id,
                        "WARN",
                        &format!("cancelled: {}", job.message.as_deref().unwrap_or("")),
                    );
                }
                Status::AwaitingApproval => {}
                _ => n += 1,
            }
        }
        Ok(n)
    }

    /// A new job, queued.
    pub fn submit(&self, job: Job) -> anyhow::Result<Job> {
        self.store.put(&job)?;
        self.log(&job.id, "INFO", &format!("queued by {}", job.started_by));
        let _ = self.events.send(Event::Job(job.clone()));
        self.wake.notify_one();
        Ok(job)
    }

    /// Cancel a job: a queued one at once, a running one once what is in flight finished.
    /// `None` when it had finished already.
    pub fn cancel(&self, id: &str, by: &str) -> anyhow::Result<Option<Job>> {
        // Under the lock every write of a running job's record takes: the job's own writes
        // see the cancelled token and keep `cancelling`, and its end comes after this.
        let running = self.running();
        let Some(mut job) = self.store.get(id)? else {
            return Ok(None);
        };
        if job.status.finished() {
            return Ok(None);
        }
        match running.jobs.get(id) {
            Some(token) => {
                token.cancel();
                job.status = Status::Cancelling;
                self.log(
                    id,
                    "WARN",
                    &format!("cancelled by {by}: finishing what is in flight"),
                );
            }
            None => {
                let when = if job.status == Status::AwaitingApproval {
                    "while it awaited approval"
                } else {
                    "before it started"
                };
                job.status = Status::Cancelled;
                job.phase = "done".into();
                job.finished = Some(now());
                job.message = Some(format!("cancelled by {by} {when}"));
                self.log(id, "WARN", &format!("cancelled by {by} {when}"));
            }
        }
        self.store.put(&job)?;
        let _ = self.events.send(if job.status.finished() {
            Event::End(job.clone())
        } else {
            Event::Job(job.clone())
        });
        Ok(Some(job))
    }

    /// Change a job's record that no run is writing (one awaiting approval), under the lock
    /// the scheduler and cancel take, so no decision is lost to another. `f` refuses or
    /// changes it; the changed record is written and told to the streams, and the scheduler
    /// woken. `None`: no such job.
    pub fn change<E>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Job) -> Result<(), E>,
    ) -> anyhow::Result<Option<Result<Job, E>>> {
        let _running = self.running();
        let Some(mut job) = self.store.get(id)? else {
            return Ok(None);
        };
        if let Err(e) = f(&mut job) {
            return Ok(Some(Err(e)));
        }
        self.store.put(&job)?;
        let _ = self.events.send(if job.status.finished() {
            Event::End(job.clone())
        } else {
            Event::Job(job.clone())
        });
        self.wake.notify_one();
        Ok(Some(Ok(job)))
    }

    /// Write a running job's record (not its end): under the lock cancel takes, so a cancel
    /// is never overwritten; a cancelled job's record says `cancelling`.
    fn save_running(&self, job: &mut Job, cancel: &CancellationToken) {
        let _running = self.running();
        if cancel.is_cancelled() {
            job.status = Status::Cancelling;
        }
        if let Err(e) = self.store.put(job) {
            tracing::warn!("job {}: cannot record its progress: {e:#}", job.id);
        }
        let _ = self.events.send(Event::Job(job.clone()));
    }

    pub fn log(&self, id: &str, level: &str, message: &str) {
        match self.store.log(id, level, message) {
            Ok(line) => {
                let _ = self.events.send(Event::Log(id.to_string(), line));
            }
            Err(e) => tracing::warn!("job {id}: cannot keep a log line: {e:#}"),
        }
    }

    /// Learn each promotion's target identity from its platform's manifest, as a session
    /// keys the target's lease: so the scheduler takes `http://host:8765/` and
    /// `HTTP://host:8765` for one target, and a second job waits in the queue rather than in
    /// a slot. A promotion that does not resolve keeps the spelled key; its jobs fail when
    /// they open, saying why.
    pub async fn resolve_targets(&self) {
        let discovery = Discovery::standard(&self.config.plugins);
        let mut found = HashMap::new();
        for p in self.config.promotions.values() {
            let env = &self.config.environments[&p.target];
            match self
                .host
                .target_identity(&discovery, &p.platform, env)
                .await
            {
                Ok(id) => {
                    found.insert(p.name.clone(), id);
                }
                Err(e) => tracing::warn!("promotion {}: its target: {e}", p.name),
            }
        }
        *self.targets.write().unwrap_or_else(|p| p.into_inner()) = found;
    }

    /// The target a job writes, as the scheduler tells targets apart: `None` for an export.
    fn target_of(&self, job: &Job) -> Option<String> {
        if job.mode == Mode::Export {
            return None;
        }
        let known = self.targets.read().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = known.get(&job.promotion) {
            return Some(id.clone());
        }
        let p = self.config.promotions.get(&job.promotion)?;
        let env = self.config.environments.get(&p.target)?;
        // As spelled: the platform, the URL, the parameters with the short forms among them.
        let mut params: BTreeMap<&str, &str> = env
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.0.as_str()))
            .collect();
        for (k, v) in &env.short {
            params.insert(k, &v.get_ref().0);
        }
        let mut key = format!(
            "{}\n{}",
            p.platform,
            env.url.as_ref().map(|u| u.0.as_str()).unwrap_or("")
        );
        for (k, v) in params {
            key += &format!("\n{k}={v}");
        }
        Some(key)
    }

    /// Start what can start; runs until the process ends.
    pub async fn schedule(self: Arc<Self>) {
        loop {
            if let Err(e) = self.start_ready() {
                tracing::error!("scheduling jobs: {e:#}");
            }
            self.wake.notified().await;
        }
    }

    fn start_ready(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut running = self.running();
        for job in self.store.unfinished()? {
            if running.jobs.len() >= self.config.max_jobs {
                break;
            }
            if job.status != Status::Queued || running.jobs.contains_key(&job.id) {
                continue;
            }
            let target = self.target_of(&job);
            if target.as_ref().is_some_and(|t| running.targets.contains(t)) {
                continue;
            }
            // Running from here, written before the lock is let go: a cancel from now on
            // finds the job's token.
            let mut job = job;
            job.status = Status::Running;
            job.phase = "opening".into();
            job.started = Some(now());
            job.finished = None;
            job.attempts += 1;
            job.progress = JobProgress::default();
            self.store.put(&job)?;
            let _ = self.events.send(Event::Job(job.clone()));
            let token = CancellationToken::new();
            running.jobs.insert(job.id.clone(), token.clone());
            if let Some(t) = &target {
                running.targets.insert(t.clone());
            }
            let span = tracing::info_span!("job", ferry_job = %job.id);
            // A job's future is driven on a thread of its own: some of the engine's futures
            // are Send but not provably so to the compiler (closures over borrowed items),
            // which tokio::spawn requires. What it spawns runs on the shared runtime.
            let (server, handle) = (self.clone(), tokio::runtime::Handle::current());
            tokio::task::spawn_blocking(move || {
                handle.block_on(server.run(job, token, target).instrument(span))
            });
        }
        Ok(())
    }

    async fn run(self: Arc<Self>, job: Job, cancel: CancellationToken, target: Option<String>) {
        self.log(
            &job.id,
            "INFO",
            &format!(
                "started ({} {}, attempt {})",
                job.mode.name(),
                job.promotion,
                job.attempts
            ),
        );
        let live = Arc::new(Live {
            server: self.clone(),
            job: Mutex::new(job.clone()),
            written: Mutex::new(Instant::now()),
            cancel: cancel.clone(),
        });
        // A panic in the engine or a plugin's host code fails this job, not the server: its
        // slot and target are given back below either way.
        let result = if cancel.is_cancelled() {
            Err(anyhow::anyhow!("cancelled before it started"))
        } else {
            use futures::FutureExt;
            std::panic::AssertUnwindSafe(self.execute(&job, &cancel, live.clone()))
                .catch_unwind()
                .await
                .unwrap_or_else(|p| {
                    let why = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(anyhow::anyhow!("the job's run panicked: {why}"))
                })
        };
        let mut job = live.job.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cancelled = cancel.is_cancelled();
        match result {
            Ok(end) => {
                job.error = None;
                job.counts = end.counts;
                job.attempt_counts = end.attempt_counts;
                if let (Some(digest), Some(a)) = (&end.awaiting, job.approval.as_mut()) {
                    a.digest = Some(digest.clone());
                    a.approved = None;
                }
                job.status = if cancelled {
                    Status::Cancelled
                } else if end.awaiting.is_some() {
                    Status::AwaitingApproval
                } else if end.failed {
                    Status::Failed
                } else {
                    Status::Succeeded
                };
                job.message = Some(end.message);
                if job.mode == Mode::Export && job.status == Status::Succeeded {
                    job.package = Some(format!("/v1/jobs/{}/package", job.id));
                }
            }
            Err(e) => {
                job.status = if cancelled {
                    Status::Cancelled
                } else {
                    Status::Failed
                };
                job.message = Some(format!("{e:#}"));
                // Cancelling is the user's doing, not a failure of some kind.
                job.error = (!cancelled)
                    .then(|| ferry::Error::kind_of(&e).unwrap_or(ferry::ErrorKind::Internal));
            }
        }
        if job.progress.total > 0 && job.status == Status::Succeeded {
            job.progress.percent = 100;
        }
        if job.status == Status::AwaitingApproval {
            job.phase = "awaiting approval".into();
        } else {
            job.phase = "done".into();
            job.finished = Some(now());
        }
        let level = if matches!(job.status, Status::Succeeded | Status::AwaitingApproval) {
            "INFO"
        } else {
            "ERROR"
        };
        self.log(
            &job.id,
            level,
            &format!(
                "{}: {}",
                job.status.name(),
                job.message.as_deref().unwrap_or("")
            ),
        );
        // Its end and the freeing of its slot and target in one step, under the lock cancel
        // takes: a cancel either came before (and the end says cancelled) or finds it done.
        {
            let mut running = self.running();
            if let Err(e) = self.store.put(&job) {
                tracing::error!("job {}: cannot record its end: {e:#}", job.id);
            }
            running.jobs.remove(&job.id);
            if let Some(t) = target {
                running.targets.remove(&t);
            }
        }
        let _ = self.events.send(if job.status.finished() {
            Event::End(job.clone())
        } else {
            Event::Job(job.clone())
        });
        self.wake.notify_one();
    }

    /// Open the job's session and run it.
    async fn execute(
        &self,
        job: &Job,
        cancel: &CancellationToken,
        live: Arc<Live>,
    ) -> anyhow::Result<End> {
        let promotion = self.config.promotions.get(&job.promotion).ok_or_else(|| {
            anyhow::anyhow!(
                "the server's config has no promotion {:?} any more",
                job.promotion
            )
        })?;
        let file = match &promotion.file {
            Some(f) => Loaded::read(f)?,
            None => Loaded::parse(&promotion.name, "", PathBuf::new())?,
        }
        .between(
            self.config.environments[&promotion.source].clone(),
            self.config.environments[&promotion.target].clone(),
        );
        let sides = match job.mode {
            Mode::Plan | Mode::Clone => Sides::Live,
            Mode::Export => Sides::Export,
            Mode::Restore => {
                // The messages name the export job, never the server's path.
                let from = job.from_export.as_deref().unwrap_or_default();
                let path = self.package_path(from);
                if !path.exists() {
                    anyhow::bail!(
                        "export job {from}'s package is gone (the job was deleted): \
                         export again and restore from the new job"
                    );
                }
                let package = Package::open(&path, &Default::default()).map_err(|e| {
                    let why = e.to_string().replace(&path.display().to_string(), "it");
                    anyhow::anyhow!("export job {from}'s package cannot be read: {why}")
                })?;
                Sides::FromPackage(Arc::new(package))
            }
        };
        let overrides = Overrides {
            lock_wait: self.lock_wait,
            holder: Some(format!("ferry serve job {}", job.id)),
            ..Default::default()
        };
        let discovery = Discovery::standard(&self.config.plugins);
        let settings = overrides.settings(Some(file), sides, discovery)?;
        let session = self.host.open(settings).await?;
        let token = session.cancel_token();
        let linked = cancel.clone();
        let link = tokio::spawn(async move {
            linked.cancelled().await;
            token.cancel();
        });
        let progress: Arc<dyn Progress> = live.clone();
        let end = match job.mode {
            Mode::Export => {
                let out = self.package_path(&job.id);
                session
                    .export(&out, None, progress)
                    .await
                    .map(|x| End {
                        message: format!(
                            "{} resources and {} files ({} bytes) in the package",
                            x.counts.values().sum::<usize>(),
                            x.files,
                            x.bytes
                        ),
                        failed: false,
                        counts: x.counts.clone(),
                        attempt_counts: BTreeMap::new(),
                        report: serde_json::to_value(&x).unwrap_or_default(),
                        awaiting: None,
                    })
                    .map_err(anyhow::Error::from)
            }
            mode => match job.approval.as_ref() {
                // A plan to approve: made and kept; the job waits.
                Some(a) if a.approved.is_none() => session
                    .promote(true, progress)
                    .await
                    .map(|r| End::awaiting(&r, None)),
                // The approved plan, and only it: planned again, applied if unchanged.
                Some(a) => {
                    let approved = a.approved.clone().unwrap_or_default();
                    let before = self.store.doc(&job.id, Doc::Plan)?;
                    session
                        .promote_approved(&approved, progress)
                        .await
                        .map(|r| {
                            if r.dry_run {
                                let changed = changes(before.as_deref(), &r);
                                End::awaiting(&r, Some(changed))
                            } else {
                                End::of(&r, job.resumed, job.attempts)
                            }
                        })
                }
                None => session
                    .promote(mode == Mode::Plan, progress)
                    .await
                    .map(|r| End::of(&r, job.resumed, job.attempts)),
            }
            .map_err(anyhow::Error::from),
        };
        link.abort();
        session.close().await;
        let mut end = end?;
        if end.awaiting.is_none() {
            // The decisions that let it apply belong to what it did.
            if let (Some(a), Some(r)) = (&job.approval, end.report.as_object_mut()) {
                r.insert("approvals".into(), serde_json::json!(a.decisions));
            }
            self.store
                .put_doc(&job.id, Doc::Report, &end.report.to_string())?;
        }
        Ok(end)
    }
}

/// What differs between the plan that was approved and the one made now: each item whose
/// action, target or rewrites changed, or that one plan has and the other not.
fn changes(before: Option<&str>, now: &Report) -> Vec<String> {
    let items = |v: &serde_json::Value| -> BTreeMap<(String, String), serde_json::Value> {
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|it| {
                let key = (
                    it["kind"].as_str().unwrap_or("").to_string(),
                    it["key"].as_str().unwrap_or("").to_string(),
                );
                let mut it = it.clone();
                if let Some(o) = it.as_object_mut() {
                    o.remove("duration_ms");
                }
                (key, it)
            })
            .collect()
    };
    let before = before
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .map(|b| items(&b))
        .unwrap_or_default();
    let now = items(&serde_json::to_value(now).unwrap_or_default());
    let mut out = Vec::new();
    for (k, it) in &now {
        match before.get(k) {
            None => out.push(format!("{} {:?}: new ({})", k.0, k.1, it["action"])),
            Some(b) if b != it => out.push(format!(
                "{} {:?}: {} (was {})",
                k.0, k.1, it["action"], b["action"]
            )),
            _ => {}
        }
    }
    for k in before.keys().filter(|k| !now.contains_key(*k)) {
        out.push(format!("{} {:?}: no longer in the plan", k.0, k.1));
    }
    if out.is_empty() {
        out.push("the bodies or deletes differ".into());
    }
    out
}

/// How a job's run ended.
struct End {
    message: String,
    failed: bool,
    counts: BTreeMap<String, usize>,
    /// the last attempt's own counts, when there were several
    attempt_counts: BTreeMap<String, usize>,
    report: serde_json::Value,
    /// a plan that waits for approval: its digest
    awaiting: Option<String>,
}

impl End {
    /// A run's end; after the first attempt, its counts are the job's across attempts and
    /// the message gives both.
    fn of(r: &Report, resumed: bool, attempts: u32) -> End {
        let (counts, attempt_counts) = if resumed && !r.dry_run {
            (named(r.totals_across_attempts()), named(r.totals()))
        } else {
            (named(r.totals()), BTreeMap::new())
        };
        let failed = r.failed() > 0 || r.aborted.is_some();
        let mut message = summary(&counts);
        if !attempt_counts.is_empty() {
            message = format!(
                "{message} across its attempts ({attempts} starts; the last: {})",
                summary(&attempt_counts)
            );
        }
        if let Some(a) = &r.aborted {
            message = format!("aborted: {a} ({message})");
        }
        End {
            message,
            failed,
            counts,
            attempt_counts,
            report: serde_json::to_value(r).unwrap_or_default(),
            awaiting: None,
        }
    }

    /// A plan made to be approved; `changed`: how it differs from the one approved before.
    fn awaiting(r: &Report, changed: Option<Vec<String>>) -> End {
        let counts = named(r.totals());
        let digest = r.digest.clone().unwrap_or_default();
        let message = match changed {
            None => format!(
                "planned ({}): awaiting approval of {digest}",
                summary(&counts)
            ),
            Some(c) => format!(
                "the plan changed since it was approved (the source or the target changed), nothing was written: {}; awaiting approval of {digest}",
                c.join("; ")
            ),
        };
        End {
            message,
            failed: false,
            counts,
            attempt_counts: BTreeMap::new(),
            report: serde_json::Value::Null,
            awaiting: Some(digest),
        }
    }
}

/// A report's totals as a job record keeps them.
fn named(c: BTreeMap<&str, usize>) -> BTreeMap<String, usize> {
    c.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `7 adopted, 30 created`, or `nothing to do`.
fn summary(counts: &BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return "nothing to do".into();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A running job's record, kept current by the session's progress events.
struct Live {
    server: Arc<Server>,
    job: Mutex<Job>,
    written: Mutex<Instant>,
    cancel: CancellationToken,
}

impl Live {
    /// Change the record; write it and tell the streams now (`force`) or at most every
    /// PROGRESS_EVERY.
    fn update(&self, force: bool, f: impl FnOnce(&mut Job)) {
        let mut job = self.job.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut job);
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if force || written.elapsed() >= PROGRESS_EVERY {
            *written = Instant::now();
            self.server.save_running(&mut job, &self.cancel);
        }
    }

    fn id(&self) -> String {
        self.job
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .id
            .clone()
    }
}

impl Progress for Live {
    fn phase(&self, name: &str) {
        self.update(true, |j| j.phase = name.to_string());
        self.server
            .log(&self.id(), "INFO", &format!("phase: {name}"));
    }

    fn planned(&self, plan: &Report) {
        let id = self.id();
        match serde_json::to_string(plan) {
            Ok(json) => {
                if let Err(e) = self.server.store.put_doc(&id, Doc::Plan, &json) {
                    tracing::warn!("job {id}: cannot keep its plan: {e:#}");
                }
            }
            Err(e) => tracing::warn!("job {id}: cannot write its plan: {e}"),
        }
        let c = named(plan.totals());
        self.server
            .log(&id, "INFO", &format!("planned: {}", summary(&c)));
        self.update(true, |j| j.counts = c);
    }

    fn started(&self, total: usize) {
        self.update(true, |j| {
            j.progress = JobProgress {
                done: 0,
                total,
                percent: 0,
            };
        });
    }

    fn finished(&self, kind: &str, key: &str, outcome: &Outcome) {
        let line = match outcome {
            Outcome::Skipped(r) | Outcome::Failed(r) => {
                format!("{} {kind} {key:?}: {r}", outcome.name())
            }
            _ => format!("{} {kind} {key:?}", outcome.name()),
        };
        let level = if matches!(outcome, Outcome::Failed(_)) {
            "ERROR"
        } else {
            "INFO"
        };
        self.server.log(&self.id(), level, &line);
        self.update(false, |j| {
            let p = &mut j.progress;
            p.done += 1;
            p.percent = (p.done * 100).checked_div(p.total).unwrap_or(0).min(100) as u8;
        });
    }
}

impl PluginProgress for Live {
    fn plugin(&self, plugin: &str, percent: u8, message: &str) {
        self.server.log(
            &self.id(),
            "INFO",
            &format!("{plugin}: {percent}% {message}"),
        );
        self.update(false, |j| {
            // A server-side job's own figure, while nothing else counts.
            if j.progress.total == 0 {
                j.progress.percent = percent.min(100);
            }
        });
    }
}
