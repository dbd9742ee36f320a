//! The run lock on an Apigee org, through the management API only: a private API product
//! named after the config's owner (`registrar-lock-<owner>`, no environments, proxies or
//! scopes, so it can issue no credential), created atomically (201, or 409 when another run
//! holds it) and carrying the holder, the lock id and an expiry as attributes.
//!
//! - An expired lock is taken over race-free: the taker first creates a takeover token
//!   named after the stale lock's id (only one process can), re-reads the lock, deletes it
//!   only if it is still the stale one, then competes with a create like everyone else.
//! - While held, a task renews the expiry every third of its lifetime (after checking the
//!   lock is still this run's).
//! - Release deletes the product if it is still this run's: it reads the lock first, unless
//!   a check asked for ahead of release ([`crate::backend::Lock::check_soon`]) found it this
//!   run's within the last [`CONFIRMED_FRESH`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::backend::{BackendError, Lock, LockInner, LockRequest, LockWatch};
use crate::error::Hinted;
use crate::lock::{self, Holder, LOCK_ATTRIBUTE, LOCK_EXPIRES_ATTRIBUTE};
use crate::names::{lock_product_name, lock_takeover_name};
use crate::units::now_ms;

use super::client::{Client, Request};
use super::decode;
use super::encode::Path;
use super::wire::WireProduct;

/// How recent a check that found the lock this run's must be for release to delete it
/// without reading it again. Apply asks for that check when its last changes start, so at a
/// platform's usual latency it is well under a second old at release.
const CONFIRMED_FRESH: Duration = Duration::from_secs(2);

/// How often a waiting run asks again.
const POLL: Duration = Duration::from_secs(1);
/// How long a takeover token may stand before another run may remove it (its creator died
/// between its two requests).
const TOKEN_TTL_MS: i64 = 60_000;

fn what(name: &str) -> String {
    format!("lock product `{name}`")
}

fn body(name: &str, kind: &str, attributes: Vec<(&str, String)>) -> Value {
    let mut attrs = vec![json!({"name": "access", "value": "private"})];
    attrs.extend(
        attributes
            .into_iter()
            .filter(|(k, _)| *k != LOCK_ATTRIBUTE)
            .map(|(k, v)| json!({"name": k, "value": v})),
    );
    attrs.push(json!({"name": LOCK_ATTRIBUTE, "value": kind}));
    json!({
        "name": name,
        "displayName": name,
        "description": "registrar's apply lock: created and deleted by registrar; attach it to nothing",
        "approvalType": "manual",
        "attributes": attrs,
        "environments": [],
        "proxies": [],
        "apiResources": [],
        "scopes": [],
    })
}

