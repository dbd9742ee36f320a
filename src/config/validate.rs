//! Cross-checks a schema cannot express: names per platform rules, uniqueness across files,
//! references, scopes, attribute limits, callback URLs and durations.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::load::{Desired, Sourced};
use super::model::{AppConfig, ProductConfig};
use super::{Code, Diagnostic};
use crate::model::{
    ACCESS_ATTRIBUTE, APPLIED_ATTRIBUTE, CREDENTIAL_ATTRIBUTE, DISPLAY_NAME_ATTRIBUTE,
    HTTP_METHODS, MAX_ATTRIBUTES, NOTES_ATTRIBUTE, OWNER_ATTRIBUTE,
};
pub use crate::names::{check_app_name, check_credential_id, check_email, check_product_name};
use crate::target::BackendKind;
use crate::units::parse_expiry;

/// Names the platform already knows, for references to resources the config does not declare
/// (when planning against a live registry). Empty for `validate`: every reference must resolve
/// in the config.
#[derive(Debug, Default)]
pub struct Known {
    /// Developer emails that exist remotely.
    pub developers: HashSet<String>,
    /// Products that exist remotely, with their scopes.
    pub products: HashMap<String, Vec<String>>,
}

/// Runs every cross-check; appends to `diags`. With `references` false (some file failed to
/// load), references to developers and products and scope subsets are not checked.
pub fn check(d: &Desired, known: &Known, references: bool, diags: &mut Vec<Diagnostic>) {
    if let Some(owner) = &d.owner
        && owner.value.trim().is_empty()
    {
        diags.push(d.at(
            owner.part,
            &["owner"],
            false,
            Code::Name,
            "`owner` must not be empty".into(),
        ));
    } else if let Some(owner) = &d.owner
        && owner.value.chars().any(char::is_control)
    {
        diags.push(d.at(
            owner.part,
            &["owner"],
            false,
            Code::Name,
            "`owner` must not hold control characters (it is stamped on everything registrar creates)"
                .into(),
        ));
    }
    if let Some(s) = &d.secrets {
        for (i, r) in s.value.recipients.iter().enumerate() {
            if !(r.starts_with("age1") || r.starts_with("ssh-ed25519 ")) {
                // Never echo the entry: a private key pasted here must not reach logs.
                let what = if r.starts_with("AGE-SECRET-KEY-") || r.contains("PRIVATE KEY") {
                    "is a private key: remove it from the config and treat it as leaked".to_string()
                } else if let Some(kind) = r
                    .split_whitespace()
                    .next()
                    .filter(|k| k.starts_with("ssh-"))
                {
                    format!("is an `{kind}` key, which registrar does not encrypt to")
                } else {
                    "is not an age recipient".to_string()
                };
                let n = i + 1;
                let i = i.to_string();
                diags.push(d.at(s.part, &["secrets", "recipients", &i], false, Code::Recipient, format!(
                    "recipient {n} {what}; list `age1…` public keys (from `age-keygen -y`) or `ssh-ed25519 …` public keys"
                )));
            }
        }
    }
    if let Some(b) = &d.backend
        && let Some(url) = &b.value.url
    {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => diags.push(d.at(
                b.part,
                &["backend", "url"],
                false,
                Code::Url,
                format!("`{url}` is not an http(s) URL"),
            )),
        }
    }
    let developers = check_developers(d, diags);
    let products = check_products(d, diags);
    let mut app_diags = Vec::new();
    check_apps(d, known, &developers, &products, &mut app_diags);
    diags.extend(
        app_diags
            .into_iter()
            .filter(|x| references || !x.code.is_remote_reference()),
    );
}

/// Said after a duplicate: how an overlay changes a declared resource instead.
const OVERRIDE_HINT: &str =
    "; to change fields of a resource declared in an earlier file, list them under `patches:`";

