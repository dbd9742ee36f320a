//! Operation groups of an API product (Apigee X): which operations of which API source a
//! product grants, with a quota per source. The same types serve the config (its JSON Schema),
//! the model and the plan; the names are the platform's (`GoogleCloudApigeeV1OperationGroup`,
//! `GoogleCloudApigeeV1GraphQLOperationGroup` in the discovery document), with attributes as
//! a map like everywhere else in the config.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Attributes, TimeUnit};

/// Whether the API sources are Apigee API proxies or remote services (non-Apigee proxies such
/// as Istio-Envoy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationConfigType {
    /// Apigee API proxies (the platform's default).
    #[default]
    Proxy,
    /// Remote services.
    Remoteservice,
}

spelled!(OperationConfigType { Proxy => "proxy", Remoteservice => "remoteservice" });

/// A REST operation group: per API source, the resources and methods the product grants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OperationGroup {
    /// `proxy` (default) or `remoteservice`.
    #[serde(default)]
    pub operation_config_type: OperationConfigType,
    /// One entry per API source; each source at most once.
    #[schemars(length(min = 1))]
    pub operation_configs: Vec<OperationConfig>,
}

/// The operations of one API source, with their quota and attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OperationConfig {
    /// Name of the API proxy or remote service.
    #[schemars(length(min = 1))]
    pub api_source: String,
    /// Resource paths and the methods allowed on each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    /// Quota for this source's operations; none: no quota enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<OperationQuota>,
    /// Custom attributes of the operation.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// A resource path and the HTTP methods allowed on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Operation {
    /// REST resource path, e.g. `/payments`.
    #[schemars(length(min = 1))]
    pub resource: String,
    /// HTTP methods, upper case (`GET`, `POST`, …); none: every method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

/// A quota: `limit` requests per `interval` `timeUnit`s.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OperationQuota {
    /// Requests allowed per interval.
    #[schemars(range(min = 1))]
    pub limit: u64,
    /// Length of the interval, in `timeUnit`s. Default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub interval: u64,
    /// `minute`, `hour` (the platform's default), `day` or `month`.
    #[serde(default = "hour")]
    pub time_unit: TimeUnit,
}

fn one() -> u64 {
    1
}

fn hour() -> TimeUnit {
    TimeUnit::Hour
}

/// A GraphQL operation group: per API source, the GraphQL operations the product grants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GraphqlOperationGroup {
    /// `proxy` (default) or `remoteservice`.
    #[serde(default)]
    pub operation_config_type: OperationConfigType,
    /// One entry per API source; each source at most once.
    #[schemars(length(min = 1))]
    pub operation_configs: Vec<GraphqlOperationConfig>,
}

/// The GraphQL operations of one API source, with their quota and attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GraphqlOperationConfig {
    /// Name of the API proxy endpoint or remote service.
    #[schemars(length(min = 1))]
    pub api_source: String,
    /// GraphQL operations (name and types).
    #[schemars(length(min = 1))]
    pub operations: Vec<GraphqlOperation>,
    /// Quota for this source's operations; none: no quota enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<OperationQuota>,
    /// Custom attributes of the operation.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// A GraphQL operation name and the operation types it covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GraphqlOperation {
    /// Operation name; none: every operation of the given types.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation: String,
    /// `query` and/or `mutation` (the platform does not support `subscription`).
    #[schemars(length(min = 1))]
    pub operation_types: Vec<GraphqlOperationType>,
}

/// A GraphQL operation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GraphqlOperationType {
    /// Queries.
    Query,
    /// Mutations.
    Mutation,
}

spelled!(GraphqlOperationType { Query => "query", Mutation => "mutation" });

/// The HTTP methods an operation may name.
pub const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
];

// The platform's JSON form (Apigee X, proto3 JSON): attributes as `[{name, value}]`, quota
// numbers as strings. Shared by the Apigee client and the embedded registry, which keeps
// operation groups as the platform's JSON.

