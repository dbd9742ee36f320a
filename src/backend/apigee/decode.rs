//! Normalizes the wire shapes of [`super::wire`] into the model's resources, the same way for
//! both flavours: attribute lists become maps, quota strings a [`Quota`], `-1` expiries
//! `None`, the `registrar-credential` key attribute the key's id.

use std::collections::HashMap;

use crate::model::Observed;
use crate::model::{
    App, ApprovalType, Attributes, CREDENTIAL_ATTRIBUTE, Developer, DeveloperStatus, Grant,
    GraphqlOperationGroup, Key, OperationGroup, Product, Quota, Secret, Status, TimeUnit,
};

use super::wire::{
    WireApp, WireAttribute, WireCredential, WireDeveloper, WireProduct, WireProductRef,
};

/// Attribute list → map (a repeated name keeps its last value).
pub(crate) fn attributes(list: &[WireAttribute]) -> Attributes {
    list.iter()
        .map(|a| (a.name.clone(), a.value.clone()))
        .collect()
}

/// `approved` / `pending` / `revoked` (case-insensitive); absent means approved.
pub(crate) fn status(s: &str) -> Status {
    match s.to_ascii_lowercase().as_str() {
        "revoked" => Status::Revoked,
        "pending" => Status::Pending,
        _ => Status::Approved,
    }
}

/// `active` (or absent) is active; `inactive` and Edge's legacy `login_lock` are not.
fn developer_status(s: &str) -> DeveloperStatus {
    match s.to_ascii_lowercase().as_str() {
        "" | "active" => DeveloperStatus::Active,
        _ => DeveloperStatus::Inactive,
    }
}

/// A developer as read.
pub(crate) fn developer(w: &WireDeveloper) -> Observed<Developer> {
    Observed {
        value: Developer {
            email: w.email.clone(),
            first_name: w.first_name.clone(),
            last_name: w.last_name.clone(),
            user_name: w.user_name.clone(),
            status: developer_status(&w.status),
            attributes: attributes(&w.attributes),
        },
        last_modified_at: w.last_modified_at,
    }
}

/// The quota of a product: all three fields must be present and valid, else `None`.
fn quota(w: &WireProduct) -> Option<Quota> {
    let limit = w.quota.trim().parse().ok()?;
    let interval = w.quota_interval.trim().parse().ok()?;
    let time_unit = match w.quota_time_unit.trim().to_ascii_lowercase().as_str() {
        "minute" => TimeUnit::Minute,
        "hour" => TimeUnit::Hour,
        "day" => TimeUnit::Day,
        "month" => TimeUnit::Month,
        _ => return None,
    };
    Some(Quota {
        limit,
        interval,
        time_unit,
    })
}

/// A product as read.
pub(crate) fn product(w: &WireProduct) -> Observed<Product> {
    Observed {
        value: Product {
            name: w.name.clone(),
            display_name: w.display_name.clone(),
            description: w.description.clone(),
            approval_type: if w.approval_type.eq_ignore_ascii_case("manual") {
                ApprovalType::Manual
            } else {
                ApprovalType::Auto
            },
            environments: w.environments.clone(),
            proxies: w.proxies.clone(),
            api_resources: w.api_resources.clone(),
            scopes: w.scopes.clone(),
            quota: quota(w),
            attributes: attributes(&w.attributes),
            operation_group: w
                .operation_group
                .as_ref()
                .filter(|v| v.is_object())
                .map(OperationGroup::from_platform_json),
            graphql_operation_group: w
                .graphql_operation_group
                .as_ref()
                .filter(|v| v.is_object())
                .map(GraphqlOperationGroup::from_platform_json),
        },
        last_modified_at: w.last_modified_at,
    }
}

/// The developer email an app belongs to: X's `developerEmail`, else the developer list's
/// mapping of `developerId`. `None` for company / app-group apps and unknown developers.
pub(crate) fn app_owner(w: &WireApp, emails_by_id: &HashMap<String, String>) -> Option<String> {
    if !w.company_name.is_empty() || !w.app_group.is_empty() {
        return None;
    }
    if !w.developer_email.is_empty() {
        return Some(w.developer_email.clone());
    }
    emails_by_id.get(&w.developer_id).cloned()
}

