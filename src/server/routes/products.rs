//! `/apiproducts` and `/apiproducts/{product}`: list, create, get, replace, delete.

use axum::response::Response;

use super::{St, created, cursor, missing_start_key, ok};
use crate::registry::{Kind, Page};
use crate::server::encode;
use crate::server::errors::ApiError;
use crate::server::extract::{P, Q, WithExtra, count, flag};
use crate::server::input::{ListQuery, ProductBody};

/// Most products per list call (both flavours).
const LIST_LIMIT: usize = 1000;

/// GET /apiproducts: `expand`, `count`, `startKey` (inclusive).
///
/// `--strict-paging` leaves this list alone: unlike developers.list, [DISC]
/// apiproducts.list does not say `expand` is invalid with `count`/`startKey`; its `space`
/// parameter "can be used in conjunction with start_key, expand and count for paginated
/// response", and Edge's listAPIProducts documents them side by side [EOAS].
pub async fn list(st: St, P(org): P<String>, Q(q): Q<ListQuery>) -> Result<Response, ApiError> {
    let f = st.flavor;
    let expand = flag("expand", q.expand.as_deref())?;
    let has_start = q.start_key.is_some();
    let page = Page {
        start_key: q.start_key,
        count: count("count", q.count.as_deref(), LIST_LIMIT)?,
    };
    let o = org.clone();
    let found = st
        .db(&org, move |s| {
            cursor(s.list_products(&o, &page), Kind::Product, has_start)
        })
        .await?;
    let Some(products) = found else {
        return missing_start_key(f, "apiproduct");
    };
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

/// GET /apiproducts/{product}.
pub async fn get(st: St, P((org, name)): P<(String, String)>) -> Result<Response, ApiError> {
    let o = org.clone();
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
