//! Durable, atomic file writes: a temp file in the target's directory, written, fsynced,
//! renamed over the target, then the directory fsynced. A reader sees the old file or the
//! new one, never a mix; after a crash the previous file is intact.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::error::{Error, Result};
use crate::error::Hinted;

/// Prefix of temp files; anything starting with it is debris of an interrupted write.
pub const TEMP_PREFIX: &str = ".registrar-tmp-";

/// Writes `path` atomically and durably with the bytes `write` produces.
///
/// If `write` fails (or the process dies) before the rename, `path` keeps its previous content.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    let tmp = stage(path, write)?;
    persist(tmp, path)?;
    sync_parent(path)
}

/// The first half of an atomic write: a temp file beside `path` holding what `write`
/// produces, fsynced. [`persist`] renames it into place; dropped, it is deleted.
pub fn stage(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(|e| not_writable(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| not_writable(dir, e))?;
    write(tmp.as_file_mut()).map_err(|e| not_writable(dir, e))?;
    tmp.as_file_mut()
        .flush()
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| not_writable(dir, e))?;
    Ok(tmp)
}

/// Renames a [`stage`]d file over `path`. Durable once [`sync_parent`] returns.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    tmp.persist(path)
        .map(drop)
        .map_err(|e| not_writable(parent(path), e.error))
}

/// Fsyncs the directory of `path`, making a rename into it durable.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = parent(path);
    sync_dir(dir).map_err(|e| not_writable(dir, e))
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |f| f.write_all(bytes))
}

/// Fsyncs a directory so that a rename or unlink in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Turns an I/O error while writing into `dir` into an error that says what to do.
pub fn not_writable(dir: &Path, e: io::Error) -> Error {
    match e.kind() {
        kind @ (io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) => {
            Error::NotWritable {
                path: dir.to_path_buf(),
                kind,
                hinted: Hinted::new(
                    format!("secrets dir `{}` is not writable: {e}", dir.display()),
                    "fix its permissions (e.g. `chmod u+w`), or point `secrets.dir` in the config at a writable directory",
                ),
            }
        }
        _ => Error::Write {
            path: dir.to_path_buf(),
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(TEMP_PREFIX))
            .collect()
    }

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/file.age");
        write_bytes_atomic(&path, b"one").unwrap();
        write_bytes_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(temp_files(path.parent().unwrap()).is_empty());
    }

    #[test]
    fn a_failed_write_leaves_the_previous_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.age");
        write_bytes_atomic(&path, b"previous").unwrap();
        let err = write_atomic(&path, |f| {
            f.write_all(b"half of the new con")?;
            Err(io::Error::other("disk on fire"))
        })
        .unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err:?}");
        assert!(format!("{:#}", anyhow::Error::from(err)).contains("disk on fire"));
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        assert!(temp_files(dir.path()).is_empty(), "temp file cleaned up");
    }

    #[test]
    fn a_crash_before_rename_leaves_the_previous_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.age");
        write_bytes_atomic(&path, b"previous").unwrap();
        // What a process killed between write and rename leaves behind: a temp file.
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(".tmp")
            .tempfile_in(dir.path())
            .unwrap();
        tmp.write_all(b"partial").unwrap();
        let (_, kept) = tmp.keep().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        // The next write succeeds despite the debris.
        write_bytes_atomic(&path, b"next").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"next");
        assert!(kept.exists());
    }

    #[test]
    fn permission_errors_say_what_to_do() {
        let err = not_writable(
            Path::new("secrets"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(err, Error::NotWritable { .. }), "{err:?}");
        let text = crate::error::render(&err.into());
        assert!(
            text.contains("secrets dir `secrets` is not writable"),
            "{text}"
        );
        assert!(text.contains("hint: fix its permissions"), "{text}");
    }
}
