//! The sandbox platform behaves as the Platform API reference says: URL shape, keys and
//! tiers, OPTIONS, exact filters, DRF paging, secrets on detail only, validation errors,
//! the kinds' side effects, Prompt Studio transfer and files, seeds, faults, the admin API.

use ferry_sandbox::kit::faults::Faults;
use ferry_sandbox::unstract::{Config, OrgSpec, Sandbox, Seed};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Api {
    sandbox: Sandbox,
    http: reqwest::Client,
}

impl Api {
    async fn start(orgs: Vec<OrgSpec>) -> Api {
        Api {
            sandbox: Sandbox::start(Config::local(orgs)).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }
    fn key(&self, org: &str, tier: &str) -> String {
        let k = self.sandbox.keys(org);
        match tier {
            "read" => k.read,
            "read_write" => k.read_write,
            _ => k.full_access,
        }
    }
    async fn call(
        &self,
        method: Method,
        org: &str,
        key: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.sandbox.org_url(org)))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, org: &str, path: &str) -> Value {
        let (s, v) = self
            .call(Method::GET, org, &self.key(org, "read"), path, None)
            .await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }
    async fn post(&self, org: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            org,
            &self.key(org, "read_write"),
            path,
            Some(body),
        )
        .await
    }
}

#[tokio::test]
async fn keys_tiers_and_orgs() {
    let api = Api::start(vec![OrgSpec::new("dev"), OrgSpec::new("prod")]).await;
    // Keys are stable for an org name.
    let again = Sandbox::start(Config::local(vec![OrgSpec::new("dev")]))
        .await
        .unwrap();
    assert_eq!(
        api.sandbox.keys("dev").read_write,
        again.keys("dev").read_write
    );
    assert_ne!(api.sandbox.keys("dev").read, api.sandbox.keys("prod").read);

    let url = format!("{}tags/", api.sandbox.org_url("dev"));
    assert_eq!(api.http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        api.http
            .get(&url)
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        api.call(
            Method::GET,
            "dev",
            &api.key("prod", "full_access"),
            "tags/",
            None
        )
        .await
        .0,
        403,
        "another org's key"
    );
    assert_eq!(
        api.call(
            Method::POST,
            "dev",
            &api.key("dev", "read"),
            "tags/",
            Some(json!({"name": "x"}))
        )
        .await
        .0,
        403,
        "read key writes"
    );
    let (s, t) = api.post("dev", "tags/", json!({"name": "x"})).await;
    assert_eq!(s, 201);
    let id = t["id"].as_str().unwrap();
    assert_eq!(
        api.call(
            Method::DELETE,
            "dev",
            &api.key("dev", "read_write"),
            &format!("tags/{id}/"),
            None
        )
        .await
        .0,
        403,
        "read_write deletes"
    );
    assert_eq!(
        api.call(
            Method::DELETE,
            "dev",
            &api.key("dev", "full_access"),
            &format!("tags/{id}/"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api.call(
            Method::GET,
            "dev",
            &api.key("dev", "read"),
            &format!("tags/{id}/"),
            None
        )
        .await
        .0,
        404
    );
    // An unknown org: no key belongs to it.
    assert_eq!(
        api.call(
            Method::GET,
            "nobody",
            &api.key("dev", "read"),
            "tags/",
            None
        )
        .await
        .0,
        403
    );
    // Overridden keys.
    let custom = Sandbox::start(Config::local(vec![OrgSpec {
        keys: vec![(ferry_sandbox::unstract::keys::Tier::Read, "my-key".into())],
        ..OrgSpec::new("qa")
    }]))
    .await
    .unwrap();
    assert_eq!(custom.keys("qa").read, "my-key");
}

#[tokio::test]
async fn options_filters_paging_and_secrets() {
    let api = Api::start(vec![OrgSpec::seeded("dev", Seed::Scale(600))]).await;
    let (s, o) = api
        .call(
            Method::OPTIONS,
            "dev",
            &api.key("dev", "read"),
            "adapter/",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let post = &o["actions"]["POST"];
    assert_eq!(post["adapter_name"]["read_only"], false);
    assert_eq!(post["id"]["read_only"], true);
    assert_eq!(post["created_at"]["read_only"], true);

    // Tags page at 50, with absolute next links on the address the client used.
    let first = api.get("dev", "tags/").await;
    let count = first["count"].as_u64().unwrap() as usize;
    assert!(count > 50, "the 600 seed has more than 50 tags: {count}");
    assert_eq!(first["results"].as_array().unwrap().len(), 50);
    let next = first["next"].as_str().unwrap();
    assert!(
        next.starts_with(&api.sandbox.org_url("dev")) && next.ends_with("page=2"),
        "{next}"
    );
    let mut seen = 0;
    let mut url = Some(format!("{}tags/", api.sandbox.org_url("dev")));
    while let Some(u) = url {
        let page: Value = api
            .http
            .get(&u)
            .bearer_auth(api.key("dev", "read"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen += page["results"].as_array().unwrap().len();
        url = page["next"].as_str().map(str::to_string);
    }
    assert_eq!(seen, count);
    for paged in ["pipeline/", "api/deployment/"] {
        assert!(
            api.get("dev", paged).await["count"].as_u64().unwrap() > 50,
            "{paged}"
        );
    }
    // Bare lists elsewhere, unless the client pages.
    let adapters = api.get("dev", "adapter/").await;
    assert!(adapters.is_array());
    let paged = api.get("dev", "adapter/?page_size=5").await;
    assert_eq!(paged["results"].as_array().unwrap().len(), 5);

    // Exact name filters: unicode and spaces, no prefix matches.
    let name = adapters[0]["adapter_name"].as_str().unwrap().to_string();
    assert!(name.contains(' ') && !name.is_ascii(), "{name}");
    let q = format!(
        "adapter/?adapter_name={}",
        url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
    );
    assert_eq!(api.get("dev", &q).await.as_array().unwrap().len(), 1);
    let prefix = &name[..name.len() - 4];
    let q = format!(
        "adapter/?adapter_name={}",
        url::form_urlencoded::byte_serialize(prefix.as_bytes()).collect::<String>()
    );
    assert_eq!(api.get("dev", &q).await.as_array().unwrap().len(), 0);

    // Secrets: not in lists, decrypted on detail.
    assert!(adapters[0].get("adapter_metadata").is_none());
    let id = adapters[0]["id"].as_str().unwrap();
    let detail = api.get("dev", &format!("adapter/{id}/")).await;
    assert!(
        detail["adapter_metadata"]["api_key"]
            .as_str()
            .unwrap()
            .contains("secret")
    );
}

#[tokio::test]
async fn validation_errors_and_side_effects() {
    let api = Api::start(vec![OrgSpec::new("prod")]).await;
    let (s, e) = api
        .post("prod", "adapter/", json!({"adapter_name": "a"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["adapter_type"][0], "This field is required.");
    let (s, _) = api.post("prod", "tags/", json!({"name": "t"})).await;
    assert_eq!(s, 201);
    // Fields its serializer does not declare, or declares read-only, are dropped without a
    // word, as DRF does; the judge notes each (a pack sending one relies on a setting that
    // does not happen), and this test, sending them on purpose, takes them.
    let (s, made) = api
        .post(
            "prod",
            "tags/",
            json!({"name": "u", "colour": "red", "created_by": 7}),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    assert!(
        made.get("colour").is_none() && made["created_by"] != 7,
        "{made}"
    );
    assert_eq!(
        api.sandbox.take_ignored(),
        [
            "prod: tag POST colour: not a field of its serializer",
            "prod: tag POST created_by: read-only in its serializer"
        ]
    );
    let (s, e) = api.post("prod", "tags/", json!({"name": "t"})).await;
    assert_eq!(s, 400);
    assert!(
        e["name"][0].as_str().unwrap().contains("already exists"),
        "{e}"
    );
    assert_eq!(
        api.call(
            Method::GET,
            "prod",
            &api.key("prod", "read"),
            "workflow/00000000-0000-4000-8000-000000000000/",
            None
        )
        .await
        .0,
        404
    );
    let (s, e) = api.post("prod", "pipeline/", json!({"pipeline_name": "p", "pipeline_type": "ETL", "workflow": "00000000-0000-4000-8000-000000000000"})).await;
    assert_eq!(s, 400);
    assert!(
        e["workflow"][0]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{e}"
    );

    // A workflow comes with SOURCE and DESTINATION endpoints.
    let (_, wf) = api
        .post("prod", "workflow/", json!({"workflow_name": "w"}))
        .await;
    let wid = wf["id"].as_str().unwrap();
    let eps = api
        .get("prod", &format!("workflow/endpoint/?workflow={wid}"))
        .await;
    let mut types: Vec<&str> = eps
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpoint_type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["DESTINATION", "SOURCE"]);
    // Pipelines are created active, whatever the request says.
    let (_, p) = api
        .post(
            "prod",
            "pipeline/",
            json!({"pipeline_name": "p", "pipeline_type": "ETL", "workflow": wid, "active": false}),
        )
        .await;
    assert_eq!(p["active"], true);
    let keys = api
        .get(
            "prod",
            &format!("api/keys/pipeline/{}/", p["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
    // API deployments mint a key.
    let (_, d) = api
        .post(
            "prod",
            "api/deployment/",
            json!({"api_name": "x", "display_name": "X", "workflow": wid}),
        )
        .await;
    assert!(d["api_key"].as_str().is_some_and(|k| k.len() == 36));
    // A group's creation answer has no id.
    let (s, g) = api
        .post("prod", "groups/", json!({"name": "G", "description": ""}))
        .await;
    assert_eq!(s, 201);
    assert!(g.get("id").is_none());
    let groups = api.get("prod", "groups/").await;
    let gid = groups[0]["id"].as_u64().unwrap();
    let users = api.get("prod", "users/").await;
    let alice = users["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "alice@acme.example")
        .unwrap()["id"]
        .clone();
    let (s, _) = api
        .post(
            "prod",
            &format!("groups/{gid}/members/"),
            json!({"user_ids": [alice]}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        api.get("prod", &format!("groups/{gid}/members/")).await[0]["email"],
        "alice@acme.example"
    );
    // Sharing.
    let (s, shared) = api
        .post(
            "prod",
            &format!("workflow/{wid}/share/"),
            json!({"shared_to_org": false, "shared_users": [alice], "shared_groups": [gid]}),
        )
        .await;
    assert_eq!(s, 200, "{shared}");
    assert_eq!(shared["shared_groups"], json!([gid]));
}

#[tokio::test]
async fn prompt_studio_transfer_registry_and_files() {
    let api = Api::start(vec![
        OrgSpec::seeded("dev", Seed::Demo),
        OrgSpec::new("prod"),
    ])
    .await;
    let tools = api.get("dev", "prompt-studio/").await;
    let invoice = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool_name"] == "Invoice Extractor")
        .unwrap();
    let tid = invoice["tool_id"].as_str().unwrap();
    let profiles = api
        .get(
            "dev",
            &format!("prompt-studio/prompt-studio-profile/{tid}/"),
        )
        .await;
    assert_eq!(
        profiles[0]["llm"], "openai-dev",
        "profiles name their adapters"
    );
    let blob = api
        .get("dev", &format!("prompt-studio/project-transfer/{tid}"))
        .await;
    assert_eq!(blob["tool_metadata"]["tool_name"], "Invoice Extractor");
    assert_eq!(blob["prompts"].as_array().unwrap().len(), 3);

    // Import twice: the second gets a unique name.
    let import = |blob: Value| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(blob.to_string().into_bytes())
                .file_name("export.json")
                .mime_str("application/json")
                .unwrap(),
        );
        api.http
            .post(format!(
                "{}prompt-studio/project-transfer/",
                api.sandbox.org_url("prod")
            ))
            .bearer_auth(api.key("prod", "read_write"))
            .multipart(form)
            .send()
    };
    let r: Value = import(blob.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(r["needs_adapter_config"], true, "no adapters given");
    let new_tid = r["tool_id"].as_str().unwrap().to_string();
    import(blob.clone()).await.unwrap();
    let names: Vec<String> = api
        .get("prod", "prompt-studio/")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tool_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Invoice Extractor", "Invoice Extractor (1)"]);
    assert_eq!(
        api.get("prod", &format!("prompt-studio/prompt/?tool_id={new_tid}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Sync prompts from a changed blob.
    let mut changed = blob.clone();
    changed["prompts"].as_array_mut().unwrap().truncate(1);
    let (s, _) = api
        .post(
            "prod",
            &format!("prompt-studio/{new_tid}/sync-prompts/"),
            json!({"data": changed, "create_copy": false}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        api.get("prod", &format!("prompt-studio/prompt/?tool_id={new_tid}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Registry: absent until exported.
    assert_eq!(
        api.get(
            "prod",
            &format!("prompt-studio/registry/?custom_tool={new_tid}")
        )
        .await
        .as_array()
        .unwrap()
        .len(),
        0
    );
    let (s, _) = api
        .post(
            "prod",
            &format!("prompt-studio/export/{new_tid}"),
            json!({"is_shared_with_org": false, "user_id": [], "force_export": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        api.get(
            "prod",
            &format!("prompt-studio/registry/?custom_tool={new_tid}")
        )
        .await[0]["prompt_registry_id"]
            .is_string()
    );

    // Files: PDFs come base64 in a JSON envelope, CSVs as text; uploads create documents.
    let docs = api
        .get(
            "dev",
            &format!("prompt-studio/prompt-document/?tool_id={tid}"),
        )
        .await;
    let doc = |name: &str| {
        docs.as_array()
            .unwrap()
            .iter()
            .find(|d| d["document_name"] == name)
            .unwrap()["document_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pdf = api
        .get(
            "dev",
            &format!(
                "prompt-studio/file/{tid}?document_id={}",
                doc("invoice-001.pdf")
            ),
        )
        .await;
    assert_eq!(pdf["mime_type"], "application/pdf");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(pdf["data"].as_str().unwrap())
        .unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    let csv = api
        .get(
            "dev",
            &format!(
                "prompt-studio/file/{tid}?document_id={}",
                doc("vendors.csv")
            ),
        )
        .await;
    assert_eq!(csv["mime_type"], "text/csv");
    assert!(csv["data"].as_str().unwrap().contains("Initech,États-Unis"));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.clone())
            .file_name("invoice-001.pdf")
            .mime_str("application/pdf")
            .unwrap(),
    );
    let up: Value = api
        .http
        .post(format!(
            "{}prompt-studio/file/{new_tid}",
            api.sandbox.org_url("prod")
        ))
        .bearer_auth(api.key("prod", "read_write"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_doc = up["data"][0]["document_id"].as_str().unwrap();
    let back = api
        .get(
            "prod",
            &format!("prompt-studio/file/{new_tid}?document_id={new_doc}"),
        )
        .await;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(back["data"].as_str().unwrap())
            .unwrap(),
        bytes
    );

    // Uploads stream through the sandbox: a form that ends before its closing boundary is
    // refused, and leaves no shorter document behind.
    let listing = format!("prompt-studio/prompt-document/?tool_id={new_tid}");
    let before = api.get("prod", &listing).await.as_array().unwrap().len();
    let cut = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 half a file".to_vec();
    let refused = api
        .http
        .post(format!(
            "{}prompt-studio/file/{new_tid}",
            api.sandbox.org_url("prod")
        ))
        .bearer_auth(api.key("prod", "read_write"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(cut)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let after = api.get("prod", &listing).await.as_array().unwrap().len();
    assert_eq!(after, before);
}

#[tokio::test]
async fn seeds_are_deterministic_and_complete() {
    let a = Sandbox::start(Config::local(vec![OrgSpec::seeded("dev", Seed::Demo)]))
        .await
        .unwrap();
    let b = Sandbox::start(Config::local(vec![OrgSpec::seeded("dev", Seed::Demo)]))
        .await
        .unwrap();
    assert_eq!(a.dump("dev"), b.dump("dev"));
    let dump = a.dump("dev");
    for kind in [
        "group",
        "adapter",
        "connector",
        "tag",
        "custom_tool",
        "prompt",
        "document",
        "registry",
        "workflow",
        "tool_instance",
        "workflow_endpoint",
        "pipeline",
        "api_deployment",
    ] {
        assert!(
            !dump[kind].as_object().unwrap().is_empty(),
            "demo has no {kind}"
        );
    }
    assert_eq!(
        dump["pipeline"]["pipeline:invoice-hourly"]["active"], false,
        "one inactive pipeline"
    );
    assert!(
        dump["connector"]["connector:gdrive-dev"]["connector_metadata"]["refresh_token"]
            .is_string(),
        "one OAuth connector"
    );
    assert_eq!(
        dump["workflow_endpoint"]["workflow_endpoint:workflow:invoice-etl/SOURCE"]["connector_instance_id"],
        "connector:s3-dev-inbox",
        "ids are dumped as labels"
    );

    // The trial adapter: named by a profile, not listed.
    let c = a.keys("dev").read;
    let http = reqwest::Client::new();
    let adapters: Value = http
        .get(format!("{}adapter/", a.org_url("dev")))
        .bearer_auth(&c)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        adapters
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["adapter_name"] != "Unstract Trial LLM")
    );
    assert!(
        dump["profile"]
            .as_object()
            .unwrap()
            .values()
            .any(|p| p["llm"].is_string() && p["llm"].as_str().unwrap().len() == 36),
        "a profile names the hidden adapter by id"
    );

    // Scale: about N, with large files.
    let big = Sandbox::start(Config::local(vec![OrgSpec::seeded(
        "dev",
        Seed::Scale(1000),
    )]))
    .await
    .unwrap();
    let dump = big.dump("dev");
    let total: usize = [
        "group",
        "adapter",
        "connector",
        "tag",
        "custom_tool",
        "document",
        "workflow",
        "tool_instance",
        "workflow_endpoint",
        "pipeline",
        "api_deployment",
    ]
    .iter()
    .map(|k| dump[*k].as_object().unwrap().len())
    .sum();
    assert!(
        (800..=1200).contains(&total),
        "about 1000 resources: {total}"
    );
    let large = dump["document"]
        .as_object()
        .unwrap()
        .values()
        .filter(|d| d["file"]["bytes"].as_u64().unwrap() > 25 << 20)
        .count();
    assert_eq!(large, 3);
}

#[tokio::test]
async fn faults_and_the_admin_api() {
    let api = Api::start(vec![OrgSpec::new("dev"), OrgSpec::new("prod")]).await;
    let admin = |path: &str| format!("{}/_admin/{path}", api.sandbox.url());
    let key = api.sandbox.admin_key().to_string();
    assert_eq!(
        api.http
            .get(admin("requests"))
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "the admin API needs its key"
    );
    assert_eq!(
        api.http
            .get(admin("requests"))
            .bearer_auth(api.key("dev", "full_access"))
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "an org key is not the admin key"
    );
    // Rate limit: 429 with Retry-After beyond the budget.
    let r = api
        .http
        .put(admin("orgs/dev/faults"))
        .bearer_auth(&key)
        .json(&json!({"rate_limit": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut limited = None;
    for _ in 0..10 {
        let r = api
            .http
            .get(format!("{}tags/", api.sandbox.org_url("dev")))
            .bearer_auth(api.key("dev", "read"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 within 10 quick requests at 2 rps");
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // The other org is not affected.
    assert_eq!(
        api.call(Method::GET, "prod", &api.key("prod", "read"), "tags/", None)
            .await
            .0,
        200
    );

    // Every request a 5xx.
    api.sandbox
        .set_faults(
            "dev",
            Faults {
                error_rate: 1.0,
                ..Default::default()
            },
        )
        .unwrap();
    let (s, body) = api
        .call(Method::GET, "dev", &api.key("dev", "read"), "tags/", None)
        .await;
    assert!(s.is_server_error(), "{s}");
    assert!(
        body.as_str().unwrap().contains("<html>"),
        "an HTML error page"
    );
    // Every connection dropped.
    api.sandbox
        .set_faults(
            "dev",
            Faults {
                drop_rate: 1.0,
                ..Default::default()
            },
        )
        .unwrap();
    let r = api
        .http
        .get(format!("{}tags/", api.sandbox.org_url("dev")))
        .bearer_auth(api.key("dev", "read"))
        .send()
        .await;
    assert!(
        r.is_err() || r.unwrap().text().await.is_err(),
        "the body must fail"
    );
    // Latency: an answer never comes sooner than the fixed latency.
    api.sandbox
        .set_faults(
            "dev",
            Faults {
                latency_ms: 150,
                ..Default::default()
            },
        )
        .unwrap();
    let t = std::time::Instant::now();
    assert_eq!(
        api.call(Method::GET, "dev", &api.key("dev", "read"), "tags/", None)
            .await
            .0,
        200
    );
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));
    // Slow bodies still arrive whole.
    api.sandbox
        .set_faults(
            "dev",
            Faults {
                slow_rate: 1.0,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        api.get("dev", "users/").await["members"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Bad fault settings are refused.
    let r = api
        .http
        .put(admin("orgs/dev/faults"))
        .bearer_auth(&key)
        .json(&json!({"error_rate": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = api
        .http
        .put(admin("orgs/dev/faults"))
        .bearer_auth(&key)
        .json(&json!({"typo": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Orgs can be added at run time; the log shows every request.
    let r = api
        .http
        .put(admin("orgs/dev/faults"))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["slow_rate"],
        0.0,
        "{{}} clears the faults"
    );
    let r: Value = api
        .http
        .post(admin("orgs"))
        .bearer_auth(&key)
        .json(&json!({"org": "qa", "seed": "small"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["keys"]["read"].is_string());
    let log: Value = api
        .http
        .get(admin("requests?org=prod"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|l| l["org"] == "prod" && l["duration_ms"].is_number())
            && !log.as_array().unwrap().is_empty()
    );
    let stats: Value = api
        .http
        .get(admin("orgs/dev/stats"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        stats["requests"].as_u64().unwrap() >= 3
            && stats["writes"] == 0
            && stats["failed"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    let dump: Value = api
        .http
        .get(admin("orgs/qa/dump"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!dump["tag"].as_object().unwrap().is_empty(), "{dump}");
    assert!(api.sandbox.writes_to("prod").is_empty());
}
