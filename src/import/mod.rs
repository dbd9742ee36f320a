//! `registrar import`'s translation: what a platform holds ([`Actual`]) → the config that
//! declares exactly it ([`Import`]), with the keys whose secrets go into the store and
//! everything the config cannot say listed (never dropped silently). Pure: no I/O, no
//! platform; [`emit`] writes the YAML text.
//!
//! The config is written so that the next plan shows only `adopt` (the owner stamp): the
//! owner stamp and the credential tag are registrar's own and left out, `DisplayName`/`Notes`
//! become `displayName`/`notes`, `access` becomes `access`, and each key becomes a credential
//! whose id [`ids`] chooses so that key matching finds it again.

pub mod emit;
pub mod ids;

use std::collections::{BTreeMap, HashMap};

use crate::config::model::{
    Access, AppConfig, ClientStatus, CredentialConfig, DeveloperConfig, ProductConfig, QuotaConfig,
};
use crate::model::{
    ACCESS_ATTRIBUTE, APPLIED_ATTRIBUTE, Actual, Address, App, Attributes, CREDENTIAL_ATTRIBUTE,
    DEFAULT_CREDENTIAL_ID, DISPLAY_NAME_ATTRIBUTE, Developer, DeveloperStatus, Key,
    NOTES_ATTRIBUTE, OWNER_ATTRIBUTE, Product, Status,
};
use crate::plan::select::Selector;
use crate::secrets::index::IndexEntry;
use crate::units::show_ms;

/// A resource of the config, with what it could not say (written beside it as a comment).
#[derive(Debug, Clone)]
pub struct Item<T> {
    /// The resource as the config declares it.
    pub value: T,
    /// Its address.
    pub address: Address,
    /// What the config cannot express of it (kept on the platform as it is).
    pub remarks: Vec<String>,
}

/// Something about one resource, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remark {
    /// The resource (`app alice@example.com/web`, `app group g/x`).
    pub address: String,
    /// What, for people.
    pub message: String,
}

/// A key whose secret goes into the store, under its credential's address.
#[derive(Debug, Clone)]
pub struct ImportedKey<'k> {
    /// `key DEVELOPER/APP/ID`.
    pub address: Address,
    /// The credential id.
    pub credential: String,
    /// The key as read.
    pub key: &'k Key,
}

/// The imported config.
#[derive(Debug, Clone, Default)]
pub struct Import<'k> {
    /// Developers, by email.
    pub developers: Vec<Item<DeveloperConfig>>,
    /// Products, by name.
    pub products: Vec<Item<ProductConfig>>,
    /// Apps, by developer and name.
    pub apps: Vec<Item<AppConfig>>,
    /// Every declared key, by address.
    pub keys: Vec<ImportedKey<'k>>,
    /// What the platform holds that the config leaves out, and why.
    pub left_out: Vec<Remark>,
}

impl Import<'_> {
    /// Every remark on a resource written (what it cannot express), by address.
    pub fn not_expressed(&self) -> Vec<Remark> {
        let mut out = Vec::new();
        let mut add = |address: &Address, remarks: &[String]| {
            out.extend(remarks.iter().map(|m| Remark {
                address: address.to_string(),
                message: m.clone(),
            }))
        };
        self.developers
            .iter()
            .for_each(|i| add(&i.address, &i.remarks));
        self.products
            .iter()
            .for_each(|i| add(&i.address, &i.remarks));
        self.apps.iter().for_each(|i| add(&i.address, &i.remarks));
        out
    }

    /// The declared keys whose platform returned no consumer secret.
    pub fn without_secret(&self) -> Vec<&ImportedKey<'_>> {
        self.keys
            .iter()
            .filter(|k| k.key.consumer_secret.expose().is_empty())
            .collect()
    }
}

/// What to import.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The owner the config stamps.
    pub owner: &'a str,
    /// `--select` patterns (empty: everything).
    pub select: &'a [String],
    /// The secrets index of the target (for stable credential ids on a re-import).
    pub stored: &'a [IndexEntry],
    /// Resources to leave out, with the reason (what the config check refused).
    pub exclude: &'a BTreeMap<Address, String>,
}

