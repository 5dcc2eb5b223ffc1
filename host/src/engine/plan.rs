//! Planning: read every selected kind from the source (every page), resolve each reference
//! to the source resource it names, select, apply the promotion file's rules and hooks,
//! check that every reference still resolves, match on the target by natural key, cascade
//! skips, and decide an action per resource. Nothing is written.

use super::{Action, Edge, Item, OnConflict, Options, order, select};
use crate::json::{self, text};
use crate::plugin::grant::Grant;
use crate::plugin::{Call, CallContext, KindInfo, PluginError, RefBy, Registry, Resource, Stored};
use crate::transform::{Transformed, Verdict};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("`on_name_conflict` abort: {} resource(s) already exist on the target: {}", .0.len(), .0.join(", "))]
    Conflicts(Vec<String>),
    #[error("{} reference(s) do not resolve on the target after the rules and hooks:\n  {}", .0.len(), .0.join("\n  "))]
    Unresolved(Vec<String>),
    /// a guard of `--prune` refused the run (nothing is written)
    #[error("{0}")]
    Prune(String),
    /// another run held the target longer than the run would wait (nothing is written)
    #[error("{0}")]
    Locked(String),
}

/// The result of planning: every resource in the run, in dependency order of kinds.
pub struct Plan {
    pub kinds: Vec<KindInfo>,
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
    /// managed resources the source no longer has, and what becomes of each (`--prune`)
    pub deletes: Vec<super::prune::Planned>,
}

impl Plan {
    pub fn kind(&self, name: &str) -> &KindInfo {
        self.kinds
            .iter()
            .find(|k| k.name == name)
            .expect("planned kind")
    }
}

/// What every plugin call is told: the platform's options as the run set them, then what
/// the host knows of the run (`ferry.`-prefixed, so no platform option can clash with it):
/// both environments' URLs as the user gave them and their connection parameters
/// (`ferry.source-param.NAME`: a platform whose requests must name an environment, as
/// Strategy's duplication bodies do, or that compares the two sides, needs them), and
/// `max-file-size`.
pub fn context(opts: &Options) -> CallContext {
    let mut options = opts.plugin_options.clone();
    options.extend(opts.environment.iter().cloned());
    options.push(("max-file-size".into(), opts.max_file_size.to_string()));
    CallContext { options }
}

/// The source's resources that a run takes: every kind read (from a package, when the run's
/// source is one), references linked, selection and its closure applied.
pub struct Selected {
    pub kinds: Vec<KindInfo>,
    pub items: Vec<Item>,
    /// every key the source lists, before selection: what prune must never take for gone
    pub listed: HashMap<String, HashSet<String>>,
    pub warnings: Vec<String>,
}

/// Read the source and select (the first half of a plan; all of an export's reading).
pub async fn read_selected(
    registry: &Registry,
    grant: &Grant,
    opts: &Options,
) -> Result<Selected, PlanError> {
    let all: Vec<KindInfo> = registry.kinds().map(|(k, _)| k.clone()).collect();
    let known: BTreeSet<String> = all.iter().map(|k| k.name.clone()).collect();
    let patterns = opts.selection.check(&known).map_err(PlanError::Usage)?;
    let kinds: Vec<KindInfo> = order::sorted(&all)
        .map_err(PlanError::Usage)?
        .into_iter()
        .filter(|k| opts.selection.takes_kind(&k.name))
        // A package holds the kinds it was exported with: the others are not in the run
        // (absent is not empty: prune must not take them for gone).
        .filter(|k| {
            opts.from_package
                .as_ref()
                .is_none_or(|p| p.manifest.counts.contains_key(&k.name))
        })
        .collect();
    let ctx = context(opts);

    // Read every kind (kinds in parallel, bounded).
    let lists: Vec<Vec<Stored>> = futures::stream::iter(kinds.iter().map(|k| {
        let (cloner, grant, ctx) = (
            registry
                .cloner_for(&k.name)
                .expect("registered kind")
                .2
                .clone(),
            grant.clone(),
            ctx.clone(),
        );
        let name = k.name.clone();
        let package = opts.from_package.clone();
        async move {
            let rows = match package {
                Some(p) => p.listed(&name),
                None => cloner.list(Call::new(grant, &ctx, &name)).await?,
            };
            tracing::info!(kind = %name, count = rows.len(), "read the source");
            Ok::<_, PluginError>(rows)
        }
    }))
    .buffered(opts.concurrency.max(1))
    .try_collect()
    .await?;

    let mut items: Vec<Item> = Vec::new();
    for rows in lists {
        for source in rows {
            let action = match &source.skip {
                Some(why) => Action::Skip(why.clone()),
                None => Action::Create,
            };
            items.push(Item::new(source, action));
        }
    }
    // Every key the source lists, before selection: what prune must never take for gone.
    let mut listed: HashMap<String, HashSet<String>> = HashMap::new();
    for it in &items {
        listed
            .entry(it.source.kind.clone())
            .or_default()
            .insert(it.source.key.clone());
    }
    let mut warnings = Vec::new();
    link(&kinds, &mut items, &mut warnings);

    // Selection and its closure.
    if let Some(e) = select::unmatched(&items, &patterns) {
        return Err(PlanError::Usage(e));
    }
    let keep = select::closure(&mut items, &patterns, &opts.selection.tags);
    if keep.iter().any(|k| !k) {
        let mut new_index = vec![usize::MAX; items.len()];
        let mut kept = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            if keep[i] {
                new_index[i] = kept.len();
                kept.push(item);
            }
        }
        for item in &mut kept {
            item.edges.iter_mut().for_each(|e| e.to = new_index[e.to]);
        }
        items = kept;
    }

    Ok(Selected {
        kinds,
        items,
        listed,
        warnings,
    })
}