fn check_developers(d: &Desired, diags: &mut Vec<Diagnostic>) -> HashSet<String> {
    let mut seen: HashMap<&str, &Sourced<_>> = HashMap::new();
    for dev in &d.developers {
        let at = |field: &str| {
            [
                "developers".to_string(),
                dev.index.to_string(),
                field.to_string(),
            ]
        };
        let email = dev.value.email.as_str();
        if let Err(why) = check_email(email) {
            diags.push(d.at(dev.part, &at("email"), false, Code::Email, why));
        } else if email != email.to_lowercase() {
            diags.push(d.at(dev.part, &at("email"), false, Code::Email, format!(
                "developer email `{email}` must be lowercase (Apigee X rejects uppercase): write `{}`", email.to_lowercase()
            )));
        }
        for field in ["firstName", "lastName"] {
            let value = if field == "firstName" {
                &dev.value.first_name
            } else {
                &dev.value.last_name
            };
            if value.trim().is_empty() {
                diags.push(d.at(
                    dev.part,
                    &at(field),
                    false,
                    Code::Schema,
                    format!("`{field}` must not be empty"),
                ));
            }
        }
        if let Some(prev) = seen.insert(email, dev) {
            let first = d.place(
                prev.part,
                &[
                    "developers".to_string(),
                    prev.index.to_string(),
                    "email".to_string(),
                ],
            );
            let mut diag = d.at(
                dev.part,
                &at("email"),
                false,
                Code::Duplicate,
                format!("duplicate developer `{email}` (also declared at {first}){OVERRIDE_HINT}"),
            );
            diag.related.push(d.related(
                prev.part,
                &["developers", &prev.index.to_string(), "email"],
                format!("developer `{email}` first declared here"),
            ));
            diags.push(diag);
        }
        check_attributes(
            d,
            dev.part,
            &["developers", &dev.index.to_string()],
            &dev.value.attributes,
            2,
            &[],
            diags,
        );
    }
    seen.into_keys().map(str::to_string).collect()
}

fn check_products(d: &Desired, diags: &mut Vec<Diagnostic>) -> HashMap<String, Vec<String>> {
    let mut seen: HashMap<&str, &Sourced<ProductConfig>> = HashMap::new();
    for p in &d.products {
        let idx = p.index.to_string();
        let name = p.value.name.as_str();
        if let Err(why) = check_product_name(name) {
            diags.push(d.at(p.part, &["products", &idx, "name"], false, Code::Name, why));
        }
        if let Some(prev) = seen.insert(name, p) {
            let first = d.place(
                prev.part,
                &[
                    "products".to_string(),
                    prev.index.to_string(),
                    "name".to_string(),
                ],
            );
            let mut diag = d.at(
                p.part,
                &["products", &idx, "name"],
                false,
                Code::Duplicate,
                format!("duplicate product `{name}` (also declared at {first}){OVERRIDE_HINT}"),
            );
            diag.related.push(d.related(
                prev.part,
                &["products", &prev.index.to_string(), "name"],
                format!("product `{name}` first declared here"),
            ));
            diags.push(diag);
        }
        check_operation_groups(d, p, diags);
        let own = 2 + usize::from(p.value.access.is_some());
        check_attributes(
            d,
            p.part,
            &["products", &idx],
            &p.value.attributes,
            own,
            &[(ACCESS_ATTRIBUTE, "access")],
            diags,
        );
    }
    seen.into_iter()
        .map(|(k, v)| (k.to_string(), v.value.scopes.clone()))
        .collect()
}