/// Translates what was read into a config.
pub fn build<'k>(actual: &'k Actual, opts: Options<'_>) -> Import<'k> {
    let selectors: Vec<Selector> = opts.select.iter().map(|s| Selector::parse(s)).collect();
    let selected = |a: &Address| selectors.is_empty() || selectors.iter().any(|s| s.matches(a));
    let mut out = Import::default();
    // Another owner's resources are another config's: left out, said so.
    let owned_elsewhere = |attrs: &Attributes| {
        attrs
            .get(OWNER_ATTRIBUTE)
            .filter(|o| o.as_str() != opts.owner)
            .map(|o| format!("owned by `{o}` (another config manages it): left out"))
    };
    let skip = |out: &mut Import<'k>, address: &Address, attrs: &Attributes| -> bool {
        let why = opts
            .exclude
            .get(address)
            .cloned()
            .or_else(|| owned_elsewhere(attrs));
        if let Some(message) = why {
            out.left_out.push(Remark {
                address: address.to_string(),
                message,
            });
            return true;
        }
        false
    };

    let mut developers: Vec<&Developer> = actual.developers.iter().map(|o| &o.value).collect();
    developers.sort_by(|a, b| a.email.cmp(&b.email));
    for d in developers {
        let address = Address::developer(&d.email);
        if !selected(&address) || skip(&mut out, &address, &d.attributes) {
            continue;
        }
        out.developers.push(developer(d, address));
    }

    let mut products: Vec<&Product> = actual.products.iter().map(|o| &o.value).collect();
    products.sort_by(|a, b| a.name.cmp(&b.name));
    for p in products {
        let address = Address::product(&p.name);
        if !selected(&address) || skip(&mut out, &address, &p.attributes) {
            continue;
        }
        out.products.push(product(p, address));
    }

    let mut keys_by_app: HashMap<(&str, &str), Vec<&'k Key>> = HashMap::new();
    for k in &actual.keys {
        keys_by_app
            .entry((k.developer.as_str(), k.app.as_str()))
            .or_default()
            .push(k);
    }
    let mut stored_by_app: HashMap<(&str, &str), Vec<&IndexEntry>> = HashMap::new();
    for e in opts.stored {
        stored_by_app
            .entry((e.developer.as_str(), e.app.as_str()))
            .or_default()
            .push(e);
    }
    let mut apps: Vec<&App> = actual.apps.iter().map(|o| &o.value).collect();
    apps.sort_by(|a, b| (&a.developer, &a.name).cmp(&(&b.developer, &b.name)));
    for a in apps {
        let address = Address::app(&a.developer, &a.name);
        let at = (a.developer.as_str(), a.name.as_str());
        let keys = keys_by_app.remove(&at).unwrap_or_default();
        let stored = stored_by_app.remove(&at).unwrap_or_default();
        let assigned = ids::assign(&keys, &stored);
        let picked = !selectors.is_empty()
            && keys.iter().zip(&assigned).any(|(_, id)| match id {
                ids::Assigned::Id(id) => selected(&Address::credential(&a.developer, &a.name, id)),
                ids::Assigned::Skipped(_) => false,
            });
        if !(selected(&address) || picked) || skip(&mut out, &address, &a.attributes) {
            continue;
        }
        let (item, declared) = app(a, address, &keys, &assigned);
        out.apps.push(item);
        out.keys.extend(declared);
    }

    for g in &actual.group_apps {
        let address = format!("app group {}/{}", g.group, g.name);
        out.left_out.push(Remark {
            address,
            message: "an AppGroup app (Apigee X): registrar manages developer apps only, so it is not imported (plans mention it)".into(),
        });
    }
    out
}

