//! Shared helpers: a state home of its own per test, orbsim invoked as `orbctl` (or `orb`),
//! and a guard that deletes every machine of the home even when the test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub struct Sim {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Out {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Sim {
    pub fn new() -> Sim {
        assert!(
            nix::unistd::geteuid().is_root(),
            "orbsim's tests need root (namespaces, overlay, veth): run them as root"
        );
        let dir = tempfile::Builder::new()
            .prefix("orbsim-test-")
            .tempdir()
            .unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_orbsim"), bin.join("orbctl")).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_orbsim"), bin.join("orb")).unwrap();
        Sim {
            dir,
            env: Vec::new(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(self.dir.path().join("bin").join(program));
        c.args(args)
            .env("ORBSIM_HOME", self.home())
            .env_remove("ORBSIM_FAULTS")
            .env_remove("ORBSIM_LOG")
            .current_dir(self.dir.path());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn orbctl(&self, args: &[&str]) -> Out {
        self.run_program("orbctl", args, None)
    }

    pub fn orb(&self, args: &[&str]) -> Out {
        self.run_program("orb", args, None)
    }

    pub fn with_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.run_program("orbctl", args, Some(stdin))
    }

    /// `orbctl ARGS` with extra environment (faults, compat switches).
    pub fn orbctl_env(&self, env: &[(&str, &str)], args: &[&str]) -> Out {
        let mut c = self.command("orbctl", args);
        c.envs(env.iter().copied());
        self.run_command(c, None)
    }

    /// [`Sim::sh`] with extra environment.
    pub fn sh_env(&self, env: &[(&str, &str)], machine: &str, script: &str) -> Out {
        self.orbctl_env(env, &["run", "-m", machine, "-w", "/", "sh", "-c", script])
    }

    pub fn run_program(&self, program: &str, args: &[&str], stdin: Option<&[u8]>) -> Out {
        self.run_command(self.command(program, args), stdin)
    }

    fn run_command(&self, mut c: Command, stdin: Option<&[u8]>) -> Out {
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let data = data.to_vec();
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = pipe.write_all(&data);
            });
        }
        let out: Output = wait_with_timeout(child, Duration::from_secs(300));
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            raw_stdout: out.stdout,
        }
    }

    /// `run -m M -w / sh -c SCRIPT`.
    pub fn sh(&self, machine: &str, script: &str) -> Out {
        self.orbctl(&["run", "-m", machine, "-w", "/", "sh", "-c", script])
    }

    pub fn create(&self, name: &str) {
        self.orbctl(&["create", "debian:bookworm", name]).ok();
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.orbctl(args);
        out.ok();
        serde_json::from_str(&out.stdout).unwrap()
    }
}

fn wait_with_timeout(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("orbsim did not finish within {limit:?}");
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Faults set by the test must not stop the cleanup.
        self.env.clear();
        if self.home().exists() {
            let _ = self.command("orbctl", &["delete", "-f", "-a"]).output();
        }
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
