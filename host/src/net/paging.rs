//! `list-all`: GET a list and follow every page, whatever the paging style.

use super::Side;
use super::client::HttpClient;
pub use super::http::ListBounds;
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

/// Hard stop against a server that pages forever: reaching it is an error, never a part
/// of the list (which a prune would act on).
const MAX_PAGES: usize = 100_000;

/// Pages of a page-number list read at once, when `count` says how many there are: a
/// count the pages have not borne out yet plans no more than this ahead.
const PAGES_AHEAD: usize = 32;

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
    #[error(
        "{what}: the list passed {limit} {unit} ({setting}): stopped, rather than hold more or act on a part of it"
    )]
    Bound {
        what: String,
        limit: u64,
        unit: &'static str,
        setting: &'static str,
    },
}

/// The pages of one list as they arrive: counted against the bounds and the page cap, and
/// each compared with the one before (a server that ignores the paging parameters sends
/// the same page forever).
struct Tally<'a> {
    path: &'a str,
    bounds: ListBounds,
    items: u64,
    bytes: u64,
    pages: usize,
    /// how many items the last page added: that page is the tail of the list
    last_len: usize,
}

impl<'a> Tally<'a> {
    fn new(path: &'a str, bounds: ListBounds) -> Self {
        Tally {
            path,
            bounds,
            items: 0,
            bytes: 0,
            pages: 0,
            last_len: 0,
        }
    }

    /// Add a page's items (`bytes`: its answer's size) to `out`.
    fn add(
        &mut self,
        out: &mut Vec<Value>,
        got: Vec<Value>,
        bytes: usize,
    ) -> Result<(), ListError> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(shape(
                self.path,
                format!(
                    "more than {MAX_PAGES} pages: stopped, rather than return a part of the list"
                ),
            ));
        }
        let last = &out[out.len() - self.last_len..];
        if !got.is_empty() && got.as_slice() == last {
            return Err(shape(
                self.path,
                format!(
                    "page {} repeats the page before it: the server ignores the paging parameters",
                    self.pages
                ),
            ));
        }
        self.items += got.len() as u64;
        self.bytes += bytes as u64;
        let bound = |limit, unit, setting| ListError::Bound {
            what: format!("GET {}", self.path),
            limit,
            unit,
            setting,
        };
        if self.items > self.bounds.items {
            return Err(bound(self.bounds.items, "items", "`max_list_items`"));
        }
        if self.bytes > self.bounds.bytes {
            return Err(bound(self.bounds.bytes, "bytes", self.bounds.bytes_set_by));
        }
        self.last_len = got.len();
        out.extend(got);
        Ok(())
    }
}

/// What to list: a path on one side, its query, and how its pages link.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    pub side: Side,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub paging: &'a Paging,
}

/// Follow every page of a listing; each item returned as a JSON value.
pub async fn list_all(
    client: &HttpClient,
    policy: &Policy,
    listing: Listing<'_>,
    max_body: u64,
) -> Result<Vec<Value>, ListError> {
    let bounds = client.list_bounds();
    list_all_within(client, policy, listing, max_body, bounds).await
}

