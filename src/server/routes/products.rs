//! `/apiproducts` and `/apiproducts/{product}`: list, create, get, replace, delete.

use axum::response::Response;
use serde_json::json;

use super::{St, created, cursor, missing_start_key, ok};
use crate::registry::{Kind, Page};
use crate::server::encode;
use crate::server::errors::ApiError;
use crate::server::extract::{P, Q, WithExtra, count, flag};
use crate::server::input::{ListQuery, ProductBody};
use crate::target::Flavor;

/// Most products per list call (both flavours).
const LIST_LIMIT: usize = 1000;

/// GET /apiproducts: `expand`, `count`, `startKey` (inclusive), `attributename` and
/// `attributevalue` ([DISC] apiproducts.list; [EOAS] listAPIProducts: "Filter the list by
/// passing an `attributename` and `attibutevalue`"): only products with that attribute
/// (and that value, when given); paging applies to the filtered list.
///
/// `--strict-paging` leaves this list alone: unlike developers.list, [DISC]
/// apiproducts.list does not say `expand` is invalid with `count`/`startKey`; its `space`
/// parameter "can be used in conjunction with start_key, expand and count for paginated
/// response", and Edge's listAPIProducts documents them side by side [EOAS].
pub async fn list(st: St, P(org): P<String>, Q(q): Q<ListQuery>) -> Result<Response, ApiError> {
    let f = st.flavor;
    let expand = flag("expand", q.expand.as_deref())?;
    let has_start = q.start_key.is_some();
    let n = count("count", q.count.as_deref(), LIST_LIMIT)?;
    let attr = q.attributename.clone().filter(|a| !a.is_empty());
    let value = q.attributevalue.clone().filter(|_| attr.is_some());
    let page = Page {
        start_key: q.start_key,
        count: if attr.is_some() { usize::MAX } else { n },
    };
    let o = org.clone();
    let found = st
        .db(&org, move |s| {
            cursor(s.list_products(&o, &page), Kind::Product, has_start)
        })
        .await?;
    let Some(mut products) = found else {
        return missing_start_key(f, "apiproduct");
    };
    if let Some(attr) = attr {
        products.retain(|p| {
            p.product
                .attributes
                .iter()
                .any(|a| a.name == attr && value.as_deref().is_none_or(|v| a.value == v))
        });
        products.truncate(n);
    }
    let body = if expand {
        let full = products.iter().map(|p| encode::product(f, p)).collect();
        encode::list(f, "apiProduct", true, full, Vec::new())
    } else {
        let names = products
            .into_iter()
            .map(|p| ("name", p.product.name))
            .collect();
        encode::list(f, "apiProduct", false, Vec::new(), names)
    };
    Ok(ok(body))
}

/// POST /apiproducts.
pub async fn create(
    st: St,
    P(org): P<String>,
    WithExtra(body, extra): WithExtra<ProductBody>,
) -> Result<Response, ApiError> {
    let mut input = body.into_input()?;
    input.extra = Some(extra);
    let o = org.clone();
    let p = st.db(&org, move |s| s.create_product(&o, &input)).await?;
    Ok(created(st.flavor, encode::product(st.flavor, &p)))
}

/// Most entities per `query=list` answer ([EOAS] getAPIProduct: "The limit on the number of
/// entities returned is 100").
const USAGE_LIMIT: usize = 100;

/// GET /apiproducts/{product}. On Edge, `query=count|list` with
/// `entity=keys|apps|developers|companies` ([EOAS] getAPIProduct) answers what uses the
/// product instead: `count` as `{"value": N}`, `list` as an array of consumer keys, appIds,
/// developer emails or company names (none: the sandbox has no companies), paged by
/// `startkey` (inclusive) and `count` (≤100). X documents no such parameters and ignores them.
pub async fn get(
    st: St,
    P((org, name)): P<(String, String)>,
    Q(q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let o = org.clone();
    if st.flavor == Flavor::Edge
        && let Some(query) = q.query.as_deref().filter(|v| !v.is_empty())
    {
        let entity = q.entity.clone().unwrap_or_default();
        if !matches!(query, "count" | "list") {
            return Err(ApiError::bad_request(format!(
                "`query={query}` is not supported; use `query=count` or `query=list` with \
                 `entity=keys|apps|developers|companies`"
            )));
        }
        if !matches!(
            entity.as_str(),
            "keys" | "apps" | "developers" | "companies"
        ) {
            return Err(ApiError::bad_request(format!(
                "`entity={entity}` is not supported with `query={query}`; use \
                 `entity=keys`, `apps`, `developers` or `companies`"
            )));
        }
        let usage = st.db(&org, move |s| s.product_usage(&o, &name)).await?;
        let items: Vec<String> = match entity.as_str() {
            "keys" => usage.keys.iter().map(|k| k.expose().to_string()).collect(),
            "apps" => usage.apps,
            "developers" => usage.developers,
            _ => Vec::new(),
        };
        if query == "count" {
            return Ok(ok(json!({ "value": items.len() })));
        }
        let n = count("count", q.count.as_deref(), USAGE_LIMIT)?;
        let start = q.startkey.clone();
        let page: Vec<String> = items
            .into_iter()
            .filter(|i| start.as_deref().is_none_or(|s| i.as_str() >= s))
            .take(n)
            .collect();
        return Ok(ok(json!(page)));
    }
    let p = st.db(&org, move |s| s.get_product(&o, &name)).await?;
    Ok(ok(encode::product(st.flavor, &p)))
}

/// PUT /apiproducts/{product}: full replace (the name cannot change).
pub async fn update(
    st: St,
    P((org, name)): P<(String, String)>,
    WithExtra(body, extra): WithExtra<ProductBody>,
) -> Result<Response, ApiError> {
    let mut input = body.into_input()?;
    // A full replace: unmodelled fields absent from the body are gone, as on the platform.
    input.extra = Some(extra);
    let o = org.clone();
    let p = st
        .db(&org, move |s| s.update_product(&o, &name, &input))
        .await?;
    Ok(ok(encode::product(st.flavor, &p)))
}

/// DELETE /apiproducts/{product}: answers the deleted product.
pub async fn delete(st: St, P((org, name)): P<(String, String)>) -> Result<Response, ApiError> {
    let o = org.clone();
    let p = st.db(&org, move |s| s.delete_product(&o, &name)).await?;
    Ok(ok(encode::product(st.flavor, &p)))
}
