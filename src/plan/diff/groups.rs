//! AppGroup apps (Apigee X): apps owned by an AppGroup, not a developer. registrar does not
//! manage them and never touches them; a plan says where one shares a name with a declared
//! app or holds a key on a declared product, so that nobody mistakes one for the other.

use std::collections::{HashMap, HashSet};

use super::Differ;
use crate::model::Address;

impl Differ<'_> {
    pub(super) fn group_apps(&mut self) {
        let actual = self.input.actual;
        if actual.group_apps.is_empty() {
            return;
        }
        let mut apps_by_name: HashMap<&str, Vec<&str>> = HashMap::new();
        for a in &self.input.desired.apps {
            apps_by_name
                .entry(a.name.as_str())
                .or_default()
                .push(a.developer.as_str());
        }
        let products: HashSet<&str> = self
            .input
            .desired
            .products
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let mut notes = Vec::new();
        for g in &actual.group_apps {
            let what = format!("AppGroup app `{}/{}`", g.group, g.name);
            for developer in apps_by_name.get(g.name.as_str()).into_iter().flatten() {
                notes.push((
                    Address::app(developer, &g.name),
                    format!(
                        "{what} has the same name; it belongs to an AppGroup, not to a \
                         developer, and registrar leaves it alone"
                    ),
                ));
            }
            for p in g.products.iter().filter(|p| products.contains(p.as_str())) {
                notes.push((
                    Address::product(p),
                    format!(
                        "{what} holds a key on this product; registrar does not manage \
                         AppGroup apps and leaves it alone"
                    ),
                ));
            }
        }
        for (address, message) in notes {
            self.note(address, message);
        }
    }
}
