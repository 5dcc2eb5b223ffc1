//! One item of a plan: what it comes to without a call (interrupted, a dependency that did
//! not end well, a planned skip or failure), or its write (create, update or adopt), its
//! files, and its journal entries.

use crate::engine::outcome::{Done, INTERRUPTED, Outcome};
use crate::engine::plan::{Plan, rewritten};
use crate::engine::{Action, Options};
use crate::plugin::grant::Grant;
use crate::plugin::{Call, CallContext, Registry, Resource, Stored};
use crate::redact::Secrets;
use std::future::Future;
use std::time::{Duration, Instant};

/// What item `i` comes to without a plugin call, if anything: the run was interrupted, a
/// resource it references did not end well, or the plan already decided.
pub(super) fn settled(
    plan: &Plan,
    i: usize,
    results: &[Option<Done>],
    interrupted: bool,
) -> Option<Done> {
    let item = &plan.items[i];
    let at_once = |outcome, target| Done {
        outcome,
        target,
        files: None,
        duration: Duration::ZERO,
        created_earlier: false,
    };
    // Interrupted: start nothing new; what is in flight finishes.
    if interrupted {
        return Some(at_once(
            Outcome::Skipped(INTERRUPTED.into()),
            item.target.clone(),
        ));
    }
    // A dependency that did not end well skips this item without a call.
    // (Only references carry a skip: a kind-level ordering just waits.)
    let mut referenced = item.edges.iter().map(|e| e.to);
    if let Some(bad) =
        referenced.find(|&d| !results[d].as_ref().is_some_and(|r| r.outcome.done_ok()))
    {
        let d = &plan.items[bad].source;
        let why = match &results[bad].as_ref().map(|r| &r.outcome) {
            Some(Outcome::Failed(_)) => format!("depends on {} {:?}, which failed", d.kind, d.key),
            _ => format!("depends on {} {:?}, which is skipped", d.kind, d.key),
        };
        let outcome = match &item.action {
            Action::Skip(reason) => Outcome::Skipped(reason.clone()),
            Action::Fail(reason) => Outcome::Failed(reason.clone()),
            _ => Outcome::Skipped(why),
        };
        return Some(at_once(outcome, item.target.clone()));
    }
    match &item.action {
        Action::Skip(reason) => Some(at_once(Outcome::Skipped(reason.clone()), None)),
        Action::Fail(reason) => Some(at_once(Outcome::Failed(reason.clone()), None)),
        _ => None,
    }
}

/// Write item `i`: what it needs of the plan is taken now (its body rewritten with the
/// targets of what it references), so the future borrows nothing.
pub(super) fn write(
    plan: &Plan,
    i: usize,
    registry: &Registry,
    grant: &Grant,
    opts: &Options,
    ctx: &CallContext,
) -> impl Future<Output = Done> + Send + 'static {
    let item = &plan.items[i];
    let (_, kind_info, cloner) = registry
        .cloner_for(&item.source.kind)
        .expect("registered kind");
    let has_files = kind_info.has_files && !opts.skip_files && item.lookup_only.is_none();
    let wanted = rewritten(&plan.items, i);
    let (action, target, kind) = (
        item.action.clone(),
        item.target.clone(),
        item.source.kind.clone(),
    );
    let source = item.source.clone();
    // What a server may echo in an error: the source's secret values and those the
    // rules set for the target (wanted, below).
    let mut secrets = Secrets::of(&source.body.value(), &kind_info.secrets);
    let secret_pointers = kind_info.secrets.clone();
    // Where the kind allows it, an update writes only the top-level fields that differ
    // (whole, when it completes what an interrupted run left half-made).
    let fields: Option<Vec<String>> = item
        .differences
        .as_ref()
        .filter(|d| {
            kind_info.support.partial_update
                && !d.is_empty()
                && !opts.journal.unfinished(&item.source.kind, &item.source.key)
        })
        .map(|d| crate::engine::drift::top_level(d));
    let (cloner, grant, ctx, journal) = (
        cloner.clone(),
        grant.clone(),
        ctx.clone(),
        opts.journal.clone(),
    );
    async move {
        let started = Instant::now();
        let wanted = match wanted {
            Ok(Some(w)) => w,
            Ok(None) => return failed("a referenced resource has no target", started),
            Err(e) => return failed(&e, started),
        };
        secrets.extend(&Secrets::of(&wanted.body, &secret_pointers));
        // Journaled from before the create until its files are in: a run killed in
        // between leaves a note for the next one to complete it.
        if matches!(action, Action::Create) {
            journal.started(&kind, &wanted.key);
        }
        let call = Call::new(grant, &ctx, &kind);
        let result = match action {
            Action::Create => create_once(&cloner, &call, &wanted)
                .await
                .map(|t| (Outcome::Created, t)),
            Action::Update => {
                let id = target.as_ref().map(|t| t.id.clone()).unwrap_or_default();
                match &fields {
                    Some(f) => cloner.update_fields(call.clone(), &id, &wanted, f).await,
                    None => cloner.update(call.clone(), &id, &wanted).await,
                }
                .map(|t| (Outcome::Updated, t))
            }
            Action::Adopt => Ok((
                Outcome::Adopted,
                target.clone().expect("adopt has a target"),
            )),
            Action::Skip(_) | Action::Fail(_) => {
                unreachable!("skips and failures are settled without a write")
            }
        };
        let (outcome, t) = match result {
            Ok(r) => r,
            Err(e) => return failed(&secrets.mask(&e.to_string()), started),
        };
        let files = if has_files {
            let (source, made) = (source.unpack(), t.unpack());
            Some(copy_files(&cloner, &call, (&source, &made), &secrets).await)
        } else {
            None
        };
        let files_failed = files
            .as_ref()
            .is_some_and(|f| f["failed"].as_array().is_some_and(|a| !a.is_empty()));
        if !files_failed && matches!(outcome, Outcome::Created | Outcome::Updated) {
            journal.done(&kind, &wanted.key);
        }
        let created_earlier = matches!(outcome, Outcome::Adopted | Outcome::Updated)
            && journal.started_earlier(&kind, &wanted.key);
        Done {
            outcome,
            target: Some(t),
            files,
            duration: started.elapsed(),
            created_earlier,
        }
    }
}

