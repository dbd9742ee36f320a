//! Attribute sub-resources of developers, developer apps and API products:
//! `…/attributes` (GET all, POST `{"attribute":[…]}` replaces all) and
//! `…/attributes/{name}` (GET, POST `{"value"}` sets one, DELETE). The owner is read from
//! the path parameters present.

use std::collections::HashMap;

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{St, ok};
use crate::json::Text;
use crate::registry::{AttrOwner, Attribute};
use crate::server::errors::ApiError;
use crate::server::extract::{JsonBody, P};
use crate::target::Flavor;

type Params = P<HashMap<String, String>>;

/// The org and the owner named by the path.
fn owner(params: &HashMap<String, String>) -> Result<(String, AttrOwner), ApiError> {
    let get = |k: &str| params.get(k).cloned();
    let org = get("org").ok_or_else(|| ApiError::bad_request("missing organization"))?;
    let owner = match (get("developer"), get("app"), get("product")) {
        (Some(developer), Some(app), _) => AttrOwner::App { developer, app },
        (Some(developer), None, _) => AttrOwner::Developer(developer),
        (None, _, Some(product)) => AttrOwner::Product(product),
        _ => return Err(ApiError::bad_request("the path names no attribute owner")),
    };
    Ok((org, owner))
}

fn attr_name(params: &HashMap<String, String>) -> String {
    params.get("name").cloned().unwrap_or_default()
}

fn one(a: &Attribute) -> Value {
    json!({"name": a.name, "value": a.value})
}

fn all(f: Flavor, attrs: &[Attribute]) -> Value {
    if f == Flavor::X && attrs.is_empty() {
        return json!({});
    }
    json!({"attribute": attrs.iter().map(one).collect::<Vec<_>>()})
}

/// Body of a replace-all.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AttributesBody {
    attribute: Vec<OneBody>,
}

/// Body of a single attribute (`name` optional: it comes from the path).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OneBody {
    name: Option<String>,
    value: Option<Text>,
}

/// GET …/attributes.
pub async fn list(st: St, P(params): Params) -> Result<Response, ApiError> {
    let (org, owner) = owner(&params)?;
    let o = org.clone();
    let attrs = st.db(&org, move |s| s.get_attributes(&o, &owner)).await?;
    Ok(ok(all(st.flavor, &attrs)))
}

/// POST …/attributes: replaces all.
pub async fn replace(
    st: St,
    P(params): Params,
    JsonBody(body): JsonBody<AttributesBody>,
) -> Result<Response, ApiError> {
    let (org, owner) = owner(&params)?;
    let mut attrs = Vec::new();
    for a in body.attribute {
        let name = a
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad_request("every attribute needs a `name`"))?;
        attrs.push(Attribute::new(
            name,
            a.value.map(|v| v.0).unwrap_or_default(),
        ));
    }
    let o = org.clone();
    let attrs = st
        .db(&org, move |s| s.set_attributes(&o, &owner, &attrs))
        .await?;
    Ok(ok(all(st.flavor, &attrs)))
}

/// GET …/attributes/{name}.
pub async fn get(st: St, P(params): Params) -> Result<Response, ApiError> {
    let (org, owner) = owner(&params)?;
    let name = attr_name(&params);
    let o = org.clone();
    let attrs = st.db(&org, move |s| s.get_attributes(&o, &owner)).await?;
    match attrs.iter().find(|a| a.name == name) {
        Some(a) => Ok(ok(one(a))),
        None => Err(ApiError::from_store(
            crate::registry::Error::NotFound {
                kind: crate::registry::Kind::Attribute,
                name,
                parent: None,
            },
            &org,
        )),
    }
}

/// POST …/attributes/{name} `{"value": …}`: sets one attribute.
pub async fn set(
    st: St,
    P(params): Params,
    JsonBody(body): JsonBody<OneBody>,
) -> Result<Response, ApiError> {
    let (org, owner) = owner(&params)?;
    let name = attr_name(&params);
    if let Some(other) = body.name.as_deref().filter(|n| !n.is_empty() && *n != name) {
        return Err(ApiError::bad_request(format!(
            "the body names attribute `{other}` but the path `{name}`; make them match"
        )));
    }
    let attr = Attribute::new(name, body.value.map(|v| v.0).unwrap_or_default());
    let o = org.clone();
    let a = st
        .db(&org, move |s| s.set_attribute(&o, &owner, attr))
        .await?;
    Ok(ok(one(&a)))
}

/// DELETE …/attributes/{name}: answers the deleted attribute.
pub async fn delete(st: St, P(params): Params) -> Result<Response, ApiError> {
    let (org, owner) = owner(&params)?;
    let name = attr_name(&params);
    let o = org.clone();
    let a = st
        .db(&org, move |s| s.delete_attribute(&o, &owner, &name))
        .await?;
    Ok(ok(one(&a)))
}