pub async fn plan(registry: &Registry, grant: &Grant, opts: &Options) -> Result<Plan, PlanError> {
    // A package exported with a selection lacks what it did not select: that is not gone
    // from the source, and a prune must not take it for gone.
    if let Some(p) = opts.from_package.as_ref().filter(|_| opts.prune.enabled) {
        let s = &p.manifest.selection;
        if !s.select.is_empty() || !s.tags.is_empty() {
            return Err(PlanError::Prune(format!(
                "`prune` from package {}: it was exported with a selection (`select` {:?}, `select_tag` {:?}), so what it lacks may still be on the source; prune from a package of whole kinds",
                p.path.display(),
                s.select,
                s.tags
            )));
        }
    }
    let Selected {
        kinds,
        mut items,
        listed,
        mut warnings,
    } = read_selected(registry, grant, opts).await?;
    let ctx = context(opts);
    transform(&kinds, opts, &mut items).await;
    let mut unresolved = Vec::new();
    repoint(&kinds, &mut items, &mut warnings, &mut unresolved);
    matching(registry, grant, opts, &ctx, &kinds, &mut items).await?;
    unresolved.extend(dangling(&items));
    if !unresolved.is_empty() {
        return Err(PlanError::Unresolved(unresolved));
    }
    cascade(&mut items);
    drift(registry, opts, &mut items);
    let deletes = super::prune::plan(
        registry,
        &kinds,
        &items,
        || staying(registry, &items),
        &listed,
        &opts.managed,
        &opts.prune,
    );
    super::prune::guard(&deletes, &opts.managed, &items, &opts.prune).map_err(PlanError::Prune)?;
    Ok(Plan {
        kinds,
        items,
        warnings,
        deletes,
    })
}

/// Apply the rules and hooks to every item (in parallel, bounded; hooks run on blocking
/// threads). An item keeps its source id; its body and key become what the target should get.
async fn transform(kinds: &[KindInfo], opts: &Options, items: &mut [Item]) {
    let t = &opts.transform;
    if t.is_empty() {
        return;
    }
    let info: HashMap<&str, &KindInfo> = kinds.iter().map(|k| (k.name.as_str(), k)).collect();
    let results: Vec<Transformed> = futures::stream::iter(
        items
            .iter()
            .map(|it| t.apply(info[it.source.kind.as_str()], it.source.unpack())),
    )
    .buffered(opts.concurrency.max(1))
    .collect()
    .await;
    for (it, done) in items.iter_mut().zip(results) {
        it.source = done.resource.pack();
        it.rewrites = done.rewrites;
        match done.verdict {
            Verdict::Keep => {}
            Verdict::Leave(why) => {
                // Left behind on purpose: not looked up on the target either.
                it.source.skip = None;
                it.action = Action::Skip(why);
            }
            Verdict::Map(to) => {
                it.lookup_only = Some(format!("mapped to {to:?} by kinds.{}.map", it.source.kind))
            }
            Verdict::Fail(e) => it.action = Action::Fail(e),
        }
    }
}

