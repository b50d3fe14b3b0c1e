//! The ssh transport: a machine with an `ssh:` block is reached with the system OpenSSH
//! client, through the same channel agent (or, with `--no-channel`, the same one-shot
//! reader) as an OrbStack machine. One master per host ([`Master`]) authenticates once;
//! every session and call goes over its socket. A session runs as the login user, or
//! through `sudo -n -u USER` for another user or `become`. The first request on a
//! connection reads the host's facts ([`facts_script`]), which become its template variables.
//! With `become_password:`, a channel session as another user goes through `sudo -S`
//! instead, which the session answers once (src/remote/channel/sudo.rs).

mod argv;
mod errors;
mod facts;
mod master;
mod master_log;
mod mux;
pub mod persist;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::process::ProcessError;
use crate::remote::launcher::{Attached, Launcher};
use crate::remote::trace::Tracer;
use crate::remote::{
    channel::Channel, oneshot::OneShot, Exec, ExecOutput, HostReport, Input, Link, Meter, Remote,
    RemoteError, Transport, WriteFile,
};
use crate::ssh_target::SshTarget;

pub use argv::{remote_command, ssh_program, sudo_command, Argv};
pub use errors::{classify, host_label, SshError};
pub use facts::{facts_script, parse_facts};
pub use master::{host_fingerprints, ControlDir, Master, Stopped};

/// Starts programs on an ssh host over its master.
pub struct SshLauncher {
    master: Master,
    machine: String,
    /// The login user: from the inventory, else learnt from the host's facts.
    login: RwLock<Option<String>>,
    /// When the first session was asked of the master (see [`SESSION_WAIT`]).
    first_session: Mutex<Option<Instant>>,
    /// The password sudo asks for (`become_password:`), once the run rendered it.
    become_password: RwLock<Option<String>>,
    /// The users sudo refused that password for: not tried again.
    refused: Mutex<Vec<String>>,
}

/// How long a connection's later sessions wait for the host's post-login message, counted
/// from its first session request. The first session is asked for as soon as the master is
/// up; it carries the acknowledgement of the login. The host answers it only once its
/// session process is ready (about 20 ms later on the benchmark bed), and first sends its
/// post-login message (`hostkeys-00`, about 900 bytes): sshd's Nagle then holds the
/// confirmations until the client acknowledges that message, which a client with nothing to
/// send delays by 40 ms. A session asked for after the message arrived carries that
/// acknowledgement, and every confirmation comes at once. Seen with `strace -tt` of the
/// master and measured on the bed (BENCHMARKS.md, "Sessions over the control socket"). A
/// host that sends no such message (not OpenSSH) costs its later sessions this long.
const SESSION_WAIT: Duration = Duration::from_millis(60);

impl SshLauncher {
    /// A launcher for `machine` at `target`; nothing is started yet.
    pub fn new(machine: &str, target: &SshTarget) -> SshLauncher {
        SshLauncher {
            master: Master::new(target),
            machine: machine.to_string(),
            login: RwLock::new(target.user.clone()),
            first_session: Mutex::new(None),
            become_password: RwLock::new(None),
            refused: Mutex::new(Vec::new()),
        }
    }

    /// Give sudo this password when it asks (sessions opened from now on).
    pub fn set_become_password(&self, password: &str) {
        if let Ok(mut p) = self.become_password.write() {
            *p = Some(password.to_string());
        }
    }

    /// The command that starts the agent as `user`: through `sudo -S` with the session's
    /// prompt when there is a password to give it.
    fn agent_command(&self, user: Option<&str>, agent: &str, nonce: &str) -> String {
        let prompt = self
            .sudo_password(user)
            .map(|_| crate::remote::channel::sudo_prompt(nonce));
        agent_command(user, agent, nonce, prompt.as_deref())
    }

    fn refusal(&self, user: &str) -> RemoteError {
        RemoteError::Ssh(SshError::SudoRefused {
            machine: self.machine.clone(),
            host: self.host(),
            user: user.to_string(),
        })
    }

    /// The host's master.
    pub fn master(&self) -> &Master {
        &self.master
    }

    fn host(&self) -> String {
        host_label(&self.master.argv().target)
    }

    /// Remember who the host logged us in as (from its facts).
    fn learn_login(&self, user: &str) {
        if let Ok(mut login) = self.login.write() {
            if login.is_none() && !user.is_empty() {
                *login = Some(user.to_string());
            }
        }
    }

    /// A session's turn: the connection's first goes at once, a later one once the host's
    /// post-login message has reached the master (at most [`SESSION_WAIT`] after the first).
    fn wait_turn(&self) {
        let first = match self.first_session.lock() {
            Ok(mut first) => match *first {
                Some(at) => at,
                None => {
                    *first = Some(Instant::now());
                    return;
                }
            },
            Err(_) => return,
        };
        self.master.wait_post_login(first + SESSION_WAIT);
    }

