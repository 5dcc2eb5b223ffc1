//! A session: everything one promotion needs, opened once and driven by whoever runs it (the
//! `ferry` command, a job server, a package export). Opening it loads the run's platform's
//! plugins, turns each side's description into a connection through the platform's
//! declared `[connection]` (base URL, host-owned headers, credential), checks the run's
//! options against the platform's, loads the promotion file's rules and hooks, opens the
//! target's creates journal and signs in where the platform logs in. Nothing is written to
//! any environment until [`Session::promote`] applies a plan.

use crate::engine::Options;
use crate::engine::apply::apply;
use crate::engine::journal::Journal;
use crate::engine::managed::Managed;
use crate::engine::plan::{PlanError, plan};
use crate::engine::progress::{NoProgress, Progress};
use crate::engine::report::Report;
use crate::error::{Error, ErrorKind, Mark};
use crate::net::auth::AuthInput;
use crate::net::client::ClientConfig;
use crate::net::tape::{Recorder, Replay, Tape};
use crate::net::{Connection, Environments, HttpClient, Side};
use crate::package::Package;
use crate::plugin::grant::Grant;
use crate::plugin::hook::Hook;
use crate::plugin::platform::{Given, Platform, Short};
use crate::plugin::registry::{Discovery, Registry};
use crate::plugin::stats::Stats;
use crate::plugin::wasm::WasmRuntime;
use crate::plugin::wasm::cache::ComponentCache;
use crate::promotion::Loaded;
use crate::transform::{HookStep, Transformer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One side as the user describes it: the platform's connection makes it a [`Connection`].
#[derive(Debug, Clone, Default)]
pub struct EnvSpec {
    /// the environment's name for hooks (`dev`); default: the platform's label for it
    pub name: Option<String>,
    pub url: String,
    /// the platform's connection parameters (`org`, `project`, ...) by name or short form,
    /// in order: a later one wins
    pub params: Vec<(Given, String)>,
    pub auth: AuthInput,
}

/// Where a session's sides are.
#[derive(Clone, Default)]
pub enum Sides {
    /// a clone, plan or diff: both environments live
    #[default]
    Live,
    /// a restore (`--from-package`): the source is this package, already checked
    FromPackage(Arc<Package>),
    /// an export: the source is live and recorded; there is no target
    Export,
}

/// Everything a session is opened from.
pub struct Settings {
    pub sides: Sides,
    /// the platform of the run (its plugins alone are loaded)
    pub platform: String,
    pub source: EnvSpec,
    pub target: EnvSpec,
    pub net: ClientConfig,
    /// the run's options; the plugin options are checked and the rules and hooks added when
    /// the session opens
    pub options: Options,
    /// `--option NAME=VALUE`, checked against the platform's declarations
    pub plugin_options: Vec<(String, String)>,
    /// run-wide short forms, resolved against the platform's manifest
    pub aliases: Vec<Short>,
    pub file: Option<Loaded>,
    pub discovery: Discovery,
    /// who the target's lease names as its holder; default `ferry` (with the process and
    /// user, as every lease says)
    pub holder: Option<String>,
}

/// One side, resolved.
#[derive(Debug, Clone)]
pub struct Env {
    /// its name for hooks
    pub name: String,
    pub url: String,
    pub params: BTreeMap<String, String>,
    pub base: String,
    /// how reports name it: `dev @ https://…`
    pub describe: String,
}

impl Env {
    /// The environment's whole identity (platform, base URL, parameters): what keys every
    /// per-target record, so two projects on one server never share one.
    pub fn identity(&self, platform: &str) -> String {
        identity(platform, &self.base, &self.params)
    }
}

fn identity(platform: &str, base: &str, params: &BTreeMap<String, String>) -> String {
    let mut id = format!("{platform}\n{base}");
    for (k, v) in params {
        id += &format!("\n{k}={v}");
    }
    id
}

/// The identity of the environment at `url` with `given` parameters (and short forms) on
/// `platform`, as a session opened on it keys its records: the base URL normalised (host
/// case, default port, trailing slash), so every spelling of one target is one identity.
pub(crate) fn identity_of(
    platform: &Platform,
    side: Side,
    url: &str,
    given: &[(Given, String)],
) -> anyhow::Result<String> {
    let c = &platform.connection;
    let params = c.identity_params(&c.resolve_params(&side.to_string(), given)?);
    let conn = Connection::new(
        side,
        &c.base_url(url, &params),
        crate::net::Credential::None,
    )?;
    Ok(identity(&platform.name, conn.base.as_str(), &params))
}

pub struct Session {
    _runtime: Arc<WasmRuntime>,
    registry: Arc<Registry>,
    platform: Platform,
    grant: Grant,
    source: Env,
    target: Env,
    /// the settings' options, with the platform's options and the promotion file's rules
    /// and hooks
    options: Options,
    /// an export's package, being made (`Sides::Export`)
    exporting: Option<Exporting>,
    /// who the target's lease names as its holder (`ferry (pid 4242, user ana)`)
    lock_holder: String,
}

struct Exporting {
    builder: std::sync::Mutex<Option<crate::package::Builder>>,
    recorder: Arc<Recorder>,
}

impl Session {
    /// Open a promotion on a runtime of its own (a front end that runs one session; one
    /// that runs many opens them on one `Host`, which calls `open_on`).
    pub async fn open(settings: Settings) -> Result<Session, Error> {
        let runtime = WasmRuntime::new(ComponentCache::default_dir()).kind(ErrorKind::Plugin)?;
        let registry = Registry::load(&runtime, &Session::discovery(&settings))
            .await
            .kind(ErrorKind::Plugin)?;
        Session::open_with(Arc::new(runtime), Arc::new(registry), settings).await
    }

    /// Where a session's plugins are found: the settings' places, for its platform only.
    pub(crate) fn discovery(settings: &Settings) -> Discovery {
        Discovery {
            platform: Some(settings.platform.clone()),
            ..settings.discovery.clone()
        }
    }

    /// Open on a runtime and a registry loaded for `Session::discovery(&settings)`.
    pub(crate) async fn open_with(
        runtime: Arc<WasmRuntime>,
        registry: Arc<Registry>,
        settings: Settings,
    ) -> Result<Session, Error> {
        Session::opening(runtime, registry, settings)
            .await
            .map_err(|e| Error::or(e, ErrorKind::Internal))
    }

    async fn opening(
        runtime: Arc<WasmRuntime>,
        registry: Arc<Registry>,
        mut settings: Settings,
    ) -> anyhow::Result<Session> {
        let platform = registry
            .platform()
            .cloned()
            .expect("a registry loaded for a platform has it");
        // Run-wide short forms: an option's joins the options, a parameter's both sides.
        let short = platform
            .run_aliases(&settings.aliases)
            .kind(ErrorKind::Config)?;
        settings.plugin_options.extend(short.options);
        for side in [&mut settings.source, &mut settings.target] {
            side.params.extend(short.params.iter().cloned());
        }
        let (source, source_conn) = match &settings.sides {
            Sides::FromPackage(p) => package_source(&platform, p).kind(ErrorKind::Package)?,
            _ => connect(&platform, Side::Source, &settings.source)?,
        };
        let (target, target_conn) = match &settings.sides {
            Sides::Export => no_target()?,
            _ => connect(&platform, Side::Target, &settings.target)?,
        };
        let mut options = settings.options.clone();
        options.plugin_options = platform
            .options(&settings.plugin_options)
            .kind(ErrorKind::Config)?;
        options.environment = vec![
            ("ferry.source-url".into(), source.url.clone()),
            ("ferry.target-url".into(), target.url.clone()),
        ];
        for (side, env) in [("source", &source), ("target", &target)] {
            for (k, v) in &env.params {
                options
                    .environment
                    .push((format!("ferry.{side}-param.{k}"), v.clone()));
            }
        }
        // The source's server is not there to ask: a plugin must not have one side's server
        // copy from the other's (Versori's clone call, Strategy's sync mode).
        if let Sides::FromPackage(p) = &settings.sides {
            options
                .environment
                .push(("ferry.source-package".into(), p.path.display().to_string()));
            options.from_package = Some(p.clone());
            warn_on_other_plugins(&registry, p);
        }
        // The run's own counters: a server running several sessions keeps them apart.
        let stats = Arc::new(Stats::default());
        // The promotion file's rules and hooks.
        options.transform = Arc::new(
            transformer(&settings, &source, &target, &registry, &runtime, &stats)
                .kind(ErrorKind::Config)?,
        );
        let mut exporting = None;
        let tape = match &settings.sides {
            Sides::Live => Tape::Live,
            Sides::FromPackage(p) => Tape::Replay(Arc::new(Replay::new(
                &p.path.display().to_string(),
                p.answers.clone(),
                p.manifest.files.clone(),
                p.manifest.files_left.clone(),
                p.files_dir(),
            ))),
            Sides::Export => {
                let builder = crate::package::Builder::new()?;
                let recorder = Arc::new(Recorder::new(&builder.files_dir())?);
                exporting = Some(Exporting {
                    builder: std::sync::Mutex::new(Some(builder)),
                    recorder: recorder.clone(),
                });
                Tape::Record(recorder)
            }
        };
        options.one_place = source.identity(&platform.name) == target.identity(&platform.name);
        // An export writes nowhere: no journal, no records.
        if !matches!(settings.sides, Sides::Export) {
            // A server job's attempts share its name: a resumed one knows what it created.
            options.journal = Arc::new(Journal::for_target(
                &target.identity(&platform.name),
                settings.holder.as_deref(),
            ));
            options.managed = Arc::new(Managed::for_target(&target.identity(&platform.name))?);
        }
        let http = HttpClient::new(
            Environments {
                source: source_conn,
                target: target_conn,
            },
            &settings.net,
        )?
        .with_tape(tape);
        if let Err(e) = http.sign_in().await {
            http.sign_out().await;
            return Err(e);
        }
        Ok(Session {
            _runtime: runtime,
            registry,
            platform,
            grant: Grant {
                http: Some(http),
                cancel: CancellationToken::new(),
                stats,
                progress: Arc::new(NoProgress),
                mask: Default::default(),
            },
            source,
            target,
            options,
            exporting,
            lock_holder: crate::lock::holder(settings.holder.as_deref().unwrap_or("ferry")),
        })
    }

    /// Export the source to a package at `out` (a session opened with `Sides::Export`),
    /// signed with `key` when given. Once per session.
    pub async fn export(
        &self,
        out: &std::path::Path,
        key: Option<&ed25519_dalek::SigningKey>,
        progress: Arc<dyn Progress>,
    ) -> Result<crate::engine::export::Exported, Error> {
        let Some(x) = &self.exporting else {
            return Err(
                PlanError::Usage("this session was not opened for an export".into()).into(),
            );
        };
        let Some(builder) = x.builder.lock().expect("builder lock").take() else {
            return Err(PlanError::Usage("this session has exported already".into()).into());
        };
        let grant = self.grant.reporting_to(progress.clone());
        progress.phase("exporting");
        let about = crate::engine::export::About {
            platform: self.platform.name.clone(),
            source: crate::package::SourceInfo {
                name: self.source.name.clone(),
                url: self.source.url.clone(),
                params: self.source.params.clone(),
                describe: self.source.describe.clone(),
            },
            plugins: self
                .registry
                .plugins()
                .map(|p| crate::package::PluginUsed {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    sha256: p.sha256.clone(),
                    kinds: p.kinds.iter().map(|k| k.name.clone()).collect(),
                })
                .collect(),
        };
        let to = crate::engine::export::PackageOut {
            recorder: &x.recorder,
            builder,
            about,
            key,
            out,
        };
        crate::engine::export::export(&self.registry, &grant, &self.options, to, &*progress)
            .await
            .map_err(Error::from)
    }

    /// The token that stops the run: nothing new starts, what is in flight finishes.
    pub fn cancel_token(&self) -> CancellationToken {
        self.grant.cancel.clone()
    }

    /// Plan, and apply unless `dry_run`, telling `progress` what happens (the plugins'
    /// `timer.progress` too). Returns the report; its `digest` names the plan.
    pub async fn promote(
        &self,
        dry_run: bool,
        progress: Arc<dyn Progress>,
    ) -> Result<Report, Error> {
        self.run(dry_run, None, progress).await
    }

    /// Apply only the plan that was approved: plan again (under the target's lease) and
    /// apply if the new plan's digest is `approved`. When it is not (the source or the
    /// target changed since), nothing is written and the answer is the new plan's report
    /// (`dry_run`, with its own `digest`), to approve again.
    pub async fn promote_approved(
        &self,
        approved: &str,
        progress: Arc<dyn Progress>,
    ) -> Result<Report, Error> {
        self.run(false, Some(approved), progress).await
    }

    async fn run(
        &self,
        dry_run: bool,
        approved: Option<&str>,
        progress: Arc<dyn Progress>,
    ) -> Result<Report, Error> {
        let opts = &self.options;
        let started = Instant::now();
        // One writer per target: held from before the plan (what it reads is what is
        // written) to the last delete.
        if !dry_run {
            progress.phase("waiting for the target");
        }
        let _lease = if dry_run { None } else { self.lock().await? };
        // Every write to the target from here passes the lease's fence (dropped first).
        let _fenced = _lease
            .as_ref()
            .zip(self.grant.http.as_ref())
            .map(|(lease, http)| http.fence.armed(lease));
        let grant = self.grant.reporting_to(progress.clone());
        progress.phase("planning");
        let mut p = plan(&self.registry, &grant, opts).await?;
        let mut planned = Report::build(
            &p,
            None,
            &self.source.describe,
            &self.target.describe,
            started.elapsed().as_millis() as u64,
            self.grant.stats.snapshot(),
        );
        // Before apply, which takes the bodies this and the digest read.
        let needed = left_out(&p, opts);
        planned.credentials_needed.extend(needed.clone());
        let digest = crate::engine::digest::of(&p);
        planned.digest = Some(digest.clone());
        progress.planned(&planned);
        if dry_run {
            return Ok(planned);
        }
        if let Some(approved) = approved.filter(|a| *a != digest) {
            tracing::warn!(
                "the plan is not the one approved ({approved}): it is {digest}; nothing written"
            );
            return Ok(planned);
        }
        progress.phase("applying");
        let done = apply(&mut p, &self.registry, &grant, opts, &*progress).await;
        opts.journal.compact();
        crate::engine::prune::remember(&p.items, &done, &self.registry, &opts.managed);
        // Deletes come after every create and update.
        let deletes = if opts.prune.enabled {
            progress.phase("pruning");
            let ctx = crate::engine::plan::context(opts);
            Some(
                crate::engine::prune::run(
                    &p.deletes,
                    &p.kinds,
                    &self.registry,
                    &grant,
                    &ctx,
                    &opts.managed,
                )
                .await,
            )
        } else {
            None
        };
        let mut report = Report::build(
            &p,
            Some(&done),
            &self.source.describe,
            &self.target.describe,
            started.elapsed().as_millis() as u64,
            self.grant.stats.snapshot(),
        );
        if let Some(d) = deletes {
            report.deletes = d;
        }
        report.credentials_needed.extend(needed);
        report.digest = Some(digest);
        Ok(report)
    }

    /// Take the target's lease, waiting while another run holds it (up to `lock_wait`).
    /// `None` when ferry has no state directory to keep locks in.
    async fn lock(&self) -> Result<Option<crate::lock::Lease>, PlanError> {
        let locks = match &self.options.lock_store {
            Some(s) => crate::lock::Locks::from_spec(s).map(Some),
            None => crate::lock::Locks::standard(),
        }
        .map_err(|e| PlanError::Locked(format!("the lock store: {e:#}")))?;
        let Some(locks) = locks else {
            tracing::warn!(
                "no state directory (HOME or FERRY_STATE_DIR): the target is not locked against other runs"
            );
            return Ok(None);
        };
        let target = self.target.identity(&self.platform.name).replace('\n', " ");
        let holder = &self.lock_holder;
        let waited = Instant::now();
        let mut told = false;
        loop {
            let held = match locks.try_acquire(&target, holder, crate::lock::TTL) {
                Ok(Ok(lease)) => return Ok(Some(lease)),
                Ok(Err(held)) => held,
                Err(e) => {
                    return Err(PlanError::Locked(format!(
                        "cannot take the target's lock: {e:#}"
                    )));
                }
            };
            if waited.elapsed() >= self.options.lock_wait {
                return Err(PlanError::Locked(format!(
                    "{held}; gave up after {} s (`lock_wait`). If its holder is gone, `ferry unlock {}` breaks the lock",
                    self.options.lock_wait.as_secs(),
                    held.id
                )));
            }
            if !told {
                tracing::warn!(
                    "{held}: waiting for it (up to {} s, `lock_wait`)",
                    self.options.lock_wait.as_secs()
                );
                told = true;
            }
            if self.grant.cancel.is_cancelled() {
                return Err(PlanError::Locked(format!(
                    "{held}; interrupted while waiting for it"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// End the run: sign out where the platform logs in.
    pub async fn close(&self) {
        if let Some(http) = &self.grant.http {
            http.sign_out().await;
        }
    }
}

/// The secret fields a restored package left out that the target's rules did not set, of
/// the resources the run writes.
fn left_out(
    p: &crate::engine::plan::Plan,
    opts: &Options,
) -> Vec<crate::engine::report::Credential> {
    let Some(pkg) = &opts.from_package else {
        return vec![];
    };
    pkg.manifest
        .credentials
        .iter()
        .filter_map(|c| {
            let it = p.items.iter().find(|it| {
                it.source.kind == c.kind && it.source_key == c.key && !it.action.is_out() && it.lookup_only.is_none()
            })?;
            let set = it.source.body.value().pointer(&c.field).is_some_and(|v| !v.is_null());
            (!set).then(|| crate::engine::report::Credential {
                kind: c.kind.clone(),
                key: it.source.key.clone(),
                reason: format!(
                    "secret field {} is not in the package: set it with a rule of the promotion file (\"${{env:NAME}}\"), or on the target by hand",
                    c.field
                ),
            })
        })
        .collect()
}

/// A package as the source: the environment it was exported from, without a credential
/// (nothing is sent to it: the client plays the package's recording back).
fn package_source(platform: &Platform, p: &Package) -> anyhow::Result<(Env, Connection)> {
    let m = &p.manifest;
    if m.platform != platform.name {
        anyhow::bail!(
            "package {} was exported from a {} environment; this run is for {} (give `platform` {})",
            p.path.display(),
            m.platform,
            platform.name,
            m.platform
        );
    }
    let c = &platform.connection;
    let base = c.base_url(&m.source.url, &m.source.params);
    let conn = Connection::new(Side::Source, &base, crate::net::Credential::None)?
        .with_headers(c.headers(&m.source.url, &m.source.params))?;
    let file = p
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let env = Env {
        name: m.source.name.clone(),
        url: m.source.url.clone(),
        params: m.source.params.clone(),
        base: conn.base.to_string(),
        describe: format!("package {file} ({})", m.source.describe),
    };
    Ok((env, conn))
}

/// An export's target: none. The client refuses every request to it.
fn no_target() -> anyhow::Result<(Env, Connection)> {
    let conn = Connection::new(
        Side::Target,
        "http://no-target.invalid/",
        crate::net::Credential::None,
    )?;
    let env = Env {
        name: "package".into(),
        url: String::new(),
        params: BTreeMap::new(),
        base: conn.base.to_string(),
        describe: "a package".into(),
    };
    Ok((env, conn))
}

/// A package made by other plugins than the ones loaded may not restore the same way.
fn warn_on_other_plugins(registry: &Registry, p: &Package) {
    for used in &p.manifest.plugins {
        match registry.plugins().find(|l| l.name == used.name) {
            Some(l) if l.sha256 == used.sha256 => {}
            Some(l) => tracing::warn!(
                "package {} was exported by plugin {} {} ({}); this run loads {} ({})",
                p.path.display(),
                used.name,
                used.version,
                used.sha256.get(..12).unwrap_or(&used.sha256),
                l.version,
                l.sha256.get(..12).unwrap_or(&l.sha256)
            ),
            None => tracing::warn!(
                "package {} was exported by plugin {} {}, which this run does not load",
                p.path.display(),
                used.name,
                used.version
            ),
        }
    }
}

/// One side's connection, from the platform's declaration.
fn connect(platform: &Platform, side: Side, spec: &EnvSpec) -> anyhow::Result<(Env, Connection)> {
    let c = &platform.connection;
    let params = c
        .resolve_params(&side.to_string(), &spec.params)
        .kind(ErrorKind::Config)?;
    let base = c.base_url(&spec.url, &params);
    let label = c.label(&spec.url, &params);
    let credential = c
        .auth
        .credential(side, &spec.auth, &params)
        .kind(ErrorKind::Credentials)?;
    // How the run signs in is not part of where it writes.
    let params = c.identity_params(&params);
    let conn =
        Connection::new(side, &base, credential)?.with_headers(c.headers(&spec.url, &params))?;
    let describe = format!(
        "{} @ {}",
        label.clone().unwrap_or_else(|| platform.name.clone()),
        spec.url
    );
    let env = Env {
        name: spec
            .name
            .clone()
            .or(label)
            .unwrap_or_else(|| side.to_string()),
        url: spec.url.clone(),
        params,
        base: conn.base.to_string(),
        describe,
    };
    Ok((env, conn))
}

/// The promotion file's rules and hooks, checked against the loaded kinds.
fn transformer(
    settings: &Settings,
    source: &Env,
    target: &Env,
    registry: &Registry,
    runtime: &WasmRuntime,
    stats: &Arc<Stats>,
) -> anyhow::Result<Transformer> {
    let mut t = Transformer {
        source_env: source.name.clone(),
        target_env: target.name.clone(),
        ..Default::default()
    };
    let Some(l) = &settings.file else {
        return Ok(t);
    };
    l.check_kinds(&registry.kinds().map(|(k, _)| k.name.clone()).collect())?;
    t.kinds = l
        .file
        .kinds
        .iter()
        .map(|(k, r)| (k.get_ref().clone(), r.clone()))
        .collect();
    for h in &l.file.hooks {
        let hook = Hook::load(h.uses.get_ref(), &l.dir, runtime)
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", l.at(&h.uses)))?
            .counting_into(stats.clone());
        let params = h
            .with
            .as_ref()
            .map(|w| w.value.clone())
            .unwrap_or_else(|| serde_json::json!({}));
        t.hooks.push(HookStep {
            hook,
            kinds: h.kinds.iter().map(|k| k.get_ref().clone()).collect(),
            params,
        });
    }
    Ok(t)
}
