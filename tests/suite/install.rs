//! The README's Install section, run: `cargo install --locked --path .` from a fresh
//! `git clone` into a temporary root gives an `orbdeploy` whose `--version` names the
//! clone's commit (built in the debug profile, on the dependencies this suite's build
//! compiled: tests/suite/cargo_install.rs), and the shell-completion commands, run as
//! written into a temporary `HOME`, write scripts bash, zsh and fish can load.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::cargo_install::{cargo, fresh_clone, run, warm_target};

/// Where the shell-completion commands are documented.
const INSTALL_DOC: &str = include_str!("../../docs/install.md");

#[test]
fn cargo_install_from_a_fresh_clone_names_its_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("orbdeploy");
    let short = fresh_clone(&clone);
    let root = tmp.path().join("root");
    // The README's command, with a temporary root, in the debug profile and a target
    // directory that already holds the dependencies (tests/suite/cargo_install.rs).
    let started = Instant::now();
    run(Command::new(cargo())
        .args(["install", "--quiet", "--locked", "--path", "."])
        .args(["--debug", "--root"])
        .arg(&root)
        .env("CARGO_TARGET_DIR", warm_target())
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

/// The commands of docs/install.md's "Shell completions" section, from its bash block.
fn completion_commands() -> String {
    let section = INSTALL_DOC
        .split_once("## Shell completions")
        .map(|(_, rest)| rest)
        .expect("docs/install.md has a Shell completions section");
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
