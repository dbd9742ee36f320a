//! Request bodies and query strings as clients send them, and their conversion to store
//! inputs. Output-only fields clients PUT back with whole GET bodies (`credentials`,
//! `createdAt`, …) are ignored, as Apigee does; any other member a body type does not model
//! ([`Modelled::FIELDS`]) is kept verbatim as the entity's unmodelled fields
//! ([`crate::registry::Extra`], read with [`super::extract::WithExtra`]).

use serde::Deserialize;

use super::errors::ApiError;
use super::extract::Modelled;
use crate::json::{Int64, Text};
use crate::model::{ApprovalType, Secret, Status};
use crate::registry::{AppInput, AppUpdate, Attribute, DeveloperInput, KeyImport, ProductInput};

/// One attribute in a body.
#[derive(Debug, Deserialize)]
pub struct AttrBody {
    name: String,
    #[serde(default)]
    value: Option<Text>,
}

/// The attributes of a body (a value missing is empty).
pub fn attrs(list: Option<Vec<AttrBody>>) -> Vec<Attribute> {
    list.unwrap_or_default()
        .into_iter()
        .map(|a| Attribute::new(a.name, a.value.map(|v| v.0).unwrap_or_default()))
        .collect()
}

/// Developer create/replace body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeveloperBody {
    /// Email.
    pub email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    user_name: Option<String>,
    attributes: Option<Vec<AttrBody>>,
}

impl Modelled for DeveloperBody {
    const FIELDS: &'static [&'static str] = &[
        "email",
        "firstName",
        "lastName",
        "userName",
        "attributes",
        "developerId",
        "organizationName",
        "status",
        "apps",
        "companies",
        "createdAt",
        "lastModifiedAt",
        "createdBy",
        "lastModifiedBy",
    ];
}

impl DeveloperBody {
    /// The store input; `email` fills in a missing email (PUT).
    pub fn into_input(self, email: Option<&str>) -> DeveloperInput {
        DeveloperInput {
            email: self
                .email
                .or_else(|| email.map(str::to_string))
                .unwrap_or_default(),
            first_name: self.first_name.unwrap_or_default(),
            last_name: self.last_name.unwrap_or_default(),
            user_name: self.user_name.unwrap_or_default(),
            attributes: attrs(self.attributes),
            extra: None,
        }
    }
}

/// Developer app create/update/generate body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppBody {
    name: Option<String>,
    api_products: Option<Vec<String>>,
    attributes: Option<Vec<AttrBody>>,
    callback_url: Option<String>,
    scopes: Option<Vec<String>>,
    key_expires_in: Option<Int64>,
    status: Option<String>,
}

impl Modelled for AppBody {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "apiProducts",
        "attributes",
        "callbackUrl",
        "scopes",
        "keyExpiresIn",
        "status",
        "appId",
        "appFamily",
        "developerId",
        "developerEmail",
        "appGroup",
        "companyName",
        "credentials",
        "createdAt",
        "lastModifiedAt",
        "createdBy",
        "lastModifiedBy",
    ];
}

impl AppBody {
    /// The store input of a create.
    pub fn into_create(self) -> Result<AppInput, ApiError> {
        let status = match self.status.as_deref() {
            None | Some("") | Some("approved") => None,
            Some("revoked") => Some(Status::Revoked),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "app status must be approved or revoked, not `{other}`"
                )));
            }
        };
        Ok(AppInput {
            name: self.name.unwrap_or_default(),
            api_products: self.api_products.unwrap_or_default(),
            attributes: attrs(self.attributes),
            callback_url: self.callback_url.filter(|u| !u.is_empty()),
            scopes: self.scopes.unwrap_or_default(),
            key_expires_in: self.key_expires_in.map(|v| v.0),
            status,
            extra: None,
        })
    }

    /// The store input of a PUT or a key generation: attributes and callback URL are
    /// replaced with the request's (absent = removed), as Apigee documents.
    pub fn into_update(self, app: &str) -> Result<AppUpdate, ApiError> {
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty() && *n != app) {
            return Err(ApiError::bad_request(format!(
                "an app's name cannot change (`{app}` → `{name}`); create a new app instead"
            )));
        }
        Ok(AppUpdate {
            attributes: Some(attrs(self.attributes)),
            callback_url: Some(self.callback_url.unwrap_or_default()),
            api_products: self.api_products,
            key_expires_in: self.key_expires_in.map(|v| v.0),
            extra: None,
        })
    }
}

/// Key import / add-products / scopes body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyBody {
    consumer_key: Option<String>,
    consumer_secret: Option<String>,
    expires_in_seconds: Option<Int64>,
    attributes: Option<Vec<AttrBody>>,
    /// Scopes (PUT key).
    pub scopes: Option<Vec<String>>,
    /// Products: names in requests (objects accepted too, by their `apiproduct`).
    api_products: Option<Vec<serde_json::Value>>,
}

impl Modelled for KeyBody {
    const FIELDS: &'static [&'static str] = &[
        "consumerKey",
        "consumerSecret",
        "expiresInSeconds",
        "attributes",
        "scopes",
        "apiProducts",
        "status",
        "issuedAt",
        "expiresAt",
    ];
}

impl KeyBody {
    /// The store input of an import; products in the body are ignored, as on Apigee.
    pub fn into_import(self) -> Result<KeyImport, ApiError> {
        let key = self.consumer_key.filter(|k| !k.is_empty());
        let secret = self.consumer_secret.filter(|s| !s.is_empty());
        let (Some(key), Some(secret)) = (key, secret) else {
            return Err(ApiError::bad_request(
                "`consumerKey` and `consumerSecret` are required to import a key",
            ));
        };
        Ok(KeyImport {
            consumer_key: Secret::new(key),
            consumer_secret: Secret::new(secret),
            attributes: attrs(self.attributes),
            scopes: self.scopes.unwrap_or_default(),
            expires_in_ms: self
                .expires_in_seconds
                .map(|s| s.0)
                .filter(|s| *s >= 0)
                .map(|s| s.saturating_mul(1000)),
            extra: None,
        })
    }

