//! The REST API under `/v1/`, and the OpenAPI document that describes it (generated from
//! these handlers and types by utoipa, served at `/v1/openapi.json`). Every error is
//! `{"error": {"code", "message"}}`; a request without a known token gets 401, a role that
//! may not gets 403.

mod doc;
mod error;

pub use doc::document;
pub use error::{Answer, ApiError, ErrorBody, ErrorCode, ErrorDetail};

use crate::auth::Role;
use crate::job::{ApprovalState, Decision, Job, Line, Mode, Progress, Status, Verdict, now};
use crate::runner::{Event, Server};
use crate::store::Doc;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

type Shared = State<Arc<Server>>;

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
                ErrorCode::Forbidden,
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
        let unauthorized =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, m);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("no token: send Authorization: Bearer <token>"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))?;
        let tokens = server.tokens();
        let t = crate::auth::find(&tokens, token).ok_or_else(|| unauthorized("unknown token"))?;
        Ok(Caller {
            name: t.name.clone(),
            role: t.role,
        })
    }
}

/// A job to start. The document states it exactly (`document`): the server's promotions as an
/// enum, and `package` for a restore only.
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

/// The most jobs a page of `GET /v1/jobs` holds.
const MAX_LIMIT: u64 = 500;
/// The largest `offset` of a listing, and `after` of a log: what the store's integers hold.
const MAX_STORE_INT: u64 = i64::MAX as u64;
/// The most lines `GET /v1/jobs/{id}/log` answers.
const MAX_TAIL: u64 = 5000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// statuses, comma-separated (any when absent)
    #[param(value_type = Vec<Status>, required = false, style = Form, explode = false, min_items = 1)]
    pub status: Option<String>,
    /// only jobs of this mode
    #[param(value_type = Mode, required = false)]
    pub mode: Option<Mode>,
    /// jobs to skip (default 0)
    #[param(value_type = u64, required = false, minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
    /// jobs in the page (default 50)
    #[param(value_type = u64, required = false, minimum = 0, maximum = 500)]
    pub limit: Option<u64>,
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
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// only lines after this number (default 0)
    #[param(value_type = u64, required = false, minimum = 0, maximum = 9223372036854775807_u64)]
    pub after: Option<u64>,
    /// the last N lines (default and most: 5000)
    #[param(value_type = u64, required = false, minimum = 0, maximum = 5000)]
    pub tail: Option<u64>,
}

/// `value`, or `default` when absent; a value over `max` is refused, naming the parameter.
fn bounded(name: &str, value: Option<u64>, default: u64, max: u64) -> Answer<u64> {
    match value {
        Some(v) if v > max => Err(ApiError::bad(format!("{name}: at most {max}, not {v}"))),
        v => Ok(v.unwrap_or(default)),
    }
}

pub async fn openapi(State(s): Shared) -> impl IntoResponse {
    Json(document(&s.config))
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
#[utoipa::path(get, path = "/v1/whoami", responses((status = 200, body = Caller)))]
pub async fn whoami(caller: Caller) -> Json<Caller> {
    Json(caller)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reloaded {
    /// the tokens the server takes now
    pub tokens: usize,
}

/// Read the server's file again and take its tokens (as SIGHUP does): a rotated or deleted
/// token stops working without a restart. A file that does not read or check changes
/// nothing.
#[utoipa::path(post, path = "/v1/admin/reload",
    responses((status = 200, body = Reloaded),
        (status = 403, body = ErrorBody, description = "the token is not an admin's"),
        (status = 409, body = ErrorBody, description = "the file does not read or check; the tokens are as they were (`config_invalid`)")))]
pub async fn reload(State(s): Shared, caller: Caller) -> Answer<Json<Reloaded>> {
    caller.may(Role::Admin, "reloading the tokens")?;
    let tokens = s
        .reload_tokens()
        .map_err(|e| ApiError::conflict(ErrorCode::ConfigInvalid, format!("{e:#}")))?;
    Ok(Json(Reloaded { tokens }))
}

/// The promotions jobs can run.
#[utoipa::path(get, path = "/v1/promotions", responses((status = 200, body = Promotions)))]
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
    responses((status = 201, body = Job),
        (status = 403, body = ErrorBody, description = "the token may not start jobs"),
        (status = 404, body = ErrorBody, description = "a restore's `package` names no job"),
        (status = 409, body = ErrorBody, description = "a restore's `package` is not a succeeded export of the promotion's platform (`package_unusable`)")))]
