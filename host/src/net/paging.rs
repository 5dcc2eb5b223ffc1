//! `list-all`: GET a list and follow every page, whatever the paging style.

use super::Side;
use super::client::HttpClient;
use super::http::{HttpError, Request};
use super::policy::Policy;
use serde_json::Value;

/// How a list endpoint pages (mirrors the WIT `paging` variant).
#[derive(Debug, Clone)]
pub enum Paging {
    /// One response; items at this JSON pointer ("" = the body).
    None { items: String },
    /// Django REST Framework `{count, next, previous, results}`, following `next`.
    DrfNext,
    PageNumber {
        page_param: String,
        size_param: String,
        size: u32,
        items: String,
    },
    OffsetLimit {
        offset_param: String,
        limit_param: String,
        limit: u32,
        items: String,
    },
    Cursor {
        param: String,
        next: String,
        items: String,
    },
}

/// Hard stop against a server that pages forever.
const MAX_PAGES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{what} answered {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{what}: {detail}")]
    Shape { what: String, detail: String },
}

/// Follow every page of `path` on `side`; each item returned as a JSON value.
pub async fn list_all(
    client: &HttpClient,
    policy: &Policy,
    side: Side,
    path: &str,
    query: &[(String, String)],
    paging: &Paging,
    max_body: u64,
) -> Result<Vec<Value>, ListError> {
    let mut out = Vec::new();
    match paging {
        Paging::None { items } => {
            let page = fetch(client, policy, side, path, query.to_vec(), max_body).await?;
            out.extend(items_at(page, items, path)?);
        }
        Paging::DrfNext => {
            let first = fetch(client, policy, side, path, query.to_vec(), max_body).await?;
            // A plain list (no paging on this server or endpoint) is the whole result.
            if first.is_array() {
                out.extend(items_at(first, "", path)?);
                return Ok(out);
            }
            let count = first.get("count").and_then(Value::as_u64);
            let mut next = next_link(&first);
            let page_len = first
                .get("results")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            out.extend(items_at(first, "/results", path)?);
            let Some(link) = next.take() else {
                return Ok(out);
            };
            let mut next_path = relative_to_base(client, side, &link, path)?;
            // Page-number paging (`next` asks for page 2, `count` says how many there are):
            // read the other pages at once rather than one after another; the client keeps
            // the requests in flight within the environment's cap.
            if let Some(count) = count.filter(|_| page_len > 0) {
                let pages = count.div_ceil(page_len as u64).min(MAX_PAGES as u64) as usize;
                if let Some(links) = numbered(&next_path, pages) {
                    let reads = links
                        .iter()
                        .map(|l| fetch(client, policy, side, l, vec![], max_body));
                    match futures::future::try_join_all(reads).await {
                        Ok(got) => {
                            let mut last_next = None;
                            for page in got {
                                last_next = next_link(&page);
                                out.extend(items_at(page, "/results", path)?);
                            }
                            // The list grew meanwhile: walk on from the last page.
                            match last_next {
                                None => return Ok(out),
                                Some(l) => next_path = relative_to_base(client, side, &l, path)?,
                            }
                        }
                        // It shrank meanwhile (a page past the end): walk it instead.
                        Err(ListError::Status { status: 404, .. }) => out.truncate(page_len),
                        Err(e) => return Err(e),
                    }
                }
            }
            let mut seen = std::collections::HashSet::new();
            for _ in 0..MAX_PAGES {
                let page = fetch(client, policy, side, &next_path, vec![], max_body).await?;
                let link = next_link(&page);
                out.extend(items_at(page, "/results", path)?);
                match link {
                    Some(next) => {
                        if !seen.insert(next.clone()) {
                            return Err(shape(path, format!("page link {next} repeats")));
                        }
                        next_path = relative_to_base(client, side, &next, path)?;
                    }
                    None => break,
                }
            }
        }
        Paging::PageNumber {
            page_param,
            size_param,
            size,
            items,
        } => {
            for page_no in 1..=MAX_PAGES {
                let mut q = query.to_vec();
                q.push((page_param.clone(), page_no.to_string()));
                q.push((size_param.clone(), size.to_string()));
                let page = fetch(client, policy, side, path, q, max_body).await?;
                let got = items_at(page, items, path)?;
                let n = got.len();
                out.extend(got);
                if n < *size as usize || n == 0 {
                    break;
                }
            }
        }
        Paging::OffsetLimit {
            offset_param,
            limit_param,
            limit,
            items,
        } => {
            let mut offset = 0u64;
            for _ in 0..MAX_PAGES {
                let mut q = query.to_vec();
                q.push((offset_param.clone(), offset.to_string()));
                q.push((limit_param.clone(), limit.to_string()));
                let page = fetch(client, policy, side, path, q, max_body).await?;
                let got = items_at(page, items, path)?;
                let n = got.len();
                out.extend(got);
                if n < *limit as usize || n == 0 {
                    break;
                }
                offset += n as u64;
            }
        }
        Paging::Cursor { param, next, items } => {
            let mut token: Option<String> = None;
            let mut seen = std::collections::HashSet::new();
            for _ in 0..MAX_PAGES {
                let mut q = query.to_vec();
                if let Some(t) = &token {
                    q.push((param.clone(), t.clone()));
                }
                let page = fetch(client, policy, side, path, q, max_body).await?;
                let cursor = page.pointer(next).cloned();
                out.extend(items_at(page, items, path)?);
                match cursor {
                    Some(Value::String(t)) if !t.is_empty() => {
                        if !seen.insert(t.clone()) {
                            return Err(shape(path, format!("cursor {t:?} repeats")));
                        }
                        token = Some(t);
                    }
                    Some(Value::Number(n)) => {
                        let t = n.to_string();
                        if !seen.insert(t.clone()) {
                            return Err(shape(path, format!("cursor {t} repeats")));
                        }
                        token = Some(t);
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(out)
}

async fn fetch(
    client: &HttpClient,
    policy: &Policy,
    side: Side,
    path: &str,
    query: Vec<(String, String)>,
    max_body: u64,
) -> Result<Value, ListError> {
    let mut req = Request::get(side, path);
    req.query = query;
    let what = format!("GET {path} on the {side}");
    let resp = client.send(policy, req, max_body).await?;
    if !(200..300).contains(&resp.status) {
        let body = super::body_summary(&resp.body);
        return Err(ListError::Status {
            what,
            status: resp.status,
            body,
        });
    }
    serde_json::from_slice(&resp.body)
        .map_err(|e| shape(path, format!("the answer is not JSON: {e}")))
}

/// A DRF page's `next` link, when there is one.
fn next_link(page: &Value) -> Option<String> {
    page.get("next")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// The links to pages 2..=`pages` when `next` (a relative link) asks for `page=2`; `None` for
/// any other kind of link (a cursor, an offset).
fn numbered(next: &str, pages: usize) -> Option<Vec<String>> {
    let (route, query) = next.split_once('?')?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if !pairs.iter().any(|(k, v)| k == "page" && v == "2") {
        return None;
    }
    Some(
        (2..=pages)
            .map(|n| {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs.iter().map(|(k, v)| {
                        (
                            k.as_str(),
                            if k == "page" {
                                n.to_string()
                            } else {
                                v.clone()
                            },
                        )
                    }))
                    .finish();
                format!("{route}?{q}")
            })
            .collect(),
    )
}

fn items_at(mut page: Value, pointer: &str, path: &str) -> Result<Vec<Value>, ListError> {
    match page.pointer_mut(pointer) {
        Some(Value::Array(items)) => Ok(std::mem::take(items)),
        Some(Value::Null) | None if !pointer.is_empty() => Ok(vec![]),
        _ => Err(shape(path, format!("expected a list at {pointer:?}"))),
    }
}

/// A DRF `next` link is absolute; turn it back into a path below the side's base URL,
/// refusing one that points elsewhere.
/// A `next` link as a path relative to the side's base URL. Only its path and query are
/// used: behind a proxy a server often builds links with its internal host or scheme, and
/// the request must go to the configured base URL anyway, never to a host the server names.
fn relative_to_base(
    client: &HttpClient,
    side: Side,
    next: &str,
    path: &str,
) -> Result<String, ListError> {
    let base = &client.connection(side).base;
    let url = base
        .join(next)
        .map_err(|e| shape(path, format!("bad next link {next:?}: {e}")))?;
    let Some(rel) = url.path().strip_prefix(base.path()) else {
        return Err(shape(
            path,
            format!("next link {next} is not below the base URL {base}"),
        ));
    };
    let mut rel = rel.to_string();
    if let Some(q) = url.query() {
        rel.push('?');
        rel.push_str(q);
    }
    Ok(rel)
}

fn shape(path: &str, detail: String) -> ListError {
    ListError::Shape {
        what: format!("GET {path}"),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn page_number_links_are_made_from_the_link_to_page_two() {
        assert_eq!(
            numbered("tags/?name=a+b&page=2&page_size=50", 4).unwrap(),
            [
                "tags/?name=a+b&page=2&page_size=50",
                "tags/?name=a+b&page=3&page_size=50",
                "tags/?name=a+b&page=4&page_size=50"
            ]
        );
        // Not page numbers: followed link by link.
        assert!(numbered("tags/?cursor=cD0y", 4).is_none());
        assert!(numbered("tags/?limit=50&offset=50", 4).is_none());
        assert!(numbered("tags/?page=3", 4).is_none());
        assert!(numbered("tags/", 4).is_none());
    }
}
