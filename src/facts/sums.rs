//! One `sha256sum` for all the files a batch of probes compares (put and template steps):
//! one process on the machine instead of one per file. The probe library does the work
//! (`__od_sums_of` hashes, `__od_sum` looks a file up); this says which files to hash.

use crate::quote::join;

/// The part of a SHA-256 (hex) that a script carries: 128 bits (see `__od_same` in the
/// probe library), or the whole value when it is shorter.
pub fn prefix(hash: &str) -> &str {
    hash.get(..32).unwrap_or(hash)
}

/// The line that hashes `hashed` together before the probes of a batch run, or nothing
/// when fewer than two can be merged. A probe finds its file by name in the output
/// (`HASH  PATH`) and hashes the file itself when it is not there (not a regular file,
/// unreadable, or a name that `sha256sum` would escape: paths with a newline or a backslash
/// are never merged, so every output line is one whole, unescaped name).
pub fn prelude(hashed: &[String]) -> String {
    let mergeable: Vec<&String> = hashed
        .iter()
        .filter(|p| !p.contains('\n') && !p.contains('\\'))
        .collect();
    if mergeable.len() < 2 {
        return String::new();
    }
    format!("__od_sums_of {}\n", join(&mergeable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::quote;

    #[test]
    fn merges_two_or_more_plain_paths() {
        assert_eq!(prelude(&["/a".into()]), "");
        assert_eq!(
            prelude(&["/a b".into(), "/c\nd".into(), "/e\\f".into(), "/g".into()]),
            "__od_sums_of '/a b' /g\n"
        );
    }

    /// The merged hash gives every file its own hash, whatever else is in the list: names
    /// with spaces, a directory, a symbolic link, a missing file; a file not in the list
    /// (here: a name with a newline, which is never merged) is hashed on its own.
    #[test]
    fn each_file_gets_its_own_hash_from_a_real_sh() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files = ["plain", "two  spaces", "it's"];
        for (i, f) in files.iter().enumerate() {
            std::fs::write(d.join(f), format!("content {i}\n")).unwrap();
        }
        std::fs::write(d.join("new\nline"), b"nl").unwrap();
        std::fs::create_dir(d.join("adir")).unwrap();
        std::os::unix::fs::symlink(d.join("plain"), d.join("link")).unwrap();
        let path = |f: &str| d.join(f).to_string_lossy().into_owned();
        let mut hashed: Vec<String> = files.iter().map(|f| path(f)).collect();
        hashed.extend(["adir", "link", "missing", "new\nline"].map(path));
        let mut script = prelude(&hashed);
        for f in files.iter().chain(&["new\nline"]) {
            script.push_str(&format!("__od_sum {}; echo \"$__od_h\"\n", quote(&path(f))));
        }
        // Prove the merge happened: one line per merged regular file.
        script.push_str("printf '%s\\n' \"$__od_sums\" | wc -l\n");
        let text = crate::facts::run_with_probe_lib(&script);
        let lines: Vec<&str> = text.lines().collect();
        let want = |f: &str| {
            format!(
                "{:x}",
                sha2::Sha256::digest(std::fs::read(d.join(f)).unwrap())
            )
        };
        for (i, f) in files.iter().chain(&["new\nline"]).enumerate() {
            assert_eq!(lines[i], want(f), "{f}");
        }
        // Three regular files were hashed together; the link, the directory and the missing
        // file were left out, the name with a newline was never in the list.
        assert_eq!(lines[4].trim(), "3");
    }
}
