//! Executing one [`Op`] with one or a few requests, per the recipe of spec/apigee-api.md §5.
//!
//! Lost replies: a create retried after a reply that may have been applied, and answered
//! 409, is confirmed by a GET (a created app's key is taken from it); a key mint is never
//! re-sent before the app is re-read for a key that appeared meanwhile; a delete retried
//! into a 404 is done.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::backend::{BackendError, KeyRef, Op, OpOutcome};
use crate::model::{
    App, Attributes, CREDENTIAL_ATTRIBUTE, DEFAULT_CREDENTIAL_ID, DeveloperStatus, Key, Secret,
    Status,
};

use super::client::{Attempt, Client, Request, Sent};
use super::decode;
use super::encode::{self, Path};
use super::wire::{WireApp, WireCredential};

fn what_developer(email: &str) -> String {
    format!("developer `{email}`")
}

fn what_product(name: &str) -> String {
    format!("product `{name}`")
}

fn what_app(email: &str, app: &str) -> String {
    format!("app `{email}/{app}`")
}

fn what_key(key: &KeyRef) -> String {
    format!("key `{}/{}/{}`", key.developer, key.app, key.id)
}

/// `approve` / `revoke` for an app or key status.
fn approve_or_revoke(status: Status, what: &str) -> Result<&'static str, BackendError> {
    match status {
        Status::Approved => Ok("approve"),
        Status::Revoked => Ok("revoke"),
        Status::Pending => Err(BackendError::Rejected {
            status: 400,
            message: format!("{what}: `pending` cannot be set, only approved or revoked"),
        }),
    }
}

/// The consumer key of a key operation (apply resolves it before execution).
fn consumer_key<'a>(client: &Client, key: &'a KeyRef) -> Result<&'a Secret, BackendError> {
    let k = key.consumer_key.as_ref().ok_or_else(|| {
        BackendError::Other(format!(
            "{}: the consumer key was not resolved before execution",
            what_key(key)
        ))
    })?;
    client.learn(k);
    Ok(k)
}

fn key_path(key: &KeyRef, k: &Secret) -> Path {
    Path::key(&key.developer, &key.app, k)
}

/// A reply body that must be there, decoded.
fn required<T: DeserializeOwned>(body: Option<Value>, what: &str) -> Result<T, BackendError> {
    let body = body.ok_or_else(|| BackendError::Other(format!("empty reply about {what}")))?;
    serde_json::from_value(body)
        .map_err(|e| BackendError::Other(format!("unexpected reply about {what}: {e}")))
}

/// What a create's reply calls for.
#[derive(Debug)]
enum AfterCreate {
    /// Created; the reply body.
    Created(Option<Value>),
    /// 409 after an earlier attempt that may have been carried out: read to confirm. Holds
    /// the conflict's message, the answer if the read finds nothing.
    Confirm(String),
    /// Failed.
    Failed(BackendError),
}

fn after_create(sent: Sent) -> AfterCreate {
    match sent.result {
        Ok(body) => AfterCreate::Created(body),
        Err(BackendError::Conflict(message)) if sent.maybe_applied_before => {
            AfterCreate::Confirm(message)
        }
        Err(e) => AfterCreate::Failed(e),
    }
}

/// Sends a create; a 409 after a possibly applied earlier attempt is confirmed by `confirm`
/// (a GET), whose body then stands for the create's.
async fn create(
    client: &Client,
    req: &Request,
    confirm: Request,
) -> Result<Option<Value>, BackendError> {
    match after_create(client.send_tracked(req, None).await) {
        AfterCreate::Created(body) => Ok(body),
        AfterCreate::Failed(e) => Err(e),
        AfterCreate::Confirm(message) => {
            tracing::debug!("{}: reply lost, confirming by reading", req.what());
            match client.send(&confirm).await {
                Ok(body) => Ok(body),
                Err(BackendError::NotFound(_)) => Err(BackendError::Conflict(message)),
                Err(e) => Err(e),
            }
        }
    }
}

/// A delete's (or detach's) result: a 404, or the 500 "not associated" of a detach, after an
/// earlier attempt that may have been carried out means that attempt did the work.
fn after_delete(sent: Sent) -> Result<(), BackendError> {
    match sent.result {
        Ok(_) => Ok(()),
        Err(BackendError::NotFound(_)) if sent.maybe_applied_before => Ok(()),
        Err(BackendError::Rejected { status: 500, .. }) if sent.maybe_applied_before => Ok(()),
        Err(e) => Err(e),
    }
}

async fn delete(client: &Client, req: &Request) -> Result<(), BackendError> {
    after_delete(client.send_tracked(req, None).await)
}

async fn send(client: &Client, req: Request) -> Result<OpOutcome, BackendError> {
    client.send(&req).await.map(|_| OpOutcome::Done)
}

