//! A job's own log lines: what the host logs inside a job's span (`ferry_job = ID`) goes to
//! that job's log, and to no other's. The front end adds [`layer`] to its subscriber; the
//! server, once started, takes the lines ([`take`]). Lines wait in a bounded queue: a job
//! that logs faster than the store keeps them loses lines, and its log says how many.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender, channel};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A line: the job, its level, its text.
pub type Logged = (String, String, String);

/// Lines that may wait for the store.
const QUEUE: usize = 10_000;

/// Where lines go, the receiver until the server takes it, and per job the lines dropped
/// since its last line went through.
struct Sink {
    tx: Sender<Logged>,
    rx: Mutex<Option<Receiver<Logged>>>,
    dropped: Mutex<HashMap<String, u64>>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

fn sink() -> &'static Sink {
    SINK.get_or_init(|| {
        let (tx, rx) = channel(QUEUE);
        Sink {
            tx,
            rx: Mutex::new(Some(rx)),
            dropped: Mutex::default(),
        }
    })
}

/// The lines logged in jobs' spans, for one taker (the server).
pub fn take() -> Option<Receiver<Logged>> {
    sink().rx.lock().ok()?.take()
}

/// Queue a job's line; when the queue is full, count it instead. The first line that goes
/// through after some were dropped is preceded by one that says how many.
fn send(job: String, level: String, message: String) {
    let s = sink();
    let Ok(mut dropped) = s.dropped.lock() else {
        return;
    };
    if let Some(n) = dropped.get(&job).copied() {
        let notice = (
            job.clone(),
            "WARN".to_string(),
            format!("{n} log lines dropped: the job logged faster than its log is kept"),
        );
        match s.tx.try_send(notice) {
            Ok(()) => {
                dropped.remove(&job);
            }
            Err(TrySendError::Full(_)) => {
                *dropped.entry(job).or_default() += 1;
                return;
            }
            Err(TrySendError::Closed(_)) => return,
        }
    }
    if let Err(TrySendError::Full((job, _, _))) = s.tx.try_send((job, level, message)) {
        *dropped.entry(job).or_default() += 1;
    }
}

/// The layer that routes jobs' events.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    JobLayer
}

struct JobLayer;

/// The job id a span carries.
struct JobId(String);

#[derive(Default)]
struct Fields {
    job: Option<String>,
    message: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "ferry_job" => self.job = Some(format!("{value:?}")),
            "message" => self.message = format!("{value:?}"),
            other => self.message += &format!(" {other}={value:?}"),
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "ferry_job" => self.job = Some(value.to_string()),
            "message" => self.message = value.to_string(),
            other => self.message += &format!(" {other}={value}"),
        }
    }
}

impl<S> Layer<S> for JobLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(job), Some(span)) = (f.job, ctx.span(id)) {
            span.extensions_mut().insert(JobId(job));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Each item's end: the job's own line says it, with the reason of a skip.
        if event.metadata().target() == "ferry::engine::apply"
            && *event.metadata().level() == tracing::Level::INFO
        {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let job = scope
            .from_root()
            .find_map(|s| s.extensions().get::<JobId>().map(|j| j.0.clone()));
        let Some(job) = job else {
            return;
        };
        let mut f = Fields::default();
        event.record(&mut f);
        send(job, event.metadata().level().to_string(), f.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_that_floods_its_log_loses_lines_and_says_how_many() {
        let mut rx = take().expect("the only taker in this process");
        let line = |i: usize| send("j1".into(), "INFO".into(), format!("line {i}"));
        (0..QUEUE + 5).for_each(line);
        // The queue held QUEUE lines; 5 were counted. Room for one: the notice takes it.
        assert_eq!(rx.try_recv().unwrap().2, "line 0");
        line(0);
        while let Ok(l) = rx.try_recv() {
            if l.2.contains("dropped") {
                assert_eq!(
                    l.2,
                    "5 log lines dropped: the job logged faster than its log is kept"
                );
                assert_eq!(l.1, "WARN");
                break;
            }
        }
        // The line that found the queue full after the notice is counted, and said next.
        while rx.try_recv().is_ok() {}
        line(1);
        let next: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|l| l.2)
            .collect();
        assert_eq!(
            next,
            [
                "1 log lines dropped: the job logged faster than its log is kept",
                "line 1"
            ]
        );
    }
}
