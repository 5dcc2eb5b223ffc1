//! Rollouts: one promotion to many targets, in waves, within a failure budget.
//!
//! A vendor with one org per customer, or a platform team going QA, canary PROD, then the
//! rest, promotes one baseline to many targets. This module is the front-end neutral part:
//! the `[rollout]` table (`waves`, `max_failures`, `parallel`, `pause_between_waves`), how
//! the targets split into waves, and the runner that starts a wave only when the previous one
//! ended within the budget, stops starting targets as soon as the budget is spent, and leaves
//! the rest untouched. What running one target means (a restore from the package the source
//! was exported to once) is the front end's closure.

use futures::StreamExt;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
/// What stops a rollout (front ends hold one to cancel it).
pub use tokio_util::sync::CancellationToken;

/// The most targets one rollout takes: a file or a glob that names more is a mistake to catch,
/// not a loop to run.
pub const MAX_TARGETS: usize = 10_000;
/// The most targets run at once within a wave.
pub const MAX_PARALLEL: usize = 256;

/// A wave's size: a count, a share of all targets (`"10%"`), or `"rest"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaveSize {
    Count(usize),
    /// a percentage, 0 < p <= 100
    Share(f64),
    Rest,
}

/// How many targets may fail before the rollout stops: a count, or a share of all targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    Count(usize),
    Share(f64),
}

impl Default for Budget {
    fn default() -> Self {
        Budget::Count(0)
    }
}

impl Budget {
    /// The failures allowed among `total` targets (a share rounds down).
    pub fn allowed(&self, total: usize) -> usize {
        match *self {
            Budget::Count(n) => n,
            Budget::Share(p) => ((total as f64) * p / 100.0).floor() as usize,
        }
    }
}

/// `[rollout]` in a promotion file (and a job server's promotion).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutToml {
    /// default: one wave of every target
    #[serde(default = "one_wave")]
    pub waves: Vec<WaveSize>,
    #[serde(default)]
    pub max_failures: Budget,
    /// targets run at once within a wave (default 1)
    #[serde(default = "one")]
    pub parallel: usize,
    /// a wait between waves: `"5m"`, `"30s"`
    #[serde(default, deserialize_with = "duration")]
    pub pause_between_waves: Option<Duration>,
    /// a person approves each next wave (the job server; the CLI refuses it)
    #[serde(default)]
    pub approve_between_waves: bool,
}

impl Default for RolloutToml {
    fn default() -> Self {
        RolloutToml {
            waves: one_wave(),
            max_failures: Budget::default(),
            parallel: 1,
            pause_between_waves: None,
            approve_between_waves: false,
        }
    }
}

fn one_wave() -> Vec<WaveSize> {
    vec![WaveSize::Rest]
}

fn one() -> usize {
    1
}

/// A size or share as TOML gives it: an integer, or a string `"N%"` (and `"rest"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Int(i64),
    Text(String),
}

fn share(s: &str) -> Option<f64> {
    let p: f64 = s.strip_suffix('%')?.trim().parse().ok()?;
    (p > 0.0 && p <= 100.0).then_some(p)
}

impl<'de> Deserialize<'de> for WaveSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Raw::deserialize(d)? {
            Raw::Int(n) if n > 0 => Ok(WaveSize::Count(n as usize)),
            Raw::Int(n) => Err(D::Error::custom(format!(
                "a wave of {n} targets: a size is at least 1"
            ))),
            Raw::Text(s) if s == "rest" => Ok(WaveSize::Rest),
            Raw::Text(s) => share(&s).map(WaveSize::Share).ok_or_else(|| {
                D::Error::custom(format!(
                    "wave {s:?}: a count (3), a share (\"10%\", at most 100) or \"rest\""
                ))
            }),
        }
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Raw::deserialize(d)? {
            Raw::Int(n) if n >= 0 => Ok(Budget::Count(n as usize)),
            Raw::Int(n) => Err(D::Error::custom(format!(
                "max_failures {n}: a count (0 or more) or a share (\"10%\")"
            ))),
            Raw::Text(s) => share(&s).map(Budget::Share).ok_or_else(|| {
                D::Error::custom(format!(
                    "max_failures {s:?}: a count (0 or more) or a share (\"10%\")"
                ))
            }),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map(Some)
        .map_err(|e| D::Error::custom(format!("pause_between_waves {s:?}: {e} (say \"5m\")")))
}

