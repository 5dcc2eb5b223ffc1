//! A hostile server's redirects cannot carry a run's requests elsewhere: a write never
//! follows one (it fails naming the Location), a read follows one only within its own
//! side's base URL, and one side's credential header never reaches the other side's host.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry::net::client::ClientConfig;
use ferry::net::http::{HttpError, Request as Call, RequestBody};
use ferry::net::policy::{Policy, Refusal};
use ferry::net::{Connection, Credential, Environments, HttpClient, Secret, Side};
use reqwest::Method;
use std::sync::{Arc, Mutex};

/// What one server saw: method, path, and the target's key header if it came.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// A server on 127.0.0.1 that logs every request; `redirect` answers some of them.
async fn server(redirect: Option<String>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .fallback(answer)
        .with_state((seen.clone(), redirect));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, seen)
}

async fn answer(
    State((seen, other)): State<(Seen, Option<String>)>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let key = headers
        .get("x-target-key")
        .map(|v| v.to_str().unwrap().to_string());
    seen.lock().unwrap().push((method, path.clone(), key));
    let to = |status: StatusCode, location: String| {
        (status, [(header::LOCATION, location)]).into_response()
    };
    match (path.as_str(), &other) {
        // A write sent on to the other side, body and all (307 keeps both).
        ("/t/things", Some(o)) => to(StatusCode::TEMPORARY_REDIRECT, format!("{o}/s/things")),
        // A read sent to the other side.
        ("/t/moved", Some(o)) => to(StatusCode::FOUND, format!("{o}/s/secret")),
        // A read moved within the side: fine.
        ("/t/old", _) => to(StatusCode::FOUND, "/t/new".into()),
        _ => (StatusCode::OK, "here").into_response(),
    }
}

struct Sides {
    client: HttpClient,
    source: Seen,
    target: Seen,
}

async fn sides() -> Sides {
    let (source_url, source) = server(None).await;
    let (target_url, target) = server(Some(source_url.clone())).await;
    let envs = Environments {
        source: Connection::new(Side::Source, &format!("{source_url}/s/"), Credential::None)
            .unwrap(),
        target: Connection::new(
            Side::Target,
            &format!("{target_url}/t/"),
            Credential::Header {
                name: "X-Target-Key".into(),
                value: Secret::new("the-target-key"),
            },
        )
        .unwrap(),
    };
    Sides {
        client: HttpClient::new(envs, &ClientConfig::default()).unwrap(),
        source,
        target,
    }
}

fn call(method: Method, path: &str) -> Call {
    Call {
        method,
        body: RequestBody::Json(r#"{"name":"x"}"#.into()),
        ..Call::get(Side::Target, path)
    }
}

#[tokio::test]
async fn a_write_never_follows_a_redirect() {
    let s = sides().await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let e = s
            .client
            .send(&Policy::default(), call(method.clone(), "things"), 1 << 20)
            .await
            .unwrap_err();
        assert!(
            matches!(e, HttpError::Refused(Refusal::WriteRedirected { .. })),
            "{method}: {e:?}"
        );
        let m = e.to_string();
        assert!(
            m.contains("307") && m.contains("/s/things") && m.contains("never follows"),
            "{m}"
        );
    }
    assert!(
        s.source.lock().unwrap().is_empty(),
        "nothing reached the source"
    );
}

#[tokio::test]
async fn a_read_follows_a_redirect_only_within_its_side() {
    let s = sides().await;
    let e = s
        .client
        .send(
            &Policy::default(),
            Call::get(Side::Target, "moved"),
            1 << 20,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, HttpError::Refused(Refusal::RedirectOutside { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("target's base URL"), "{e}");
    assert!(
        s.source.lock().unwrap().is_empty(),
        "the target's key never reached the source's host"
    );

    // Within the side, the read arrives, with the side's credential.
    let r = s
        .client
        .send(&Policy::default(), Call::get(Side::Target, "old"), 1 << 20)
        .await
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, b"here".as_slice()));
    let seen = s.target.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(m, p, k)| m == "GET" && p == "/t/new" && k.as_deref() == Some("the-target-key")),
        "{seen:?}"
    );
}
