//! The REST API under `/v1/`, and the OpenAPI document that describes it (generated from
//! these handlers and types by utoipa, served at `/v1/openapi.json`). Every error is
//! `{"error": {"code", "message"}}`; a request without a known token gets 401, a role that
//! may not gets 403.

use crate::auth::Role;
use crate::job::{Job, Line, Mode, Progress, Status, now};
use crate::runner::{Event, Server};
use crate::store::Doc;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{OpenApi, ToSchema};

type Shared = State<Arc<Server>>;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `finished`, `not_finished`,
    /// `not_ready`, `internal`
    pub code: String,
    pub message: String,
}

pub struct ApiError(StatusCode, &'static str, String);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError(status, code, message.into())
    }
    fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"))
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<anyhow::Error> for ApiError {
    /// A fault of the server's own: the log has the details (store paths, SQL), the client a
    /// reference to find them by.
    fn from(e: anyhow::Error) -> ApiError {
        let reference = format!("{:016x}", reference_number());
        tracing::error!(reference, "{e:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error; the server's log has it under reference {reference}"),
        )
    }
}

/// A random reference for an internal error (no crate for one number).
fn reference_number() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// A job id from the path. A path that does not decode (`/v1/jobs/%FF`) is refused with the
/// API's error shape, not axum's plain text.
pub struct JobId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Answer<JobId> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| JobId(id))
            .map_err(|e| ApiError::bad(format!("the job id in the path: {}", e.body_text())))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.1.into(),
                message: self.2,
            },
        };
        (self.0, Json(body)).into_response()
    }
}

type Answer<T> = Result<T, ApiError>;

/// Who calls: the token's name and role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    fn may(&self, role: Role, what: &str) -> Answer<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "{what} needs the {} role; token {:?} is {}",
                    role.name(),
                    self.name,
                    self.role.name()
                ),
            ))
        }
    }
}