/// Copy a resource's files, again after a failure: copy-files only moves what the target
/// lacks, so trying again is safe. The last report is the answer.
async fn copy_files(
    cloner: &crate::plugin::Cloner,
    call: &Call<'_>,
    (source, made): (&Resource, &Resource),
    secrets: &Secrets,
) -> serde_json::Value {
    let mut attempt = 1;
    loop {
        let report = match cloner.copy_files(call.clone(), source, made).await {
            Ok(report) => report,
            Err(e) => serde_json::json!({"failed": [{"error": secrets.mask(&e.to_string())}]}),
        };
        let failed = report["failed"].as_array().is_some_and(|f| !f.is_empty());
        if !failed || attempt == FILE_ATTEMPTS {
            return report;
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}

/// Tries of a create whose failure may be transient, and of a files copy that failed.
const CREATE_ATTEMPTS: u32 = 6;
const FILE_ATTEMPTS: u32 = 5;

fn backoff(attempt: u32) -> Duration {
    let cap = 200u64 << attempt.min(6);
    Duration::from_millis(fastrand::u64(cap / 2..=cap))
}

/// Create a resource exactly once. A create is never blindly tried again: after a failure
/// that may be transient (the server may have made it before failing), the resource is looked
/// up by its natural key; found, it is completed with `update` (the rest of a multi-step
/// create: sharing, publishing...); not found, the create is tried again.
async fn create_once(
    cloner: &crate::plugin::Cloner,
    call: &Call<'_>,
    wanted: &Resource,
) -> Result<Stored, crate::plugin::PluginError> {
    let mut attempt = 1;
    loop {
        let err = match cloner.create(call.clone(), wanted).await {
            Ok(t) => return Ok(t),
            Err(e) if e.is_transient() && attempt < CREATE_ATTEMPTS => e,
            Err(e) => return Err(e),
        };
        tracing::info!(kind = call.kind, key = %wanted.key, "create may have failed midway ({err}); looking it up before trying again");
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
        // The lookup and the completion are reads and idempotent writes: retry them too.
        let found = loop {
            match cloner.find(call.clone(), wanted).await {
                Ok(f) => break f,
                Err(e) if e.is_transient() && attempt < CREATE_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let Some(made) = found else { continue };
        loop {
            match cloner.update(call.clone(), &made.id, wanted).await {
                Ok(t) => return Ok(t),
                Err(e) if e.is_transient() && attempt < CREATE_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                // A kind that cannot be updated: what was made is what there is.
                Err(crate::plugin::PluginError::Guest {
                    error: crate::plugin::GuestError::Invalid(_),
                    ..
                }) => return Ok(made),
                Err(e) => return Err(e),
            }
        }
    }
}

fn failed(e: &str, started: Instant) -> Done {
    Done {
        outcome: Outcome::Failed(e.to_string()),
        target: None,
        files: None,
        duration: started.elapsed(),
        created_earlier: false,
    }
}