/// Each API source at most once per group; methods the platform knows, in upper case.
fn check_operation_groups(d: &Desired, p: &Sourced<ProductConfig>, diags: &mut Vec<Diagnostic>) {
    let idx = p.index.to_string();
    let sources =
        |group: &str, names: Vec<&str>, diags: &mut Vec<Diagnostic>| {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, source) in names.into_iter().enumerate() {
                if let Some(first) = seen.insert(source, i) {
                    let path = [
                        "products",
                        &idx,
                        group,
                        "operationConfigs",
                        &i.to_string(),
                        "apiSource",
                    ];
                    diags.push(d.at(p.part, &path, false, Code::Duplicate, format!(
                    "API source `{source}` is listed twice in {group} (also as entry {first}): \
                     merge its operations into one entry"
                )));
                }
            }
        };
    if let Some(g) = &p.value.operation_group {
        sources(
            "operationGroup",
            g.operation_configs
                .iter()
                .map(|c| c.api_source.as_str())
                .collect(),
            diags,
        );
        for (i, c) in g.operation_configs.iter().enumerate() {
            for (j, op) in c.operations.iter().enumerate() {
                for (k, m) in op.methods.iter().enumerate() {
                    if !HTTP_METHODS.contains(&m.as_str()) {
                        let path = [
                            "products",
                            &idx,
                            "operationGroup",
                            "operationConfigs",
                            &i.to_string(),
                            "operations",
                            &j.to_string(),
                            "methods",
                            &k.to_string(),
                        ];
                        let upper = m.to_ascii_uppercase();
                        let hint = if HTTP_METHODS.contains(&upper.as_str()) {
                            format!(": write it in upper case, `{upper}`")
                        } else {
                            format!(": use one of {}", HTTP_METHODS.join(", "))
                        };
                        diags.push(d.at(
                            p.part,
                            &path,
                            false,
                            Code::Operation,
                            format!("`{m}` is not an HTTP method{hint}"),
                        ));
                    }
                }
            }
        }
    }
    if let Some(g) = &p.value.graphql_operation_group {
        sources(
            "graphqlOperationGroup",
            g.operation_configs
                .iter()
                .map(|c| c.api_source.as_str())
                .collect(),
            diags,
        );
    }
}

/// What the target platform cannot hold: operation groups exist on Apigee X (and the
/// embedded registry, which keeps them as X does), not on Edge.
pub fn check_platform(d: &Desired, kind: BackendKind) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    if kind != BackendKind::ApigeeEdge {
        return diags;
    }
    for p in &d.products {
        let idx = p.index.to_string();
        for (group, declared) in [
            ("operationGroup", p.value.operation_group.is_some()),
            (
                "graphqlOperationGroup",
                p.value.graphql_operation_group.is_some(),
            ),
        ] {
            if declared {
                diags.push(d.at(p.part, &["products", &idx, group], true, Code::Operation, format!(
                    "product `{}` declares `{group}`, which Apigee Edge does not have: remove it, \
                     or grant the product's resources with `apiResources` and `proxies`",
                    p.value.name
                )));
            }
        }
    }
    diags
}

