//! The report of a run: per kind (created, adopted, updated, skipped, failed, time), every
//! resource's outcome and reason, the ID map, files, credentials the target still needs,
//! warnings and durations. A table for people, JSON for machines. It names resources by kind
//! and key and never holds a body, so no secret can reach it.

use super::Action;
use super::outcome::{Done, Outcome};
use super::plan::Plan;
use super::prune::DeleteOutcome;
use crate::transform::diff::Rewrite;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStats {
    pub created: usize,
    pub adopted: usize,
    pub updated: usize,
    pub skipped: usize,
    pub failed: usize,
    /// time spent in this kind's items, summed (they overlap: it is work, not wall time)
    pub work_ms: u64,
}

impl KindStats {
    fn count(&mut self, o: ItemOutcome) {
        match o {
            ItemOutcome::Created => self.created += 1,
            ItemOutcome::Adopted => self.adopted += 1,
            ItemOutcome::Updated => self.updated += 1,
            ItemOutcome::Skipped => self.skipped += 1,
            ItemOutcome::Failed => self.failed += 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    pub kind: String,
    /// the key on the target (after renames)
    pub key: String,
    /// the key on the source, when a rule or hook renamed it
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    pub source_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// what the plan said
    pub action: ItemAction,
    /// what happened (absent in a plan)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ItemOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pulled_in: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Value>,
    /// what the promotion file's rules and hooks changed (secret fields shown as ***)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewrites: Vec<Rewrite>,
    /// for a resource the target has: the fields where what the source would write differs
    /// from it (absent: not compared)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differences: Option<Vec<crate::engine::drift::FieldDiff>>,
    pub duration_ms: u64,
    /// an earlier attempt of the same job created it (a server job resumed after a kill);
    /// this one adopted or completed it
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created_earlier: bool,
}

/// What the plan says of an item, as a report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemAction {
    Create,
    Adopt,
    Update,
    Skip,
    Fail,
}

impl ItemAction {
    pub fn of(a: &Action) -> ItemAction {
        match a {
            Action::Create => ItemAction::Create,
            Action::Adopt => ItemAction::Adopt,
            Action::Update => ItemAction::Update,
            Action::Skip(_) => ItemAction::Skip,
            Action::Fail(_) => ItemAction::Fail,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ItemAction::Create => "create",
            ItemAction::Adopt => "adopt",
            ItemAction::Update => "update",
            ItemAction::Skip => "skip",
            ItemAction::Fail => "fail",
        }
    }

    /// What comes of it when it goes as planned.
    pub fn done(self) -> ItemOutcome {
        match self {
            ItemAction::Create => ItemOutcome::Created,
            ItemAction::Adopt => ItemOutcome::Adopted,
            ItemAction::Update => ItemOutcome::Updated,
            ItemAction::Skip => ItemOutcome::Skipped,
            ItemAction::Fail => ItemOutcome::Failed,
        }
    }
}

/// What became of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemOutcome {
    Created,
    Adopted,
    Updated,
    Skipped,
    Failed,
}

impl ItemOutcome {
    pub fn of(o: &Outcome) -> ItemOutcome {
        match o {
            Outcome::Created => ItemOutcome::Created,
            Outcome::Adopted => ItemOutcome::Adopted,
            Outcome::Updated => ItemOutcome::Updated,
            Outcome::Skipped(_) => ItemOutcome::Skipped,
            Outcome::Failed(_) => ItemOutcome::Failed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ItemOutcome::Created => "created",
            ItemOutcome::Adopted => "adopted",
            ItemOutcome::Updated => "updated",
            ItemOutcome::Skipped => "skipped",
            ItemOutcome::Failed => "failed",
        }
    }
}

