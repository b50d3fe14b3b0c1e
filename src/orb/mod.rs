//! The orbctl client: the only module that spells `orbctl`.
//!
//! Rules from `orbctl-reference.md` hold for every call built here: always `-m`, never `--`
//! after `run`'s flags, always `-w`, never `stop` without a name, `delete -f` by name only,
//! parse `-f json` and never the text table.

pub mod records;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use records::{Image, Machine, MachineConfig};

use crate::process::{self, Spec};

/// Time limit for read-only calls (`list`, `info`, `status`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Typed failures of orbctl calls, classified from real orbctl messages.
#[derive(Debug, thiserror::Error)]
pub enum OrbError {
    /// The orbctl binary could not be started.
    #[error("orbctl not found at `{path}`: install OrbStack (https://orbstack.dev), or pass --orbctl PATH / set ORBDEPLOY_ORBCTL")]
    Missing {
        /// What was tried.
        path: String,
    },
    /// OrbStack itself is not running or cannot start.
    #[error(
        "OrbStack is not running ({detail}): start it with `orbctl start` or open the OrbStack app"
    )]
    NotRunning {
        /// orbctl's own words.
        detail: String,
    },
    /// The machine does not exist.
    #[error("machine `{name}` does not exist: create it with `orbdeploy machines create`, or set `create: true` in the inventory")]
    MachineNotFound {
        /// The machine name.
        name: String,
    },
    /// Any other failure of an orbctl call.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines of its stderr.
        stderr: String,
    },
}

impl OrbError {
    /// The orbdeploy exit code this error leads to.
    pub fn exit_code(&self) -> i32 {
        match self {
            OrbError::Missing { .. }
            | OrbError::NotRunning { .. }
            | OrbError::MachineNotFound { .. } => crate::error::exit::UNAVAILABLE,
            OrbError::Failed { .. } => crate::error::exit::FAILED,
        }
    }
}

/// A handle on one orbctl binary.
#[derive(Debug, Clone)]
pub struct Orb {
    bin: PathBuf,
}

impl Orb {
    /// Use this orbctl binary (a path, or a name looked up on `PATH`).
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        Orb { bin: bin.into() }
    }

    /// The binary in use.
    pub fn bin(&self) -> &std::path::Path {
        &self.bin
    }

    /// Run an orbctl subcommand and return its stdout, classifying failures.
    fn call(&self, args: &[&str], timeout: Duration) -> Result<Vec<u8>, OrbError> {
        let mut argv: Vec<OsString> = vec![self.bin.clone().into()];
        argv.extend(args.iter().map(OsString::from));
        let spec = Spec::new(argv).timeout(Some(timeout));
        let out = process::run(&spec).map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(self.classify(&spec.display(), &out))
    }

    fn spawn_error(&self, err: process::ProcessError) -> OrbError {
        if err.is_not_found() {
            return OrbError::Missing {
                path: self.bin.display().to_string(),
            };
        }
        OrbError::Failed {
            command: self.bin.display().to_string(),
            status: "did not complete".to_string(),
            stderr: err.to_string(),
        }
    }

    /// Turn a failed call into a typed error from orbctl's own words (reference §7); when
    /// the words say nothing known, ask `orbctl status` whether OrbStack is up at all.
    fn classify(&self, command: &str, out: &process::Output) -> OrbError {
        let stderr = out.stderr_tail(5);
        if let Some(name) = machine_not_found(&stderr) {
            return OrbError::MachineNotFound { name };
        }
        if self.status_says_stopped() {
            return OrbError::NotRunning { detail: stderr };
        }
        OrbError::Failed {
            command: command.to_string(),
            status: out.status.to_string(),
            stderr,
        }
    }

    fn status_says_stopped(&self) -> bool {
        let spec =
            Spec::new([self.bin.as_os_str(), "status".as_ref()]).timeout(Some(QUERY_TIMEOUT));
        match process::run(&spec) {
            // `status` prints Running (0), Stopped (1) or Starting (2) and never auto-starts.
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim() == "Stopped",
            Err(_) => false,
        }
    }

    /// `orbctl list -f json`: every (non-builtin) machine.
    pub fn list(&self) -> Result<Vec<Machine>, OrbError> {
        let out = self.call(&["list", "-f", "json"], QUERY_TIMEOUT)?;
        records::parse_list(&out).map_err(|e| self.bad_json("list -f json", e))
    }

    /// `orbctl info NAME -f json`: one machine, with its IPv4 address when running.
    pub fn info(&self, name: &str) -> Result<Machine, OrbError> {
        let out = self.call(&["info", name, "-f", "json"], QUERY_TIMEOUT)?;
        records::parse_info(&out).map_err(|e| self.bad_json("info -f json", e))
    }

    fn bad_json(&self, what: &str, err: serde_json::Error) -> OrbError {
        OrbError::Failed {
            command: format!("{} {what}", self.bin.display()),
            status: "exit code 0".to_string(),
            stderr: format!("its output is not the JSON orbdeploy expects: {err}"),
        }
    }

    /// argv of `orbctl run -m MACHINE [-u USER] -w WORKDIR ARGV...`.
    ///
    /// `argv[0]` must not start with `-` (orbctl would read it as a flag, and `--` is not
    /// accepted as a separator), so callers pass a program name such as `sh`.
    pub fn run_argv(
        &self,
        machine: &str,
        user: Option<&str>,
        workdir: &str,
        argv: &[&str],
    ) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec![
            self.bin.clone().into(),
            "run".into(),
            "-m".into(),
            machine.into(),
        ];
        if let Some(user) = user {
            out.push("-u".into());
            out.push(user.into());
        }
        out.push("-w".into());
        out.push(workdir.into());
        out.extend(argv.iter().map(OsString::from));
        out
    }

    /// argv of `orbctl push -m MACHINE SRC DEST` (copies as the machine's default user).
    pub fn push_argv(&self, machine: &str, src: &std::path::Path, dest: &str) -> Vec<OsString> {
        vec![
            self.bin.clone().into(),
            "push".into(),
            "-m".into(),
            machine.into(),
            src.as_os_str().to_owned(),
            dest.into(),
        ]
    }

    /// argv of `orbctl pull -m MACHINE SRC DEST` (copies as the machine's default user).
    pub fn pull_argv(&self, machine: &str, src: &str, dest: &std::path::Path) -> Vec<OsString> {
        vec![
            self.bin.clone().into(),
            "pull".into(),
            "-m".into(),
            machine.into(),
            src.into(),
            dest.as_os_str().to_owned(),
        ]
    }
}

/// The machine name in `[-32098] machine not found: 'NAME'`.
fn machine_not_found(stderr: &str) -> Option<String> {
    let rest = stderr.split("machine not found: '").nth(1)?;
    let end = rest.rfind('\'')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_not_found_is_recognised() {
        assert_eq!(
            machine_not_found("[-32098] machine not found: 'web-1'"),
            Some("web-1".to_string())
        );
        assert_eq!(machine_not_found("something else"), None);
    }

    #[test]
    fn run_argv_always_has_machine_and_workdir_and_no_double_dash() {
        let orb = Orb::new("orbctl");
        let argv = orb.run_argv("web-1", Some("root"), "/", &["sh", "-c", "true"]);
        let argv: Vec<_> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv,
            ["orbctl", "run", "-m", "web-1", "-u", "root", "-w", "/", "sh", "-c", "true"]
        );
    }
}