fn check_apps(
    d: &Desired,
    known: &Known,
    developers: &HashSet<String>,
    products: &HashMap<String, Vec<String>>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<(&str, &str), &Sourced<AppConfig>> = HashMap::new();
    for app in &d.apps {
        let a = &app.value;
        let idx = app.index.to_string();
        let at = |rest: &[&str]| -> Vec<String> {
            ["apps", idx.as_str()]
                .iter()
                .chain(rest)
                .map(|s| s.to_string())
                .collect()
        };
        if let Err(why) = check_app_name(&a.name) {
            diags.push(d.at(app.part, &at(&["name"]), false, Code::Name, why));
        }
        if !developers.contains(&a.developer) && !known.developers.contains(&a.developer) {
            let hint = super::load::suggest(
                &a.developer,
                &developers.iter().cloned().collect::<Vec<_>>(),
            )
            .map(|s| format!(": did you mean `{s}`?"))
            .unwrap_or_else(|| ": declare it under `developers`".to_string());
            diags.push(d.at(
                app.part,
                &at(&["developer"]),
                false,
                Code::Reference,
                format!("unknown developer `{}`{hint}", a.developer),
            ));
        }
        if let Some(prev) = seen.insert((a.developer.as_str(), a.name.as_str()), app) {
            let first = d.place(
                prev.part,
                &[
                    "apps".to_string(),
                    prev.index.to_string(),
                    "name".to_string(),
                ],
            );
            let mut diag = d.at(
                app.part,
                &at(&["name"]),
                false,
                Code::Duplicate,
                format!(
                    "duplicate app `{}` of developer `{}` (also declared at {first}){OVERRIDE_HINT}",
                    a.name, a.developer
                ),
            );
            diag.related.push(d.related(
                prev.part,
                &["apps", &prev.index.to_string(), "name"],
                format!("app `{}/{}` first declared here", a.developer, a.name),
            ));
            diags.push(diag);
        }
        let resolve = |name: &str| products.get(name).or_else(|| known.products.get(name));
        for (i, p) in a.api_products.iter().enumerate() {
            if resolve(p).is_none() {
                diags.push(d.at(
                    app.part,
                    &at(&["apiProducts", &i.to_string()]),
                    false,
                    Code::Reference,
                    unknown_product(p, products),
                ));
            }
        }
        check_scopes(
            d,
            app.part,
            &at(&["scopes"]),
            &a.scopes,
            &a.api_products,
            &resolve,
            diags,
        );
        if let Some(url) = &a.callback_url
            && let Err(why) = check_callback(url)
        {
            diags.push(d.at(
                app.part,
                &at(&["callbackUrl"]),
                false,
                Code::CallbackUrl,
                why,
            ));
        }
        if let Some(e) = &a.key_expires_in
            && let Err(why) = parse_expiry(e)
        {
            diags.push(d.at(app.part, &at(&["keyExpiresIn"]), false, Code::Duration, why));
        }
        let own = 2 + usize::from(a.display_name.is_some()) + usize::from(a.notes.is_some());
        check_attributes(
            d,
            app.part,
            &["apps", &idx],
            &a.attributes,
            own,
            &[
                (DISPLAY_NAME_ATTRIBUTE, "displayName"),
                (NOTES_ATTRIBUTE, "notes"),
            ],
            diags,
        );
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (ci, c) in a.credentials.iter().flatten().enumerate() {
            let cidx = ci.to_string();
            let cat = |f: &str| at(&["credentials", &cidx, f]);
            if let Err(why) = check_credential_id(&c.id) {
                diags.push(d.at(app.part, &cat("id"), false, Code::Name, why));
            }
            if let Some(prev) = ids.insert(&c.id, ci) {
                let first = d.place(app.part, &at(&["credentials", &prev.to_string(), "id"]));
                diags.push(d.at(
                    app.part,
                    &cat("id"),
                    false,
                    Code::Duplicate,
                    format!(
                        "duplicate credential `{}` in app `{}` (also at {first})",
                        c.id, a.name
                    ),
                ));
            }
            let key_products = c.api_products.as_ref().unwrap_or(&a.api_products);
            for (i, p) in c.api_products.iter().flatten().enumerate() {
                if resolve(p).is_none() {
                    diags.push(d.at(
                        app.part,
                        &at(&["credentials", &cidx, "apiProducts", &i.to_string()]),
                        false,
                        Code::Reference,
                        unknown_product(p, products),
                    ));
                }
            }
            match &c.scopes {
                Some(scopes) => check_scopes(
                    d,
                    app.part,
                    &cat("scopes"),
                    scopes,
                    key_products,
                    &resolve,
                    diags,
                ),
                None if c.api_products.is_some() => {
                    // The key inherits the app's scopes: they must fit the key's own products.
                    check_scopes(
                        d,
                        app.part,
                        &at(&["scopes"]),
                        &a.scopes,
                        key_products,
                        &resolve,
                        diags,
                    )
                }
                None => {}
            }
            if let Some(e) = &c.expires_in
                && let Err(why) = parse_expiry(e)
            {
                diags.push(d.at(app.part, &cat("expiresIn"), false, Code::Duration, why));
            }
        }
    }
}

fn unknown_product(name: &str, products: &HashMap<String, Vec<String>>) -> String {
    let names: Vec<String> = products.keys().cloned().collect();
    match super::load::suggest(name, &names) {
        Some(s) => format!("unknown product `{name}`: did you mean `{s}`?"),
        None => format!("unknown product `{name}`: declare it under `products`"),
    }
}

