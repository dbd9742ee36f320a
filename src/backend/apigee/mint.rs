//! The operations that mint a key: creating an app (its first key) and generating another
//! key for an existing app. The new key is found, tagged with its credential id and returned
//! with its secret; a mint whose reply was lost is adopted from a re-read, never repeated.
//! Once a key exists, failed follow-ups (tag, revoke, scopes) are warnings, not errors: the
//! key and its secret are still returned, so that apply stores the secret.

use std::collections::HashSet;

use crate::backend::BackendError;
use crate::model::{
    App, Attributes, CREDENTIAL_ATTRIBUTE, DEFAULT_CREDENTIAL_ID, DesiredKey, Key, Status,
};
use crate::op::OpOutcome;

use super::client::{Attempt, Client, Request};
use super::decode;
use super::encode::{self, Path};
use super::ops::{create, required, what_app};
use super::wire::{WireApp, WireCredential};

/// A key read back, remembered for redaction.
fn learned_key(client: &Client, c: &WireCredential, developer: &str, app: &str) -> Key {
    let key = decode::key(c, developer, app);
    client.learn(&key.consumer_key);
    client.learn(&key.consumer_secret);
    key
}

/// Tags a fresh key with its credential id: `POST …/keys/{k}` adds `products` (already
/// there: duplicates are ignored) and replaces the key's attributes.
async fn tag(
    client: &Client,
    key: &mut Key,
    credential: &str,
    products: &[String],
    what: &str,
) -> Result<(), BackendError> {
    let mut attributes: Attributes = key.attributes.clone();
    attributes.insert(CREDENTIAL_ATTRIBUTE.to_string(), credential.to_string());
    let path = Path::key(&key.developer, &key.app, &key.consumer_key);
    let req = Request::post(path, encode::key_update(products, &attributes), what);
    client.send(&req).await?;
    key.attributes = attributes;
    key.id = Some(credential.to_string());
    Ok(())
}

/// A follow-up of a mint (tag, revoke, scopes) failed. The key exists and its secret must
/// reach the secrets store, so the operation still returns it; the warning says what is
/// left for the next plan to show.
fn warn_after_mint(what: &str, step: &str, e: &BackendError) {
    tracing::warn!("{what}: a key was minted, but {step} failed: {e}; the next plan shows it");
}

/// The credential an app was created with: the first issued.
fn first_credential(app: &WireApp) -> Option<&WireCredential> {
    app.credentials
        .iter()
        .enumerate()
        .min_by_key(|(i, c)| (c.issued_at.unwrap_or(i64::MAX), *i))
        .map(|(_, c)| c)
}

/// The credential minted by a key-generation call: not among `seen`, the latest issued.
fn new_credential(app: &WireApp, seen: &HashSet<String>) -> Option<WireCredential> {
    app.credentials
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.consumer_key.is_empty() && !seen.contains(&c.consumer_key))
        .max_by_key(|(i, c)| (c.issued_at.unwrap_or(0), *i))
        .map(|(_, c)| c.clone())
}

/// Creates an app: the platform mints its first key with it, which is then tagged with its
/// credential id (the `default` credential's key stays untagged, as minted).
pub(crate) async fn create_app(
    client: &Client,
    app: &App,
    first: &DesiredKey,
) -> Result<OpOutcome, BackendError> {
    let (credential, products) = (first.id.as_str(), first.products.as_slice());
    let what = what_app(&app.developer, &app.name);
    let body = encode::app_create(
        client.flavor(),
        app,
        products,
        &first.scopes,
        first.expires_in_ms,
    );
    let req = Request::post(Path::developer(&app.developer).seg("apps"), body, &what);
    let read = Request::get(Path::app(&app.developer, &app.name), &what);
    let mut created: WireApp = match create(client, &req, read.clone()).await? {
        Some(body) => required(Some(body), &what)?,
        None => WireApp::default(),
    };
    if created.credentials.is_empty() {
        // A reply without the key (an empty 201; not seen, but cheap to survive): read it.
        created = required(client.send(&read).await?, &what)?;
    }
    let cred = first_credential(&created).ok_or_else(|| {
        BackendError::Other(format!("{what}: created, but the platform shows no key"))
    })?;
    let mut key = learned_key(client, cred, &app.developer, &app.name);
    if credential != DEFAULT_CREDENTIAL_ID
        && let Err(e) = tag(client, &mut key, credential, products, &what).await
    {
        warn_after_mint(&what, &format!("tagging it `{credential}`"), &e);
    }
    if app.status == Status::Revoked {
        let revoke = Request::action(Path::app(&app.developer, &app.name), "revoke", &what);
        if let Err(e) = client.send(&revoke).await {
            warn_after_mint(&what, "revoking the app", &e);
        }
    }
    Ok(OpOutcome::Minted(Box::new(key)))
}

