//! One ssh master per host: the one process that connects and authenticates, started on
//! the first session and kept as orbdeploy's own child (its own registered process group,
//! like every child: Ctrl-C ends it with the rest), ended when the host's connection
//! closes. Every session and one-shot call goes over its control socket, which lives in a
//! private directory (0700, made per host and run, removed at the end). With `persist`,
//! the master is instead one in the user's control directory that outlives the run
//! (persist.rs): an earlier run's when it answers, else one started in the background.

use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::argv::{self, Argv};
use super::errors::{classify, SshError};
use super::master_log::MasterLog;
use super::persist;
use crate::process::{self, GroupChild, Spec};
use crate::ssh_target::SshTarget;

/// How long past `ConnectTimeout` the master may take to authenticate (a jump host
/// connects twice; a slow host needs time for the key exchange).
const LOGIN_GRACE: Duration = Duration::from_secs(20);

/// The private directory of a host's control socket, removed when dropped.
#[derive(Debug)]
pub struct ControlDir {
    path: PathBuf,
    /// A second Ctrl-C exits without running this Drop: the directory goes then too.
    _guard: crate::interrupt::HardExitGuard,
}

impl ControlDir {
    /// A new 0700 directory (mkdtemp) under `$XDG_RUNTIME_DIR` when that is short enough
    /// for a socket path, else under `/tmp`.
    pub fn create() -> std::io::Result<ControlDir> {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
        let base = runtime
            .filter(|d| d.is_dir() && argv::fits_socket_limit(&d.join("odssh-XXXXXX/m")))
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let path =
            nix::unistd::mkdtemp(&base.join("odssh-XXXXXX")).map_err(std::io::Error::from)?;
        let guard = crate::interrupt::HardExitGuard::new(&path);
        Ok(ControlDir {
            path,
            _guard: guard,
        })
    }

