//! Reading actual state with bulk list calls only, kinds concurrently:
//! `GET /developers?expand=true&count=1000`, `GET /apiproducts?expand=true&count=1000` and
//! `GET /apps?expand=true&includeCred=true&rows=1000`, each paged by an inclusive `startKey`.
//! Apps name their developer by id; the developer list maps ids to emails.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::backend::BackendError;
use crate::model::{Actual, ReadScope};

use super::client::{Client, Request};
use super::decode;
use super::encode::Path;
use super::page::Pager;
use super::wire::{AppList, DeveloperList, ProductList, WireApp, WireDeveloper, WireProduct};

/// Items per page: the platforms' maximum for these lists.
const PAGE_SIZE: usize = 1000;

/// Expanded app pages in flight at once. Each reply is a tree of a few MB until it is
/// decoded; the id chain hands out a start every page-latency, so a few in flight keep
/// the chain the critical path while the memory stays that of a few pages, not of the org.
const EXPANDED_IN_FLIGHT: usize = 6;

/// One list call: its collection, page-size parameter and item type.
struct ListCall {
    collection: &'static str,
    size_param: &'static str,
    extra: &'static [(&'static str, &'static str)],
}

const DEVELOPERS: ListCall = ListCall {
    collection: "developers",
    size_param: "count",
    extra: &[],
};
const PRODUCTS: ListCall = ListCall {
    collection: "apiproducts",
    size_param: "count",
    extra: &[],
};
const APPS: ListCall = ListCall {
    collection: "apps",
    size_param: "rows",
    extra: &[("includeCred", "true")],
};
/// The same list unexpanded: app ids only.
const APP_IDS: ListCall = ListCall {
    collection: "apps",
    size_param: "rows",
    extra: &[],
};

/// The request for one page: `?expand=true&{count|rows}=N[&startKey=…]` plus the call's own.
fn page_request(call: &ListCall, size: usize, start: Option<&str>) -> Request {
    let expand = if call.extra.is_empty() && call.collection == "apps" {
        "false"
    } else {
        "true"
    };
    let mut req = Request::get(Path::root(call.collection), call.collection)
        .query("expand", expand)
        .query(call.size_param, size.to_string());
    for (name, value) in call.extra {
        req = req.query(name, *value);
    }
    if let Some(start) = start {
        req = req.query("startKey", start);
    }
    req
}

/// Fetches every page of `call`; `items` takes the wrapper (`{"developer": […]}`) apart.
async fn list_all<W: DeserializeOwned + Default, T>(
    client: &Client,
    tally: &AtomicUsize,
    call: &ListCall,
    items: impl Fn(W) -> Vec<T>,
    key: impl Fn(&T) -> &str,
) -> Result<Vec<T>, BackendError> {
    let mut pager = Pager::new(PAGE_SIZE);
    let mut all = Vec::new();
    while let Some(start) = pager.next() {
        let req = page_request(call, pager.page_size(), start);
        let body = client.send_tracked(&req, Some(tally)).await.result?;
        let page = parse::<W>(body, call.collection)?;
        all.extend(pager.accept(items(page), &key));
    }
    Ok(all)
}

/// A list reply: an empty body or `{}` is an empty list.
fn parse<W: DeserializeOwned + Default>(
    body: Option<Value>,
    what: &str,
) -> Result<W, BackendError> {
    match body {
        None => Ok(W::default()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| BackendError::Other(format!("unexpected reply listing {what}: {e}"))),
    }
}

async fn developers(
    client: &Client,
    tally: &AtomicUsize,
) -> Result<Vec<WireDeveloper>, BackendError> {
    list_all(
        client,
        tally,
        &DEVELOPERS,
        |l: DeveloperList| l.developer,
        |d| d.email.as_str(),
    )
    .await
}

async fn products(client: &Client, tally: &AtomicUsize) -> Result<Vec<WireProduct>, BackendError> {
    list_all(
        client,
        tally,
        &PRODUCTS,
        |l: ProductList| l.api_product,
        |p| p.name.as_str(),
    )
    .await
}

/// The org's apps. The app list is one `startKey` chain, so its pages cannot be asked for
/// before the previous one is known. The chain is walked with unexpanded pages (app ids
/// only: small and cheap), and each id page's `startKey` starts the expanded page of the same
/// range at once, concurrently: the critical path is the id chain plus one expanded page,
/// not every expanded page one after another. Each range `[start, next start)` is kept from
/// its expanded page; a range that grew meanwhile is paged on to its end, and an app seen
/// twice is kept once.
async fn apps(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
) -> Result<Vec<WireApp>, BackendError> {
    let mut pager = Pager::new(PAGE_SIZE);
    let mut pages: JoinSet<(usize, Result<Vec<WireApp>, BackendError>)> = JoinSet::new();
    let mut starts: Vec<Option<String>> = Vec::new();
    let slots = Arc::new(Semaphore::new(EXPANDED_IN_FLIGHT));
    while let Some(start) = pager.next() {
        let start = start.map(str::to_string);
        let (c, t, s, k) = (client.clone(), tally.clone(), start.clone(), starts.len());
        let slots = slots.clone();
        pages.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore open");
            (k, expanded_page(&c, &t, s.as_deref()).await)
        });
        starts.push(start);
        let req = page_request(
            &APP_IDS,
            pager.page_size(),
            starts[starts.len() - 1].as_deref(),
        );
        let body = match client.send_tracked(&req, Some(&**tally)).await.result {
            Ok(body) => body,
            Err(e) => {
                pages.abort_all();
                return Err(e);
            }
        };
        pager.accept(app_ids(body)?, String::as_str);
    }
    let mut expanded: Vec<Option<Vec<WireApp>>> = (0..starts.len()).map(|_| None).collect();
    while let Some(done) = pages.join_next().await {
        let (k, page) =
            done.map_err(|e| BackendError::Other(format!("a list task failed: {e}")))?;
        expanded[k] = Some(page?);
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut all = Vec::new();
    for (k, page) in expanded.into_iter().enumerate() {
        let page = page.unwrap_or_default();
        let end = starts.get(k + 1).and_then(|s| s.as_deref());
        let mut range = take_range(page, end);
        // The page did not reach the next range's start although it was full: apps were
        // added inside this range after its ids were listed. Page on from its last app.
        while range.open && range.returned >= PAGE_SIZE {
            let Some(last) = range.items.last().map(|a| a.app_id.clone()) else {
                break;
            };
            let more = expanded_page(client, tally, Some(&last)).await?;
            let next = take_range(more, end);
            range.returned = next.returned;
            range.open = next.open;
            range.items.extend(next.items);
        }
        all.extend(
            range
                .items
                .into_iter()
                .filter(|a| seen.insert(a.app_id.clone())),
        );
    }
    Ok(all)
}

