//! `--prune`: delete from the target what the source no longer has, but only what ferry
//! manages there (`engine::managed`), in reverse dependency order, after every create and
//! update. Unguarded deletes cause the worst incidents of the field, so the plan decides
//! every delete up front and refuses the whole run (nothing written) when a guard fails:
//! more than `--max-deletes`, or more than 30 % of a kind's managed resources, without
//! `--allow-delete N` equal to the count; a kind emptied without `--allow-empty`. A resource
//! still referenced by one that stays is kept, and the plan says by which.

use super::Item;
use super::managed::{Managed, Record, RefRecord};
use crate::json::{self, text};
use crate::plugin::grant::Grant;
use crate::plugin::{Call, CallContext, GuestError, KindInfo, PluginError, RefBy, Registry};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Share of a kind's managed resources above which a prune needs `--allow-delete`.
const MAX_SHARE: f64 = 0.30;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub enabled: bool,
    pub max_deletes: usize,
    /// must equal the planned count to pass the size guards
    pub allow_delete: Option<usize>,
    pub allow_empty: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            enabled: false,
            max_deletes: 10,
            allow_delete: None,
            allow_empty: false,
        }
    }
}

/// What the plan says of one managed resource the source no longer has.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "verdict", content = "reason")]
pub enum Verdict {
    /// deleted by this run (with `--prune`)
    Delete,
    /// not deleted: why (still referenced, or the kind's cloner cannot delete)
    Keep(String),
    /// `--prune` was not given: it would be deleted with it
    Pending,
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub record: Record,
    pub verdict: Verdict,
}

