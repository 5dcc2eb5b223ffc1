//! `ferry serve`: promotions as jobs behind a REST API (`api`, described by its OpenAPI
//! document), kept in a SQLite job store (`store`) and run by `runner`, at most `max_jobs`
//! at once and one per target, with a dashboard (`dashboard`). The server's file
//! (`config`) names its environments, promotions and tokens (`auth`); nothing secret is in
//! it, in an answer, a job record or a log line.

pub mod api;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod job;
pub mod listen;
pub mod logs;
pub mod runner;
pub mod store;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;

/// Request bodies are small JSON documents.
const BODY_LIMIT: usize = 64 << 10;

/// The routes, over a started server.
pub fn router(server: Arc<runner::Server>) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/app.js", get(dashboard::script))
        .route("/style.css", get(dashboard::style))
        .route("/favicon.svg", get(dashboard::favicon))
        .route("/favicon.ico", get(dashboard::favicon))
        .route("/v1/openapi.json", get(api::openapi))
        .route("/v1/whoami", get(api::whoami))
        .route("/v1/promotions", get(api::promotions))
        .route("/v1/admin/reload", post(api::reload))
        .route("/v1/jobs", get(api::list_jobs).post(api::create_job))
        .route("/v1/jobs/{id}", get(api::get_job).delete(api::delete_job))
        .route("/v1/jobs/{id}/cancel", post(api::cancel_job))
        .route("/v1/jobs/{id}/approve", post(api::approve_job))
        .route("/v1/jobs/{id}/reject", post(api::reject_job))
        .route("/v1/jobs/{id}/plan", get(api::job_plan))
        .route("/v1/jobs/{id}/report", get(api::job_report))
        .route("/v1/jobs/{id}/log", get(api::job_log))
        .route("/v1/jobs/{id}/events", get(api::job_events))
        .route("/v1/jobs/{id}/package", get(api::job_package))
        .fallback(|| async { api::ApiError::not_found("such route") })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            api::ApiError::method_not_allowed(&method)
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(server)
}

/// On every answer: no script, style or frame from elsewhere, the dashboard never in a
/// frame, no guessing of content types, no URL (job ids) sent to other sites.
async fn security_headers(mut r: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// Serve until `stop` resolves: recover the store's unfinished jobs, start the scheduler,
/// answer the API. `ready` gets the address once it listens.
pub async fn serve(
    config: config::Config,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let http = config.http;
    let server = runner::Server::new(config)?;
    server.resolve_targets().await;
    let resumed = server.recover()?;
    if resumed > 0 {
        tracing::warn!("{resumed} job(s) from before the restart will run");
    }
    // A job's host log lines, into its own log.
    if let Some(mut lines) = logs::take() {
        let s = server.clone();
        tokio::spawn(async move {
            while let Some((job, level, message)) = lines.recv().await {
                s.log(&job, &level, &message);
            }
        });
    }
    tokio::spawn(server.clone().schedule());
    tokio::spawn(reload_on_hangup(server.clone()));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    ready(listener.local_addr()?);
    listen::serve(listener, router(server), http, stop).await
}

/// SIGHUP re-reads the tokens (as `POST /v1/admin/reload` does); the log says how it went.
async fn reload_on_hangup(server: Arc<runner::Server>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("no SIGHUP handler: reload the tokens with POST /v1/admin/reload");
            return;
        };
        while hangups.recv().await.is_some() {
            if let Err(e) = server.reload_tokens() {
                tracing::error!("SIGHUP: the tokens are as they were: {e:#}");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = server;
}
