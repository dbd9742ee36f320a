//! Key rotation as recorded in the store.
//!
//! 1. `registrar rotate APP` calls [`SecretStore::request_rotation`]: a [`RotationRequest`]
//!    (credential, overlap, time) lands in `index.yaml` under `rotations:`.
//! 2. The next apply reads [`SecretStore::rotations`], mints a new key for each request,
//!    and calls [`SecretStore::complete_rotation`]. That keeps the old key's file as
//!    `<id>.retiring-<issuedAt>.age` (index state `retiring`, `revokeAfter` = now + overlap),
//!    stores the new key as `<id>.age` (state `active`) and drops the request.
//! 3. Once `revokeAfter` has passed ([`SecretStore::retiring_due`]), apply revokes, then
//!    deletes the old key remotely and calls [`SecretStore::remove_retiring`].
//!
//! At every step each key that exists remotely has exactly one file and one index entry.

use std::time::Duration;

use super::error::{Error, Result};
use super::fsutil;
use super::index::{IndexEntry, KeyState, RotationRequest};
use super::store::{SecretStore, StoredCredential, check_names};
use crate::error::Hinted;

/// What [`SecretStore::complete_rotation`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationOutcome {
    /// The previous active key, now retiring (`None` if none was stored).
    pub retiring: Option<IndexEntry>,
    /// The new active key.
    pub active: IndexEntry,
}

impl SecretStore {
    /// Records that `developer/app/id` must be rotated by the next apply, keeping the old
    /// key valid for `overlap` after the new one is minted. A second request for the same
    /// key replaces the first. Returns the recorded request.
    pub fn request_rotation(
        &self,
        developer: &str,
        app: &str,
        id: &str,
        overlap: Duration,
        now: i64,
    ) -> Result<RotationRequest> {
        check_names(developer, app, id)?;
        let request = RotationRequest {
            developer: developer.to_string(),
            app: app.to_string(),
            id: id.to_string(),
            overlap: crate::units::show_ms(overlap.as_millis() as u64),
            requested_at: now,
        };
        let mut index = self.write_lock()?;
        let mut next = index.clone();
        next.rotations
            .retain(|r| !(r.developer == developer && r.app == app && r.id == id));
        next.rotations.push(request.clone());
        next.save(&self.dir)?;
        *index = next;
        Ok(request)
    }

    /// Pending rotation requests, sorted by developer, app, id.
    pub fn rotations(&self) -> Vec<RotationRequest> {
        self.lock().rotations.clone()
    }

    /// Drops the pending request of `developer/app/id`; returns whether there was one.
    pub fn cancel_rotation(&self, developer: &str, app: &str, id: &str) -> Result<bool> {
        let mut index = self.write_lock()?;
        if index.rotation(developer, app, id).is_none() {
            return Ok(false);
        }
        let mut next = index.clone();
        next.rotations
            .retain(|r| !(r.developer == developer && r.app == app && r.id == id));
        next.save(&self.dir)?;
        *index = next;
        Ok(true)
    }

    /// Turns the active key of `developer/app/id` into a retiring one: its file is copied
    /// to `<id>.retiring-<issuedAt>.age`, the index entry points there with state
    /// `retiring` and `revokeAfter`, then `<id>.age` is removed. Returns the retiring
    /// entry, or `None` when no active key is stored.
    pub fn mark_retiring(
        &self,
        developer: &str,
        app: &str,
        id: &str,
        revoke_after: i64,
    ) -> Result<Option<IndexEntry>> {
        let mut index = self.write_lock()?;
        let Some(active) = index.active(developer, app, id).cloned() else {
            return Ok(None);
        };
        let suffix = format!(".retiring-{}", active.issued_at);
        let retiring_file = super::store::key_file(developer, app, id, &suffix);
        if index.keys.iter().any(|e| e.file == retiring_file) {
            return Err(Error::RotationInProgress {
                hinted: Hinted::new(
                    format!("`{retiring_file}` is already a retiring key"),
                    "finish the earlier rotation first (revoke and delete the old key), then retry",
                ),
                file: retiring_file,
            });
        }
        let active_path = self.dir.join(&active.file);
        let bytes = std::fs::read(&active_path).map_err(|e| Error::RotationUnreadable {
            hinted: Hinted::new(
                format!("cannot read `{}`: {e}", active_path.display()),
                "restore it from git before rotating",
            ),
            kind: e.kind(),
            path: active_path.clone(),
        })?;
        // Copy first: until the index names the copy, the original stays where it is named.
        fsutil::write_bytes_atomic(&self.dir.join(&retiring_file), &bytes)?;
        let retiring = IndexEntry {
            state: KeyState::Retiring,
            revoke_after: Some(revoke_after),
            file: retiring_file,
            ..active.clone()
        };
        let mut next = index.clone();
        next.keys.retain(|e| *e != active);
        next.keys.push(retiring.clone());
        next.save(&self.dir)?;
        *index = next;
        let old = active_path;
        match std::fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fsutil::not_writable(&self.dir, e)),
        }
        if let Some(parent) = old.parent() {
            fsutil::sync_dir(parent).map_err(|e| fsutil::not_writable(parent, e))?;
        }
        tracing::info!(key = %retiring.address(), revoke_after, "key is retiring");
        Ok(Some(retiring))
    }

    /// Carries out the pending request of `developer/app/id` after apply minted `new`:
    /// the current key becomes retiring until `now + overlap`, `new` becomes active, and
    /// the request is dropped. Fails if no rotation was requested.
    pub fn complete_rotation(
        &self,
        developer: &str,
        app: &str,
        id: &str,
        new: &StoredCredential,
        now: i64,
    ) -> Result<RotationOutcome> {
        let request = self
            .write_lock()?
            .rotation(developer, app, id)
            .cloned()
            .ok_or_else(|| Error::RotationNotRequested {
                address: format!("{developer}/{app}/{id}"),
            })?;
        let revoke_after = now.saturating_add(request.overlap_ms()?);
        let retiring = self.mark_retiring(developer, app, id, revoke_after)?;
        let active = self.store(developer, app, id, new)?;
        self.cancel_rotation(developer, app, id)?;
        Ok(RotationOutcome { retiring, active })
    }

    /// Every retiring key, due or not.
    pub fn retiring(&self) -> Vec<IndexEntry> {
        self.lock()
            .keys
            .iter()
            .filter(|e| e.state == KeyState::Retiring)
            .cloned()
            .collect()
    }

    /// Retiring keys whose overlap has passed at `now`: apply may revoke and delete them.
    pub fn retiring_due(&self, now: i64) -> Vec<IndexEntry> {
        self.retiring()
            .into_iter()
            .filter(|e| e.revoke_after.is_some_and(|t| t <= now))
            .collect()
    }

    /// Forgets a retiring key once it was deleted remotely: index entry, then file.
    /// Returns whether it was stored.
    pub fn remove_retiring(&self, entry: &IndexEntry) -> Result<bool> {
        let mut index = self.write_lock()?;
        let Some(found) = index
            .keys
            .iter()
            .find(|e| e.state == KeyState::Retiring && e.file == entry.file)
            .cloned()
        else {
            return Ok(false);
        };
        self.remove_locked(&mut index, &found)?;
        Ok(true)
    }
}
