//! The Strategy emulator answers as the docs do where mstrio-py does not reach: an unknown
//! duplication is 404 with the documented not-found code (ERR004), not the 400 one.

use ferry_sandbox::strategy::{Config, EnvSpec, Sandbox, Seed};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_duplication_is_not_found_with_the_documented_code() {
    let sb = Sandbox::start(Config::local(vec![EnvSpec::seeded("dev", Seed::Demo)]))
        .await
        .unwrap();
    let dev = sb.env("dev").clone();
    let base = dev.url.trim_end_matches('/').to_string();
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": dev.username, "password": dev.password, "loginMode": 1}))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());
    let token = login.headers()["x-mstr-authtoken"]
        .to_str()
        .unwrap()
        .to_string();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let resp = http
        .get(format!(
            "{base}/api/projectDuplications/0123456789ABCDEF0123456789ABCDEF"
        ))
        .header("X-MSTR-AuthToken", token)
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["code"], "ERR004", "{e}");
    sb.stop().await;
}