/// The attributes without registrar's owner and applied stamps (the config adds the one,
/// apply writes the other).
fn own_removed(attrs: &Attributes) -> BTreeMap<String, String> {
    attrs
        .iter()
        .filter(|(k, _)| k.as_str() != OWNER_ATTRIBUTE && k.as_str() != APPLIED_ATTRIBUTE)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn developer(d: &Developer, address: Address) -> Item<DeveloperConfig> {
    let default_user = d.email.split('@').next().unwrap_or_default();
    Item {
        value: DeveloperConfig {
            email: d.email.clone(),
            first_name: d.first_name.clone(),
            last_name: d.last_name.clone(),
            user_name: (d.user_name != default_user).then(|| d.user_name.clone()),
            status: (d.status == DeveloperStatus::Inactive).then_some(DeveloperStatus::Inactive),
            attributes: own_removed(&d.attributes),
        },
        address,
        remarks: Vec::new(),
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn product(p: &Product, address: Address) -> Item<ProductConfig> {
    let mut remarks = Vec::new();
    let mut attributes = own_removed(&p.attributes);
    let access = match attributes.remove(ACCESS_ATTRIBUTE) {
        None => None,
        Some(v) => match v.as_str() {
            "public" => Some(Access::Public),
            "private" => Some(Access::Private),
            "internal" => Some(Access::Internal),
            other => {
                remarks.push(format!(
                    "attribute `access` is `{other}`, not one of public, private, internal: the config cannot declare it, and the adopting apply removes it"
                ));
                None
            }
        },
    };
    Item {
        value: ProductConfig {
            name: p.name.clone(),
            display_name: (p.display_name != p.name).then(|| p.display_name.clone()),
            description: (!p.description.is_empty()).then(|| p.description.clone()),
            approval_type: (p.approval_type == crate::model::ApprovalType::Manual)
                .then_some(p.approval_type),
            access,
            environments: sorted(&p.environments),
            proxies: sorted(&p.proxies),
            api_resources: sorted(&p.api_resources),
            scopes: sorted(&p.scopes),
            quota: p.quota.as_ref().map(|q| QuotaConfig {
                limit: q.limit,
                interval: q.interval,
                time_unit: q.time_unit,
            }),
            attributes,
            operation_group: p.operation_group.clone(),
            graphql_operation_group: p.graphql_operation_group.clone(),
        },
        address,
        remarks,
    }
}

/// A key's lifetime as issued (ms), or `None` for never.
fn lifetime(k: &Key) -> Option<u64> {
    k.expires_at
        .filter(|e| *e > 0)
        .map(|e| (e - k.issued_at).max(1) as u64)
}

/// A lifetime as the config writes it, to the second (the plan allows a minute either way).
fn show_lifetime(ms: Option<u64>) -> String {
    match ms {
        None => "never".into(),
        Some(ms) => show_ms(((ms + 500) / 1000).max(1) * 1000),
    }
}

/// Whether two lifetimes are the same for the plan (within a minute).
fn same_lifetime(a: Option<u64>, b: Option<u64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.abs_diff(b) <= 60_000,
        _ => false,
    }
}

fn client_status(s: Status, what: &str, remarks: &mut Vec<String>) -> Option<ClientStatus> {
    match s {
        Status::Approved => None,
        Status::Revoked => Some(ClientStatus::Revoked),
        Status::Pending => {
            remarks.push(format!(
                "{what} is `pending`, which the config cannot declare (approved or revoked): written as approved, and the adopting apply approves it"
            ));
            None
        }
    }
}

fn app<'k>(
    a: &App,
    address: Address,
    keys: &[&'k Key],
    assigned: &[ids::Assigned],
) -> (Item<AppConfig>, Vec<ImportedKey<'k>>) {
    let mut remarks = Vec::new();
    let mut attributes = own_removed(&a.attributes);
    let display_name = attributes.remove(DISPLAY_NAME_ATTRIBUTE);
    let notes = attributes.remove(NOTES_ATTRIBUTE);
    let status = client_status(a.status, "the app's status", &mut remarks);
    let mut creds: Vec<(CredentialConfig, &'k Key)> = Vec::new();
    for (k, id) in keys.iter().zip(assigned) {
        let id = match id {
            ids::Assigned::Id(id) => id.clone(),
            ids::Assigned::Skipped(why) => {
                remarks.push(format!("key {}: {why}", k.consumer_key.fingerprint()));
                continue;
            }
        };
        let what = format!("credential `{id}`");
        for g in &k.grants {
            if g.status != Status::Approved {
                remarks.push(format!(
                    "{what}: its grant of product `{}` is `{}`, which the config cannot declare: kept as it is",
                    g.product, g.status
                ));
            }
        }
        for name in k.attributes.keys() {
            if name != CREDENTIAL_ATTRIBUTE {
                remarks.push(format!(
                    "{what}: key attribute `{name}` is not modelled by registrar: kept as it is"
                ));
            }
        }
        let products: Vec<String> = sorted(
            &k.grants
                .iter()
                .map(|g| g.product.clone())
                .collect::<Vec<_>>(),
        );
        let key_status = client_status(k.status, &format!("{what}'s status"), &mut remarks);
        creds.push((
            CredentialConfig {
                id,
                api_products: (!products.is_empty()).then_some(products),
                scopes: (!k.scopes.is_empty()).then(|| sorted(&k.scopes)),
                expires_in: Some(show_lifetime(lifetime(k))),
                status: key_status,
            },
            *k,
        ));
    }
    creds.sort_by(|(a, _), (b, _)| {
        (a.id != DEFAULT_CREDENTIAL_ID, &a.id).cmp(&(b.id != DEFAULT_CREDENTIAL_ID, &b.id))
    });
    let app_life = a.key_expires_in_ms;
    let mut value = AppConfig {
        name: a.name.clone(),
        developer: a.developer.clone(),
        display_name,
        notes,
        callback_url: a.callback_url.clone().filter(|u| !u.is_empty()),
        api_products: Vec::new(),
        scopes: Vec::new(),
        key_expires_in: app_life.map(|ms| show_lifetime(Some(ms))),
        status,
        attributes,
        credentials: None,
    };
    let simple = match creds.as_slice() {
        [(c, k)] => {
            c.id == DEFAULT_CREDENTIAL_ID
                && c.status.is_none()
                && same_lifetime(lifetime(k), app_life)
        }
        _ => false,
    };
    if simple {
        let (c, _) = &creds[0];
        value.api_products = c.api_products.clone().unwrap_or_default();
        value.scopes = c.scopes.clone().unwrap_or_default();
    } else {
        let mut list = Vec::new();
        for (c, k) in &creds {
            let mut c = c.clone();
            if same_lifetime(lifetime(k), app_life) {
                c.expires_in = None;
            }
            list.push(c);
        }
        value.credentials = Some(list);
    }
    let declared = creds
        .iter()
        .map(|(c, k)| ImportedKey {
            address: Address::credential(&a.developer, &a.name, &c.id),
            credential: c.id.clone(),
            key: k,
        })
        .collect();
    (
        Item {
            value,
            address,
            remarks,
        },
        declared,
    )
}

#[cfg(test)]
mod tests;
