//! `cargo install` for the tests that run it (`install`: the README's Install section;
//! `ci_example`: docs/ci.md's workflow) without a cold release build of every dependency,
//! which took 81 s and 234 s of a fresh-clone run. Both install in the **debug** profile
//! (the release profile differs only in optimisation; see Cargo.toml), into
//! `target/install-test`, a target directory seeded with the dependencies this suite's own
//! build already compiled: what is compiled again is what comes from the fresh clone —
//! orbdeploy and orbsim themselves, and the few dependencies whose features differ when one
//! package is installed alone. That directory is not this build's own: cargo would replace
//! `target/debug/orbdeploy`, which the other tests run, with the clone's.
//!
//! Both tests install from copies of one fresh clone of HEAD (`cp -a` keeps the files'
//! times). Cargo gives the clone's orbdeploy the same unit name in both (a path package's
//! hash is taken relative to its workspace root), so the second install finds it compiled.
//! That holds because build.rs names the git files it watches relative to the source tree:
//! with absolute paths, the second copy's build script looked changed (cargo's fingerprint
//! log said `RerunIfChangedOutputPathsChanged`) and orbdeploy was compiled twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository this suite was built from.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target directory of this build (`target/debug/orbdeploy` → `target`).
fn target_dir() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_orbdeploy"));
    bin.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .expect("the binary is in target/debug")
}

/// The cargo that runs this suite.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string())
}

/// Run `cmd`; its stdout, or a panic with both streams.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `target/install-test`, seeded once per run with what this build compiled: the compiled
/// crates are hard-linked (rustc replaces an output, never writes into it), the build
/// scripts' outputs and cargo's fingerprints copied (cargo rewrites those in place). Files
/// already there are kept (`-n`): a file of the same name is the same unit.
pub fn warm_target() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let from = target_dir().join("debug");
        let dir = target_dir().join("install-test");
        let to = dir.join("debug");
        std::fs::create_dir_all(&to).expect("cannot create target/install-test/debug");
        for (what, args) in [
            ("deps", ["-a", "-l", "-n"].as_slice()),
            ("build", ["-a", "-n"].as_slice()),
            (".fingerprint", ["-a", "-n"].as_slice()),
        ] {
            run(Command::new("cp").args(args).arg(from.join(what)).arg(&to));
        }
        dir
    })
}

/// A fresh `git clone` of this repository at HEAD, made once per run: its path and the
/// short commit it names.
fn clone_once() -> &'static (PathBuf, String) {
    static CLONE: OnceLock<(PathBuf, String)> = OnceLock::new();
    CLONE.get_or_init(|| {
        let head = run(Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(repo()))
        .trim()
        .to_string();
        let clone = warm_target().join("clone");
        if clone.exists() {
            std::fs::remove_dir_all(&clone).expect("cannot remove the last run's clone");
        }
        run(Command::new("git")
            .args(["clone", "--quiet"])
            .arg(repo())
            .arg(&clone));
        run(Command::new("git")
            .args(["checkout", "--quiet", "--detach", &head])
            .current_dir(&clone));
        let short = run(Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&clone))
        .trim()
        .to_string();
        (clone, short)
    })
}

/// Copy the fresh clone of HEAD to `dest` (which must not exist); the short commit it names.
pub fn fresh_clone(dest: &Path) -> String {
    let (clone, short) = clone_once();
    run(Command::new("cp").arg("-a").arg(clone).arg(dest));
    short.clone()
}
