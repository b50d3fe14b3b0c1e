//! Every local file a run read while loading and checking what the user wrote (the
//! inventory, operations files, includes, role files, templates, `put`/`copy`/`sync`
//! sources), with its SHA-256. A saved plan keeps this list so that `apply --plan` can name
//! the file that changed since the plan. The readers note what they read here, where they
//! read it, instead of a second walk that could disagree with the first.
//! A leaf module: it depends on nothing in the crate, so every reader may call it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::Digest;

/// What was read, by path as the loader saw it: the hex SHA-256 last seen.
static READ: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());

/// `path` was read and held `bytes`.
pub fn note(path: &Path, bytes: &[u8]) {
    note_sha(path, &format!("{:x}", sha2::Sha256::digest(bytes)));
}

/// `path` was read and its SHA-256 (hex) is `sha`.
pub fn note_sha(path: &Path, sha: &str) {
    if let Ok(mut read) = READ.lock() {
        read.insert(path.to_path_buf(), sha.to_string());
    }
}

/// Every file noted so far, with its last hash.
pub fn snapshot() -> BTreeMap<PathBuf, String> {
    READ.lock().map(|r| r.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_read_of_a_file_wins() {
        let p = Path::new("/nonexistent/read-log-test");
        note(p, b"one");
        note(p, b"two");
        let sha = format!("{:x}", sha2::Sha256::digest(b"two"));
        assert_eq!(snapshot().get(p), Some(&sha));
    }
}
