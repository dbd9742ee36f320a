//! Run locks: who holds one ([`Holder`]), how a held lock is shown, the attributes an Apigee
//! lock product carries, and [`FileLock`], the one file lock (std's `File::try_lock`) that the
//! local backend and apply's hold on the secrets store use. A file lock is released when its
//! process ends, so it never goes stale.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::model::Attributes;

/// Marks a product as registrar's lock (value `lock`) or a takeover token (`takeover`):
/// backends never show such a product to the diff.
pub const LOCK_ATTRIBUTE: &str = "registrar-lock";
/// The lock's id (what `force-unlock` takes).
pub const LOCK_ID_ATTRIBUTE: &str = "registrar-lock-id";
/// Who holds it: `user@host`.
pub const LOCK_WHO_ATTRIBUTE: &str = "registrar-lock-who";
/// Where: the CI job, or the process id and command.
pub const LOCK_WHERE_ATTRIBUTE: &str = "registrar-lock-where";
/// Since when (RFC 3339).
pub const LOCK_SINCE_ATTRIBUTE: &str = "registrar-lock-since";
/// Until when, unless renewed (RFC 3339).
pub const LOCK_EXPIRES_ATTRIBUTE: &str = "registrar-lock-expires";

/// Whether a product with these attributes is a lock (or a takeover token).
pub fn is_lock(attributes: &Attributes) -> bool {
    attributes.contains_key(LOCK_ATTRIBUTE)
}

/// Who holds a lock, where and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The lock id (a UUID).
    pub id: String,
    /// `user@host`.
    pub who: String,
    /// The CI job, or `pid N: command`.
    #[serde(rename = "where")]
    pub place: String,
    /// Milliseconds since the Unix epoch.
    pub since_ms: i64,
    /// When the lock lapses unless renewed (remote locks; `None` for file locks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

/// RFC 3339 to the second, UTC.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t: SystemTime = humantime::parse_rfc3339_weak(s.trim()).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

impl Holder {
    /// Whether the lock has lapsed at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|e| e <= now_ms)
    }

    /// Whether this lock was taken on this machine by this user, by a process that is gone
    /// (killed before it could release it): then it need not wait for its expiry.
    pub fn abandoned_here(&self, me: &Holder) -> bool {
        let pid = |h: &Holder| {
            h.place
                .strip_prefix("pid ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|p| p.trim().parse::<u32>().ok())
        };
        let (Some(theirs), Some(mine)) = (pid(self), pid(me)) else {
            return false;
        };
        self.who == me.who
            && theirs != mine
            && cfg!(target_os = "linux")
            && !std::path::Path::new(&format!("/proc/{theirs}")).exists()
    }

    /// The attributes of a lock product holding this.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut a = vec![
            (LOCK_ATTRIBUTE, "lock".to_string()),
            (LOCK_ID_ATTRIBUTE, self.id.clone()),
            (LOCK_WHO_ATTRIBUTE, self.who.clone()),
            (LOCK_WHERE_ATTRIBUTE, self.place.clone()),
            (LOCK_SINCE_ATTRIBUTE, rfc3339(self.since_ms)),
        ];
        if let Some(e) = self.expires_ms {
            a.push((LOCK_EXPIRES_ATTRIBUTE, rfc3339(e)));
        }
        a
    }

    /// Reads a lock product's attributes back (`None`: not a lock, or no id).
    pub fn from_attributes(attrs: &Attributes) -> Option<Holder> {
        let id = attrs.get(LOCK_ID_ATTRIBUTE)?.clone();
        let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
        Some(Holder {
            id,
            who: get(LOCK_WHO_ATTRIBUTE),
            place: get(LOCK_WHERE_ATTRIBUTE),
            since_ms: parse_rfc3339(&get(LOCK_SINCE_ATTRIBUTE)).unwrap_or(0),
            // A lock whose expiry cannot be read has lapsed: it cannot be renewed either.
            expires_ms: Some(parse_rfc3339(&get(LOCK_EXPIRES_ATTRIBUTE)).unwrap_or(0)),
        })
    }

    /// The lines that describe the holder in messages, at `now_ms`.
    pub fn describe(&self, now_ms: i64) -> String {
        let ago = |ms: i64| {
            humantime::format_duration(Duration::from_secs((ms.max(0) / 1000) as u64)).to_string()
        };
        let mut s = format!(
            "  held by: {}\n  where:   {}\n  since:   {} ({} ago)\n  lock id: {}",
            self.who,
            self.place,
            rfc3339(self.since_ms),
            ago(now_ms - self.since_ms),
            self.id
        );
        if let Some(e) = self.expires_ms {
            if e <= now_ms {
                s.push_str(&format!("\n  expired: {}", rfc3339(e)));
            } else {
                s.push_str(&format!(
                    "\n  expires: {} (in {}, unless renewed)",
                    rfc3339(e),
                    ago(e - now_ms)
                ));
            }
        }
        s
    }
}

