//! Applying a plan as a dependency graph: a resource starts as soon as everything it
//! references exists on the target (no phase barriers), with at most `concurrency` plugin
//! calls in flight. References are rewritten from the referenced items' target resources;
//! a failure skips what depends on it.
//!
//! `graph` says what waits on what and what is ready; `item` says what one item comes to;
//! this module schedules them and keeps the results.

mod graph;
mod item;

use super::Options;
use super::outcome::{Done, Outcome};
use super::plan::{Plan, context};
use super::progress::Progress;
use crate::plugin::Registry;
use crate::plugin::grant::Grant;
use futures::{FutureExt, StreamExt};
use graph::Graph;
use std::time::Duration;

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
    let mut graph = Graph::of(plan);
    let mut ready = graph.ready();
    let mut results: Vec<Option<Done>> = vec![None; n];
    let mut running = futures::stream::FuturesUnordered::new();
    progress.started(n);

    loop {
        // Start ready items while fewer than `concurrency` run. An item's rewritten body is
        // made as it starts, so memory follows the items in flight, not all that are ready.
        while running.len() < limit
            && let Some(i) = ready.pop()
        {
            // A kind's barrier: every item of the kind has ended; release who waits on it.
            if graph.is_barrier(i) {
                graph.release(i, &mut ready);
                continue;
            }
            let interrupted = grant.cancel.is_cancelled();
            match item::settled(plan, i, &results, interrupted) {
                Some(done) => running.push(futures::future::ready((i, done)).boxed()),
                None => {
                    let write = item::write(plan, i, registry, grant, opts, &ctx);
                    running.push(write.map(move |done| (i, done)).boxed());
                }
            }
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
        graph.release(i, &mut ready);
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Done {
                outcome: Outcome::Skipped("never became ready (dependency cycle)".into()),
                target: None,
                files: None,
                duration: Duration::ZERO,
                created_earlier: false,
            })
        })
        .collect()
}
