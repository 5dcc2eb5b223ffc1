//! What an organisation starts with. Every organisation has the execution pools `versori`
//! (the default) and `gcp-eu`; `demo` adds systems, connections and three projects, each
//! with a `development` environment running a deployed version.

use super::store::*;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    Demo,
}

impl std::str::FromStr for Seed {
    type Err = String;
    fn from_str(s: &str) -> Result<Seed, String> {
        match s {
            "demo" => Ok(Seed::Demo),
            other => Err(format!("seed {other:?}: the Versori sandbox knows demo")),
        }
    }
}

pub const POOLS: [&str; 2] = ["versori", "gcp-eu"];

fn system(name: &str, domain: &str, auth: Value) -> System {
    System {
        id: ulid(),
        name: name.into(),
        domain: domain.into(),
        template_base_url: format!("https://{domain}/api"),
        auth_scheme_configs: json!([auth]),
        labels: json!({}),
    }
}

/// (system index, SDK name, dynamic, static connection's secret)
type Link<'a> = (usize, &'a str, bool, Option<&'a str>);

fn project(org: &mut Org, name: &str, schema: Value, vars: Value, links: &[Link], code: &str) {
    let t = now();
    let env_id = ulid();
    let version = Version {
        id: ulid(),
        name: "2026-11-30-09-00-00".into(),
        state: "ready".into(),
        created: t.clone(),
        description: format!("{name}: first release"),
        labels: json!({}),
        files: json!([{"filename": "index.ts", "content": code}]),
    };
    let mut templates = vec![];
    for (i, (sys, sdk_name, dynamic, secret)) in links.iter().enumerate() {
        let tid = ulid();
        templates.push(Template {
            id: tid.clone(),
            system_id: org.systems[*sys].id.clone(),
            env_id: env_id.clone(),
            name: sdk_name.to_string(),
            dynamic: *dynamic,
            auth_scheme_config_ids: vec![],
        });
        if let Some(secret) = secret {
            org.connections.push(Connection {
                id: ulid(),
                name: format!("{name}-{sdk_name}-{i}"),
                credentials: json!([{"id": ulid(), "credential": {"id": ulid(), "organisationId": org.id, "type": "string", "name": "api-key", "data": {"string": {"value": secret}}}}]),
                base_url: org.systems[*sys].template_base_url.clone(),
                system_id: org.systems[*sys].id.clone(),
                templates: vec![tid],
                end_user: None,
                created: t.clone(),
                updated: t.clone(),
            });
        }
    }
    org.projects.push(Project {
        id: ulid(),
        name: name.into(),
        created: t.clone(),
        updated: t.clone(),
        settings: json!({"defaultEnvironment": "development"}),
        schema,
        current_files: json!({"files": version.files, "labels": {}}),
        environments: vec![Environment {
            id: env_id,
            name: "development".into(),
            status: "running".into(),
            created: t.clone(),
            updated: t.clone(),
            public_url: format!("https://{name}-development.versori.run"),
            execution_pool: "versori".into(),
            labels: json!({"team": "integrations"}),
            config: json!({"deploymentSpec": {"replicas": 1, "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}}),
            deployed_version: Some(version.id.clone()),
            last_deployed: Some(t),
            variables: vars,
        }],
        versions: vec![version],
        templates,
    });
}

pub fn fill(org: &mut Org, seed: &Seed) {
    match seed {
        Seed::Demo => demo(org),
    }
}

fn demo(org: &mut Org) {
    // In the document's shapes: every config has an id (unique in its array) and a
    // description; OAuth 2.0 its scopes as objects, the default ones, and its grant, whose
    // client secret lives in a credential of this organisation and is never shown.
    let key = json!({"type": "api-key", "apiKey": {"id": ulid(), "description": "API key in a header", "name": "X-Api-Key", "in": "header"}});
    let oauth = json!({"type": "oauth2", "oauth2": {
        "id": ulid(),
        "description": "HubSpot app",
        "authorizeUrl": "https://app.hubspot.example/oauth/authorize",
        "tokenUrl": "https://api.hubspot.example/oauth/token",
        "scopes": [{"name": "crm.objects.contacts.read", "description": "Read contacts"},
                   {"name": "crm.objects.deals.read", "description": "Read deals"}],
        "defaultScopes": ["crm.objects.contacts.read"],
        "grant": {"type": "authorizationCode", "authorizationCode": {
            "credentialId": ulid(), "organisationId": org.id,
            "clientId": "hubspot-client-1", "clientSecret": "hs-client-secret"}},
    }});
    org.systems
        .push(system("Shopify", "shop.example.com", key.clone()));
    org.systems
        .push(system("Slack", "slack.example.com", key.clone()));
    org.systems
        .push(system("HubSpot", "api.hubspot.example", oauth));
    let schema = |props: Value| json!({"type": "object", "properties": props});
    let prefix = org.name.clone();
    project(
        org,
        "orders-sync",
        schema(json!({"store": {"type": "string"}, "batchSize": {"type": "integer"}})),
        json!({"store": format!("{prefix}-store"), "batchSize": 50}),
        &[
            (0, "shopify", false, Some("shp-secret-1")),
            (1, "slack", false, Some("xoxb-secret-2")),
            (2, "hubspot", true, None),
        ],
        "export default workflow('orders-sync');",
    );
    project(
        org,
        "alerts",
        schema(json!({"channel": {"type": "string"}})),
        json!({"channel": "#ops"}),
        &[
            (1, "slack", false, Some("xoxb-secret-3")),
            (2, "crm", true, None),
        ],
        "export default workflow('alerts');",
    );
    project(
        org,
        "crm-bridge",
        schema(json!({"region": {"type": "string"}, "dryRun": {"type": "boolean"}})),
        json!({"region": "eu", "dryRun": false}),
        &[
            (0, "shop", false, Some("shp-secret-4")),
            (2, "hubspot", true, None),
        ],
        "export default workflow('crm-bridge');",
    );
}
