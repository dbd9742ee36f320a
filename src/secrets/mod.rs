//! The age-encrypted store of issued keys and secrets, and its bookkeeping for plan and apply
//! ([`ledger`]). The `secrets` and `rotate` commands are in `commands/secrets/`.
//!
//! Layout of `secrets.dir`:
//!
//! ```text
//! <secrets.dir>/
//!   index.yaml                                      plaintext index, no secret material
//!   index.journal                                   keys stored since index.yaml was written
//!   applied.json                                    what apply last set on each key (hashes)
//!   <developer>/<app>/<id>.age                      the active key of credential <id>
//!   <developer>/<app>/<id>.retiring-<issuedAt>.age  an old key during a rotation's overlap
//! ```
//!
//! Each `.age` file is ASCII-armored age, encrypted to every configured recipient, and
//! decrypts (e.g. with `age -d -i IDENTITY FILE`) to a JSON document
//! `{"consumerKey", "consumerSecret", "issuedAt", "expiresAt"}` (milliseconds since the
//! epoch; `expiresAt` null for never). See [`index`] for `index.yaml`, [`journal`] for
//! `index.journal` (how storing a key stays O(1) and crash-safe), and [`rotation`] for how
//! rotations are recorded.
//!
//! The apply engine uses [`SecretStore`]: [`SecretStore::open`], [`SecretStore::store`]
//! after minting a key (durable before it returns), [`SecretStore::drift`] when planning,
//! [`SecretStore::rotations`] / [`SecretStore::complete_rotation`] /
//! [`SecretStore::retiring_due`] / [`SecretStore::remove_retiring`] for rotations, and
//! [`SecretStore::remove`] after deleting a key. Secret values only ever travel as
//! [`crate::model::Secret`].
//!
//! Operations fail with a typed [`Error`] (e.g. [`Error::WrongIdentity`],
//! [`Error::IndexCorrupted`], [`Error::NotWritable`]); variants that come with advice carry
//! it as a [`crate::error::Hinted`] source, which the CLI prints on a `hint:` line.
//!
//! ```
//! use registrar::model::Secret;
//! use registrar::secrets::{RemoteKey, SecretStore, StoredCredential};
//!
//! # fn main() -> anyhow::Result<()> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("secrets");
//! # let recipient = age::x25519::Identity::generate().to_public().to_string();
//! // `dir` and `recipients` come from the config (`secrets.dir`, `secrets.recipients`).
//! let store = SecretStore::open(&dir, &[recipient])?;
//!
//! // After minting a key: durable on disk before `store` returns. No identity needed.
//! let minted = StoredCredential {
//!     consumer_key: Secret::new("issued-consumer-key"),
//!     consumer_secret: Secret::new("issued-consumer-secret"),
//!     issued_at: 1_767_225_600_000,
//!     expires_at: None,
//! };
//! let entry = store.store("alice@example.com", "checkout-web", "default", &minted)?;
//! assert_eq!(entry.file, "alice@example.com/checkout-web/default.age");
//!
//! // When planning: fingerprints of the remote keys against the index, no decryption.
//! let remote = [RemoteKey {
//!     consumer_key_fingerprint: minted.consumer_key.fingerprint(),
//!     consumer_secret_fingerprint: minted.consumer_secret.fingerprint(),
//!     id: Some("default".into()),
//! }];
//! assert!(store.drift("alice@example.com", "checkout-web", &remote).is_empty());
//! # Ok(())
//! # }
//! ```

pub mod applied;
pub mod crypto;
pub mod drift;
pub mod error;
pub mod fsutil;
pub mod index;
pub mod journal;
pub mod ledger;
pub mod rotation;
pub mod store;
pub mod target;

#[cfg(test)]
mod tests;

pub use crypto::{Identity, Recipient};
pub use drift::{Drift, RemoteKey};
pub use error::{Error, Result};
pub use index::{Index, IndexEntry, KeyState, RotationRequest};
pub use ledger::{Discrepancy, SecretSink};
pub use rotation::RotationOutcome;
pub use store::{Consistency, LOCAL_IDENTITY, Reconciled, SecretStore, StoredCredential};
