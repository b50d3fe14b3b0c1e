//! What the operations need from a machine, independent of how it is reached.
//!
//! Two implementations exist (each over a [`launcher::Launcher`]: `orbctl run` for an
//! OrbStack machine, `ssh` for a machine with an `ssh:` block, see [`ssh`]): the persistent channel (`crate::remote::channel`: one
//! `orbctl run ... sh` per machine and user, framed requests over its stdin/stdout) and the
//! one-shot path (`crate::remote::oneshot`, `--no-channel`: one `orbctl run` per command,
//! `orbctl push`/`pull` per file). Both give the same results; the operation code never
//! knows which one it talks to. The scripts that write and read files live here, once.

use std::io::{Read, Write};
use std::time::Duration;

use sha2::Digest;

use crate::quote::quote;
use crate::ssh_target::HostFacts;

pub mod channel;
#[cfg(test)]
pub(crate) mod fake;
mod files;
pub mod launcher;
pub mod meter;
pub mod oneshot;
pub mod probe_lib;
pub mod ssh;
pub mod trace;

pub use channel::nonce;
pub use files::{
    check_transfer, dir_must_exist, parent_dir, read_by_cat, temp_beside, write_by_script,
    write_script, TEMP_DONE,
};
pub use meter::Meter;
pub use trace::Tracer;

/// One command to run on a machine: a POSIX `sh` script.
///
/// Every value that came from a user or a file must reach `script` through
/// [`crate::quote::quote`] — never by string concatenation alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exec {
    /// The script, run by `sh`.
    pub script: String,
    /// Run as this user; `None` is the machine's default user. `become` is `Some("root")`.
    pub user: Option<String>,
    /// Working directory; `None` is `/`. A missing directory is an error (unlike orbctl's
    /// silent fallback to `/`), so a typo in `workdir:` does not run a command elsewhere.
    pub workdir: Option<String>,
    /// Environment variables set for the script only.
    pub env: Vec<(String, String)>,
    /// Bytes given to the script's stdin (empty: stdin is `/dev/null`).
    pub stdin: Vec<u8>,
    /// Kill the script and everything it started after this long; the connection stays
    /// usable. Commands only: file transfers (`write_file`, `read_file`) have no time limit.
    pub timeout: Option<Duration>,
    /// A read-only request of orbdeploy's own (the facts of steps): it may call the
    /// functions of [`probe_lib`]; its output is text (no NUL bytes; trailing newlines need
    /// not be kept; the channel returns stderr within stdout); its time limit is enforced by
    /// abandoning the session instead of by a watchdog on the machine. That makes it
    /// cheaper on the channel (no file, `stat` or `cat` for the reply, no watchdog
    /// processes); the one-shot path runs it like any other request, library in front.
    pub probe: bool,
    /// The output may be as large as a file (reading one): the channel keeps it on disk
    /// until sent, not in the machine's memory as it does a command's.
    pub file_sized: bool,
    /// A probe with user code in it (a `shell` step's `unless:`): the channel runs it in a
    /// subshell of its agent, so that the code's syntax errors or `exit` end only that
    /// subshell. Other probes run in the agent itself (see agent.sh).
    pub isolate: bool,
    /// A guard of a chain ([`Remote::send_chain`]): orbdeploy's own read-only check whose
    /// exit status says whether the facts a step was decided on still hold (0: they do).
    /// The channel runs it in its agent (mode `g`); a non-zero status stops the chain.
    pub guard: bool,
}

/// Whether a request sent in a chain ([`Remote::send_chain`]) stops the requests after it
/// when it fails (a non-zero status, a timeout; a guard that finds the facts stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Its failure stops the chain: the requests after it are not run.
    Stops,
    /// Its failure does not stop the chain (a step with `ignore_errors`).
    Ignored,
}

impl Exec {
    /// A script run as the default user in `/`.
    pub fn script(script: impl Into<String>) -> Self {
        Exec {
            script: script.into(),
            ..Exec::default()
        }
    }

    /// Run as `user` (`None` = default user).
    pub fn as_user(mut self, user: Option<&str>) -> Self {
        self.user = user.map(str::to_string);
        self
    }

    /// The script with `cd` and `export` lines in front: what `sh` finally runs.
    pub fn full_script(&self) -> String {
        let mut out = String::new();
        if let Some(dir) = &self.workdir {
            out.push_str(&format!("cd {} || exit 1\n", quote(dir)));
        }
        for (k, v) in &self.env {
            // Names are checked by the loader (`valid_var_name`), values are quoted.
            out.push_str(&format!("export {k}={}\n", quote(v)));
        }
        out.push_str(&self.script);
        out
    }
}

