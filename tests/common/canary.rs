//! The canary: a test helper that fails when an issued consumer key or secret shows up
//! where it must not (stdout, stderr, trace logs, plan files, any file under a directory).
//!
//! Collect the values first, from the store after a run ([`Canary::collect_store`]) or the
//! values the test chose itself ([`Canary::add`]); then check every output. Failures name
//! the place and the secret's fingerprint, never the secret.
//!
//! Include it with `#[path = "common/canary.rs"] mod canary;`.
//!
//! ```ignore
//! let mut canary = Canary::new();
//! let out = canary.run("apply", registrar().args(["apply", "--auto-approve"]));
//! canary.collect_store(&dir.join("secrets"), &dir.join(".registrar/identity.txt"));
//! canary.check_output("apply", &out);   // again, now that the issued keys are known
//! canary.scan_dir(&dir);                // plan files, logs, state, the store's plaintext index
//! ```
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;

/// Values shorter than this would match by accident.
const MIN_LEN: usize = 8;

/// The issued values to look for, with their fingerprints (for failure messages).
#[derive(Default)]
pub struct Canary {
    /// (needle, what it is: fingerprint and form)
    needles: Vec<(Vec<u8>, String)>,
}

impl Canary {
    /// An empty canary.
    pub fn new() -> Canary {
        Canary::default()
    }

    /// Number of values (and derived encodings) being looked for.
    pub fn len(&self) -> usize {
        self.needles.len()
    }

    /// Whether nothing is being looked for.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Looks for `value` verbatim and percent-encoded.
    pub fn add(&mut self, value: &str) {
        assert!(
            value.len() >= MIN_LEN,
            "canary values must have at least {MIN_LEN} bytes to be found reliably"
        );
        let fp = registrar::model::fingerprint(value.as_bytes());
        self.push(value.as_bytes().to_vec(), format!("secret {fp}"));
        let encoded =
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        if encoded != value {
            self.push(
                encoded.into_bytes(),
                format!("secret {fp}, percent-encoded"),
            );
        }
    }

    /// Looks for a consumer key and its secret, and for the pair as HTTP Basic credentials
    /// (`base64(key:secret)`, as an OAuth token request sends them).
    pub fn add_pair(&mut self, consumer_key: &str, consumer_secret: &str) {
        self.add(consumer_key);
        self.add(consumer_secret);
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{consumer_key}:{consumer_secret}"));
        let fp = registrar::model::fingerprint(consumer_key.as_bytes());
        self.push(basic.into_bytes(), format!("Basic credentials of key {fp}"));
    }

    fn push(&mut self, needle: Vec<u8>, what: String) {
        if !self.needles.iter().any(|(n, _)| *n == needle) {
            self.needles.push((needle, what));
        }
    }

    /// Decrypts every file of the store in `secrets_dir` with `identity` and looks for all
    /// their keys and secrets. Returns the number of stored keys.
    pub fn collect_store(&mut self, secrets_dir: &Path, identity: &Path) -> usize {
        let store = registrar::secrets::SecretStore::open(secrets_dir, &[])
            .expect("canary: open the secrets store");
        let identity =
            registrar::secrets::Identity::from_file(identity).expect("canary: load the identity");
        let entries = store.entries();
        for e in &entries {
            let cred = store
                .read_entry(&identity, e)
                .unwrap_or_else(|err| panic!("canary: cannot decrypt `{}`: {err:#}", e.file));
            self.add_pair(cred.consumer_key.expose(), cred.consumer_secret.expose());
        }
        entries.len()
    }

    /// Fails, naming `label` and the secret's fingerprint, if `text` holds any value.
    pub fn assert_clean(&self, label: &str, text: impl AsRef<[u8]>) {
        if let Some(what) = self.find(text.as_ref()) {
            panic!("canary: {label} contains an issued {what}");
        }
    }

    /// The first value found in `text`, described without the value.
    fn find(&self, text: &[u8]) -> Option<String> {
        self.needles.iter().find_map(|(needle, what)| {
            text.windows(needle.len())
                .position(|w| w == needle.as_slice())
                .map(|at| format!("{what} (at byte {at})"))
        })
    }

    /// Checks stdout and stderr of a finished command.
    pub fn check_output(&self, label: &str, out: &Output) {
        self.assert_clean(&format!("stdout of {label}"), &out.stdout);
        self.assert_clean(&format!("stderr of {label}"), &out.stderr);
    }

    /// Runs `cmd` with trace-level logs on stderr (`REGISTRAR_LOG=trace`), checks stdout
    /// and stderr, and returns the output for further assertions.
    pub fn run(&self, label: &str, cmd: &mut Command) -> Output {
        let out = cmd
            .env("REGISTRAR_LOG", "trace")
            .env("NO_COLOR", "1")
            .output()
            .expect("canary: run the command");
        self.check_output(label, &out);
        out
    }

    /// Runs `cmd` with trace logs and checks only its stderr: for the one command allowed
    /// to print values on stdout (`secrets show`).
    pub fn run_stdout_allowed(&self, label: &str, cmd: &mut Command) -> Output {
        let out = cmd
            .env("REGISTRAR_LOG", "trace")
            .env("NO_COLOR", "1")
            .output()
            .expect("canary: run the command");
        self.assert_clean(&format!("stderr of {label}"), &out.stderr);
        out
    }

    /// Checks every file under `dir` (recursively): plan files, logs, state, indexes.
    /// Encrypted `.age` files hold no plaintext and pass naturally. Fails naming the file.
    pub fn scan_dir(&self, dir: &Path) {
        self.scan_dir_excluding(dir, &[]);
    }

    /// [`Canary::scan_dir`] of a config's directory, skipping the local registry
    /// (`.registrar/registry.db` and its `-wal`/`-shm`), which is the platform and holds the
    /// issued keys by design.
    pub fn scan_work_dir(&self, dir: &Path) {
        let registry: Vec<std::path::PathBuf> =
            ["registry.db", "registry.db-wal", "registry.db-shm"]
                .iter()
                .map(|f| dir.join(".registrar").join(f))
                .collect();
        let excluded: Vec<&Path> = registry.iter().map(|p| p.as_path()).collect();
        self.scan_dir_excluding(dir, &excluded);
    }

    /// Like [`Canary::scan_dir`], skipping the given files or directories: e.g. the local
    /// backend's `.registrar/registry.db`, which *is* the platform and holds issued keys.
    pub fn scan_dir_excluding(&self, dir: &Path, excluded: &[&Path]) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for item in std::fs::read_dir(&d).expect("canary: list directory") {
                let path = item.expect("canary: list directory").path();
                if excluded.iter().any(|x| path == *x) {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    self.assert_clean(&format!("file `{}`", path.display()), bytes);
                }
            }
        }
    }
}