impl FromRequestParts<Arc<Server>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, server: &Arc<Server>) -> Answer<Caller> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("no token: send Authorization: Bearer <token>"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))?;
        let t = crate::auth::find(&server.config.tokens, token)
            .ok_or_else(|| unauthorized("unknown token"))?;
        Ok(Caller {
            name: t.name.clone(),
            role: t.role,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// a promotion of the server's config (`GET /v1/promotions`)
    pub promotion: String,
    pub mode: Mode,
    /// for a restore: the id of a succeeded export job
    pub package: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<Job>,
    /// jobs matching the filter, in all pages
    pub total: usize,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// comma-separated statuses (any when absent)
    pub status: Option<String>,
    /// only jobs of this mode
    pub mode: Option<Mode>,
    pub offset: Option<usize>,
    /// at most 500 (default 50)
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionInfo {
    pub name: String,
    pub platform: String,
    pub source: String,
    pub target: String,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Promotions {
    pub promotions: Vec<PromotionInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogLines {
    pub lines: Vec<Line>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LogQuery {
    /// only lines after this number
    pub after: Option<i64>,
    /// the last N lines (default and most: 5000)
    pub tail: Option<usize>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ferry serve", description = "Promotions as jobs: start, watch, cancel, download."),
    paths(whoami, promotions, create_job, list_jobs, get_job, cancel_job, delete_job, job_plan, job_report, job_log, job_events, job_package),
    components(schemas(Job, Line, Mode, Status, Progress, NewJob, JobList, ErrorBody, ErrorDetail, Caller, Role, Promotions, PromotionInfo, LogLines)),
    modifiers(&BearerAuth),
    security(("token" = []))
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        api.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// How answers name an environment: `dev @ URL` (a URL never holds credentials: the
/// config refuses one that does).
fn describe(s: &Server, env: &str) -> String {
    let e = &s.config.environments[env];
    format!(
        "{env} @ {}",
        e.url.as_ref().map(|u| u.0.as_str()).unwrap_or("")
    )
}

/// The token's name and role.
#[utoipa::path(get, path = "/v1/whoami", responses((status = 200, body = Caller), (status = 401, body = ErrorBody)))]
pub async fn whoami(caller: Caller) -> Json<Caller> {
    Json(caller)
}

/// The promotions jobs can run.
#[utoipa::path(get, path = "/v1/promotions", responses((status = 200, body = Promotions), (status = 401, body = ErrorBody)))]
pub async fn promotions(State(s): Shared, _caller: Caller) -> Json<Promotions> {
    let describe = |env: &str| describe(&s, env);
    Json(Promotions {
        promotions: s
            .config
            .promotions
            .values()
            .map(|p| PromotionInfo {
                name: p.name.clone(),
                platform: p.platform.clone(),
                source: describe(&p.source),
                target: describe(&p.target),
                description: p.description.clone(),
            })
            .collect(),
    })
}

/// Start a job: it is queued, and runs once a slot and its target are free.
#[utoipa::path(post, path = "/v1/jobs", request_body = NewJob,
    responses((status = 201, body = Job), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_job(
    State(s): Shared,
    caller: Caller,
    body: Result<Json<NewJob>, axum::extract::rejection::JsonRejection>,
) -> Answer<(StatusCode, Json<Job>)> {
    caller.may(Role::Operator, "starting a job")?;
    let Json(new) = body.map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
    let p = s.config.promotions.get(&new.promotion).ok_or_else(|| {
        ApiError::bad(format!(
            "no promotion {:?} (there are: {})",
            new.promotion,
            s.config
                .promotions
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let from_export = match (new.mode, new.package) {
        (Mode::Restore, Some(id)) => {
            let export = s
                .store
                .get(&id)?
                .ok_or_else(|| ApiError::bad(format!("package: no job {id}")))?;
            if export.mode != Mode::Export || export.status != Status::Succeeded {
                return Err(ApiError::bad(format!(
                    "package: job {id} is not a succeeded export"
                )));
            }
            if s.config
                .promotions
                .get(&export.promotion)
                .map(|e| &e.platform)
                != Some(&p.platform)
            {
                return Err(ApiError::bad(format!(
                    "package: job {id} exported another platform"
                )));
            }
            Some(id)
        }
        (Mode::Restore, None) => {
            return Err(ApiError::bad(
                "a restore needs package: the id of an export job",
            ));
        }
        (_, Some(_)) => return Err(ApiError::bad("package is for restore jobs only")),
        (_, None) => None,
    };
    let describe = |env: &str| describe(&s, env);
    let source = match &from_export {
        Some(id) => format!("package of job {id}"),
        None => describe(&p.source),
    };
    let target = if new.mode == Mode::Export {
        "a package".into()
    } else {
        describe(&p.target)
    };
    let job = Job {
        id: ulid::Ulid::new().to_string(),
        promotion: p.name.clone(),
        mode: new.mode,
        status: Status::Queued,
        phase: "queued".into(),
        progress: Progress::default(),
        started_by: caller.name,
        created: now(),
        started: None,
        finished: None,
        source,
        target,
        counts: Default::default(),
        message: None,
        error: None,
        resumed: false,
        attempts: 0,
        from_export,
        package: None,
    };
    Ok((StatusCode::CREATED, Json(s.submit(job)?)))
}

/// The largest `offset` of a listing: what the store's integers hold.
const MAX_OFFSET: usize = i64::MAX as usize;

/// Jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", params(ListQuery), responses((status = 200, body = JobList), (status = 400, body = ErrorBody)))]
pub async fn list_jobs(
    State(s): Shared,
    _caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Answer<Json<JobList>> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    let mut statuses = Vec::new();
    for name in q
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        statuses.push(
            Status::parse(name)
                .ok_or_else(|| ApiError::bad(format!("status {name:?} is not a job status")))?,
        );
    }
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::bad(format!("offset: at most {MAX_OFFSET}")));
    }
    let (jobs, total) = s.store.list(
        &statuses,
        q.mode.map(Mode::name),
        offset,
        q.limit.unwrap_or(50).min(500),
    )?;
    Ok(Json(JobList { jobs, total }))
}

fn job_of(s: &Server, id: &str) -> Answer<Job> {
    s.store
        .get(id)?
        .ok_or_else(|| ApiError::not_found(&format!("job {id}")))
}

/// A job.
#[utoipa::path(get, path = "/v1/jobs/{id}", responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
pub async fn get_job(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Json<Job>> {
    Ok(Json(job_of(&s, &id)?))
}

/// Cancel a job: nothing new starts, what is in flight finishes, the report says what was done.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel",
    responses((status = 202, body = Job), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_job(
    State(s): Shared,
    caller: Caller,
    JobId(id): JobId,
) -> Answer<(StatusCode, Json<Job>)> {
    caller.may(Role::Operator, "cancelling a job")?;
    let job = job_of(&s, &id)?;
    match s.cancel(&id, &caller.name)? {
        Some(job) => Ok((StatusCode::ACCEPTED, Json(job))),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "finished",
            format!("job {id} has finished ({})", job.status.name()),
        )),
    }
}

/// Delete a finished job, its log, report and package.
#[utoipa::path(delete, path = "/v1/jobs/{id}",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_job(State(s): Shared, caller: Caller, JobId(id): JobId) -> Answer<StatusCode> {
    caller.may(Role::Admin, "deleting a job")?;
    let job = job_of(&s, &id)?;
    if !job.status.finished() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_finished",
            format!("job {id} is {}: cancel it first", job.status.name()),
        ));
    }
    s.store.delete(&id)?;
    let _ = std::fs::remove_file(s.package_path(&id));
    Ok(StatusCode::NO_CONTENT)
}

fn doc(s: &Server, id: &str, what: Doc, name: &str) -> Answer<Response> {
    let job = job_of(s, id)?;
    match s.store.doc(id, what)? {
        Some(json) => Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_ready",
            format!(
                "job {id} has no {name} yet ({}, {})",
                job.status.name(),
                job.phase
            ),
        )),
    }
}

/// The job's plan (the JSON report of a plan: what would be created, updated, adopted, and
/// the rewrites).
#[utoipa::path(get, path = "/v1/jobs/{id}/plan", responses((status = 200, description = "the plan's JSON report"), (status = 404, body = ErrorBody)))]
pub async fn job_plan(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Response> {
    doc(&s, &id, Doc::Plan, "plan")
}

/// The job's JSON report, once it finished (an export's: what its package holds).
#[utoipa::path(get, path = "/v1/jobs/{id}/report", responses((status = 200, description = "the JSON report"), (status = 404, body = ErrorBody)))]
pub async fn job_report(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Response> {
    doc(&s, &id, Doc::Report, "report")
}

/// The job's own log lines.
#[utoipa::path(get, path = "/v1/jobs/{id}/log", params(LogQuery), responses((status = 200, body = LogLines), (status = 404, body = ErrorBody)))]
pub async fn job_log(
    State(s): Shared,
    _caller: Caller,
    JobId(id): JobId,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Answer<Json<LogLines>> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    job_of(&s, &id)?;
    let lines = s
        .store
        .lines(&id, q.after.unwrap_or(0), q.tail.unwrap_or(5000).min(5000))?;
    Ok(Json(LogLines { lines }))
}

/// Server-sent events of the job: `job` (its record changed), `log` (a line), `end` (it
/// finished; the stream closes).
#[utoipa::path(get, path = "/v1/jobs/{id}/events", responses((status = 200, description = "text/event-stream"), (status = 404, body = ErrorBody)))]
pub async fn job_events(
    State(s): Shared,
    _caller: Caller,
    JobId(id): JobId,
) -> Answer<Sse<impl Stream<Item = Result<SseEvent, std::convert::Infallible>>>> {
    // Subscribe before reading the record: no change falls between the two.
    let rx = s.events.subscribe();
    let job = job_of(&s, &id)?;
    let first = if job.status.finished() {
        Event::End(job)
    } else {
        Event::Job(job)
    };
    let wanted = id.clone();
    let store = s.clone();
    let events = futures::stream::unfold(
        (Some(first), rx, false),
        move |(mut first, mut rx, ended)| {
            let (wanted, store) = (wanted.clone(), store.clone());
            async move {
                // The stream closes after the end event.
                if ended {
                    return None;
                }
                let e = match first.take() {
                    Some(e) => e,
                    None => loop {
                        match rx.recv().await {
                            Ok(e) if e.job_id() == wanted => break e,
                            Ok(_) => continue,
                            // A slow reader missed events, perhaps the end: it gets the record
                            // as it is now instead (ending the stream if it finished).
                            Err(RecvError::Lagged(_)) => match store.store.get(&wanted) {
                                Ok(Some(j)) if j.status.finished() => break Event::End(j),
                                Ok(Some(j)) => break Event::Job(j),
                                _ => return None,
                            },
                            Err(RecvError::Closed) => return None,
                        }
                    },
                };
                let end = matches!(e, Event::End(_));
                let (name, data) = match &e {
                    Event::Job(j) => ("job", serde_json::to_string(j)),
                    Event::End(j) => ("end", serde_json::to_string(j)),
                    Event::Log(_, l) => ("log", serde_json::to_string(l)),
                };
                let sse = SseEvent::default()
                    .event(name)
                    .data(data.unwrap_or_default());
                Some((Ok(sse), (None, rx, end)))
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// An export job's package, streamed.
#[utoipa::path(get, path = "/v1/jobs/{id}/package",
    responses((status = 200, description = "the package (application/octet-stream)"), (status = 404, body = ErrorBody)))]
pub async fn job_package(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Response> {
    let job = job_of(&s, &id)?;
    if job.mode != Mode::Export {
        return Err(ApiError::not_found(&format!(
            "package: job {id} is a {} job",
            job.mode.name()
        )));
    }
    if job.status != Status::Succeeded {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_ready",
            format!("job {id} has no package ({})", job.status.name()),
        ));
    }
    let file = tokio::fs::File::open(s.package_path(&id))
        .await
        .map_err(|e| anyhow::anyhow!("job {id}'s package: {e}"))?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        "application/octet-stream".parse().expect("a header"),
    );
    if let Ok(v) = format!("attachment; filename=\"{}-{id}.ferry\"", job.promotion).parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, len.into());
    }
    Ok(r)
}
