//! age encryption for the store: recipients (public keys, for writing), identities (private
//! keys, for reading), the local identity generated when no recipients are configured, and
//! the plaintext document inside each file.
//!
//! Plaintext only ever lives in [`Zeroizing`] buffers allocated at their final size (so no
//! reallocation leaves a copy behind) or in [`Secret`] values.

use std::fmt;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::error::{Error, Result};
use crate::error::Hinted;
use crate::model::Secret;

/// What `secrets.recipients` accepts, for error messages.
pub const ACCEPTED_RECIPIENTS: &str =
    "an age X25519 public key (`age1…`) or an SSH public key (`ssh-ed25519 AAAA…`)";

/// One parsed recipient: a public key files are encrypted to.
#[derive(Clone)]
pub enum Recipient {
    /// An age X25519 public key (`age1…`).
    X25519(age::x25519::Recipient),
    /// An `ssh-ed25519` public key.
    SshEd25519(age::ssh::Recipient),
}

impl Recipient {
    /// Parses one `secrets.recipients` entry. `position` (0-based) names the entry in errors.
    ///
    /// Errors name the entry and the accepted formats; an entry that looks like a *secret*
    /// key is not echoed back.
    pub fn parse(entry: &str, position: usize) -> Result<Recipient> {
        let entry = entry.trim();
        let n = position + 1;
        let bad = |hinted| Error::BadRecipient { entry: n, hinted };
        if entry.starts_with("AGE-SECRET-KEY-") || entry.contains("PRIVATE KEY") {
            return Err(bad(Hinted::new(
                format!("`secrets.recipients` entry {n} is a private key, not a public key"),
                "remove it from the config now (it may be in git history: replace that identity); \
                 put its public key there instead (`age-keygen -y FILE` or the `.pub` file)",
            )));
        }
        let shown = abbreviate(entry);
        if entry.starts_with("age1") {
            return entry
                .parse::<age::x25519::Recipient>()
                .map(Recipient::X25519)
                .map_err(|e| {
                    bad(Hinted::new(
                        format!("`secrets.recipients` entry {n} (`{shown}`) is not a valid age public key: {e}"),
                        format!("each recipient must be {ACCEPTED_RECIPIENTS}; `age-keygen -y IDENTITY` prints the public key"),
                    ))
                });
        }
        if entry.starts_with("ssh-ed25519 ") {
            return entry
                .parse::<age::ssh::Recipient>()
                .map(Recipient::SshEd25519)
                .map_err(|_| {
                    bad(Hinted::new(
                        format!("`secrets.recipients` entry {n} (`{shown}`) is not a valid ssh-ed25519 public key"),
                        format!("each recipient must be {ACCEPTED_RECIPIENTS}; copy the whole line of the `.pub` file"),
                    ))
                });
        }
        Err(bad(Hinted::new(
            format!("`secrets.recipients` entry {n} (`{shown}`) has an unknown format"),
            format!("each recipient must be {ACCEPTED_RECIPIENTS}"),
        )))
    }

