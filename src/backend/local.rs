//! The `local` backend: the embedded registry (SQLite, `.registrar/registry.db`), in-process,
//! through the same store `registrar serve` uses. Keys are issued as Apigee issues them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Backend, BackendError, Lock, LockInner, LockRequest};
use crate::error::Hinted;
use crate::lock::{self, FileLock, FileLockError, Holder};
use crate::model::{
    self as m, Actual, CREDENTIAL_ATTRIBUTE, DEFAULT_CREDENTIAL_ID, DesiredKey, ReadScope,
};
use crate::op::{KeyRef, Op, OpOutcome};
use crate::registry::model::attribute_list;
use crate::registry::{
    self, AppInput, AppRecord, AppUpdate, Attribute, DeveloperRecord, KeyRecord, Page,
    ProductInput, ProductRecord, Registry,
};

/// Page size of the in-process list calls.
const PAGE: usize = 1000;

/// The embedded registry.
pub struct LocalBackend {
    store: Mutex<Registry>,
    path: PathBuf,
    org: String,
}

impl LocalBackend {
    /// Opens (creating if needed) the registry at `path`, organization `org`.
    pub fn open(path: &Path, org: &str) -> anyhow::Result<LocalBackend> {
        Self::open_with(path, org, Registry::open(path))
    }

    /// Opens the registry at `path` to read it: a registry that does not exist yet reads as
    /// empty, and nothing is created (`plan` writes nothing).
    pub fn open_to_read(path: &Path, org: &str) -> anyhow::Result<LocalBackend> {
        if path.exists() {
            return Self::open(path, org);
        }
        Self::open_with(path, org, Registry::open_in_memory())
    }

    fn open_with(
        path: &Path,
        org: &str,
        store: registry::Result<Registry>,
    ) -> anyhow::Result<LocalBackend> {
        let store = store.map_err(|e| {
            anyhow::anyhow!(
                "failed to open the local registry `{}`: {e}",
                path.display()
            )
        })?;
        store.ensure_org(org).map_err(|e| {
            anyhow::anyhow!(
                "failed to open the local registry `{}`: {e}",
                path.display()
            )
        })?;
        Ok(LocalBackend {
            store: Mutex::new(store),
            path: path.to_path_buf(),
            org: org.to_string(),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Registry, &str) -> registry::Result<T>,
    ) -> Result<T, BackendError> {
        let mut store = self
            .store
            .lock()
            .map_err(|_| BackendError::Other("the local registry lock is poisoned".into()))?;
        f(&mut store, &self.org).map_err(to_backend_error)
    }
}

fn to_backend_error(e: registry::Error) -> BackendError {
    match e {
        registry::Error::NotFound { .. } => BackendError::NotFound(e.to_string()),
        registry::Error::AlreadyExists { .. } => BackendError::Conflict(e.to_string()),
        registry::Error::Invalid(_)
        | registry::Error::InvalidScopes { .. }
        | registry::Error::ProductNotOnKey { .. } => BackendError::Rejected {
            status: 400,
            message: e.to_string(),
        },
        other => BackendError::Other(format!(
            "{other}: {}",
            std::error::Error::source(&other)
                .map(|s| s.to_string())
                .unwrap_or_default()
        )),
    }
}

/// Reads every page of a list: `startKey` is inclusive, so each later page repeats the last
/// item of the one before.
fn all_pages<T>(
    fetch: impl FnMut(&Page) -> registry::Result<Vec<T>>,
    key: impl Fn(&T) -> String,
) -> registry::Result<Vec<T>> {
    let mut out = Vec::new();
    each_item(fetch, key, |item| out.push(item))?;
    Ok(out)
}

/// Hands every item of a list to `each`, a page at a time, so that a caller converting them
/// never holds the whole list (the repeated first item of a later page is skipped).
fn each_item<T>(
    mut fetch: impl FnMut(&Page) -> registry::Result<Vec<T>>,
    key: impl Fn(&T) -> String,
    mut each: impl FnMut(T),
) -> registry::Result<()> {
    let mut page = fetch(&Page::first(PAGE))?;
    let mut skip = 0;
    loop {
        let next = (page.len() == PAGE).then(|| key(page.last().expect("a full page")));
        page.into_iter().skip(skip).for_each(&mut each);
        let Some(start) = next else {
            return Ok(());
        };
        page = fetch(&Page::from(start, PAGE))?;
        // Empty, or only the item it starts from: the list ended with the page before.
        if page.len() <= 1 {
            return Ok(());
        }
        skip = 1;
    }
}

/// The consumer key of the key an operation is about, as read before apply.
fn key_of<'a>(r: &KeyRef, key: Option<&'a m::Key>) -> registry::Result<&'a str> {
    key.map(|k| k.consumer_key.expose()).ok_or_else(|| {
        registry::Error::Invalid(format!(
            "key {}/{} was not read before execution",
            r.app, r.key
        ))
    })
}

