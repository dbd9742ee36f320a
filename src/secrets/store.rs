//! [`SecretStore`]: the directory of `.age` files, its `index.yaml` and `index.journal`.
//!
//! Storing a key encrypts it into a temp file (fsynced), appends its index entry to the
//! journal (fsynced), then renames the file into place: a crash at any moment leaves either
//! no key file, or a key file that the journal indexes ([`super::journal`]). Opening the
//! store for writing ([`SecretStore::begin_batch`], every other write) reconciles it: the
//! journal is folded into `index.yaml`, records whose file never arrived are dropped, and
//! temp files of interrupted writes are removed. None of that needs an identity.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::crypto::{self, DecryptFailure, Identity, Recipient};
use super::error::{Error, Result};
use super::fsutil;
use super::index::{ActiveFiles, Index, IndexEntry, KeyState};
use super::journal::{self, Folded};
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
    /// The index: `index.yaml` with the journal folded in, and this process's writes.
    pub(super) index: Mutex<Index>,
    /// Appends to `index.journal`; taken with `index` held.
    journal: Mutex<journal::Appender>,
    /// Set between [`SecretStore::begin_batch`] and [`SecretStore::end_batch`].
    batch: Mutex<Option<Batch>>,
    /// The secrets dir's lock, while [`SecretStore::hold`] keeps it for a whole run.
    held: Mutex<Option<std::fs::File>>,
}

/// A batch: the secrets dir stays locked against other processes until it ends.
struct Batch {
    _dir_lock: Option<std::fs::File>,
    /// The index's files with an active entry, so that storing a key costs O(1).
    active: ActiveFiles,
}

/// What [`SecretStore::begin_batch`] (opening the store for writing) tidied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// What folding the journal did: keys indexed, records of writes that never completed.
    pub folded: Folded,
    /// Temp files of interrupted writes, removed (relative paths).
    pub temps_removed: Vec<String>,
    /// `.age` files no index entry or journal record names (left by an older registrar):
    /// indexing them needs an identity, so they stay, and `secrets list` reports them.
    pub unindexed: Vec<String>,
}