    fn as_age(&self) -> &dyn age::Recipient {
        match self {
            Recipient::X25519(r) => r,
            Recipient::SshEd25519(r) => r,
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::X25519(r) => write!(f, "{r}"),
            Recipient::SshEd25519(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

/// Parses every configured recipient; the first bad entry is an error.
pub fn parse_recipients(entries: &[String]) -> Result<Vec<Recipient>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| Recipient::parse(e, i))
        .collect()
}

/// First 24 characters of a (public) value, for error messages.
fn abbreviate(s: &str) -> String {
    let mut out: String = s.chars().take(24).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Encrypts `plaintext` to every recipient as an ASCII-armored age file.
pub fn encrypt_armored(recipients: &[Recipient], plaintext: &[u8]) -> Result<Vec<u8>> {
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_age()))
        .map_err(Error::Encrypt)?;
    let mut out = Vec::with_capacity(plaintext.len() * 2 + 512);
    // Writes to memory: these fail only if age itself does.
    let io = |e: std::io::Error| Error::Encrypt(e.into());
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(io)?;
    let mut writer = encryptor.wrap_output(armor).map_err(io)?;
    writer.write_all(plaintext).map_err(io)?;
    writer.finish().and_then(|w| w.finish()).map_err(io)?;
    Ok(out)
}

/// Why a file could not be decrypted.
#[derive(Debug)]
pub enum DecryptFailure {
    /// The identity is not one of the file's recipients.
    WrongIdentity,
    /// The file is not a valid (armored or binary) age file, or was altered.
    Corrupted(String),
}

/// Decrypts an age file (armored or binary) into a zeroizing buffer.
pub fn decrypt(
    identity: &Identity,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptFailure> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(ciphertext))
        .map_err(|e| DecryptFailure::Corrupted(e.to_string()))?;
    let mut reader = decryptor
        .decrypt(
            identity
                .keys
                .iter()
                .map(|k| k.as_ref() as &dyn age::Identity),
        )
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => DecryptFailure::WrongIdentity,
            other => DecryptFailure::Corrupted(other.to_string()),
        })?;
    // Plaintext is never longer than the ciphertext: allocate once, never reallocate.
    let mut plain = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader
        .read_to_end(&mut plain)
        .map_err(|e| DecryptFailure::Corrupted(e.to_string()))?;
    Ok(plain)
}

/// Private keys that can decrypt the store, loaded from an identity file: age identities
/// (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes) or an unencrypted OpenSSH ed25519 key.
/// No `Debug` or `Display`.
pub struct Identity {
    keys: Vec<Box<dyn age::Identity>>,
    path: PathBuf,
}

impl Identity {
    /// Loads an identity file. Errors say what to do and never echo the file's content.
    pub fn from_file(path: &Path) -> Result<Identity> {
        let size = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
        // Allocated at the file's size (plus one byte to see EOF) so it never reallocates.
        let mut bytes = Zeroizing::new(Vec::with_capacity(size + 1));
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::IdentityUnreadable {
                path: path.to_path_buf(),
                kind: e.kind(),
                hinted: Hinted::new(
                    format!("cannot read identity file `{}`: {e}", path.display()),
                    "pass an age identity file (`age-keygen -o FILE`) or an unencrypted ssh-ed25519 private key",
                ),
            })?;
        let keys = Self::parse(&bytes).map_err(|why| Error::IdentityInvalid {
            path: path.to_path_buf(),
            hinted: Hinted::new(
                format!("`{}` is not a usable identity file: {why}", path.display()),
                "pass an age identity file (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes) \
                 or an unencrypted ssh-ed25519 private key",
            ),
        })?;
        Ok(Identity {
            keys,
            path: path.to_path_buf(),
        })
    }

    fn parse(bytes: &[u8]) -> Result<Vec<Box<dyn age::Identity>>, String> {
        if let Ok(file) = age::IdentityFile::from_buffer(BufReader::new(bytes))
            && let Ok(ids) = file.into_identities()
            && !ids.is_empty()
        {
            return Ok(ids);
        }
        match age::ssh::Identity::from_buffer(BufReader::new(bytes), None) {
            Ok(age::ssh::Identity::Unencrypted(key)) => {
                Ok(vec![Box::new(age::ssh::Identity::Unencrypted(key))])
            }
            Ok(age::ssh::Identity::Encrypted(_)) => {
                Err("passphrase-protected ssh keys are not supported".into())
            }
            Ok(age::ssh::Identity::Unsupported(_)) => Err("unsupported ssh key type".into()),
            Err(_) => Err("no age identity or ssh private key found".into()),
        }
    }

    /// The file the identity was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Loads the local identity at `path`, generating it first (mode 0600, parent directory