/// A plan's items read as drift (`Report::diff_summary`).
#[derive(Debug, Default)]
pub struct DiffSummary<'a> {
    /// resources the target holds as the source would write them
    pub equal: usize,
    /// resources whose fields differ (each item's `differences` says which)
    pub different: Vec<&'a ItemReport>,
    /// resources the target lacks
    pub missing: Vec<&'a ItemReport>,
    /// resources whose kind's listing does not show all they hold
    pub not_compared: Vec<&'a ItemReport>,
}

impl DiffSummary<'_> {
    /// Whether the target differs from what the source would write.
    pub fn differs(&self) -> bool {
        !self.different.is_empty() || !self.missing.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Credential {
    pub kind: String,
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Files {
    pub moved: usize,
    pub bytes: u64,
    pub too_large: Vec<String>,
    pub unsupported: Vec<String>,
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub dry_run: bool,
    pub duration_ms: u64,
    pub kinds: BTreeMap<String, KindStats>,
    pub items: Vec<ItemReport>,
    pub id_map: BTreeMap<String, BTreeMap<String, String>>,
    pub files: Files,
    pub credentials_needed: Vec<Credential>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// time spent inside the plugin runtimes (see `plugin::stats`)
    pub runtime: crate::plugin::stats::Runtime,
    /// managed resources the source no longer has: planned, done or kept (`--prune`)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<super::prune::DeleteReport>,
    /// the plan's digest (`sha256:…`, see `engine::digest`): what an approval binds to
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Report {
    /// A report of a plan (nothing applied) or of a run (`done` given).
    pub fn build(
        plan: &Plan,
        done: Option<&[Done]>,
        source: &str,
        target: &str,
        duration_ms: u64,
        runtime: crate::plugin::stats::Runtime,
    ) -> Report {
        let mut kinds: BTreeMap<String, KindStats> = plan
            .kinds
            .iter()
            .map(|k| (k.name.clone(), KindStats::default()))
            .collect();
        let mut items = Vec::new();
        let mut id_map: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut files = Files::default();
        let mut credentials = Vec::new();
        for (i, it) in plan.items.iter().enumerate() {
            if it.itself {
                continue;
            }
            let d = done.map(|d| &d[i]);
            let stats = kinds.entry(it.source.kind.clone()).or_default();
            // What happened, or in a plan what would happen.
            let (ended, reason) = match (d.map(|d| &d.outcome), &it.action) {
                (Some(o), _) => (
                    ItemOutcome::of(o),
                    match o {
                        Outcome::Skipped(r) | Outcome::Failed(r) => Some(r.clone()),
                        _ => None,
                    },
                ),
                (None, Action::Skip(r) | Action::Fail(r)) => {
                    (ItemAction::of(&it.action).done(), Some(r.clone()))
                }
                (None, a) => (ItemAction::of(a).done(), None),
            };
            stats.count(ended);
            let duration_ms = d.map(|d| d.duration.as_millis() as u64).unwrap_or(0);
            stats.work_ms += duration_ms;
            let target = d.and_then(|d| d.target.as_ref()).or(it.target.as_ref());
            if let Some(t) = target.filter(|_| !it.source.id.is_empty()) {
                id_map
                    .entry(it.source.kind.clone())
                    .or_default()
                    .insert(it.source.id.clone(), t.id.clone());
            }
            if let Some(f) = d.and_then(|d| d.files.as_ref()) {
                tally(&mut files, f, &it.source.key);
                // What the plugin could not copy and the target must be given by hand.
                for c in f["credentials_needed"].as_array().into_iter().flatten() {
                    credentials.push(Credential {
                        kind: it.source.kind.clone(),
                        key: c["key"].as_str().unwrap_or(&it.source.key).to_string(),
                        reason: c["reason"].as_str().unwrap_or("").to_string(),
                    });
                }
            }
            // A resource whose credentials cannot be cloned, and that the target lacks.
            if let Some(why) = &it.source.skip
                && ended == ItemOutcome::Skipped
                && !plan.kind(&it.source.kind).secrets.is_empty()
            {
                credentials.push(Credential {
                    kind: it.source.kind.clone(),
                    key: it.source.key.clone(),
                    reason: why.clone(),
                });
            }
            items.push(ItemReport {
                kind: it.source.kind.clone(),
                key: it.source.key.clone(),
                source_key: (it.source_key != it.source.key).then(|| it.source_key.clone()),
                source_id: it.source.id.clone(),
                target_id: target.map(|t| t.id.clone()),
                action: ItemAction::of(&it.action),
                outcome: d.map(|d| ItemOutcome::of(&d.outcome)),
                reason,
                pulled_in: it.pulled_in.clone(),
                files: d.and_then(|d| d.files.clone()),
                rewrites: it.rewrites.clone(),
                differences: it.differences.clone(),
                duration_ms,
                created_earlier: d.is_some_and(|d| d.created_earlier),
            });
        }
        Report {
            source: source.into(),
            target: target.into(),
            dry_run: done.is_none(),
            duration_ms,
            kinds,
            items,
            id_map,
            files,
            credentials_needed: credentials,
            warnings: plan.warnings.clone(),
            aborted: None,
            runtime,
            deletes: super::prune::planned_report(&plan.deletes),
            digest: None,
        }
    }

    /// Items the plan would create or update.
    pub fn pending(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i.action, ItemAction::Create | ItemAction::Update))
            .count()
    }

    /// Deletes the plan would make (`--prune`).
    pub fn pending_deletes(&self) -> usize {
        self.deletes
            .iter()
            .filter(|d| d.outcome == DeleteOutcome::Delete)
            .count()
    }

    /// Items per outcome (a run) or per action (a plan), and deletes per outcome, named as
    /// the report names them: `{"adopted": 7, "created": 30}`.
    /// Items per outcome across the job's attempts: what an earlier attempt created counts
    /// as created, though this attempt adopted or completed it.
    pub fn totals_across_attempts(&self) -> BTreeMap<&'static str, usize> {
        let mut c = self.totals();
        for it in self.items.iter().filter(|it| it.created_earlier) {
            if let Some(n) = it.outcome.and_then(|o| c.get_mut(o.name())) {
                *n -= 1;
            }
            *c.entry(ItemOutcome::Created.name()).or_insert(0) += 1;
        }
        c.retain(|_, n| *n > 0);
        c
    }

    pub fn totals(&self) -> BTreeMap<&'static str, usize> {
        let mut c = BTreeMap::new();
        for it in &self.items {
            let name = it
                .outcome
                .map(ItemOutcome::name)
                .unwrap_or(it.action.name());
            *c.entry(name).or_insert(0) += 1;
        }
        for d in &self.deletes {
            *c.entry(d.outcome.name()).or_insert(0) += 1;
        }
        c
    }

    /// A plan's items read as drift, for `ferry diff`: the resources the target holds as
    /// the source would write them, those that differ, those it lacks, and those whose kind
    /// could not be compared.
    pub fn diff_summary(&self) -> DiffSummary<'_> {
        let mut s = DiffSummary::default();
        for i in &self.items {
            match (i.action, &i.differences) {
                (ItemAction::Create, _) => s.missing.push(i),
                (ItemAction::Adopt | ItemAction::Update, Some(d)) if d.is_empty() => s.equal += 1,
                (ItemAction::Adopt | ItemAction::Update, Some(_)) => s.different.push(i),
                (ItemAction::Adopt | ItemAction::Update, None) => s.not_compared.push(i),
                (ItemAction::Skip | ItemAction::Fail, _) => {}
            }
        }
        s
    }

    /// Failed items, and files that failed to move (oversize and unsupported ones are not
    /// failures: they are reported).
    pub fn failed(&self) -> usize {
        self.kinds.values().map(|k| k.failed).sum::<usize>()
            + self.files.failed.len()
            + self
                .deletes
                .iter()
                .filter(|d| d.outcome == DeleteOutcome::Failed)
                .count()
    }
}

