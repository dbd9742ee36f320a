//! Reading actual state completely, by the documentation's least forgiving reading, with bulk
//! list calls (spec/apigee-api.md §3.6, §4.5).
//!
//! - **Developers and products.** The docs say `expand` "is not valid if you use the `count`
//!   or `startKey` query parameters", yet published clients page expanded lists that way and
//!   most servers honour it. So each kind is read twice, cheaply: the names, unexpanded and
//!   paged by `count`/`startKey` (which the docs allow), and the expanded objects paged as
//!   clients do. What the expanded pages miss (a server that ignores paging next to `expand`
//!   and stops at 1,000) is fetched one by one. A names listing whose cursor does not move is
//!   an error naming the list: completeness cannot be established, and a plan that guessed
//!   would propose to create what exists.
//! - **Apps.** The org-wide `/apps` list filters `status` and `keyStatus`, both "default
//!   `approved`" on X, so every combination is read and merged by app id (keys by consumer
//!   key): revoked apps and revoked keys are read explicitly. X pages with
//!   `pageSize`/`pageToken` (and reports `totalSize`, which is checked); Edge with
//!   `rows`/`startKey`, an unexpanded id chain driving expanded pages concurrently. Each
//!   developer's `apps` names (the first 100) are checked against what was read, and an app
//!   missing from the lists is fetched by itself.
//! - **AppGroup apps** (X) are kept apart: read, reported, never managed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::backend::BackendError;
use crate::error::Hinted;
use crate::model::{Actual, App, GroupApp, Key, Observed, ReadScope};
use crate::target::Flavor;

use super::client::{Client, Request};
use super::decode;
use super::encode::Path;
use super::page::Pager;
use super::wire::{
    AppList, DeveloperList, ProductList, WireApp, WireDeveloper, WireProduct, WireProductRef,
};

/// Items per page: the platforms' maximum for these lists.
const PAGE_SIZE: usize = 1000;

/// Expanded app pages in flight at once, across every status chain. Each reply is a tree of
/// a few MB until it is decoded; the id chain hands out a start every page-latency, so a few
/// in flight keep the chain the critical path while the memory stays that of a few pages.
const EXPANDED_IN_FLIGHT: usize = 6;

/// Single-resource reads in flight at once (the fallback for what a list left out).
const SINGLE_IN_FLIGHT: usize = 16;

/// Names per `ids=` request: about 4 KB of query at the length of a typical email.
const IDS_PER_REQUEST: usize = 100;

/// The `status` × `keyStatus` combinations of the org-wide app list: each filter defaults to
/// `approved`, so all four are asked for.
const APP_STATUSES: [(&str, &str); 4] = [
    ("approved", "approved"),
    ("approved", "revoked"),
    ("revoked", "approved"),
    ("revoked", "revoked"),
];

/// A collection read by names and by expanded objects.
struct Listing {
    /// Path below the org.
    collection: &'static str,
    /// The wrapper key of its lists (`{"developer": […]}`).
    wrapper: &'static str,
    /// The field naming an item in X's unexpanded stubs (`{"email": …}`).
    name_field: &'static str,
    /// For messages.
    what: &'static str,
    /// Whether the list takes `ids=` (a comma-separated filter: developers.list).
    ids: bool,
}

const DEVELOPERS: Listing = Listing {
    collection: "developers",
    wrapper: "developer",
    name_field: "email",
    what: "developers",
    ids: true,
};

const PRODUCTS: Listing = Listing {
    collection: "apiproducts",
    wrapper: "apiProduct",
    name_field: "name",
    what: "API products",
    ids: false,
};

/// The error for a list whose completeness cannot be established.
fn incomplete(list: &str, why: &str) -> BackendError {
    BackendError::Setup(Hinted::new(
        format!("cannot read every {list}: {why}"),
        "registrar refuses to plan from a partial list, which would propose to create what \
         exists; check the URL and any proxy in between (it must pass `startKey`, `count`, \
         `pageToken` and `status` through), then plan again",
    ))
}