/// created) when it does not exist. Returns its recipient and whether it was just created.
pub fn local_identity(path: &Path) -> Result<(Recipient, bool)> {
    if path.exists() {
        let mut bytes = Zeroizing::new(Vec::new());
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| Error::LocalIdentityUnreadable {
                path: path.to_path_buf(),
                source,
            })?;
        let text = std::str::from_utf8(&bytes).unwrap_or("");
        let key = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .and_then(|l| l.parse::<age::x25519::Identity>().ok())
            .ok_or_else(|| Error::IdentityInvalid {
                path: path.to_path_buf(),
                hinted: Hinted::new(
                    format!(
                        "the local identity `{}` holds no age identity",
                        path.display()
                    ),
                    "restore it, or configure `secrets.recipients` with your public keys",
                ),
            })?;
        return Ok((Recipient::X25519(key.to_public()), false));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        // `.registrar/`: private and git-ignored when created here.
        crate::owner_only::create_dir_all(dir).map_err(|source| Error::Create {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let key = age::x25519::Identity::generate();
    let public = key.to_public();
    let secret = key.to_string();
    let mut text = Zeroizing::new(String::with_capacity(256));
    text.push_str(
        "# created by registrar: the only identity that can decrypt this secrets store\n",
    );
    text.push_str(&format!("# public key: {public}\n"));
    text.push_str(secret.expose_secret());
    text.push('\n');
    let tmp_dir = dir.unwrap_or(Path::new("."));
    let write_err = |source| Error::Write {
        path: tmp_dir.to_path_buf(),
        source,
    };
    // tempfile creates files with mode 0600; `persist_noclobber` keeps a concurrent creator's file.
    let mut tmp = tempfile::Builder::new()
        .prefix(".identity.")
        .suffix(".tmp")
        .tempfile_in(tmp_dir)
        .map_err(write_err)?;
    tmp.write_all(text.as_bytes()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write_err)?;
    }
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            super::fsutil::sync_dir(tmp_dir).map_err(write_err)?;
            Ok((Recipient::X25519(public), true))
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => local_identity(path),
        Err(e) => Err(Error::Create {
            path: path.to_path_buf(),
            source: e.error,
        }),
    }
}

/// The plaintext inside each `.age` file (JSON): `{consumerKey, consumerSecret, issuedAt,
/// expiresAt}`, times in milliseconds since the epoch, `expiresAt` null for never.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DocOut<'a> {
    consumer_key: &'a str,
    consumer_secret: &'a str,
    issued_at: i64,
    expires_at: Option<i64>,
}

#[derive(Deserialize, Zeroize)]
#[serde(rename_all = "camelCase")]
struct DocIn {
    consumer_key: String,
    consumer_secret: String,
    issued_at: i64,
    expires_at: Option<i64>,
}

impl Drop for DocIn {
    fn drop(&mut self) {
        self.zeroize();
    }
}

/// Serializes a credential into a zeroizing buffer sized so that it never reallocates.
pub fn encode_doc(
    consumer_key: &Secret,
    consumer_secret: &Secret,
    issued_at: i64,
    expires_at: Option<i64>,
) -> Zeroizing<Vec<u8>> {
    let (k, s) = (consumer_key.expose(), consumer_secret.expose());
    // JSON escapes at most 6 bytes per input byte; 128 covers field names and numbers.
    let mut buf = Zeroizing::new(Vec::with_capacity(6 * (k.len() + s.len()) + 128));
    let doc = DocOut {
        consumer_key: k,
        consumer_secret: s,
        issued_at,
        expires_at,
    };
    serde_json::to_writer_pretty(&mut *buf, &doc).expect("serializing to memory cannot fail");
    buf.push(b'\n');
    buf
}

