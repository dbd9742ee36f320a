//! `registrar init`: a starter config in a directory: `registry.yaml` (with the schema
//! modeline), `schema/registry.schema.json` beside it (editors check the config offline), and
//! a `.gitignore` that keeps `.registrar/` out of git. Recipients come from `--recipient`, else
//! from the user's public key (`~/.ssh/id_ed25519.pub`, or the `# public key:` line of an age
//! identity file). It never overwrites a file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::InitArgs;
use crate::error::hinted;
use crate::secrets::crypto::Recipient;

/// Where a public key of the user may be, in order: an ssh-ed25519 key, then age identities
/// (whose `# public key:` comment is read; the private key is not).
const KEY_FILES: [&str; 3] = [
    ".ssh/id_ed25519.pub",
    ".config/sops/age/keys.txt",
    ".config/age/keys.txt",
];

/// Runs `registrar init`.
pub fn cmd_init(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    let config = dir.join("registry.yaml");
    let schema = dir.join("schema").join("registry.schema.json");
    if let Some(existing) = [&config, &schema].into_iter().find(|p| p.exists()) {
        return Err(hinted(
            format!(
                "`{}` exists; init never overwrites a file",
                existing.display()
            ),
            "run `registrar init` in another directory (`--dir DIR`), or remove the file first",
        ));
    }
    let (recipients, from) = match args.recipients.as_slice() {
        [] => match own_public_key(std::env::var_os("HOME").map(PathBuf::from).as_deref()) {
            Some((key, file)) => (vec![key], Some(file)),
            None => (Vec::new(), None),
        },
        given => (given.to_vec(), None),
    };
    for (i, r) in recipients.iter().enumerate() {
        Recipient::parse(r, i).map_err(anyhow::Error::new)?;
    }
    let owner = args.owner.clone().unwrap_or_else(|| owner_of(dir));
    std::fs::create_dir_all(schema.parent().unwrap_or(dir))
        .with_context(|| format!("failed to create `{}`", dir.join("schema").display()))?;
    write_new(&schema, crate::config::model::schema_json().as_bytes())?;
    write_new(&config, starter(&owner, &recipients).as_bytes())?;
    let gitignore = add_to_gitignore(dir)?;

    println!("Wrote `{}` and `{}`.", config.display(), schema.display());
    if let Some(g) = gitignore {
        println!("{g}");
    }
    match (from, recipients.is_empty()) {
        (Some(file), _) => println!(
            "Secrets are encrypted to your public key from `{}`; add your team's keys to `secrets.recipients`.",
            file.display()
        ),
        (None, true) => println!(
            "No recipients (no `--recipient`, no ~/.ssh/id_ed25519.pub or age identity found): the first apply generates `.registrar/identity.txt` and encrypts to it."
        ),
        (None, false) => println!(
            "Secrets are encrypted to the {} recipient(s) given.",
            recipients.len()
        ),
    }
    println!(
        "Next: `registrar validate`, then `registrar apply` (the embedded local registry; `backend:` in the file says how to target Apigee)."
    );
    Ok(ExitCode::SUCCESS)
}

/// The user's public key and the file it came from, if there is one.
fn own_public_key(home: Option<&Path>) -> Option<(String, PathBuf)> {
    let home = home?;
    for name in KEY_FILES {
        let path = home.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let key = if name.ends_with(".pub") {
            // `ssh-ed25519 AAAA… comment`: the comment (an email, a host) stays out.
            let mut parts = text.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some("ssh-ed25519"), Some(body)) => Some(format!("ssh-ed25519 {body}")),
                _ => None,
            }
        } else {
            text.lines()
                .find_map(|l| l.trim().strip_prefix("# public key:"))
                .map(|k| k.trim().to_string())
        };
        if let Some(key) = key.filter(|k| Recipient::parse(k, 0).is_ok()) {
            return Some((key, path));
        }
    }
    None
}

/// An owner name from the directory's name (letters, digits and `-`), or `my-team`.
fn owner_of(dir: &Path) -> String {
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('-').to_string();
    if cleaned.is_empty() {
        "my-team".into()
    } else {
        cleaned
    }
}

/// Creates a file that must not exist yet.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("failed to create `{}`", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("failed to write `{}`", path.display()))
}

