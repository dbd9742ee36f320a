//! `index.journal`: the append-only log of keys stored since `index.yaml` was last written.
//!
//! Storing a key must not rewrite the whole index (that made a large apply quadratic), and a
//! key file must never exist without something that indexes it, because indexing a file
//! afterwards would need an identity to decrypt it. So each store appends one line here,
//! fsynced, *before* the key file is renamed into place:
//!
//! ```text
//! {"sha256":"<SHA-256 of the .age file's bytes>","entry":{…the IndexEntry, camelCase…}}
//! ```
//!
//! The line holds fingerprints and times, never secret material. [`fold`] applies a record to
//! an index only if the file it names holds exactly the bytes it describes (by the digest),
//! so a record whose rename never happened (the file is missing, or still holds the key it
//! replaced) is dropped, and a truncated last line (a crash mid-append) is ignored. Folding is
//! idempotent: replaying a journal that was already folded changes nothing.
//!
//! Readers fold the journal into what they load ([`load`]); a writer compacts it into
//! `index.yaml` and removes it ([`compact`]) when it opens the store and when apply ends.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{Error, Result};
use super::fsutil;
use super::index::{Index, IndexEntry};

/// File name of the journal inside the secrets dir.
pub const JOURNAL_FILE: &str = "index.journal";

/// One stored key, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// SHA-256 (hex) of the whole `.age` file: tells the file this record describes from the
    /// one it was meant to replace.
    pub sha256: String,
    /// The index entry of the key.
    pub entry: IndexEntry,
}

/// SHA-256 of `bytes`, 64 hex digits.
pub fn digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in d {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The journal as read: its records, and how many lines could not be read (a line cut short
/// by a crash).
#[derive(Debug, Default)]
pub struct Replay {
    /// Records, in the order they were appended.
    pub records: Vec<Record>,
    /// Lines that are not a record.
    pub damaged: usize,
    /// Whether the journal file exists.
    pub exists: bool,
}

/// Reads `<dir>/index.journal`; a missing file is an empty journal.
pub fn read(dir: &Path) -> Result<Replay> {
    let path = dir.join(JOURNAL_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replay::default()),
        Err(source) => return Err(Error::Read { path, source }),
    };
    let mut replay = Replay {
        exists: true,
        ..Replay::default()
    };
    let complete = bytes.ends_with(b"\n");
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // `split` yields an empty tail after the final newline; without one, the tail is a
    // line cut short.
    let tail = lines.pop().unwrap_or_default();
    if !complete && !tail.is_empty() {
        replay.damaged += 1;
    }
    for line in lines {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => replay.records.push(r),
            Err(_) => replay.damaged += 1,
        }
    }
    Ok(replay)
}

/// What [`fold`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Folded {
    /// Records applied to the index.
    pub applied: usize,
    /// Files of records that were dropped: the file is missing or holds other bytes (its
    /// write never completed).
    pub dropped: Vec<String>,
    /// Lines that could not be read.
    pub damaged: usize,
}

/// Applies to `index` every record whose file holds the bytes it describes.
pub fn fold(dir: &Path, index: &mut Index, replay: &Replay) -> Folded {
    let mut folded = Folded {
        damaged: replay.damaged,
        ..Folded::default()
    };
    let mut active = index.active_files();
    for r in &replay.records {
        let holds = std::fs::read(dir.join(&r.entry.file)).is_ok_and(|b| digest(&b) == r.sha256);
        if holds {
            index.put_active_with(&r.entry, &mut active);
            folded.applied += 1;
        } else {
            folded.dropped.push(r.entry.file.clone());
        }
    }
    folded
}

/// `index.yaml` with the journal folded in, for reading: writes nothing.
pub fn load(dir: &Path) -> Result<Index> {
    let mut index = Index::load(dir)?;
    let replay = read(dir)?;
    if !replay.records.is_empty() {
        fold(dir, &mut index, &replay);
    }
    Ok(index)
}

/// Folds the journal into `index.yaml` (written atomically and durably), then removes the
/// journal. Returns the index and what the fold did. The caller holds the store for writing.
///
/// A crash after the index is written and before the journal is removed is harmless: the
/// next fold replays records that are already in the index.
pub fn compact(dir: &Path) -> Result<(Index, Folded)> {
    let mut index = Index::load(dir)?;
    let replay = read(dir)?;
    if !replay.exists {
        return Ok((index, Folded::default()));
    }
    let folded = fold(dir, &mut index, &replay);
    if !replay.records.is_empty() {
        index.save(dir)?;
    }
    remove(dir)?;
    Ok((index, folded))
}