impl RolloutToml {
    /// What a rollout must hold before it starts (the CLI: no approvals).
    pub fn check(&self, total: usize) -> Result<(), String> {
        if total == 0 {
            return Err("a rollout needs at least one target ([[targets]])".into());
        }
        if total > MAX_TARGETS {
            return Err(format!(
                "{total} targets: a rollout takes at most {MAX_TARGETS}"
            ));
        }
        if !(1..=MAX_PARALLEL).contains(&self.parallel) {
            return Err(format!(
                "parallel = {}: between 1 and {MAX_PARALLEL}",
                self.parallel
            ));
        }
        waves(total, &self.waves).map(|_| ())
    }
}

/// The targets `0..total`, in waves: each size takes its count or share (at least one) of
/// what is left, `"rest"` (last only) all of it; targets the sizes leave over are one more
/// wave.
pub fn waves(total: usize, sizes: &[WaveSize]) -> Result<Vec<Range<usize>>, String> {
    if let Some(i) = sizes.iter().position(|s| *s == WaveSize::Rest)
        && i + 1 != sizes.len()
    {
        return Err(format!(
            "waves: \"rest\" is wave {} of {}: it can only be the last",
            i + 1,
            sizes.len()
        ));
    }
    let mut out = vec![];
    let mut at = 0;
    for size in sizes {
        if at == total {
            break;
        }
        let n = match *size {
            WaveSize::Count(n) => n,
            WaveSize::Share(p) => ((total as f64) * p / 100.0).ceil().max(1.0) as usize,
            WaveSize::Rest => total - at,
        };
        let end = (at + n).min(total);
        out.push(at..end);
        at = end;
    }
    if at < total {
        out.push(at..total);
    }
    Ok(out)
}

/// How a target's run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Succeeded,
    Failed,
    /// not started: the budget was spent, or the rollout was cancelled, before its turn
    NotStarted,
}

/// What one target's run did, as its front end counts it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub adopted: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetReport {
    pub name: String,
    /// 1-based
    pub wave: usize,
    pub status: Status,
    /// why it failed, or why it did not start
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// succeeded in an earlier run of this rollout (`--resume`): not run again
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub earlier: bool,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub succeeded: usize,
    pub failed: usize,
    pub not_started: usize,
}

/// A rollout's report: each target by wave, the counts, and why it stopped if it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutReport {
    pub targets: Vec<TargetReport>,
    pub waves: usize,
    pub counts: Tally,
    /// the failures allowed
    pub budget: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub duration_ms: u64,
}

impl RolloutReport {
    /// Every target succeeded.
    pub fn complete(&self) -> bool {
        self.counts.succeeded == self.targets.len()
    }

    /// The names that succeeded: what a resume leaves alone.
    pub fn succeeded(&self) -> BTreeSet<String> {
        self.targets
            .iter()
            .filter(|t| t.status == Status::Succeeded)
            .map(|t| t.name.clone())
            .collect()
    }
}