/// Tags a freshly minted key with its credential id (unless default), sets its scopes, and
/// returns it as the operation's outcome.
fn finish_key(
    s: &mut Registry,
    org: &str,
    key: &KeyRecord,
    want: &DesiredKey,
) -> registry::Result<OpOutcome> {
    let (dev, app) = (want.developer.as_str(), want.app.as_str());
    let (credential, products, scopes) = (want.id.as_str(), &want.products, &want.scopes);
    let ck = key.consumer_key.expose().to_string();
    let mut rec = key.clone();
    if credential != DEFAULT_CREDENTIAL_ID {
        let mut attrs = rec.attributes.clone();
        attrs.retain(|a| a.name != CREDENTIAL_ATTRIBUTE);
        attrs.push(Attribute::new(CREDENTIAL_ATTRIBUTE, credential));
        rec = s.add_key_products(org, dev, app, &ck, products, Some(&attrs))?;
    }
    let mut have = rec.scopes.clone();
    have.sort();
    let mut want = scopes.to_vec();
    want.sort();
    if have != want {
        rec = s.set_key_scopes(org, dev, app, &ck, scopes)?;
    }
    Ok(OpOutcome::Minted(Box::new(rec.key(dev, app))))
}

impl LocalBackend {
    /// The lock file beside the registry: `<db>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    fn lock_io(&self, e: std::io::Error) -> BackendError {
        BackendError::Other(format!("cannot lock `{}`: {e}", self.lock_path().display()))
    }
}

