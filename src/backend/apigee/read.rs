//! Reading actual state with bulk list calls only, kinds concurrently:
//! `GET /developers?expand=true&count=1000`, `GET /apiproducts?expand=true&count=1000` and
//! `GET /apps?expand=true&includeCred=true&rows=1000`, each paged by an inclusive `startKey`.
//! Apps name their developer by id; the developer list maps ids to emails.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// The request for one page: `?expand=true&{count|rows}=N[&startKey=…]` plus the call's own.
fn page_request(call: &ListCall, size: usize, start: Option<&str>) -> Request {
    let mut req = Request::get(Path::root(call.collection), call.collection)
        .query("expand", "true")
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

async fn apps(client: &Client, tally: &AtomicUsize) -> Result<Vec<WireApp>, BackendError> {
    list_all(
        client,
        tally,
        &APPS,
        |l: AppList| l.app,
        |a| a.app_id.as_str(),
    )
    .await
}

/// Reads the kinds in `scope` (developers too when apps are read, to name their owners).
pub(crate) async fn read(client: &Client, scope: ReadScope) -> Result<Actual, BackendError> {
    let tally = AtomicUsize::new(0);
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
    for w in &wire_apps {
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
