//! Executing one [`Op`] with one or a few requests, per the recipe of spec/apigee-api.md §5.
//!
//! Lost replies: a create retried after a reply that may have been applied, and answered
//! 409, is confirmed by a GET (a created app's key is taken from it); a delete retried into
//! a 404 is done. Minting keys (CreateApp, MintKey) lives in [`super::mint`].

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::backend::BackendError;
use crate::model::{DeveloperStatus, Key, Secret, Status};
use crate::op::{KeyRef, Op, OpOutcome};

use super::client::{Client, Request, Sent};
use super::encode::{self, Path};
use super::mint;

fn what_developer(email: &str) -> String {
    format!("developer `{email}`")
}

fn what_product(name: &str) -> String {
    format!("product `{name}`")
}

pub(crate) fn what_app(email: &str, app: &str) -> String {
    format!("app `{email}/{app}`")
}

fn what_key(key: &KeyRef) -> String {
    format!("key `{}/{}`", key.app, key.key)
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

/// The key a key operation is about, as read (apply hands it beside the operation).
fn observed<'a>(
    client: &Client,
    key: &KeyRef,
    observed: Option<&'a Key>,
) -> Result<&'a Key, BackendError> {
    let k = observed.ok_or_else(|| {
        BackendError::Other(format!(
            "{}: the key was not read before execution",
            what_key(key)
        ))
    })?;
    client.learn(&k.consumer_key);
    Ok(k)
}

fn key_path(key: &KeyRef, k: &Secret) -> Path {
    Path::key(&key.app.developer, &key.app.app, k)
}

