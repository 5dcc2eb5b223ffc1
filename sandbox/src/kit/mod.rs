//! What every emulated platform shares: fault injection (`faults`), the request log
//! (`log`), a listener that stops by itself (`serve`), what an admin request carries
//! (`admin_request`), and sizes as seeds give them.

pub mod faults;
pub mod log;

/// What every emulator's admin API reads of a request: the path's segments below the admin
/// prefix, the body (up to 1 MiB) and the query's parameters.
pub async fn admin_request<'a>(
    rest: &'a str,
    query: &str,
    req: axum::extract::Request,
) -> (
    Vec<&'a str>,
    axum::body::Bytes,
    std::collections::HashMap<String, String>,
) {
    let seg = rest.split('/').filter(|s| !s.is_empty()).collect();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let q = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    (seg, body, q)
}

/// `25`, `25MB`, `1.5GB`: powers of 1024, as ferry reads `--max-file-size`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("{s:?} is not a size (examples: 25, 25MB, 1.5GB): {e}"))
}

/// Serve `app` on `listen` (port 0: a free one) until `stop` is notified.
pub async fn serve(
    listen: std::net::SocketAddr,
    app: axum::Router,
) -> anyhow::Result<(std::net::SocketAddr, Stopper)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let signal = stop.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { signal.notified().await })
            .await;
    });
    Ok((addr, Stopper { stop, task }))
}

/// Stops a server started by [`serve`]; dropping it stops the server too.
pub struct Stopper {
    stop: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Stopper {
    pub async fn stop(mut self) {
        self.stop.notify_one();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        // Graceful: the permit waits for the server if it is not listening for it yet.
        self.stop.notify_one();
    }
}