/// The managed resources of the run's kinds that the source no longer has, each with its
/// verdict. `listed` holds, per kind, every key the source listed (before selection): a
/// resource that selection or a rule's skip leaves out is still on the source, and is never
/// pruned.
pub fn plan(
    registry: &Registry,
    kinds: &[KindInfo],
    items: &[Item],
    staying: impl FnOnce() -> Vec<(String, Vec<RefRecord>)>,
    listed: &HashMap<String, HashSet<String>>,
    managed: &Managed,
    opts: &PruneOptions,
) -> Vec<Planned> {
    let in_run: HashSet<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    let mut keys: HashSet<(&str, &str)> = HashSet::new();
    // Who holds each target id now: a record whose id the run matched to a resource under
    // another key is stale (the target was rebuilt, or its ids are reused), and deleting by
    // it would delete that resource.
    let mut holder: HashMap<(&str, &str), &str> = HashMap::new();
    for it in items {
        keys.insert((&it.source.kind, &it.source.key));
        if let Some(t) = &it.target {
            keys.insert((&t.kind, &t.key));
            holder.insert((&it.source.kind, &t.id), &t.key);
        }
    }
    let records = managed.all();
    let gone = |r: &Record| {
        in_run.contains(r.kind.as_str())
            && !keys.contains(&(r.kind.as_str(), r.key.as_str()))
            && !listed
                .get(&r.kind)
                .is_some_and(|l| l.contains(r.source_key()) || l.contains(&r.key))
    };
    let mut planned: Vec<Planned> = records
        .iter()
        .filter(|r| gone(r))
        .map(|r| {
            let deletes = registry
                .cloner_for(&r.kind)
                .is_some_and(|(_, k, _)| k.support.deletes);
            let taken = holder
                .get(&(r.kind.as_str(), r.id.as_str()))
                .filter(|k| **k != r.key);
            Planned {
                record: r.clone(),
                verdict: if let Some(now) = taken {
                    Verdict::Keep(format!(
                        "the record is stale: its id {} is now {} {now:?}, which the source has",
                        r.id, r.kind
                    ))
                } else if !deletes {
                    Verdict::Keep(format!(
                        "the {} cloner has no delete (it declares none, or was built against a contract older than 1.2.0)",
                        r.kind
                    ))
                } else if opts.enabled {
                    Verdict::Delete
                } else {
                    Verdict::Pending
                },
            }
        })
        .collect();
    if planned.is_empty() {
        return planned;
    }
    // What stays on the target: the run's resources, and the records that are not
    // candidates. Read only when there is something to delete: it parses every body.
    let mut holders = staying();
    let candidate: HashSet<(String, String)> = planned
        .iter()
        .map(|p| (p.record.kind.clone(), p.record.key.clone()))
        .collect();
    for r in records
        .iter()
        .filter(|r| !candidate.contains(&(r.kind.clone(), r.key.clone())))
    {
        holders.push((format!("{} {:?}", r.kind, r.key), r.refs.clone()));
    }
    // A kept candidate keeps what it references in turn: repeat until nothing changes.
    loop {
        let mut changed = false;
        for p in planned.iter_mut() {
            if matches!(p.verdict, Verdict::Keep(_)) {
                continue;
            }
            let r = p.record.clone();
            if let Some((who, _)) = holders
                .iter()
                .find(|(_, refs)| refs.iter().any(|x| names(x, &r)))
            {
                p.verdict = Verdict::Keep(format!("still referenced by {who}"));
                let kept = (format!("{} {:?}", r.kind, r.key), p.record.refs.clone());
                holders.push(kept);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    planned
}

/// Whether a reference names the recorded resource.
fn names(x: &RefRecord, r: &Record) -> bool {
    if x.kind != r.kind {
        return false;
    }
    match x.by.as_str() {
        "id" => x.value == r.id,
        "key" => x.value == r.key,
        field => r.fields.get(field).map(text).as_deref() == Some(x.value.as_str()),
    }
}

/// A body's references, by the kind's declarations: what a record keeps.
pub fn references(k: &KindInfo, body: &Value) -> Vec<RefRecord> {
    let mut out = vec![];
    for r in &k.references {
        for (pointer, v) in json::values_at(body, &r.pointer) {
            let value = text(&v);
            if value.is_empty() {
                continue;
            }
            out.push(RefRecord {
                pointer,
                kind: r.kind.clone(),
                by: match &r.by {
                    RefBy::Id => "id".into(),
                    RefBy::Key => "key".into(),
                    RefBy::Field(f) => f.clone(),
                },
                value,
            });
        }
    }
    out
}

/// Per kind, the fields a record keeps: the key fields, and every field that a reference of
/// any kind names it by.
fn kept_fields(registry: &Registry) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = registry
        .kinds()
        .map(|(k, _)| (k.name.clone(), k.key.clone()))
        .collect();
    for (other, _) in registry.kinds() {
        for r in &other.references {
            if let (RefBy::Field(f), Some(p)) = (&r.by, out.get_mut(&r.kind)) {
                p.push(f.clone());
            }
        }
    }
    out
}

/// The guards. An error names the guard that failed and what would have been deleted.
pub fn guard(
    planned: &[Planned],
    managed: &Managed,
    items: &[Item],
    opts: &PruneOptions,
) -> Result<(), String> {
    if !opts.enabled {
        return Ok(());
    }
    let deletes: Vec<&Record> = planned
        .iter()
        .filter(|p| p.verdict == Verdict::Delete)
        .map(|p| &p.record)
        .collect();
    if deletes.is_empty() {
        return Ok(());
    }
    let list = || {
        deletes
            .iter()
            .map(|r| format!("{} {:?}", r.kind, r.key))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &deletes {
        *per_kind.entry(&r.kind).or_default() += 1;
    }
    let all = managed.all();
    let managed_of = |kind: &str| all.iter().filter(|r| r.kind == kind).count();
    let n = deletes.len();
    match opts.allow_delete {
        Some(a) if a == n => {}
        Some(a) => {
            return Err(format!(
                "`prune.allow_delete` {a} does not match the {n} deletes planned ({}): the count must be the plan's, so that what was reviewed is what is deleted",
                list()
            ));
        }
        None => {
            if n > opts.max_deletes {
                return Err(format!(
                    "`prune` would delete {n} resources, more than `prune.max_deletes` {}: {}; if that is meant, give `prune.allow_delete` {n}",
                    opts.max_deletes,
                    list()
                ));
            }
            for (kind, &d) in &per_kind {
                let of = managed_of(kind);
                if d as f64 > MAX_SHARE * of as f64 {
                    return Err(format!(
                        "`prune` would delete {d} of the {of} {kind} resources ferry manages on the target (more than 30 %): {}; if that is meant, give `prune.allow_delete` {n}",
                        list()
                    ));
                }
            }
        }
    }
    if !opts.allow_empty {
        for (kind, &d) in &per_kind {
            let stays = items
                .iter()
                .any(|it| it.source.kind == *kind && !it.action.is_out());
            if !stays && d == managed_of(kind) {
                return Err(format!(
                    "`prune` would delete every {kind} ferry manages on the target ({d}), and the source has none left: an empty source list is more often a wrong key or a failed read than a wish; give `prune.allow_empty` if it is meant"
                ));
            }
        }
    }
    Ok(())
}

/// What the plan says of a resource no longer in the source, or what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteOutcome {
    /// to be deleted (a plan)
    Delete,
    /// kept, with the reason (a prune guard)
    Kept,
    /// would be deleted with `--prune`
    Pending,
    Deleted,
    /// already gone from the target
    Gone,
    Failed,
    /// not started: the run was interrupted
    Skipped,
}

impl DeleteOutcome {
    pub fn name(self) -> &'static str {
        match self {
            DeleteOutcome::Delete => "delete",
            DeleteOutcome::Kept => "kept",
            DeleteOutcome::Pending => "pending",
            DeleteOutcome::Deleted => "deleted",
            DeleteOutcome::Gone => "gone",
            DeleteOutcome::Failed => "failed",
            DeleteOutcome::Skipped => "skipped",
        }
    }
}

/// What became of one planned delete.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    pub kind: String,
    pub key: String,
    pub target_id: String,
    pub outcome: DeleteOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Report entries for a plan (nothing deleted yet).
pub fn planned_report(planned: &[Planned]) -> Vec<DeleteReport> {
    planned
        .iter()
        .map(|p| {
            let (outcome, reason) = match &p.verdict {
                Verdict::Delete => (DeleteOutcome::Delete, None),
                Verdict::Keep(why) => (DeleteOutcome::Kept, Some(why.clone())),
                Verdict::Pending => (
                    DeleteOutcome::Pending,
                    Some("a run that prunes deletes it".into()),
                ),
            };
            entry(&p.record, outcome, reason)
        })
        .collect()
}

fn entry(r: &Record, outcome: DeleteOutcome, reason: Option<String>) -> DeleteReport {
    DeleteReport {
        kind: r.kind.clone(),
        key: r.key.clone(),
        target_id: r.id.clone(),
        outcome,
        reason,
    }
}

/// Delete what the plan says, kinds in reverse dependency order (what references comes
/// before what it references), forgetting each record as its delete succeeds (a resource
/// already gone counts as deleted), so a run killed midway leaves the rest for the next.
pub async fn run(
    planned: &[Planned],
    kinds: &[KindInfo],
    registry: &Registry,
    grant: &Grant,
    ctx: &CallContext,
    managed: &Managed,
) -> Vec<DeleteReport> {
    let mut out = planned_report(planned);
    for k in kinds.iter().rev() {
        for (i, p) in planned.iter().enumerate() {
            if p.record.kind != k.name || p.verdict != Verdict::Delete {
                continue;
            }
            if grant.cancel.is_cancelled() {
                out[i].outcome = DeleteOutcome::Skipped;
                out[i].reason = Some(super::outcome::INTERRUPTED.into());
                continue;
            }
            let cloner = registry.cloner_for(&k.name).expect("registered kind").2;
            let r = &p.record;
            let (outcome, reason) = match cloner
                .delete(Call::new(grant.clone(), ctx, &r.kind), &r.resource())
                .await
            {
                Ok(()) => (DeleteOutcome::Deleted, None),
                Err(PluginError::Guest {
                    error: GuestError::NotFound(_),
                    ..
                }) => (
                    DeleteOutcome::Gone,
                    Some("already gone from the target".to_string()),
                ),
                Err(e) => (DeleteOutcome::Failed, Some(e.to_string())),
            };
            tracing::info!(kind = %r.kind, key = %r.key, "{}", outcome.name());
            if outcome != DeleteOutcome::Failed {
                managed.forget(&r.kind, &r.key);
                if let Err(e) = managed.save() {
                    tracing::warn!("cannot save the managed-resources records: {e:#}");
                }
            }
            out[i].outcome = outcome;
            out[i].reason = reason;
        }
    }
    out
}

/// Record what the run created, adopted or updated as managed (not what a rule mapped to
/// the target's own resources: those were never ferry's), and save the records.
pub fn remember(
    items: &[super::Item],
    done: &[super::outcome::Done],
    registry: &Registry,
    managed: &Managed,
) {
    use super::outcome::Outcome;
    let kept = kept_fields(registry);
    let before: HashMap<(String, String), Record> = managed
        .all()
        .into_iter()
        .map(|r| ((r.kind.clone(), r.key.clone()), r))
        .collect();
    for (it, d) in items.iter().zip(done) {
        if it.lookup_only.is_some() {
            continue;
        }
        let how = match d.outcome {
            Outcome::Created => "created",
            Outcome::Adopted | Outcome::Updated => "adopted",
            _ => continue,
        };
        let t = d.target.as_ref().or(it.target.as_ref());
        let (Some(t), Some((_, k, _))) = (t, registry.cloner_for(&it.source.kind)) else {
            continue;
        };
        let body = t.body.value();
        let key = if t.key.is_empty() {
            it.source.key.clone()
        } else {
            t.key.clone()
        };
        let how = before
            .get(&(it.source.kind.clone(), key.clone()))
            .map(|r| r.how.clone())
            .unwrap_or_else(|| how.to_string());
        managed.record(Record {
            kind: it.source.kind.clone(),
            source_key: (it.source_key != key).then(|| it.source_key.clone()),
            key,
            id: t.id.clone(),
            how,
            fields: kept
                .get(&k.name)
                .into_iter()
                .flatten()
                .filter_map(|p| body.pointer(p).map(|v| (p.clone(), v.clone())))
                .collect(),
            refs: references(k, &body),
        });
    }
    if let Err(e) = managed.save() {
        tracing::warn!(
            "cannot save the managed-resources records (a later prune will not know this run's resources): {e:#}"
        );
    }
}
