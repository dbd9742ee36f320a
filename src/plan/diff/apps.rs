//! Apps: create each declared app with its first credential, update or adopt existing ones
//! (callback URL and attributes, never products: those are reconciled per key), set their
//! status, and (with `--prune`) delete owned ones no longer declared.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{Differ, attr_fields, field, str_field};
use crate::model::{Address, App, Attributes, DEFAULT_CREDENTIAL_ID, DesiredKey, Observed, Status};
use crate::op::Op;
use crate::plan::{Action, Change, Flag};

/// An app's callback URL, empty when it has none.
fn url(app: &App) -> &str {
    app.callback_url.as_deref().unwrap_or_default()
}

impl Differ<'_> {
    pub(super) fn apps(&mut self) {
        let actual: HashMap<(&str, &str), &Observed<App>> = self
            .input
            .actual
            .apps
            .iter()
            .map(|o| ((o.value.developer.as_str(), o.value.name.as_str()), o))
            .collect();
        let mut first_key: HashMap<(&str, &str), &DesiredKey> = HashMap::new();
        for k in &self.input.desired.keys {
            first_key
                .entry((k.developer.as_str(), k.app.as_str()))
                .or_insert(k);
        }
        for want in &self.input.desired.apps {
            let id = (want.developer.as_str(), want.name.as_str());
            match actual.get(&id) {
                None => self.create_app(want, first_key.get(&id).copied()),
                Some(have) => self.update_app(want, &have.value),
            }
        }
        let wanted: HashSet<(&str, &str)> = self
            .input
            .desired
            .apps
            .iter()
            .map(|a| (a.developer.as_str(), a.name.as_str()))
            .collect();
        for have in &self.input.actual.apps {
            let (developer, app) = (have.value.developer.as_str(), have.value.name.as_str());
            if !wanted.contains(&(developer, app)) && self.prune_candidate(&have.value.attributes) {
                self.prune(
                    Address::app(developer, app),
                    "owned, and no longer in the config (--prune); its keys go with it",
                    Op::DeleteApp {
                        developer: developer.to_string(),
                        app: app.to_string(),
                    },
                );
            }
        }
    }

    /// A new app, issued with its first declared credential (or a `default` one).
    fn create_app(&mut self, want: &App, first: Option<&DesiredKey>) {
        let mut fields = Vec::new();
        str_field(&mut fields, "name", "", &want.name);
        str_field(&mut fields, "callbackUrl", "", url(want));
        attr_fields(&mut fields, &Attributes::new(), &want.attributes);
        if want.status == Status::Revoked {
            fields.push(field("status", None, Some(json!(want.status))));
        }
        let credential = first.cloned().unwrap_or_else(|| DesiredKey {
            developer: want.developer.clone(),
            app: want.name.clone(),
            id: DEFAULT_CREDENTIAL_ID.to_string(),
            products: vec![],
            scopes: vec![],
            status: Status::Approved,
            expires_in_ms: want.key_expires_in_ms,
        });
        let reason = format!("the platform mints key `{}` with the app", credential.id);
        self.changes.push(Change::new(
            Address::app(&want.developer, &want.name),
            Action::Create,
            fields,
            Some(reason),
            Op::CreateApp {
                app: want.clone(),
                credential,
            },
        ));
    }

    fn update_app(&mut self, want: &App, have: &App) {
        let address = Address::app(&want.developer, &want.name);
        let mut fields = Vec::new();
        str_field(&mut fields, "callbackUrl", url(have), url(want));
        attr_fields(&mut fields, &have.attributes, &want.attributes);
        let ok = self.upsert(
            address.clone(),
            Some(&have.attributes),
            fields,
            Op::UpdateApp { app: want.clone() },
            Op::UpdateApp { app: want.clone() },
        );
        if ok && have.status != want.status {
            let action = if want.status == Status::Revoked {
                Action::Revoke
            } else {
                Action::SetStatus
            };
            self.changes.push(Change::new(
                address,
                action,
                vec![field(
                    "status",
                    Some(json!(have.status)),
                    Some(json!(want.status)),
                )],
                None,
                Op::SetAppStatus {
                    developer: want.developer.clone(),
                    app: want.name.clone(),
                    status: want.status,
                },
            ));
            match (have.status, want.status) {
                (Status::Approved, Status::Revoked) => {
                    let keys = self.live_keys(&want.developer, Some(&want.name));
                    if keys > 0 {
                        self.flag_last(Flag::RevokesLive { keys });
                    }
                }
                (Status::Revoked, Status::Approved) => self.flag_last(Flag::ReEnables),
                _ => {}
            }
        }
    }
}