impl Exec {
    /// Whether `self` and `other` are the same request but for their `stdin` bytes (a
    /// write sent ahead in a chain carries its bytes; the write that it answers later
    /// gives them as an [`Input`]).
    pub fn same_but_stdin(&self, other: &Exec) -> bool {
        let Exec {
            script,
            user,
            workdir,
            env,
            stdin: _,
            timeout,
            probe,
            file_sized,
            isolate,
            guard,
        } = self;
        *script == other.script
            && *user == other.user
            && *workdir == other.workdir
            && *env == other.env
            && *timeout == other.timeout
            && *probe == other.probe
            && *file_sized == other.file_sized
            && *isolate == other.isolate
            && *guard == other.guard
    }
}

/// What a chain keeps of a request it sent ahead ([`Remote::send_chain`]), to know it when
/// it is made: the request without its stdin bytes, and their length and SHA-256 (a write's
/// bytes may be megabytes; they are not kept twice).
#[derive(Debug, Clone)]
pub struct Sent {
    exec: Exec,
    len: u64,
    sum: [u8; 32],
}

impl Sent {
    /// What to keep of `req`.
    pub fn of(req: &Exec) -> Sent {
        Sent {
            exec: Exec {
                stdin: Vec::new(),
                ..req.clone()
            },
            len: req.stdin.len() as u64,
            sum: sha2::Sha256::digest(&req.stdin).into(),
        }
    }

    /// The request, without its stdin bytes.
    pub fn exec(&self) -> &Exec {
        &self.exec
    }

    /// Whether `req`, with `input` as its stdin when given, is this request, so that its
    /// reply answers it. With an input the bytes are read and compared: the chain carried
    /// the bytes read when it was made, and they are what the machine got. Bytes that
    /// differ now (a source file edited during the run) are an error: the chain wrote the
    /// first ones.
    pub fn is(&self, req: &Exec, input: Option<&mut Input<'_>>) -> Result<bool, RemoteError> {
        if !self.exec.same_but_stdin(req) {
            return Ok(false);
        }
        let Some(input) = input else {
            return Ok(self.len == req.stdin.len() as u64
                && self.sum == <[u8; 32]>::from(sha2::Sha256::digest(&req.stdin)));
        };
        if input.len != self.len {
            return Ok(false);
        }
        let mut hasher = sha2::Sha256::new();
        let read = std::io::copy(&mut input.reader.take(input.len), &mut hasher)?;
        if read != self.len || <[u8; 32]>::from(hasher.finalize()) != self.sum {
            return Err(RemoteError::Transfer(
                "the bytes to write changed after they were sent to the machine (was the \
                 source file edited during the run?); the machine got the bytes read first"
                    .into(),
            ));
        }
        Ok(true)
    }
}

/// What a script produced. Non-zero exit is not an error at this level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (128 + N when killed by signal N on the channel; 255 on the one-shot path
    /// when the remote shell itself was killed).
    pub status: i32,
    /// Its stdout, byte for byte (empty when it was streamed to a sink).
    pub stdout: Vec<u8>,
    /// Its stderr, byte for byte.
    pub stderr: Vec<u8>,
    /// Wall time of the request as seen from orbdeploy.
    pub duration: Duration,
}

impl ExecOutput {
    /// stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A file to write on a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteFile {
    /// Absolute destination path.
    pub path: String,
    /// Write as this user (`None` = default user).
    pub user: Option<String>,
    /// Final mode, e.g. 0o644.
    pub mode: u32,
    /// Final owner (needs root); `None` leaves it to the writing user.
    pub owner: Option<String>,
    /// Final group (needs root); `None` leaves it to the writing user.
    pub group: Option<String>,
    /// Exact size of the content in bytes.
    pub len: u64,
}

/// Failures of the transport itself (not of the user's command).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The request ran past its timeout; its processes were killed.
    #[error("timed out after {}s; its processes were killed", .0.as_secs_f64())]
    Timeout(Duration),
    /// The connection to the machine broke and could not be reopened.
    #[error("lost the connection to machine `{machine}`: {detail}")]
    Disconnected {
        /// Which machine.
        machine: String,
        /// What happened, and what the user can do about it.
        detail: String,
    },
    /// A file transfer failed on the machine side (the script that writes or reads the
    /// file, `orbctl push` or `pull`): what failed and what it said.
    #[error("{0}")]
    Transfer(String),
    /// A script with a NUL byte, which no shell can be given.
    #[error("a command cannot contain a NUL byte")]
    NulByte,
    /// orbctl itself failed.
    #[error(transparent)]
    Orb(#[from] crate::orb::OrbError),
    /// ssh could not reach the host (or sudo on it refused).
    #[error(transparent)]
    Ssh(#[from] ssh::SshError),
    /// The local `orbctl` process could not be started or talked to.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// Local I/O failed (reading a source file, writing a `get` destination).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// orbdeploy is being interrupted (Ctrl-C / SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

/// How orbdeploy reaches a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One persistent session per machine and user ([`channel::Channel`]), the default.
    Channel,
    /// One `orbctl run` per command, `orbctl push`/`pull` per file
    /// ([`oneshot::OneShot`], `--no-channel`).
    OneShot,
}

/// How a machine is reached.
#[derive(Debug, Clone, Copy)]
pub enum Reach<'a> {
    /// An OrbStack machine, through this orbctl.
    Orb(&'a crate::orb::Orb),
    /// A host reached with the system `ssh`.
    Ssh(&'a crate::ssh_target::SshTarget),
}

/// A connection to `machine` over `transport`, keeping a copy of each script in `trace`;
/// nothing is started before its first request.
pub fn connect(
    reach: Reach<'_>,
    machine: &str,
    transport: Transport,
    trace: &Tracer,
) -> Box<dyn Remote> {
    let t = trace.clone();
    match (reach, transport) {
        (Reach::Orb(orb), Transport::Channel) => {
            Box::new(channel::Channel::new(orb, machine).traced(t))
        }
        (Reach::Orb(orb), Transport::OneShot) => {
            Box::new(oneshot::OneShot::new(orb, machine).traced(t))
        }
        (Reach::Ssh(target), t) => Box::new(ssh::SshRemote::new(machine, target, t, trace)),
    }
}

/// What a host reports about itself when reached over ssh (OrbStack machines have their
/// facts from `orbctl list`): the values of its `distro`, `version`, `arch`, `ip4` and
/// `user` template variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostReport {
    /// distro, version, arch and the address reached, as the inventory keeps them.
    #[serde(flatten)]
    pub facts: HostFacts,
    /// The login user.
    pub user: String,
}

/// Input streamed to a request's stdin: a reader and its exact length.
pub struct Input<'a> {
    /// Where the bytes come from.
    pub reader: &'a mut dyn Read,
    /// How many bytes it yields.
    pub len: u64,
}

