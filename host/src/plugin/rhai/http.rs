//! The host's HTTP for cloner scripts: `http_get`, `http_send` and `list_all`, with the same
//! rules as a WASM plugin's (credentials added by the host, the source read-only, two base
//! URLs only). A call's network access lives in a thread-local for the script's thread.

use super::Budget;
use crate::net::http::{HttpError, Request, RequestBody};
use crate::net::paging::{self, ListError, Paging};
use crate::net::{HttpClient, Policy, Side};
use crate::plugin::manifest::Limits;
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// What one call may reach, for the host functions on this thread.
pub(super) struct CallEnv {
    pub(super) client: HttpClient,
    pub(super) policy: Arc<Policy>,
    pub(super) handle: tokio::runtime::Handle,
    /// a sandbox rule the script broke: the call fails whatever the script does next
    pub(super) violation: Option<String>,
    /// the call has ended: no request goes out
    pub(super) stop: tokio_util::sync::CancellationToken,
}

thread_local! {
    pub(super) static ENV: RefCell<Option<CallEnv>> = const { RefCell::new(None) };
}

fn side(s: &str) -> Fallible<Side> {
    match s {
        "source" => Ok(Side::Source),
        "target" => Ok(Side::Target),
        other => Err(format!("side must be \"source\" or \"target\", not {other:?}").into()),
    }
}

fn query(q: &Map) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                if v.is_string() {
                    v.clone().into_string().unwrap_or_default()
                } else {
                    v.to_string()
                },
            )
        })
        .collect()
}

/// Run a host request for the script on this thread, crediting its time to the budget.
fn on_host<F: std::future::Future>(
    make: impl FnOnce(HttpClient, Arc<Policy>) -> F,
) -> Fallible<F::Output> {
    let (client, policy, handle, stop) = ENV
        .with(|e| {
            e.borrow().as_ref().map(|env| {
                (
                    env.client.clone(),
                    env.policy.clone(),
                    env.handle.clone(),
                    env.stop.clone(),
                )
            })
        })
        .ok_or("this call has no network access")?;
    let ended = || -> Box<EvalAltResult> { "the call has ended: no more requests".into() };
    if stop.is_cancelled() {
        return Err(ended());
    }
    let started = Instant::now();
    // This runs on a `spawn_blocking` thread, never on an async worker, so blocking here
    // is allowed. A request in flight when the call ends is abandoned. The stop is polled
    // first: when the runtime shuts down (the process ends after a fatal error), the call's
    // drop guard has cancelled it before the runtime's drivers go, so the request, which
    // would panic without them, is never polled.
    let out = handle.block_on(async {
        tokio::select! {
            biased;
            _ = stop.cancelled() => None,
            out = make(client, policy) => Some(out),
        }
    });
    Budget::credit(started);
    out.ok_or_else(ended)
}

fn http_error(e: HttpError) -> Box<EvalAltResult> {
    match e {
        HttpError::Refused(_) | HttpError::TooLarge { .. } => {
            let message = format!("a Rhai cloner broke a sandbox rule: {e}");
            ENV.with(|env| {
                if let Some(env) = env.borrow_mut().as_mut() {
                    env.violation.get_or_insert(message.clone());
                }
            });
            message.into()
        }
        e if e.is_transient() => format!("transient: {e}").into(),
        e => e.to_string().into(),
    }
}

fn response(status: u16, body: &[u8]) -> Fallible<Map> {
    let mut m = Map::new();
    m.insert("status".into(), (status as i64).into());
    let body = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => rhai::serde::to_dynamic(v)?,
        Err(_) => String::from_utf8_lossy(body).into_owned().into(),
    };
    m.insert("body".into(), body);
    Ok(m)
}