/// Removes the journal (once `index.yaml` holds everything it said), durably.
pub fn remove(dir: &Path) -> Result<()> {
    match std::fs::remove_file(dir.join(JOURNAL_FILE)) {
        Ok(()) => fsutil::sync_dir(dir).map_err(|e| fsutil::not_writable(dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fsutil::not_writable(dir, e)),
    }
}

/// Appends records to the journal of one store; opens (and creates) it on first use.
#[derive(Debug, Default)]
pub struct Appender {
    file: Option<File>,
}

impl Appender {
    /// Appends `record` as one line and fsyncs it: durable when this returns.
    pub fn append(&mut self, dir: &Path, record: &Record) -> Result<()> {
        if self.file.is_none() {
            let path = dir.join(JOURNAL_FILE);
            let created = !path.exists();
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| fsutil::not_writable(dir, e))?;
            if created {
                // The journal's own name must survive a crash before a record in it counts.
                fsutil::sync_dir(dir).map_err(|e| fsutil::not_writable(dir, e))?;
            }
            self.file = Some(file);
        }
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        let file = self.file.as_mut().expect("opened above");
        // One write per line: a crash leaves at worst a cut-short last line.
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| fsutil::not_writable(dir, e))
    }

    /// Forgets the open file (after [`remove`]): the next append creates a new journal.
    pub fn close(&mut self) {
        self.file = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::index::KeyState;

    fn entry(app: &str, n: u8) -> IndexEntry {
        IndexEntry {
            developer: "d@x".into(),
            app: app.into(),
            id: "default".into(),
            state: KeyState::Active,
            consumer_key_fingerprint: format!("sha256:{:016x}", n),
            consumer_secret_fingerprint: format!("sha256:{:016x}", n + 100),
            issued_at: i64::from(n),
            expires_at: None,
            revoke_after: None,
            file: format!("d@x/{app}/default.age"),
        }
    }

    /// Writes the key file of `entry` and appends its record; returns the record.
    fn stored(dir: &Path, j: &mut Appender, e: &IndexEntry, body: &[u8]) -> Record {
        let path = dir.join(&e.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        let r = Record {
            sha256: digest(body),
            entry: e.clone(),
        };
        j.append(dir, &r).unwrap();
        r
    }

    #[test]
    fn fold_recovers_whole_records_and_ignores_a_truncated_last_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut j = Appender::default();
        stored(dir, &mut j, &entry("a", 1), b"file a");
        stored(dir, &mut j, &entry("b", 2), b"file b");
        // A crash in the middle of the third append: half a line, no newline.
        let third = Record {
            sha256: digest(b"file c"),
            entry: entry("c", 3),
        };
        let line = serde_json::to_string(&third).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join(JOURNAL_FILE))
            .unwrap();
        f.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
        drop(f);

        let replay = read(dir).unwrap();
        assert_eq!(replay.records.len(), 2);
        assert_eq!(replay.damaged, 1);
        // Readers see the two stored keys without writing anything.
        assert_eq!(load(dir).unwrap().keys.len(), 2);
        assert!(dir.join(JOURNAL_FILE).exists());

        let (index, folded) = compact(dir).unwrap();
        assert_eq!(folded.applied, 2);
        assert_eq!(folded.damaged, 1);
        assert_eq!(index.keys, vec![entry("a", 1), entry("b", 2)]);
        assert_eq!(Index::load(dir).unwrap(), index, "index.yaml holds them");
        assert!(!dir.join(JOURNAL_FILE).exists(), "journal removed");
        // Compacting again is a no-op.
        assert_eq!(compact(dir).unwrap().0, index);
    }

    #[test]
    fn records_whose_rename_never_happened_are_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut j = Appender::default();
        // `a` is stored, then replaced: the new record is journaled but the crash comes
        // before the rename, so the file still holds the first key.
        let first = entry("a", 1);
        stored(dir, &mut j, &first, b"first");
        j.append(
            dir,
            &Record {
                sha256: digest(b"second"),
                entry: entry("a", 2),
            },
        )
        .unwrap();
        // `b`'s record was journaled and its file never written.
        j.append(
            dir,
            &Record {
                sha256: digest(b"never"),
                entry: entry("b", 3),
            },
        )
        .unwrap();
        let (index, folded) = compact(dir).unwrap();
        assert_eq!(index.keys, vec![first]);
        assert_eq!(folded.applied, 1);
        assert_eq!(
            folded.dropped,
            vec![
                "d@x/a/default.age".to_string(),
                "d@x/b/default.age".to_string()
            ]
        );
    }

    #[test]
    fn replaying_a_journal_already_in_the_index_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut j = Appender::default();
        stored(dir, &mut j, &entry("a", 1), b"a1");
        // A crash between writing index.yaml and removing the journal.
        let mut index = load(dir).unwrap();
        index.save(dir).unwrap();
        let (again, _) = compact(dir).unwrap();
        assert_eq!(again, index);
        assert_eq!(again.keys.len(), 1);
    }
}
