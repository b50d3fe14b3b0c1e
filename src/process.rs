//! The one place that starts child processes.
//!
//! Every child gets its own process group, so a timeout or Ctrl-C can end the child *and*
//! everything it started (`orbctl run` and the remote command behind it). Live groups are
//! registered so that [`terminate_all`] can end them all from the interrupt handler, and
//! told to the [`reaper`], which ends them when orbdeploy dies without doing so.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

pub mod limits;
pub mod reaper;

/// Process groups of children that are running now.
static LIVE_GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// How long to wait for stdout/stderr to close after the child itself exited. A command
/// that leaves a background process holding the pipes must not hang the run.
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Status {
    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == Status::Code(0)
    }

    /// The exit code, with a signal shown the way shells do (128 + signal).
    pub fn code(self) -> i32 {
        match self {
            Status::Code(c) => c,
            Status::Signal(s) => 128 + s,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Code(c) => write!(f, "exit code {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Program and arguments. The program is looked up on `PATH` unless it has a slash.
    pub argv: Vec<OsString>,
    /// Extra environment variables (the rest is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Bytes for the child's stdin; `None` gives it `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// Kill the whole process group after this long.
    pub timeout: Option<Duration>,
}

impl Spec {
    /// A spec for `argv` with no stdin and no timeout.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Spec {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Spec::default()
        }
    }

    /// Set the timeout.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set stdin bytes.
    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// The program, for messages.
    fn program(&self) -> String {
        self.argv
            .first()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The command line as a user would type it (for messages).
    pub fn display(&self) -> String {
        crate::quote::join(&self.argv)
    }
}

/// What a finished child produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// How it ended.
    pub status: Status,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Wall time from spawn to exit.
    pub duration: Duration,
}

impl Output {
    /// The last `n` lines of stderr, for error messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        tail_lines(&self.stderr, n)
    }
}

/// Why a child could not be run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program does not exist (or is not executable).
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program that was not found.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The child ran past its timeout and its process group was killed.
    #[error("`{command}` did not finish within {}s and was killed{}", .after.as_secs_f64(), tail_suffix(.stderr_tail))]
    Timeout {
        /// The command line.
        command: String,
        /// The timeout that was exceeded.
        after: Duration,
        /// What the child had written to stderr.
        stderr_tail: String,
    },
    /// Reading or writing the child's pipes failed.
    #[error("I/O with `{command}` failed: {source}")]
    Io {
        /// The command line.
        command: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last stderr:\n{tail}")
    }
}

impl ProcessError {
    /// True when the program itself was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProcessError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The last `n` lines of some output, lossily decoded.
pub fn tail_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// Run a program on orbdeploy's terminal (`secrets edit`'s editor) and wait for it. It
/// keeps orbdeploy's stdin, stdout, stderr and process group: a program in a group of its
/// own could not read the terminal, and Ctrl-C reaches it as it reaches orbdeploy (whose
/// handler only notes it), so the caller is still there to clean up after it.
pub fn run_on_terminal(spec: &Spec) -> Result<Status, ProcessError> {
    let status = plain_command(spec)?
        .status()
        .map_err(|source| ProcessError::Spawn {
            program: spec.program(),
            source,
        })?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Status::Code(code),
        (None, sig) => Status::Signal(sig.unwrap_or(0)),
    })
}

/// The `Command` for `spec`, started in its own process group.
fn command(spec: &Spec) -> Result<Command, ProcessError> {
    let mut cmd = plain_command(spec)?;
    cmd.process_group(0);
    Ok(cmd)
}

/// The `Command` for `spec`: its program, arguments and environment.
fn plain_command(spec: &Spec) -> Result<Command, ProcessError> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(ProcessError::Spawn {
            program: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    Ok(cmd)
}

/// A running child in its own process group, unregistered from the live set when dropped.
#[derive(Debug)]
pub struct GroupChild {
    /// The child process (its pid is also its process group id).
    pub child: Child,
}

impl GroupChild {
    /// Send a signal to the child's whole process group.
    pub fn signal_group(&self, signal: Signal) {
        let pgid = self.child.id() as i32;
        let _ = killpg(Pid::from_raw(pgid), signal);
    }

    /// Kill the whole group and reap the child.
    pub fn kill(&mut self) {
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        unregister(self.child.id() as i32);
    }
}

/// A child kept running with all three pipes open (the persistent channel).
#[derive(Debug)]
pub struct Piped {
    /// The child; killing its group ends everything it started.
    pub child: GroupChild,
    /// Its stdin.
    pub stdin: ChildStdin,
    /// Its stdout.
    pub stdout: ChildStdout,
    /// Its stderr.
    pub stderr: ChildStderr,
}

/// Start `spec` in its own (registered) process group with piped stdin, stdout and
/// stderr, and leave it running. `spec.stdin` and `spec.timeout` are the caller's to
/// enforce: the child lives as long as the caller needs it.
pub fn spawn_piped(spec: &Spec) -> Result<Piped, ProcessError> {
    let mut cmd = command(spec)?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
        program: spec.program(),
        source,
    })?;
    register(child.id() as i32);
    let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let mut child = GroupChild { child };
    match pipes {
        (Some(stdin), Some(stdout), Some(stderr)) => Ok(Piped {
            child,
            stdin,
            stdout,
            stderr,
        }),
        // Stdio::piped() always gives the pipes; a child without them is of no use.
        _ => {
            child.kill();
            Err(ProcessError::Io {
                command: spec.display(),
                source: std::io::Error::other("the child's pipes are missing"),
            })
        }
    }
}