fn send(side_: &str, method: &str, path: &str, q: Map, body: Dynamic) -> Fallible<Map> {
    let method: reqwest::Method = method
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("unknown HTTP method {method:?}"))?;
    let body = if body.is_unit() {
        RequestBody::Empty
    } else {
        let json: serde_json::Value = rhai::serde::from_dynamic(&body)?;
        RequestBody::Json(json.to_string())
    };
    let req = Request {
        side: side(side_)?,
        method,
        path: path.to_string(),
        query: query(&q),
        headers: vec![],
        body,
    };
    let result = on_host(|client, policy| async move {
        client
            .send(&policy, req, Limits::CLONER.max_response_bytes)
            .await
    })?;
    let r = result.map_err(http_error)?;
    response(r.status, &r.body)
}

fn paging_of(p: &Dynamic) -> Fallible<Paging> {
    if let Some(s) = p.read_lock::<rhai::ImmutableString>() {
        return match s.as_str() {
            "drf-next" => Ok(Paging::DrfNext),
            "none" => Ok(Paging::None {
                items: String::new(),
            }),
            other => match other.strip_prefix("none:") {
                Some(items) => Ok(Paging::None {
                    items: items.to_string(),
                }),
                None => Err(format!(
                    "unknown paging {other:?} (use \"drf-next\", \"none\", \"none:FIELD\" or a map)"
                )
                .into()),
            },
        };
    }
    let m = p
        .read_lock::<Map>()
        .ok_or("paging must be a string or a map")?;
    let get = |k: &str, default: &str| {
        m.get(k)
            .map(|v| v.to_string())
            .unwrap_or_else(|| default.to_string())
    };
    let size = |k: &str, default: u32| {
        m.get(k)
            .and_then(|v| v.as_int().ok())
            .map(|n| n.clamp(1, 10_000) as u32)
            .unwrap_or(default)
    };
    match get("style", "").as_str() {
        "page-number" => Ok(Paging::PageNumber {
            page_param: get("page_param", "page"),
            size_param: get("size_param", "page_size"),
            size: size("size", 100),
            items: get("items", "results"),
        }),
        "offset-limit" => Ok(Paging::OffsetLimit {
            offset_param: get("offset_param", "offset"),
            limit_param: get("limit_param", "limit"),
            limit: size("limit", 100),
            items: get("items", "results"),
        }),
        "cursor" => Ok(Paging::Cursor {
            param: get("param", "cursor"),
            next: get("next", "/next_cursor"),
            items: get("items", "results"),
        }),
        other => Err(format!("unknown paging style {other:?}").into()),
    }
}

fn list_all(side_: &str, path: &str, q: Map, p: Dynamic) -> Fallible<Array> {
    let (s, paging, q) = (side(side_)?, paging_of(&p)?, query(&q));
    let result = on_host(|client, policy| async move {
        let listing = paging::Listing {
            side: s,
            path,
            query: &q,
            paging: &paging,
        };
        paging::list_all(&client, &policy, listing, Limits::CLONER.max_response_bytes).await
    })?;
    match result {
        Ok(items) => items.into_iter().map(rhai::serde::to_dynamic).collect(),
        Err(ListError::Http(e)) => Err(http_error(e)),
        Err(
            e @ ListError::Status {
                status: 429 | 500..=599,
                ..
            },
        ) => Err(format!("transient: {e}").into()),
        Err(e) => Err(e.to_string().into()),
    }
}

pub(super) fn register_http(engine: &mut Engine) {
    engine.register_fn("http_get", |s: &str, path: &str| {
        send(s, "GET", path, Map::new(), Dynamic::UNIT)
    });
    engine.register_fn("http_get", |s: &str, path: &str, q: Map| {
        send(s, "GET", path, q, Dynamic::UNIT)
    });
    engine.register_fn(
        "http_send",
        |s: &str, m: &str, path: &str, body: Dynamic| send(s, m, path, Map::new(), body),
    );
    engine.register_fn("list_all", |s: &str, path: &str, q: Map, p: Dynamic| {
        list_all(s, path, q, p)
    });
}