/// An app as read, owned by `developer`.
pub(crate) fn app(w: &WireApp, developer: &str) -> Observed<App> {
    Observed {
        value: App {
            developer: developer.to_string(),
            name: w.name.clone(),
            callback_url: Some(w.callback_url.clone()).filter(|u| !u.is_empty()),
            status: status(&w.status),
            scopes: w.scopes.clone(),
            key_expires_in_ms: w
                .key_expires_in
                .and_then(|ms| u64::try_from(ms).ok())
                .filter(|ms| *ms > 0),
            attributes: attributes(&w.attributes),
        },
        last_modified_at: w.last_modified_at,
    }
}

/// A key of app `app` of `developer`. Its attributes keep `registrar-credential`, whose value
/// is also the key's id.
pub(crate) fn key(w: &WireCredential, developer: &str, app: &str) -> Key {
    let attributes = attributes(&w.attributes);
    Key {
        developer: developer.to_string(),
        app: app.to_string(),
        id: attributes.get(CREDENTIAL_ATTRIBUTE).cloned(),
        consumer_key: Secret::new(w.consumer_key.clone()),
        consumer_secret: Secret::new(w.consumer_secret.clone()),
        grants: w
            .api_products
            .iter()
            .map(|p| match p {
                WireProductRef::Object {
                    apiproduct,
                    status: s,
                } => Grant {
                    product: apiproduct.clone(),
                    status: status(s),
                },
                WireProductRef::Name(name) => Grant {
                    product: name.clone(),
                    status: Status::Approved,
                },
            })
            .collect(),
        scopes: w.scopes.clone(),
        status: status(&w.status),
        attributes,
        issued_at: w.issued_at.unwrap_or(0),
        expires_at: w.expires_at.filter(|t| *t >= 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::apigee::wire::{AppList, DeveloperList, ProductList};
    use crate::model::DISPLAY_NAME_ATTRIBUTE;

    /// The Edge app example of spec §4.2, wrapped in a list.
    const EDGE_APPS: &str = r#"{"app":[{"appFamily":"default","appId":"123abc-456-def",
        "attributes":[{"name":"DisplayName","value":"My App"}],
        "callbackUrl":"example.com","createdAt":1568312504191,"createdBy":"ahamilton@example.com",
        "credentials":[{"apiProducts":[{"apiproduct":"myproduct","status":"approved"}],"attributes":[],
          "consumerKey":"F91jQrfX6CKhyEheXFBL3gxxxxx","consumerSecret":"TLbUJFyzOlLxxxx","expiresAt":-1,
          "issuedAt":1568312504682,"scopes":[],"status":"approved"}],
        "developerId":"1234-abcd","lastModifiedAt":1568313405903,"lastModifiedBy":"ahamilton@example.com",
        "name":"myapp","scopes":[],"status":"approved"}]}"#;

    /// An X app (string int64s, omitted empty fields, developerEmail on the org list).
    const X_APPS: &str = r#"{"app":[{"appId":"a1","name":"checkout","developerId":"d1",
        "developerEmail":"alice@example.com","callbackUrl":"https://c/cb","status":"revoked",
        "keyExpiresIn":"7776000000","createdAt":"1591645866735","lastModifiedAt":"1591645866999",
        "attributes":[{"name":"registrar-owner","value":"pay"}],
        "credentials":[{"consumerKey":"k1","consumerSecret":"s1","issuedAt":"1591645866735",
          "expiresAt":"1599421866735","status":"approved","scopes":["read"],
          "attributes":[{"name":"registrar-credential","value":"primary"}],
          "apiProducts":[{"apiproduct":"p","status":"pending"}]}]},
        {"appId":"a2","name":"grouped","appGroup":"team"}]}"#;

    #[test]
    fn edge_app_example() {
        let list: AppList = serde_json::from_str(EDGE_APPS).unwrap();
        let w = &list.app[0];
        let ids = HashMap::from([("1234-abcd".to_string(), "ahamilton@example.com".to_string())]);
        let owner = app_owner(w, &ids).unwrap();
        let a = app(w, &owner);
        assert_eq!(a.value.developer, "ahamilton@example.com");
        assert_eq!(a.value.attributes[DISPLAY_NAME_ATTRIBUTE], "My App");
        assert_eq!(a.value.key_expires_in_ms, None);
        assert_eq!(a.last_modified_at, Some(1568313405903));
        let k = key(&w.credentials[0], &owner, &a.value.name);
        assert_eq!(k.id, None);
        assert_eq!(k.expires_at, None);
        assert_eq!(k.issued_at, 1568312504682);
        assert_eq!(k.consumer_key.expose(), "F91jQrfX6CKhyEheXFBL3gxxxxx");
        assert_eq!(
            k.grants,
            vec![Grant {
                product: "myproduct".into(),
                status: Status::Approved
            }]
        );
    }

    #[test]
    fn x_app_with_string_numbers() {
        let list: AppList = serde_json::from_str(X_APPS).unwrap();
        let ids = HashMap::new();
        let owner = app_owner(&list.app[0], &ids).unwrap();
        let a = app(&list.app[0], &owner).value;
        assert_eq!(a.status, Status::Revoked);
        assert_eq!(a.key_expires_in_ms, Some(7_776_000_000));
        assert!(a.scopes.is_empty());
        let k = key(&list.app[0].credentials[0], &owner, "checkout");
        assert_eq!(k.id.as_deref(), Some("primary"));
        assert_eq!(k.attributes[CREDENTIAL_ATTRIBUTE], "primary");
        assert_eq!(k.expires_at, Some(1599421866735));
        assert_eq!(k.grants[0].status, Status::Pending);
        assert_eq!(
            app_owner(&list.app[1], &ids),
            None,
            "app-group apps are skipped"
        );
    }

    #[test]
    fn key_expires_in_minus_one_is_never() {
        let w: WireApp = serde_json::from_str(r#"{"name":"a","keyExpiresIn":"-1"}"#).unwrap();
        assert_eq!(app(&w, "d").value.key_expires_in_ms, None);
        let w: WireApp = serde_json::from_str(r#"{"name":"a","keyExpiresIn":86400000}"#).unwrap();
        assert_eq!(app(&w, "d").value.key_expires_in_ms, Some(86_400_000));
    }

    #[test]
    fn developers_of_both_flavours() {
        let edge = r#"{"developer":[{"apps":["app1"],"companies":[],"email":"ahamilton@example.com",
            "developerId":"4707ceee","firstName":"Alex","lastName":"Hamilton",
            "userName":"ahamilton@example.com","organizationName":"myorg","status":"inactive",
            "attributes":[{"name":"ADMIN_EMAIL","value":"admin@example.com"}],
            "createdAt":1486474235912,"lastModifiedAt":1486474783590}]}"#;
        let d = developer(
            &serde_json::from_str::<DeveloperList>(edge)
                .unwrap()
                .developer[0],
        );
        assert_eq!(d.value.status, DeveloperStatus::Inactive);
        assert_eq!(d.value.attributes["ADMIN_EMAIL"], "admin@example.com");
        assert_eq!(d.last_modified_at, Some(1486474783590));
        let x = r#"{"developer":[{"email":"bob@example.com","firstName":"Bob","lastName":"B",
            "userName":"bob","developerId":"d2","status":"active","lastModifiedAt":"17"}]}"#;
        let d = developer(&serde_json::from_str::<DeveloperList>(x).unwrap().developer[0]);
        assert_eq!(d.value.status, DeveloperStatus::Active);
        assert!(d.value.attributes.is_empty());
        assert_eq!(d.last_modified_at, Some(17));
    }

    #[test]
    fn products_with_quota_and_access() {
        let x = r#"{"apiProduct":[{"name":"payments-read","displayName":"Payments","approvalType":"manual",
            "environments":["prod"],"quota":"1000","quotaInterval":"1","quotaTimeUnit":"minute",
            "attributes":[{"name":"access","value":"private"}],"lastModifiedAt":"5"},
            {"name":"bare"}]}"#;
        let list: ProductList = serde_json::from_str(x).unwrap();
        let p = product(&list.api_product[0]).value;
        assert_eq!(p.approval_type, ApprovalType::Manual);
        assert_eq!(p.attributes["access"], "private");
        assert_eq!(
            p.quota,
            Some(Quota {
                limit: 1000,
                interval: 1,
                time_unit: TimeUnit::Minute
            })
        );
        let bare = product(&list.api_product[1]).value;
        assert_eq!((bare.quota, bare.approval_type), (None, ApprovalType::Auto));
        assert!(bare.scopes.is_empty() && bare.description.is_empty());
    }
}
