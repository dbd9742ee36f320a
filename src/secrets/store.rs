//! [`SecretStore`]: the directory of `.age` files and its `index.yaml`.
//!
//! Every write puts the encrypted file in place durably *before* the index names it, so a
//! crash can leave an unindexed file (reported by [`SecretStore::verify`]) but never lose a
//! secret or make the index point at a file that does not hold what it says.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::crypto::{self, DecryptFailure, Identity, Recipient};
use super::error::{Error, Result};
use super::fsutil;
use super::index::{Index, IndexEntry, KeyState};
use crate::error::Hinted;
use crate::model::Secret;

/// Where the local identity lives when no recipients are configured (relative to the
/// current directory).
pub const LOCAL_IDENTITY: &str = ".registrar/identity.txt";

/// A key and secret with their times: what one `.age` file holds.
///
/// `Debug` shows fingerprints only (see [`Secret`]); there is no `Display` or `Serialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// The consumer key (client_id).
    pub consumer_key: Secret,
    /// The consumer secret (client_secret).
    pub consumer_secret: Secret,
    /// Issue time, milliseconds since the epoch.
    pub issued_at: i64,
    /// Expiry, milliseconds since the epoch; `None` for never.
    pub expires_at: Option<i64>,
}

/// What [`SecretStore::verify`] found wrong between the index and the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consistency {
    /// Index entries whose file does not exist.
    pub missing_files: Vec<IndexEntry>,
    /// `.age` files (relative paths) that no index entry names.
    pub unindexed_files: Vec<String>,
    /// Credentials (`developer/app/id`) with more than one active entry.
    pub duplicate_active: Vec<String>,
    /// Debris of interrupted writes (relative paths); safe to delete.
    pub temp_files: Vec<String>,
}

impl Consistency {
    /// Whether every key has exactly one file and one index entry.
    pub fn is_clean(&self) -> bool {
        self.missing_files.is_empty()
            && self.unindexed_files.is_empty()
            && self.duplicate_active.is_empty()
    }
}

/// The encrypted store of issued keys: one armored age file per key under `dir`, and
/// `dir/index.yaml`. Safe to share between threads (writes are serialized); one process
/// should write a store at a time.
pub struct SecretStore {
    pub(super) dir: PathBuf,
    configured: Vec<Recipient>,
    local_identity: PathBuf,
    write_recipients: Mutex<Option<Vec<Recipient>>>,
    pub(super) index: Mutex<Index>,
    /// In a batch ([`SecretStore::begin_batch`]): entries stored but not yet in `index.yaml`.
    pending: Mutex<Option<Vec<IndexEntry>>>,
    /// The secrets dir's lock, while [`SecretStore::hold`] keeps it for a whole run.
    held: Mutex<Option<std::fs::File>>,
}

/// Index entries a batch writes at once.
pub(super) const BATCH_FLUSH: usize = 64;

impl SecretStore {
    /// Opens the store in `dir` (which need not exist yet) for the given recipients
    /// (`age1…` and `ssh-ed25519 …` public keys; bad entries are errors naming them).
    ///
    /// Opening reads only `index.yaml`; it needs no identity and writes nothing. With no
    /// recipients, the first write generates [`LOCAL_IDENTITY`] and encrypts to it.
    pub fn open(dir: impl Into<PathBuf>, recipients: &[String]) -> Result<SecretStore> {
        let dir = dir.into();
        let configured = crypto::parse_recipients(recipients)?;
        let index = Index::load(&dir)?;
        Ok(SecretStore {
            dir,
            configured,
            local_identity: PathBuf::from(LOCAL_IDENTITY),
            write_recipients: Mutex::new(None),
            index: Mutex::new(index),
            pending: Mutex::new(None),
            held: Mutex::new(None),
        })
    }

    /// Uses `path` instead of [`LOCAL_IDENTITY`] when no recipients are configured.
    pub fn with_local_identity(mut self, path: impl Into<PathBuf>) -> SecretStore {
        self.local_identity = path.into();
        self
    }

    /// The secrets dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A copy of the index (keys and pending rotations).
    pub fn index(&self) -> Index {
        self.lock().clone()
    }

