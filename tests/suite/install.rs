//! The README's Install section, run: `cargo install --locked --path .` from a fresh
//! `git clone` into a temporary root gives an `orbdeploy` whose `--version` names the
//! clone's commit, and the shell-completion commands, run as written into a temporary
//! `HOME`, write scripts bash, zsh and fish can load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const README: &str = include_str!("../../README.md");

/// The repository this test was built from.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target directory of this build (`target/debug/orbdeploy` → `target`).
fn target_dir() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_orbdeploy"));
    bin.ancestors().nth(2).map(Path::to_path_buf).unwrap_or(bin)
}

/// Run `cmd`; its stdout, or a panic with both streams.
fn run(cmd: &mut Command) -> String {
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

#[test]
fn cargo_install_from_a_fresh_clone_names_its_commit() {
    let head = run(Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo()))
    .trim()
    .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("orbdeploy");
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
    let root = tmp.path().join("root");
    // The README's command, with a temporary root. A target directory of its own that
    // outlives the test (this build's is locked while the tests run): after the first
    // run only orbdeploy itself is compiled again.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    run(Command::new(cargo)
        .args(["install", "--quiet", "--locked", "--path", "."])
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", target_dir().join("install-test"))
        .env_remove("ORBDEPLOY_BUILD_COMMIT")
        .current_dir(&clone));
    println!(
        "timing: cargo install --path . from a fresh clone {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let version = run(Command::new(root.join("bin/orbdeploy")).arg("--version"));
    assert_eq!(
        version,
        format!("orbdeploy {} (commit {short})\n", env!("CARGO_PKG_VERSION"))
    );
}

/// The commands of the README's "Shell completions" section, from its bash block.
fn completion_commands() -> String {
    let section = README
        .split_once("### Shell completions")
        .map(|(_, rest)| rest)
        .expect("README has a Shell completions section");
    let block = section
        .split_once("```bash\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("the section has a ```bash block");
    block.to_string()
}

#[test]
fn completion_install_commands_write_scripts_each_shell_loads() {
    let commands = completion_commands();
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            commands.contains(&format!("orbdeploy completions {shell} > ")),
            "{shell} missing from:\n{commands}"
        );
    }
    let home = tempfile::tempdir().unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_orbdeploy"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("bash")
        .args(["-euo", "pipefail", "-c", &commands])
        .env("HOME", home.path())
        .env("PATH", &path));
    let file = |rel: &str| home.path().join(rel);
    let bash = file(".local/share/bash-completion/completions/orbdeploy");
    run(Command::new("bash").arg("-n").arg(&bash));
    // Loaded, it registers a completion for `orbdeploy`.
    let registered = run(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p orbdeploy",
        bash.display()
    )));
    assert!(registered.contains("orbdeploy"), "{registered}");
    // zsh and fish are not installed on the test machines: their scripts are checked for
    // what makes each shell load them.
    let zsh = std::fs::read_to_string(file(".zfunc/_orbdeploy")).unwrap();
    assert!(
        zsh.starts_with("#compdef orbdeploy\n"),
        "{}",
        &zsh[..80.min(zsh.len())]
    );
    let fish = std::fs::read_to_string(file(".config/fish/completions/orbdeploy.fish")).unwrap();
    assert!(
        fish.contains("complete -c orbdeploy "),
        "{}",
        &fish[..200.min(fish.len())]
    );
}
