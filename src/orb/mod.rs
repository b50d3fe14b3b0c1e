//! The orbctl client: the only module that spells `orbctl`.
//!
//! Rules from docs/orbctl.md hold for every call built here: always `-m`, never `--` after
//! `run`'s flags, always `-w`, never `stop` without a name, `delete -f` by name only, parse
//! `-f json` and never the text table, and every call has a deadline ([`Deadlines`]).

pub mod deadlines;
mod error;
pub mod images;
pub mod records;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use deadlines::Deadlines;
pub use error::OrbError;
pub use records::{Image, Machine, MachineConfig};

use crate::process::{self, Spec};
use error::{machine_not_found, quoted_after, Retry};

/// Pauses between attempts of a call that failed in a passing way; an image service outage
/// gets one try more than there are pauses before it is reported.
const RETRY_BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// A handle on one orbctl binary.
#[derive(Debug, Clone)]
pub struct Orb {
    bin: PathBuf,
    deadlines: Deadlines,
}

impl Orb {
    /// Use this orbctl binary (a path, or a name looked up on `PATH`) with the default
    /// deadlines.
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        Orb::with_deadlines(bin, Deadlines::default())
    }

    /// Use this orbctl binary with these deadlines.
    pub fn with_deadlines(bin: impl Into<PathBuf>, deadlines: Deadlines) -> Self {
        Orb {
            bin: bin.into(),
            deadlines,
        }
    }

    /// The deadlines in force.
    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
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
        let out = process::run(&spec).map_err(|e| self.spawn_error(e, &spec, timeout))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(self.classify(&spec.display(), &out))
    }

    fn spawn_error(&self, err: process::ProcessError, spec: &Spec, timeout: Duration) -> OrbError {
        if err.is_not_found() {
            return OrbError::Missing {
                path: self.bin.display().to_string(),
            };
        }
        if matches!(err, process::ProcessError::Timeout { .. }) {
            // A call that hangs is the usual sign of a stopped OrbStack (§11.3); `status`
            // answers at once and tells that apart from a slow machine manager.
            if self.status_says_stopped() {
                return OrbError::NotRunning {
                    detail: format!(
                        "`{}` did not answer in {} s",
                        spec.display(),
                        timeout.as_secs()
                    ),
                };
            }
            return OrbError::Timeout {
                command: spec.display(),
                seconds: timeout.as_secs(),
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
        if let Some(name) = quoted_after(&stderr, "machine already exists: '") {
            return OrbError::AlreadyExists { name };
        }
        if let Some(name) = quoted_after(&stderr, "invalid machine name '") {
            return OrbError::InvalidName { name };
        }
        if error::cannot_run(&stderr) {
            return OrbError::CannotRun { detail: stderr };
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

    /// Explain why an `orbctl run` session ended before doing its work: orbctl says
    /// nothing for a missing machine (reference §4), so ask `info` and `status`.
    pub fn diagnose_run_failure(&self, machine: &str, command: &str, stderr: &str) -> OrbError {
        let tail = process::tail_lines(stderr.as_bytes(), 5);
        if let Some(name) = machine_not_found(&tail) {
            return OrbError::MachineNotFound { name };
        }
        match self.info(machine) {
            Err(e @ OrbError::MachineNotFound { .. }) => e,
            Err(e @ (OrbError::NotRunning { .. } | OrbError::Missing { .. })) => e,
            _ => OrbError::Failed {
                command: command.to_string(),
                status: "session ended".to_string(),
                stderr: if tail.is_empty() {
                    "no message from orbctl".to_string()
                } else {
                    tail
                },
            },
        }
    }

    fn status_says_stopped(&self) -> bool {
        let spec = Spec::new([self.bin.as_os_str(), "status".as_ref()])
            .timeout(Some(self.deadlines.status));
        match process::run(&spec) {
            // `status` prints Running (0), Stopped (1) or Starting (2) and never auto-starts.
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim() == "Stopped",
            Err(_) => false,
        }
    }

    /// `orbctl list -f json`: every (non-builtin) machine.
    pub fn list(&self) -> Result<Vec<Machine>, OrbError> {
        let out = self.call(&["list", "-f", "json"], self.deadlines.query)?;
        records::parse_list(&out).map_err(|e| self.bad_json("list -f json", e))
    }

    /// `orbctl info NAME -f json`: one machine, with its IPv4 address when running.
    pub fn info(&self, name: &str) -> Result<Machine, OrbError> {
        let out = self.call(&["info", name, "-f", "json"], self.deadlines.query)?;
        records::parse_info(&out).map_err(|e| self.bad_json("info -f json", e))
    }

    fn bad_json(&self, what: &str, err: serde_json::Error) -> OrbError {
        OrbError::Failed {
            command: format!("{} {what}", self.bin.display()),
            status: "exit code 0".to_string(),
            stderr: format!("its output is not the JSON orbdeploy expects: {err}"),
        }
    }

    /// A lifecycle call, retried when orbctl says the failure is passing (the machine
    /// manager restarting, a server deadline). Only orbctl's own messages are matched.
    fn lifecycle(&self, args: &[&str], timeout: Duration) -> Result<(), OrbError> {
        let mut attempt = 0;
        loop {
            match self.call(args, timeout) {
                Ok(_) => return Ok(()),
                Err(OrbError::Failed { ref stderr, .. })
                    if error::retry(stderr) == Retry::Soon && attempt < RETRY_BACKOFF.len() =>
                {
                    std::thread::sleep(RETRY_BACKOFF[attempt]);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// argv of `orbctl create [-a ARCH] [-u USER] [-c FILE] [--cpus N] [--memory NM]
    /// [--disk NB] [--isolated] [--mount SRC[:DEST]]... [--isolate-network]
    /// [--forward-ssh-agent] DISTRO[:VERSION] NAME` (the 2026 flags as third-party scripts
    /// spell them, docs/orbctl.md §11.2 \[3P\]).
    pub fn create_argv(&self, spec: &CreateSpec) -> Vec<String> {
        let mut argv = vec![self.bin.display().to_string(), "create".to_string()];
        let mut opt = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                argv.extend([flag.to_string(), v]);
            }
        };
        opt("-a", spec.arch.clone());
        opt("-u", spec.user.clone());
        opt(
            "-c",
            spec.cloud_init.as_ref().map(|f| f.display().to_string()),
        );
        opt("--cpus", spec.cpus.map(|c| c.to_string()));
        // Whole MiB and bytes with an explicit unit: no guess about what a bare number means.
        opt("--memory", spec.memory_mib.map(|m| format!("{m}M")));
        opt("--disk", spec.disk_bytes.map(|d| format!("{}M", d >> 20)));
        let flags = [
            (spec.isolated, "--isolated"),
            (spec.isolate_network, "--isolate-network"),
            (spec.forward_ssh_agent, "--forward-ssh-agent"),
        ];
        argv.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| f.to_string()),
        );
        for m in &spec.mounts {
            argv.extend(["--mount".to_string(), m.clone()]);
        }
        argv.extend([spec.image.clone(), spec.name.clone()]);
        argv
    }

    /// `orbctl config show`: every `key: value` line (docs/orbctl.md §2; `config get` prints
    /// them all too in the builds the reference saw, so `show` is the one call to make).
    pub fn config_show(&self) -> Result<std::collections::BTreeMap<String, String>, OrbError> {
        let out = self.call(&["config", "show"], self.deadlines.query)?;
        Ok(crate::plan::settings::parse_config(
            &String::from_utf8_lossy(&out),
        ))
    }

    /// argv of `orbctl config set KEY VALUE`.
    pub fn config_set_argv(&self, key: &str, value: &str) -> Vec<String> {
        vec![
            self.bin.display().to_string(),
            "config".to_string(),
            "set".to_string(),
            key.to_string(),
            value.to_string(),
        ]
    }

    /// `orbctl config set KEY VALUE`.
    pub fn config_set(&self, key: &str, value: &str) -> Result<(), OrbError> {
        self.lifecycle(&["config", "set", key, value], self.deadlines.lifecycle)
    }

    /// Create a machine; returns when it is set up and running.
    ///
    /// A create that failed in a passing way (an image index timeout, a cut download, a
    /// mirror's bad gateway; docs/orbctl.md §11.5) is tried again only when `info` shows
    /// it left no machine behind; otherwise the caller decides, since a failed create may
    /// have left a usable machine (§8). An image service outage is tried as often, then
    /// reported as such.
    pub fn create(&self, spec: &CreateSpec) -> Result<(), OrbError> {
        let argv = self.create_argv(spec);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        let mut attempt = 0;
        loop {
            let err = match self.call(&args, self.deadlines.create) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let OrbError::Failed { stderr, .. } = &err else {
                return Err(err);
            };
            let kind = error::retry(stderr);
            let nothing_left =
                || matches!(self.info(&spec.name), Err(OrbError::MachineNotFound { .. }));
            if kind == Retry::No || !nothing_left() {
                return Err(err);
            }
            if attempt == RETRY_BACKOFF.len() {
                return Err(match kind {
                    Retry::Outage => OrbError::ImageServiceUnavailable {
                        tries: attempt + 1,
                        detail: stderr.clone(),
                    },
                    _ => err,
                });
            }
            std::thread::sleep(RETRY_BACKOFF[attempt]);
            attempt += 1;
        }
    }

    /// argv of a one-machine lifecycle call (`start`, `stop`, `restart`, `delete -f`).
    ///
    /// One name per call on purpose: `orbctl stop` with no name stops all of OrbStack.
    pub fn lifecycle_argv(&self, verb: Lifecycle, name: &str) -> Vec<String> {
        let mut argv = vec![self.bin.display().to_string(), verb.word().to_string()];
        if matches!(verb, Lifecycle::Delete | Lifecycle::ForceStop) {
            argv.push("-f".to_string());
        }
        argv.push(name.to_string());
        argv
    }

    /// Start, stop, restart or delete one machine by name.
    pub fn lifecycle_call(&self, verb: Lifecycle, name: &str) -> Result<(), OrbError> {
        let argv = self.lifecycle_argv(verb, name);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        self.lifecycle(&args, self.deadlines.lifecycle)
    }

    /// `orbctl clone OLD NEW` (the new machine is left stopped).
    pub fn clone_machine(&self, old: &str, new: &str) -> Result<(), OrbError> {
        self.lifecycle(&["clone", old, new], self.deadlines.lifecycle)
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

/// What to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSpec {
    /// Machine name.
    pub name: String,
    /// `DISTRO[:VERSION]`.
    pub image: String,
    /// `--arch`.
    pub arch: Option<String>,
    /// `--user` (the default user).
    pub user: Option<String>,
    /// cloud-init user data file.
    pub cloud_init: Option<PathBuf>,
    /// `--cpus`.
    pub cpus: Option<u64>,
    /// `--memory`, in MiB.
    pub memory_mib: Option<u64>,
    /// `--disk`, in bytes (passed in whole MiB).
    pub disk_bytes: Option<u64>,
    /// `--isolated`.
    pub isolated: bool,
    /// `--isolate-network`.
    pub isolate_network: bool,
    /// `--forward-ssh-agent`.
    pub forward_ssh_agent: bool,
    /// `--mount SRC[:DEST]`, in order.
    pub mounts: Vec<String>,
}

/// Lifecycle verbs that take one machine name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// `orbctl start NAME`.
    Start,
    /// `orbctl stop NAME`.
    Stop,
    /// `orbctl stop -f NAME` (orbctl's `-f` only changes anything when stopping all of
    /// OrbStack, reference §2; passed through so `machines stop --force` means what it says).
    ForceStop,
    /// `orbctl restart NAME`.
    Restart,
    /// `orbctl delete -f NAME`.
    Delete,
}

impl Lifecycle {
    fn word(self) -> &'static str {
        match self {
            Lifecycle::Start => "start",
            Lifecycle::Stop | Lifecycle::ForceStop => "stop",
            Lifecycle::Restart => "restart",
            Lifecycle::Delete => "delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_argv_has_one_name_and_delete_is_forced() {
        let orb = Orb::new("orbctl");
        assert_eq!(
            orb.lifecycle_argv(Lifecycle::Stop, "a1"),
            ["orbctl", "stop", "a1"]
        );
        assert_eq!(
            orb.lifecycle_argv(Lifecycle::Delete, "a1"),
            ["orbctl", "delete", "-f", "a1"]
        );
        let spec = CreateSpec {
            name: "web-1".into(),
            image: "debian:bookworm".into(),
            arch: Some("amd64".into()),
            user: Some("deploy".into()),
            ..CreateSpec::default()
        };
        assert_eq!(
            orb.create_argv(&spec),
            [
                "orbctl",
                "create",
                "-a",
                "amd64",
                "-u",
                "deploy",
                "debian:bookworm",
                "web-1"
            ]
        );
        let spec = CreateSpec {
            name: "w".into(),
            image: "ubuntu:22.04".into(),
            cpus: Some(4),
            memory_mib: Some(4096),
            disk_bytes: Some(64 << 30),
            isolated: true,
            mounts: vec!["/src:/code".into(), "/data".into()],
            isolate_network: true,
            ..CreateSpec::default()
        };
        assert_eq!(
            orb.create_argv(&spec).join(" "),
            "orbctl create --cpus 4 --memory 4096M --disk 65536M --isolated --isolate-network --mount /src:/code --mount /data ubuntu:22.04 w"
        );
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