/// What the target will hold of the run's resources once it is applied, for the prune's
/// reference guard: the references of an adopted resource's body as it is, and of an
/// updated one's as it will be written, each with who holds them (`kind "key"`).
fn staying(registry: &Registry, items: &[Item]) -> Vec<(String, Vec<super::managed::RefRecord>)> {
    let mut out = vec![];
    for (i, it) in items.iter().enumerate() {
        let (Some(t), Some((_, k, _))) = (&it.target, registry.cloner_for(&it.source.kind)) else {
            continue;
        };
        let body = match it.action {
            Action::Update => match for_lookup(items, i) {
                Ok(Some(r)) => r.body,
                _ => t.body.value(),
            },
            _ => t.body.value(),
        };
        let who = format!("{} {:?}", it.source.kind, it.source.key);
        out.push((who, super::prune::references(k, &body)));
    }
    out
}

/// Compare every resource the target has with what the source would write (see
/// `engine::drift`). An update with no difference is not written: it becomes an adopt
/// (unless it completes what an interrupted run left half-made).
fn drift(registry: &Registry, opts: &Options, items: &mut [Item]) {
    let mut found = vec![None; items.len()];
    for (i, it) in items.iter().enumerate() {
        if it.lookup_only.is_some() || !matches!(it.action, Action::Adopt | Action::Update) {
            continue;
        }
        let Some(t) = &it.target else { continue };
        let Some((_, info, _)) = registry.cloner_for(&it.source.kind) else {
            continue;
        };
        if !info.support.comparable {
            continue;
        }
        let Ok(Some(source)) = for_lookup(items, i) else {
            continue;
        };
        let target = t.body.value();
        // The resource's own id, which differs from side to side by nature.
        let id_fields: Vec<String> = source
            .body
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !source.id.is_empty() && crate::json::text(v) == source.id)
            .map(|(k, _)| format!("/{k}"))
            .collect();
        let ids: Vec<&str> = id_fields.iter().map(String::as_str).collect();
        let comparer = super::drift::Comparer {
            not_compared: &info.support.not_compared,
            secrets: &info.secrets,
            id_pointers: &ids,
        };
        let mut d = comparer.differences(&source.body, &target);
        // A reference to what the target lacks yet is a difference, whatever it holds now.
        for e in &it.edges {
            if items[e.to].target.is_none() && !d.iter().any(|f| f.pointer == e.pointer) {
                let to = &items[e.to].source;
                d.push(super::drift::FieldDiff {
                    pointer: e.pointer.clone(),
                    target: target.pointer(&e.pointer).cloned(),
                    source: Some(Value::String(format!(
                        "{} {:?} (which the target lacks yet)",
                        to.kind, to.key
                    ))),
                });
            }
        }
        found[i] = Some(d);
    }
    for (it, d) in items.iter_mut().zip(found) {
        if let Some(d) = &d
            && d.is_empty()
            && it.action == Action::Update
            && !opts.journal.unfinished(&it.source.kind, &it.source.key)
        {
            it.action = Action::Adopt;
        }
        it.differences = d;
    }
}