/// Parses the plaintext of a file: `(consumer key, secret, issuedAt, expiresAt)`.
/// Errors never include the plaintext.
pub fn decode_doc(plain: &[u8]) -> Result<(Secret, Secret, i64, Option<i64>), String> {
    let doc: DocIn = serde_json::from_slice(plain).map_err(|e| {
        format!(
            "the decrypted content is not a registrar secret document (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    // `String::from(&str)` allocates exactly once; the originals are zeroized on drop.
    Ok((
        Secret::new(String::from(doc.consumer_key.as_str())),
        Secret::new(String::from(doc.consumer_secret.as_str())),
        doc.issued_at,
        doc.expires_at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair() -> (age::x25519::Identity, Recipient) {
        let id = age::x25519::Identity::generate();
        let r = Recipient::X25519(id.to_public());
        (id, r)
    }

    fn identity_of(id: age::x25519::Identity) -> Identity {
        Identity {
            keys: vec![Box::new(id)],
            path: PathBuf::from("test"),
        }
    }

    #[test]
    fn encrypt_decrypt_round_trip_is_armored() {
        let (id, r) = keypair();
        let ct = encrypt_armored(&[r], b"hello").unwrap();
        assert!(ct.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        let pt = decrypt(&identity_of(id), &ct).unwrap();
        assert_eq!(&pt[..], b"hello");
    }

    #[test]
    fn wrong_identity_and_corruption_are_told_apart() {
        let (_, r) = keypair();
        let (other, _) = keypair();
        let ct = encrypt_armored(&[r], b"hello").unwrap();
        let other = identity_of(other);
        assert!(matches!(
            decrypt(&other, &ct),
            Err(DecryptFailure::WrongIdentity)
        ));
        let mut bad = ct.clone();
        let mid = bad.len() / 2;
        bad[mid] = if bad[mid] == b'A' { b'B' } else { b'A' };
        assert!(matches!(
            decrypt(&other, &bad),
            Err(DecryptFailure::Corrupted(_)) | Err(DecryptFailure::WrongIdentity)
        ));
        assert!(matches!(
            decrypt(&other, b"not an age file"),
            Err(DecryptFailure::Corrupted(_))
        ));
    }

    #[test]
    fn recipients_accept_age_and_ssh_ed25519_only() {
        let (_, r) = keypair();
        assert!(Recipient::parse(&r.to_string(), 0).is_ok());
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
        assert!(matches!(
            Recipient::parse(ssh, 0).unwrap(),
            Recipient::SshEd25519(_)
        ));
        let err = Recipient::parse("pgp:0xDEADBEEF", 2).unwrap_err();
        assert!(
            matches!(err, Error::BadRecipient { entry: 3, .. }),
            "{err:?}"
        );
        let text = crate::error::render(&err.into());
        assert!(text.contains("entry 3"), "{text}");
        assert!(text.contains("pgp:0xDEADBEEF"), "{text}");
        assert!(text.contains("age1"), "{text}");
        assert!(text.contains("ssh-ed25519"), "{text}");
        assert!(Recipient::parse("age1notakey", 0).is_err());
        assert!(Recipient::parse("ssh-rsa AAAAB3NzaC1yc2E", 0).is_err());
    }

    #[test]
    fn a_private_key_in_recipients_is_not_echoed() {
        let id = age::x25519::Identity::generate();
        let secret = id.to_string();
        let err = Recipient::parse(secret.expose_secret(), 0).unwrap_err();
        let text = crate::error::render(&err.into());
        assert!(!text.contains(secret.expose_secret()), "{text}");
        assert!(text.contains("private key"), "{text}");
    }

    #[test]
    fn doc_round_trips_and_errors_hide_content() {
        let k = Secret::new("ck\"with\\quotes");
        let s = Secret::new("cs-\u{1}-control");
        let doc = encode_doc(&k, &s, 5, None);
        let (k2, s2, i, e) = decode_doc(&doc).unwrap();
        assert_eq!((k2, s2, i, e), (k, s, 5, None));
        let err = decode_doc(b"{\"consumerKey\": \"leaky-value\"").unwrap_err();
        assert!(!err.contains("leaky-value"), "{err}");
    }

    #[test]
    fn local_identity_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".registrar/identity.txt");
        let (r1, created1) = local_identity(&path).unwrap();
        let (r2, created2) = local_identity(&path).unwrap();
        assert!(created1 && !created2);
        assert_eq!(r1.to_string(), r2.to_string());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let id = Identity::from_file(&path).unwrap();
        let ct = encrypt_armored(&[r1], b"x").unwrap();
        assert_eq!(&decrypt(&id, &ct).unwrap()[..], b"x");
    }
}
