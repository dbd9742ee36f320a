//! API products: create, update or adopt each declared product, and (with `--prune`) delete
//! owned ones no longer declared.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Value, json};

use super::{Differ, attr_fields, field, list_field, str_field};
use crate::model::{Address, Attributes, Observed, OperationConfigType, Product, SourceConfig};
use crate::op::Op;
use crate::plan::FieldChange;

impl Differ<'_> {
    pub(super) fn products(&mut self) {
        let actual: HashMap<&str, &Observed<Product>> = self
            .input
            .actual
            .products
            .iter()
            .map(|o| (o.value.name.as_str(), o))
            .collect();
        for want in &self.input.desired.products {
            let have = actual.get(want.name.as_str()).map(|h| &h.value);
            let blank = Product {
                name: want.name.clone(),
                display_name: String::new(),
                description: String::new(),
                approval_type: want.approval_type,
                environments: vec![],
                proxies: vec![],
                api_resources: vec![],
                scopes: vec![],
                quota: None,
                attributes: Attributes::new(),
                operation_group: None,
                graphql_operation_group: None,
            };
            let before = have.unwrap_or(&blank);
            let mut fields = Vec::new();
            if have.is_none() {
                str_field(&mut fields, "name", "", &want.name);
            }
            str_field(
                &mut fields,
                "displayName",
                &before.display_name,
                &want.display_name,
            );
            str_field(
                &mut fields,
                "description",
                &before.description,
                &want.description,
            );
            if have.is_none() || before.approval_type != want.approval_type {
                fields.push(field(
                    "approvalType",
                    have.map(|_| json!(before.approval_type)),
                    Some(json!(want.approval_type)),
                ));
            }
            list_field(
                &mut fields,
                "environments",
                &before.environments,
                &want.environments,
            );
            list_field(&mut fields, "proxies", &before.proxies, &want.proxies);
            list_field(
                &mut fields,
                "apiResources",
                &before.api_resources,
                &want.api_resources,
            );
            list_field(&mut fields, "scopes", &before.scopes, &want.scopes);
            if before.quota != want.quota {
                fields.push(field(
                    "quota",
                    before.quota.as_ref().map(|q| json!(q)),
                    want.quota.as_ref().map(|q| json!(q)),
                ));
            }
            attr_fields(&mut fields, &before.attributes, &want.attributes);
            if let Some(want_group) = &want.operation_group {
                let have_group = before.operation_group.as_ref();
                group_fields(
                    &mut fields,
                    "operationGroup",
                    have_group.map(|g| (g.operation_config_type, sources(&g.operation_configs))),
                    (
                        want_group.operation_config_type,
                        sources(&want_group.operation_configs),
                    ),
                );
            }
            if let Some(want_group) = &want.graphql_operation_group {
                let have_group = before.graphql_operation_group.as_ref();
                group_fields(
                    &mut fields,
                    "graphqlOperationGroup",
                    have_group.map(|g| (g.operation_config_type, sources(&g.operation_configs))),
                    (
                        want_group.operation_config_type,
                        sources(&want_group.operation_configs),
                    ),
                );
            }
            self.upsert(
                Address::product(&want.name),
                have.map(|h| &h.attributes),
                fields,
                Op::CreateProduct {
                    product: want.clone(),
                },
                Op::UpdateProduct {
                    product: want.clone(),
                },
            );
        }
        let wanted: HashSet<&str> = self
            .input
            .desired
            .products
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        for have in &self.input.actual.products {
            if !wanted.contains(have.value.name.as_str())
                && self.prune_candidate(&have.value.attributes)
            {
                self.prune(
                    Address::product(&have.value.name),
                    "owned, and no longer in the config (--prune)",
                    Op::DeleteProduct {
                        name: have.value.name.clone(),
                    },
                );
            }
        }
    }
}

/// One API source of an operation group, normalized for comparison: operations in a stable
/// order (their order means nothing to the platform), the quota and attributes as declared.
#[derive(PartialEq)]
struct Source {
    operations: Vec<Value>,
    quota: Option<Value>,
    attributes: Attributes,
}

/// An operation's JSON with its lists of names sorted (methods, operation types).
fn normalized(mut op: Value) -> Value {
    if let Value::Object(o) = &mut op {
        for v in o.values_mut() {
            if let Value::Array(items) = v {
                items.sort_by_key(Value::to_string);
            }
        }
    }
    op
}

fn sources<C: SourceConfig>(configs: &[C]) -> BTreeMap<String, Source> {
    configs
        .iter()
        .map(|c| {
            let mut operations: Vec<Value> =
                c.operations_json().into_iter().map(normalized).collect();
            operations.sort_by_key(Value::to_string);
            let source = Source {
                operations,
                quota: c.quota().map(|q| json!(q)),
                attributes: c.attributes().clone(),
            };
            (c.api_source().to_string(), source)
        })
        .collect()
}

/// The changes of a declared operation group, field by field: its config type, then per API
/// source (`operationGroup[SOURCE].operations`, `.quota`, `.attributes.NAME`).
fn group_fields(
    fields: &mut Vec<FieldChange>,
    name: &str,
    have: Option<(OperationConfigType, BTreeMap<String, Source>)>,
    want: (OperationConfigType, BTreeMap<String, Source>),
) {
    let (have_type, have) = match have {
        Some((t, sources)) => (Some(t), sources),
        None => (None, BTreeMap::new()),
    };
    let (want_type, want) = want;
    if have_type != Some(want_type) {
        fields.push(field(
            &format!("{name}.operationConfigType"),
            have_type.map(|t| json!(t)),
            Some(json!(want_type)),
        ));
    }
    let sources: BTreeSet<&String> = have.keys().chain(want.keys()).collect();
    for source in sources {
        let (b, a) = (have.get(source), want.get(source));
        if b == a {
            continue;
        }
        let at = format!("{name}[{source}]");
        let ops = |s: Option<&Source>| s.map(|s| json!(s.operations));
        if ops(b) != ops(a) {
            fields.push(field(&format!("{at}.operations"), ops(b), ops(a)));
        }
        let quota = |s: Option<&Source>| s.and_then(|s| s.quota.clone());
        if quota(b) != quota(a) {
            fields.push(field(&format!("{at}.quota"), quota(b), quota(a)));
        }
        let empty = Attributes::new();
        let mut attrs = Vec::new();
        attr_fields(
            &mut attrs,
            b.map_or(&empty, |s| &s.attributes),
            a.map_or(&empty, |s| &s.attributes),
        );
        for mut f in attrs {
            f.field = format!("{at}.{}", f.field);
            fields.push(f);
        }
    }
}
