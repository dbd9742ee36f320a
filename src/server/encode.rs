//! Flavour-true JSON for store records (spec/apigee-api.md §1, §3.2, §4.2).
//!
//! Apigee X (proto3 JSON): int64 fields as strings, empty strings and lists omitted, lists
//! without `expand` as wrapper objects of stubs, an empty list as `{}`.
//! Edge: numbers, empty lists present, `createdBy`/`lastModifiedBy`, lists without `expand`
//! as bare arrays of names.
//!
//! These shapes are deliberately independent of the client's wire types
//! (`backend/apigee/wire.rs`): the emulator is the client's test oracle, so it must not reuse
//! the client's structs — a mistake shared by both would then pass every test. What they do
//! share is [`crate::json`]: how to *read* the lenient scalars either flavour may send.

use serde_json::{Map, Value, json};

use crate::model::{DeveloperStatus, Status};
use crate::registry::{AppRecord, Attribute, DeveloperRecord, Extra, KeyRecord, ProductRecord};
use crate::target::Flavor;

/// What Edge shows as `createdBy`/`lastModifiedBy` (the emulator has no admin users).
pub const EDGE_ADMIN: &str = "admin@registrar.local";

/// A JSON object under construction, following the flavour's rules.
struct Obj {
    flavor: Flavor,
    map: Map<String, Value>,
}

impl Obj {
    fn new(flavor: Flavor) -> Self {
        Obj {
            flavor,
            map: Map::new(),
        }
    }

    fn x(&self) -> bool {
        self.flavor == Flavor::X
    }

    /// A string; X omits empty ones.
    fn str(mut self, k: &str, v: &str) -> Self {
        if !(self.x() && v.is_empty()) {
            self.map.insert(k.into(), Value::from(v));
        }
        self
    }

    /// An optional string; absent → omitted.
    fn opt(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.str(k, v),
            None => self,
        }
    }

    /// An int64: a string on X, a number on Edge.
    fn int(mut self, k: &str, v: i64) -> Self {
        let value = if self.x() {
            Value::from(v.to_string())
        } else {
            Value::from(v)
        };
        self.map.insert(k.into(), value);
        self
    }

    /// A list; X omits empty ones, Edge shows `[]`.
    fn list(mut self, k: &str, items: Vec<Value>) -> Self {
        if !(self.x() && items.is_empty()) {
            self.map.insert(k.into(), Value::Array(items));
        }
        self
    }

    fn strings(self, k: &str, items: &[String]) -> Self {
        self.list(k, items.iter().map(|s| Value::from(s.as_str())).collect())
    }

    fn attrs(self, attrs: &[Attribute]) -> Self {
        let items = attrs
            .iter()
            .map(|a| json!({"name": a.name, "value": a.value}))
            .collect();
        self.list("attributes", items)
    }

    /// Edge's audit fields.
    fn audit(mut self) -> Self {
        if !self.x() {
            self.map.insert("createdBy".into(), EDGE_ADMIN.into());
            self.map.insert("lastModifiedBy".into(), EDGE_ADMIN.into());
        }
        self
    }

    /// The unmodelled fields a client sent, verbatim, beside the modelled ones (which win
    /// a clash: a stored member never hides what the server owns).
    fn extra(mut self, extra: &Extra) -> Self {
        for (k, v) in extra {
            if !self.map.contains_key(k) {
                self.map.insert(k.clone(), v.clone());
            }
        }
        self
    }

    fn done(self) -> Value {
        Value::Object(self.map)
    }
}

/// Platform spelling of a status.
pub fn status(s: Status) -> &'static str {
    match s {
        Status::Approved => "approved",
        Status::Pending => "pending",
        Status::Revoked => "revoked",
    }
}

/// A developer.
pub fn developer(f: Flavor, d: &DeveloperRecord) -> Value {
    let status = match d.status {
        DeveloperStatus::Active => "active",
        DeveloperStatus::Inactive => "inactive",
    };
    Obj::new(f)
        .strings("apps", &d.apps)
        .list("companies", Vec::new())
        .str("email", &d.email)
        .str("developerId", &d.developer_id)
        .str("firstName", &d.first_name)
        .str("lastName", &d.last_name)
        .str("userName", &d.user_name)
        .str("organizationName", &d.organization)
        .str("status", status)
        .attrs(&d.attributes)
        .int("createdAt", d.created_at)
        .int("lastModifiedAt", d.last_modified_at)
        .audit()
        .extra(&d.extra)
        .done()
}