/// The product `name` as read: `None` when it does not exist.
async fn read(
    client: &Client,
    name: &str,
) -> Result<Option<crate::model::Attributes>, BackendError> {
    match client
        .send(&Request::get(Path::product(name), what(name)))
        .await
    {
        Ok(Some(v)) => {
            let w: WireProduct = serde_json::from_value(v).map_err(|e| {
                BackendError::Other(format!("unexpected reply reading {}: {e}", what(name)))
            })?;
            Ok(Some(decode::product(&w).value.attributes))
        }
        Ok(None) => Ok(Some(Default::default())),
        Err(BackendError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The holder of lock product `name` (`None`: no such product); an error if a product of
/// that name exists and is not a lock.
async fn holder(client: &Client, name: &str) -> Result<Option<Holder>, BackendError> {
    let Some(attrs) = read(client, name).await? else {
        return Ok(None);
    };
    match Holder::from_attributes(&attrs) {
        Some(h) if lock::is_lock(&attrs) => Ok(Some(h)),
        _ => Err(BackendError::LockRefused(Hinted::new(
            format!("product `{name}` exists and is not a registrar lock"),
            "registrar locks this org with a product of that name: rename or delete that product, or pass `--lock=false`",
        ))),
    }
}

async fn delete(client: &Client, name: &str) -> Result<(), BackendError> {
    match client
        .send(&Request::delete(Path::product(name), what(name)))
        .await
    {
        Ok(_) | Err(BackendError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Takes the lock of `req.owner`, waiting up to `req.timeout`.
pub(crate) async fn acquire(client: Arc<Client>, req: &LockRequest) -> Result<Lock, BackendError> {
    let name = lock_product_name(&req.owner);
    let ttl_ms = req.ttl.as_millis() as i64;
    let deadline = tokio::time::Instant::now() + req.timeout;
    loop {
        let mut me = req.holder.clone();
        me.expires_ms = Some(now_ms() + ttl_ms);
        let create = Request::post(
            Path::root("apiproducts"),
            body(&name, "lock", me.attributes()),
            what(&name),
        );
        match client.send(&create).await {
            Ok(_) => return Ok(held(client, name, me, req.ttl)),
            Err(BackendError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        let Some(current) = holder(&client, &name).await? else {
            continue; // released in between
        };
        if current.id == me.id {
            // An earlier attempt of the create went through; its reply was lost.
            return Ok(held(client, name, current, req.ttl));
        }
        if current.expired(now_ms()) || current.abandoned_here(&me) {
            take_over(&client, &name, &current, &me).await?;
            continue;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(BackendError::Locked(Box::new(current)));
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}

/// Removes the expired lock `stale` if this process wins the takeover token for it.
async fn take_over(
    client: &Client,
    name: &str,
    stale: &Holder,
    me: &Holder,
) -> Result<(), BackendError> {
    let token = lock_takeover_name(name, &stale.id);
    let mut mine = me.clone();
    mine.expires_ms = Some(now_ms() + TOKEN_TTL_MS);
    let create = Request::post(
        Path::root("apiproducts"),
        body(&token, "takeover", mine.attributes()),
        what(&token),
    );
    match client.send(&create).await {
        Ok(_) => {}
        Err(BackendError::Conflict(_)) => match holder(client, &token).await? {
            // Our own create went through; its reply was lost.
            Some(other) if other.id == me.id => {}
            // Its creator died between its requests: clear it, then start over.
            Some(other) if other.expired(now_ms()) => {
                tracing::warn!(token = %token, "removing an abandoned lock takeover");
                delete(client, &token).await?;
                return Ok(());
            }
            // Another run is taking the lock over: start over (and meet its lock).
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Ok(());
            }
        },
        Err(e) => return Err(e),
    }
    // Holding the token: the stale lock can only go away through us (or its own holder).
    let result = async {
        if let Some(now) = holder(client, name).await?
            && now.id == stale.id
        {
            tracing::warn!(lock = %stale.id, who = %stale.who, "taking over an expired lock");
            delete(client, name).await?;
        }
        Ok(())
    }
    .await;
    delete(client, &token).await?;
    result
}

fn held(client: Arc<Client>, name: String, me: Holder, ttl: Duration) -> Lock {
    let watch = LockWatch::default();
    let renewer = tokio::spawn(renew(
        client,
        name.clone(),
        me.id.clone(),
        ttl,
        watch.clone(),
    ));
    Lock {
        holder: me,
        inner: LockInner::Remote {
            name,
            renewer,
            watch,
        },
    }
}

impl LockWatch {
    /// Whether the lock is still `id`'s; records the answer. `None`: the check failed.
    async fn check(&self, client: &Client, name: &str, id: &str) -> Option<bool> {
        let at = std::time::Instant::now();
        match holder(client, name).await {
            Ok(Some(h)) if h.id == id => {
                *self.confirmed.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
                Some(true)
            }
            Ok(_) => {
                tracing::warn!(lock = %id, "the apply lock was removed or taken over while held");
                self.lost.store(true, Ordering::Relaxed);
                Some(false)
            }
            Err(e) => {
                tracing::warn!("cannot check the apply lock: {e}");
                None
            }
        }
    }
}

/// Pushes the expiry forward every `ttl / 3` while the lock is this run's.
async fn renew(client: Arc<Client>, name: String, id: String, ttl: Duration, watch: LockWatch) {
    let every = (ttl / 3).max(Duration::from_millis(100));
    let mut due = tokio::time::Instant::now() + every;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = watch.check_now.notified() => {
                // A check ahead of release: no renewal.
                if watch.check(&client, &name, &id).await == Some(false) {
                    return;
                }
                continue;
            }
        }
        due = tokio::time::Instant::now() + every;
        match watch.check(&client, &name, &id).await {
            Some(true) => {}
            Some(false) => return,
            None => continue,
        }
        let expires = lock::rfc3339(now_ms() + ttl.as_millis() as i64);
        let req = Request::post(
            Path::product(&name)
                .seg("attributes")
                .seg(LOCK_EXPIRES_ATTRIBUTE),
            json!({"name": LOCK_EXPIRES_ATTRIBUTE, "value": expires}),
            what(&name),
        );
        if let Err(e) = client.send(&req).await {
            tracing::warn!("cannot renew the apply lock: {e}");
        } else {
            tracing::debug!(lock = %id, %expires, "renewed the apply lock");
        }
    }
}

/// Releases a lock: deletes its product if it is still this run's.
pub(crate) async fn release(client: &Client, lock: Lock) -> Result<(), BackendError> {
    let LockInner::Remote {
        name,
        renewer,
        watch,
    } = &lock.inner
    else {
        return Ok(());
    };
    renewer.abort();
    let fresh = watch
        .confirmed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_some_and(|at| at.elapsed() < CONFIRMED_FRESH);
    if fresh && !lock.lost() {
        tracing::debug!(lock = %lock.holder.id, "releasing the apply lock, checked ahead");
        return delete(client, name).await;
    }
    match holder(client, name).await? {
        Some(h) if h.id == lock.holder.id => delete(client, name).await,
        Some(h) => {
            tracing::warn!(lock = %lock.holder.id, by = %h.id, "the apply lock had been taken over");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Removes the lock of `owner` if its id is `id`.
pub(crate) async fn force_unlock(
    client: &Client,
    owner: &str,
    id: &str,
) -> Result<Holder, BackendError> {
    let name = lock_product_name(owner);
    match holder(client, &name).await? {
        None => Err(BackendError::LockRefused(Hinted::new(
            format!("no lock is held: product `{name}` does not exist"),
            "there is nothing to remove; check `--org` and the config's `owner`",
        ))),
        Some(h) if h.id == id => {
            delete(client, &name).await?;
            // A takeover token for it, left by a run that died mid-takeover, goes too.
            delete(client, &lock_takeover_name(&name, id)).await?;
            Ok(h)
        }
        Some(h) => Err(BackendError::LockRefused(Hinted::new(
            format!(
                "lock id `{id}` does not match the lock held on product `{name}`:\n{}",
                h.describe(now_ms())
            ),
            "copy the lock id from the error that named the holder; never remove a lock a running apply holds",
        ))),
    }
}
