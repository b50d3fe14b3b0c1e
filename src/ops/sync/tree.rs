//! The local side of a `sync` step: the tree under `src` (files hashed, directories,
//! symbolic links kept as links) and the `exclude` globs that leave paths out of it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::ops::put::sha_of_file;
use crate::ops::render::io_reason;
use crate::read_log::ReadLog;

/// What a local path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalKind {
    /// A directory.
    Dir,
    /// A regular file, hashed.
    File {
        /// Where it is on this computer.
        path: PathBuf,
        /// Its size when it was hashed.
        len: u64,
        /// Its SHA-256, hex.
        sha: String,
    },
    /// A symbolic link, copied as a link (its target as written, never followed).
    Link {
        /// The link's target.
        target: String,
    },
}

/// One path of the local tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    /// The path relative to `src`, `/`-separated (`""` is `src` itself).
    pub rel: String,
    /// Permission bits (with set-id and sticky bits).
    pub mode: u32,
    /// What it is.
    pub kind: LocalKind,
}

/// Why the local tree cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    /// The path at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// True for a relative path the probes cannot print on one plain line: a control
/// character (a newline above all) or a backslash. Such paths are asked about one by one.
pub fn unusual(rel: &str) -> bool {
    rel.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\')
}

/// The `exclude` globs of a sync step. A pattern without `/` matches a name at any depth
/// (`*.pyc`, `.git`); one with `/` matches the path from `src` (`build/*.o`, `docs/**`;
/// a leading `/` is allowed and means the same). An excluded directory excludes what is
/// in it.
#[derive(Debug, Clone)]
pub struct Exclude {
    names: GlobSet,
    paths: GlobSet,
}

impl Exclude {
    /// Compile the patterns; the error names the one that is not a glob.
    pub fn new(patterns: &[String]) -> Result<Exclude, String> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for p in patterns {
            let trimmed = p.trim_end_matches('/');
            let anchored = trimmed.strip_prefix('/');
            let body = anchored.unwrap_or(trimmed);
            let glob = GlobBuilder::new(body)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("`{p}` is not a glob: {}", e.kind()))?;
            if anchored.is_some() || body.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| e.to_string());
        Ok(Exclude {
            names: build(names)?,
            paths: build(paths)?,
        })
    }

    /// Whether `rel` or a directory above it is excluded.
    pub fn matches(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        let mut end = 0;
        for part in rel.split('/') {
            end += part.len();
            if self.names.is_match(part) || self.paths.is_match(&rel[..end]) {
                return true;
            }
            end += 1;
        }
        false
    }
}

/// The tree under `root` (which must be a directory), `root` itself first, every directory
/// before what it holds, names in byte order; excluded paths left out. Files hashed are
/// noted in `log`.
pub fn walk(root: &Path, exclude: &Exclude, log: &ReadLog) -> Result<Vec<LocalEntry>, WalkError> {
    let err = |path: &Path, reason: String| WalkError {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(root).map_err(|e| err(root, io_reason(&e)))?;
    if !meta.is_dir() {
        return Err(err(root, "not a directory".into()));
    }
    let mut out = vec![LocalEntry {
        rel: String::new(),
        mode: meta.permissions().mode() & 0o7777,
        kind: LocalKind::Dir,
    }];
    walk_dir(root, "", (exclude, log), &mut out)?;
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    rel: &str,
    (exclude, log): (&Exclude, &ReadLog),
    out: &mut Vec<LocalEntry>,
) -> Result<(), WalkError> {
    let err = |path: &Path, reason: String| WalkError {
        path: path.to_path_buf(),
        reason,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| err(dir, io_reason(&e)))? {
        let entry = entry.map_err(|e| err(dir, io_reason(&e)))?;
        names.push(entry.file_name());
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let Some(name) = name.to_str() else {
            return Err(err(&path, "its name is not UTF-8".into()));
        };
        let child = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if exclude.matches(&child) {
            continue;
        }
        let entry = local_entry(&path, child, log)?;
        let is_dir = entry.kind == LocalKind::Dir;
        let child = entry.rel.clone();
        out.push(entry);
        if is_dir {
            walk_dir(&path, &child, (exclude, log), out)?;
        }
    }
    Ok(())
}

fn local_entry(path: &Path, rel: String, log: &ReadLog) -> Result<LocalEntry, WalkError> {
    let err = |reason: String| WalkError {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| err(io_reason(&e)))?;
    let mode = meta.permissions().mode() & 0o7777;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        LocalKind::Dir
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| err(io_reason(&e)))?;
        let target = target
            .to_str()
            .ok_or_else(|| err("its target is not UTF-8".into()))?
            .to_string();
        if unusual(&target) {
            return Err(err(
                "its target has a control character or a backslash, which sync cannot compare"
                    .into(),
            ));
        }
        LocalKind::Link { target }
    } else if ft.is_file() {
        let (sha, len) = sha_of_file(path, log).map_err(|e| err(io_reason(&e)))?;
        LocalKind::File {
            path: path.to_path_buf(),
            len,
            sha,
        }
    } else {
        return Err(err(
            "not a file, directory or symbolic link (add it to `exclude`)".into(),
        ));
    };
    Ok(LocalEntry { rel, mode, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_names_at_any_depth_and_paths_from_the_root() {
        let ex = Exclude::new(&[
            "*.pyc".into(),
            ".git".into(),
            "build/*.o".into(),
            "/top".into(),
        ])
        .unwrap();
        assert!(ex.matches("a/b/c.pyc"));
        assert!(ex.matches(".git/config"));
        assert!(ex.matches("sub/.git"));
        assert!(ex.matches("build/x.o"));
        assert!(!ex.matches("build/sub/x.o"));
        assert!(ex.matches("top/x"));
        assert!(!ex.matches("sub/top"));
        assert!(!ex.matches("keep.py"));
        assert!(Exclude::new(&["a[".into()]).is_err());
    }

    #[test]
    fn walk_lists_parents_first_and_keeps_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/b/f"), b"x").unwrap();
        std::fs::write(d.join("a b"), b"y").unwrap();
        std::fs::write(d.join("skip.pyc"), b"z").unwrap();
        std::os::unix::fs::symlink("a/b/f", d.join("ln")).unwrap();
        let ex = Exclude::new(&["*.pyc".into()]).unwrap();
        let rels: Vec<String> = walk(d, &ex, &Default::default())
            .unwrap()
            .into_iter()
            .map(|e| e.rel)
            .collect();
        assert_eq!(rels, ["", "a", "a/b", "a/b/f", "a b", "ln"]);
        let ln = walk(d, &ex, &Default::default()).unwrap().pop().unwrap();
        assert_eq!(
            ln.kind,
            LocalKind::Link {
                target: "a/b/f".into()
            }
        );
        assert!(walk(&d.join("missing"), &ex, &Default::default()).is_err());
        assert!(unusual("a\nb") && unusual("a\\b") && !unusual("it's $x; y"));
    }
}