/// An API product.
pub fn product(f: Flavor, r: &ProductRecord) -> Value {
    let p = &r.product;
    let approval = match p.approval_type {
        crate::model::ApprovalType::Auto => "auto",
        crate::model::ApprovalType::Manual => "manual",
    };
    Obj::new(f)
        .str("name", &p.name)
        .str("displayName", &p.display_name)
        .str("description", &p.description)
        .str("approvalType", approval)
        .attrs(&p.attributes)
        .strings("apiResources", &p.api_resources)
        .strings("environments", &p.environments)
        .strings("proxies", &p.proxies)
        .strings("scopes", &p.scopes)
        .opt("quota", p.quota.as_deref())
        .opt("quotaInterval", p.quota_interval.as_deref())
        .opt("quotaTimeUnit", p.quota_time_unit.as_deref())
        .int("createdAt", r.created_at)
        .int("lastModifiedAt", r.last_modified_at)
        .audit()
        .extra(&r.extra)
        .done()
}

/// A key, as in `credentials[]` and as the keys endpoints answer.
pub fn key(f: Flavor, k: &KeyRecord) -> Value {
    let grants = k
        .api_products
        .iter()
        .map(|g| json!({"apiproduct": g.product, "status": status(g.status)}))
        .collect();
    Obj::new(f)
        .list("apiProducts", grants)
        .attrs(&k.attributes)
        .str("consumerKey", k.consumer_key.expose())
        .str("consumerSecret", k.consumer_secret.expose())
        .int("expiresAt", k.expires_at.unwrap_or(-1))
        .int("issuedAt", k.issued_at)
        .strings("scopes", &k.scopes)
        .str("status", status(k.status))
        .extra(&k.extra)
        .done()
}

/// How much of an app to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppView {
    /// A developer app with credentials.
    Full,
    /// `shallowExpand`: no credentials, no developerId.
    Shallow,
    /// The org-wide `/apps` view (`App` schema): adds developerEmail on X, no appFamily;
    /// `false` drops credentials (`includeCred=false`).
    Org {
        /// Whether to include credentials.
        credentials: bool,
    },
}

/// A developer app.
pub fn app(f: Flavor, a: &AppRecord, view: AppView) -> Value {
    let mut o = Obj::new(f).str("appId", &a.app_id);
    let group = a.app_group.as_deref();
    if group.is_none() && (view == AppView::Full || (f == Flavor::Edge && view != AppView::Shallow))
    {
        o = o.str("appFamily", "default");
    }
    o = o
        .attrs(&a.attributes)
        .opt("callbackUrl", a.callback_url.as_deref())
        .int("createdAt", a.created_at);
    let with_credentials = match view {
        AppView::Full => true,
        AppView::Shallow => false,
        AppView::Org { credentials } => credentials,
    };
    if with_credentials {
        o = o.list(
            "credentials",
            a.credentials.iter().map(|k| key(f, k)).collect(),
        );
    }
    // An AppGroup app names its group, never the internal owner (GoogleCloudApigeeV1App /
    // AppGroupApp: `appGroup`, no developer).
    if let Some(g) = group {
        o = o.str("appGroup", g);
    } else {
        if view != AppView::Shallow {
            o = o.str("developerId", &a.developer_id);
        }
        if f == Flavor::X && matches!(view, AppView::Org { .. }) {
            o = o.str("developerEmail", &a.developer_email);
        }
    }
    if f == Flavor::X
        && let Some(ms) = a.key_expires_in
    {
        o = o.int("keyExpiresIn", ms);
    }
    o.int("lastModifiedAt", a.last_modified_at)
        .str("name", &a.name)
        .strings("scopes", &a.scopes)
        .str("status", status(a.status))
        .audit()
        .extra(&a.extra)
        .done()
}

/// A list: with `expand`, `{wrapper: [full…]}`; without, X `{wrapper: [stub…]}` and Edge a
/// bare array of names. X shows an empty list as `{}`.
pub fn list(
    f: Flavor,
    wrapper: &str,
    expand: bool,
    full: Vec<Value>,
    names: Vec<(&str, String)>,
) -> Value {
    match (f, expand) {
        (Flavor::X, _) if full.is_empty() && names.is_empty() => json!({}),
        (_, true) => json!({ wrapper: full }),
        (Flavor::X, false) => {
            let stubs: Vec<Value> = names.into_iter().map(|(k, v)| json!({ k: v })).collect();
            json!({ wrapper: stubs })
        }
        (Flavor::Edge, false) => {
            Value::Array(names.into_iter().map(|(_, v)| Value::from(v)).collect())
        }
    }
}
