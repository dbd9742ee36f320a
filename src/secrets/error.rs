//! [`Error`]: why an operation of the secrets store failed, in variants callers can act on.
//!
//! Errors that come with advice hold a [`Hinted`] as their source: their `Display` is the
//! hinted message, and the CLI ([`crate::error::render`]) prints the advice on its own
//! `hint:` line. Messages never include secret material.

use std::io;
use std::path::PathBuf;

use super::index::INDEX_FILE;
use crate::error::Hinted;

/// The result of an operation of the secrets store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation of the secrets store failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the store (the index, a key's file) cannot be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// A directory of the store cannot be listed.
    #[error("cannot list `{}`", path.display())]
    List {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// Writing into a directory failed (disk full, I/O error, …).
    #[error("cannot write to `{}`", path.display())]
    Write {
        /// The directory written to.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// The store belongs to another target (backend, URL or database, org) than the one
    /// it is used with.
    #[error("{hinted}")]
    OtherTarget {
        /// The store's directory.
        path: PathBuf,
        /// What to do.
        #[source]
        hinted: Hinted,
    },
    /// A file or directory cannot be moved (migrating a store to its target's directory).
    #[error("cannot move `{}` to `{}`", from.display(), to.display())]
    Move {
        /// What was being moved.
        from: PathBuf,
        /// Where to.
        to: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// A file or directory cannot be created.
    #[error("cannot create `{}`", path.display())]
    Create {
        /// What was being created.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// The secrets dir is not writable: permissions, or a read-only file system.
    #[error("{hinted}")]
    NotWritable {
        /// The directory.
        path: PathBuf,
        /// `PermissionDenied` or `ReadOnlyFilesystem`.
        kind: io::ErrorKind,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// `index.yaml` is not a valid index.
    #[error("{hinted}")]
    IndexCorrupted {
        /// The index file.
        path: PathBuf,
        /// Message (with the parser's complaint) and advice.
        #[source]
        hinted: Hinted,
    },
    /// `index.yaml` has a format version this build does not read.
    #[error("{hinted}")]
    IndexVersion {
        /// The index file.
        path: PathBuf,
        /// The version it has.
        version: u32,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// The index cannot be serialized.
    #[error("cannot serialize the index")]
    IndexSerialize(#[source] serde_yaml::Error),
    /// A rotation request in the index has an overlap that is not a duration.
    #[error("invalid overlap `{overlap}` in {INDEX_FILE}")]
    InvalidOverlap {
        /// The overlap as written.
        overlap: String,
        /// Why it is not a duration.
        #[source]
        source: humantime::DurationError,
    },
    /// A developer, app or credential id cannot name a file (empty, control characters).
    #[error("{what} `{}` cannot name a file in the secrets dir", name.escape_debug())]
    InvalidName {
        /// `developer`, `app` or `credential id`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A credential id holds `.retiring-`, which names the files of retiring keys.
    #[error("credential id `{id}` must not contain `.retiring-`")]
    ReservedName {
        /// The credential id.
        id: String,
    },
    /// A `secrets.recipients` entry is not a usable public key (a private key is not echoed).
    #[error("{hinted}")]
    BadRecipient {
        /// Which entry, counting from 1.
        entry: usize,
        /// Message and the accepted formats.
        #[source]
        hinted: Hinted,
    },
    /// Encrypting to the recipients failed.
    #[error("cannot encrypt to the configured recipients")]
    Encrypt(#[source] age::EncryptError),
    /// An identity file cannot be read (missing, permissions).
    #[error("{hinted}")]
    IdentityUnreadable {
        /// The identity file.
        path: PathBuf,
        /// Why (`NotFound`: no such file).
        kind: io::ErrorKind,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// An identity file holds no usable private key.
    #[error("{hinted}")]
    IdentityInvalid {
        /// The identity file.
        path: PathBuf,
        /// Message (what was found instead) and advice.
        #[source]
        hinted: Hinted,
    },
    /// The local identity exists but cannot be read.
    #[error("cannot read the local identity `{}`", path.display())]
    LocalIdentityUnreadable {
        /// The local identity file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// No recipients are configured and the local identity is missing, but the store holds
    /// keys: a new identity would leave them unreadable, so none is generated.
    #[error("{hinted}")]
    LocalIdentityMissing {
        /// The local identity file.
        path: PathBuf,
        /// How many keys the store holds.
        stored: usize,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// The identity is not one of a file's recipients.
    #[error("{hinted}")]
    WrongIdentity {
        /// The identity file.
        identity: PathBuf,
        /// The file it cannot decrypt.
        path: PathBuf,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// The index names a file that does not exist.
    #[error("{hinted}")]
    FileMissing {
        /// The file.
        path: PathBuf,
        /// Message and advice (restore or rotate).
        #[source]
        hinted: Hinted,
    },
    /// A key's file cannot be decrypted or does not hold a registrar secret document.
    #[error("{hinted}")]
    FileCorrupted {
        /// The file.
        path: PathBuf,
        /// Message (without plaintext) and advice (restore or rotate).
        #[source]
        hinted: Hinted,
    },
    /// A key's file decrypts to another key than its index entry describes.
    #[error("{hinted}")]
    FingerprintMismatch {
        /// The file.
        path: PathBuf,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// No active key is stored for a credential.
    #[error("{hinted}")]
    KeyNotFound {
        /// `developer/app/id`.
        address: String,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// A rotation was completed that nobody requested.
    #[error("no rotation of `{address}` was requested")]
    RotationNotRequested {
        /// `developer/app/id`.
        address: String,
    },
    /// The key to retire already has a retiring copy: an earlier rotation is unfinished.
    #[error("{hinted}")]
    RotationInProgress {
        /// The retiring file, relative to the secrets dir.
        file: String,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// The file of the key to retire cannot be read.
    #[error("{hinted}")]
    RotationUnreadable {
        /// The file.
        path: PathBuf,
        /// Why (`NotFound`: no such file).
        kind: io::ErrorKind,
        /// Message and advice.
        #[source]
        hinted: Hinted,
    },
    /// `rekey` stopped before rewriting anything: a file could not be read.
    #[error("nothing was re-encrypted")]
    RekeyAborted(#[source] Box<Error>),
}
