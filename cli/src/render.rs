//! What people read: a run's or a plan's report as a table, with the reasons of skips and
//! failures, rewrites, pulled-in resources, files, differences, deletes and credentials
//! below it. The JSON report is the library's (`serde`); this text is the command's.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ferry::engine::report::{ItemAction, ItemOutcome, ItemReport, KindStats, Report};

/// Resources whose rewrites the table output lists (all of them are in the JSON report).
const REWRITES_SHOWN: usize = 200;

/// One line of the table: a kind's (or the total's) counts, and a time in seconds.
fn row(name: &str, s: &KindStats, ms: u64) -> [String; 7] {
    [
        name.to_string(),
        s.created.to_string(),
        s.adopted.to_string(),
        s.updated.to_string(),
        s.skipped.to_string(),
        s.failed.to_string(),
        format!("{:.1}s", ms as f64 / 1000.0),
    ]
}

/// The table for people, with the reasons of skips and failures below it.
pub(crate) fn report(r: &Report) -> String {
    let mut t = Table::new();
    let verbs = if r.dry_run {
        ["create", "adopt", "update", "skip", "fail"]
    } else {
        ["created", "adopted", "updated", "skipped", "failed"]
    };
    let mut header = vec!["kind".to_string()];
    header.extend(verbs.iter().map(|v| v.to_string()));
    header.push("time".into());
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    let mut total = KindStats::default();
    for (kind, s) in &r.kinds {
        t.add_row(row(kind, s, s.work_ms));
        total.created += s.created;
        total.adopted += s.adopted;
        total.updated += s.updated;
        total.skipped += s.skipped;
        total.failed += s.failed;
    }
    t.add_row(row("TOTAL", &total, r.duration_ms));
    let mut out = format!(
        "{} → {}{}\n{t}\n",
        r.source,
        r.target,
        if r.dry_run {
            " (plan: nothing written)"
        } else {
            ""
        }
    );
    let notes: Vec<&ItemReport> = r.items.iter().filter(|i| i.reason.is_some()).collect();
    if !notes.is_empty() {
        out += "\nSkipped and failed:\n";
        for i in notes {
            out += &format!(
                "  {} {} {:?}: {}\n",
                i.outcome.map(ItemOutcome::name).unwrap_or(i.action.name()),
                i.kind,
                i.key,
                i.reason.as_deref().unwrap_or("")
            );
        }
    }
    let rewritten: Vec<&ItemReport> = r.items.iter().filter(|i| !i.rewrites.is_empty()).collect();
    if !rewritten.is_empty() {
        out += "\nRewrites (rules and hooks):\n";
        for (n, i) in rewritten.iter().enumerate() {
            if n == REWRITES_SHOWN {
                out += &format!(
                    "  ... and {} more resources (--output json or --report lists them all)\n",
                    rewritten.len() - n
                );
                break;
            }
            match &i.source_key {
                Some(old) => out += &format!("  {} {old:?} → {:?}\n", i.kind, i.key),
                None => out += &format!("  {} {:?}\n", i.kind, i.key),
            }
            for rw in &i.rewrites {
                out += &format!("    {rw}\n");
            }
        }
    }
    let pulled: Vec<&ItemReport> = r.items.iter().filter(|i| i.pulled_in.is_some()).collect();
    if !pulled.is_empty() {
        out += "\nPulled in by the selection's dependencies:\n";
        for i in pulled {
            out += &format!(
                "  {} {:?}: {}\n",
                i.kind,
                i.key,
                i.pulled_in.as_deref().unwrap_or("")
            );
        }
    }
    if r.files.moved + r.files.too_large.len() + r.files.unsupported.len() + r.files.failed.len()
        > 0
    {
        out += &format!(
            "\nFiles: {} moved ({} bytes), {} too large, {} unsupported, {} failed\n",
            r.files.moved,
            r.files.bytes,
            r.files.too_large.len(),
            r.files.unsupported.len(),
            r.files.failed.len()
        );
    }
    let differing: Vec<&ItemReport> = r
        .items
        .iter()
        .filter(|i| {
            i.action == ItemAction::Update && i.differences.as_ref().is_some_and(|d| !d.is_empty())
        })
        .collect();
    if !differing.is_empty() {
        out += "\nWhat the updates change (target → source):\n";
        for i in differing {
            out += &ferry::engine::drift::render(
                &i.kind,
                &i.key,
                i.differences.as_deref().unwrap_or(&[]),
            );
        }
    }
    if !r.deletes.is_empty() {
        out += "\nNo longer in the source (managed by ferry on the target):\n";
        for d in &r.deletes {
            out += &format!(
                "  {} {} {:?} (id {}){}\n",
                d.outcome.name(),
                d.kind,
                d.key,
                d.target_id,
                d.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    }
    if !r.credentials_needed.is_empty() {
        out += "\nCredentials the target still needs:\n";
        for c in &r.credentials_needed {
            out += &format!("  {} {:?}: {}\n", c.kind, c.key, c.reason);
        }
    }
    for w in &r.warnings {
        out += &format!("warning: {w}\n");
    }
    if let Some(a) = &r.aborted {
        out += &format!("ABORTED: {a}\n");
    }
    out
}