/// Follow references that a rule or hook rewrote: the item's field now names another
/// resource, which must be one this run writes or one the target has. Mapped items whose
/// new name this run creates hand their dependants over to that item.
fn repoint(
    kinds: &[KindInfo],
    items: &mut Vec<Item>,
    warnings: &mut Vec<String>,
    unresolved: &mut Vec<String>,
) {
    let info: HashMap<String, KindInfo> =
        kinds.iter().map(|k| (k.name.clone(), k.clone())).collect();
    // A mapped item whose new name another item of the run takes: that item stands in.
    let written: HashMap<(String, String), usize> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.lookup_only.is_none() && !it.action.is_out())
        .map(|(i, it)| ((it.source.kind.clone(), it.source.key.clone()), i))
        .collect();
    let mut stand_in: HashMap<usize, usize> = HashMap::new();
    for (m, it) in items.iter_mut().enumerate() {
        if it.lookup_only.is_some()
            && let Some(&j) = written.get(&(it.source.kind.clone(), it.source.key.clone()))
        {
            stand_in.insert(m, j);
            it.action = Action::Skip(format!(
                "{}: this run writes that resource",
                it.lookup_only.take().unwrap_or_default()
            ));
        }
    }
    let mut phantoms: HashMap<(String, String), usize> = HashMap::new();
    // The text at a field of an item, read once: a packed body is parsed to read it.
    let mut field_of: HashMap<(usize, String), Option<String>> = HashMap::new();
    for i in 0..items.len() {
        let mut edges = std::mem::take(&mut items[i].edges);
        let body = if edges.is_empty() {
            Value::Null
        } else {
            items[i].source.body.value()
        };
        edges.retain_mut(|e| {
            if let Some(&j) = stand_in.get(&e.to) {
                e.to = j;
            }
            let now = body.pointer(&e.pointer).cloned().unwrap_or(Value::Null);
            if now == e.source_value {
                return true;
            }
            let (kind, key) = (items[i].source.kind.clone(), items[i].source.key.clone());
            if now.is_null() {
                return false; // the reference was removed on purpose
            }
            let target_kind = items[e.to].source.kind.clone();
            let v = text(&now);
            let mut names = |j: usize| match &e.by {
                RefBy::Key => items[j].source.key == v,
                RefBy::Field(f) => field_of.entry((j, f.clone())).or_insert_with(|| items[j].source.body.value().pointer(f).map(text)).as_deref() == Some(v.as_str()),
                RefBy::Id => false,
            };
            if let Some(j) = (0..items.len()).find(|&j| j != i && items[j].source.kind == target_kind && !items[j].action.is_out() && names(j)) {
                e.to = j;
                e.source_value = now;
                return true;
            }
            let k = &info[target_kind.as_str()];
            let single_key = k.key.len() == 1 && match &e.by {
                RefBy::Key => true,
                RefBy::Field(f) => *f == k.key[0],
                RefBy::Id => false,
            };
            if single_key {
                let j = *phantoms.entry((target_kind.clone(), v.clone())).or_insert_with(|| {
                    let mut body = serde_json::json!({});
                    crate::json::put(&mut body, &k.key[0], now.clone());
                    let mut p = Item::new(Resource::new(&target_kind, "", &v, body).pack(), Action::Create);
                    p.lookup_only = Some(format!("named by {kind} {key:?} at {}, as rewritten", e.pointer));
                    items.push(p);
                    items.len() - 1
                });
                e.to = j;
                e.source_value = now;
                return true;
            }
            if matches!(e.by, RefBy::Id) {
                warnings.push(format!("{kind} {key:?}: {} was rewritten to {v}, taken as a target id as it is", e.pointer));
                return false;
            }
            unresolved.push(format!("{kind} {key:?}: {} was rewritten to {v:?}, which names no {target_kind} of this run; use a [kinds.{target_kind}] map to point at the target's own", e.pointer));
            true
        });
        items[i].edges = edges;
    }
}

/// References to items that are only looked up on the target, and that the target lacks.
fn dangling(items: &[Item]) -> Vec<String> {
    let mut out = Vec::new();
    for it in items.iter().filter(|it| !it.action.is_out()) {
        for e in &it.edges {
            let to = &items[e.to];
            if let (Some(why), None) = (&to.lookup_only, &to.target) {
                out.push(format!("{} {:?}: {} names {} {:?} ({why}), which is neither on the target nor written by this run", it.source.kind, it.source.key, e.pointer, to.source.kind, to.source.key));
            }
        }
    }
    out
}

