//! API products: create, update or adopt each declared product, and (with `--prune`) delete
//! owned ones no longer declared.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{Differ, attr_fields, field, list_field, str_field};
use crate::model::{Address, Attributes, Observed, Product};
use crate::op::Op;

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
