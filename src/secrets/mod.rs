//! The age-encrypted store of issued keys and secrets, and the `secrets` / `rotate` commands.
//!
//! Layout of `secrets.dir`:
//!
//! ```text
//! <secrets.dir>/
//!   index.yaml                                      plaintext index, no secret material
//!   <developer>/<app>/<id>.age                      the active key of credential <id>
//!   <developer>/<app>/<id>.retiring-<issuedAt>.age  an old key during a rotation's overlap
//! ```
//!
//! Each `.age` file is ASCII-armored age, encrypted to every configured recipient, and
//! decrypts (e.g. with `age -d -i IDENTITY FILE`) to a JSON document
//! `{"consumerKey", "consumerSecret", "issuedAt", "expiresAt"}` (milliseconds since the
//! epoch; `expiresAt` null for never). See [`index`] for `index.yaml` and [`rotation`] for
//! how rotations are recorded.
//!
//! The apply engine uses [`SecretStore`]: [`SecretStore::open`], [`SecretStore::store`]
//! after minting a key (durable before it returns), [`SecretStore::drift`] when planning,
//! [`SecretStore::rotations`] / [`SecretStore::complete_rotation`] /
//! [`SecretStore::retiring_due`] / [`SecretStore::remove_retiring`] for rotations, and
//! [`SecretStore::remove`] after deleting a key. Secret values only ever travel as
//! [`crate::model::Secret`].

pub mod crypto;
pub mod drift;
pub mod fsutil;
pub mod index;
pub mod rotation;
pub mod store;

#[cfg(test)]
mod tests;

use std::process::ExitCode;

pub use crypto::{Identity, Recipient};
pub use drift::{Drift, RemoteKey};
pub use index::{Index, IndexEntry, KeyState, RotationRequest};
pub use rotation::RotationOutcome;
pub use store::{Consistency, LOCAL_IDENTITY, SecretStore, StoredCredential};

use crate::cli::{RotateArgs, SecretsCommand};

/// Runs a `registrar secrets` subcommand.
pub fn cmd_secrets(_cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`secrets` is not available in this build yet")
}

/// Runs `registrar rotate`.
pub fn cmd_rotate(_args: RotateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rotate` is not available in this build yet")
}