    /// Every stored key, sorted by developer, app, id, state.
    pub fn entries(&self) -> Vec<IndexEntry> {
        self.lock().keys.clone()
    }

    /// The stored keys of one app.
    pub fn app_entries(&self, developer: &str, app: &str) -> Vec<IndexEntry> {
        self.lock()
            .keys
            .iter()
            .filter(|e| e.developer == developer && e.app == app)
            .cloned()
            .collect()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the store for writing: this process's lock, then an advisory lock on the
    /// secrets dir (other processes), then reloads `index.yaml` so that a write never
    /// undoes another process's. The guard derefs to the fresh index.
    pub(super) fn write_lock(&self) -> Result<WriteGuard<'_>> {
        let mut index = self.lock();
        std::fs::create_dir_all(&self.dir).map_err(|e| fsutil::not_writable(&self.dir, e))?;
        let held = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        let dir_lock = if held { None } else { lock_dir(&self.dir)? };
        *index = Index::load(&self.dir)?;
        Ok(WriteGuard {
            index,
            _dir_lock: dir_lock,
        })
    }

    /// Holds the secrets dir's lock (the one every write takes) until [`SecretStore::release`]
    /// or drop, so that another process's writes and holds wait for this run (apply holds it
    /// for its whole run). Waits up to `timeout`; `Ok(false)` if another process still holds
    /// it then. Where directories cannot be locked, holds nothing and returns `Ok(true)`.
    pub fn hold(&self, timeout: std::time::Duration) -> Result<bool> {
        std::fs::create_dir_all(&self.dir).map_err(|e| fsutil::not_writable(&self.dir, e))?;
        let Ok(handle) = std::fs::File::open(&self.dir) else {
            return Ok(true);
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match handle.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
                Err(std::fs::TryLockError::Error(e)) => {
                    tracing::debug!("cannot lock `{}`: {e}; holding nothing", self.dir.display());
                    return Ok(true);
                }
            }
        }
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(true)
    }

    /// Gives back what [`SecretStore::hold`] took.
    pub fn release(&self) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Stores `cred` as the active key of `developer/app/id`, replacing any active one:
    /// encrypts to the recipients, writes `<developer>/<app>/<id>.age` atomically and
    /// durably, then the index. Needs no identity. Returns the new index entry.
    ///
    /// The previous active key's file is overwritten: to keep it through a rotation's
    /// overlap, use [`SecretStore::complete_rotation`] (or [`SecretStore::mark_retiring`]
    /// first).
    pub fn store(
        &self,
        developer: &str,
        app: &str,
        id: &str,
        cred: &StoredCredential,
    ) -> Result<IndexEntry> {
        check_names(developer, app, id)?;
        let file = key_file(developer, app, id, "");
        let entry = IndexEntry {
            developer: developer.to_string(),
            app: app.to_string(),
            id: id.to_string(),
            state: KeyState::Active,
            consumer_key_fingerprint: cred.consumer_key.fingerprint(),
            consumer_secret_fingerprint: cred.consumer_secret.fingerprint(),
            issued_at: cred.issued_at,
            expires_at: cred.expires_at,
            revoke_after: None,
            file,
        };
        let batched = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if batched {
            // The file is durable before this returns; the index follows in batches.
            self.write_file(&entry.file, cred)?;
            put_active(&mut self.lock(), &entry);
            let full = {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let list = pending.get_or_insert_with(Vec::new);
                list.push(entry.clone());
                list.len() >= BATCH_FLUSH
            };
            if full {
                self.flush()?;
            }
        } else {
            let mut index = self.write_lock()?;
            self.write_file(&entry.file, cred)?;
            let mut next = index.clone();
            put_active(&mut next, &entry);
            next.save(&self.dir)?;
            *index = next;
        }
        tracing::info!(key = %entry.address(), consumer_key = %entry.consumer_key_fingerprint, "stored key");
        Ok(entry)
    }

    /// Starts a batch: [`SecretStore::store`] writes each key's file durably at once but adds
    /// its index entry to `index.yaml` in groups (apply stores hundreds of keys; rewriting the
    /// whole index for each would make that quadratic). [`SecretStore::flush`] or
    /// [`SecretStore::end_batch`] writes what is pending. Should the process die in between,
    /// the files are there and the next apply re-stores the keys the index lacks.
    pub fn begin_batch(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.get_or_insert_with(Vec::new);
    }

    /// Writes the index entries a batch holds (no-op outside a batch).
    pub fn flush(&self) -> Result<()> {
        let entries = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.as_mut() {
                Some(list) if !list.is_empty() => std::mem::take(list),
                _ => return Ok(()),
            }
        };
        let mut index = self.write_lock()?;
        let mut next = index.clone();
        for e in &entries {
            put_active(&mut next, e);
        }
        next.save(&self.dir)?;
        *index = next;
        Ok(())
    }

    /// Flushes and ends a batch.
    pub fn end_batch(&self) -> Result<()> {
        self.flush()?;
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Encrypts and writes one file (relative path) atomically.
    pub(super) fn write_file(&self, file: &str, cred: &StoredCredential) -> Result<()> {
        let recipients = self.recipients_for_writing()?;
        let plain = crypto::encode_doc(
            &cred.consumer_key,
            &cred.consumer_secret,
            cred.issued_at,
            cred.expires_at,
        );
        let armored = crypto::encrypt_armored(&recipients, &plain)?;
        fsutil::write_bytes_atomic(&self.dir.join(file), &armored)
    }

    /// The recipients files are encrypted to: the configured ones, or the local identity's
    /// (generated on first use, with a warning that only it can decrypt).
    pub fn recipients_for_writing(&self) -> Result<Vec<Recipient>> {
        if !self.configured.is_empty() {
            return Ok(self.configured.clone());
        }
        let mut cached = self
            .write_recipients
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(r) = &*cached {
            return Ok(r.clone());
        }
        // Read from disk: callers may hold the index lock.
        let stored = if self.local_identity.exists() {
            0
        } else {
            Index::load(&self.dir).map(|i| i.keys.len()).unwrap_or(0)
        };
        if stored > 0 && !self.local_identity.exists() {
            // A new identity would leave a store whose older files nobody here can read.
            return Err(Error::LocalIdentityMissing {
                path: self.local_identity.clone(),
                stored,
                hinted: Hinted::new(
                    format!(
                        "the secrets store `{}` holds {stored} key(s), but the local identity `{}` is missing and no `secrets.recipients` are configured",
                        self.dir.display(),
                        self.local_identity.display()
                    ),
                    "restore the identity file (or run from the directory that has it), or add your public keys to `secrets.recipients` and run `registrar secrets rekey` with the old identity",
                ),
            });
        }
        let (recipient, created) = crypto::local_identity(&self.local_identity)?;
        let path = self.local_identity.display();
        if created {
            tracing::warn!(
                "generated the local identity `{path}` (no `secrets.recipients` configured)"
            );
        }
        tracing::warn!(
            "no `secrets.recipients` configured: secrets are encrypted to `{path}` only; \
             back it up, or add your public keys to `secrets.recipients` and run `registrar secrets rekey`"
        );
        *cached = Some(vec![recipient.clone()]);
        Ok(vec![recipient])
    }

    /// Decrypts the file of `entry` with `identity` and checks it against the entry's
    /// fingerprints. Errors say whether the identity is wrong or the file corrupted.
    pub fn read_entry(&self, identity: &Identity, entry: &IndexEntry) -> Result<StoredCredential> {
        let path = self.dir.join(&entry.file);
        let rotate_hint = format!(
            "restore it from git (`git checkout -- {}`), or replace the key: `registrar rotate {} --developer {} --key {}` then apply",
            path.display(),
            entry.app,
            entry.developer,
            entry.id
        );
        let corrupted = |why: String| Error::FileCorrupted {
            hinted: Hinted::new(
                format!("`{}` is corrupted: {why}", path.display()),
                rotate_hint.clone(),
            ),
            path: path.clone(),
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::FileMissing {
                    hinted: Hinted::new(
                        format!("`{}` is in the index but missing", path.display()),
                        rotate_hint,
                    ),
                    path,
                });
            }
            Err(source) => return Err(Error::Read { path, source }),
        };
        let plain = crypto::decrypt(identity, &bytes).map_err(|f| match f {
            DecryptFailure::WrongIdentity => Error::WrongIdentity {
                identity: identity.path().to_path_buf(),
                path: path.clone(),
                hinted: Hinted::new(
                    format!(
                        "identity `{}` cannot decrypt `{}`",
                        identity.path().display(),
                        path.display()
                    ),
                    "use an identity whose public key is in `secrets.recipients` (`--identity FILE` or \
                     REGISTRAR_IDENTITY); or have someone who can decrypt add your public key and run \
                     `registrar secrets rekey`",
                ),
            },
            DecryptFailure::Corrupted(why) => corrupted(why),
        })?;
        let (consumer_key, consumer_secret, issued_at, expires_at) =
            crypto::decode_doc(&plain).map_err(corrupted)?;
        if consumer_key.fingerprint() != entry.consumer_key_fingerprint
            || consumer_secret.fingerprint() != entry.consumer_secret_fingerprint
        {
            return Err(Error::FingerprintMismatch {
                hinted: Hinted::new(
                    format!(
                        "`{}` does not hold the key its index entry describes (fingerprints differ)",
                        path.display()
                    ),
                    "the file or index.yaml was changed by hand: restore both from git",
                ),
                path,
            });
        }
        Ok(StoredCredential {
            consumer_key,
            consumer_secret,
            issued_at,
            expires_at,
        })
    }

    /// Decrypts the active key of `developer/app/id`.
    pub fn read(
        &self,
        identity: &Identity,
        developer: &str,
        app: &str,
        id: &str,
    ) -> Result<StoredCredential> {
        let entry = self
            .lock()
            .active(developer, app, id)
            .cloned()
            .ok_or_else(|| Error::KeyNotFound {
                address: format!("{developer}/{app}/{id}"),
                hinted: Hinted::new(
                    format!("no stored key `{developer}/{app}/{id}`"),
                    "`registrar secrets list` shows what is stored",
                ),
            })?;
        self.read_entry(identity, &entry)
    }

    /// Removes the active key of `developer/app/id` (its file, then its index entry), e.g.
    /// after the key was deleted remotely. Returns the removed entry, if there was one.
    pub fn remove(&self, developer: &str, app: &str, id: &str) -> Result<Option<IndexEntry>> {
        let mut index = self.write_lock()?;
        let Some(entry) = index.active(developer, app, id).cloned() else {
            return Ok(None);
        };
        self.remove_locked(&mut index, &entry)?;
        Ok(Some(entry))
    }

    /// Deletes `entry`'s file and index entry; the index is rewritten first, so a crash
    /// leaves at worst an unindexed file.
    pub(super) fn remove_locked(&self, index: &mut Index, entry: &IndexEntry) -> Result<()> {
        let mut next = index.clone();
        next.keys.retain(|e| e != entry);
        next.save(&self.dir)?;
        *index = next;
        let path = self.dir.join(&entry.file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fsutil::not_writable(path.parent().unwrap_or(&self.dir), e)),
        }
        if let Some(parent) = path.parent() {
            let _ = fsutil::sync_dir(parent);
        }
        tracing::info!(key = %entry.address(), "removed stored key");
        Ok(())
    }

    /// Re-encrypts every file (active and retiring) to the current recipients. Everything is
    /// decrypted and checked first: if any file cannot be read, nothing is rewritten.
    /// Returns the number of files rewritten.
    pub fn rekey(&self, identity: &Identity) -> Result<usize> {
        let index = self.write_lock()?;
        let mut creds = Vec::with_capacity(index.keys.len());
        for entry in &index.keys {
            let cred = self
                .read_entry(identity, entry)
                .map_err(|e| Error::RekeyAborted(Box::new(e)))?;
            creds.push((entry.file.clone(), cred));
        }
        for (file, cred) in &creds {
            self.write_file(file, cred)?;
        }
        Ok(creds.len())
    }

    /// Compares the index with the files on disk (no decryption).
    pub fn verify(&self) -> Result<Consistency> {
        let index = self.lock();
        let mut found = Vec::new();
        let mut temps = Vec::new();
        walk(&self.dir, "", &mut found, &mut temps)?;
        let mut c = Consistency {
            temp_files: temps,
            ..Consistency::default()
        };
        for e in &index.keys {
            if !found.contains(&e.file) {
                c.missing_files.push(e.clone());
            }
        }
        for f in found {
            if !index.keys.iter().any(|e| e.file == f) {
                c.unindexed_files.push(f);
            }
        }
        for (i, e) in index.keys.iter().enumerate() {
            let dup = index.keys[..i].iter().any(|o| {
                o.state == KeyState::Active
                    && e.state == KeyState::Active
                    && o.address() == e.address()
            });
            if dup && !c.duplicate_active.contains(&e.address()) {
                c.duplicate_active.push(e.address());
            }
        }
        Ok(c)
    }
}