pub async fn create_job(
    State(s): Shared,
    caller: Caller,
    body: Result<Json<NewJob>, JsonRejection>,
) -> Answer<(StatusCode, Json<Job>)> {
    caller.may(Role::Operator, "starting a job")?;
    let Json(new) = body?;
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
                .ok_or_else(|| ApiError::not_found(&format!("job {id} (the restore's package)")))?;
            let unusable = |why: &str| {
                ApiError::conflict(
                    ErrorCode::PackageUnusable,
                    format!("package: job {id} {why}"),
                )
            };
            if export.mode != Mode::Export || export.status != Status::Succeeded {
                return Err(unusable("is not a succeeded export"));
            }
            if s.config
                .promotions
                .get(&export.promotion)
                .map(|e| &e.platform)
                != Some(&p.platform)
            {
                return Err(unusable("exported another platform"));
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
    // A job that writes, of a promotion that asks for approval, applies only an approved plan.
    let approval = match (new.mode, &p.approval) {
        (Mode::Clone | Mode::Restore, Some(a)) => Some(ApprovalState {
            needed: a.describe(),
            count: a.count,
            ..Default::default()
        }),
        _ => None,
    };
    let job = Job {
        from_export,
        approval,
        ..Job::queued(p.name.clone(), new.mode, caller.name, source, target)
    };
    Ok((StatusCode::CREATED, Json(s.submit(job)?)))
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", params(ListQuery), responses((status = 200, body = JobList)))]
pub async fn list_jobs(
    State(s): Shared,
    _caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Answer<Json<JobList>> {
    let Query(q) = q?;
    // Exactly what the document says: one status or more, comma-separated, no blanks.
    let mut statuses = Vec::new();
    for name in q.status.iter().flat_map(|s| s.split(',')) {
        statuses.push(Status::parse(name).ok_or_else(|| {
            ApiError::bad(format!(
                "status: {name:?} is not a job status (one or more of queued, running, \
                 succeeded, failed, cancelling, cancelled, comma-separated)"
            ))
        })?);
    }
    let offset = bounded("offset", q.offset, 0, MAX_STORE_INT)?;
    let limit = bounded("limit", q.limit, 50, MAX_LIMIT)?;
    let (jobs, total) = s.store.list(
        &statuses,
        q.mode.map(Mode::name),
        offset as usize,
        limit as usize,
    )?;
    Ok(Json(JobList { jobs, total }))
}

fn job_of(s: &Server, id: &str) -> Answer<Job> {
    s.store
        .get(id)?
        .ok_or_else(|| ApiError::not_found(&format!("job {id}")))
}

/// A job.
#[utoipa::path(get, path = "/v1/jobs/{id}", responses((status = 200, body = Job)))]
pub async fn get_job(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Json<Job>> {
    Ok(Json(job_of(&s, &id)?))
}

/// Cancel a job: nothing new starts, what is in flight finishes, the report says what was done.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel",
    responses((status = 202, body = Job),
        (status = 403, body = ErrorBody, description = "the token may not cancel jobs"),
        (status = 409, body = ErrorBody, description = "the job has finished (`finished`)")))]
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
            ErrorCode::Finished,
            format!("job {id} has finished ({})", job.status.name()),
        )),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// the digest of the plan approved, as the job shows it (`approval.digest`): an approval
    /// holds for that plan only
    pub digest: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    /// why, for the job's record and log
    #[serde(default)]
    pub reason: Option<String>,
}

/// Approve the plan a job awaits approval of. Once the promotion's count of approvals of
/// that plan is in, the job is queued; before it writes it plans again, and applies only
/// if the plan is the same (else it awaits approval of the new one).
#[utoipa::path(post, path = "/v1/jobs/{id}/approve", request_body = Approve,
    responses((status = 200, body = Job),
        (status = 403, body = ErrorBody, description = "the token may not approve this promotion's plans, or started the job"),
        (status = 409, body = ErrorBody, description = "the job awaits no approval (`not_awaiting_approval`), the digest is not the plan's (`digest_mismatch`), or this token approved it already (`already_decided`)")))]