impl SecretStore {
    /// Opens the store in `dir` (which need not exist yet) for the given recipients
    /// (`age1…` and `ssh-ed25519 …` public keys; bad entries are errors naming them).
    ///
    /// Opening reads `index.yaml` and folds in `index.journal` (keys stored by a run that
    /// ended before compacting it); it needs no identity and writes nothing. With no
    /// recipients, the first write generates [`LOCAL_IDENTITY`] and encrypts to it.
    pub fn open(dir: impl Into<PathBuf>, recipients: &[String]) -> Result<SecretStore> {
        let dir = dir.into();
        let configured = crypto::parse_recipients(recipients)?;
        let index = journal::load(&dir)?;
        Ok(SecretStore {
            dir,
            configured,
            local_identity: PathBuf::from(LOCAL_IDENTITY),
            write_recipients: Mutex::new(None),
            index: Mutex::new(index),
            journal: Mutex::new(journal::Appender::default()),
            batch: Mutex::new(None),
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

    fn in_batch(&self) -> bool {
        self.batch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Takes the store for writing: this process's lock, then an advisory lock on the
    /// secrets dir (other processes), then folds the journal into `index.yaml` and reloads
    /// it, so that a write never undoes another process's. In a batch the dir is locked
    /// already and the index in memory is current. The guard derefs to the index.
    pub(super) fn write_lock(&self) -> Result<WriteGuard<'_>> {
        let mut index = self.lock();
        if self.in_batch() {
            return Ok(WriteGuard {
                index,
                _dir_lock: None,
            });
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| fsutil::not_writable(&self.dir, e))?;
        let (dir_lock, _) = self.lock_and_fold(&mut index)?;
        Ok(WriteGuard {
            index,
            _dir_lock: dir_lock,
        })
    }

    /// Locks the secrets dir against other processes (unless this run holds it already),
    /// folds the journal into `index.yaml` and makes `index` the result.
    fn lock_and_fold(&self, index: &mut Index) -> Result<(Option<std::fs::File>, Folded)> {
        let dir_lock = if self.is_held() {
            None
        } else {
            lock_dir(&self.dir)?
        };
        let (fresh, folded) = journal::compact(&self.dir)?;
        self.journal_appender().close();
        log_folded(&self.dir, &folded);
        *index = fresh;
        Ok((dir_lock, folded))
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

    /// Whether [`SecretStore::hold`] holds the secrets dir's lock.
    fn is_held(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn journal_appender(&self) -> MutexGuard<'_, journal::Appender> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `cred` as the active key of `developer/app/id`, replacing any active one:
    /// encrypts to the recipients, writes `<developer>/<app>/<id>.age` atomically and
    /// durably, indexed by the journal before the file appears. Needs no identity. Returns
    /// the new index entry.
    ///
    /// Outside a batch, `index.yaml` is rewritten at once; in a batch
    /// ([`SecretStore::begin_batch`]) only the journal grows, so storing costs the same
    /// whatever the size of the store.
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
        let path = self.dir.join(&entry.file);
        if self.in_batch() {
            // Encrypting and writing the temp file need no lock; journal and rename do, so
            // that a compaction never sees one without the other.
            let (tmp, record) = self.stage(&entry, cred)?;
            self.commit(&mut self.lock(), tmp, &record)?;
            fsutil::sync_parent(&path)?;
        } else {
            let mut index = self.write_lock()?;
            let (tmp, record) = self.stage(&entry, cred)?;
            self.commit(&mut index, tmp, &record)?;
            fsutil::sync_parent(&path)?;
            self.checkpoint(&mut index)?;
        }
        tracing::info!(key = %entry.address(), consumer_key = %entry.consumer_key_fingerprint, "stored key");
        Ok(entry)
    }

    /// Encrypts `cred` into a temp file beside `entry`'s file (fsynced); returns it with
    /// the journal record that describes it.
    fn stage(
        &self,
        entry: &IndexEntry,
        cred: &StoredCredential,
    ) -> Result<(tempfile::NamedTempFile, journal::Record)> {
        let armored = self.encrypt(cred)?;
        let tmp = fsutil::stage(&self.dir.join(&entry.file), |f| {
            std::io::Write::write_all(f, &armored)
        })?;
        let record = journal::Record {
            sha256: journal::digest(&armored),
            entry: entry.clone(),
        };
        Ok((tmp, record))
    }

    /// Journals `record` (durably), renames its file into place and indexes it in memory.
    fn commit(
        &self,
        index: &mut Index,
        tmp: tempfile::NamedTempFile,
        record: &journal::Record,
    ) -> Result<()> {
        self.journal_appender().append(&self.dir, record)?;
        fsutil::persist(tmp, &self.dir.join(&record.entry.file))?;
        match self
            .batch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            Some(batch) => index.put_active_with(&record.entry, &mut batch.active),
            None => index.put_active(&record.entry),
        }
        Ok(())
    }

    /// Writes the index in memory to `index.yaml`, then drops the journal it now holds.
    fn checkpoint(&self, index: &mut Index) -> Result<()> {
        index.save(&self.dir)?;
        journal::remove(&self.dir)?;
        self.journal_appender().close();
        Ok(())
    }

    /// Opens the store for writing many keys (apply): locks the secrets dir against other
    /// processes until [`SecretStore::end_batch`], and reconciles the store: the journal of
    /// an interrupted run is folded into `index.yaml` (records whose file never arrived are
    /// dropped) and temp files of interrupted writes are removed. Needs no identity.
    ///
    /// In the batch, [`SecretStore::store`] appends to the journal instead of rewriting
    /// `index.yaml`. If the secrets dir does not exist yet, there is nothing to reconcile
    /// or lock.
    pub fn begin_batch(&self) -> Result<Reconciled> {
        let mut index = self.lock();
        if !self.dir.is_dir() {
            *self.batch.lock().unwrap_or_else(|p| p.into_inner()) = Some(Batch {
                _dir_lock: None,
                active: index.active_files(),
            });
            return Ok(Reconciled::default());
        }
        // A run that holds the dir already ([`SecretStore::hold`]) does not lock it again.
        let (dir_lock, folded) = self.lock_and_fold(&mut index)?;
        let (found, temps) = list_files(&self.dir)?;
        for t in &temps {
            let path = self.dir.join(t);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fsutil::not_writable(&self.dir, e)),
            }
            tracing::info!("removed `{}`, left by an interrupted write", path.display());
        }
        let indexed: HashSet<&str> = index.keys.iter().map(|e| e.file.as_str()).collect();
        let unindexed: Vec<String> = found
            .into_iter()
            .filter(|f| !indexed.contains(f.as_str()))
            .collect();
        *self.batch.lock().unwrap_or_else(|p| p.into_inner()) = Some(Batch {
            _dir_lock: dir_lock,
            active: index.active_files(),
        });
        Ok(Reconciled {
            folded,
            temps_removed: temps,
            unindexed,
        })
    }

    /// Ends a batch: folds the journal into `index.yaml` and unlocks the secrets dir. Should
    /// the process die before, the journal holds every stored key and the next run folds it.
    pub fn end_batch(&self) -> Result<()> {
        let mut index = self.lock();
        let result = if self.dir.join(journal::JOURNAL_FILE).exists() {
            self.checkpoint(&mut index)
        } else {
            Ok(())
        };
        *self.batch.lock().unwrap_or_else(|p| p.into_inner()) = None;
        result
    }

    /// Encrypts and writes one file (relative path) atomically; not journaled (the caller
    /// holds the store for writing and the index already describes the file).
    pub(super) fn write_file(&self, file: &str, cred: &StoredCredential) -> Result<()> {
        let armored = self.encrypt(cred)?;
        fsutil::write_bytes_atomic(&self.dir.join(file), &armored)
    }

    fn encrypt(&self, cred: &StoredCredential) -> Result<Vec<u8>> {
        let recipients = self.recipients_for_writing()?;
        let plain = crypto::encode_doc(
            &cred.consumer_key,
            &cred.consumer_secret,
            cred.issued_at,
            cred.expires_at,
        );
        crypto::encrypt_armored(&recipients, &plain)
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
            journal::load(&self.dir).map(|i| i.keys.len()).unwrap_or(0)
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

    /// Deletes the files and index entries of `entries` with one rewrite of the index
    /// (first, so a crash leaves at worst unindexed files).
    pub(super) fn remove_many_locked(
        &self,
        index: &mut Index,
        entries: &[IndexEntry],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let by_file: std::collections::HashMap<&str, &IndexEntry> =
            entries.iter().map(|e| (e.file.as_str(), e)).collect();
        let mut next = index.clone();
        next.keys
            .retain(|e| by_file.get(e.file.as_str()).is_none_or(|g| *g != e));
        next.save(&self.dir)?;
        *index = next;
        let mut dirs = std::collections::BTreeSet::new();
        for entry in entries {
            let path = self.dir.join(&entry.file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fsutil::not_writable(path.parent().unwrap_or(&self.dir), e)),
            }
            if let Some(parent) = path.parent() {
                dirs.insert(parent.to_path_buf());
            }
            tracing::info!(key = %entry.address(), "removed stored key");
        }
        for d in dirs {
            let _ = fsutil::sync_dir(&d);
        }
        Ok(())
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
        let (found, temps) = list_files(&self.dir)?;
        let mut c = Consistency {
            temp_files: temps,
            ..Consistency::default()
        };
        let on_disk: HashSet<&str> = found.iter().map(String::as_str).collect();
        for e in &index.keys {
            if !on_disk.contains(e.file.as_str()) {
                c.missing_files.push(e.clone());
            }
        }
        let indexed: HashSet<&str> = index.keys.iter().map(|e| e.file.as_str()).collect();
        c.unindexed_files = found
            .iter()
            .filter(|f| !indexed.contains(f.as_str()))
            .cloned()
            .collect();
        // Each address with more than one active entry, once, in index order.
        let mut active: HashMap<String, usize> = HashMap::new();
        for e in index.keys.iter().filter(|e| e.state == KeyState::Active) {
            let seen = active.entry(e.address()).or_default();
            *seen += 1;
            if *seen == 2 {
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
/// The key files (`.age`) and leftover temporary files under `dir`, relative to it with `/`
/// separators, each list sorted. A missing `dir` holds none.
fn list_files(dir: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let (mut files, mut temps) = (Vec::new(), Vec::new());
    walk(dir, "", &mut files, &mut temps)?;
    // Sorted once here: sorting in `walk` would sort the whole list again per directory.
    files.sort_unstable();
    temps.sort_unstable();
    Ok((files, temps))
}

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

/// Says what folding a journal recovered: once, at the store's opening for writing.
fn log_folded(dir: &Path, folded: &Folded) {
    if folded.applied > 0 {
        tracing::info!(
            "indexed {} key(s) stored by an earlier run that ended before writing `{}`",
            folded.applied,
            dir.join(super::index::INDEX_FILE).display()
        );
    }
    for f in &folded.dropped {
        tracing::debug!("dropped the journal record of `{f}`: its write never completed");
    }
    if folded.damaged > 0 {
        tracing::debug!(
            "ignored {} cut-short line(s) of `{}`",
            folded.damaged,
            dir.join(journal::JOURNAL_FILE).display()
        );
    }
}
