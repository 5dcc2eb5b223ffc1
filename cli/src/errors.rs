//! Errors as the command line tells them: the library names settings in backquotes
//! (`` `prune.allow_delete` ``), the CLI says its flag; the error's kind decides the exit code.

use ferry::ErrorKind;

/// The flag that sets each setting the library's messages name.
const FLAGS: &[(&str, &str)] = &[
    ("prune.allow_delete", "--allow-delete"),
    ("prune.allow_empty", "--allow-empty"),
    ("prune.max_deletes", "--max-deletes"),
    ("prune", "--prune"),
    ("select_tag", "--select-tag"),
    ("select", "--select"),
    ("on_name_conflict", "--on-name-conflict"),
    ("kind_plugin", "--kind-plugin"),
    ("plugins", "--plugins"),
    ("verify", "--verify"),
    ("require_signature", "--require-signature"),
    ("lock_wait", "--lock-wait"),
    ("platform", "--platform"),
    ("max_list_items", "--max-list-items"),
    ("max_list_bytes", "--max-list-bytes"),
    ("max_file_size", "--max-file-size"),
    ("source.url", "--source-url"),
    ("target.url", "--target-url"),
    ("source.params", "--source-param"),
    ("target.params", "--target-param"),
];

/// A message with each setting it names given as its flag (proved by the prune guards'
/// tests in tests/it: `--allow-delete 1`, `--allow-empty`).
pub(crate) fn say(message: &str) -> String {
    let mut out = message.to_string();
    for (setting, flag) in FLAGS {
        out = out.replace(&format!("`{setting}`"), flag);
    }
    out
}

/// An error's whole message, as `say` puts it.
pub(crate) fn text(e: &anyhow::Error) -> String {
    say(&format!("{e:#}"))
}

/// The run stopped as a plan stops it (a conflict, a reference, a prune guard, a held
/// target): exit 1, not the 2 of bad usage.
pub(crate) fn stopped_by_plan(e: &anyhow::Error) -> bool {
    matches!(
        ferry::Error::kind_of(e),
        Some(ErrorKind::Plan | ErrorKind::Locked)
    )
}
