//! How a transport starts a program on a machine as a user: `orbctl run -m M [-u U] -w /`
//! for an OrbStack machine, `ssh … HOST 'cd / && exec [sudo -n -u U --] …'` for an ssh
//! host. The channel and the one-shot path are written once over this; only the launcher
//! knows which way the machine is reached.

use std::ffi::OsString;
use std::fs::File;

use crate::orb::{Orb, OrbError};
use crate::process::{GroupChild, ProcessError};
use crate::remote::RemoteError;

/// What carries a session's pipes: the launcher process (`orbctl run`, `ssh`), or an ssh
/// session opened over the master's control socket (no process of its own).
pub trait Carrier: Send {
    /// How it ended, once it has (`None`: still running).
    fn ended(&mut self) -> Option<String>;
    /// End it now, with what it started on this side.
    fn end(&mut self);
}

impl Carrier for GroupChild {
    fn ended(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    fn end(&mut self) {
        self.kill();
    }
}

/// A session's three pipes, and what carries them.
pub struct Attached {
    /// The process, or the control connection.
    pub carrier: Box<dyn Carrier>,
    /// The agent's stdin.
    pub stdin: File,
    /// The agent's stdout.
    pub stdout: File,
    /// The agent's stderr (and the launcher's own).
    pub stderr: File,
}

impl From<crate::process::Piped> for Attached {
    fn from(p: crate::process::Piped) -> Attached {
        use std::os::fd::OwnedFd;
        Attached {
            carrier: Box::new(p.child),
            stdin: File::from(OwnedFd::from(p.stdin)),
            stdout: File::from(OwnedFd::from(p.stdout)),
            stderr: File::from(OwnedFd::from(p.stderr)),
        }
    }
}

/// Starts programs on one machine.
pub trait Launcher: Send + Sync {
    /// The argv that runs `words` (a program and its arguments, passed unchanged) on the
    /// machine as `user` (`None`: the default or login user), in `/`.
    fn argv(&self, user: Option<&str>, words: &[&str]) -> Vec<OsString>;

    /// The argv that starts the channel agent (`sh -c AGENT orbdeploy-agent NONCE`) as
    /// `user`.
    fn agent_argv(&self, user: Option<&str>, agent: &str, nonce: &str) -> Vec<OsString> {
        self.argv(user, &["sh", "-c", agent, "orbdeploy-agent", nonce])
    }

    /// Open the agent's session without a launcher process, where the transport can (ssh:
    /// over the master's control socket, src/remote/ssh/mux.rs). `Ok(None)`: start
    /// [`Launcher::agent_argv`] as a process instead.
    fn attach(
        &self,
        _user: Option<&str>,
        _agent: &str,
        _nonce: &str,
    ) -> Result<Option<Attached>, RemoteError> {
        Ok(None)
    }

    /// Get ready to start a process (ssh: the master is up). A failure here means no
    /// process could reach the machine.
    fn prepare(&self) -> Result<(), RemoteError> {
        Ok(())
    }

    /// The error for a session whose agent never said it was ready: `command` as a user
    /// would type it, `stderr` what the launcher process said.
    fn open_failed(&self, user: Option<&str>, command: &str, stderr: &str) -> RemoteError;

    /// The error for a launcher process that could not be started at all.
    fn spawn_failed(&self, e: ProcessError) -> RemoteError;

    /// What a session is called in messages (`the orbctl run session`).
    fn session_name(&self) -> &'static str;

    /// What the user can do when a session dies (`check the machine with …`).
    fn check_hint(&self) -> String;

    /// The error a finished one-shot call stands for, when its status and output show
    /// that the launcher failed rather than the command (`None`: the command's own result).
    fn call_failed(&self, _status: i32, _stdout: &[u8], _stderr: &[u8]) -> Option<RemoteError> {
        None
    }

    /// Whether ending the local process leaves the remote command running, so that a
    /// one-shot call's time limit must be enforced on the machine (ssh without a tty);
    /// `orbctl run` ends the command with itself.
    fn needs_remote_timeout(&self) -> bool {
        false
    }

    /// The password to give sudo when it asks, for a session as `user` (an ssh host with
    /// `become_password:`); `None`: sudo may not ask (`sudo -n`). The session's argv then
    /// has sudo print [`crate::remote::channel::sudo_prompt`] and read stdin.
    fn sudo_password(&self, _user: Option<&str>) -> Option<String> {
        None
    }

    /// sudo refused [`Launcher::sudo_password`] for `user`: the error, which the launcher
    /// keeps, so that later sessions as that user fail at once without giving it again.
    fn sudo_refused(&self, user: &str) -> RemoteError;

    /// Whether a user's requests share the default user's session: true for the user
    /// the host is logged into over ssh (one session per account, not per spelling).
    fn is_login_user(&self, _user: &str) -> bool {
        false
    }
}

/// `orbctl run` on an OrbStack machine.
pub struct OrbLauncher {
    /// The orbctl to run.
    pub orb: Orb,
    /// The machine.
    pub machine: String,
}

impl Launcher for OrbLauncher {
    fn argv(&self, user: Option<&str>, words: &[&str]) -> Vec<OsString> {
        self.orb.run_argv(&self.machine, user, "/", words)
    }

    fn open_failed(&self, _user: Option<&str>, command: &str, stderr: &str) -> RemoteError {
        RemoteError::Orb(
            self.orb
                .diagnose_run_failure(&self.machine, command, stderr),
        )
    }

    fn spawn_failed(&self, e: ProcessError) -> RemoteError {
        if e.is_not_found() {
            RemoteError::Orb(OrbError::Missing {
                path: self.orb.bin().display().to_string(),
            })
        } else {
            RemoteError::Process(e)
        }
    }

    fn session_name(&self) -> &'static str {
        "the orbctl run session"
    }

    fn sudo_refused(&self, user: &str) -> RemoteError {
        // Never asked: orbctl runs as any user without sudo, and the loader refuses a
        // `become_password:` for an OrbStack machine.
        RemoteError::Disconnected {
            machine: self.machine.clone(),
            detail: format!("sudo refused the password for {user}"),
        }
    }

    fn call_failed(&self, status: i32, stdout: &[u8], stderr: &[u8]) -> Option<RemoteError> {
        // orbctl says nothing when the machine is gone (docs/orbctl.md §4.3): exit 1 with
        // empty output is worth a closer look before blaming the user's command.
        if status != 1 || !stdout.is_empty() || !stderr.is_empty() {
            return None;
        }
        match self.orb.info(&self.machine) {
            Err(e @ (OrbError::MachineNotFound { .. } | OrbError::NotRunning { .. })) => {
                Some(RemoteError::Orb(e))
            }
            _ => None,
        }
    }

    fn check_hint(&self) -> String {
        format!(
            "check the machine with `{} info {}`",
            self.orb.bin().display(),
            self.machine
        )
    }
}