/// Resolve every reference of every item to the item it names; an unresolvable required
/// reference skips the item, with the reason.
fn link(kinds: &[KindInfo], items: &mut [Item], warnings: &mut Vec<String>) {
    let mut by_id: HashMap<(String, String), usize> = HashMap::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    let mut by_kind: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        by_id.insert((it.source.kind.clone(), it.source.id.clone()), i);
        by_key.insert((it.source.kind.clone(), it.source.key.clone()), i);
        by_kind.entry(it.source.kind.clone()).or_default().push(i);
    }
    // Each (kind, field) that references name, read once per item of the kind.
    let fields: BTreeSet<(String, String)> = kinds
        .iter()
        .flat_map(|k| &k.references)
        .filter_map(|r| match &r.by {
            RefBy::Field(f) => Some((r.kind.clone(), f.clone())),
            _ => None,
        })
        .collect();
    let mut by_field: HashMap<(String, String, String), usize> = HashMap::new();
    for (kind, f) in fields {
        for &i in by_kind.get(&kind).into_iter().flatten() {
            if let Some(v) = items[i].source.body.value().pointer(&f) {
                by_field.insert((kind.clone(), f.clone(), text(v)), i);
            }
        }
    }
    let info: HashMap<&str, &KindInfo> = kinds.iter().map(|k| (k.name.as_str(), k)).collect();
    #[allow(clippy::needless_range_loop)] // the loop writes items[i] and reads other items
    for i in 0..items.len() {
        let Some(k) = info.get(items[i].source.kind.as_str()) else {
            continue;
        };
        let body = if k.references.is_empty() {
            Value::Null
        } else {
            items[i].source.body.value()
        };
        for r in &k.references {
            if !info.contains_key(r.kind.as_str()) {
                // The referenced kind is not in this run (excluded): the reference is left
                // as it is, and must resolve on the target by itself.
                continue;
            }
            for (pointer, value) in json::values_at(&body, &r.pointer) {
                let v = text(&value);
                if v.is_empty() {
                    continue;
                }
                let hit = match &r.by {
                    RefBy::Id => by_id.get(&(r.kind.clone(), v.clone())),
                    RefBy::Key => by_key.get(&(r.kind.clone(), v.clone())),
                    RefBy::Field(f) => by_field.get(&(r.kind.clone(), f.clone(), v.clone())),
                };
                match hit {
                    Some(&to) if to != i => items[i].edges.push(Edge { to, pointer, by: r.by.clone(), source_value: value, required: r.required }),
                    Some(_) => {}
                    None if r.required => {
                        if !matches!(items[i].action, Action::Skip(_)) {
                            items[i].action = Action::Skip(format!("{pointer} names {} {v:?}, which the source does not list (not visible to this key, e.g. a platform-owned trial resource)", r.kind));
                        }
                    }
                    None => warnings.push(format!("{} {:?}: {pointer} names {} {v:?}, which the source does not list; left as it is", items[i].source.kind, items[i].source.key, r.kind)),
                }
            }
        }
        for dep in &k.depends_on {
            let referenced = k.references.iter().any(|r| &r.kind == dep);
            if !referenced && by_kind.contains_key(dep) {
                items[i].after.push(dep.clone());
            }
        }
    }
}

/// Skip everything that depends on a skipped item, saying which.
fn cascade(items: &mut [Item]) {
    let n = items.len();
    let mut state = vec![0u8; n]; // 0 unvisited, 1 visiting, 2 done
    fn visit(i: usize, items: &mut [Item], state: &mut [u8]) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        let deps: Vec<usize> = items[i].edges.iter().map(|e| e.to).collect();
        for d in deps {
            visit(d, items, state);
            if items[d].action.is_out() && !items[i].action.is_out() {
                let what = if matches!(items[d].action, Action::Fail(_)) {
                    "failed"
                } else {
                    "is skipped"
                };
                let why = format!(
                    "depends on {} {:?}, which {what}",
                    items[d].source.kind, items[d].source.key
                );
                items[i].action = Action::Skip(why);
            }
        }
        state[i] = 2;
    }
    for i in 0..n {
        visit(i, items, &mut state);
    }
}

/// The body with every reference rewritten to what the referenced item's target holds, or
/// `None` when a referenced item has no target yet (it will be created).
pub fn rewritten(items: &[Item], i: usize) -> Result<Option<Resource>, String> {
    rewrite(items, i, false)
}

/// What to look the item up by on the target: like [`rewritten`], but a referenced item
/// that has no target yet only rules out a match when the reference is required (a child
/// under a parent that is still to be created cannot exist yet; an adapter shared with a
/// group still to be created can).
fn for_lookup(items: &[Item], i: usize) -> Result<Option<Resource>, String> {
    rewrite(items, i, true)
}

fn rewrite(items: &[Item], i: usize, lookup: bool) -> Result<Option<Resource>, String> {
    let mut r = items[i].source.unpack();
    for e in &items[i].edges {
        let Some(t) = &items[e.to].target else {
            if lookup && (!e.required || items[i].lookup_only.is_some()) {
                continue;
            }
            return Ok(None);
        };
        let new = match &e.by {
            RefBy::Id => json::like(&e.source_value, &t.id),
            RefBy::Key => Value::String(t.key.clone()),
            RefBy::Field(f) => t
                .body
                .value()
                .pointer(f)
                .cloned()
                .ok_or_else(|| format!("{} {:?} on the target has no {f}", t.kind, t.key))?,
        };
        json::set_at(&mut r.body, &e.pointer, new);
    }
    Ok(Some(r))
}

