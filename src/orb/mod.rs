//! The orbctl client: the only module that spells `orbctl`.
//!
//! Rules from `orbctl-reference.md` hold for every call built here: always `-m`, never `--`
//! after `run`'s flags, always `-w`, never `stop` without a name, `delete -f` by name only,
//! parse `-f json` and never the text table.

use std::ffi::OsString;
use std::path::PathBuf;

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

#[cfg(test)]
mod tests {
    use super::*;

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