/// Run a child to completion, capturing stdout and stderr apart.
pub fn run(spec: &Spec) -> Result<Output, ProcessError> {
    let mut cmd = command(spec)?;
    cmd.stdin(if spec.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
        program: spec.program(),
        source,
    })?;
    let pgid = child.id() as i32;
    register(pgid);
    let io_err = |source| ProcessError::Io {
        command: spec.display(),
        source,
    };

    if let (Some(bytes), Some(mut stdin)) = (spec.stdin.clone(), child.stdin.take()) {
        // A child that exits without reading its stdin gives EPIPE; that is its business.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let stdout_rx = read_in_background(child.stdout.take());
    let stderr_rx = read_in_background(child.stderr.take());

    // The child moves to a waiter thread so that the timeout is a channel receive,
    // not a polling loop on the hot path.
    let (status_tx, status_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = status_tx.send(status);
    });

    let mut timed_out = false;
    let status = match spec.timeout {
        Some(limit) => match status_rx.recv_timeout(limit) {
            Ok(status) => status,
            Err(_) => {
                timed_out = true;
                kill_group(pgid);
                status_rx
                    .recv()
                    .unwrap_or_else(|_| Err(std::io::Error::other("waiter thread died")))
            }
        },
        None => status_rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("waiter thread died"))),
    }
    .map_err(io_err)?;
    let _ = waiter.join();
    unregister(pgid);
    let duration = started.elapsed();

    let stdout = stdout_rx.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let stderr = stderr_rx.recv_timeout(PIPE_GRACE).unwrap_or_default();
    if timed_out {
        return Err(ProcessError::Timeout {
            command: spec.display(),
            after: spec.timeout.unwrap_or_default(),
            stderr_tail: tail_lines(&stderr, 5),
        });
    }
    let status = match (status.code(), status.signal()) {
        (Some(code), _) => Status::Code(code),
        (None, Some(sig)) => Status::Signal(sig),
        (None, None) => Status::Code(1),
    };
    Ok(Output {
        status,
        stdout,
        stderr,
        duration,
    })
}

fn read_in_background<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

fn kill_group(pgid: i32) {
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
}

fn register(pgid: i32) {
    if let Ok(mut live) = LIVE_GROUPS.lock() {
        live.get_or_insert_with(HashSet::new).insert(pgid);
    }
    reaper::note(pgid, true);
}

fn unregister(pgid: i32) {
    let was_live = LIVE_GROUPS
        .lock()
        .ok()
        .and_then(|mut live| live.as_mut().map(|set| set.remove(&pgid)))
        .unwrap_or(false);
    if was_live {
        reaper::note(pgid, false);
    }
}

/// Number of child process groups alive now (for tests and the soak script).
pub fn live_count() -> usize {
    LIVE_GROUPS
        .lock()
        .map(|l| l.as_ref().map_or(0, HashSet::len))
        .unwrap_or(0)
}

/// End every live child group: SIGTERM, then SIGKILL after `grace` for any that remain.
/// Called on Ctrl-C / SIGTERM so that no `orbctl` process outlives orbdeploy.
pub fn terminate_all(grace: Duration) {
    let groups: Vec<i32> = LIVE_GROUPS
        .lock()
        .map(|l| {
            l.as_ref()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    reaper::end_groups(&groups, grace);
}

/// Keep the last `keep` bytes a child writes on stderr (what it said when it failed), read
/// on a thread of its own so that the pipe never fills.
pub fn keep_tail(mut pipe: impl Read + Send + 'static, keep: usize) -> Arc<Mutex<Vec<u8>>> {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&kept);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut k) = shared.lock() {
                k.extend_from_slice(&buf[..n]);
                if k.len() > keep {
                    let cut = k.len() - keep;
                    k.drain(..cut);
                }
            }
        }
    });
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_stdout_stderr_and_code_apart() {
        let out = run(&Spec::new(["sh", "-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status, Status::Code(3));
    }

    #[test]
    fn stdin_is_passed_binary_safe() {
        let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let out = run(&Spec::new(["cat"]).stdin(data.clone())).unwrap();
        assert_eq!(out.stdout, data);
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-alive");
        // The grandchild would touch the marker after 2s if it survived the group kill.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let err = run(&Spec::new(["sh", "-c", &script]).timeout(Some(Duration::from_millis(300))))
            .unwrap_err();
        assert!(matches!(err, ProcessError::Timeout { .. }), "{err}");
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "a grandchild outlived the timeout");
        assert_eq!(live_count(), 0);
    }

    #[test]
    fn missing_program_is_reported_as_not_found() {
        let err = run(&Spec::new(["/nonexistent/orbctl", "list"])).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn signal_deaths_are_reported() {
        let out = run(&Spec::new(["sh", "-c", "kill -9 $$"])).unwrap();
        assert_eq!(out.status, Status::Signal(9));
        assert_eq!(out.status.code(), 137);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_lines(b"a\nb\nc\nd\n", 2), "c\nd");
    }
}