/// Executes `op`.
pub(crate) async fn execute(client: &Client, op: &Op) -> Result<OpOutcome, BackendError> {
    match op {
        Op::CreateDeveloper { developer: d } => {
            let what = what_developer(&d.email);
            let req = Request::post(Path::root("developers"), encode::developer(d), &what);
            create(client, &req, Request::get(Path::developer(&d.email), &what)).await?;
            if d.status == DeveloperStatus::Inactive {
                client
                    .send(&Request::action(
                        Path::developer(&d.email),
                        "inactive",
                        &what,
                    ))
                    .await?;
            }
            Ok(OpOutcome::Done)
        }
        Op::UpdateDeveloper { developer: d } => {
            let what = what_developer(&d.email);
            send(
                client,
                Request::put(Path::developer(&d.email), encode::developer(d), what),
            )
            .await
        }
        Op::SetDeveloperStatus { email, status } => {
            let action = match status {
                DeveloperStatus::Active => "active",
                DeveloperStatus::Inactive => "inactive",
            };
            send(
                client,
                Request::action(Path::developer(email), action, what_developer(email)),
            )
            .await
        }
        Op::DeleteDeveloper { email } => {
            delete(
                client,
                &Request::delete(Path::developer(email), what_developer(email)),
            )
            .await?;
            Ok(OpOutcome::Done)
        }
        Op::CreateProduct { product: p } => {
            let what = what_product(&p.name);
            let req = Request::post(Path::root("apiproducts"), encode::product(p), &what);
            create(client, &req, Request::get(Path::product(&p.name), &what)).await?;
            Ok(OpOutcome::Done)
        }
        Op::UpdateProduct { product: p } => {
            let what = what_product(&p.name);
            send(
                client,
                Request::put(Path::product(&p.name), encode::product(p), what),
            )
            .await
        }
        Op::DeleteProduct { name } => {
            delete(
                client,
                &Request::delete(Path::product(name), what_product(name)),
            )
            .await?;
            Ok(OpOutcome::Done)
        }
        Op::CreateApp {
            app,
            credential,
            products,
            scopes,
            key_expires_in_ms,
        } => {
            create_app(
                client,
                app,
                credential,
                products,
                scopes,
                *key_expires_in_ms,
            )
            .await
        }
        Op::UpdateApp { app } => {
            let what = what_app(&app.developer, &app.name);
            let path = Path::app(&app.developer, &app.name);
            send(client, Request::put(path, encode::app_update(app), what)).await
        }
        Op::SetAppStatus {
            developer,
            app,
            status,
        } => {
            let what = what_app(developer, app);
            let action = approve_or_revoke(*status, &what)?;
            send(
                client,
                Request::action(Path::app(developer, app), action, what),
            )
            .await
        }
        Op::DeleteApp { developer, app } => {
            let req = Request::delete(Path::app(developer, app), what_app(developer, app));
            delete(client, &req).await?;
            Ok(OpOutcome::Done)
        }
        Op::MintKey {
            app,
            credential,
            products,
            scopes,
            expires_in_ms,
        } => mint_key(client, app, credential, products, scopes, *expires_in_ms).await,
        Op::AttachProduct {
            key,
            product,
            attributes,
        } => {
            let k = consumer_key(client, key)?;
            let body = encode::key_update(std::slice::from_ref(product), attributes);
            send(client, Request::post(key_path(key, k), body, what_key(key))).await
        }
        Op::DetachProduct { key, product } => {
            let k = consumer_key(client, key)?;
            let path = key_path(key, k).seg("apiproducts").seg(product);
            delete(client, &Request::delete(path, what_key(key))).await?;
            Ok(OpOutcome::Done)
        }
        Op::SetScopes { key, scopes } => {
            let k = consumer_key(client, key)?;
            let body = encode::key_scopes(scopes);
            send(client, Request::put(key_path(key, k), body, what_key(key))).await
        }
        Op::SetKeyStatus { key, status } => {
            let k = consumer_key(client, key)?;
            let action = approve_or_revoke(*status, &what_key(key))?;
            send(
                client,
                Request::action(key_path(key, k), action, what_key(key)),
            )
            .await
        }
        Op::DeleteKey { key } => {
            let k = consumer_key(client, key)?;
            delete(client, &Request::delete(key_path(key, k), what_key(key))).await?;
            Ok(OpOutcome::Done)
        }
    }
}

/// A key read back, remembered for redaction.
fn learned_key(client: &Client, c: &WireCredential, app: &App) -> Key {
    let key = decode::key(c, &app.developer, &app.name);
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
    client.send(&req).await.map_err(|e| {
        after_mint(
            e,
            &format!("{what}: a key was minted but not tagged `{credential}`"),
        )
    })?;
    key.attributes = attributes;
    key.id = Some(credential.to_string());
    Ok(())
}