    /// The master's socket in it.
    pub fn socket(&self) -> PathBuf {
        self.path.join("m")
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Where the master is.
enum State {
    /// Not started yet (or ended cleanly, and may start again).
    Idle,
    /// Running.
    Up(Running),
    /// A master that outlives the run (persist.rs), ours or an earlier run's: no child
    /// of ours, only its socket.
    Shared,
    /// Could not connect: every later session gets the same error, no new attempt (a host
    /// key or an authentication refusal would only be refused again).
    Failed(SshError),
}

struct Running {
    child: GroupChild,
    /// A pipe nobody writes to (with `-N` ssh never reads it): its stdin is never the
    /// terminal, which Ctrl-C must not reach through it.
    _stdin: ChildStdin,
    /// Its stderr: ssh's own words, and when the host's post-login message came.
    log: MasterLog,
}

/// The master of one host.
pub struct Master {
    argv: Argv,
    /// Keep the master this long after the run (`None`: it ends with the run).
    persist: Option<Duration>,
    /// `None` when the directory could not be made (then the master never starts).
    dir: Option<ControlDir>,
    state: Mutex<State>,
    started: Mutex<u32>,
}

impl Master {
    /// A master for `target` (not started); its control directory is made now (when that
    /// fails, the first session says why).
    pub fn new(target: &SshTarget) -> Master {
        if let Some(keep) = target.persist {
            return Master::persisted(target, keep);
        }
        let (dir, state) = match ControlDir::create() {
            Ok(dir) => (Some(dir), State::Idle),
            Err(e) => (
                None,
                State::Failed(SshError::Other {
                    host: super::errors::host_label(target),
                    status: None,
                    detail: format!("cannot make a private directory for the control socket: {e}"),
                }),
            ),
        };
        Master {
            argv: Argv {
                program: argv::ssh_program(),
                target: target.clone(),
                control_path: dir
                    .as_ref()
                    .map_or_else(|| "/nonexistent/m".into(), ControlDir::socket),
            },
            persist: None,
            dir,
            state: Mutex::new(state),
            started: Mutex::new(0),
        }
    }

    /// A master for `target` that outlives the run by `keep`, its socket in the user's
    /// control directory (when that is not private, the first session says why).
    fn persisted(target: &SshTarget, keep: Duration) -> Master {
        let program = argv::ssh_program();
        let (control_path, state) = match persist::control_dir() {
            Ok(dir) => (persist::socket_for(&dir, &program, target), State::Idle),
            Err(e) => (
                "/nonexistent/m".into(),
                State::Failed(SshError::Other {
                    host: super::errors::host_label(target),
                    status: None,
                    detail: format!(
                        "cannot use the control directory for persisted connections: {e}"
                    ),
                }),
            ),
        };
        Master {
            argv: Argv {
                program,
                target: target.clone(),
                control_path,
            },
            persist: Some(keep),
            dir: None,
            state: Mutex::new(state),
            started: Mutex::new(0),
        }
    }

    /// The command lines of this host.
    pub fn argv(&self) -> &Argv {
        &self.argv
    }

    /// The private directory of the socket.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(ControlDir::path)
    }

    /// How many master processes were started (one per host unless the link broke).
    pub fn starts(&self) -> u32 {
        self.started.lock().map(|n| *n).unwrap_or(0)
    }

    /// Make sure the master is up: start it on first use, or again after it died (a link
    /// that broke and is back). Blocks until it authenticated or failed.
    pub fn ensure(&self) -> Result<(), SshError> {
        let mut state = self.state.lock().map_err(|_| SshError::Other {
            host: argv_host(&self.argv),
            status: None,
            detail: "the master's state is poisoned".into(),
        })?;
        match &mut *state {
            State::Failed(e) => return Err(e.clone()),
            // Gone when it was idle past `persist` (or ended by `ssh close`) mid-run.
            State::Shared if self.argv.control_path.exists() => return Ok(()),
            State::Shared => {}
            State::Up(run) => match run.child.child.try_wait() {
                Ok(None) if self.argv.control_path.exists() => return Ok(()),
                _ => {
                    // It died (the link broke): reap it, then try once more below.
                    run.child.kill();
                }
            },
            State::Idle => {}
        }
        let first = matches!(*state, State::Idle);
        let started = match self.persist {
            Some(keep) => self.share(keep).map(|()| State::Shared),
            None => self.start().map(State::Up),
        };
        match started {
            Ok(up) => {
                *state = up;
                Ok(())
            }
            Err(e) => {
                // A host that never answered stays failed; one that answered before may
                // come back, so a later session tries again.
                *state = if first {
                    State::Failed(e.clone())
                } else {
                    State::Idle
                };
                Err(e)
            }
        }
    }

    fn start(&self) -> Result<Running, SshError> {
        let spec = Spec::new(self.argv.master());
        let piped = process::spawn_piped(&spec).map_err(|e| {
            if e.is_not_found() {
                SshError::Missing {
                    program: self.argv.program.display().to_string(),
                }
            } else {
                SshError::Other {
                    host: argv_host(&self.argv),
                    status: None,
                    detail: e.to_string(),
                }
            }
        })?;
        if let Ok(mut n) = self.started.lock() {
            *n += 1;
        }
        // The master says little of its own: its login errors, then a line when the link
        // drops (master_log.rs drops what `-v` adds).
        let log = MasterLog::read(piped.stderr, 64 * 1024);
        drop(piped.stdout);
        let mut run = Running {
            child: piped.child,
            _stdin: piped.stdin,
            log,
        };
        let limit = self
            .argv
            .target
            .connect_timeout
            .unwrap_or(argv::DEFAULT_CONNECT_TIMEOUT)
            + LOGIN_GRACE;
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_micros(500);
        loop {
            if self.argv.control_path.exists() {
                return Ok(run);
            }
            let exited = run.child.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline || crate::interrupt::requested() {
                if exited.is_none() {
                    run.child.kill();
                }
                // Let the stderr reader take ssh's last words.
                std::thread::sleep(Duration::from_millis(30));
                let text = run
                    .log
                    .words
                    .lock()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let status = exited.and_then(|s| s.code());
                if crate::interrupt::requested() {
                    return Err(SshError::Other {
                        host: argv_host(&self.argv),
                        status,
                        detail: "interrupted while connecting".into(),
                    });
                }
                if exited.is_none() && text.trim().is_empty() {
                    return Err(SshError::TimedOut {
                        host: argv_host(&self.argv),
                    });
                }
                return Err(classify(&self.argv.target, status, &text, &|| {
                    host_fingerprints(&self.argv.target)
                }));
            }
            // At most 2 ms between looks: the socket appears when the login is done, and
            // every session waits for it (a stat costs microseconds).
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }

    /// Use the persisted master of this target when it answers; else start one that ssh
    /// puts in the background once it authenticated, and wait for that.
    fn share(&self, keep: Duration) -> Result<(), SshError> {
        if persist::answers(&self.argv) {
            return Ok(());
        }
        // Dead or expired: its socket goes, and a new master takes the name.
        let _ = std::fs::remove_file(&self.argv.control_path);
        let limit = self
            .argv
            .target
            .connect_timeout
            .unwrap_or(argv::DEFAULT_CONNECT_TIMEOUT)
            + LOGIN_GRACE;
        let spec = Spec::new(self.argv.persisted_master(keep)).timeout(Some(limit));
        if let Ok(mut n) = self.started.lock() {
            *n += 1;
        }
        let host = || argv_host(&self.argv);
        let out = process::run(&spec).map_err(|e| match e {
            e if e.is_not_found() => SshError::Missing {
                program: self.argv.program.display().to_string(),
            },
            process::ProcessError::Timeout { .. } => SshError::TimedOut { host: host() },
            e => SshError::Other {
                host: host(),
                status: None,
                detail: e.to_string(),
            },
        })?;
        // Another run may have made the same master in the meantime: use it.
        if (out.status.success() && self.argv.control_path.exists()) || persist::answers(&self.argv)
        {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stderr);
        Err(classify(
            &self.argv.target,
            Some(out.status.code()),
            &text,
            &|| host_fingerprints(&self.argv.target),
        ))
    }

    /// The master's own stderr so far (why a session was lost, when the master saw it).
    pub fn stderr_text(&self) -> String {
        match self.state.lock().as_deref() {
            Ok(State::Up(run)) => run
                .log
                .words
                .lock()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Wait until the host's post-login message has reached the master (or it ended), at
    /// most until `deadline`; whether it did. False at once when no master runs.
    pub fn wait_post_login(&self, deadline: Instant) -> bool {
        let log = match self.state.lock().as_deref() {
            Ok(State::Up(run)) => run.log.clone(),
            _ => return false,
        };
        log.wait_post_login(deadline)
    }

    /// Whether the master process is alive.
    pub fn is_up(&self) -> bool {
        match self.state.lock().as_deref_mut() {
            Ok(State::Up(run)) => matches!(run.child.child.try_wait(), Ok(None)),
            Ok(State::Shared) => self.argv.control_path.exists(),
            _ => false,
        }
    }

    /// End the master (SIGTERM to its group: ssh closes the connection and removes its
    /// socket; SIGKILL after 1 s) and remove its socket. Says how it ended (`None` when no
    /// master was running). A persisted master is left running, by definition.
    pub fn stop(&self) -> Option<Stopped> {
        let Ok(mut state) = self.state.lock() else {
            return None;
        };
        if self.persist.is_some() {
            *state = State::Idle;
            return None;
        }
        let stopped = match &mut *state {
            State::Up(run) => {
                let how = terminate(&mut run.child);
                *state = State::Idle;
                Some(how)
            }
            _ => None,
        };
        let _ = std::fs::remove_file(&self.argv.control_path);
        stopped
    }
}

/// How a master ended when asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited on a SIGTERM of ours.
    Terminated,
    /// It ignored SIGTERM for 1 s and was killed.
    Killed,
}

/// How often SIGTERM is sent again while the master has not exited.
const TERM_AGAIN: Duration = Duration::from_millis(20);

/// SIGTERM the master's group until it exits, SIGKILL after 1 s. Sent again because
/// ssh 9.2 can miss one: its client loop checks the flag its handler sets and then
/// waits in poll(2) without blocking the signal in between, so a SIGTERM that lands in
/// that gap is only acted on at the next packet or keepalive (seen here: 1 stop in 5 of
/// an 8-host run waited the whole second). A second signal finds it in poll.
fn terminate(child: &mut GroupChild) -> Stopped {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut again = Instant::now();
    loop {
        if !matches!(child.child.try_wait(), Ok(None)) {
            child.kill();
            return Stopped::Terminated;
        }
        let now = Instant::now();
        if now >= deadline {
            child.kill();
            return Stopped::Killed;
        }
        if now >= again {
            child.signal_group(Signal::SIGTERM);
            again = now + TERM_AGAIN;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn argv_host(a: &Argv) -> String {
    super::errors::host_label(&a.target)
}

/// `TYPE SHA256:…` of the keys the host offers, read with `ssh-keyscan` and `ssh-keygen
/// -lf -` (ssh does not print the fingerprint of a key it refuses as unknown). Empty when
/// the host is behind a jump (keyscan cannot go through one) or the tools fail.
pub fn host_fingerprints(t: &SshTarget) -> Vec<String> {
    if t.jump.is_some() {
        return Vec::new();
    }
    let tool = |name: &str| {
        let ssh = argv::ssh_program();
        match ssh.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
            _ => PathBuf::from(name),
        }
    };
    let mut scan = vec![
        tool("ssh-keyscan").into_os_string(),
        "-T".into(),
        "5".into(),
    ];
    if let Some(p) = t.port {
        scan.push("-p".into());
        scan.push(p.to_string().into());
    }
    scan.push("--".into());
    scan.push(t.host.clone().into());
    let Ok(keys) = process::run(&Spec::new(scan).timeout(Some(Duration::from_secs(10)))) else {
        return Vec::new();
    };
    let keygen = Spec::new([
        tool("ssh-keygen").into_os_string(),
        "-lf".into(),
        "-".into(),
    ])
    .timeout(Some(Duration::from_secs(10)))
    .stdin(keys.stdout);
    let Ok(out) = process::run(&keygen) else {
        return Vec::new();
    };
    // `256 SHA256:abc [host]:port (ED25519)` → `ED25519 SHA256:abc`.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let fp = words.get(1)?;
            let kind = words.last()?.trim_matches(['(', ')']);
            Some(format!("{kind} {fp}"))
        })
        .collect()
}
