//! The registry in the model's terms: what `local` (and the benchmarks) hand the registry, and
//! what they read back. The registry's own records stay shaped like the platform's API (it is
//! the platform `serve` plays: attributes in the order written, quotas as the strings sent);
//! this file is the one place where they meet the model.

use super::{AppInput, AppRecord, Attribute, DeveloperInput, DeveloperRecord, KeyRecord};
use super::{Extra, ProductInput, ProductRecord};
use crate::model::{
    App, Attributes, CREDENTIAL_ATTRIBUTE, DesiredKey, Developer, Grant, GraphqlOperationGroup,
    Key, Observed, OperationGroup, Product, Quota, TimeUnit,
};

/// Attributes as the registry keeps them (sorted by name, as the model holds them).
pub fn attribute_list(attrs: &Attributes) -> Vec<Attribute> {
    attrs
        .iter()
        .map(|(k, v)| Attribute::new(k.clone(), v.clone()))
        .collect()
}

/// Attributes as the model holds them.
pub fn attribute_map(attrs: &[Attribute]) -> Attributes {
    attrs
        .iter()
        .map(|a| (a.name.clone(), a.value.clone()))
        .collect()
}

impl From<&Developer> for DeveloperInput {
    fn from(d: &Developer) -> Self {
        DeveloperInput {
            email: d.email.clone(),
            first_name: d.first_name.clone(),
            last_name: d.last_name.clone(),
            user_name: d.user_name.clone(),
            attributes: attribute_list(&d.attributes),
            extra: None,
        }
    }
}

impl From<&Product> for ProductInput {
    fn from(p: &Product) -> Self {
        let quota = p.quota.as_ref();
        ProductInput {
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            description: p.description.clone(),
            approval_type: p.approval_type,
            attributes: attribute_list(&p.attributes),
            api_resources: p.api_resources.clone(),
            environments: p.environments.clone(),
            proxies: p.proxies.clone(),
            scopes: p.scopes.clone(),
            quota: quota.map(|q| q.limit.to_string()),
            quota_interval: quota.map(|q| q.interval.to_string()),
            quota_time_unit: quota.map(|q| q.time_unit.as_str().to_string()),
            extra: product_extra(p, None),
        }
    }
}

/// The unmodelled fields to store a product with: `stored` as it is, with the operation
/// groups the product declares laid over it (as the platform's JSON); `None` (keep what is
/// stored) when it declares none.
pub fn product_extra(p: &Product, stored: Option<&Extra>) -> Option<Extra> {
    if p.operation_group.is_none() && p.graphql_operation_group.is_none() {
        return None;
    }
    let mut extra = stored.cloned().unwrap_or_default();
    if let Some(g) = &p.operation_group {
        extra.insert("operationGroup".into(), g.to_platform_json());
    }
    if let Some(g) = &p.graphql_operation_group {
        extra.insert("graphqlOperationGroup".into(), g.to_platform_json());
    }
    Some(extra)
}

impl AppInput {
    /// A new app issued with its first credential.
    pub fn new(app: &App, first: &DesiredKey) -> Self {
        AppInput {
            name: app.name.clone(),
            api_products: first.products.clone(),
            attributes: attribute_list(&app.attributes),
            callback_url: app.callback_url.clone(),
            scopes: first.scopes.clone(),
            key_expires_in: first.expires_in_ms.map(|v| v as i64),
            status: None,
            extra: None,
        }
    }
}

impl DeveloperRecord {
    /// The developer as read.
    pub fn observed(&self) -> Observed<Developer> {
        Observed {
            value: Developer {
                email: self.email.clone(),
                first_name: self.first_name.clone(),
                last_name: self.last_name.clone(),
                user_name: self.user_name.clone(),
                status: self.status,
                attributes: attribute_map(&self.attributes),
            },
            last_modified_at: Some(self.last_modified_at),
        }
    }
}

impl ProductRecord {
    /// The product as read; a quota the model cannot express is left out.
    pub fn observed(&self) -> Observed<Product> {
        let p = &self.product;
        let quota = match (&p.quota, &p.quota_interval, &p.quota_time_unit) {
            (Some(limit), interval, Some(unit)) => match (
                limit.parse().ok(),
                interval.as_deref().unwrap_or("1").parse().ok(),
                unit.parse::<TimeUnit>().ok(),
            ) {
                (Some(limit), Some(interval), Some(time_unit)) => Some(Quota {
                    limit,
                    interval,
                    time_unit,
                }),
                _ => None,
            },
            _ => None,
        };
        Observed {
            value: Product {
                name: p.name.clone(),
                display_name: p.display_name.clone(),
                description: p.description.clone(),
                approval_type: p.approval_type,
                environments: p.environments.clone(),
                proxies: p.proxies.clone(),
                api_resources: p.api_resources.clone(),
                scopes: p.scopes.clone(),
                quota,
                attributes: attribute_map(&p.attributes),
                operation_group: self
                    .extra
                    .get("operationGroup")
                    .filter(|v| v.is_object())
                    .map(OperationGroup::from_platform_json),
                graphql_operation_group: self
                    .extra
                    .get("graphqlOperationGroup")
                    .filter(|v| v.is_object())
                    .map(GraphqlOperationGroup::from_platform_json),
            },
            last_modified_at: Some(self.last_modified_at),
        }
    }
}

impl AppRecord {
    /// The app as read.
    pub fn observed(&self) -> Observed<App> {
        Observed {
            value: App {
                developer: self.developer_email.clone(),
                name: self.name.clone(),
                callback_url: self.callback_url.clone(),
                status: self.status,
                scopes: self.scopes.clone(),
                key_expires_in_ms: self.key_expires_in.filter(|v| *v > 0).map(|v| v as u64),
                attributes: attribute_map(&self.attributes),
            },
            last_modified_at: Some(self.last_modified_at),
        }
    }

    /// The app's keys as read.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.credentials
            .iter()
            .map(|k| k.key(&self.developer_email, &self.name))
    }
}

impl KeyRecord {
    /// The key as read, of app `app` of `developer`.
    pub fn key(&self, developer: &str, app: &str) -> Key {
        let attributes = attribute_map(&self.attributes);
        Key {
            developer: developer.to_string(),
            app: app.to_string(),
            id: attributes.get(CREDENTIAL_ATTRIBUTE).cloned(),
            consumer_key: self.consumer_key.clone(),
            consumer_secret: self.consumer_secret.clone(),
            grants: self
                .api_products
                .iter()
                .map(|g| Grant {
                    product: g.product.clone(),
                    status: g.status,
                })
                .collect(),
            scopes: self.scopes.clone(),
            status: self.status,
            attributes,
            issued_at: self.issued_at,
            expires_at: self.expires_at.filter(|e| *e >= 0),
        }
    }
}
