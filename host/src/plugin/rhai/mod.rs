//! The Rhai runtime: a locked-down engine for transform hooks and small cloners.
//!
//! Scripts run on a blocking thread (`spawn_blocking`) under an operation budget, a
//! wall-clock deadline checked by `on_progress`, and caps on string, array and map sizes,
//! call depth and expression depth. There is no `eval`, no `import` and no printing to
//! stdout. Hooks get only pure helpers; cloners also get the host's HTTP functions.

mod cloner;
mod decl;
mod helpers;
mod hook;
mod http;

pub use cloner::RhaiCloner;
pub use hook::RhaiHook;

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, EvalAltResult, ParseError, Position};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// The limits one script runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RhaiLimits {
    pub max_operations: u64,
    /// script execution time per call; time spent in host calls does not count
    pub cpu: Duration,
    pub max_string: usize,
    pub max_array: usize,
    pub max_map: usize,
}

impl RhaiLimits {
    /// Hooks: one resource in, one out; an infinite loop dies in a few tens of ms.
    pub const HOOK: RhaiLimits = RhaiLimits {
        max_operations: 1_000_000,
        cpu: Duration::from_millis(500),
        max_string: 1 << 20,
        max_array: 10_000,
        max_map: 10_000,
    };
    /// Cloners: whole listings pass through them.
    pub const CLONER: RhaiLimits = RhaiLimits {
        max_operations: 50_000_000,
        cpu: Duration::from_secs(30),
        max_string: 16 << 20,
        max_array: 200_000,
        max_map: 10_000,
    };
}

thread_local! {
    /// The deadline of the script running on this thread; `on_progress` reads it. Host calls
    /// push it forward by the time they take.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Set when the call that runs the script has ended (its wall-clock limit, a cancel, the
    /// caller gone): the script stops at its next operation, and sends nothing more.
    static STOP: std::cell::RefCell<Option<tokio_util::sync::CancellationToken>> =
        const { std::cell::RefCell::new(None) };
    /// The secrets the script's prints are masked with (a hook's resource's).
    static MASK: std::cell::RefCell<crate::redact::Secrets> =
        std::cell::RefCell::new(crate::redact::Secrets::default());
    /// What the call running on this thread may still print.
    static PRINTED: std::cell::RefCell<crate::plugin::log_budget::LogBudget> =
        std::cell::RefCell::new(Default::default());
}

/// What the script on this thread prints, capped and masked; `None` past its budget.
fn shown(s: &str) -> Option<String> {
    let line = cap(s);
    PRINTED
        .with(|p| p.borrow_mut().take(line.len()))
        .then(|| MASK.with(|m| m.borrow().mask(&line)))
}

/// Whether the call running on this thread has ended.
pub(crate) fn stopped() -> bool {
    STOP.with(|s| s.borrow().as_ref().is_some_and(|t| t.is_cancelled()))
}

/// Marks the script on this thread as running until `cpu` has elapsed; cleared on drop.
pub(crate) struct Budget;

impl Budget {
    pub(crate) fn start(cpu: Duration) -> Budget {
        DEADLINE.with(|d| d.set(Some(Instant::now() + cpu)));
        PRINTED.with(|p| *p.borrow_mut() = Default::default());
        Budget
    }

    /// Say how many prints the call dropped, if any.
    pub(crate) fn report(&self, script: &str) {
        PRINTED.with(|p| p.borrow().report(script));
    }
    /// The same, masking `secrets` in what the script prints.
    pub(crate) fn start_masking(cpu: Duration, secrets: &crate::redact::Secrets) -> Budget {
        MASK.with(|m| *m.borrow_mut() = secrets.clone());
        Budget::start(cpu)
    }
    /// The same, ended early when `stop` is cancelled.
    pub(crate) fn start_until(cpu: Duration, stop: tokio_util::sync::CancellationToken) -> Budget {
        STOP.with(|s| *s.borrow_mut() = Some(stop));
        Budget::start(cpu)
    }
    /// Credit time spent in a host call back to the script.
    pub(crate) fn credit(since: Instant) {
        DEADLINE.with(|d| d.set(d.get().map(|t| t + since.elapsed())));
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
        STOP.with(|s| *s.borrow_mut() = None);
        MASK.with(|m| *m.borrow_mut() = crate::redact::Secrets::default());
    }
}

/// The value `on_progress` returns to stop a script that ran out of time.
const OUT_OF_TIME: &str = "ferry: out of time";

/// A sandboxed engine: the standard library, the pure helpers, and nothing else.
pub(crate) fn engine(limits: &RhaiLimits, origin: &str) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(32)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(limits.max_string)
        .set_max_array_size(limits.max_array)
        .set_max_map_size(limits.max_map)
        .set_max_variables(1_000)
        .set_max_functions(500)
        .set_max_modules(0)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true);
    engine.disable_symbol("eval");
    engine.on_progress(|_| {
        let over = DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t));
        (over || stopped()).then(|| Dynamic::from(OUT_OF_TIME))
    });
    let (p, d) = (origin.to_string(), origin.to_string());
    engine.on_print(move |s| {
        if let Some(s) = shown(s) {
            tracing::info!(script = %p, "{s}")
        }
    });
    engine.on_debug(move |s, _, pos| {
        if let Some(s) = shown(s) {
            tracing::debug!(script = %d, "{pos}: {s}")
        }
    });
    helpers::register(&mut engine, limits.max_string);
    engine
}

fn cap(s: &str) -> String {
    s.chars().take(4096).collect()
}

/// "script.rhai line 3, column 7: ..." for a syntax error.
pub(crate) fn syntax_error(origin: &str, e: &ParseError) -> String {
    format!(
        "{origin}{}: syntax error: {}",
        at(e.position()),
        e.err_type()
    )
}

fn at(pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!(" line {l}, column {c}"),
        (Some(l), None) => format!(" line {l}"),
        _ => String::new(),
    }
}

/// How a script failed, in the words of the limit or the script.
pub(crate) enum ScriptFailure {
    Limit(String),
    Error(String),
}

pub(crate) fn classify(e: &EvalAltResult, limits: &RhaiLimits) -> ScriptFailure {
    use EvalAltResult as E;
    let mut e = e;
    // A failure inside a script function arrives wrapped; the cause is what matters.
    while let E::ErrorInFunctionCall(_, _, inner, _) = e {
        e = inner;
    }
    match e {
        E::ErrorTooManyOperations(_) => {
            ScriptFailure::Limit(format!("{} operations", limits.max_operations))
        }
        E::ErrorTerminated(_, _) => {
            ScriptFailure::Limit(format!("time of {} ms", limits.cpu.as_millis()))
        }
        E::ErrorDataTooLarge(what, _) => ScriptFailure::Limit(format!(
            "size ({what}: strings {} bytes, arrays {} items, maps {} entries)",
            limits.max_string, limits.max_array, limits.max_map
        )),
        E::ErrorStackOverflow(_) => ScriptFailure::Limit("call depth of 32".into()),
        E::ErrorTooManyVariables(_) => ScriptFailure::Limit("1000 variables".into()),
        E::ErrorRuntime(v, pos) => ScriptFailure::Error(format!(
            "{}{}",
            if v.is_string() {
                v.clone().into_string().unwrap_or_default()
            } else {
                v.to_string()
            },
            at(*pos)
        )),
        other => ScriptFailure::Error(other.to_string()),
    }
}
