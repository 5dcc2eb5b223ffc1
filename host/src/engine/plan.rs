//! Planning: read every selected kind from the source (every page), resolve each reference
//! to the source resource it names, select, cascade skips, match on the target by natural
//! key, and decide an action per resource. Nothing is written.

use super::refs::{self, text};
use super::{Action, Edge, Item, OnConflict, Options, order, select};
use crate::plugin::wasm::state::Grant;
use crate::plugin::{CallContext, KindInfo, PluginError, RefBy, Registry, Resource};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("--on-name-conflict abort: {} resource(s) already exist on the target: {}", .0.len(), .0.join(", "))]
    Conflicts(Vec<String>),
}

/// The result of planning: every resource in the run, in dependency order of kinds.
pub struct Plan {
    pub kinds: Vec<KindInfo>,
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn kind(&self, name: &str) -> &KindInfo {
        self.kinds.iter().find(|k| k.name == name).expect("planned kind")
    }
}

pub fn context(opts: &Options) -> CallContext {
    CallContext { options: opts.plugin_options.clone() }
}

pub async fn plan(registry: &Registry, grant: &Grant, opts: &Options) -> Result<Plan, PlanError> {
    let all: Vec<KindInfo> = registry.kinds().map(|(k, _)| k.clone()).collect();
    let known: BTreeSet<String> = all.iter().map(|k| k.name.clone()).collect();
    let patterns = opts.selection.check(&known).map_err(PlanError::Usage)?;
    let kinds: Vec<KindInfo> = order::sorted(&all).map_err(PlanError::Usage)?.into_iter().filter(|k| opts.selection.takes_kind(&k.name)).collect();
    let ctx = context(opts);

    // Read every kind (kinds in parallel, bounded).
    let lists: Vec<Vec<Resource>> = futures::stream::iter(kinds.iter().map(|k| {
        let (cloner, grant, ctx) = (registry.cloner_for(&k.name).expect("registered kind").2.clone(), grant.clone(), ctx.clone());
        let name = k.name.clone();
        async move {
            let rows = cloner.list(grant, &ctx, &name).await?;
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
            items.push(Item { source, action, target: None, edges: vec![], after: vec![], pulled_in: None });
        }
    }
    let mut warnings = Vec::new();
    link(&kinds, &mut items, &mut warnings);

    // Selection and its closure.
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
            item.after = item.after.iter().filter(|&&a| new_index[a] != usize::MAX).map(|&a| new_index[a]).collect();
        }
        items = kept;
    }

    matching(registry, grant, opts, &ctx, &mut items).await?;
    cascade(&mut items);
    Ok(Plan { kinds, items, warnings })
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
    let mut by_field: HashMap<(String, String, String), usize> = HashMap::new();
    for k in kinds {
        for r in &k.references {
            if let RefBy::Field(f) = &r.by {
                for &i in by_kind.get(&r.kind).into_iter().flatten() {
                    if let Some(v) = items[i].source.body.pointer(f) {
                        by_field.insert((r.kind.clone(), f.clone(), text(v)), i);
                    }
                }
            }
        }
    }
    let info: HashMap<&str, &KindInfo> = kinds.iter().map(|k| (k.name.as_str(), k)).collect();
    for i in 0..items.len() {
        let Some(k) = info.get(items[i].source.kind.as_str()) else { continue };
        for r in &k.references {
            if !info.contains_key(r.kind.as_str()) {
                // The referenced kind is not in this run (excluded): the reference is left
                // as it is, and must resolve on the target by itself.
                continue;
            }
            for (pointer, value) in refs::values_at(&items[i].source.body, &r.pointer) {
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
                    Some(&to) if to != i => items[i].edges.push(Edge { to, pointer, by: r.by.clone(), source_value: value }),
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
            if !referenced && let Some(all) = by_kind.get(dep) {
                items[i].after.extend(all.iter().copied().filter(|&j| j != i));
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
            if let Action::Skip(_) = &items[d].action
                && !matches!(items[i].action, Action::Skip(_))
            {
                let why = format!("depends on {} {:?}, which is skipped", items[d].source.kind, items[d].source.key);
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
    let mut r = items[i].source.clone();
    for e in &items[i].edges {
        let Some(t) = &items[e.to].target else { return Ok(None) };
        let new = match &e.by {
            RefBy::Id => refs::like(&e.source_value, &t.id),
            RefBy::Key => Value::String(t.key.clone()),
            RefBy::Field(f) => t.body.pointer(f).cloned().ok_or_else(|| format!("{} {:?} on the target has no {f}", t.kind, t.key))?,
        };
        refs::set_at(&mut r.body, &e.pointer, new);
    }
    Ok(Some(r))
}

/// Match every item on the target, kind by kind in dependency order (a child is looked up
/// under its parent's target id), and decide its action.
async fn matching(registry: &Registry, grant: &Grant, opts: &Options, ctx: &CallContext, items: &mut [Item]) -> Result<(), PlanError> {
    let mut kinds_in_order: Vec<String> = Vec::new();
    for it in items.iter() {
        if !kinds_in_order.contains(&it.source.kind) {
            kinds_in_order.push(it.source.kind.clone());
        }
    }
    let mut conflicts = Vec::new();
    for kind in kinds_in_order {
        let cloner = registry.cloner_for(&kind).expect("registered kind").2.clone();
        // Resources a cloner cannot clone are still looked up: if the target has its own (an
        // OAuth connector authorised there, say), it is adopted and dependants can go on.
        let todo: Vec<usize> = (0..items.len()).filter(|&i| items[i].source.kind == kind && (!matches!(items[i].action, Action::Skip(_)) || items[i].source.skip.is_some())).collect();
        let lookups: Vec<(usize, Option<Resource>)> = {
            let snapshot: &[Item] = items;
            futures::stream::iter(todo.into_iter().map(|i| {
                let wanted = rewritten(snapshot, i);
                let (cloner, grant, ctx, kind) = (cloner.clone(), grant.clone(), ctx.clone(), kind.clone());
                async move {
                    match wanted {
                        // A parent will be created: the child cannot exist yet.
                        Ok(None) => Ok((i, None)),
                        Ok(Some(w)) => cloner.find(grant, &ctx, &kind, &w).await.map(|f| (i, f)),
                        Err(e) => Err(PluginError::Guest { plugin: "engine".into(), call: format!("find {kind}"), error: crate::plugin::GuestError::Invalid(e) }),
                    }
                }
            }))
            .buffer_unordered(opts.concurrency.max(1))
            .try_collect()
            .await?
        };
        for (i, found) in lookups {
            match found {
                None if items[i].source.skip.is_some() => {}
                None => items[i].action = Action::Create,
                Some(t) if items[i].source.skip.is_some() => {
                    // Its own copy on the target, made by hand: use it as it is.
                    items[i].action = Action::Adopt;
                    items[i].target = Some(t);
                }
                Some(t) => {
                    items[i].action = match opts.conflict_for(&kind) {
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
    if !conflicts.is_empty() {
        return Err(PlanError::Conflicts(conflicts));
    }
    Ok(())
}