/// Mints another key for an existing app. The platform's key-generation call replaces the
/// app's callback URL and attributes, so they are resent as read just before.
pub(crate) async fn mint_key(
    client: &Client,
    want: &DesiredKey,
    replaces: Option<&str>,
) -> Result<OpOutcome, BackendError> {
    let (credential, products, scopes) = (want.id.as_str(), &want.products, &want.scopes);
    let (developer, name) = (want.developer.as_str(), want.app.as_str());
    let what = what_app(developer, name);
    let read = Request::get(Path::app(developer, name), &what);
    let before: WireApp = required(client.send(&read).await?, &what)?;
    let mut seen = HashSet::new();
    for c in &before.credentials {
        let key = learned_key(client, c, developer, name);
        // Never mint a credential twice: a key that already stands for it (another run won
        // the race, or a reply was lost) is adopted.
        if key.status == Status::Approved
            && key.is_credential(credential)
            && Some(key.consumer_key.fingerprint().as_str()) != replaces
        {
            tracing::info!("{what}: key `{credential}` exists already; adopting it");
            return Ok(OpOutcome::Minted(Box::new(key)));
        }
        seen.insert(c.consumer_key.clone());
    }
    let app = decode::app(&before, developer).value;
    let body = encode::mint_key(client.flavor(), &app, products, scopes, want.expires_in_ms);
    let req = Request::post(Path::app(developer, name), body, &what);
    let mut attempt = 1;
    let minted = loop {
        let (message, retry_after, maybe_applied, unreachable) = match client
            .attempt(&req, None)
            .await
        {
            Attempt::Done(reply) => {
                let in_reply = reply
                    .and_then(|v| serde_json::from_value::<WireApp>(v).ok())
                    .and_then(|a| new_credential(&a, &seen));
                if let Some(c) = in_reply {
                    break c;
                }
                // The reply did not show the key: read the app again.
                let now: WireApp = required(client.send(&read).await?, &what)?;
                break new_credential(&now, &seen).ok_or_else(|| {
                    BackendError::Other(format!("{what}: a key was requested but none appeared"))
                })?;
            }
            Attempt::Fail(e) => return Err(e),
            Attempt::Retry {
                message,
                retry_after,
                maybe_applied,
                unreachable,
            } => (message, retry_after, maybe_applied, unreachable),
        };
        if maybe_applied {
            // The mint may have happened: adopt its key rather than mint another.
            let now: WireApp = required(client.send(&read).await?, &what)?;
            if let Some(c) = new_credential(&now, &seen) {
                tracing::debug!("{what}: mint reply lost, adopting the key that appeared");
                break c;
            }
        }
        if attempt >= client.policy().max_attempts {
            return Err(super::client::gave_up(attempt, message, unreachable));
        }
        client.backoff(&req, attempt, retry_after, &message).await;
        attempt += 1;
    };
    let mut key = learned_key(client, &minted, developer, name);
    if let Err(e) = tag(client, &mut key, credential, products, &what).await {
        warn_after_mint(&what, &format!("tagging it `{credential}`"), &e);
    }
    if !scopes.is_empty() {
        let path = Path::key(developer, name, &key.consumer_key);
        match client
            .send(&Request::put(path, encode::key_scopes(scopes), &what))
            .await
        {
            Ok(_) => key.scopes = scopes.to_vec(),
            Err(e) => warn_after_mint(&what, "setting its scopes", &e),
        }
    }
    Ok(OpOutcome::Minted(Box::new(key)))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn app_with(keys: &[(&str, Option<i64>)]) -> WireApp {
        let credentials: Vec<Value> = keys
            .iter()
            .map(|(k, at)| serde_json::json!({"consumerKey": k, "consumerSecret": "s", "issuedAt": at}))
            .collect();
        serde_json::from_value(serde_json::json!({"name": "a", "credentials": credentials}))
            .unwrap()
    }

    #[test]
    fn the_created_key_is_the_first_issued() {
        let app = app_with(&[("later", Some(20)), ("first", Some(10))]);
        assert_eq!(first_credential(&app).unwrap().consumer_key, "first");
        assert!(first_credential(&app_with(&[])).is_none());
    }

    #[test]
    fn the_minted_key_is_the_new_one() {
        let seen: HashSet<String> = ["old".to_string()].into();
        let app = app_with(&[("old", Some(30)), ("new", Some(20))]);
        assert_eq!(new_credential(&app, &seen).unwrap().consumer_key, "new");
        let two = app_with(&[("old", Some(1)), ("n1", Some(5)), ("n2", Some(9))]);
        assert_eq!(new_credential(&two, &seen).unwrap().consumer_key, "n2");
        assert!(new_credential(&app_with(&[("old", Some(1))]), &seen).is_none());
    }
}