/// A reply body that must be there, decoded.
pub(crate) fn required<T: DeserializeOwned>(
    body: Option<Value>,
    what: &str,
) -> Result<T, BackendError> {
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
pub(crate) async fn create(
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

/// Fields a full-replace update never sends back: what the platform sets (ids, timestamps,
/// the organization, a developer's app and company lists, an app's keys), what it changes
/// only by `?action=` (status), and what it cannot change or would act on (`keyExpiresIn`;
/// an app's `apiProducts`, which would mint a key).
const NOT_SENT_BACK: &[&str] = &[
    "createdAt",
    "createdBy",
    "lastModifiedAt",
    "lastModifiedBy",
    "organizationName",
    "developerId",
    "appId",
    "apps",
    "companies",
    "credentials",
    "status",
    "apiProducts",
    "keyExpiresIn",
];

/// The body of a full replace (`PUT`) that loses nothing: the resource as the platform holds
/// it now, without [`NOT_SENT_BACK`], with the fields registrar manages laid over it. A
/// `null` in `managed` removes the field (registrar manages it, and it is unset).
fn lay_over(current: Option<Value>, managed: Value) -> Value {
    let mut body = match current {
        Some(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    };
    for field in NOT_SENT_BACK {
        body.remove(*field);
    }
    if let Value::Object(managed) = managed {
        for (field, value) in managed {
            match value {
                Value::Null => body.remove(&field),
                value => body.insert(field, value),
            };
        }
    }
    Value::Object(body)
}

/// Replaces a developer, product or app without erasing what registrar does not model:
/// reads it, lays the managed fields over it, and puts the result back (read-modify-write;
/// the PUTs of both flavours replace the whole resource).
async fn replace(
    client: &Client,
    path: Path,
    managed: Value,
    what: String,
) -> Result<OpOutcome, BackendError> {
    let current = client.send(&Request::get(path.clone(), &what)).await?;
    // An app's reply carries its keys: remember them so that no message can show them.
    if let Some(creds) = current
        .as_ref()
        .and_then(|c| c.get("credentials"))
        .and_then(Value::as_array)
    {
        for c in creds {
            for field in ["consumerKey", "consumerSecret"] {
                if let Some(v) = c.get(field).and_then(Value::as_str) {
                    client.learn(&Secret::new(v));
                }
            }
        }
    }
    send(client, Request::put(path, lay_over(current, managed), what)).await
}

/// Executes `op`.
pub(crate) async fn execute(
    client: &Client,
    op: &Op,
    key: Option<&Key>,
) -> Result<OpOutcome, BackendError> {
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
            replace(
                client,
                Path::developer(&d.email),
                encode::developer(d),
                what,
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
            let managed = encode::product_update(p);
            replace(client, Path::product(&p.name), managed, what).await
        }
        Op::DeleteProduct { name } => {
            delete(
                client,
                &Request::delete(Path::product(name), what_product(name)),
            )
            .await?;
            Ok(OpOutcome::Done)
        }
        Op::CreateApp { app, credential } => mint::create_app(client, app, credential).await,
        Op::UpdateApp { app } => {
            let what = what_app(&app.developer, &app.name);
            let path = Path::app(&app.developer, &app.name);
            replace(client, path, encode::app_update(app), what).await
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
            credential,
            replaces,
        } => mint::mint_key(client, credential, replaces.as_deref()).await,
        Op::AttachProduct { key: r, product } => {
            // The platform replaces a key's attributes on this call: resend them.
            let k = observed(client, r, key)?;
            let attributes = match &r.key.credential {
                Some(id) => k.attributes_tagged(id),
                None => k.attributes.clone(),
            };
            let body = encode::key_update(std::slice::from_ref(product), &attributes);
            let path = key_path(r, &k.consumer_key);
            send(client, Request::post(path, body, what_key(r))).await
        }
        Op::DetachProduct { key: r, product } => {
            let k = &observed(client, r, key)?.consumer_key;
            let path = key_path(r, k).seg("apiproducts").seg(product);
            delete(client, &Request::delete(path, what_key(r))).await?;
            Ok(OpOutcome::Done)
        }
        Op::SetScopes { key: r, scopes } => {
            let k = &observed(client, r, key)?.consumer_key;
            let body = encode::key_scopes(scopes);
            send(client, Request::put(key_path(r, k), body, what_key(r))).await
        }
        Op::SetKeyStatus { key: r, status } => {
            let k = &observed(client, r, key)?.consumer_key;
            let action = approve_or_revoke(*status, &what_key(r))?;
            send(client, Request::action(key_path(r, k), action, what_key(r))).await
        }
        Op::DeleteKey { key: r } => {
            let k = &observed(client, r, key)?.consumer_key;
            delete(client, &Request::delete(key_path(r, k), what_key(r))).await?;
            Ok(OpOutcome::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_replace_keeps_what_registrar_does_not_model() {
        let current = serde_json::json!({
            "name": "p", "displayName": "Old", "quota": "10", "quotaInterval": "1",
            "quotaTimeUnit": "hour", "createdAt": "1", "lastModifiedAt": "2",
            "operationGroup": {"operationConfigs": [{"apiSource": "s"}]},
            "space": "team-a", "apiProducts": ["x"], "credentials": [{"consumerKey": "k"}],
        });
        let managed = serde_json::json!({
            "name": "p", "displayName": "New", "quota": null, "quotaInterval": null,
            "quotaTimeUnit": null,
        });
        let body = lay_over(Some(current), managed);
        assert_eq!(
            body,
            serde_json::json!({
                "name": "p", "displayName": "New",
                "operationGroup": {"operationConfigs": [{"apiSource": "s"}]},
                "space": "team-a",
            })
        );
        assert_eq!(
            lay_over(None, serde_json::json!({"name": "a"})),
            serde_json::json!({"name": "a"})
        );
    }

    #[test]
    fn pending_is_not_a_settable_status() {
        assert_eq!(approve_or_revoke(Status::Approved, "x").unwrap(), "approve");
        assert_eq!(approve_or_revoke(Status::Revoked, "x").unwrap(), "revoke");
        assert!(approve_or_revoke(Status::Pending, "x").is_err());
    }
}