/// Add a cloner's `copy-files` summary (`{moved: [{name, bytes}], too_large: [..],
/// unsupported: [..], failed: [..]}`) to the totals. (It may also list
/// `credentials_needed: [{key, reason}]`: see `Report::build`.)
fn tally(files: &mut Files, f: &Value, owner: &str) {
    let names = |k: &str| -> Vec<String> {
        f[k].as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                format!(
                    "{owner}/{}",
                    x.get("name")
                        .and_then(Value::as_str)
                        .or(x.as_str())
                        .unwrap_or("?")
                )
            })
            .collect()
    };
    for m in f["moved"].as_array().into_iter().flatten() {
        files.moved += 1;
        files.bytes += m.get("bytes").and_then(Value::as_u64).unwrap_or(0);
    }
    files.too_large.extend(names("too_large"));
    files.unsupported.extend(names("unsupported"));
    files.failed.extend(names("failed"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, action: ItemAction, outcome: Option<ItemOutcome>) -> ItemReport {
        ItemReport {
            kind: "tag".into(),
            key: key.into(),
            source_key: None,
            source_id: "1".into(),
            target_id: None,
            action,
            outcome,
            reason: None,
            pulled_in: None,
            files: None,
            rewrites: vec![],
            differences: None,
            duration_ms: 0,
            created_earlier: false,
        }
    }

    #[test]
    fn what_an_earlier_attempt_created_counts_as_created_across_attempts() {
        use ItemAction as A;
        use ItemOutcome as O;
        let mut adopted = item("a", A::Adopt, Some(O::Adopted));
        adopted.created_earlier = true;
        let mut completed = item("b", A::Update, Some(O::Updated));
        completed.created_earlier = true;
        let r = Report {
            items: vec![
                adopted,
                completed,
                item("c", A::Create, Some(O::Created)),
                item("d", A::Adopt, Some(O::Adopted)),
            ],
            ..Report::default()
        };
        let all = r.totals_across_attempts();
        assert_eq!((all["created"], all["adopted"]), (3, 1));
        assert!(!all.contains_key("updated"), "{all:?}");
        assert_eq!(r.totals()["adopted"], 2);
    }

    #[test]
    fn totals_and_drift_come_from_the_typed_items() {
        use ItemAction as A;
        let field = crate::engine::drift::FieldDiff {
            pointer: "/description".into(),
            source: Some(serde_json::json!("new")),
            target: Some(serde_json::json!("old")),
        };
        let mut equal = item("same", A::Adopt, None);
        equal.differences = Some(vec![]);
        let mut changed = item("changed", A::Update, None);
        changed.differences = Some(vec![field]);
        let plan = Report {
            items: vec![
                item("new", A::Create, None),
                equal,
                changed,
                item("unseen", A::Update, None),
                item("left", A::Skip, None),
            ],
            ..Default::default()
        };
        assert_eq!(
            plan.totals().into_iter().collect::<Vec<_>>(),
            [("adopt", 1), ("create", 1), ("skip", 1), ("update", 2)]
        );
        assert_eq!(plan.pending(), 3);
        let d = plan.diff_summary();
        let keys = |v: &[&ItemReport]| v.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
        assert_eq!(d.equal, 1);
        assert_eq!(keys(&d.different), ["changed"]);
        assert_eq!(keys(&d.missing), ["new"]);
        assert_eq!(keys(&d.not_compared), ["unseen"]);
        assert!(d.differs());
        // A run counts outcomes; the JSON keeps the words it always had.
        let run = Report {
            items: vec![item("new", A::Create, Some(ItemOutcome::Failed))],
            ..Default::default()
        };
        assert_eq!(
            run.totals().into_iter().collect::<Vec<_>>(),
            [("failed", 1)]
        );
        let json = serde_json::to_value(&run.items[0]).unwrap();
        assert_eq!(
            (json["action"].as_str(), json["outcome"].as_str()),
            (Some("create"), Some("failed"))
        );
    }
}
