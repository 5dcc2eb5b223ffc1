//! The OpenAPI document. utoipa generates it from the handlers and types; `document` adds
//! what every operation shares (the job id in the path, the error answers any of them can
//! give) and what only the server's file knows (its promotions, as an enum), so that what
//! the document allows the server accepts, and what it refuses the document says.

use super::*;
use crate::config::Config;
use crate::job::ApprovalState;
use serde_json::{Value, json};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "ferry serve", description = "Promotions as jobs: start, watch, cancel, download."),
    paths(whoami, promotions, reload, create_job, list_jobs, get_job, cancel_job, approve_job, reject_job, delete_job, job_plan, job_report, job_log, job_events, job_package),
    components(schemas(Job, Line, Mode, Status, Progress, ApprovalState, Decision, Verdict, Approve, Reject, NewJob, JobList, ErrorBody, ErrorDetail, ErrorCode, Caller, Role, Reloaded, Promotions, PromotionInfo, LogLines)),
    modifiers(&BearerAuth),
    security(("token" = []))
)]
struct ApiDoc;

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

/// The document this server serves at `/v1/openapi.json`.
pub fn document(config: &Config) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document is JSON");
    shared_answers(&mut doc);
    doc["components"]["schemas"]["NewJob"] = new_job(config.promotions.keys().collect());
    doc["paths"]["/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
        ["schema"] = event();
    doc
}

/// One server-sent event (OpenAPI 3.1 reads a stream's `schema` as each event's): its name,
/// and its data as JSON of the schema that name says.
fn event() -> Value {
    let named = |name: &str, schema: &str| {
        json!({
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"const": name},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": format!("#/components/schemas/{schema}")}
                }
            }
        })
    };
    json!({
        "description": "`job`: the record changed; `log`: a line; `end`: it finished (the stream closes)",
        "oneOf": [named("job", "Job"), named("log", "Line"), named("end", "Job")]
    })
}

/// The answers any operation may give, as shared responses (a body's rejections where it
/// takes one); the job id of every path that has one.
fn shared_answers(doc: &mut Value) {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    };
    doc["components"]["responses"] = json!({
        "BadRequest": error("a path or query value the server does not take (`bad_request`)"),
        "Unauthorized": error("no token, or not a known one (`unauthorized`)"),
        "NotFound": error("no such job (`not_found`)"),
        "Internal": error("the server's fault: the message names a reference in its log (`internal`)"),
        "PayloadTooLarge": error("the body is over 64 KiB (`payload_too_large`)"),
        "UnsupportedMediaType": error("the body is not `application/json` (`unsupported_media_type`)"),
        "Unprocessable": error("the body is JSON but not the documented shape (`unprocessable`)"),
    });
    let id = json!({
        "name": "id", "in": "path", "required": true,
        "description": "the job's id (a ULID)",
        "schema": {"type": "string"}
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let has_id = path.contains("{id}");
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            if has_id {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                let mut all = vec![id.clone()];
                all.extend(params);
                op["parameters"] = Value::Array(all);
            }
            let takes_body = op.get("requestBody").is_some();
            let takes_input =
                op["parameters"].as_array().is_some_and(|p| !p.is_empty()) || takes_body;
            let answers = op["responses"]
                .as_object_mut()
                .expect("every operation has responses");
            let mut shared = vec![("401", "Unauthorized"), ("500", "Internal")];
            if takes_input {
                shared.push(("400", "BadRequest"));
            }
            if has_id {
                shared.push(("404", "NotFound"));
            }
            // A JSON body is refused by its extractor in these three ways, on every route.
            if takes_body {
                shared.push(("413", "PayloadTooLarge"));
                shared.push(("415", "UnsupportedMediaType"));
                shared.push(("422", "Unprocessable"));
            }
            for (status, name) in shared {
                answers
                    .entry(status)
                    .or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
            }
        }
    }
}

/// `NewJob` exactly: one of the server's promotions, and a `package` for a restore only.
fn new_job(promotions: Vec<&String>) -> Value {
    let promotion = json!({
        "type": "string",
        "enum": promotions,
        "description": "a promotion of the server's file (`GET /v1/promotions`)"
    });
    json!({
        "description": "a job to start: a plan, clone or export of a promotion, or a restore of an export job's package",
        "oneOf": [
            {
                "type": "object",
                "required": ["promotion", "mode"],
                "additionalProperties": false,
                "properties": {
                    "promotion": promotion,
                    "mode": {"type": "string", "enum": ["plan", "clone", "export"]},
                    "package": {"type": "null"}
                }
            },
            {
                "type": "object",
                "required": ["promotion", "mode", "package"],
                "additionalProperties": false,
                "properties": {
                    "promotion": promotion,
                    "mode": {"type": "string", "enum": ["restore"]},
                    "package": {
                        "type": "string",
                        "description": "the id of a succeeded export job of the promotion's platform"
                    }
                }
            }
        ]
    })
}