pub async fn approve_job(
    State(s): Shared,
    caller: Caller,
    JobId(id): JobId,
    body: Result<Json<Approve>, JsonRejection>,
) -> Answer<Json<Job>> {
    let Json(a) = body?;
    decide(&s, &caller, &id, Verdict::Approved, Some(a.digest), None).map(Json)
}

/// Reject the plan a job awaits approval of: the job ends, cancelled, saying who and why.
#[utoipa::path(post, path = "/v1/jobs/{id}/reject", request_body = Reject,
    responses((status = 200, body = Job),
        (status = 403, body = ErrorBody, description = "the token may not decide on this promotion's plans"),
        (status = 409, body = ErrorBody, description = "the job awaits no approval (`not_awaiting_approval`)")))]
pub async fn reject_job(
    State(s): Shared,
    caller: Caller,
    JobId(id): JobId,
    body: Result<Json<Reject>, JsonRejection>,
) -> Answer<Json<Job>> {
    let Json(r) = body?;
    decide(&s, &caller, &id, Verdict::Rejected, None, r.reason).map(Json)
}

/// A decision on the plan job `id` awaits approval of, checked and recorded.
fn decide(
    s: &Server,
    caller: &Caller,
    id: &str,
    verdict: Verdict,
    digest: Option<String>,
    reason: Option<String>,
) -> Answer<Job> {
    let job = job_of(s, id)?;
    let rule = s
        .config
        .promotions
        .get(&job.promotion)
        .and_then(|p| p.approval.clone());
    let (Some(rule), Some(_)) = (rule, &job.approval) else {
        return Err(ApiError::conflict(
            ErrorCode::NotAwaitingApproval,
            format!("job {id}: its promotion asks for no approval"),
        ));
    };
    let what = match verdict {
        Verdict::Approved => "approving",
        Verdict::Rejected => "rejecting",
    };
    if !rule.allows(&caller.name, caller.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "{what} job {id}'s plan needs {}; token {:?} is {}",
                rule.describe(),
                caller.name,
                caller.role.name()
            ),
        ));
    }
    if verdict == Verdict::Approved && caller.name == job.started_by {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "token {:?} started job {id}: another must approve it",
                caller.name
            ),
        ));
    }
    let changed = s.change(id, |job| {
        let (status, name) = (job.status, job.status.name());
        let a = job.approval.as_mut().expect("checked above");
        let awaited = a.digest.clone().unwrap_or_default();
        if status != Status::AwaitingApproval {
            return Err(ApiError::conflict(
                ErrorCode::NotAwaitingApproval,
                format!("job {id} is {name}: it awaits no approval"),
            ));
        }
        if verdict == Verdict::Approved {
            let given = digest.clone().unwrap_or_default();
            if given != awaited {
                return Err(ApiError::conflict(
                    ErrorCode::DigestMismatch,
                    format!(
                        "job {id} awaits approval of {awaited}, not {given}: read its plan again (GET /v1/jobs/{id}/plan)"
                    ),
                ));
            }
            if a.decisions.iter().any(|d| {
                d.by == caller.name && d.digest == awaited && d.verdict == Verdict::Approved
            }) {
                return Err(ApiError::conflict(
                    ErrorCode::AlreadyDecided,
                    format!("token {:?} approved this plan already", caller.name),
                ));
            }
        }
        a.decisions.push(Decision {
            by: caller.name.clone(),
            at: now(),
            digest: awaited.clone(),
            verdict,
            reason: reason.clone(),
        });
        match verdict {
            Verdict::Approved if a.approvals() >= a.count as usize => {
                a.approved = Some(awaited);
                job.status = Status::Queued;
                job.phase = "queued".into();
            }
            Verdict::Approved => {}
            Verdict::Rejected => {
                job.status = Status::Cancelled;
                job.phase = "done".into();
                job.finished = Some(now());
                job.message = Some(match &reason {
                    Some(r) => format!("rejected by {}: {r}", caller.name),
                    None => format!("rejected by {}", caller.name),
                });
            }
        }
        Ok(())
    })?;
    let job = changed.ok_or_else(|| ApiError::not_found(&format!("job {id}")))??;
    let a = job.approval.as_ref().expect("a job with approvals");
    let line = match (verdict, job.status) {
        (Verdict::Rejected, _) => format!("cancelled: {}", job.message.as_deref().unwrap_or("")),
        (_, Status::Queued) => format!(
            "approved by {}: {} of {}; it applies {} if a new plan is the same",
            caller.name,
            a.approvals(),
            a.count,
            a.approved.as_deref().unwrap_or("")
        ),
        _ => format!(
            "approved by {}: {} of {}",
            caller.name,
            a.approvals(),
            a.count
        ),
    };
    s.log(id, "INFO", &line);
    Ok(job)
}