/// Run `run_one(i)` for each target `i` of `names`, wave by wave, `parallel` at once, within
/// the budget. Targets in `earlier` (a previous run's successes) are not run again and do not
/// count against the budget. `on_done` hears of each target as it ends. Cancelling stops
/// starting targets; what runs is the closure's to stop (it is given the token).
pub async fn run<F, Fut>(
    names: &[String],
    spec: &RolloutToml,
    earlier: &BTreeSet<String>,
    cancel: &CancellationToken,
    run_one: F,
    on_done: &(dyn Fn(&TargetReport) + Sync),
) -> Result<RolloutReport, String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<Counts, String>>,
{
    spec.check(names.len())?;
    let started = Instant::now();
    let waves = waves(names.len(), &spec.waves)?;
    let budget = spec.max_failures.allowed(names.len());
    let failures = AtomicUsize::new(0);
    let spent = AtomicBool::new(false);
    let mut targets: Vec<Option<TargetReport>> = vec![None; names.len()];
    let mut stopped = None;
    for (w, range) in waves.iter().enumerate() {
        let wave = w + 1;
        if stopped.is_none()
            && w > 0
            && let Some(pause) = spec.pause_between_waves
        {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => {}
            }
        }
        if stopped.is_none() && cancel.is_cancelled() {
            stopped = Some(format!("cancelled before wave {wave}"));
        }
        if let Some(why) = &stopped {
            for i in range.clone() {
                targets[i] = Some(not_started(&names[i], wave, earlier, why));
            }
            continue;
        }
        // Each target's report with its index: they end in any order.
        let ended: Vec<(usize, TargetReport)> = futures::stream::iter(range.clone())
            .map(|i| {
                let (spent, failures, run_one) = (&spent, &failures, &run_one);
                let ran = async move {
                    let name = &names[i];
                    if earlier.contains(name) {
                        return left_alone(name, wave);
                    }
                    if spent.load(Ordering::SeqCst) || cancel.is_cancelled() {
                        let why = if cancel.is_cancelled() {
                            "the rollout was cancelled"
                        } else {
                            "the failure budget was spent"
                        };
                        return not_started(name, wave, earlier, why);
                    }
                    let t = Instant::now();
                    let result = run_one(i).await;
                    let ms = t.elapsed().as_millis() as u64;
                    match result {
                        Ok(c) if c.failed == 0 => {
                            report(name, wave, Status::Succeeded, None, Some(c), ms)
                        }
                        other => {
                            if failures.fetch_add(1, Ordering::SeqCst) + 1 > budget {
                                spent.store(true, Ordering::SeqCst);
                            }
                            let (reason, counts) = match other {
                                Ok(c) => (format!("{} item(s) failed", c.failed), Some(c)),
                                Err(e) => (e, None),
                            };
                            report(name, wave, Status::Failed, Some(reason), counts, ms)
                        }
                    }
                };
                async move { (i, ran.await) }
            })
            .buffer_unordered(spec.parallel)
            .inspect(|(_, t)| on_done(t))
            .collect()
            .await;
        for (i, t) in ended {
            targets[i] = Some(t);
        }
        let failed = failures.load(Ordering::SeqCst);
        if failed > budget {
            stopped = Some(format!(
                "{failed} target(s) failed, over the budget of {budget}: stopped after wave {wave} of {}",
                waves.len()
            ));
        } else if cancel.is_cancelled() {
            stopped = Some(format!("cancelled during wave {wave}"));
        }
    }
    let targets: Vec<TargetReport> = targets
        .into_iter()
        .map(|t| t.expect("every target"))
        .collect();
    let count = |s: Status| targets.iter().filter(|t| t.status == s).count();
    Ok(RolloutReport {
        counts: Tally {
            succeeded: count(Status::Succeeded),
            failed: count(Status::Failed),
            not_started: count(Status::NotStarted),
        },
        waves: waves.len(),
        targets,
        budget,
        stopped,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

fn report(
    name: &str,
    wave: usize,
    status: Status,
    reason: Option<String>,
    counts: Option<Counts>,
    duration_ms: u64,
) -> TargetReport {
    TargetReport {
        name: name.to_string(),
        wave,
        status,
        reason,
        counts,
        earlier: false,
        duration_ms,
    }
}

/// A target that succeeded in an earlier run: not run again.
fn left_alone(name: &str, wave: usize) -> TargetReport {
    TargetReport {
        earlier: true,
        ..report(name, wave, Status::Succeeded, None, None, 0)
    }
}

/// A target the rollout did not reach; one that succeeded earlier stays so.
fn not_started(name: &str, wave: usize, earlier: &BTreeSet<String>, why: &str) -> TargetReport {
    if earlier.contains(name) {
        return left_alone(name, wave);
    }
    report(
        name,
        wave,
        Status::NotStarted,
        Some(why.to_string()),
        None,
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn spec(text: &str) -> RolloutToml {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn waves_take_counts_shares_and_the_rest() {
        let s = spec("waves = [1, \"25%\", \"rest\"]");
        assert_eq!(waves(12, &s.waves).unwrap(), vec![0..1, 1..4, 4..12]);
        // Sizes that leave targets over: one more wave; sizes past the end: fewer waves.
        assert_eq!(
            waves(5, &spec("waves = [1, 2]").waves).unwrap(),
            vec![0..1, 1..3, 3..5]
        );
        assert_eq!(
            waves(2, &spec("waves = [1, 3, 4]").waves).unwrap(),
            vec![0..1, 1..2]
        );
        assert!(
            waves(5, &spec("waves = [\"rest\", 1]").waves)
                .unwrap_err()
                .contains("only be the last")
        );
        for bad in [
            "waves = [0]",
            "waves = [\"0%\"]",
            "waves = [\"most\"]",
            "max_failures = -1",
        ] {
            assert!(toml::from_str::<RolloutToml>(bad).is_err(), "{bad}");
        }
        assert_eq!(spec("max_failures = \"10%\"").max_failures.allowed(25), 2);
        assert_eq!(
            spec("pause_between_waves = \"2m\"").pause_between_waves,
            Some(Duration::from_secs(120))
        );
    }

    /// Run `names` with `fails` failing; the order each target started in.
    async fn go(
        text: &str,
        names: &[&str],
        fails: &[&str],
        earlier: &[&str],
    ) -> (RolloutReport, Vec<String>) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let earlier: BTreeSet<String> = earlier.iter().map(|s| s.to_string()).collect();
        let ran = Mutex::new(vec![]);
        let r = run(
            &names,
            &spec(text),
            &earlier,
            &CancellationToken::new(),
            |i| {
                let name = names[i].clone();
                ran.lock().unwrap().push(name.clone());
                let fail = fails.contains(&name.as_str());
                async move {
                    if fail {
                        Err(format!("{name} refused"))
                    } else {
                        Ok(Counts {
                            created: 1,
                            ..Counts::default()
                        })
                    }
                }
            },
            &|_| {},
        )
        .await
        .unwrap();
        (r, ran.into_inner().unwrap())
    }

    #[tokio::test]
    async fn the_budget_holds_and_past_it_the_rest_is_untouched() {
        let all = ["a", "b", "c", "d", "e", "f"];
        // One failure allowed: it happens in wave 2, the rollout goes on.
        let (r, ran) = go(
            "waves = [1, 2, \"rest\"]\nmax_failures = 1",
            &all,
            &["c"],
            &[],
        )
        .await;
        assert_eq!(ran.len(), 6);
        assert_eq!(
            r.counts,
            Tally {
                succeeded: 5,
                failed: 1,
                not_started: 0
            }
        );
        assert_eq!(r.stopped, None);
        let c = r.targets.iter().find(|t| t.name == "c").unwrap();
        assert_eq!((c.wave, c.reason.as_deref()), (2, Some("c refused")));
        // None allowed: wave 2 fails, wave 3 never starts.
        let (r, ran) = go("waves = [1, 2, \"rest\"]", &all, &["c"], &[]).await;
        assert_eq!(ran, ["a", "b", "c"]);
        assert_eq!(
            r.counts,
            Tally {
                succeeded: 2,
                failed: 1,
                not_started: 3
            }
        );
        assert!(
            r.stopped.as_deref().unwrap().contains("after wave 2 of 3"),
            "{r:?}"
        );
        // Within a wave run one at a time, the budget stops the next start too.
        let (r, ran) = go("waves = [\"rest\"]", &all, &["b"], &[]).await;
        assert_eq!(ran, ["a", "b"]);
        assert_eq!(r.counts.not_started, 4);
    }

    #[tokio::test]
    async fn a_resume_leaves_what_succeeded_alone() {
        let all = ["a", "b", "c", "d"];
        let (r, ran) = go("waves = [2, \"rest\"]", &all, &[], &["a", "b", "d"]).await;
        assert_eq!(ran, ["c"]);
        assert!(r.complete());
        assert!(r.targets.iter().filter(|t| t.earlier).count() == 3);
    }
}
