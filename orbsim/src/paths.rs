//! Where orbsim keeps things, and how host paths are seen from inside a machine
//! (docs/orbctl.md §4.3 and §5.1: macOS paths map to Linux paths).

use std::path::{Path, PathBuf};

/// The state home: `$ORBSIM_HOME`, else `$XDG_DATA_HOME/orbsim`, else `~/.local/share/orbsim`.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("ORBSIM_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(x).join("orbsim");
    }
    user_home().join(".local/share/orbsim")
}

/// The image cache: `$ORBSIM_IMAGES`, else `$XDG_CACHE_HOME/orbsim/images`, else `~/.cache/orbsim/images`.
pub fn images() -> PathBuf {
    if let Some(h) = std::env::var_os("ORBSIM_IMAGES").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(x).join("orbsim/images");
    }
    user_home().join(".cache/orbsim/images")
}

fn user_home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Paths that exist at the same place inside a machine (OrbStack shares them as is).
const SHARED_AS_IS: &[&str] = &[
    "/Applications",
    "/Library",
    "/Users",
    "/Volumes",
    "/private",
];

/// A host (mac) absolute path as a machine sees it: shared prefixes unchanged, anything
/// else under `/mnt/mac`.
pub fn host_to_machine(path: &Path) -> String {
    let s = path.to_string_lossy();
    if SHARED_AS_IS
        .iter()
        .any(|p| s == *p || s.starts_with(&format!("{p}/")))
    {
        return s.into_owned();
    }
    if s == "/" {
        return "/mnt/mac".to_string();
    }
    format!("/mnt/mac{s}")
}

/// The caller's working directory translated for a machine (used when `run` has no `-w`).
pub fn cwd_in_machine() -> String {
    std::env::current_dir()
        .map(|d| host_to_machine(&d))
        .unwrap_or_else(|_| "/".to_string())
}

/// Make a host path absolute against the caller's working directory.
pub fn absolute(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_paths_map_like_orbstack() {
        assert_eq!(
            host_to_machine(Path::new("/Users/alice/proj")),
            "/Users/alice/proj"
        );
        assert_eq!(host_to_machine(Path::new("/tmp/x")), "/mnt/mac/tmp/x");
        assert_eq!(host_to_machine(Path::new("/Usersx")), "/mnt/mac/Usersx");
        assert_eq!(host_to_machine(Path::new("/")), "/mnt/mac");
    }
}