/// Match every item on the target, kind by kind in dependency order (a child is looked up
/// under its parent's target id), and decide its action.
async fn matching(
    registry: &Registry,
    grant: &Grant,
    opts: &Options,
    ctx: &CallContext,
    kinds: &[KindInfo],
    items: &mut [Item],
) -> Result<(), PlanError> {
    let mut conflicts = Vec::new();
    // Kinds of one level do not reference each other: look them all up at once.
    for level in order::levels(kinds) {
        let mut batches = Vec::new();
        for kind in &level {
            // Resources a cloner cannot clone are still looked up: if the target has its own
            // (an OAuth connector authorised there, say), it is adopted and dependants can go on.
            let todo: Vec<usize> = (0..items.len())
                .filter(|&i| {
                    items[i].source.kind == *kind
                        && !matches!(items[i].action, Action::Fail(_))
                        && (!items[i].action.is_out() || items[i].source.skip.is_some())
                })
                .collect();
            // What to look each item up by; an item whose required parent will be created
            // cannot exist on the target yet, and is not looked up.
            let (mut none, mut wanted) = (Vec::new(), Vec::new());
            for i in todo {
                match for_lookup(items, i) {
                    Ok(None) => none.push((i, None)),
                    Ok(Some(w)) => wanted.push((i, w)),
                    Err(e) => {
                        return Err(PluginError::Guest {
                            plugin: "engine".into(),
                            call: format!("find {kind}"),
                            error: crate::plugin::GuestError::Invalid(e),
                        }
                        .into());
                    }
                }
            }
            batches.push((kind.clone(), none, wanted));
        }
        let found = futures::future::try_join_all(batches.iter_mut().map(|(kind, _, wanted)| {
            let cloner = registry.cloner_for(kind).expect("registered kind").2;
            cloner.find_many(
                Call::new(grant.clone(), ctx, kind),
                std::mem::take(wanted),
                opts.concurrency,
            )
        }))
        .await?;
        for ((kind, none, _), found) in batches.into_iter().zip(found) {
            match_kind(
                opts,
                &kind,
                none.into_iter().chain(found),
                items,
                &mut conflicts,
            );
        }
    }
    if !conflicts.is_empty() {
        return Err(PlanError::Conflicts(conflicts));
    }
    Ok(())
}

/// Decide each looked-up item's action from what the target has.
fn match_kind(
    opts: &Options,
    kind: &str,
    lookups: impl Iterator<Item = (usize, Option<Stored>)>,
    items: &mut [Item],
    conflicts: &mut Vec<String>,
) {
    for (i, found) in lookups {
        if let Some(why) = &items[i].lookup_only {
            // Never written: the target's own is used, or dependants cannot resolve.
            items[i].action = match &found {
                Some(_) => Action::Adopt,
                None => Action::Skip(format!(
                    "{why}, but the target has no {kind} {:?}",
                    items[i].source.key
                )),
            };
            items[i].target = found;
            continue;
        }
        match found {
            // Within one place, the source lists what the target holds: a resource matched
            // by its own id is the target's (a copy an earlier run made, or one no rule
            // renames), never copied onto itself nor counted as adopted.
            Some(t) if opts.one_place && t.id == items[i].source.id => {
                items[i].lookup_only = Some("the target's own: source and target are one".into());
                items[i].itself = true;
                items[i].action = Action::Adopt;
                items[i].target = Some(t);
            }
            None if items[i].source.skip.is_some() => {}
            None => items[i].action = Action::Create,
            Some(t) if items[i].source.skip.is_some() => {
                // Its own copy on the target, made by hand: use it as it is.
                items[i].action = Action::Adopt;
                items[i].target = Some(t);
            }
            Some(t) if opts.journal.unfinished(kind, &items[i].source.key) => {
                // Made by an earlier run that was killed before it finished: complete it.
                tracing::info!(kind = %kind, key = %items[i].source.key, "completing a resource an interrupted run left half-made");
                items[i].action = Action::Update;
                items[i].target = Some(t);
            }
            Some(t) => {
                items[i].action = match opts.conflict_for(kind) {
                    OnConflict::Adopt => Action::Adopt,
                    OnConflict::Update => Action::Update,
                    OnConflict::Abort => {
                        conflicts.push(format!("{kind} {:?}", items[i].source.key));
                        Action::Adopt
                    }
                };
                items[i].target = Some(t);
            }
        }
    }
}
