//! Every local file a run read while loading and checking what the user wrote (the
//! inventory, operations files, includes, role files, templates, `put`/`copy`/`sync`
//! sources), with its SHA-256. A saved plan keeps this list so that `apply --plan` can name
//! the file that changed since the plan. The readers note what they read here, where they
//! read it, instead of a second walk that could disagree with the first.
//!
//! The log belongs to one run (the run's [`crate::template::Renderer`] carries it to every
//! reader): two runs in one process keep two lists. It also keeps, per path, the size and
//! modification time a hash was made at, so that a big `put` source that every machine
//! renders (twice: the check before anything runs, then the run) is read once per run.
//! A leaf module: it depends on nothing in the crate, so every reader may call it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::Digest;

/// What one run read. Clones share the list.
#[derive(Clone, Default)]
pub struct ReadLog {
    inner: Arc<Mutex<Read>>,
}

/// A file's size and modification time: while both stay, its hash does.
pub type Stamp = (u64, SystemTime);

#[derive(Default)]
struct Read {
    /// By path as the loader saw it: the hex SHA-256 last seen.
    sha: BTreeMap<PathBuf, String>,
    /// Hashes of whole files, by the stamp they were made at.
    stamped: HashMap<PathBuf, (Stamp, String)>,
}

impl ReadLog {
    /// `path` was read and held `bytes`.
    pub fn note(&self, path: &Path, bytes: &[u8]) {
        self.note_sha(path, &format!("{:x}", sha2::Sha256::digest(bytes)));
    }

    /// `path` was read and its SHA-256 (hex) is `sha`.
    pub fn note_sha(&self, path: &Path, sha: &str) {
        if let Ok(mut read) = self.inner.lock() {
            read.sha.insert(path.to_path_buf(), sha.to_string());
        }
    }

    /// The hash `path` had when it was hashed at `stamp`, if it was (and then it counts
    /// as read again).
    pub fn hashed_at(&self, path: &Path, stamp: Stamp) -> Option<String> {
        let mut read = self.inner.lock().ok()?;
        let sha = match read.stamped.get(path) {
            Some((at, sha)) if *at == stamp => sha.clone(),
            _ => return None,
        };
        read.sha.insert(path.to_path_buf(), sha.clone());
        Some(sha)
    }

    /// `path` was read whole at `stamp` and its SHA-256 (hex) is `sha`.
    pub fn note_hashed(&self, path: &Path, stamp: Stamp, sha: &str) {
        if let Ok(mut read) = self.inner.lock() {
            read.sha.insert(path.to_path_buf(), sha.to_string());
            read.stamped
                .insert(path.to_path_buf(), (stamp, sha.to_string()));
        }
    }

    /// The hash `path` was last read with.
    pub fn sha(&self, path: &Path) -> Option<String> {
        self.inner.lock().ok()?.sha.get(path).cloned()
    }

    /// Every file noted so far, with its last hash.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        self.inner.lock().map(|r| r.sha.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_read_of_a_file_wins() {
        let log = ReadLog::default();
        let p = Path::new("/nonexistent/read-log-test");
        log.note(p, b"one");
        log.note(p, b"two");
        let sha = format!("{:x}", sha2::Sha256::digest(b"two"));
        assert_eq!(log.snapshot().get(p), Some(&sha));
        assert_eq!(log.sha(p), Some(sha));
    }

    #[test]
    fn two_runs_do_not_see_each_other() {
        let (one, two) = (ReadLog::default(), ReadLog::default());
        let p = Path::new("/nonexistent/a");
        let stamp = (3, SystemTime::UNIX_EPOCH);
        one.note_hashed(p, stamp, "abc");
        assert_eq!(one.hashed_at(p, stamp).as_deref(), Some("abc"));
        assert_eq!(two.hashed_at(p, stamp), None, "the other run's cache");
        assert!(two.snapshot().is_empty(), "the other run's reads");
        // A clone is the same run.
        assert_eq!(one.clone().snapshot().len(), 1);
    }

    #[test]
    fn a_changed_stamp_is_not_a_hit() {
        let log = ReadLog::default();
        let p = Path::new("/nonexistent/b");
        log.note_hashed(p, (3, SystemTime::UNIX_EPOCH), "abc");
        assert_eq!(log.hashed_at(p, (4, SystemTime::UNIX_EPOCH)), None);
    }
}