/// `GET /{collection}?count=N[&startKey=…]`: names only, paged as the docs allow.
fn names_request(list: &Listing, start: Option<&str>) -> Request {
    let mut req = Request::get(Path::root(list.collection), list.collection)
        .query("count", PAGE_SIZE.to_string());
    if let Some(start) = start {
        req = req.query("startKey", start);
    }
    req
}

/// `GET /{collection}?expand=true&count=N[&startKey=…]`: objects, paged as clients send it.
fn expanded_request(list: &Listing, start: Option<&str>) -> Request {
    names_request(list, start).query("expand", "true")
}

/// Every name of `list`. A cursor that does not move past a full page is an error.
async fn names(
    client: &Client,
    tally: &AtomicUsize,
    list: &Listing,
) -> Result<Vec<String>, BackendError> {
    let mut pager = Pager::new(PAGE_SIZE);
    let mut all = Vec::new();
    while let Some(start) = pager.next() {
        let body = client
            .send_tracked(&names_request(list, start), Some(tally))
            .await
            .result?;
        all.extend(pager.accept(names_in(body, list)?, String::as_str));
    }
    if pager.stalled() {
        return Err(incomplete(
            list.what,
            &format!(
                "the platform returned the same page again for `startKey` after {} names",
                all.len()
            ),
        ));
    }
    Ok(all)
}