/// Delete a finished job, its log, report and package.
#[utoipa::path(delete, path = "/v1/jobs/{id}",
    responses((status = 204, description = "deleted"),
        (status = 403, body = ErrorBody, description = "the token may not delete jobs"),
        (status = 409, body = ErrorBody, description = "the job has not finished (`not_finished`), or a queued or running restore reads its package (`in_use`)")))]
pub async fn delete_job(State(s): Shared, caller: Caller, JobId(id): JobId) -> Answer<StatusCode> {
    caller.may(Role::Admin, "deleting a job")?;
    let job = job_of(&s, &id)?;
    if !job.status.finished() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::NotFinished,
            format!("job {id} is {}: cancel it first", job.status.name()),
        ));
    }
    let restores = s.store.unfinished()?;
    if let Some(r) = restores
        .iter()
        .find(|r| r.from_export.as_deref() == Some(id.as_str()))
    {
        return Err(ApiError::conflict(
            ErrorCode::InUse,
            format!(
                "job {id}'s package is read by restore job {} ({}): cancel it or wait",
                r.id,
                r.status.name()
            ),
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
        None => Err(ApiError::conflict(
            ErrorCode::NotReady,
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
#[utoipa::path(get, path = "/v1/jobs/{id}/plan", responses((status = 200, description = "the plan's JSON report", content_type = "application/json", body = Object),
    (status = 409, body = ErrorBody, description = "the job has no plan: not yet, or none in its mode (`not_ready`)")))]
pub async fn job_plan(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Response> {
    doc(&s, &id, Doc::Plan, "plan")
}

/// The job's JSON report, once it finished (an export's: what its package holds).
#[utoipa::path(get, path = "/v1/jobs/{id}/report", responses((status = 200, description = "the JSON report", content_type = "application/json", body = Object),
    (status = 409, body = ErrorBody, description = "the job has no report: not yet, or none in its mode (`not_ready`)")))]
pub async fn job_report(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Response> {
    doc(&s, &id, Doc::Report, "report")
}

/// The job's own log lines.
#[utoipa::path(get, path = "/v1/jobs/{id}/log", params(LogQuery), responses((status = 200, body = LogLines)))]
pub async fn job_log(
    State(s): Shared,
    _caller: Caller,
    JobId(id): JobId,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Answer<Json<LogLines>> {
    let Query(q) = q?;
    let after = bounded("after", q.after, 0, MAX_STORE_INT)?;
    let tail = bounded("tail", q.tail, MAX_TAIL, MAX_TAIL)?;
    job_of(&s, &id)?;
    let lines = s.store.lines(&id, after as i64, tail as usize)?;
    Ok(Json(LogLines { lines }))
}

/// Server-sent events of the job: `job` (its record changed), `log` (a line), `end` (it
/// finished; the stream closes).
#[utoipa::path(get, path = "/v1/jobs/{id}/events",
    responses((status = 200, description = "server-sent events", content_type = "text/event-stream", body = String)))]
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
    responses((status = 200, description = "the package", content_type = "application/octet-stream", body = String),
        (status = 409, body = ErrorBody, description = "the job has no package: not yet, or none in its mode (`not_ready`)")))]
pub async fn job_package(State(s): Shared, _caller: Caller, JobId(id): JobId) -> Answer<Response> {
    let job = job_of(&s, &id)?;
    if job.mode != Mode::Export {
        return Err(ApiError::conflict(
            ErrorCode::NotReady,
            format!("job {id} is a {} job: it has no package", job.mode.name()),
        ));
    }
    if job.status != Status::Succeeded {
        return Err(ApiError::conflict(
            ErrorCode::NotReady,
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
    if let Ok(v) = format!("attachment; filename=\"{}-{id}.ferrypkg\"", job.promotion).parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, len.into());
    }
    Ok(r)
}
