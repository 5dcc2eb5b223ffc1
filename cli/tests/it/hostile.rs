//! The hostile suite, from outside: crafted hooks, packages and servers against the `ferry`
//! binary, each asserting what must hold (a clear error, an exit code, bounded memory
//! measured from the child process) where the unguarded code crashed or ballooned.

use crate::support;
use crate::support::measure::measure;
use serde_json::json;

/// `ferry hook test` on a script, under measurement: (exit code, peak MiB, what it printed).
fn hook(script: &str) -> (i32, f64, String) {
    let dir = tempfile::tempdir().unwrap();
    let (path, input) = (dir.path().join("hook.rhai"), dir.path().join("in.json"));
    std::fs::write(&path, script).unwrap();
    std::fs::write(&input, json!({"name": "a"}).to_string()).unwrap();
    let mut c = support::ferry_command();
    c.args(["hook", "test"])
        .arg(&path)
        .args(["--kind", "thing", "--key-field", "/name", "--input"])
        .arg(&input);
    let log = dir.path().join("log");
    let cost = measure(c, &log);
    (
        cost.exit,
        cost.peak_mib,
        std::fs::read_to_string(&log).unwrap(),
    )
}

#[test]
fn a_hook_that_multiplies_a_string_stops_before_it_allocates() {
    // A 1 MiB string, every byte of it replaced by 4 KiB: a 4 GiB string if built.
    let setup = r#"let s = "x"; s.pad(1000000, "x"); let big = "y"; big.pad(4096, "y");"#;
    for (what, grow) in [
        ("replace_all", "res.body.out = replace_all(s, \"x\", big);"),
        ("replace", "s.replace(\"x\", big); res.body.out = s;"),
        ("replace", "s.replace('x', big); res.body.out = s;"),
        (
            "regex_replace",
            "res.body.out = regex_replace(s, \"x\", big);",
        ),
        (
            "regex_replace",
            "res.body.out = regex_replace(s, \"x+\", \"$0$0$0$0$0$0$0$0\");",
        ),
    ] {
        let script = format!("fn transform(ctx, res) {{ {setup} {grow} res }}");
        let (code, peak, out) = hook(&script);
        assert_eq!(code, 1, "{grow}: {out}");
        assert!(
            out.contains(&format!("{what} would build a string of"))
                && out.contains("1048576 bytes"),
            "{grow}: {out}"
        );
        assert!(peak < 400.0, "{grow}: peak {peak:.0} MiB");
    }
}