/// [`list_all`] within `bounds` rather than the client's.
pub async fn list_all_within(
    client: &HttpClient,
    policy: &Policy,
    listing: Listing<'_>,
    max_body: u64,
    bounds: ListBounds,
) -> Result<Vec<Value>, ListError> {
    let Listing {
        side,
        path,
        query,
        paging,
    } = listing;
    let mut out = Vec::new();
    let mut tally = Tally::new(path, bounds);
    let get =
        |p: &str, q: Vec<(String, String)>| fetch(client, policy, side, p.to_string(), q, max_body);
    match paging {
        Paging::None { items } => {
            let (page, n) = get(path, query.to_vec()).await?;
            tally.add(&mut out, items_at(page, items, path)?, n)?;
        }
        Paging::DrfNext => {
            let (first, n) = get(path, query.to_vec()).await?;
            // A plain list (no paging on this server or endpoint) is the whole result.
            if first.is_array() {
                tally.add(&mut out, items_at(first, "", path)?, n)?;
                return Ok(out);
            }
            let count = first.get("count").and_then(Value::as_u64);
            let next = next_link(&first);
            tally.add(&mut out, items_at(first, "/results", path)?, n)?;
            let page_len = out.len();
            let Some(link) = next else {
                return Ok(out);
            };
            let mut next_path = relative_to_base(client, side, &link, path)?;
            // Page-number paging (`next` asks for page 2, `count` says how many there are):
            // read the other pages a few at once rather than one after another; the client
            // keeps the requests in flight within the environment's cap. A count is a claim:
            // pages are planned a batch at a time, and the bounds stop a count that lies.
            if let Some(count) = count.filter(|_| page_len > 0) {
                let pages = count.div_ceil(page_len as u64).min(MAX_PAGES as u64) as usize;
                let page_two = next_path.clone();
                let mut from = 2;
                while from <= pages {
                    let to = (from + PAGES_AHEAD - 1).min(pages);
                    let Some(links) = numbered(&page_two, from, to) else {
                        break;
                    };
                    let reads = links.iter().map(|l| get(l, vec![]));
                    match futures::future::try_join_all(reads).await {
                        Ok(got) => {
                            let mut last_next = None;
                            for (page, n) in got {
                                last_next = next_link(&page);
                                tally.add(&mut out, items_at(page, "/results", path)?, n)?;
                            }
                            match last_next {
                                None => return Ok(out),
                                Some(l) => next_path = relative_to_base(client, side, &l, path)?,
                            }
                            from = to + 1;
                        }
                        // It shrank meanwhile (a page past the end): walk the rest instead.
                        Err(ListError::Status { status: 404, .. }) => {
                            next_path = links[0].clone();
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            // What is left, link by link (the list grew, or it pages by cursor or offset).
            let mut seen = std::collections::HashSet::new();
            loop {
                let (page, n) = get(&next_path, vec![]).await?;
                let link = next_link(&page);
                tally.add(&mut out, items_at(page, "/results", path)?, n)?;
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
            for page_no in 1.. {
                let mut q = query.to_vec();
                q.push((page_param.clone(), page_no.to_string()));
                q.push((size_param.clone(), size.to_string()));
                let (page, bytes) = get(path, q).await?;
                let got = items_at(page, items, path)?;
                let n = got.len();
                tally.add(&mut out, got, bytes)?;
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
            loop {
                let mut q = query.to_vec();
                q.push((offset_param.clone(), offset.to_string()));
                q.push((limit_param.clone(), limit.to_string()));
                let (page, bytes) = get(path, q).await?;
                let got = items_at(page, items, path)?;
                let n = got.len();
                tally.add(&mut out, got, bytes)?;
                if n < *limit as usize || n == 0 {
                    break;
                }
                offset += n as u64;
            }
        }
        Paging::Cursor { param, next, items } => {
            let mut token: Option<String> = None;
            let mut seen = std::collections::HashSet::new();
            loop {
                let mut q = query.to_vec();
                if let Some(t) = &token {
                    q.push((param.clone(), t.clone()));
                }
                let (page, bytes) = get(path, q).await?;
                let cursor = page.pointer(next).cloned();
                tally.add(&mut out, items_at(page, items, path)?, bytes)?;
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

/// One page: its JSON, and its answer's size in bytes.
async fn fetch(
    client: &HttpClient,
    policy: &Policy,
    side: Side,
    path: String,
    query: Vec<(String, String)>,
    max_body: u64,
) -> Result<(Value, usize), ListError> {
    let mut req = Request::get(side, &path);
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
    let value = serde_json::from_slice(&resp.body)
        .map_err(|e| shape(&path, format!("the answer is not JSON: {e}")))?;
    Ok((value, resp.body.len()))
}

/// A DRF page's `next` link, when there is one.
fn next_link(page: &Value) -> Option<String> {
    page.get("next")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// The links to pages `from..=to` when `next` (a relative link) asks for `page=2`; `None`
/// for any other kind of link (a cursor, an offset).
fn numbered(next: &str, from: usize, to: usize) -> Option<Vec<String>> {
    let (route, query) = next.split_once('?')?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if !pairs.iter().any(|(k, v)| k == "page" && v == "2") {
        return None;
    }
    Some(
        (from..=to)
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
            numbered("tags/?name=a+b&page=2&page_size=50", 2, 4).unwrap(),
            [
                "tags/?name=a+b&page=2&page_size=50",
                "tags/?name=a+b&page=3&page_size=50",
                "tags/?name=a+b&page=4&page_size=50"
            ]
        );
        // Not page numbers: followed link by link.
        assert!(numbered("tags/?cursor=cD0y", 2, 4).is_none());
        assert!(numbered("tags/?limit=50&offset=50", 2, 4).is_none());
        assert!(numbered("tags/?page=3", 2, 4).is_none());
        assert!(numbered("tags/", 2, 4).is_none());
    }
}
