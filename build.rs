//! Puts the git commit orbdeploy is built from into `ORBDEPLOY_COMMIT`, for
//! `orbdeploy --version`: `ORBDEPLOY_BUILD_COMMIT` when set (a build from a source archive,
//! such as a packager's, that knows its commit), else `git rev-parse --short HEAD` in the
//! source tree, else `unknown` (no git, or not a checkout). No dependency: git is run as a
//! command, and its absence is not an error.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ORBDEPLOY_BUILD_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = match std::env::var("ORBDEPLOY_BUILD_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => git(&dir, &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into()),
    };
    for file in watched(&dir) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rustc-env=ORBDEPLOY_COMMIT={commit}");
}

/// The files whose change means another commit: HEAD, the branch it points to, and
/// packed-refs (where a branch's commit may live instead). Only those that exist: cargo
/// would rebuild every time for a missing one. In a worktree they live in different
/// directories, which `git rev-parse --git-path` knows. Paths stay as git gives them
/// (relative to the source tree in a plain checkout): cargo reads a relative path from the
/// package's directory, and an absolute one would tie the build script's output to one
/// checkout, so that two copies of the same tree (the install tests') rebuild each other.
fn watched(dir: &Path) -> Vec<PathBuf> {
    let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(r) = git(dir, &["rev-parse", "--symbolic-full-name", "HEAD"]) {
        if r.starts_with("refs/") {
            names.push(r);
        }
    }
    names
        .iter()
        .filter_map(|n| git(dir, &["rev-parse", "--git-path", n]))
        .map(PathBuf::from)
        .filter(|p| dir.join(p).exists())
        .collect()
}

/// One line of git's output in `dir`, or `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.trim();
    (out.status.success() && !line.is_empty()).then(|| line.to_string())
}
