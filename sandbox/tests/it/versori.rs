//! The Versori emulator refuses what Versori's published API refuses: each body below breaks
//! the document's types (a pack once sent the first two), and each is answered 400 in
//! Versori's error shape `{code, message, fields, details}` naming the field, with nothing
//! stored.

use ferry_sandbox::versori::{Config, OrgBanner, OrgSpec, Sandbox, Seed};
use serde_json::{Value, json};

/// A sandbox with the demo organisation `acme`, and a client of its API with its token.
struct Acme {
    sb: Sandbox,
    org: OrgBanner,
    base: String,
    http: reqwest::Client,
}

impl Acme {
    async fn start() -> Acme {
        let sb = Sandbox::start(Config::local(vec![OrgSpec::seeded("acme", Seed::Demo)]))
            .await
            .unwrap();
        let org = sb.org("acme").clone();
        let base = format!(
            "{}/{}/o/{}/",
            sb.url().trim_end_matches('/'),
            sb.banner.prefix,
            org.org
        );
        Acme {
            sb,
            org,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> reqwest::Response {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.org.token));
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().await.unwrap()
    }

    /// A GET's JSON answer.
    async fn get(&self, path: &str) -> Value {
        self.call("GET", path, None).await.json().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_the_document_forbids_are_refused_naming_the_field() {
    let acme = Acme::start().await;
    let project = &acme.org.projects[0].id;
    let p = acme.get(&format!("projects/{project}")).await;
    let env_id = p["environments"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no environment in {p:#}"))
        .to_string();
    let system = json!({"name": "S", "domain": "s.example", "templateBaseUrl": "https://s.example", "authSchemeConfigs": [{"type": "none"}]});
    let cases: Vec<(&str, String, Value, &str)> = vec![
        // A System has no `labels: null` (SystemCreate's labels are an object of strings).
        ("POST", "systems".into(), json!({"labels": null}), "labels"),
        // A version's `files` is the array of files, not a Files object.
        (
            "POST",
            format!("projects/{project}/versions"),
            json!({"name": "v9", "files": {"files": [], "labels": {}}}),
            "files",
        ),
        (
            "PUT",
            format!("environments/{env_id}/config"),
            json!({"deploymentSpec": {"replicas": "many"}}),
            "deploymentSpec.replicas",
        ),
        (
            "POST",
            format!("projects/{project}/connection-templates"),
            json!({"systemId": "x", "name": "s", "environmentId": env_id, "extra": 1}),
            "extra",
        ),
        // An auth scheme's type is one the document names.
        (
            "POST",
            "systems".into(),
            json!({"authSchemeConfigs": [{"type": "magic"}]}),
            "authSchemeConfigs[0].type",
        ),
        // A connection is made with its credentials, and updated with them as an array.
        (
            "POST",
            "connections".into(),
            json!({"connectionTemplateId": "x", "connection": {"name": "c"}}),
            "connection.credentials",
        ),
        (
            "PUT",
            "connections/x".into(),
            json!({"name": "c", "credentials": "s3cret", "baseUrl": ""}),
            "credentials",
        ),
        (
            "PUT",
            format!("projects/{project}"),
            json!({"settings": {"acceptCodeChangesAutomatically": "yes"}}),
            "settings.acceptCodeChangesAutomatically",
        ),
    ];
    for (method, path, patch, field) in cases {
        let mut body = if path == "systems" {
            system.clone()
        } else {
            json!({})
        };
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let before = acme.sb.dump("acme");
        let resp = acme.call(method, &path, Some(&body)).await;
        assert_eq!(resp.status(), 400, "{method} {path}");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["code"], "400000", "{e}");
        assert_eq!(e["fields"][0]["field"], field, "{method} {path}: {e}");
        assert!(e["details"].is_string(), "{e}");
        assert_eq!(
            acme.sb.dump("acme"),
            before,
            "{method} {path} stored something"
        );
    }
    // A page with no page after or before it has no `next` or `prev` (absent, not null).
    let page = acme.get("systems").await;
    assert!(page["items"].is_array(), "{page}");
    let keys = page.as_object().unwrap();
    assert!(
        !keys.contains_key("next") && !keys.contains_key("prev"),
        "{page}"
    );
    acme.sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_links_only_to_its_systems_templates_and_answers_no_body() {
    let acme = Acme::start().await;
    let connections = acme.get("connections").await;
    let c = connections["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["systemId"].is_string())
        .unwrap_or_else(|| panic!("no connection with a system: {connections:#}"))
        .clone();
    let mut templates = vec![];
    for p in &acme.org.projects {
        let page = acme
            .get(&format!("projects/{}/connection-templates", p.id))
            .await;
        templates.extend(page["items"].as_array().cloned().unwrap_or_default());
    }
    let of_system = |same: bool| {
        templates
            .iter()
            .find(|t| (t["id"] == c["systemId"]) == same)
            .unwrap_or_else(|| panic!("no template (same system: {same}) in {templates:#?}"))
            ["connectionTemplateId"]
            .clone()
    };
    let cid = c["id"].as_str().unwrap();
    let link = format!("connections/{cid}/link");
    let other = acme
        .call(
            "POST",
            &link,
            Some(&json!({"connectionTemplateId": of_system(false)})),
        )
        .await;
    assert_eq!(other.status(), 400);
    let e: Value = other.json().await.unwrap();
    assert_eq!(e["fields"][0]["field"], "connectionTemplateId", "{e}");
    let same = acme
        .call(
            "POST",
            &link,
            Some(&json!({"connectionTemplateId": of_system(true)})),
        )
        .await;
    assert_eq!(same.status(), 201);
    assert!(
        same.bytes().await.unwrap().is_empty(),
        "link answers no body"
    );

    // A connection made for an end user (externalId) is theirs: never the environment's
    // static one. Without externalId it is.
    let p = acme.org.projects[0].id.clone();
    let template = of_system(true);
    let mut names = vec![];
    for (name, external) in [("for-ana", Some("ana")), ("static-one", None)] {
        let mut body = json!({"connectionTemplateId": template,
                              "connection": {"name": name, "credentials": []}});
        if let Some(u) = external {
            body["externalId"] = json!(u);
        }
        let made = acme.call("POST", "connections", Some(&body)).await;
        assert_eq!(made.status(), 201, "{name}");
        let page = acme.get(&format!("projects/{p}/connections")).await;
        names = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
    }
    assert!(
        !names.iter().any(|n| n == "for-ana"),
        "an end user's connection is not static: {names:?}"
    );
    assert!(names.iter().any(|n| n == "static-one"), "{names:?}");
    acme.sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_names_what_the_document_lacks_and_each_token_takes_its_own_scheme() {
    let acme = Acme::start().await;
    let project = acme.org.projects[0].id.clone();
    // A request the document has no endpoint for, and a query key it does not list: the
    // emulator answers as Versori would (404, or the page), and the judge records both.
    let r = acme
        .call("GET", &format!("projects/{project}/nothing"), None)
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        acme.call("GET", "systems?colour=red", None).await.status(),
        200
    );
    let breaches = acme.sb.take_breaches();
    assert_eq!(breaches.len(), 2, "{breaches:#?}");
    assert!(breaches[0].contains("not an endpoint"), "{breaches:#?}");
    assert!(breaches[1].contains("\"colour\""), "{breaches:#?}");

    // An API key is sent as Bearer, a signed user token as JWT; each refused in the other.
    let url = format!("{}projects", acme.base);
    for (scheme, token, status) in [
        ("Bearer", &acme.org.token, 200),
        ("JWT", &acme.org.jwt, 200),
        ("JWT", &acme.org.token, 401),
        ("Bearer", &acme.org.jwt, 401),
    ] {
        let r = acme
            .http
            .get(&url)
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{scheme} with the other's token");
    }

    // The static user's activation only with `static=true`, with its whole environment.
    let p = acme.get(&format!("projects/{project}")).await;
    let env = &p["environments"][0];
    let path = format!("environments/{}/activations", env["id"].as_str().unwrap());
    assert_eq!(acme.get(&path).await, json!([]));
    let listed = acme.get(&format!("{path}?static=true")).await;
    assert_eq!(listed[0]["user"]["externalId"], "static", "{listed:#}");
    assert_eq!(listed[0]["environment"], *env, "{listed:#}");

    // One system linked twice to an environment (two templates with the system's id): a page
    // of one at a time reaches both, its cursor each template's own id.
    let system = acme.get("systems").await["items"][0]["id"].clone();
    for name in ["first-link", "second-link"] {
        let body = json!({"systemId": system, "name": name, "environmentId": env["id"]});
        let r = acme
            .call(
                "POST",
                &format!("projects/{project}/connection-templates"),
                Some(&body),
            )
            .await;
        assert_eq!(r.status(), 200, "{name}");
    }
    let mut names = vec![];
    let mut after = String::new();
    for _ in 0..50 {
        let page = acme
            .get(&format!(
                "projects/{project}/connection-templates?env_id={}&first=1{after}",
                env["id"].as_str().unwrap()
            ))
            .await;
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(n) => after = format!("&after={n}"),
            None => break,
        }
    }
    assert!(
        names.contains(&"first-link".to_string()) && names.contains(&"second-link".to_string()),
        "{names:?}"
    );
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "no template twice: {names:?}");

    // A project's last environment may be deleted (the document sets no floor): the answer
    // is the project, with none left.
    let last = &acme.org.projects[2];
    let p = acme.get(&format!("projects/{}", last.id)).await;
    assert_eq!(p["environments"].as_array().unwrap().len(), 1, "{p:#}");
    let eid = p["environments"][0]["id"].as_str().unwrap();
    let r = acme
        .call(
            "POST",
            &format!("projects/{}/environments/{eid}", last.id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["environments"], json!([]), "{after:#}");
    acme.sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_client_secret_is_never_shown_and_a_used_system_stays() {
    let acme = Acme::start().await;
    let systems = acme.get("systems").await;
    let hubspot = systems["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "HubSpot")
        .unwrap_or_else(|| panic!("no HubSpot in {systems:#}"))
        .clone();
    let oauth = &hubspot["authSchemeConfigs"][0]["oauth2"];
    assert_eq!(
        oauth["scopes"][0]["name"], "crm.objects.contacts.read",
        "{oauth:#}"
    );
    assert!(oauth["defaultScopes"].is_array() && oauth["description"].is_string());
    let client = &oauth["grant"]["authorizationCode"];
    assert_eq!(client["clientId"], "hubspot-client-1");
    assert!(
        client.get("clientSecret").is_none(),
        "never shown: {client:#}"
    );
    assert!(
        !systems.to_string().contains("hs-client-secret"),
        "nowhere in the listing"
    );

    // A grant naming another organisation's credential is refused; one alone too.
    let mut config = hubspot["authSchemeConfigs"].clone();
    let new = |config: &Value| {
        json!({"name": "Copy", "domain": "copy.example", "templateBaseUrl": "https://copy.example",
               "authSchemeConfigs": config})
    };
    config[0]["oauth2"]["grant"]["authorizationCode"]["organisationId"] =
        json!("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let r = acme.call("POST", "systems", Some(&new(&config))).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e["fields"][0]["field"],
        "authSchemeConfigs[0].oauth2.grant.authorizationCode.organisationId",
        "{e}"
    );
    config[0]["oauth2"]["grant"]["authorizationCode"]
        .as_object_mut()
        .unwrap()
        .remove("organisationId");
    assert_eq!(
        acme.call("POST", "systems", Some(&new(&config)))
            .await
            .status(),
        400
    );
    // With neither, a credential of this organisation is made for it.
    config[0]["oauth2"]["grant"]["authorizationCode"]
        .as_object_mut()
        .unwrap()
        .remove("credentialId");
    let r = acme.call("POST", "systems", Some(&new(&config))).await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let client = &made["authSchemeConfigs"][0]["oauth2"]["grant"]["authorizationCode"];
    assert_eq!(client["organisationId"], acme.org.org, "{made:#}");
    assert!(client["credentialId"].is_string(), "{made:#}");

    // DeleteSystem: refused while a project's template links it, done when none does.
    let r = acme
        .call(
            "DELETE",
            &format!("systems/{}", hubspot["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status(), 409);
    let copy = made["id"].as_str().unwrap();
    let r = acme.call("DELETE", &format!("systems/{copy}"), None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        acme.call("GET", &format!("systems/{copy}"), None)
            .await
            .status(),
        404
    );
    acme.sb.stop().await;
}
