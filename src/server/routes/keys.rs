//! App keys: import (`keys/create`, and `keys` on X), get, add products or approve/revoke,
//! replace scopes, delete, and per-product approve/revoke/remove.

use axum::response::Response;

use super::{St, action, created, no_content, ok};
use crate::model::Status;
use crate::server::encode;
use crate::server::errors::ApiError;
use crate::server::extract::{JsonBody, P, Q, RawBody, WithExtra};
use crate::server::input::{KeyBody, ListQuery};

type KeyPath = P<(String, String, String, String)>;

fn approve_or_revoke(q: &ListQuery) -> Result<Option<Status>, ApiError> {
    match q.action.as_deref() {
        None => Ok(None),
        Some(a) => Ok(Some(match action(a, &["approve", "revoke"])? {
            "approve" => Status::Approved,
            _ => Status::Revoked,
        })),
    }
}

/// POST …/keys/create (and …/keys on X): imports a caller-chosen key; products in the body
/// are ignored and the key starts `approved`, as on Apigee. `expiresInSeconds` is honoured
/// on X only.
pub async fn import(
    st: St,
    P((org, dev, app)): P<(String, String, String)>,
    WithExtra(body, extra): WithExtra<KeyBody>,
) -> Result<Response, ApiError> {
    let mut import = body.into_import()?;
    import.extra = Some(extra);
    if st.flavor == crate::target::Flavor::Edge {
        // Edge cannot set an expiry on import; only X reads `expiresInSeconds`.
        import.expires_in_ms = None;
    }
    let o = org.clone();
    let k = st
        .db(&org, move |s| s.import_key(&o, &dev, &app, &import))
        .await?;
    Ok(created(st.flavor, encode::key(st.flavor, &k)))
}

/// GET …/keys/{key}.
pub async fn get(st: St, P((org, dev, app, key)): KeyPath) -> Result<Response, ApiError> {
    let o = org.clone();
    let k = st
        .db(&org, move |s| s.get_key(&o, &dev, &app, &key))
        .await?;
    Ok(ok(encode::key(st.flavor, &k)))
}

/// POST …/keys/{key}: `?action=approve|revoke` → 204; otherwise `{apiProducts, attributes}`
/// adds products (duplicates ignored) and replaces attributes when given → the key.
pub async fn action_or_add_products(
    st: St,
    P((org, dev, app, key)): KeyPath,
    Q(q): Q<ListQuery>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let o = org.clone();
    if let Some(status) = approve_or_revoke(&q)? {
        st.db(&org, move |s| {
            s.set_key_status(&o, &dev, &app, &key, status)
        })
        .await?;
        return Ok(no_content());
    }
    let mut body: KeyBody = body.json()?;
    let products = body.product_names()?;
    let attrs = body.attributes();
    let k = st
        .db(&org, move |s| {
            s.add_key_products(&o, &dev, &app, &key, &products, attrs.as_deref())
        })
        .await?;
    Ok(ok(encode::key(st.flavor, &k)))
}

/// PUT …/keys/{key}: `{scopes}` replaces the key's scopes (each must be offered by one of
/// its products). `apiProducts` in the body are added first (⚠ undocumented; apigeecli
/// relies on it).
pub async fn replace(
    st: St,
    P((org, dev, app, key)): KeyPath,
    JsonBody(mut body): JsonBody<KeyBody>,
) -> Result<Response, ApiError> {
    let products = body.product_names()?;
    let scopes = body.scopes.take();
    let o = org.clone();
    let k = st
        .db(&org, move |s| {
            s.replace_key(&o, &dev, &app, &key, &products, scopes.as_deref())
        })
        .await?;
    Ok(ok(encode::key(st.flavor, &k)))
}

/// DELETE …/keys/{key}: answers the deleted key.
pub async fn delete(st: St, P((org, dev, app, key)): KeyPath) -> Result<Response, ApiError> {
    let o = org.clone();
    let k = st
        .db(&org, move |s| s.delete_key(&o, &dev, &app, &key))
        .await?;
    Ok(ok(encode::key(st.flavor, &k)))
}

/// POST …/keys/{key}/apiproducts/{product}?action=approve|revoke → 204.
pub async fn product_action(
    st: St,
    P((org, dev, app, key, product)): P<(String, String, String, String, String)>,
    Q(q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let Some(status) = approve_or_revoke(&q)? else {
        return Err(ApiError::bad_request(
            "`action` is required: POST with ?action=approve or ?action=revoke",
        ));
    };
    let o = org.clone();
    st.db(&org, move |s| {
        s.set_key_product_status(&o, &dev, &app, &key, &product, status)
    })
    .await?;
    Ok(no_content())
}

/// DELETE …/keys/{key}/apiproducts/{product}: removes the grant, answers the key. A product
/// that is not on the key gets a 500, as on Apigee.
pub async fn remove_product(
    st: St,
    P((org, dev, app, key, product)): P<(String, String, String, String, String)>,
) -> Result<Response, ApiError> {
    let o = org.clone();
    let k = st
        .db(&org, move |s| {
            s.remove_key_product(&o, &dev, &app, &key, &product)
        })
        .await?;
    Ok(ok(encode::key(st.flavor, &k)))
}