    /// The connection broke: what ssh (the call and the master) said.
    fn broken(&self, stderr: &str) -> RemoteError {
        let mut said = crate::process::tail_lines(stderr.as_bytes(), 2);
        let master = crate::process::tail_lines(self.master.stderr_text().as_bytes(), 2);
        if !master.is_empty() {
            said = if said.is_empty() {
                master
            } else {
                format!("{said}; {master}")
            };
        }
        RemoteError::Disconnected {
            machine: self.machine.clone(),
            detail: format!(
                "the ssh connection to {} broke{}",
                self.host(),
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            ),
        }
    }
}

/// The command that starts the agent as `user`. The agent also gets the pid of the sshd
/// process serving the session (`$PPID` of the login shell, expanded there), so that it
/// ends when the connection does (agent.sh).
fn agent_command(user: Option<&str>, agent: &str, nonce: &str, prompt: Option<&str>) -> String {
    let words = ["sh", "-c", agent, "orbdeploy-agent", nonce];
    format!("{} \"$PPID\"", sudo_command(user, &words, prompt))
}

/// Whether a sudo of ours asked for a password (`sudo -n` refuses to prompt).
fn sudo_wants_password(stderr: &str) -> bool {
    stderr.contains("sudo:")
        && (stderr.contains("a password is required") || stderr.contains("a terminal is required"))
}

/// Whether the host has no sudo (the login shell could not find it).
fn sudo_missing(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.contains("sudo") && (l.contains("not found") || l.contains("No such file")))
}

impl Launcher for SshLauncher {
    fn argv(&self, user: Option<&str>, words: &[&str]) -> Vec<OsString> {
        self.master.argv().call(&remote_command(user, words))
    }

    fn agent_argv(&self, user: Option<&str>, agent: &str, nonce: &str) -> Vec<OsString> {
        self.master
            .argv()
            .call(&self.agent_command(user, agent, nonce))
    }

    /// Over the master's socket, without an `ssh -S` client (mux.rs), unless
    /// `ORBDEPLOY_SSH_MUX=client` asks for the client, or the master speaks another
    /// version of the protocol.
    fn attach(
        &self,
        user: Option<&str>,
        agent: &str,
        nonce: &str,
    ) -> Result<Option<Attached>, RemoteError> {
        if let Some(user) = user.filter(|u| {
            self.refused
                .lock()
                .is_ok_and(|r| r.contains(&u.to_string()))
        }) {
            return Err(self.refusal(user));
        }
        self.wait_turn();
        if std::env::var_os("ORBDEPLOY_SSH_MUX").is_some_and(|v| v == "client") {
            return Ok(None);
        }
        let command = self.agent_command(user, agent, nonce);
        match mux::open(&self.master.argv().control_path, &command) {
            Ok(attached) => Ok(Some(attached)),
            Err(mux::MuxError::Version(_)) => Ok(None),
            Err(e) if !self.master.is_up() => Err(self.broken(&e.to_string())),
            Err(e) => Err(RemoteError::Ssh(SshError::Other {
                host: self.host(),
                status: None,
                detail: e.to_string(),
            })),
        }
    }

    fn prepare(&self) -> Result<(), RemoteError> {
        self.master.ensure().map_err(|e| {
            // The master was up once: this is the link that broke, not a host never reached.
            if self.master.starts() > 1 {
                RemoteError::Disconnected {
                    machine: self.machine.clone(),
                    detail: format!("reconnecting to {} failed: {e}", self.host()),
                }
            } else {
                RemoteError::Ssh(e)
            }
        })
    }

    fn open_failed(&self, user: Option<&str>, _command: &str, stderr: &str) -> RemoteError {
        if let (Some(user), true) = (user, sudo_wants_password(stderr)) {
            return RemoteError::Ssh(SshError::SudoPassword {
                host: self.host(),
                user: user.to_string(),
            });
        }
        if let (Some(user), true) = (user, sudo_missing(stderr)) {
            return RemoteError::Ssh(SshError::NoSudo {
                host: self.host(),
                user: user.to_string(),
            });
        }
        if !self.master.is_up() {
            return self.broken(stderr);
        }
        RemoteError::Ssh(classify(
            &self.master.argv().target,
            None,
            stderr,
            &Vec::new,
        ))
    }

    fn spawn_failed(&self, e: ProcessError) -> RemoteError {
        if e.is_not_found() {
            RemoteError::Ssh(SshError::Missing {
                program: self.master.argv().program.display().to_string(),
            })
        } else {
            RemoteError::Process(e)
        }
    }

    fn call_failed(&self, status: i32, _stdout: &[u8], stderr: &[u8]) -> Option<RemoteError> {
        let text = String::from_utf8_lossy(stderr);
        let has_password = self.become_password.read().is_ok_and(|p| p.is_some());
        if status == 1 && sudo_wants_password(&text) && has_password {
            let host = self.host();
            return Some(RemoteError::Ssh(SshError::SudoPasswordNoChannel { host }));
        }
        if status == 1 && sudo_wants_password(&text) {
            return Some(RemoteError::Ssh(SshError::SudoPassword {
                host: self.host(),
                user: "that user".into(),
            }));
        }
        // 255 is ssh's own failure, or a command's own exit 255: only a master that is gone
        // (or a mux error) tells the first apart.
        let mux = text.contains("mux_client") || text.contains("Control socket");
        (status == 255 && (!self.master.is_up() || mux)).then(|| self.broken(&text))
    }