    /// Product names of an add-products request.
    pub fn product_names(&self) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        for v in self.api_products.iter().flatten() {
            let name = match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => o
                    .get("apiproduct")
                    .and_then(|p| p.as_str())
                    .map(str::to_string),
                _ => None,
            };
            out.push(name.ok_or_else(|| {
                ApiError::bad_request("`apiProducts` must be a list of API product names")
            })?);
        }
        Ok(out)
    }

    /// New key attributes, when the body has any.
    pub fn attributes(&mut self) -> Option<Vec<Attribute>> {
        self.attributes.take().map(|a| attrs(Some(a)))
    }
}

/// API product create/replace body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProductBody {
    name: Option<String>,
    display_name: Option<String>,
    description: Option<String>,
    approval_type: Option<String>,
    attributes: Option<Vec<AttrBody>>,
    api_resources: Option<Vec<String>>,
    environments: Option<Vec<String>>,
    proxies: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    quota: Option<Text>,
    quota_interval: Option<Text>,
    quota_time_unit: Option<String>,
}

impl Modelled for ProductBody {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "displayName",
        "description",
        "approvalType",
        "attributes",
        "apiResources",
        "environments",
        "proxies",
        "scopes",
        "quota",
        "quotaInterval",
        "quotaTimeUnit",
        "createdAt",
        "lastModifiedAt",
        "createdBy",
        "lastModifiedBy",
    ];
}

impl ProductBody {
    /// The store input.
    pub fn into_input(self) -> Result<ProductInput, ApiError> {
        let approval_type = match self.approval_type.as_deref() {
            None | Some("") | Some("auto") => ApprovalType::Auto,
            Some("manual") => ApprovalType::Manual,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "`approvalType` must be auto or manual, not `{other}`"
                )));
            }
        };
        let nonempty = |t: Option<Text>| t.map(|t| t.0).filter(|s| !s.is_empty());
        Ok(ProductInput {
            name: self.name.unwrap_or_default(),
            display_name: self.display_name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            approval_type,
            attributes: attrs(self.attributes),
            api_resources: self.api_resources.unwrap_or_default(),
            environments: self.environments.unwrap_or_default(),
            proxies: self.proxies.unwrap_or_default(),
            scopes: self.scopes.unwrap_or_default(),
            quota: nonempty(self.quota),
            quota_interval: nonempty(self.quota_interval),
            quota_time_unit: self.quota_time_unit.filter(|s| !s.is_empty()),
            extra: None,
        })
    }
}

/// Query parameters the endpoints read (others, like Google's `alt` or `prettyPrint`, are
/// ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// `?expand=true`: full entities.
    pub expand: Option<String>,
    /// `?shallowExpand=true` (developer apps): entities without credentials.
    #[serde(rename = "shallowExpand")]
    pub shallow_expand: Option<String>,
    /// Page size (`count=` with no value is absent).
    #[serde(deserialize_with = "nonempty")]
    pub count: Option<String>,
    /// Page size of `/apps` (`rows=` with no value is absent).
    #[serde(deserialize_with = "nonempty")]
    pub rows: Option<String>,
    /// Inclusive cursor. An empty `startKey=` is absent: a published Edge client sends it
    /// on every first page (spec/apigee-api.md, issue 9 §5).
    #[serde(rename = "startKey", deserialize_with = "nonempty")]
    pub start_key: Option<String>,
    /// Comma-separated ids.
    pub ids: Option<String>,
    /// Developers owning an app of this name.
    pub app: Option<String>,
    /// `/apps?includeCred=false` drops credentials.
    #[serde(rename = "includeCred")]
    pub include_cred: Option<String>,
    /// `?action=…` on POSTs.
    pub action: Option<String>,
    /// `/apps?filter=field=value` (X).
    pub filter: Option<String>,
    /// `/apps?status=approved|revoked`.
    pub status: Option<String>,
    /// `/apps?apiProduct=name`.
    #[serde(rename = "apiProduct")]
    pub api_product: Option<String>,
    /// `/apps?keyStatus=approved|revoked`.
    #[serde(rename = "keyStatus")]
    pub key_status: Option<String>,
    /// `/apiproducts?attributename=`: only products with this attribute.
    pub attributename: Option<String>,
    /// `/apiproducts?attributevalue=`: … with this value.
    pub attributevalue: Option<String>,
    /// `GET /apiproducts/{p}?query=count|list` (Edge).
    pub query: Option<String>,
    /// `GET /apiproducts/{p}?entity=keys|apps|developers|companies` (Edge).
    pub entity: Option<String>,
    /// `GET /apiproducts/{p}?startkey=` (Edge, with `query=list`; lowercase k as documented).
    #[serde(rename = "startkey", deserialize_with = "nonempty")]
    pub startkey: Option<String>,
    /// `/apps?pageSize=N` (X): the page size of token paging.
    #[serde(rename = "pageSize", deserialize_with = "nonempty")]
    pub page_size: Option<String>,
    /// `/apps?pageToken=…` (X): the `nextPageToken` of the previous page.
    #[serde(rename = "pageToken", deserialize_with = "nonempty")]
    pub page_token: Option<String>,
}

/// A query value where `name=` with nothing after it means the same as no `name` at all.
fn nonempty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|v| !v.is_empty()))
}