/// Holds the store for writing; derefs to the index as just reloaded from disk.
pub(super) struct WriteGuard<'a> {
    index: MutexGuard<'a, Index>,
    _dir_lock: Option<std::fs::File>,
}

impl std::ops::Deref for WriteGuard<'_> {
    type Target = Index;
    fn deref(&self) -> &Index {
        &self.index
    }
}

impl std::ops::DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Index {
        &mut self.index
    }
}

/// An exclusive advisory lock (flock) on the secrets dir, released when the file is
/// dropped. Where directories cannot be locked, writes go unlocked (`None`).
fn lock_dir(dir: &Path) -> Result<Option<std::fs::File>> {
    let Ok(handle) = std::fs::File::open(dir) else {
        return Ok(None);
    };
    match handle.lock() {
        Ok(()) => Ok(Some(handle)),
        Err(e) => {
            tracing::debug!(
                "cannot lock `{}`: {e}; writing without a lock",
                dir.display()
            );
            Ok(None)
        }
    }
}

/// Collects `.age` files and temp debris under `dir` as `/`-separated relative paths.
fn walk(dir: &Path, rel: &str, files: &mut Vec<String>, temps: &mut Vec<String>) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::List {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let list_err = |source| Error::List {
        path: dir.to_path_buf(),
        source,
    };
    for item in rd {
        let item = item.map_err(list_err)?;
        let name = item.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if item.file_type().map_err(list_err)?.is_dir() {
            walk(&item.path(), &path, files, temps)?;
        } else if name.starts_with(fsutil::TEMP_PREFIX) {
            temps.push(path);
        } else if name.ends_with(".age") {
            files.push(path);
        }
    }
    files.sort();
    temps.sort();
    Ok(())
}

