//! Per-environment rewriting: the rules and hooks of a promotion file, applied to each
//! resource after it is read from the source and before it is matched on the target.
//!
//! Per resource, in order: the kind's rules (`leave`, `map`, `rename`, `set`, `remove`),
//! then every hook of the chain that takes the kind. Each step's changes are recorded
//! (field: old → new, and which rule or hook), so `ferry plan` can show them.

pub mod diff;
pub mod rules;

use crate::json;
use crate::plugin::PluginError;
use crate::plugin::hook::Hook;
use crate::plugin::types::{HookContext, HookOutcome, KindInfo, Resource};
use crate::redact::Secrets;
use diff::{Rewrite, diff, under_any};
use rules::KindRules;
use serde_json::Value;
use std::collections::BTreeMap;

/// One entry of the hook chain.
pub struct HookStep {
    pub hook: Hook,
    /// kinds it applies to (empty: every kind)
    pub kinds: Vec<String>,
    /// its `with = { ... }` table
    pub params: Value,
}

impl HookStep {
    fn takes(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }
}

/// The rules and hooks of a run. The default transforms nothing.
#[derive(Default)]
pub struct Transformer {
    /// environment names hooks are told (`dev`, `prod`)
    pub source_env: String,
    pub target_env: String,
    pub kinds: BTreeMap<String, KindRules>,
    pub hooks: Vec<HookStep>,
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer")
            .field("kinds", &self.kinds.keys().collect::<Vec<_>>())
            .field(
                "hooks",
                &self
                    .hooks
                    .iter()
                    .map(|h| h.hook.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What becomes of a resource after its rules and hooks.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// clone it (as changed)
    Keep,
    /// leave it behind, with the reason
    Leave(String),
    /// do not write it: use the target's own resource of this name instead
    Map(String),
    /// a hook failed on it (error, limit): the resource fails, the run goes on
    Fail(String),
}

pub struct Transformed {
    pub resource: Resource,
    pub rewrites: Vec<Rewrite>,
    pub verdict: Verdict,
}

impl Transformer {
    pub fn is_empty(&self) -> bool {
        self.kinds.values().all(|r| {
            r.leave.is_empty()
                && r.map.is_empty()
                && r.rename.is_none()
                && r.set.is_empty()
                && r.remove.is_empty()
        }) && self.hooks.is_empty()
    }

    /// Apply the kind's rules, then the hooks that take it.
    pub async fn apply(&self, info: &KindInfo, res: Resource) -> Transformed {
        let kind = info.name.clone();
        let secret = |p: &str| under_any(p, &info.secrets);
        // A hook's error, skip reason or print may carry a secret: the source's, or one the
        // rules set.
        let mut secrets = Secrets::of(&res.body, &info.secrets);
        let mut t = Transformed {
            resource: res,
            rewrites: vec![],
            verdict: Verdict::Keep,
        };
        if let Some(rules) = self.kinds.get(&kind) {
            let field = rules
                .rename
                .as_ref()
                .and_then(|r| r.field.clone())
                .or_else(|| info.key.first().cloned())
                .unwrap_or_default();
            let name = t
                .resource
                .body
                .pointer(&field)
                .and_then(Value::as_str)
                .unwrap_or(&t.resource.key)
                .to_string();
            if let Some(g) = rules
                .leave
                .iter()
                .find(|g| g.0.matches(&name) || g.0.matches(&t.resource.key))
            {
                t.verdict = Verdict::Leave(format!(
                    "left behind by kinds.{kind}.leave {:?}",
                    g.0.as_str()
                ));
                return t;
            }
            if let Some(to) = rules
                .map
                .get(&name)
                .or_else(|| rules.map.get(&t.resource.key))
            {
                let by = format!("kinds.{kind}.map");
                let before = t.resource.body.clone();
                json::put(&mut t.resource.body, &field, Value::String(to.clone()));
                t.rewrites
                    .extend(diff(&before, &t.resource.body, &by, &secret));
                t.resource.key = info.key_of(&t.resource.body);
                t.verdict = Verdict::Map(to.clone());
                return t;
            }
            if let Some(rename) = &rules.rename
                && let Some(new) = rename.apply(&name)
            {
                self.step(&mut t, &format!("kinds.{kind}.rename"), &secret, |b| {
                    json::put(b, &field, Value::String(new));
                });
            }
            if !rules.set.is_empty() {
                let by = format!("kinds.{kind}.set");
                let before = t.resource.body.clone();
                for (p, v) in &rules.set {
                    if !json::put(&mut t.resource.body, &p.0, v.value.clone()) {
                        t.verdict = Verdict::Fail(format!(
                            "kinds.{kind}.set {:?}: the resource has no object at that path",
                            p.0
                        ));
                        return t;
                    }
                }
                let mut changes = diff(&before, &t.resource.body, &by, &secret);
                // Values from the environment are shown as written in the file.
                for c in &mut changes {
                    if let Some((p, v)) = rules.set.iter().find(|(p, _)| {
                        c.pointer == p.0 || c.pointer.starts_with(&format!("{}/", p.0))
                    }) && let Some(shown) = &v.shown
                    {
                        let rel = &c.pointer[p.0.len()..];
                        c.new = shown.pointer(rel).map(|s| s.to_string()).or(c.new.take());
                    }
                }
                t.rewrites.extend(changes);
            }
            if !rules.remove.is_empty() {
                self.step(&mut t, &format!("kinds.{kind}.remove"), &secret, |b| {
                    for p in &rules.remove {
                        json::remove(b, &p.0);
                    }
                });
            }
            t.resource.key = info.key_of(&t.resource.body);
        }
        if !self.hooks.is_empty() {
            secrets.extend(&Secrets::of(&t.resource.body, &info.secrets));
        }
        for step in self.hooks.iter().filter(|s| s.takes(&kind)) {
            let name = step.hook.name().to_string();
            let ctx = HookContext {
                source_env: self.source_env.clone(),
                target_env: self.target_env.clone(),
                kind: kind.clone(),
                params: step.params.clone(),
                secrets: secrets.clone(),
            };
            match step.hook.apply(&ctx, &t.resource).await {
                Ok(HookOutcome::Keep(new)) => match reconcile(info, &t.resource, new) {
                    Ok(new) => {
                        let by = format!("hook {name}");
                        t.rewrites
                            .extend(diff(&t.resource.body, &new.body, &by, &secret));
                        t.resource = new;
                    }
                    Err(e) => {
                        t.verdict = Verdict::Fail(secrets.mask(&format!("hook {name}: {e}")));
                        return t;
                    }
                },
                Ok(HookOutcome::Skip(why)) => {
                    t.verdict =
                        Verdict::Leave(secrets.mask(&format!("left behind by hook {name}: {why}")));
                    return t;
                }
                Err(e) => {
                    t.verdict = Verdict::Fail(
                        secrets.mask(&format!("hook {name}: {}", what_went_wrong(&e))),
                    );
                    return t;
                }
            }
        }
        for r in &t.rewrites {
            tracing::info!(kind = %kind, key = %t.resource.key, "{r}");
        }
        t
    }

    /// One rule step: change the body, record what changed.
    fn step(
        &self,
        t: &mut Transformed,
        by: &str,
        secret: &dyn Fn(&str) -> bool,
        change: impl FnOnce(&mut Value),
    ) {
        let before = t.resource.body.clone();
        change(&mut t.resource.body);
        t.rewrites
            .extend(diff(&before, &t.resource.body, by, secret));
    }
}

/// A hook's failure, without repeating the hook's name.
fn what_went_wrong(e: &PluginError) -> String {
    match e {
        PluginError::Guest { error, .. } => error.to_string(),
        PluginError::Limit { limit, .. } => format!("stopped at its limit of {limit}"),
        PluginError::Trap {
            message, stderr, ..
        } if stderr.is_empty() => format!("crashed: {message}"),
        PluginError::Trap {
            message, stderr, ..
        } => format!(
            "crashed: {message} ({})",
            stderr.lines().last().unwrap_or_default()
        ),
        PluginError::Violation { message, .. } => message.clone(),
        PluginError::Load { message, .. } => message.clone(),
    }
}

/// Check what a hook returned and bring key and body into agreement: a hook may rename by
/// changing the key fields of the body, or by changing `key` (the host then writes the new
/// key into the key fields). Kind and id are not a hook's to change.
fn reconcile(info: &KindInfo, old: &Resource, mut new: Resource) -> Result<Resource, String> {
    if new.kind != old.kind || new.id != old.id {
        return Err(format!(
            "it changed the resource's kind or id ({} {:?} → {} {:?}); a hook may change the body and the key only",
            old.kind, old.id, new.kind, new.id
        ));
    }
    let body_key = info.key_of(&new.body);
    if new.key != old.key && body_key == old.key && !info.key.is_empty() {
        let parts: Vec<&str> = if info.key.len() == 1 {
            vec![new.key.as_str()]
        } else {
            new.key.split(" / ").collect()
        };
        if parts.len() != info.key.len() {
            return Err(format!(
                "it set the key to {:?}, but a {} key has {} parts joined by \" / \"",
                new.key,
                info.name,
                info.key.len()
            ));
        }
        for (p, v) in info.key.iter().zip(parts) {
            let typed = match new.body.pointer(p) {
                Some(Value::Number(_)) => v
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(v.into())),
                _ => Value::String(v.into()),
            };
            if !json::put(&mut new.body, p, typed) {
                return Err(format!("cannot write the new key into {p}"));
            }
        }
    }
    new.key = info.key_of(&new.body);
    Ok(new)
}
