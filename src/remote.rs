//! What the operations need from a machine, independent of how it is reached.
//!
//! Two implementations exist: the persistent channel (one `orbctl run ... sh` per machine
//! and user, framed requests over its stdin/stdout) and the one-shot path (`--no-channel`:
//! one `orbctl run` per command, `orbctl push`/`pull` per file). Both must give the same
//! results; the operation code never knows which one it talks to.

use std::io::{Read, Write};
use std::time::Duration;

/// One command to run on a machine: a POSIX `sh` script.
///
/// Every value that came from a user or a file must reach `script` through
/// `crate::quote::quote` — never by string concatenation alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exec {
    /// The script, run as `sh -c SCRIPT`.
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
    /// Kill the script and everything it started after this long; the connection stays usable.
    pub timeout: Option<Duration>,
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
}

/// What a script produced. Non-zero exit is not an error at this level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (128 + N when killed by signal N).
    pub status: i32,
    /// Its stdout, byte for byte.
    pub stdout: Vec<u8>,
    /// Its stderr, byte for byte.
    pub stderr: Vec<u8>,
    /// Time spent on the machine side, as measured by the transport.
    pub duration: Duration,
}

/// A file to write on a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteFile {
    /// Absolute destination path.
    pub path: String,
    /// Write as this user (`None` = default user).
    pub user: Option<String>,
    /// Final mode, e.g. 0o644; `None` keeps the existing file's mode, or 0644 for a new file.
    pub mode: Option<u32>,
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
    #[error("timed out after {}s and was killed", .0.as_secs_f64())]
    Timeout(Duration),
    /// The connection to the machine broke and could not be reopened.
    #[error("lost the connection to machine `{machine}`: {detail}")]
    Disconnected {
        /// Which machine.
        machine: String,
        /// What happened, and what the user can do about it.
        detail: String,
    },
    /// A file transfer failed on the machine side.
    #[error("{0}")]
    Transfer(String),
    /// orbctl itself failed.
    #[error(transparent)]
    Orb(#[from] crate::orb::OrbError),
    /// Local I/O failed (reading a source file, writing a `get` destination).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A connection to one machine.
pub trait Remote: Send {
    /// The machine's name.
    fn machine(&self) -> &str;

    /// Run a script and collect its output.
    fn exec(&mut self, req: &Exec) -> Result<ExecOutput, RemoteError>;

    /// Write `req.len` bytes from `content` to `req.path` atomically: a temporary file
    /// (mode 0600) in the destination's directory, mode/owner set, then renamed into place.
    /// A reader of the path sees the old file or the new one, never half of one.
    fn write_file(&mut self, req: &WriteFile, content: &mut dyn Read) -> Result<(), RemoteError>;

    /// Stream the contents of `path` into `sink`, reading as `user`; returns the byte count.
    fn read_file(
        &mut self,
        path: &str,
        user: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<u64, RemoteError>;

    /// The orbctl argv lines this connection has started or would start for `req`
    /// (for `plan --show-calls` and failure messages).
    fn describe(&self, req: &Exec) -> Vec<String>;

    /// Close every connection (ends remote processes).
    fn close(&mut self);
}
