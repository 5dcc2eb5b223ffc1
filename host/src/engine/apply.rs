//! Applying a plan as a dependency graph: a resource starts as soon as everything it
//! references exists on the target (no phase barriers), with at most `concurrency` plugin
//! calls in flight. References are rewritten from the referenced items' target resources;
//! a failure skips what depends on it.

use super::outcome::{Done, INTERRUPTED, Outcome};
use super::plan::{Plan, context, rewritten};
use super::progress::Progress;
use super::{Action, Options};
use crate::plugin::grant::Grant;
use crate::plugin::{Registry, Resource, Stored};
use crate::redact::Secrets;
use futures::{FutureExt, StreamExt};
use std::time::{Duration, Instant};

/// Apply the plan; returns one [`Done`] per item, in the plan's order.
pub async fn apply(
    plan: &mut Plan,
    registry: &Registry,
    grant: &Grant,
    opts: &Options,
    progress: &dyn Progress,
) -> Vec<Done> {
    let n = plan.items.len();
    let ctx = context(opts);
    let limit = opts.concurrency.max(1);
    // Dependencies per item, and who waits on whom. A kind-level wait goes through one
    // barrier node per kind (after the n items), which waits for every item of the kind:
    // n + m edges, where waiting on each item would be n × m.
    let mut barriers: Vec<&str> = plan
        .items
        .iter()
        .flat_map(|it| it.after.iter().map(String::as_str))
        .collect();
    barriers.sort_unstable();
    barriers.dedup();
    let barrier = |kind: &str| n + barriers.binary_search(&kind).expect("a barrier per kind");
    let mut deps: Vec<Vec<usize>> = plan
        .items
        .iter()
        .map(|it| {
            let mut d: Vec<usize> = it
                .edges
                .iter()
                .map(|e| e.to)
                .chain(it.after.iter().map(|k| barrier(k)))
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    for kind in &barriers {
        deps.push(
            (0..n)
                .filter(|&i| plan.items[i].source.kind == *kind)
                .collect(),
        );
    }
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependants: Vec<Vec<usize>> = vec![vec![]; deps.len()];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependants[j].push(i);
        }
    }
    let mut results: Vec<Option<Done>> = vec![None; n];
    let mut running = futures::stream::FuturesUnordered::new();
    // Of the ready items, the one with the longest chain of dependants after it starts first:
    // what ends a run is its longest chain, and short leaves (tags, say) fill the gaps.
    let height = heights(n, &dependants);
    let mut ready = Ready::new(&height);
    (0..deps.len())
        .filter(|&i| waiting[i] == 0)
        .for_each(|i| ready.push(i));
    progress.started(n);

    loop {
        // Start ready items while fewer than `concurrency` run. An item's rewritten body is
        // made as it starts, so memory follows the items in flight, not all that are ready.
        while running.len() < limit
            && let Some(i) = ready.pop()
        {
            // A kind's barrier: every item of the kind has ended; release who waits on it.
            if i >= n {
                release(i, &dependants, &mut waiting, &mut ready);
                continue;
            }
            // Interrupted: start nothing new; what is in flight finishes.
            if grant.cancel.is_cancelled() {
                let done = Done {
                    outcome: Outcome::Skipped(INTERRUPTED.into()),
                    target: plan.items[i].target.clone(),
                    files: None,
                    duration: Duration::ZERO,
                };
                running.push(futures::future::ready((i, done)).boxed());
                continue;
            }
            // A dependency that did not end well skips this item without a call.
            // (Only references carry a skip: a kind-level ordering just waits.)
            let referenced = plan.items[i].edges.iter().map(|e| e.to);
            if let Some(bad) = referenced
                .into_iter()
                .find(|&d| !results[d].as_ref().is_some_and(|r| r.outcome.done_ok()))
            {
                let d = &plan.items[bad].source;
                let why = match &results[bad].as_ref().map(|r| &r.outcome) {
                    Some(Outcome::Failed(_)) => {
                        format!("depends on {} {:?}, which failed", d.kind, d.key)
                    }
                    _ => format!("depends on {} {:?}, which is skipped", d.kind, d.key),
                };
                let outcome = match &plan.items[i].action {
                    Action::Skip(reason) => Outcome::Skipped(reason.clone()),
                    Action::Fail(reason) => Outcome::Failed(reason.clone()),
                    _ => Outcome::Skipped(why),
                };
                running.push(
                    futures::future::ready((
                        i,
                        Done {
                            outcome,
                            target: plan.items[i].target.clone(),
                            files: None,
                            duration: Duration::ZERO,
                        },
                    ))
                    .boxed(),
                );
                continue;
            }
            let item = &plan.items[i];
            if let Action::Skip(reason) | Action::Fail(reason) = &item.action {
                let outcome = if matches!(item.action, Action::Fail(_)) {
                    Outcome::Failed(reason.clone())
                } else {
                    Outcome::Skipped(reason.clone())
                };
                let done = Done {
                    outcome,
                    target: None,
                    files: None,
                    duration: Duration::ZERO,
                };
                running.push(futures::future::ready((i, done)).boxed());
                continue;
            }
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
                .map(|d| super::drift::top_level(d));
            let (cloner, grant, ctx, journal) = (
                cloner.clone(),
                grant.clone(),
                ctx.clone(),
                opts.journal.clone(),
            );
            let file_ctx = ctx.clone();
            running.push(
                async move {
                    let started = Instant::now();
                    let wanted = match wanted {
                        Ok(Some(w)) => w,
                        Ok(None) => return (i, failed("a referenced resource has no target", started)),
                        Err(e) => return (i, failed(&e, started)),
                    };
                    secrets.extend(&Secrets::of(&wanted.body, &secret_pointers));
                    // Journaled from before the create until its files are in: a run killed in
                    // between leaves a note for the next one to complete it.
                    if matches!(action, Action::Create) {
                        journal.started(&kind, &wanted.key);
                    }
                    let result = match action {
                        Action::Create => create_once(&cloner, &grant, &ctx, &kind, &wanted).await.map(|t| (Outcome::Created, t)),
                        Action::Update => {
                            let id = target.as_ref().map(|t| t.id.clone()).unwrap_or_default();
                            match &fields {
                                Some(f) => cloner.update_fields(grant.clone(), &ctx, &kind, &id, &wanted, f).await,
                                None => cloner.update(grant.clone(), &ctx, &kind, &id, &wanted).await,
                            }
                            .map(|t| (Outcome::Updated, t))
                        }
                        Action::Adopt => Ok((Outcome::Adopted, target.clone().expect("adopt has a target"))),
                        Action::Skip(_) | Action::Fail(_) => unreachable!("skips and failures are handled above"),
                    };
                    let (outcome, t) = match result {
                        Ok(r) => r,
                        Err(e) => return (i, failed(&secrets.mask(&e.to_string()), started)),
                    };
                    let mut files = None;
                    if has_files {
                        let (source, made) = (source.unpack(), t.unpack());
                        // copy-files only moves what the target lacks, so trying again after a
                        // failed transfer is safe.
                        for attempt in 1..=FILE_ATTEMPTS {
                            let report = match cloner.copy_files(grant.clone(), &file_ctx, &kind, &source, &made).await {
                                Ok(report) => report,
                                Err(e) => serde_json::json!({"failed": [{"error": secrets.mask(&e.to_string())}]}),
                            };
                            let failed = report["failed"].as_array().is_some_and(|f| !f.is_empty());
                            files = Some(report);
                            if !failed || attempt == FILE_ATTEMPTS {
                                break;
                            }
                            tokio::time::sleep(backoff(attempt)).await;
                        }
                    }
                    let files_failed = files.as_ref().is_some_and(|f| f["failed"].as_array().is_some_and(|a| !a.is_empty()));
                    if !files_failed && matches!(outcome, Outcome::Created | Outcome::Updated) {
                        journal.done(&kind, &wanted.key);
                    }
                    (i, Done { outcome, target: Some(t), files, duration: started.elapsed() })
                }
                .boxed(),
            );
        }
        let Some((i, done)) = running.next().await else {
            break;
        };
        let it = &plan.items[i];
        match &done.outcome {
            Outcome::Failed(e) => {
                tracing::warn!(kind = %it.source.kind, key = %it.source.key, "failed: {e}")
            }
            o => tracing::info!(kind = %it.source.kind, key = %it.source.key, "{}", o.name()),
        }
        progress.finished(&it.source.kind, &it.source.key, &done.outcome);
        // Dependants need its target (ids, fields they reference), never its source body
        // again: keep one copy of the first and drop the second, so memory follows the
        // items in flight rather than the whole org twice over.
        let mut done = done;
        if let Some(t) = done.target.take() {
            plan.items[i].target = Some(t);
        }
        plan.items[i].source.body = crate::plugin::Packed::null();
        results[i] = Some(done);
        release(i, &dependants, &mut waiting, &mut ready);
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Done {
                outcome: Outcome::Skipped("never became ready (dependency cycle)".into()),
                target: None,
                files: None,
                duration: Duration::ZERO,
            })
        })
        .collect()
}

