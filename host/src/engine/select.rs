//! Which resources a run takes: `--include` / `--exclude` kinds, `--select KIND:GLOB` by
//! name; the dependency closure of what is selected comes along, and each pulled-in resource
//! records why.

use super::Item;
use crate::package::SelectionInfo;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// only these kinds (empty: all)
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `KIND:GLOB` patterns on natural keys (empty: everything of the included kinds)
    pub select: Vec<String>,
    /// resources carrying one of these tags (a `tags` list in their body, of names or of
    /// objects with a `name`)
    pub tags: Vec<String>,
}

#[derive(Debug)]
pub struct Pattern {
    kind: String,
    glob: glob::Pattern,
    /// the name as given, when it has no wildcard: it must name a resource of the source
    exact: Option<String>,
}

impl Selection {
    /// Check the kinds named against the loaded ones; parse the patterns.
    pub fn check(&self, known: &BTreeSet<String>) -> Result<Vec<Pattern>, String> {
        for k in self.include.iter().chain(&self.exclude) {
            if !known.contains(k) {
                return Err(format!(
                    "unknown kind {k:?} (known: {})",
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        self.select
            .iter()
            .map(|s| {
                let (kind, glob) = s
                    .split_once(':')
                    .ok_or_else(|| format!("`select` {s:?} must be KIND:GLOB"))?;
                if !known.contains(kind) {
                    return Err(format!("`select` {s:?}: unknown kind {kind:?}"));
                }
                let glob = glob::Pattern::new(glob).map_err(|e| format!("`select` {s:?}: {e}"))?;
                let exact =
                    (!glob.as_str().contains(['*', '?', '['])).then(|| glob.as_str().to_string());
                Ok(Pattern {
                    kind: kind.to_string(),
                    glob,
                    exact,
                })
            })
            .collect()
    }

    pub fn takes_kind(&self, kind: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|k| k == kind))
            && !self.exclude.iter().any(|k| k == kind)
    }
}

/// A `--select KIND:NAME` without wildcards that names nothing on the source: a typo, most
/// likely, which would otherwise make a run that does nothing and says it succeeded.
pub fn unmatched(items: &[Item], patterns: &[Pattern]) -> Option<String> {
    let p = patterns.iter().find(|p| {
        p.exact.is_some()
            && !items
                .iter()
                .any(|i| i.source.kind == p.kind && p.glob.matches(&i.source.key))
    })?;
    let mut names: Vec<&str> = items
        .iter()
        .filter(|i| i.source.kind == p.kind)
        .map(|i| i.source.key.as_str())
        .collect();
    let more = names.len().saturating_sub(10);
    names.truncate(10);
    Some(format!(
        "`select` {}:{}: the source has no {} of that name (it has: {}{})",
        p.kind,
        p.exact.as_deref().unwrap_or(""),
        p.kind,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        },
        if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        }
    ))
}

/// Mark what the patterns select plus its dependency closure; returns which items stay.
pub fn closure(items: &mut [Item], patterns: &[Pattern], tags: &[String]) -> Vec<bool> {
    if patterns.is_empty() && tags.is_empty() {
        return vec![true; items.len()];
    }
    let tagged = |body: &serde_json::Value| {
        body.get("tags")
            .and_then(|t| t.as_array())
            .is_some_and(|list| {
                list.iter().any(|t| {
                    let name = t
                        .as_str()
                        .or_else(|| t.get("name").and_then(|n| n.as_str()));
                    name.is_some_and(|n| tags.iter().any(|w| w == n))
                })
            })
    };
    let mut keep: Vec<bool> = items
        .iter()
        .map(|i| {
            patterns
                .iter()
                .any(|p| p.kind == i.source.kind && p.glob.matches(&i.source.key))
                || (!tags.is_empty() && tagged(&i.source.body.value()))
        })
        .collect();
    let mut stack: Vec<usize> = (0..items.len()).filter(|&i| keep[i]).collect();
    while let Some(i) = stack.pop() {
        // References only: a kind-level ordering does not make a resource needed.
        let deps: Vec<(usize, String)> = items[i]
            .edges
            .iter()
            .map(|e| (e.to, e.pointer.clone()))
            .collect();
        for (d, pointer) in deps {
            if !keep[d] {
                keep[d] = true;
                let why = format!(
                    "referenced by {} {:?} at {pointer}",
                    items[i].source.kind, items[i].source.key
                );
                items[d].pulled_in = Some(why);
                stack.push(d);
            }
        }
    }
    keep
}

/// What a package records of the selection it was exported with.
impl From<&Selection> for SelectionInfo {
    fn from(s: &Selection) -> Self {
        SelectionInfo {
            include: s.include.clone(),
            exclude: s.exclude.clone(),
            select: s.select.clone(),
            tags: s.tags.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Edge, Item};
    use crate::plugin::{RefBy, Resource};
    use serde_json::json;

    fn item(kind: &str, key: &str, body: serde_json::Value, edges: Vec<usize>) -> Item {
        let mut it = Item::new(Resource::new(kind, key, key, body).pack(), Action::Create);
        it.edges = edges
            .into_iter()
            .map(|to| Edge {
                to,
                pointer: "/ref".into(),
                by: RefBy::Id,
                source_value: json!(to),
                required: true,
            })
            .collect();
        it
    }

    #[test]
    fn patterns_and_tags_select_with_their_closure() {
        let known: BTreeSet<String> = ["adapter", "workflow", "pipeline"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let sel = Selection {
            select: vec!["pipeline:nightly-*".into()],
            ..Default::default()
        };
        let patterns = sel.check(&known).unwrap();
        let mut items = vec![
            item("adapter", "a", json!({}), vec![]),
            item("workflow", "w", json!({}), vec![0]),
            item("pipeline", "nightly-1", json!({}), vec![1]),
            item("pipeline", "hourly", json!({}), vec![1]),
            item("adapter", "b", json!({"tags": [{"name": "eu"}]}), vec![]),
        ];
        let keep = closure(&mut items, &patterns, &[]);
        assert_eq!(keep, [true, true, true, false, false]);
        assert!(items[0].pulled_in.as_deref().unwrap().contains("workflow"));
        let keep = closure(&mut items, &[], &["eu".to_string()]);
        assert_eq!(keep, [false, false, false, false, true]);
        assert!(
            Selection {
                include: vec!["nope".into()],
                ..Default::default()
            }
            .check(&known)
            .unwrap_err()
            .contains("unknown kind")
        );
        assert!(
            Selection {
                select: vec!["pipeline".into()],
                ..Default::default()
            }
            .check(&known)
            .unwrap_err()
            .contains("KIND:GLOB")
        );
    }
}