    fn session_name(&self) -> &'static str {
        "the ssh session"
    }

    fn sudo_password(&self, user: Option<&str>) -> Option<String> {
        user?;
        self.become_password.read().ok()?.clone()
    }

    fn sudo_refused(&self, user: &str) -> RemoteError {
        if let Ok(mut r) = self.refused.lock() {
            r.push(user.to_string());
        }
        self.refusal(user)
    }

    fn check_hint(&self) -> String {
        let t = &self.master.argv().target;
        format!(
            "check that {} is up and its sshd running (`ssh{} {}`)",
            self.host(),
            t.port.map(|p| format!(" -p {p}")).unwrap_or_default(),
            t.host
        )
    }

    fn needs_remote_timeout(&self) -> bool {
        true
    }

    fn is_login_user(&self, user: &str) -> bool {
        self.login
            .read()
            .map(|l| l.as_deref() == Some(user))
            .unwrap_or(false)
    }
}

/// A connection to an ssh host: the channel (or the one-shot path) over its launcher,
/// plus the master, which ends with the connection.
pub struct SshRemote {
    inner: Box<dyn Remote>,
    launcher: Arc<SshLauncher>,
    facts: Option<HostReport>,
}

impl SshRemote {
    /// A connection to `machine` at `target`; nothing is started before its first request.
    pub fn new(
        machine: &str,
        target: &SshTarget,
        transport: Transport,
        trace: &Tracer,
    ) -> SshRemote {
        let launcher = Arc::new(SshLauncher::new(machine, target));
        let trace = trace.clone();
        let inner: Box<dyn Remote> = match transport {
            Transport::Channel => Box::new(Channel::over(launcher.clone(), machine).traced(trace)),
            Transport::OneShot => Box::new(OneShot::over(launcher.clone(), machine).traced(trace)),
        };
        SshRemote {
            inner,
            launcher,
            facts: None,
        }
    }

    /// How many master processes this connection started.
    pub fn masters_started(&self) -> u32 {
        self.launcher.master().starts()
    }
}

impl Remote for SshRemote {
    fn machine(&self) -> &str {
        self.inner.machine()
    }

    fn exec_stream(
        &mut self,
        req: &Exec,
        input: Option<Input<'_>>,
        sink: Option<&mut dyn Write>,
    ) -> Result<ExecOutput, RemoteError> {
        self.inner.exec_stream(req, input, sink)
    }

    fn describe(&self, req: &Exec) -> Vec<String> {
        self.inner.describe(req)
    }

    fn close(&mut self) {
        self.inner.close();
        self.launcher.master().stop();
    }

    fn batches_facts(&self) -> bool {
        self.inner.batches_facts()
    }

    fn expect_users(&mut self, users: &[Option<String>]) {
        self.inner.expect_users(users)
    }

    fn set_become_password(&mut self, password: &str) {
        self.launcher.set_become_password(password);
    }

    fn chains(&self) -> bool {
        self.inner.chains()
    }

    fn send_chain(&mut self, chain: &[(Exec, Link)]) -> Result<(), RemoteError> {
        self.inner.send_chain(chain)
    }

    fn chain_pending(&self) -> bool {
        self.inner.chain_pending()
    }

    fn meter(&self) -> Meter {
        self.inner.meter()
    }

    fn write_file(&mut self, req: &WriteFile, content: &mut dyn Read) -> Result<(), RemoteError> {
        self.inner.write_file(req, content)
    }

    fn read_file(
        &mut self,
        path: &str,
        user: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<u64, RemoteError> {
        self.inner.read_file(path, user, sink)
    }

    fn facts(&mut self) -> Result<Option<HostReport>, RemoteError> {
        if let Some(f) = &self.facts {
            return Ok(Some(f.clone()));
        }
        let out = self.inner.exec(&facts::request())?;
        let target = self.launcher.master().argv().target.clone();
        let f = parse_facts(&out.stdout_text(), &target);
        self.launcher.learn_login(&f.user);
        self.facts = Some(f.clone());
        Ok(Some(f))
    }
}

impl Drop for SshRemote {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent goes in the command string ssh hands to the login shell, which gets it as
    /// one argument (`$SHELL -c COMMAND`): Linux takes one argument up to 128 KiB, and the
    /// quoted agent must stay well within that (docs/channel-protocol.md §2.1).
    #[test]
    fn the_agent_fits_in_one_remote_command() {
        let agent = crate::remote::channel::agent();
        for user in [None, Some("app")] {
            let cmd = remote_command(user, &["sh", "-c", agent, "orbdeploy-agent", "0123"]);
            assert!(cmd.len() < 64 * 1024, "{} bytes", cmd.len());
        }
        println!(
            "agent {} bytes, as a remote command {} bytes",
            agent.len(),
            remote_command(None, &["sh", "-c", agent, "orbdeploy-agent", "0123"]).len()
        );
    }
}