/// Node `i` has ended: who waited only on it is ready.
fn release(i: usize, dependants: &[Vec<usize>], waiting: &mut [usize], ready: &mut Ready) {
    for &d in &dependants[i] {
        waiting[d] -= 1;
        if waiting[d] == 0 {
            ready.push(d);
        }
    }
}

/// Per node, the most items on a chain of dependants from it to the end (itself included;
/// the first `n` nodes are items, the rest kind barriers, which weigh nothing). A node on a
/// cycle counts the cycle once; such nodes never become ready anyway.
fn heights(n: usize, dependants: &[Vec<usize>]) -> Vec<u32> {
    const UNSEEN: u32 = u32::MAX;
    const OPEN: u32 = u32::MAX - 1;
    let mut height = vec![UNSEEN; dependants.len()];
    // Depth-first without recursion: a plan's chains can be long.
    for root in 0..dependants.len() {
        if height[root] != UNSEEN {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        height[root] = OPEN;
        while let Some((v, next)) = stack.pop() {
            if let Some(&d) = dependants[v].get(next) {
                stack.push((v, next + 1));
                if height[d] == UNSEEN {
                    height[d] = OPEN;
                    stack.push((d, 0));
                }
                continue;
            }
            let below = dependants[v]
                .iter()
                .map(|&d| if height[d] >= OPEN { 0 } else { height[d] })
                .max()
                .unwrap_or(0);
            height[v] = below + u32::from(v < n);
        }
    }
    height
}

/// The ready nodes, highest first (ties: the plan's order).
struct Ready<'a> {
    height: &'a [u32],
    heap: std::collections::BinaryHeap<(u32, std::cmp::Reverse<usize>)>,
}

