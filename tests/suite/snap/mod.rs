//! The snapshot harness: a [`Project`] is a temp dir with the recording fake orbctl
//! (`tests/suite/fake/mod.rs`), an inventory and operations files. Its `run` subcommand runs
//! the command on this machine, so `apply` reaches the real channel agent with no root and
//! no orbsim; every file the operations touch lives under the project's `work/` folder
//! (the inventory variable `root`).
//!
//! [`Project::settings`] redacts what changes from run to run — the temp dir, durations,
//! timestamps, pids — so that a snapshot holds exactly what a user sees, and nothing else.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::fake;

pub use fake::Fake;

/// A temp dir with the fake orbctl, an inventory, operations and a `work/` folder.
pub struct Project {
    /// The fake orbctl and its temp dir (the current directory of every command).
    pub fake: Fake,
}

/// What one command did, as a user saw it.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The whole run in one text: exit code, stdout, stderr — the form every
    /// human-output snapshot takes.
    pub fn text(&self) -> String {
        format!(
            "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Project {
    /// A project whose fake orbctl knows these machines (name, state), and an inventory
    /// declaring `inventory` (YAML, without `operations:`) plus `vars: { root: WORK }` and
    /// `operations: ops.yaml`.
    pub fn new(machines: &[(&str, &str)], inventory: &str) -> Project {
        let fake = Fake::new(machines);
        let p = Project { fake };
        std::fs::create_dir_all(p.work()).unwrap();
        let root = p.work().display().to_string();
        p.write(
            "inv.yaml",
            &format!("{inventory}vars: {{ root: \"{root}\" }}\noperations: ops.yaml\n"),
        );
        p
    }

    /// The temp dir.
    pub fn dir(&self) -> &Path {
        self.fake.dir.path()
    }

    /// The folder the operations write under (`{{ root }}`).
    pub fn work(&self) -> PathBuf {
        self.dir().join("work")
    }

    /// Write a file of the project (relative to the temp dir).
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Read a file of the project.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// `orbdeploy ARGS` as CI would run it: no terminal, `CI=true`, `NO_COLOR=1`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_orbdeploy"));
        c.args(args)
            .env("ORBDEPLOY_ORBCTL", self.fake.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env_remove("ORBDEPLOY_TRACE_DIR")
            .current_dir(self.dir())
            .stdin(Stdio::null());
        c
    }

    /// Run `orbdeploy ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().unwrap();
        Run::from_output(out)
    }

    /// Run `orbdeploy ARGS`, send it SIGINT once `marker` (under `work/`) exists, and wait
    /// for its end.
    pub fn interrupt_when(&self, args: &[&str], marker: &str) -> Run {
        let child: Child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let marker = self.work().join(marker);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marker.exists() {
            assert!(
                Instant::now() < deadline,
                "{} never appeared",
                marker.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        Run::from_output(child.wait_with_output().unwrap())
    }

    /// The orbctl calls made so far that could change a machine: every call but `list`,
    /// `info`, `status` and the `run` sessions. (`run` carries a multi-line agent script,
    /// so a call is told by its first line.)
    pub fn changing_calls(&self) -> Vec<String> {
        changing(&self.fake.calls())
    }

    /// insta settings that redact the temp dir, durations, timestamps and pids.
    pub fn settings(&self) -> insta::Settings {
        settings(self.dir())
    }

    /// [`Project::settings`] that keeps the "Slowest steps" block, for the test of it.
    pub fn settings_with_slowest(&self) -> insta::Settings {
        let mut s = base_settings();
        with_time_filters(&mut s, self.dir());
        s
    }
}

/// The calls of a calls.log that could change a machine (see [`Project::changing_calls`]).
pub fn changing(calls: &[String]) -> Vec<String> {
    const VERBS: [&str; 7] = [
        "create", "start", "stop", "restart", "delete", "clone", "push",
    ];
    calls
        .iter()
        .filter(|c| VERBS.iter().any(|v| c.split(' ').next() == Some(v)))
        .cloned()
        .collect()
}

/// insta settings for a snapshot of a run in `dir`: the temp dir reads `[dir]`, a duration
/// `#.##s` (human output) or `#.###` (JUnit), `#ms` in words, `#.#ms` and `#%` in the
/// `--timings` block, and pids `[pid]`.
pub fn settings(dir: &Path) -> insta::Settings {
    let mut s = base_settings();
    // Which steps took a second or more depends on the machine's load, not on what the
    // run did: the block is left out (`output::apply_slowest_steps` keeps it).
    s.add_filter(r"\nSlowest steps:\n(?:  [^\n]*\n)+", "\n");
    with_time_filters(&mut s, dir);
    s
}

/// What every snapshot of the suite's runs shares.
fn base_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_omit_expression(true);
    // serde_json keeps insertion order only when a crate of the build enables its
    // `preserve_order` (a `--workspace` build does): sorted keys read the same either way.
    s.set_sort_maps(true);
    s
}

/// The filters of the run's directory and its times.
fn with_time_filters(s: &mut insta::Settings, dir: &Path) {
    let mut dirs = vec![dir.display().to_string()];
    if let Ok(real) = dir.canonicalize() {
        dirs.push(real.display().to_string());
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
    dirs.dedup();
    for d in dirs {
        s.add_filter(&regex::escape(&d), "[dir]");
    }
    s.add_filter(r"\b\d+\.\d{2}s\b", "#.##s");
    s.add_filter(r#"time="\d+\.\d{3}""#, r##"time="#.###""##);
    // `--timings`: times under a second (`12.3ms`; before `#ms`, which would take its
    // decimal) and shares (`62%`).
    s.add_filter(r"\b\d+\.\dms\b", "#.#ms");
    s.add_filter(r"\b\d+%", "#%");
    s.add_filter(r"\b\d+ms\b", "#ms");
    s.add_filter(r"\bpid \d+\b", "pid [pid]");
}
