//! A job's own log lines: what the host logs inside a job's span (`ferry_job = ID`) goes to
//! that job's log, and to no other's. The front end adds [`layer`] to its subscriber; the
//! server, once started, takes the lines ([`take`]).

use std::sync::OnceLock;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A line: the job, its level, its text.
pub type Logged = (String, String, String);

/// Where lines go, and the receiver until the server takes it.
type Sink = (
    UnboundedSender<Logged>,
    std::sync::Mutex<Option<UnboundedReceiver<Logged>>>,
);

static SINK: OnceLock<Sink> = OnceLock::new();

fn sink() -> &'static Sink {
    SINK.get_or_init(|| {
        let (tx, rx) = unbounded_channel();
        (tx, std::sync::Mutex::new(Some(rx)))
    })
}

/// The lines logged in jobs' spans, for one taker (the server).
pub fn take() -> Option<UnboundedReceiver<Logged>> {
    sink().1.lock().ok()?.take()
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
        let _ = sink()
            .0
            .send((job, event.metadata().level().to_string(), f.message));
    }
}