impl<'a> Ready<'a> {
    fn new(height: &'a [u32]) -> Self {
        Ready {
            height,
            heap: Default::default(),
        }
    }
    fn push(&mut self, i: usize) {
        self.heap.push((self.height[i], std::cmp::Reverse(i)));
    }
    fn pop(&mut self) -> Option<usize> {
        self.heap.pop().map(|(_, std::cmp::Reverse(i))| i)
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
    grant: &Grant,
    ctx: &crate::plugin::CallContext,
    kind: &str,
    wanted: &Resource,
) -> Result<Stored, crate::plugin::PluginError> {
    let mut attempt = 1;
    loop {
        let err = match cloner.create(grant.clone(), ctx, kind, wanted).await {
            Ok(t) => return Ok(t),
            Err(e) if e.is_transient() && attempt < CREATE_ATTEMPTS => e,
            Err(e) => return Err(e),
        };
        tracing::info!(kind, key = %wanted.key, "create may have failed midway ({err}); looking it up before trying again");
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
        // The lookup and the completion are reads and idempotent writes: retry them too.
        let found = loop {
            match cloner.find(grant.clone(), ctx, kind, wanted).await {
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
            match cloner
                .update(grant.clone(), ctx, kind, &made.id, wanted)
                .await
            {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_chain_of_dependants_starts_first() {
        // 0 <- 1 <- 2 <- 3 (a chain), 4 alone, 5 <- barrier 6 <- 3; a cycle 7 <-> 8.
        let dependants = vec![
            vec![1],
            vec![2],
            vec![3],
            vec![],
            vec![],
            vec![6],
            vec![3],
            vec![8],
            vec![7],
        ];
        let h = heights(6, &dependants);
        assert_eq!(&h[..7], &[4, 3, 2, 1, 1, 2, 1]);
        // The barrier (6) weighs nothing; 8 is not an item here, so 7 counts itself once.
        assert_eq!(h[6], 1);
        assert!(h[7] <= 2 && h[8] <= 2, "a cycle is counted once: {h:?}");
        let mut ready = Ready::new(&h);
        for i in [4, 5, 0] {
            ready.push(i);
        }
        assert_eq!(ready.pop(), Some(0));
        assert_eq!(ready.pop(), Some(5));
        assert_eq!(ready.pop(), Some(4));
        assert_eq!(ready.pop(), None);
        // Ties go in the plan's order.
        let flat = vec![1; 3];
        let mut ready = Ready::new(&flat);
        for i in [2, 0, 1] {
            ready.push(i);
        }
        assert_eq!(
            (ready.pop(), ready.pop(), ready.pop()),
            (Some(0), Some(1), Some(2))
        );
    }
}
