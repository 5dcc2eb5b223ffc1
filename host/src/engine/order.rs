//! The order of kinds: a kind comes after every kind it depends on or references. A cycle
//! among the plugins' declarations is an error that names it.

use crate::plugin::KindInfo;
use std::collections::{BTreeMap, BTreeSet};

/// Kinds sorted so that dependencies come first (ties by name, for a stable order).
pub fn sorted(kinds: &[KindInfo]) -> Result<Vec<KindInfo>, String> {
    let by_name: BTreeMap<&str, &KindInfo> = kinds.iter().map(|k| (k.name.as_str(), k)).collect();
    let deps = |k: &KindInfo| -> BTreeSet<String> {
        k.depends_on
            .iter()
            .cloned()
            .chain(k.references.iter().map(|r| r.kind.clone()))
            .filter(|d| *d != k.name && by_name.contains_key(d.as_str()))
            .collect()
    };
    let mut out: Vec<KindInfo> = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut visiting: Vec<String> = Vec::new();
    fn visit<'a>(
        name: &str,
        by_name: &BTreeMap<&str, &'a KindInfo>,
        deps: &dyn Fn(&KindInfo) -> BTreeSet<String>,
        done: &mut BTreeSet<String>,
        visiting: &mut Vec<String>,
        out: &mut Vec<KindInfo>,
    ) -> Result<(), String> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(at) = visiting.iter().position(|v| v == name) {
            let mut cycle = visiting[at..].to_vec();
            cycle.push(name.to_string());
            return Err(format!(
                "the plugins' declarations form a dependency cycle: {}",
                cycle.join(" -> ")
            ));
        }
        visiting.push(name.to_string());
        let k = by_name[name];
        for d in deps(k) {
            visit(&d, by_name, deps, done, visiting, out)?;
        }
        visiting.pop();
        done.insert(name.to_string());
        out.push(k.clone());
        Ok(())
    }
    for name in by_name.keys() {
        visit(name, &by_name, &deps, &mut done, &mut visiting, &mut out)?;
    }
    Ok(out)
}

/// Kinds in `sorted` order grouped into levels: a kind's level is one more than the highest
/// level among the kinds it depends on or references, so the kinds of one level can be
/// looked up at once, after the levels before.
pub fn levels(sorted: &[KindInfo]) -> Vec<Vec<String>> {
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    for k in sorted {
        let deps = k
            .depends_on
            .iter()
            .chain(k.references.iter().map(|r| &r.kind));
        let l = deps
            .filter(|d| **d != k.name)
            .filter_map(|d| level.get(d.as_str()))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        level.insert(&k.name, l);
        if out.len() <= l {
            out.resize(l + 1, Vec::new());
        }
        out[l].push(k.name.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str, deps: &[&str]) -> KindInfo {
        KindInfo {
            name: name.into(),
            description: String::new(),
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            key: vec!["/name".into()],
            references: vec![],
            secrets: vec![],
            has_files: false,
            support: Default::default(),
        }
    }

    #[test]
    fn dependencies_first_and_cycles_named() {
        let order: Vec<String> = sorted(&[
            kind("pipeline", &["workflow"]),
            kind("workflow", &["connector"]),
            kind("connector", &[]),
        ])
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
        assert_eq!(order, ["connector", "workflow", "pipeline"]);
        let e = sorted(&[kind("a", &["b"]), kind("b", &["c"]), kind("c", &["a"])]).unwrap_err();
        assert!(e.contains("a -> b -> c -> a"), "{e}");
    }

    #[test]
    fn levels_put_independent_kinds_together() {
        let kinds = sorted(&[
            kind("pipeline", &["workflow"]),
            kind("workflow", &["connector", "tag"]),
            kind("connector", &[]),
            kind("tag", &[]),
            kind("deployment", &["workflow"]),
            kind("note", &["tag"]),
        ])
        .unwrap();
        let l = levels(&kinds);
        assert_eq!(
            l,
            vec![
                vec!["connector".to_string(), "tag".into()],
                vec!["workflow".into(), "note".into()],
                vec!["deployment".into(), "pipeline".into()]
            ]
        );
    }
}
