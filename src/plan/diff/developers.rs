//! Developers: create, update or adopt each declared developer, set its status, and (with
//! `--prune`) delete owned ones no longer declared, unless the platform would take apps of
//! someone else with them.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{Differ, Ownership, attr_fields, field, ownership, str_field};
use crate::model::{Address, Developer, DeveloperStatus, Observed};
use crate::op::Op;
use crate::plan::{Action, Change};

impl Differ<'_> {
    pub(super) fn developers(&mut self) {
        let actual: HashMap<&str, &Observed<Developer>> = self
            .input
            .actual
            .developers
            .iter()
            .map(|o| (o.value.email.as_str(), o))
            .collect();
        for want in &self.input.desired.developers {
            let have = actual.get(want.email.as_str()).map(|h| &h.value);
            let mut fields = Vec::new();
            if have.is_none() {
                str_field(&mut fields, "email", "", &want.email);
            }
            let before = |f: fn(&Developer) -> &str| have.map_or("", f);
            str_field(
                &mut fields,
                "firstName",
                before(|d| &d.first_name),
                &want.first_name,
            );
            str_field(
                &mut fields,
                "lastName",
                before(|d| &d.last_name),
                &want.last_name,
            );
            str_field(
                &mut fields,
                "userName",
                before(|d| &d.user_name),
                &want.user_name,
            );
            let none = Default::default();
            attr_fields(
                &mut fields,
                have.map_or(&none, |h| &h.attributes),
                &want.attributes,
            );
            let address = Address::developer(&want.email);
            let ok = self.upsert(
                address.clone(),
                have.map(|h| &h.attributes),
                fields,
                Op::CreateDeveloper {
                    developer: want.clone(),
                },
                Op::UpdateDeveloper {
                    developer: want.clone(),
                },
            );
            let current = have.map_or(DeveloperStatus::Active, |h| h.status);
            if ok && current != want.status {
                let status = want.status;
                self.changes.push(Change::new(
                    address,
                    Action::SetStatus,
                    vec![field("status", Some(json!(current)), Some(json!(status)))],
                    None,
                    Op::SetDeveloperStatus {
                        email: want.email.clone(),
                        status,
                    },
                ));
            }
        }
        let wanted: HashSet<&str> = self
            .input
            .desired
            .developers
            .iter()
            .map(|d| d.email.as_str())
            .collect();
        for have in &self.input.actual.developers {
            if wanted.contains(have.value.email.as_str())
                || !self.prune_candidate(&have.value.attributes)
            {
                continue;
            }
            let email = &have.value.email;
            // Deleting a developer deletes all its apps on the platform: never when some of
            // them are not ours.
            let foreign: Vec<String> = self
                .input
                .actual
                .apps
                .iter()
                .filter(|a| {
                    a.value.developer == *email
                        && !matches!(
                            ownership(&a.value.attributes, self.owner()),
                            Ownership::Owned
                        )
                })
                .map(|a| format!("`{}`", a.value.name))
                .collect();
            if !foreign.is_empty() {
                let list = foreign.join(", ");
                let message = format!(
                    "not deleted: the platform would delete its apps too, and {list} are not owned by `{}`",
                    self.owner()
                );
                self.note(Address::developer(email), message);
                continue;
            }
            self.prune(
                Address::developer(email),
                "owned, and no longer in the config (--prune)",
                Op::DeleteDeveloper {
                    email: email.clone(),
                },
            );
        }
    }
}
