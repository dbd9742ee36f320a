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

mod commands;
pub mod crypto;
pub mod drift;
pub mod fsutil;
pub mod index;
pub mod rotation;
pub mod store;
mod values;

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
pub fn cmd_secrets(cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SecretsCommand::List(args) => commands::cmd_list(&args),
        SecretsCommand::Show(args) => values::cmd_show(&args),
        SecretsCommand::Set(args) => values::cmd_set(&args),
        SecretsCommand::Rekey(args) => commands::cmd_rekey(&args),
    }
}

/// Runs `registrar rotate`: records rotation requests in the store for the next apply.
pub fn cmd_rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    commands::cmd_rotate(&args)
}