/// The names of an unexpanded list: `["a", …]` (Edge) or `{"developer": [{"email": "a"}, …]}`
/// (X; `{}` when empty).
fn names_in(body: Option<Value>, list: &Listing) -> Result<Vec<String>, BackendError> {
    let bad = || BackendError::Other(format!("unexpected reply listing {}", list.what));
    let items = match body {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(Value::Object(mut o)) => match o.remove(list.wrapper) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(bad()),
        },
        Some(_) => return Err(bad()),
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(name) => Ok(name),
            Value::Object(mut o) => match o.remove(list.name_field) {
                Some(Value::String(name)) => Ok(name),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}

/// The expanded objects of `list` as far as the platform pages them next to `expand`.
async fn expanded<W: DeserializeOwned + Default, T>(
    client: &Client,
    tally: &AtomicUsize,
    list: &Listing,
    items: impl Fn(W) -> Vec<T>,
    key: impl Fn(&T) -> &str,
) -> Result<Vec<T>, BackendError> {
    let mut pager = Pager::new(PAGE_SIZE);
    let mut all = Vec::new();
    while let Some(start) = pager.next() {
        let req = expanded_request(list, start);
        let body = client.send_tracked(&req, Some(tally)).await.result?;
        let page = parse::<W>(body, list.what)?;
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

/// Reads each request by itself, a few at a time, keeping its tag; a 404 (deleted meanwhile)
/// is skipped.
async fn fetch_each<K: Send + 'static, T: DeserializeOwned + Send + 'static>(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
    requests: Vec<(K, Request)>,
) -> Result<Vec<(K, T)>, BackendError> {
    let slots = Arc::new(Semaphore::new(SINGLE_IN_FLIGHT));
    let mut tasks: JoinSet<Result<Option<(K, T)>, BackendError>> = JoinSet::new();
    for (tag, req) in requests {
        let (c, t, slots) = (client.clone(), tally.clone(), slots.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore open");
            match c.send_tracked(&req, Some(&*t)).await.result {
                Ok(Some(body)) => serde_json::from_value(body)
                    .map(|item| Some((tag, item)))
                    .map_err(|e| {
                        BackendError::Other(format!("unexpected reply reading {}: {e}", req.what()))
                    }),
                Ok(None) | Err(BackendError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.map_err(|e| BackendError::Other(format!("a read task failed: {e}")))? {
            Ok(Some(item)) => out.push(item),
            Ok(None) => {}
            Err(e) => {
                tasks.abort_all();
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Names and expanded objects of one kind, the objects completed one by one where the
/// expanded pages left some out.
async fn complete<W, T>(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
    list: &Listing,
    items: impl Fn(W) -> Vec<T>,
    key: impl Fn(&T) -> &str,
    path: impl Fn(&str) -> Path,
) -> Result<Vec<T>, BackendError>
where
    W: DeserializeOwned + Default,
    T: DeserializeOwned + Send + 'static,
{
    let (names, mut got) = tokio::try_join!(
        names(client, tally, list),
        expanded(client, tally, list, &items, &key)
    )?;
    let have: HashSet<&str> = got.iter().map(&key).collect();
    let mut missing: Vec<&String> = names
        .iter()
        .filter(|n| !have.contains(n.as_str()))
        .collect();
    drop(have);
    if missing.is_empty() {
        return Ok(got);
    }
    tracing::info!(
        "{} of {} {} were not in the expanded list; reading them by name",
        missing.len(),
        names.len(),
        list.what
    );
    if list.ids {
        let found = by_ids(client, tally, list, &missing, &items, &key).await?;
        let found_names: HashSet<&str> = found.iter().map(&key).collect();
        missing.retain(|n| !found_names.contains(n.as_str()));
        drop(found_names);
        got.extend(found);
    }
    if !missing.is_empty() {
        let requests: Vec<((), Request)> = missing
            .into_iter()
            .map(|n| {
                (
                    (),
                    Request::get(path(n), format!("{} `{n}`", list.collection)),
                )
            })
            .collect();
        let found = fetch_each::<(), T>(client, tally, requests).await?;
        got.extend(found.into_iter().map(|((), item)| item));
    }
    Ok(got)
}

/// The expanded objects of `names` by `ids=` filters, a batch at a time. A platform that does
/// not filter by `ids` (the first batch brings none of the names asked for) is not asked again.
async fn by_ids<W, T>(
    client: &Client,
    tally: &AtomicUsize,
    list: &Listing,
    names: &[&String],
    items: impl Fn(W) -> Vec<T>,
    key: impl Fn(&T) -> &str,
) -> Result<Vec<T>, BackendError>
where
    W: DeserializeOwned + Default,
{
    let mut out = Vec::new();
    for batch in names.chunks(IDS_PER_REQUEST) {
        let ids = batch
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let req = Request::get(Path::root(list.collection), list.collection)
            .query("expand", "true")
            .query("ids", ids);
        let body = client.send_tracked(&req, Some(tally)).await.result?;
        let wanted: HashSet<&str> = batch.iter().map(|n| n.as_str()).collect();
        let found: Vec<T> = items(parse::<W>(body, list.what)?)
            .into_iter()
            .filter(|t| wanted.contains(key(t)))
            .collect();
        if found.is_empty() {
            break;
        }
        out.extend(found);
    }
    Ok(out)
}

async fn developers(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
) -> Result<Vec<WireDeveloper>, BackendError> {
    complete(
        client,
        tally,
        &DEVELOPERS,
        |l: DeveloperList| l.developer,
        |d: &WireDeveloper| d.email.as_str(),
        Path::developer,
    )
    .await
}

async fn products(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
) -> Result<Vec<WireProduct>, BackendError> {
    complete(
        client,
        tally,
        &PRODUCTS,
        |l: ProductList| l.api_product,
        |p: &WireProduct| p.name.as_str(),
        Path::product,
    )
    .await
}

/// One page of the org-wide app list with the given filters.
fn apps_request(status: &str, key_status: &str, expand: bool, size_param: &'static str) -> Request {
    let mut req = Request::get(Path::root("apps"), "apps")
        .query("expand", if expand { "true" } else { "false" })
        .query(size_param, PAGE_SIZE.to_string());
    if expand {
        req = req.query("includeCred", "true");
    }
    req.query("status", status).query("keyStatus", key_status)
}

/// X: the apps of one filter combination, paged by `pageSize`/`pageToken`, each page handed
/// to `pages` as it comes. `false` (nothing handed on) when the platform answered a full page
/// with neither a next token nor a total (a hybrid before 1.10 does not page by token):
/// whether more follow cannot be told from the reply.
async fn x_apps(
    client: &Client,
    tally: &AtomicUsize,
    status: &str,
    key_status: &str,
    pages: &Pages,
) -> Result<bool, BackendError> {
    let mut count = 0;
    let mut tokens: HashSet<String> = HashSet::new();
    let mut token: Option<String> = None;
    let total = loop {
        let mut req = apps_request(status, key_status, true, "pageSize");
        if let Some(t) = &token {
            req = req.query("pageToken", t.clone());
        }
        let body = client.send_tracked(&req, Some(tally)).await.result?;
        let page = parse::<AppList>(body, "apps")?;
        let last = page.next_page_token.is_empty();
        if last && token.is_none() && page.total_size.is_none() && page.app.len() >= PAGE_SIZE {
            return Ok(false);
        }
        count += page.app.len();
        // A closed receiver means the read failed elsewhere; that error is the one reported.
        let _ = pages.send(page.app);
        if last {
            break page.total_size;
        }
        if !tokens.insert(page.next_page_token.clone()) {
            return Err(incomplete(
                "app",
                "the platform handed out the same `nextPageToken` twice",
            ));
        }
        token = Some(page.next_page_token);
    };
    if let Some(total) = total
        && usize::try_from(total).is_ok_and(|t| t > count)
    {
        return Err(incomplete(
            "app",
            &format!(
                "the list of {status} apps with {key_status} keys reports {total} apps, \
                 its pages held {count}"
            ),
        ));
    }
    Ok(true)
}

/// Edge (and X without page tokens): the apps of one filter combination. The list is one `startKey` chain, so its pages
/// cannot be asked for before the previous one is known. The chain is walked with
/// unexpanded pages (app ids only: small and cheap), and each id page's `startKey` starts
/// the expanded page of the same range at once, concurrently: the critical path is the id
/// chain plus one expanded page, not every expanded page one after another. Each range
/// `[start, next start)` is kept from its expanded page; a range that grew meanwhile is paged
/// on to its end, and an app seen twice is kept once.
async fn edge_apps(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
    slots: &Arc<Semaphore>,
    status: &'static str,
    key_status: &'static str,
) -> Result<Vec<WireApp>, BackendError> {
    let mut pager = Pager::new(PAGE_SIZE);
    let mut pages: JoinSet<(usize, Result<Vec<WireApp>, BackendError>)> = JoinSet::new();
    let mut starts: Vec<Option<String>> = Vec::new();
    while let Some(start) = pager.next() {
        let start = start.map(str::to_string);
        let (c, t, s, k) = (client.clone(), tally.clone(), start.clone(), starts.len());
        let slots = slots.clone();
        pages.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore open");
            (
                k,
                edge_expanded_page(&c, &t, status, key_status, s.as_deref()).await,
            )
        });
        starts.push(start);
        let mut req = apps_request(status, key_status, false, "rows");
        if let Some(s) = starts[starts.len() - 1].as_deref() {
            req = req.query("startKey", s);
        }
        let body = match client.send_tracked(&req, Some(&**tally)).await.result {
            Ok(body) => body,
            Err(e) => {
                pages.abort_all();
                return Err(e);
            }
        };
        pager.accept(app_ids(body)?, String::as_str);
    }
    if pager.stalled() {
        pages.abort_all();
        return Err(incomplete(
            "app",
            "the platform returned the same page of app ids again for `startKey`",
        ));
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
            let more = edge_expanded_page(client, tally, status, key_status, Some(&last)).await?;
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

/// One expanded Edge app page from `start` (inclusive).
async fn edge_expanded_page(
    client: &Client,
    tally: &AtomicUsize,
    status: &str,
    key_status: &str,
    start: Option<&str>,
) -> Result<Vec<WireApp>, BackendError> {
    let mut req = apps_request(status, key_status, true, "rows");
    if let Some(start) = start {
        req = req.query("startKey", start);
    }
    let body = client.send_tracked(&req, Some(tally)).await.result?;
    Ok(parse::<AppList>(body, "apps")?.app)
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

/// Where the pages of org apps go as the status chains read them: each page is decoded (and
/// its wire form freed) as it comes, so the read never holds the org's apps twice.
type Pages = tokio::sync::mpsc::UnboundedSender<Vec<WireApp>>;

/// Where an app id read went.
enum Slot {
    /// `apps[i]`, with its keys at these indexes of `keys`.
    App(usize, Vec<usize>),
    /// `group_apps[i]`.
    Group(usize),
    /// Not managed and not reported: a company's app, or one without a known developer.
    Skipped,
}

/// The org's apps decoded as their pages come, merged by app id: the same app under several
/// filters (each showing the keys its `keyStatus` lets through) is kept once, with the union
/// of its keys (by consumer key).
#[derive(Default)]
struct Merged {
    apps: Vec<Observed<App>>,
    keys: Vec<Key>,
    group_apps: Vec<GroupApp>,
    slots: HashMap<String, Slot>,
    /// `(developer email, app name)` of the apps not decoded whose developer is known: with
    /// `apps`, what the developers' own app lists are checked against.
    others: HashSet<(String, String)>,
}

impl Merged {
    /// Decodes and merges one page.
    fn add(&mut self, page: Vec<WireApp>, emails_by_id: &HashMap<String, String>) {
        for w in page {
            if let Some(slot) = self.slots.get_mut(&w.app_id) {
                match slot {
                    Slot::App(i, held) => {
                        let app = &self.apps[*i].value;
                        for c in &w.credentials {
                            let known = held
                                .iter()
                                .any(|&k| self.keys[k].consumer_key.expose() == c.consumer_key);
                            if !known {
                                held.push(self.keys.len());
                                self.keys.push(decode::key(c, &app.developer, &app.name));
                            }
                        }
                    }
                    Slot::Group(i) => {
                        let g = &mut self.group_apps[*i];
                        g.products.extend(group_app(&w).products);
                        g.products.sort();
                        g.products.dedup();
                    }
                    Slot::Skipped => {}
                }
                continue;
            }
            let slot = if !w.app_group.is_empty() {
                self.group_apps.push(group_app(&w));
                Slot::Group(self.group_apps.len() - 1)
            } else if let Some(owner) = decode::app_owner(&w, emails_by_id) {
                let app = decode::app(&w, &owner);
                let held = (self.keys.len()..self.keys.len() + w.credentials.len()).collect();
                for c in &w.credentials {
                    self.keys.push(decode::key(c, &owner, &app.value.name));
                }
                self.apps.push(app);
                Slot::App(self.apps.len() - 1, held)
            } else {
                tracing::debug!(app = %w.name, "skipping an app without a known developer");
                Slot::Skipped
            };
            if !matches!(slot, Slot::App(..)) {
                let email = if w.developer_email.is_empty() {
                    emails_by_id.get(&w.developer_id).cloned()
                } else {
                    Some(w.developer_email.clone())
                };
                if let Some(email) = email {
                    self.others.insert((email, w.name.clone()));
                }
            }
            self.slots.insert(w.app_id, slot);
        }
    }

    /// `(developer email, app name)` of every app read whose developer is known.
    fn read(&self) -> HashSet<(&str, &str)> {
        self.apps
            .iter()
            .map(|a| (a.value.developer.as_str(), a.value.name.as_str()))
            .chain(self.others.iter().map(|(e, n)| (e.as_str(), n.as_str())))
            .collect()
    }
}

/// Every app of the org, under every status filter, handed to `pages` a page (X) or a chain
/// (Edge) at a time.
async fn apps(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
    pages: Pages,
) -> Result<(), BackendError> {
    let slots = Arc::new(Semaphore::new(EXPANDED_IN_FLIGHT));
    let mut chains: JoinSet<Result<(), BackendError>> = JoinSet::new();
    for (status, key_status) in APP_STATUSES {
        let (c, t, slots, pages) = (client.clone(), tally.clone(), slots.clone(), pages.clone());
        chains.spawn(async move {
            if c.flavor() == Flavor::X && x_apps(&c, &t, status, key_status, &pages).await? {
                return Ok(());
            }
            let _ = pages.send(edge_apps(&c, &t, &slots, status, key_status).await?);
            Ok(())
        });
    }
    while let Some(done) = chains.join_next().await {
        if let Err(e) = done.map_err(|e| BackendError::Other(format!("a list task failed: {e}")))? {
            chains.abort_all();
            return Err(e);
        }
    }
    Ok(())
}

/// Apps the developers name that no list returned, read one by one. A developer's `apps`
/// holds the first 100 names only, so this completes what those names can tell.
async fn missing_apps(
    client: &Arc<Client>,
    tally: &Arc<AtomicUsize>,
    developers: &[WireDeveloper],
    read: &HashSet<(&str, &str)>,
) -> Result<Vec<WireApp>, BackendError> {
    let missing: Vec<(String, Request)> = developers
        .iter()
        .flat_map(|d| {
            d.apps
                .iter()
                .map(move |name| (d.email.as_str(), name.as_str()))
        })
        .filter(|key| !read.contains(key))
        .map(|(email, name)| {
            let what = super::ops::what_app(email, name);
            (
                email.to_string(),
                Request::get(Path::app(email, name), what),
            )
        })
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    tracing::info!(
        "{} apps named by their developers were in no app list; reading them one by one",
        missing.len()
    );
    let found: Vec<(String, WireApp)> = fetch_each(client, tally, missing).await?;
    // A developer app's own reply names its developer by id only: name it by the email
    // it was read under.
    Ok(found
        .into_iter()
        .map(|(email, mut app)| {
            app.developer_email = email;
            app
        })
        .collect())
}

/// The products an AppGroup app's keys hold.
fn group_app(w: &WireApp) -> GroupApp {
    let mut products: Vec<String> = w
        .credentials
        .iter()
        .flat_map(|c| &c.api_products)
        .map(|p| match p {
            WireProductRef::Object { apiproduct, .. } => apiproduct.clone(),
            WireProductRef::Name(name) => name.clone(),
        })
        .collect();
    products.sort();
    products.dedup();
    GroupApp {
        group: w.app_group.clone(),
        name: w.name.clone(),
        products,
    }
}

/// Reads the kinds in `scope` (developers too when apps are read, to name their owners).
/// App pages are decoded as they come, once the developers are known.
pub(crate) async fn read(client: &Arc<Client>, scope: ReadScope) -> Result<Actual, BackendError> {
    let tally = Arc::new(AtomicUsize::new(0));
    let need_developers = scope.developers || scope.apps;
    let (pages, mut arriving) = tokio::sync::mpsc::unbounded_channel();
    let listing = async {
        match scope.apps {
            true => apps(client, &tally, pages).await,
            false => Ok(()),
        }
    };
    let decoding = async {
        let (wire_developers, wire_products) = tokio::try_join!(
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
        )?;
        let emails_by_id: HashMap<String, String> = wire_developers
            .iter()
            .filter(|d| !d.developer_id.is_empty())
            .map(|d| (d.developer_id.clone(), d.email.clone()))
            .collect();
        let mut merged = Merged::default();
        while let Some(page) = arriving.recv().await {
            merged.add(page, &emails_by_id);
        }
        Ok::<_, BackendError>((wire_developers, wire_products, emails_by_id, merged))
    };
    let ((wire_developers, wire_products, emails_by_id, mut merged), ()) =
        tokio::try_join!(decoding, listing)?;

    let mut actual = Actual {
        // registrar's lock products are never part of a diff (so `--prune` never sees one).
        products: wire_products
            .iter()
            .map(decode::product)
            .filter(|p| !crate::lock::is_lock(&p.value.attributes))
            .collect(),
        ..Actual::default()
    };
    drop(wire_products);
    if scope.apps {
        let more = missing_apps(client, &tally, &wire_developers, &merged.read()).await?;
        merged.others.clear();
        merged.add(more, &emails_by_id);
    }
    if scope.developers {
        actual.developers = wire_developers.iter().map(decode::developer).collect();
    }
    drop(wire_developers);
    let Merged {
        apps,
        keys,
        group_apps,
        ..
    } = merged;
    for key in &keys {
        client.learn(&key.consumer_key);
        client.learn(&key.consumer_secret);
    }
    (actual.apps, actual.keys, actual.group_apps) = (apps, keys, group_apps);
    actual.requests = tally.load(Ordering::Relaxed);
    Ok(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests() {
        let first = apps_request("approved", "revoked", true, "pageSize");
        assert_eq!(
            first.target(),
            "/apps?expand=true&pageSize=1000&includeCred=true&status=approved&keyStatus=revoked"
        );
        let ids = apps_request("revoked", "approved", false, "rows");
        assert_eq!(
            ids.target(),
            "/apps?expand=false&rows=1000&status=revoked&keyStatus=approved"
        );
        let next = expanded_request(&DEVELOPERS, Some("a+b@example.com"));
        assert_eq!(
            next.target(),
            "/developers?count=1000&startKey=a%2Bb%40example.com&expand=true"
        );
        let names = names_request(&PRODUCTS, Some("p 1"));
        assert_eq!(names.target(), "/apiproducts?count=1000&startKey=p+1");
    }

    #[test]
    fn names_of_both_flavours() {
        let x = serde_json::json!({"developer": [{"email": "a@x"}, {"email": "b@x"}]});
        assert_eq!(names_in(Some(x), &DEVELOPERS).unwrap(), ["a@x", "b@x"]);
        let edge = serde_json::json!(["p1", "p2"]);
        assert_eq!(names_in(Some(edge), &PRODUCTS).unwrap(), ["p1", "p2"]);
        assert!(
            names_in(Some(serde_json::json!({})), &PRODUCTS)
                .unwrap()
                .is_empty()
        );
        assert!(names_in(None, &PRODUCTS).unwrap().is_empty());
        assert!(names_in(Some(serde_json::json!({"developer": 3})), &DEVELOPERS).is_err());
    }

    fn app(id: &str, keys: &[&str]) -> WireApp {
        let body = serde_json::json!({
            "appId": id,
            "name": id,
            "developerEmail": "a@x.io",
            "credentials": keys.iter().map(|k| serde_json::json!({"consumerKey": k})).collect::<Vec<_>>(),
        });
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn merged_apps_keep_every_key_once() {
        let mut merged = Merged::default();
        let none = HashMap::new();
        merged.add(vec![app("a", &["k1"]), app("b", &["k2"])], &none);
        merged.add(vec![app("a", &["k1", "k3"])], &none);
        let mut orphan = app("c", &["k4"]);
        orphan.developer_email.clear();
        orphan.developer_id = "d1".into();
        let mut group = app("g", &[]);
        group.app_group = "team".into();
        merged.add(vec![orphan, group], &none);
        let ids: Vec<&str> = merged.apps.iter().map(|a| a.value.name.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let keys: Vec<(&str, &str)> = merged
            .keys
            .iter()
            .map(|k| (k.app.as_str(), k.consumer_key.expose()))
            .collect();
        assert_eq!(keys, [("a", "k1"), ("b", "k2"), ("a", "k3")]);
        assert_eq!(merged.group_apps.len(), 1);
        // The app without a known developer is skipped, and not counted as read.
        let read = merged.read();
        assert!(read.contains(&("a@x.io", "a")) && read.contains(&("a@x.io", "g")));
        assert_eq!(read.len(), 3);
        // Once its developer is known, the same id is still the app first seen.
        let mut again = app("c", &["k5"]);
        again.developer_email.clear();
        again.developer_id = "d1".into();
        merged.add(
            vec![again],
            &HashMap::from([("d1".into(), "b@x.io".into())]),
        );
        assert_eq!(merged.apps.len(), 2);
    }
}