/// One expanded app page from `start` (inclusive).
async fn expanded_page(
    client: &Client,
    tally: &AtomicUsize,
    start: Option<&str>,
) -> Result<Vec<WireApp>, BackendError> {
    let req = page_request(&APPS, PAGE_SIZE, start);
    let body = client.send_tracked(&req, Some(tally)).await.result?;
    Ok(parse::<AppList>(body, APPS.collection)?.app)
}

/// The apps of one page up to (not including) `end`, the next range's first app.
struct Range {
    items: Vec<WireApp>,
    /// Apps the platform returned.
    returned: usize,
    /// Whether `end` was not reached (always, for the last range).
    open: bool,
}

fn take_range(page: Vec<WireApp>, end: Option<&str>) -> Range {
    let returned = page.len();
    let mut items = Vec::with_capacity(returned);
    let mut open = true;
    for a in page {
        if end == Some(a.app_id.as_str()) {
            open = false;
            break;
        }
        items.push(a);
    }
    Range {
        items,
        returned,
        open,
    }
}

/// The app ids of an unexpanded list: `["id", …]` (Edge) or `{"app": [{"appId": "id"}, …]}`
/// (X; `{}` when empty).
fn app_ids(body: Option<Value>) -> Result<Vec<String>, BackendError> {
    let bad = || BackendError::Other("unexpected reply listing app ids".into());
    let list = match body {
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(Value::Object(mut o)) => match o.remove("app") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(bad()),
        },
        Some(_) => return Err(bad()),
    };
    list.into_iter()
        .map(|v| match v {
            Value::String(id) => Ok(id),
            Value::Object(mut o) => match o.remove("appId") {
                Some(Value::String(id)) => Ok(id),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}

/// Reads the kinds in `scope` (developers too when apps are read, to name their owners).
pub(crate) async fn read(client: &Arc<Client>, scope: ReadScope) -> Result<Actual, BackendError> {
    let tally = Arc::new(AtomicUsize::new(0));
    let need_developers = scope.developers || scope.apps;
    let (wire_developers, wire_products, wire_apps) = tokio::try_join!(
        async {
            match need_developers {
                true => developers(client, &tally).await,
                false => Ok(Vec::new()),
            }
        },
        async {
            match scope.products {
                true => products(client, &tally).await,
                false => Ok(Vec::new()),
            }
        },
        async {
            match scope.apps {
                true => apps(client, &tally).await,
                false => Ok(Vec::new()),
            }
        },
    )?;

    let mut actual = Actual {
        // registrar's lock products are never part of a diff (so `--prune` never sees one).
        products: wire_products
            .iter()
            .map(decode::product)
            .filter(|p| !crate::lock::is_lock(&p.value.attributes))
            .collect(),
        ..Actual::default()
    };
    let emails_by_id: HashMap<String, String> = wire_developers
        .iter()
        .filter(|d| !d.developer_id.is_empty())
        .map(|d| (d.developer_id.clone(), d.email.clone()))
        .collect();
    if scope.developers {
        actual.developers = wire_developers.iter().map(decode::developer).collect();
    }
    // By value: each app's wire form is freed once decoded.
    for w in wire_apps {
        let w = &w;
        let Some(owner) = decode::app_owner(w, &emails_by_id) else {
            tracing::debug!(app = %w.name, "skipping an app without a known developer");
            continue;
        };
        let app = decode::app(w, &owner);
        for c in &w.credentials {
            let key = decode::key(c, &owner, &app.value.name);
            client.learn(&key.consumer_key);
            client.learn(&key.consumer_secret);
            actual.keys.push(key);
        }
        actual.apps.push(app);
    }
    actual.requests = tally.load(Ordering::Relaxed);
    Ok(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests() {
        let first = page_request(&APPS, 1000, None);
        assert_eq!(
            first.target(),
            "/apps?expand=true&rows=1000&includeCred=true"
        );
        let next = page_request(&DEVELOPERS, 1000, Some("a+b@example.com"));
        assert_eq!(
            next.target(),
            "/developers?expand=true&count=1000&startKey=a%2Bb%40example.com"
        );
        let products = page_request(&PRODUCTS, 1000, Some("p 1"));
        assert_eq!(
            products.target(),
            "/apiproducts?expand=true&count=1000&startKey=p+1"
        );
    }
}