fn attributes_json(attrs: &Attributes) -> Value {
    Value::Array(
        attrs
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

fn quota_json(q: &OperationQuota) -> Value {
    json!({
        "limit": q.limit.to_string(),
        "interval": q.interval.to_string(),
        "timeUnit": q.time_unit.as_str(),
    })
}

/// A JSON object's fields, whichever way it was sent.
fn text(v: &Value, field: &str) -> String {
    match v.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A list field: `[…]`, `{"wrapper": […]}`, or absent / `{}` (empty).
fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    match v.get(field) {
        Some(Value::Array(items)) => items,
        Some(Value::Object(o)) if o.len() == 1 => match o.values().next() {
            Some(Value::Array(items)) => items,
            _ => &[],
        },
        _ => &[],
    }
}

fn attributes_from(v: &Value) -> Attributes {
    list(v, "attributes")
        .iter()
        .map(|a| (text(a, "name"), text(a, "value")))
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// A quota as the platform sends it; a quota whose limit is not a number is left out.
fn quota_from(v: &Value) -> Option<OperationQuota> {
    let q = v.get("quota").filter(|q| q.is_object())?;
    let limit = text(q, "limit").trim().parse().ok()?;
    let interval = text(q, "interval").trim().parse().unwrap_or(1);
    let time_unit = text(q, "timeUnit")
        .trim()
        .to_ascii_lowercase()
        .parse()
        .unwrap_or(TimeUnit::Hour);
    Some(OperationQuota {
        limit,
        interval,
        time_unit,
    })
}

fn config_type_from(v: &Value) -> OperationConfigType {
    text(v, "operationConfigType")
        .to_ascii_lowercase()
        .parse()
        .unwrap_or_default()
}

/// What the configs of both kinds of operation group share: an API source, operations, a
/// quota and attributes.
pub trait SourceConfig {
    /// Name of the API proxy or remote service.
    fn api_source(&self) -> &str;
    /// Each operation in the platform's JSON form, as declared.
    fn operations_json(&self) -> Vec<Value>;
    /// The quota, if any.
    fn quota(&self) -> Option<&OperationQuota>;
    /// Custom attributes.
    fn attributes(&self) -> &Attributes;
}

impl SourceConfig for OperationConfig {
    fn api_source(&self) -> &str {
        &self.api_source
    }

    fn operations_json(&self) -> Vec<Value> {
        self.operations
            .iter()
            .map(|op| {
                let mut o = json!({"resource": op.resource});
                if !op.methods.is_empty() {
                    o["methods"] = json!(op.methods);
                }
                o
            })
            .collect()
    }

    fn quota(&self) -> Option<&OperationQuota> {
        self.quota.as_ref()
    }

    fn attributes(&self) -> &Attributes {
        &self.attributes
    }
}

impl SourceConfig for GraphqlOperationConfig {
    fn api_source(&self) -> &str {
        &self.api_source
    }

    fn operations_json(&self) -> Vec<Value> {
        self.operations
            .iter()
            .map(|op| {
                let types: Vec<&str> = op.operation_types.iter().map(|t| t.as_str()).collect();
                let mut o = json!({ "operationTypes": types });
                if !op.operation.is_empty() {
                    o["operation"] = json!(op.operation);
                }
                o
            })
            .collect()
    }

    fn quota(&self) -> Option<&OperationQuota> {
        self.quota.as_ref()
    }

    fn attributes(&self) -> &Attributes {
        &self.attributes
    }
}

/// A group in the platform's JSON form.
fn group_json<C: SourceConfig>(config_type: OperationConfigType, configs: &[C]) -> Value {
    let configs: Vec<Value> = configs
        .iter()
        .map(|c| {
            let mut o = json!({"apiSource": c.api_source(), "operations": c.operations_json()});
            if let Some(q) = c.quota() {
                o["quota"] = quota_json(q);
            }
            if !c.attributes().is_empty() {
                o["attributes"] = attributes_json(c.attributes());
            }
            o
        })
        .collect();
    json!({
        "operationConfigType": config_type.as_str(),
        "operationConfigs": configs,
    })
}

impl OperationGroup {
    /// The platform's JSON form.
    pub fn to_platform_json(&self) -> Value {
        group_json(self.operation_config_type, &self.operation_configs)
    }

    /// Reads the platform's JSON form leniently (numbers as strings or numbers, lists
    /// possibly wrapped or absent).
    pub fn from_platform_json(v: &Value) -> OperationGroup {
        OperationGroup {
            operation_config_type: config_type_from(v),
            operation_configs: list(v, "operationConfigs")
                .iter()
                .map(|c| OperationConfig {
                    api_source: text(c, "apiSource"),
                    operations: list(c, "operations")
                        .iter()
                        .map(|op| Operation {
                            resource: text(op, "resource"),
                            methods: list(op, "methods")
                                .iter()
                                .filter_map(|m| m.as_str().map(str::to_string))
                                .collect(),
                        })
                        .collect(),
                    quota: quota_from(c),
                    attributes: attributes_from(c),
                })
                .collect(),
        }
    }
}

impl GraphqlOperationGroup {
    /// The platform's JSON form.
    pub fn to_platform_json(&self) -> Value {
        group_json(self.operation_config_type, &self.operation_configs)
    }

    /// Reads the platform's JSON form leniently; unknown operation types are left out.
    pub fn from_platform_json(v: &Value) -> GraphqlOperationGroup {
        GraphqlOperationGroup {
            operation_config_type: config_type_from(v),
            operation_configs: list(v, "operationConfigs")
                .iter()
                .map(|c| GraphqlOperationConfig {
                    api_source: text(c, "apiSource"),
                    operations: list(c, "operations")
                        .iter()
                        .map(|op| GraphqlOperation {
                            operation: text(op, "operation"),
                            operation_types: list(op, "operationTypes")
                                .iter()
                                .filter_map(|t| t.as_str()?.to_ascii_lowercase().parse().ok())
                                .collect(),
                        })
                        .collect(),
                    quota: quota_from(c),
                    attributes: attributes_from(c),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_groups_round_trip_through_the_platform_json() {
        let g = OperationGroup {
            operation_config_type: OperationConfigType::Proxy,
            operation_configs: vec![OperationConfig {
                api_source: "payments-v1".into(),
                operations: vec![Operation {
                    resource: "/payments".into(),
                    methods: vec!["GET".into(), "POST".into()],
                }],
                quota: Some(OperationQuota {
                    limit: 100,
                    interval: 1,
                    time_unit: TimeUnit::Minute,
                }),
                attributes: Attributes::from([("tier".into(), "gold".into())]),
            }],
        };
        let v = g.to_platform_json();
        assert_eq!(v["operationConfigs"][0]["quota"]["limit"], json!("100"));
        assert_eq!(
            v["operationConfigs"][0]["attributes"],
            json!([{"name": "tier", "value": "gold"}])
        );
        assert_eq!(OperationGroup::from_platform_json(&v), g);

        let q = GraphqlOperationGroup {
            operation_config_type: OperationConfigType::Remoteservice,
            operation_configs: vec![GraphqlOperationConfig {
                api_source: "graph".into(),
                operations: vec![GraphqlOperation {
                    operation: String::new(),
                    operation_types: vec![GraphqlOperationType::Query],
                }],
                quota: None,
                attributes: Attributes::new(),
            }],
        };
        assert_eq!(
            GraphqlOperationGroup::from_platform_json(&q.to_platform_json()),
            q
        );
    }

    #[test]
    fn lenient_reading() {
        let v = json!({"operationConfigs": [{"apiSource": "s",
            "quota": {"limit": 5, "interval": "2"},
            "operations": [{"resource": "/r"}]}]});
        let g = OperationGroup::from_platform_json(&v);
        assert_eq!(g.operation_config_type, OperationConfigType::Proxy);
        let q = g.operation_configs[0].quota.as_ref().unwrap();
        assert_eq!((q.limit, q.interval, q.time_unit), (5, 2, TimeUnit::Hour));
        assert!(g.operation_configs[0].operations[0].methods.is_empty());
    }
}