/// Adds `.registrar/` to the directory's `.gitignore` (creating it); says what it did.
fn add_to_gitignore(dir: &Path) -> anyhow::Result<Option<String>> {
    let path = dir.join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("failed to read `{}`", path.display())),
    };
    let lines = "# registrar's local state (a local registry, a generated identity): never in git.\n\
                 # The secrets store (encrypted keys, index.yaml) is meant to be committed.\n.registrar/\n";
    match existing {
        None => {
            write_new(&path, lines.as_bytes())?;
            Ok(Some(format!("Wrote `{}`.", path.display())))
        }
        Some(text)
            if text.lines().any(|l| {
                matches!(
                    l.trim(),
                    ".registrar" | ".registrar/" | "/.registrar" | "/.registrar/"
                )
            }) =>
        {
            Ok(None)
        }
        Some(text) => {
            let sep = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            std::fs::write(&path, format!("{text}{sep}{lines}"))
                .with_context(|| format!("failed to write `{}`", path.display()))?;
            Ok(Some(format!(
                "Added `.registrar/` to `{}`.",
                path.display()
            )))
        }
    }
}

/// The starter config.
fn starter(owner: &str, recipients: &[String]) -> String {
    let recipients = if recipients.is_empty() {
        "  # No recipients: registrar generates .registrar/identity.txt and encrypts to it.\n  \
         # Add your team's `age1…` or `ssh-ed25519 …` public keys to share the store.\n  \
         recipients: []\n"
            .to_string()
    } else {
        let list: String = recipients.iter().map(|r| format!("    - {r}\n")).collect();
        format!(
            "  # Whoever holds one of these keys can read the issued secrets.\n  recipients:\n{list}"
        )
    };
    format!(
        "# yaml-language-server: $schema=schema/registry.schema.json
#
# OAuth client registrations as code. `registrar validate` checks this file;
# `registrar plan` shows what `registrar apply` would change.
version: 1
owner: {owner}                 # stamped on everything this config creates

secrets:
  dir: secrets                # issued keys, age-encrypted: commit them
{recipients}
# The embedded local registry (.registrar/registry.db). For Apigee X:
#   backend: {{kind: apigee, org: my-org}}        (Google credentials, or APIGEE_TOKEN)
# For Apigee Edge:
#   backend: {{kind: apigee-edge, org: my-org}}   (APIGEE_USERNAME / APIGEE_PASSWORD)
backend:
  kind: local

developers:
  - email: dev@example.com
    firstName: Dana
    lastName: Dev

products:
  - name: hello
    displayName: Hello (read)
    approvalType: auto
    scopes: [hello.read]

apps:
  - name: hello-client
    developer: dev@example.com
    callbackUrl: https://hello.example.com/oauth/callback
    apiProducts: [hello]
    scopes: [hello.read]
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_are_found_without_their_comment() {
        let home = tempfile::tempdir().unwrap();
        assert!(own_public_key(Some(home.path())).is_none());
        std::fs::create_dir_all(home.path().join(".config/age")).unwrap();
        std::fs::write(
            home.path().join(".config/age/keys.txt"),
            "# created: 2026-01-01\n# public key: age12m6efc3r47nn9lhrwe9ejj9zww3sjjmqscwassclckdkntsa64yszrt23m\nAGE-SECRET-KEY-1XXXX\n",
        )
        .unwrap();
        let (key, file) = own_public_key(Some(home.path())).unwrap();
        assert!(
            key.starts_with("age12m6") && file.ends_with("keys.txt"),
            "{key}"
        );
        std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
        std::fs::write(
            home.path().join(".ssh/id_ed25519.pub"),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBKvAjGiIWjfh+wd0K0aZaSMsZ6nvM5sq8GEYNM9Y5GK dana@laptop\n",
        )
        .unwrap();
        let (key, _) = own_public_key(Some(home.path())).unwrap();
        assert_eq!(
            key,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBKvAjGiIWjfh+wd0K0aZaSMsZ6nvM5sq8GEYNM9Y5GK"
        );
    }

    #[test]
    fn owners_come_from_the_directory_name() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("Payments API");
        std::fs::create_dir_all(&named).unwrap();
        assert_eq!(owner_of(&named), "payments-api");
    }
}