/// Developer, app and credential id become path components: refuse what would escape the
/// dir or collide with registrar's own names.
/// The file of a key, relative to the secrets dir, with `/` separators:
/// `<developer>/<app>/<id><suffix>.age`. Each name is one path component whatever it holds:
/// `%`, `/`, `\\` and a leading `.` are percent-encoded (an email may hold `/` or `%`).
pub(super) fn key_file(developer: &str, app: &str, id: &str, suffix: &str) -> String {
    format!(
        "{}/{}/{}{suffix}.age",
        component(developer),
        component(app),
        component(id)
    )
}

fn component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        match c {
            '%' | '/' | '\\' => out.push_str(&format!("%{:02X}", c as u32)),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn check_names(developer: &str, app: &str, id: &str) -> Result<()> {
    for (what, v) in [
        ("developer", developer),
        ("app", app),
        ("credential id", id),
    ] {
        let bad = v.is_empty() || v.contains('\0') || v.chars().any(char::is_control);
        if bad {
            return Err(Error::InvalidName {
                what,
                name: v.to_string(),
            });
        }
    }
    if id.contains(".retiring-") {
        return Err(Error::ReservedName { id: id.to_string() });
    }
    Ok(())
}

/// Makes `entry` the active entry of its file in `index`.
fn put_active(index: &mut Index, entry: &IndexEntry) {
    index
        .keys
        .retain(|e| !(e.state == KeyState::Active && e.file == entry.file));
    index.keys.push(entry.clone());
}
