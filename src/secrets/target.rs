//! One store per target: each target's keys live in their own directory below `secrets.dir`
//! (`<secrets.dir>/<org>/`), which records the target it belongs to in `target.yaml`
//! (backend, where: URL or registry file, org). A store is never used with another target;
//! a store of the earlier, shared layout (keys directly below `secrets.dir`) moves into its
//! target's directory on first use.

use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::index::INDEX_FILE;
use crate::error::Hinted;
pub use crate::target::TargetRecord;

/// The file in a target's store that names its target.
pub const TARGET_FILE: &str = "target.yaml";

/// The first line of every [`TARGET_FILE`].
const TARGET_MARK: &str = "# The target whose keys this store holds";

/// Whether `dir` is a secrets store registrar wrote (its index or its target record), which
/// config loading must never read.
pub fn is_store_dir(dir: &Path) -> bool {
    use std::io::Read;
    let marked = |file: PathBuf, mark: &str| {
        let mut head = vec![0u8; mark.len()];
        std::fs::File::open(file)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok_and(|()| head == mark.as_bytes())
    };
    super::index::is_index_file(&dir.join(INDEX_FILE)) || marked(dir.join(TARGET_FILE), TARGET_MARK)
}

/// The directory of `org`'s store below `root` (`secrets.dir`).
pub fn store_dir(root: &Path, org: &str) -> PathBuf {
    root.join(org)
}

/// What [`claim`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The store is this target's (or new).
    Ready,
    /// A store of the shared layout was moved into the target's directory.
    Migrated {
        /// From.
        from: PathBuf,
        /// To.
        to: PathBuf,
    },
}

/// Makes `dir` (below `root`) the store of `target` before it is written: migrates a store of
/// the shared layout found directly in `root`, records the target in a new store, and refuses
/// a store recorded for another target, naming both.
pub fn claim(root: &Path, dir: &Path, target: &TargetRecord) -> Result<Claim> {
    let claim = migrate_shared(root, dir)?;
    check(dir, target)?;
    let file = dir.join(TARGET_FILE);
    if !file.exists() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Create {
            path: dir.to_path_buf(),
            source,
        })?;
        let text = format!(
            "{TARGET_MARK}: written by registrar, do not edit.\n{}",
            serde_yaml::to_string(target).unwrap_or_default()
        );
        super::fsutil::write_bytes_atomic(&file, text.as_bytes())?;
    }
    Ok(claim)
}

/// Moves a store of the shared layout found directly in `root` into `dir`, if `dir` has no
/// store yet.
pub fn migrate_shared(root: &Path, dir: &Path) -> Result<Claim> {
    if root.join(INDEX_FILE).is_file() && !dir.join(INDEX_FILE).exists() {
        migrate(root, dir)?;
        return Ok(Claim::Migrated {
            from: root.to_path_buf(),
            to: dir.to_path_buf(),
        });
    }
    Ok(Claim::Ready)
}

/// Refuses a store recorded for another target than `target` (a store without a record, or
/// none at all, passes).
pub fn check(dir: &Path, target: &TargetRecord) -> Result<()> {
    let file = dir.join(TARGET_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    let recorded: TargetRecord = serde_yaml::from_str(&text).map_err(|_| Error::OtherTarget {
        path: dir.to_path_buf(),
        hinted: Hinted::new(
            format!(
                "`{}` is damaged: it should name the store's target",
                file.display()
            ),
            "restore it from git, or delete it to let the next apply record the target again",
        ),
    })?;
    if recorded == *target {
        return Ok(());
    }
    Err(Error::OtherTarget {
        path: dir.to_path_buf(),
        hinted: Hinted::new(
            format!(
                "the secrets store `{}` belongs to {recorded}, not to {target}",
                dir.display()
            ),
            "give each target its own `secrets.dir` or org, or use the store with the target it belongs to",
        ),
    })
}

/// Moves everything of a shared-layout store in `root` (its index, journal, key directories
/// and leftovers) into `dir`, leaving other targets' stores where they are.
fn migrate(root: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Create {
        path: dir.to_path_buf(),
        source,
    })?;
    let entries = std::fs::read_dir(root).map_err(|source| Error::List {
        path: root.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let from = entry.path();
        let is_store = from.join(TARGET_FILE).exists() || from.join(INDEX_FILE).exists();
        if from == dir || (from.is_dir() && is_store) {
            continue;
        }
        let to = dir.join(entry.file_name());
        std::fs::rename(&from, &to).map_err(|source| Error::Move { from, to, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(org: &str) -> TargetRecord {
        TargetRecord {
            backend: "apigee".into(),
            location: "https://apigee.googleapis.com".into(),
            org: org.into(),
        }
    }

    #[test]
    fn a_store_is_claimed_once_and_refused_to_another_target() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let staging = store_dir(root, "acme-staging");
        assert_eq!(
            claim(root, &staging, &target("acme-staging")).unwrap(),
            Claim::Ready
        );
        assert!(staging.join(TARGET_FILE).is_file());
        assert!(is_store_dir(&staging) && !is_store_dir(root));
        assert_eq!(
            claim(root, &staging, &target("acme-staging")).unwrap(),
            Claim::Ready
        );
        let err = claim(root, &staging, &target("acme-prod")).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("org `acme-staging`") && shown.contains("org `acme-prod`"),
            "{shown}"
        );
        // Another org gets its own store beside it.
        let prod = store_dir(root, "acme-prod");
        assert_eq!(
            claim(root, &prod, &target("acme-prod")).unwrap(),
            Claim::Ready
        );
    }

    #[test]
    fn a_shared_layout_store_moves_into_its_target_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let other = store_dir(root, "other-org");
        claim(root, &other, &target("other-org")).unwrap();
        std::fs::write(root.join(INDEX_FILE), "version: 1\n").unwrap();
        std::fs::create_dir_all(root.join("alice@example.com/web")).unwrap();
        std::fs::write(root.join("alice@example.com/web/default.age"), "x").unwrap();
        let dir = store_dir(root, "local");
        let got = claim(root, &dir, &target("local")).unwrap();
        assert!(matches!(got, Claim::Migrated { .. }), "{got:?}");
        assert!(dir.join("alice@example.com/web/default.age").is_file());
        assert!(dir.join(INDEX_FILE).is_file() && !root.join(INDEX_FILE).exists());
        assert!(other.join(TARGET_FILE).is_file(), "other stores stay");
    }
}
