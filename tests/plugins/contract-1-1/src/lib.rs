//! A tag cloner built straight on the frozen ferry:plugin@1.1.0 (wit/v1.1.0), without the
//! SDK, which has moved on: a host that speaks a later 1.x must keep loading and running it,
//! its batch lookup (`find-all`, new in 1.1.0) included.

wit_bindgen::generate!({ path: "../../../wit/v1.1.0", world: "cloner-plugin" });

use exports::ferry::plugin::cloner::Guest;
use ferry::plugin::http::{self, Body, Method, Paging, Request};
use ferry::plugin::types::{CallContext, Error, KindInfo, Resource, Side};

struct Tags;

fn field(json: &str, name: &str) -> String {
    // Bodies are small flat objects here: {"id": 1, "name": "...", ...}.
    let pat = format!("\"{name}\":");
    let Some(at) = json.find(&pat) else {
        return String::new();
    };
    let rest = json[at + pat.len()..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        s[..s.find('"').unwrap_or(s.len())].to_string()
    } else {
        rest[..rest.find([',', '}']).unwrap_or(rest.len())]
            .trim()
            .to_string()
    }
}

fn resource(body: String) -> Resource {
    Resource {
        kind: "tag".into(),
        id: field(&body, "id"),
        key: field(&body, "name"),
        body,
        skip: None,
    }
}

fn tags(side: Side, query: Vec<(String, String)>) -> Result<Vec<Resource>, Error> {
    Ok(http::list_all(side, "tags/", &query, &Paging::DrfNext)?
        .into_iter()
        .map(resource)
        .collect())
}

impl Guest for Tags {
    fn kinds() -> Vec<KindInfo> {
        vec![KindInfo {
            name: "tag".into(),
            description: "tags, by a 1.1.0 plugin".into(),
            depends_on: vec![],
            key: vec!["/name".into()],
            references: vec![],
            secrets: vec![],
            has_files: false,
        }]
    }
    fn list(_: CallContext, _: String) -> Result<Vec<Resource>, Error> {
        tags(Side::Source, vec![])
    }
    fn find(_: CallContext, _: String, wanted: Resource) -> Result<Option<Resource>, Error> {
        Ok(
            tags(Side::Target, vec![("name".into(), wanted.key.clone())])?
                .into_iter()
                .find(|t| t.key == wanted.key),
        )
    }
    fn find_all(
        _: CallContext,
        _: String,
        wanted: Vec<Resource>,
    ) -> Result<Option<Vec<Option<Resource>>>, Error> {
        let all = tags(Side::Target, vec![])?;
        Ok(Some(
            wanted
                .iter()
                .map(|w| all.iter().find(|t| t.key == w.key).cloned())
                .collect(),
        ))
    }
    fn create(_: CallContext, _: String, res: Resource) -> Result<Resource, Error> {
        let body = format!("{{\"name\": \"{}\"}}", res.key);
        let req = Request {
            side: Side::Target,
            method: Method::Post,
            path: "tags/".into(),
            query: vec![],
            headers: vec![],
            body: Body::Json(body),
        };
        let r = http::send(&req)?;
        if r.status >= 300 {
            return Err(Error::Invalid(format!("POST tags/ answered {}", r.status)));
        }
        Ok(resource(String::from_utf8_lossy(&r.body).into_owned()))
    }
    fn update(_: CallContext, _: String, _: String, res: Resource) -> Result<Resource, Error> {
        Ok(res)
    }
    fn copy_files(_: CallContext, _: String, _: Resource, _: Resource) -> Result<String, Error> {
        Ok("{\"moved\": [], \"too_large\": [], \"unsupported\": [], \"failed\": []}".into())
    }
}

export!(Tags);