/// An error after a key was minted: says so, so that the key the next plan finds (untagged,
/// or in the wrong state) is understood.
fn after_mint(e: BackendError, context: &str) -> BackendError {
    BackendError::Other(format!("{context}: {e}"))
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

async fn create_app(
    client: &Client,
    app: &App,
    credential: &str,
    products: &[String],
    scopes: &[String],
    key_expires_in_ms: Option<u64>,
) -> Result<OpOutcome, BackendError> {
    let what = what_app(&app.developer, &app.name);
    let body = encode::app_create(client.flavor(), app, products, scopes, key_expires_in_ms);
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
    let mut key = learned_key(client, cred, app);
    if credential != DEFAULT_CREDENTIAL_ID {
        tag(client, &mut key, credential, products, &what).await?;
    }
    if app.status == Status::Revoked {
        let revoke = Request::action(Path::app(&app.developer, &app.name), "revoke", &what);
        client
            .send(&revoke)
            .await
            .map_err(|e| after_mint(e, &format!("{what}: created with a key, but not revoked")))?;
    }
    Ok(OpOutcome::Minted(Box::new(key)))
}

async fn mint_key(
    client: &Client,
    app: &App,
    credential: &str,
    products: &[String],
    scopes: &[String],
    expires_in_ms: Option<u64>,
) -> Result<OpOutcome, BackendError> {
    let what = what_app(&app.developer, &app.name);
    let read = Request::get(Path::app(&app.developer, &app.name), &what);
    let before: WireApp = required(client.send(&read).await?, &what)?;
    let seen: HashSet<String> = before
        .credentials
        .iter()
        .map(|c| {
            learned_key(client, c, app);
            c.consumer_key.clone()
        })
        .collect();
    let body = encode::mint_key(client.flavor(), app, products, scopes, expires_in_ms);
    let req = Request::post(Path::app(&app.developer, &app.name), body, &what);
    let mut attempt = 1;
    let minted = loop {
        let (message, retry_after, maybe_applied) = match client.attempt(&req, None).await {
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
            } => (message, retry_after, maybe_applied),
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
            return Err(BackendError::Transient {
                attempts: attempt,
                message,
            });
        }
        client.backoff(&req, attempt, retry_after, &message).await;
        attempt += 1;
    };
    let mut key = learned_key(client, &minted, app);
    tag(client, &mut key, credential, products, &what).await?;
    if !scopes.is_empty() {
        let path = Path::key(&app.developer, &app.name, &key.consumer_key);
        client
            .send(&Request::put(path, encode::key_scopes(scopes), &what))
            .await
            .map_err(|e| {
                after_mint(e, &format!("{what}: key minted and tagged, scopes not set"))
            })?;
        key.scopes = scopes.to_vec();
    }
    Ok(OpOutcome::Minted(Box::new(key)))
}

#[cfg(test)]
mod tests {
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

    fn sent(result: Result<Option<Value>, BackendError>, maybe_applied_before: bool) -> Sent {
        Sent {
            result,
            maybe_applied_before,
        }
    }

    #[test]
    fn a_conflict_is_confirmed_only_after_a_lost_reply() {
        let conflict = || Err(BackendError::Conflict("app `a/b`".into()));
        assert!(matches!(
            after_create(sent(conflict(), true)),
            AfterCreate::Confirm(_)
        ));
        assert!(matches!(
            after_create(sent(conflict(), false)),
            AfterCreate::Failed(BackendError::Conflict(_))
        ));
        assert!(matches!(
            after_create(sent(Ok(None), true)),
            AfterCreate::Created(None)
        ));
        let rejected = || {
            Err(BackendError::Rejected {
                status: 400,
                message: "bad".into(),
            })
        };
        assert!(matches!(
            after_create(sent(rejected(), true)),
            AfterCreate::Failed(_)
        ));
    }

    #[test]
    fn a_missing_resource_ends_a_delete_only_after_a_lost_reply() {
        let gone = || Err(BackendError::NotFound("app `a/b`".into()));
        assert!(after_delete(sent(gone(), true)).is_ok());
        assert!(matches!(
            after_delete(sent(gone(), false)),
            Err(BackendError::NotFound(_))
        ));
        let detached = || {
            Err(BackendError::Rejected {
                status: 500,
                message: "not associated".into(),
            })
        };
        assert!(after_delete(sent(detached(), true)).is_ok());
        assert!(after_delete(sent(detached(), false)).is_err());
        assert!(after_delete(sent(Ok(None), false)).is_ok());
    }

    #[test]
    fn pending_is_not_a_settable_status() {
        assert_eq!(approve_or_revoke(Status::Approved, "x").unwrap(), "approve");
        assert_eq!(approve_or_revoke(Status::Revoked, "x").unwrap(), "revoke");
        assert!(approve_or_revoke(Status::Pending, "x").is_err());
    }
}