fn check_scopes<'a>(
    d: &Desired,
    part: usize,
    at: &[String],
    scopes: &[String],
    product_names: &[String],
    resolve: &dyn Fn(&str) -> Option<&'a Vec<String>>,
    diags: &mut Vec<Diagnostic>,
) {
    let resolved: Vec<&Vec<String>> = product_names.iter().filter_map(|p| resolve(p)).collect();
    if resolved.len() < product_names.len() {
        return; // an unknown product is reported already; its scopes are unknown
    }
    let offered: BTreeSet<&str> = resolved
        .iter()
        .flat_map(|s| s.iter().map(String::as_str))
        .collect();
    for (i, s) in scopes.iter().enumerate() {
        if !offered.contains(s.as_str()) {
            let mut path = at.to_vec();
            path.push(i.to_string());
            let list = if offered.is_empty() {
                "they offer none".to_string()
            } else {
                format!(
                    "they offer {}",
                    offered
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let products = if product_names.is_empty() {
                "no products are granted".to_string()
            } else {
                format!(
                    "not offered by {} ({list})",
                    product_names
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            diags.push(d.at(
                part,
                &path,
                false,
                Code::Scope,
                format!("scope `{s}` is {products}"),
            ));
        }
    }
}

fn check_attributes(
    d: &Desired,
    part: usize,
    at: &[&str],
    attrs: &std::collections::BTreeMap<String, String>,
    own: usize,
    fields: &[(&str, &str)],
    diags: &mut Vec<Diagnostic>,
) {
    let mut path: Vec<String> = at.iter().map(|s| s.to_string()).collect();
    path.push("attributes".into());
    for name in attrs.keys() {
        let mut key = path.clone();
        key.push(name.clone());
        if name == OWNER_ATTRIBUTE || name == CREDENTIAL_ATTRIBUTE || name == APPLIED_ATTRIBUTE {
            diags.push(d.at(
                part,
                &key,
                true,
                Code::Attribute,
                format!("attribute `{name}` is reserved for registrar's own use"),
            ));
        } else if let Some((_, field)) = fields.iter().find(|(a, _)| a == name) {
            diags.push(d.at(
                part,
                &key,
                true,
                Code::Attribute,
                format!("attribute `{name}` is set by the `{field}` field: use that instead"),
            ));
        } else if name.trim().is_empty() {
            diags.push(d.at(
                part,
                &key,
                true,
                Code::Attribute,
                "attribute names must not be empty".into(),
            ));
        }
    }
    let total = attrs.len() + own;
    if total > MAX_ATTRIBUTES {
        diags.push(d.at(part, &path, true, Code::AttributeLimit, format!(
            "{total} custom attributes, more than the platform's {MAX_ATTRIBUTES}: {} declared here plus {own} that registrar sets (owner and applied stamps{}); remove {}",
            attrs.len(),
            if own > 2 { ", displayName/notes/access fields" } else { "" },
            total - MAX_ATTRIBUTES
        )));
    }
}

/// Callback URLs: absolute https; http only for localhost and loopback addresses.
pub fn check_callback(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url)
        .map_err(|e| format!("callback URL `{url}` is not an absolute URL ({e})"))?;
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if matches!(host, "localhost" | "127.0.0.1" | "[::1]") => Ok(()),
        "http" => Err(format!(
            "callback URL `{url}` must use https (http is allowed only for localhost and 127.0.0.1)"
        )),
        _ => Err(format!("callback URL `{url}` must be an https URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks() {
        assert!(check_callback("https://app.example.com/cb").is_ok());
        assert!(check_callback("http://localhost:3000/cb").is_ok());
        assert!(check_callback("http://127.0.0.1/cb").is_ok());
        assert!(
            check_callback("http://example.com/cb")
                .unwrap_err()
                .contains("must use https")
        );
        assert!(
            check_callback("/cb")
                .unwrap_err()
                .contains("not an absolute URL")
        );
        assert!(check_callback("ftp://example.com").is_err());
    }
}