/// A connection to one machine (all users).
pub trait Remote: Send {
    /// The machine's name.
    fn machine(&self) -> &str;

    /// Run `req` (its `stdin` bytes, or `input` when given); stream stdout into `sink`
    /// when given, else collect it.
    fn exec_stream(
        &mut self,
        req: &Exec,
        input: Option<Input<'_>>,
        sink: Option<&mut dyn Write>,
    ) -> Result<ExecOutput, RemoteError>;

    /// The orbctl argv lines (shell-quoted) this connection would start for `req`.
    fn describe(&self, req: &Exec) -> Vec<String>;

    /// Close every connection (ends remote processes).
    fn close(&mut self);

    /// Whether the facts of several steps should be read in one request. The one-shot path
    /// says no: it is the classic one process per command and per check, kept as the
    /// fallback and as the baseline the channel is measured against.
    fn batches_facts(&self) -> bool {
        true
    }

    /// The host's facts, read by the connection's first request (ssh hosts); `None` for a
    /// machine whose facts come from elsewhere (`orbctl list`).
    fn facts(&mut self) -> Result<Option<HostReport>, RemoteError> {
        Ok(None)
    }

    /// A hint: requests will come as these users (the channel opens their sessions at once).
    fn expect_users(&mut self, _users: &[Option<String>]) {}

    /// Give sudo this password when it asks for it (an ssh host's `become_password:`);
    /// call before the first request. Other transports have no sudo to give it to.
    fn set_become_password(&mut self, _password: &str) {}

    /// What this connection has spent so far ([`Meter`]): copied before and after a phase
    /// of a step, the difference is what the phase spent. A connection that counts
    /// nothing (a test's) says zero.
    fn meter(&self) -> Meter {
        Meter::default()
    }

    /// Whether this connection runs chains of requests sent in one write
    /// ([`Remote::send_chain`]): the channel does, the one-shot path does not.
    fn chains(&self) -> bool {
        false
    }

    /// Send `chain` (requests of one user) in one write, to run one after another on the
    /// machine: a request whose predecessor failed (see [`Link`]) is not run, nor any after
    /// it. Each is then answered, in order, to the [`Remote::exec`] of an equal request;
    /// once one stopped the chain, the rest are forgotten and an equal request runs as any
    /// other. A connection that does not chain sends nothing: every request then runs
    /// when it is made, which gives the same results.
    fn send_chain(&mut self, _chain: &[(Exec, Link)]) -> Result<(), RemoteError> {
        Ok(())
    }

    /// Requests sent in a chain are still to be answered.
    fn chain_pending(&self) -> bool {
        false
    }

    /// Run a script and collect its output.
    fn exec(&mut self, req: &Exec) -> Result<ExecOutput, RemoteError> {
        self.exec_stream(req, None, None)
    }

    /// Write `req.len` bytes from `content` to `req.path` atomically: a temporary file
    /// (mode 0600) in the destination's directory, mode/owner set, then renamed into place.
    /// A reader of the path sees the old file or the new one, never half of one.
    fn write_file(&mut self, req: &WriteFile, content: &mut dyn Read) -> Result<(), RemoteError> {
        write_by_script(self, req, content)
    }

    /// Stream the contents of `path` into `sink`, reading as `user`; returns the byte count.
    fn read_file(
        &mut self,
        path: &str,
        user: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<u64, RemoteError> {
        read_by_cat(self, path, user, sink)
    }
}