/// An exclusive lock on a file, with the holder written into it; released (and emptied)
/// when dropped, and by the OS when the process ends.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

/// Why a file lock was not taken.
#[derive(Debug)]
pub enum FileLockError {
    /// Another process holds it (`None`: it has not written who yet, or wrote garbage).
    Held(Option<Holder>),
    /// The file cannot be opened or locked.
    Io(std::io::Error),
}

impl FileLock {
    /// Takes the lock at `path` (created if missing) for `holder` without waiting.
    pub fn try_acquire(path: &Path, holder: &Holder) -> Result<FileLock, FileLockError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(FileLockError::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(FileLockError::Held(FileLock::holder_at(path)));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(FileLockError::Io(e)),
        }
        let text = serde_json::to_string(holder).map_err(|e| FileLockError::Io(e.into()))?;
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(FileLockError::Io)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock, polling until `timeout` has passed (blocking the thread).
    pub fn acquire(
        path: &Path,
        holder: &Holder,
        timeout: Duration,
    ) -> Result<FileLock, FileLockError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match FileLock::try_acquire(path, holder) {
                Err(FileLockError::Held(h)) if std::time::Instant::now() < deadline => {
                    drop(h);
                    std::thread::sleep(FILE_POLL);
                }
                other => return other,
            }
        }
    }

    /// Who holds the lock at `path`, as written in the file (it may be mid-write: a few
    /// tries).
    pub fn holder_at(path: &Path) -> Option<Holder> {
        for _ in 0..10 {
            let mut text = String::new();
            if let Ok(mut f) = File::open(path)
                && f.read_to_string(&mut text).is_ok()
                && let Ok(h) = serde_json::from_str::<Holder>(&text)
            {
                return Some(h);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Empty it before unlocking, so that nobody reads a departed holder.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// How often a waiting process retries a file lock.
pub const FILE_POLL: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_of_a_dead_process_on_this_machine_is_abandoned() {
        let at = |place: &str| Holder {
            id: "x".into(),
            who: "me@host".into(),
            place: place.into(),
            since_ms: 0,
            expires_ms: None,
        };
        let me = at(&format!("pid {}: registrar apply", std::process::id()));
        // No process has pid 0x7fff_fff0 (above Linux's pid_max).
        let dead = at("pid 2147483632: registrar apply");
        assert_eq!(dead.abandoned_here(&me), cfg!(target_os = "linux"));
        let alive = at("pid 1: registrar apply");
        assert!(!alive.abandoned_here(&me));
        let elsewhere = Holder {
            who: "me@other".into(),
            ..dead.clone()
        };
        assert!(!elsewhere.abandoned_here(&me));
        assert!(!at("CI job 7, pid 2147483632").abandoned_here(&me));
    }

    fn holder(id: &str) -> Holder {
        Holder {
            id: id.into(),
            who: "ada@box".into(),
            place: "pid 1: registrar apply".into(),
            since_ms: 1_700_000_000_000,
            expires_ms: Some(1_700_000_300_000),
        }
    }

    #[test]
    fn attributes_round_trip() {
        let h = holder("abc");
        let attrs: Attributes = h
            .attributes()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert!(is_lock(&attrs));
        assert_eq!(Holder::from_attributes(&attrs), Some(h.clone()));
        assert!(!h.expired(1_700_000_299_999));
        assert!(h.expired(1_700_000_300_000));
        let shown = h.describe(1_700_000_010_000);
        assert!(
            shown.contains("ada@box") && shown.contains("10s ago"),
            "{shown}"
        );
    }

    #[test]
    fn a_second_file_lock_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::try_acquire(&path, &holder("one")).unwrap();
        match FileLock::try_acquire(&path, &holder("two")) {
            Err(FileLockError::Held(Some(h))) => assert_eq!(h.id, "one"),
            other => panic!("{other:?}"),
        }
        drop(first);
        let second = FileLock::acquire(&path, &holder("two"), Duration::ZERO).unwrap();
        assert_eq!(FileLock::holder_at(second.path()).unwrap().id, "two");
    }
}