/// A holder the lock file did not name (it was being written, or was damaged).
fn unknown_holder() -> Holder {
    Holder {
        id: "(unknown)".into(),
        who: "(unknown)".into(),
        place: "another process".into(),
        since_ms: crate::units::now_ms(),
        expires_ms: None,
    }
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        format!(
            "local registry `{}` (org `{}`)",
            self.path.display(),
            self.org
        )
    }

    fn quota_per_minute(&self) -> Option<u32> {
        None
    }

    async fn read(&self, scope: ReadScope) -> Result<Actual, BackendError> {
        self.with(|s, org| {
            let mut actual = Actual::default();
            if scope.developers || scope.apps {
                let devs = all_pages(|p| s.list_developers(org, p), |d| d.email.clone())?;
                actual.developers = devs.iter().map(DeveloperRecord::observed).collect();
            }
            if scope.products {
                let products = all_pages(|p| s.list_products(org, p), |r| r.product.name.clone())?;
                // A lock product (when `serve` shares this file) is never part of a diff.
                actual.products = products
                    .iter()
                    .map(ProductRecord::observed)
                    .filter(|p| !lock::is_lock(&p.value.attributes))
                    .collect();
            }
            if scope.apps {
                // Converted a page at a time: the records are never all held at once.
                each_item(
                    |p| s.list_org_apps(org, p),
                    |a| a.app_id.clone(),
                    |a: AppRecord| {
                        actual.keys.extend(a.keys());
                        actual.apps.push(a.observed());
                    },
                )?;
            }
            Ok(actual)
        })
    }

    async fn lock(&self, req: &LockRequest) -> Result<Lock, BackendError> {
        let path = self.lock_path();
        let deadline = tokio::time::Instant::now() + req.timeout;
        let mut holder = req.holder.clone();
        holder.expires_ms = None;
        loop {
            match FileLock::try_acquire(&path, &holder) {
                Ok(file) => {
                    return Ok(Lock {
                        holder,
                        inner: LockInner::File { _held: file },
                    });
                }
                Err(FileLockError::Held(other)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(BackendError::Locked(Box::new(
                            other.unwrap_or_else(unknown_holder),
                        )));
                    }
                    tokio::time::sleep(lock::FILE_POLL).await;
                }
                Err(FileLockError::Io(e)) => return Err(self.lock_io(e)),
            }
        }
    }

    async fn unlock(&self, lock: Lock) -> Result<(), BackendError> {
        drop(lock);
        Ok(())
    }

    async fn force_unlock(&self, _owner: &str, id: &str) -> Result<Holder, BackendError> {
        let path = self.lock_path();
        let probe = Holder {
            id: "force-unlock".into(),
            ..unknown_holder()
        };
        match FileLock::try_acquire(&path, &probe) {
            Ok(_free) => Err(BackendError::LockRefused(Hinted::new(
                format!("no lock is held on `{}`", self.path.display()),
                "a local lock is released when the process holding it ends: there is nothing to remove",
            ))),
            Err(FileLockError::Held(Some(h))) if h.id == id => {
                Err(BackendError::LockRefused(Hinted::new(
                    format!(
                        "lock {id} on `{}` is held by a running process:\n{}",
                        self.path.display(),
                        h.describe(crate::units::now_ms())
                    ),
                    "a local lock is released when the process holding it ends: wait for it, or stop that process",
                )))
            }
            Err(FileLockError::Held(h)) => Err(BackendError::LockRefused(Hinted::new(
                format!(
                    "lock id `{id}` does not match the lock held on `{}` ({})",
                    self.path.display(),
                    h.map_or_else(|| "unknown id".to_string(), |h| format!("id {}", h.id))
                ),
                "copy the lock id from the error that named the holder",
            ))),
            Err(FileLockError::Io(e)) => Err(self.lock_io(e)),
        }
    }

    async fn execute(&self, op: &Op, observed: Option<&m::Key>) -> Result<OpOutcome, BackendError> {
        self.with(|s, org| {
            match op {
                Op::CreateDeveloper { developer } => {
                    s.create_developer(org, &developer.into())?;
                    if developer.status != m::DeveloperStatus::Active {
                        s.set_developer_status(org, &developer.email, developer.status)?;
                    }
                }
                Op::UpdateDeveloper { developer } => {
                    s.update_developer(org, &developer.email, &developer.into())?;
                }
                Op::SetDeveloperStatus { email, status } => {
                    s.set_developer_status(org, email, *status)?
                }
                Op::DeleteDeveloper { email } => {
                    s.delete_developer(org, email)?;
                }
                Op::CreateProduct { product } => {
                    s.create_product(org, &product.into())?;
                }
                Op::UpdateProduct { product } => {
                    let mut input: ProductInput = product.into();
                    if input.extra.is_some() {
                        // Declared operation groups replace the stored ones; the rest stays.
                        let stored = s.get_product(org, &product.name)?.extra;
                        input.extra = registry::model::product_extra(product, Some(&stored));
                    }
                    s.update_product(org, &product.name, &input)?;
                }
                Op::DeleteProduct { name } => {
                    s.delete_product(org, name)?;
                }
                Op::CreateApp { app, credential } => {
                    let rec = s.create_app(org, &app.developer, &AppInput::new(app, credential))?;
                    let key = rec.credentials.first().ok_or_else(|| {
                        registry::Error::Invalid(
                            "the registry created the app without a key".into(),
                        )
                    })?;
                    let minted = finish_key(s, org, key, credential)?;
                    if app.status == m::Status::Revoked {
                        s.set_app_status(org, &app.developer, &app.name, app.status)?;
                    }
                    return Ok(minted);
                }
                Op::UpdateApp { app } => {
                    let update = AppUpdate {
                        attributes: Some(attribute_list(&app.attributes)),
                        callback_url: Some(app.callback_url.clone().unwrap_or_default()),
                        api_products: None,
                        key_expires_in: None,
                        extra: None,
                    };
                    s.update_app(org, &app.developer, &app.name, &update)?;
                }
                Op::SetAppStatus {
                    developer,
                    app,
                    status,
                } => s.set_app_status(org, developer, app, *status)?,
                Op::DeleteApp { developer, app } => {
                    s.delete_app(org, developer, app)?;
                }
                Op::MintKey {
                    credential: want,
                    replaces,
                } => {
                    let (dev, name) = (want.developer.as_str(), want.app.as_str());
                    let app = s.get_app(org, dev, name)?;
                    // Never mint a credential twice: adopt a key that stands for it already.
                    if let Some(k) = app.keys().find(|k| {
                        k.status == m::Status::Approved
                            && k.is_credential(&want.id)
                            && Some(k.consumer_key.fingerprint()) != *replaces
                    }) {
                        return Ok(OpOutcome::Minted(Box::new(k)));
                    }
                    let before: HashSet<String> = app
                        .credentials
                        .iter()
                        .map(|k| k.consumer_key.expose().to_string())
                        .collect();
                    // The registry, like Apigee, replaces the app's callback URL and
                    // attributes on this call: resend them as they are.
                    let update = AppUpdate {
                        attributes: Some(app.attributes.clone()),
                        callback_url: app.callback_url.clone(),
                        api_products: Some(want.products.clone()),
                        key_expires_in: want.expires_in_ms.map(|v| v as i64),
                        extra: None,
                    };
                    let rec = s.generate_key(org, dev, name, &update)?;
                    let key = rec
                        .credentials
                        .iter()
                        .find(|k| !before.contains(k.consumer_key.expose()))
                        .ok_or_else(|| {
                            registry::Error::Invalid("the registry generated no new key".into())
                        })?;
                    return finish_key(s, org, key, want);
                }
                Op::AttachProduct { key, product } => {
                    let ck = key_of(key, observed)?;
                    let attributes = match (&key.key.credential, observed) {
                        (Some(id), Some(k)) => Some(attribute_list(&k.attributes_tagged(id))),
                        _ => None,
                    };
                    let (dev, app) = (&key.app.developer, &key.app.app);
                    let products = std::slice::from_ref(product);
                    s.add_key_products(org, dev, app, ck, products, attributes.as_deref())?;
                }
                Op::DetachProduct { key, product } => {
                    let (dev, app) = (&key.app.developer, &key.app.app);
                    s.remove_key_product(org, dev, app, key_of(key, observed)?, product)?;
                }
                Op::SetScopes { key, scopes } => {
                    let (dev, app) = (&key.app.developer, &key.app.app);
                    s.set_key_scopes(org, dev, app, key_of(key, observed)?, scopes)?;
                }
                Op::SetKeyStatus { key, status } => {
                    let (dev, app) = (&key.app.developer, &key.app.app);
                    s.set_key_status(org, dev, app, key_of(key, observed)?, *status)?;
                }
                Op::DeleteKey { key } => {
                    let (dev, app) = (&key.app.developer, &key.app.app);
                    s.delete_key(org, dev, app, key_of(key, observed)?)?;
                }
            }
            Ok(OpOutcome::Done)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{App, Status};

    fn want(id: &str) -> DesiredKey {
        DesiredKey {
            developer: "a@x.io".into(),
            app: "web".into(),
            id: id.into(),
            products: vec![],
            scopes: vec![],
            status: Status::Approved,
            expires_in_ms: None,
        }
    }

    #[tokio::test]
    async fn a_credential_is_never_minted_twice() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::open(&dir.path().join("r.db"), "local").unwrap();
        let dev = m::Developer {
            email: "a@x.io".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            user_name: "a".into(),
            status: m::DeveloperStatus::Active,
            attributes: Default::default(),
        };
        let app = App {
            developer: "a@x.io".into(),
            name: "web".into(),
            callback_url: None,
            status: Status::Approved,
            scopes: vec![],
            key_expires_in_ms: None,
            attributes: Default::default(),
        };
        let b = &b;
        let run = |op: Op| async move { b.execute(&op, None).await.unwrap() };
        let _ = b
            .execute(&Op::CreateDeveloper { developer: dev }, None)
            .await
            .unwrap();
        let create = Op::CreateApp {
            app,
            credential: want(DEFAULT_CREDENTIAL_ID),
        };
        let _ = b.execute(&create, None).await.unwrap();
        let mint = || Op::MintKey {
            credential: want("backup"),
            replaces: None,
        };
        let (OpOutcome::Minted(first), OpOutcome::Minted(again)) =
            (run(mint()).await, run(mint()).await)
        else {
            panic!("mints return their key")
        };
        assert_eq!(
            first.consumer_key, again.consumer_key,
            "adopted, not minted"
        );
        // The default credential's untagged key counts too; a rotation mints a new one.
        let OpOutcome::Minted(default) = run(Op::MintKey {
            credential: want(DEFAULT_CREDENTIAL_ID),
            replaces: None,
        })
        .await
        else {
            panic!()
        };
        let OpOutcome::Minted(rotated) = run(Op::MintKey {
            credential: want(DEFAULT_CREDENTIAL_ID),
            replaces: Some(default.consumer_key.fingerprint()),
        })
        .await
        else {
            panic!()
        };
        assert_ne!(default.consumer_key, rotated.consumer_key);
        let keys = b.read(ReadScope::ALL).await.unwrap().keys;
        assert_eq!(keys.len(), 3, "default, its replacement, backup");
    }

    /// Pages of a sorted list of numbers as the registry serves them: `startKey` inclusive.
    fn serve(all: &[u32], page: &Page) -> registry::Result<Vec<u32>> {
        let from = page
            .start_key
            .as_deref()
            .map_or(0, |k| all.partition_point(|n| n.to_string().as_str() < k));
        Ok(all.iter().skip(from).take(page.count).copied().collect())
    }

    #[test]
    fn every_item_once_across_inclusive_pages() {
        for len in [0, 1, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, 2 * PAGE + 7] {
            // Keys that sort as strings in numeric order.
            let all: Vec<u32> = (0..len as u32).map(|n| 100_000 + n).collect();
            let mut got = Vec::new();
            each_item(|p| serve(&all, p), |n| n.to_string(), |n| got.push(n)).unwrap();
            assert_eq!(got, all, "{len} items");
            let pages = all_pages(|p| serve(&all, p), |n| n.to_string()).unwrap();
            assert_eq!(pages, all, "{len} items");
        }
    }
}
