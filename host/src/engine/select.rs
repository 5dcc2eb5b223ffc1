//! Which resources a run takes: `--include` / `--exclude` kinds, `--select KIND:GLOB` by
//! name; the dependency closure of what is selected comes along, and each pulled-in resource
//! records why.

use super::Item;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// only these kinds (empty: all)
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `KIND:GLOB` patterns on natural keys (empty: everything of the included kinds)
    pub select: Vec<String>,
}

pub struct Pattern {
    kind: String,
    glob: glob::Pattern,
}

impl Selection {
    /// Check the kinds named against the loaded ones; parse the patterns.
    pub fn check(&self, known: &BTreeSet<String>) -> Result<Vec<Pattern>, String> {
        for k in self.include.iter().chain(&self.exclude) {
            if !known.contains(k) {
                return Err(format!("unknown kind {k:?} (known: {})", known.iter().cloned().collect::<Vec<_>>().join(", ")));
            }
        }
        self.select
            .iter()
            .map(|s| {
                let (kind, glob) = s.split_once(':').ok_or_else(|| format!("--select {s:?} must be KIND:GLOB"))?;
                if !known.contains(kind) {
                    return Err(format!("--select {s:?}: unknown kind {kind:?}"));
                }
                let glob = glob::Pattern::new(glob).map_err(|e| format!("--select {s:?}: {e}"))?;
                Ok(Pattern { kind: kind.to_string(), glob })
            })
            .collect()
    }

    pub fn takes_kind(&self, kind: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|k| k == kind)) && !self.exclude.iter().any(|k| k == kind)
    }
}

/// Mark what the patterns select plus its dependency closure; returns which items stay.
pub fn closure(items: &mut [Item], patterns: &[Pattern]) -> Vec<bool> {
    if patterns.is_empty() {
        return vec![true; items.len()];
    }
    let mut keep: Vec<bool> = items.iter().map(|i| patterns.iter().any(|p| p.kind == i.source.kind && p.glob.matches(&i.source.key))).collect();
    let mut stack: Vec<usize> = (0..items.len()).filter(|&i| keep[i]).collect();
    while let Some(i) = stack.pop() {
        // References only: a kind-level ordering does not make a resource needed.
        let deps: Vec<(usize, String)> = items[i].edges.iter().map(|e| (e.to, e.pointer.clone())).collect();
        for (d, pointer) in deps {
            if !keep[d] {
                keep[d] = true;
                let why = format!("referenced by {} {:?} at {pointer}", items[i].source.kind, items[i].source.key);
                items[d].pulled_in = Some(why);
                stack.push(d);
            }
        }
    }
    keep
}
