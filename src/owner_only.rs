//! Files and directories only their owner may read: registrar's working directory
//! `.registrar/` (the local identity, the local registry) and the SQLite files that hold
//! consumer keys and secrets as the platform does (`.registrar/registry.db`, any
//! `serve --db` file, and their `-wal` and `-shm`).
//!
//! A leaf: it imports nothing of registrar's. On other systems than Unix, modes do not
//! exist and these functions only create what is missing.

use std::io;
use std::path::{Path, PathBuf};

/// The name of registrar's working directory.
pub const REGISTRAR_DIR: &str = ".registrar";

/// What a `.registrar/` registrar creates ignores: everything in it.
pub const GITIGNORE: &str = "*\n";

/// The mode of files that hold secrets.
pub const FILE_MODE: u32 = 0o600;

/// The mode of a `.registrar/` registrar creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents. Each directory named `.registrar` that this call
/// creates is made [`DIR_MODE`] and given a `.gitignore` of `*`, so that `git add -A` in a
/// config repository never picks up the local identity or the local registry. Directories
/// that exist are left as they are.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut missing: Vec<&Path> = Vec::new();
    for d in dir.ancestors().filter(|d| !d.as_os_str().is_empty()) {
        if d.is_dir() {
            break;
        }
        missing.push(d);
    }
    for d in missing.into_iter().rev() {
        let private = d.file_name().is_some_and(|n| n == REGISTRAR_DIR);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            if private {
                builder.mode(DIR_MODE);
            }
        }
        match builder.create(d) {
            Ok(()) if private => write_new(&d.join(".gitignore"), GITIGNORE.as_bytes())?,
            Ok(()) => {}
            // Created meanwhile by someone else: theirs to set up.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creates `path` as an empty file of mode [`FILE_MODE`] (whatever the umask) when it does
/// not exist; tightens it (see [`tighten`]) when it does.
pub fn create_file(path: &Path) -> io::Result<()> {
    match write_new(path, b"") {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(path).map(|_| ()),
        other => other,
    }
}

/// Sets a file that exists and that others than its owner may read or write to
/// [`FILE_MODE`], with a warning naming it; returns whether it did. A missing file is
/// left missing.
pub fn tighten(path: &Path) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if mode & 0o077 == 0 {
            return Ok(false);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))?;
        tracing::warn!(
            "`{}` was accessible to users other than its owner (mode {mode:04o}); set it to {FILE_MODE:04o}",
            path.display()
        );
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}

/// The files SQLite keeps beside a database in WAL mode: `-wal` and `-shm`.
pub fn sqlite_sidecars(db: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Creates `path` with `bytes`, mode [`FILE_MODE`]; `AlreadyExists` if it exists.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_created_registrar_dir_is_private_and_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/.registrar");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        assert_eq!(
            std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
            "*\n"
        );
        assert!(!tmp.path().join("a/.gitignore").exists());
        // An existing directory is left alone.
        std::fs::remove_file(dir.join(".gitignore")).unwrap();
        create_dir_all(&dir).unwrap();
        assert!(!dir.join(".gitignore").exists());
    }

    #[test]
    fn files_are_created_0600_and_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("r.db");
        create_file(&f).unwrap();
        assert_eq!(mode(&f), FILE_MODE);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(tighten(&f).unwrap());
        assert_eq!(mode(&f), FILE_MODE);
        assert!(!tighten(&f).unwrap());
        assert!(!tighten(&tmp.path().join("missing")).unwrap());
        let [wal, shm] = sqlite_sidecars(&f);
        assert!(wal.ends_with("r.db-wal") && shm.ends_with("r.db-shm"));
    }
}
