//! The client side of OpenSSH's multiplexing protocol (`PROTOCOL.mux` in OpenSSH's
//! source, version 4, unchanged since OpenSSH 5.x), for what orbdeploy needs: the alive
//! check of a persisted master and its end ([`alive`], [`terminate`]: `ssh -O check` and
//! `ssh -O exit` without those processes), and a "passenger" session over a master's control socket, with three pipes of ours passed as
//! the session's stdin, stdout and stderr (`SCM_RIGHTS`). This is what `ssh -S CTL HOST
//! COMMAND` does, without starting an ssh client per session: that process execs ssh,
//! reads its configuration and loads its libraries only to hand its descriptors over,
//! about 7 ms of CPU each on the benchmark machine (BENCHMARKS.md, "Where eight hosts
//! go"). The master then moves the bytes between the pipes and the connection itself, as
//! it does for an `ssh -S` client.
//!
//! The control connection stays open for the session's life: the master sends the exit
//! status on it, and closing it ends the session (as killing an `ssh -S` client does).

use std::fs::File;
use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::sockopt::PeerCredentials;
use nix::sys::socket::{
    connect, getsockopt, sendmsg, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    UnixAddr,
};

use crate::remote::launcher::{Attached, Carrier};

const MUX_MSG_HELLO: u32 = 0x0000_0001;
const MUX_S_OK: u32 = 0x8000_0001;
const MUX_C_NEW_SESSION: u32 = 0x1000_0002;
const MUX_C_ALIVE_CHECK: u32 = 0x1000_0004;
const MUX_C_TERMINATE: u32 = 0x1000_0005;
const MUX_S_PERMISSION_DENIED: u32 = 0x8000_0002;
const MUX_S_FAILURE: u32 = 0x8000_0003;
const MUX_S_EXIT_MESSAGE: u32 = 0x8000_0004;
const MUX_S_ALIVE: u32 = 0x8000_0005;
const MUX_S_SESSION_OPENED: u32 = 0x8000_0006;
const MUX_S_TTY_ALLOC_FAIL: u32 = 0x8000_0008;
/// The protocol version this client speaks.
const VERSION: u32 = 4;
/// No escape character (the session has no tty).
const NO_ESCAPE: u32 = 0xffff_ffff;
/// A reply bigger than this is not a mux message (the master's own limit is 256 KiB).
const MAX_MESSAGE: usize = 256 * 1024;
/// Bytes of environment one session request carries at most (the command is up to
/// 64 KiB, src/remote/ssh/mod.rs; the master reads messages up to 256 KiB).
const ENV_ROOM: usize = 128 * 1024;
/// How long the master may take to answer the hello and the session request (it answers
/// from its event loop; a master that is alive answers in microseconds).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a session could not be opened over the control socket.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// The socket could not be reached or broke (the master is gone).
    #[error("the control socket {path}: {source}")]
    Socket {
        /// The socket.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The master speaks another protocol version: open the session with an `ssh -S`
    /// client instead.
    #[error("the master speaks multiplexing protocol version {0}, not 4")]
    Version(u32),
    /// The master refused the session (`MUX_S_FAILURE` or `MUX_S_PERMISSION_DENIED`).
    #[error("the ssh master refused a session: {0}")]
    Refused(String),
    /// A check or termination was not done: the master refused it, or the process
    /// listening on the socket is not this user's.
    #[error("the ssh master did not do the request: {0}")]
    Denied(String),
    /// The master said something this client does not understand.
    #[error("the ssh master's reply makes no sense: {0}")]
    Protocol(String),
}

/// Whether the master listening on `socket` is alive, as `ssh -O check` asks it
/// (`MUX_C_ALIVE_CHECK`), without starting that ssh client: the master's pid. Connecting
/// and each of the two answers wait at most what is left of `timeout` (so at most twice
/// it in all), so a wedged master (stopped, or with its listen queue full) cannot hang the
/// run; and the process listening there must be this user's (the socket file's owner says
/// who made it, not who listens now).
pub fn alive(socket: &Path, timeout: Duration) -> Result<u32, MuxError> {
    let request_id = 1;
    let Some(mut reply) = ask(socket, timeout, &request(MUX_C_ALIVE_CHECK, request_id))? else {
        return Err(MuxError::Protocol(
            "it closed the connection without an answer".into(),
        ));
    };
    match (reply.u32(), reply.u32(), reply.u32()) {
        (Some(MUX_S_ALIVE), Some(rid), Some(pid)) if rid == request_id => Ok(pid),
        (kind, rid, _) => Err(MuxError::Protocol(format!(
            "expected it alive to request {request_id}, got message type {kind:?} to {rid:?}"
        ))),
    }
}

/// Ask the master listening on `socket` to end (`MUX_C_TERMINATE`, what `ssh -O exit`
/// sends), as [`alive`] asks, with its checks and time limits. It may end before its answer
/// is out: the connection closing then is its yes (as `ssh -O exit` takes it).
pub fn terminate(socket: &Path, timeout: Duration) -> Result<(), MuxError> {
    let request_id = 1;
    let Some(mut reply) = ask(socket, timeout, &request(MUX_C_TERMINATE, request_id))? else {
        return Ok(());
    };
    match (reply.u32(), reply.u32()) {
        (Some(MUX_S_OK), Some(rid)) if rid == request_id => Ok(()),
        (Some(MUX_S_PERMISSION_DENIED | MUX_S_FAILURE), Some(rid)) if rid == request_id => {
            Err(MuxError::Denied(
                reply
                    .string()
                    .map(|r| String::from_utf8_lossy(&r).into_owned())
                    .unwrap_or_else(|| "no reason given".into()),
            ))
        }
        (kind, rid) => Err(MuxError::Protocol(format!(
            "expected an ok to request {request_id}, got message type {kind:?} to {rid:?}"
        ))),
    }
}

/// One request to the master on `socket` and its reply: connect within `timeout`, check
/// that the listener runs as this user, exchange hellos, send `message`, read one reply
/// (`None`: the master closed the connection instead).
fn ask(socket: &Path, timeout: Duration, message: &Message) -> Result<Option<Message>, MuxError> {
    let io = |source| MuxError::Socket {
        path: socket.display().to_string(),
        source,
    };
    let deadline = Instant::now() + timeout;
    let mut conn = connect_within(socket, deadline).map_err(io)?;
    let peer = getsockopt(&conn, PeerCredentials).map_err(|e| io(e.into()))?;
    let uid = nix::unistd::geteuid().as_raw();
    if peer.uid() != uid {
        return Err(MuxError::Denied(format!(
            "the process listening on the socket runs as uid {}, not {uid}",
            peer.uid()
        )));
    }
    hello(&mut conn, &io)?;
    write_message(&mut conn, message).map_err(io)?;
    match read_message(&mut conn) {
        Ok(reply) => Ok(Some(reply)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io(e)),
    }
}

/// A request that is its type and a request id (PROTOCOL.mux §3 and §5).
fn request(kind: u32, request_id: u32) -> Message {
    let mut m = Message::new(kind);
    m.put_u32(request_id);
    m
}

/// Connect to `socket` by `deadline`, and give every later read and write what is left of
/// it. The connect does not block: a master that stopped accepting fills its listen queue,
/// and a blocking connect would then wait for as long as it stays stopped.
fn connect_within(socket: &Path, deadline: Instant) -> std::io::Result<UnixStream> {
    let fd = nix::sys::socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    let addr = UnixAddr::new(socket)?;
    loop {
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => break,
            // The listen queue is full (a Unix socket says so at once rather than queueing).
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let conn = UnixStream::from(fd);
    conn.set_nonblocking(false)?;
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))?;
    conn.set_read_timeout(Some(left))?;
    conn.set_write_timeout(Some(left))?;
    Ok(conn)
}

/// Open a session that runs `command` (the string the login shell gets) over the master
/// listening on `socket`.
pub fn open(socket: &Path, command: &str) -> Result<Attached, MuxError> {
    let io = |source| MuxError::Socket {
        path: socket.display().to_string(),
        source,
    };
    let mut conn = UnixStream::connect(socket).map_err(io)?;
    conn.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
    hello(&mut conn, &io)?;
    let (stdin_far, stdin) = std::io::pipe().map_err(io)?;
    let (stdout, stdout_far) = std::io::pipe().map_err(io)?;
    let (stderr, stderr_far) = std::io::pipe().map_err(io)?;
    let request_id = 1;
    write_message(&mut conn, &new_session(request_id, command)).map_err(io)?;
    for fd in [
        OwnedFd::from(stdin_far),
        OwnedFd::from(stdout_far),
        OwnedFd::from(stderr_far),
    ] {
        // One descriptor per message, each with one byte, as the master reads them.
        let fds = [fd.as_raw_fd()];
        sendmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &[IoSlice::new(&[0])],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| io(std::io::Error::from(e)))?;
        // Our copy closes here: the master holds the far ends now, so our reads see EOF
        // when the session ends.
    }
    let session_id = opened(&mut conn, request_id, &io)?;
    conn.set_read_timeout(None).map_err(io)?;
    let carrier = MuxSession::watch(conn, session_id).map_err(io)?;
    Ok(Attached {
        carrier: Box::new(carrier),
        stdin: File::from(OwnedFd::from(stdin)),
        stdout: File::from(OwnedFd::from(stdout)),
        stderr: File::from(OwnedFd::from(stderr)),
    })
}

/// Exchange hellos: ours, then the master's, which must say version 4 (its extensions,
/// none defined, are ignored).
fn hello(conn: &mut UnixStream, io: &dyn Fn(std::io::Error) -> MuxError) -> Result<(), MuxError> {
    let mut ours = Message::new(MUX_MSG_HELLO);
    ours.put_u32(VERSION);
    write_message(conn, &ours).map_err(io)?;
    let mut theirs = read_message(conn).map_err(io)?;
    match (theirs.u32(), theirs.u32()) {
        (Some(MUX_MSG_HELLO), Some(VERSION)) => Ok(()),
        (Some(MUX_MSG_HELLO), Some(v)) => Err(MuxError::Version(v)),
        (t, _) => Err(MuxError::Protocol(format!(
            "expected its hello, got message type {t:?}"
        ))),
    }
}

/// `MUX_C_NEW_SESSION`: no tty, not a subsystem, no escape character, no terminal type.
/// What an `ssh -T -S` client takes from its configuration, the master decides from its
/// own, which is the same (the same command line and config files): X11 and agent
/// forwarding are asked for and the master grants them only where its `ForwardX11` and
/// `ForwardAgent` say so (mux.c, `mux_session_confirm`); the environment is sent whole
/// and the master passes on only what its `SendEnv` allows (`env_permitted`), plus its
/// own `SetEnv`. A client filters with the same options before sending; the socket is
/// private to this user (its directory is 0700).
fn new_session(request_id: u32, command: &str) -> Message {
    let mut m = Message::new(MUX_C_NEW_SESSION);
    m.put_u32(request_id);
    m.put_string(b"");
    // tty, X11 forwarding, agent forwarding, subsystem.
    for flag in [0, 1, 1, 0] {
        m.put_u32(flag);
    }
    m.put_u32(NO_ESCAPE);
    m.put_string(b"");
    m.put_string(command.as_bytes());
    let mut room = ENV_ROOM;
    for (name, value) in std::env::vars_os() {
        let mut pair = name.into_encoded_bytes();
        pair.push(b'=');
        pair.extend_from_slice(value.as_encoded_bytes());
        // An environment too big for one message keeps what fits (SendEnv names are a few).
        if pair.len() + 4 > room {
            continue;
        }
        room -= pair.len() + 4;
        m.put_string(&pair);
    }
    m
}

/// Wait for `MUX_S_SESSION_OPENED` to request `request_id`: its session id.
fn opened(
    conn: &mut UnixStream,
    request_id: u32,
    io: &dyn Fn(std::io::Error) -> MuxError,
) -> Result<u32, MuxError> {
    let mut reply = read_message(conn).map_err(io)?;
    let kind = reply.u32();
    let rid = reply.u32();
    if rid != Some(request_id) {
        return Err(MuxError::Protocol(format!(
            "a reply to request {rid:?}, not {request_id}"
        )));
    }
    match kind {
        Some(MUX_S_SESSION_OPENED) => reply
            .u32()
            .ok_or_else(|| MuxError::Protocol("no session id".into())),
        Some(MUX_S_FAILURE | MUX_S_PERMISSION_DENIED) => Err(MuxError::Refused(
            reply
                .string()
                .map(|r| String::from_utf8_lossy(&r).into_owned())
                .unwrap_or_else(|| "no reason given".into()),
        )),
        other => Err(MuxError::Protocol(format!(
            "expected the session to open, got message type {other:?}"
        ))),
    }
}

/// How a mux session stands, as its control connection said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exit {
    Running,
    /// `MUX_S_EXIT_MESSAGE`: the remote command's exit value.
    Exited(u32),
    /// The connection closed (or broke) with no exit message: the master ended.
    Closed,
}

/// A session opened over the control socket: its control connection, read by a thread
/// that waits for the exit message.
pub struct MuxSession {
    conn: UnixStream,
    exit: Arc<Mutex<Exit>>,
    reader: Option<JoinHandle<()>>,
}

impl MuxSession {
    fn watch(conn: UnixStream, session_id: u32) -> std::io::Result<MuxSession> {
        let mut theirs = conn.try_clone()?;
        let exit = Arc::new(Mutex::new(Exit::Running));
        let shared = Arc::clone(&exit);
        let reader = std::thread::spawn(move || {
            let end = loop {
                let Ok(mut m) = read_message(&mut theirs) else {
                    break Exit::Closed;
                };
                match (m.u32(), m.u32()) {
                    (Some(MUX_S_EXIT_MESSAGE), Some(sid)) if sid == session_id => {
                        break m.u32().map_or(Exit::Closed, Exit::Exited);
                    }
                    // A tty was never asked for; anything else is not ours to act on.
                    (Some(MUX_S_TTY_ALLOC_FAIL), _) | (Some(_), _) => {}
                    (None, _) => break Exit::Closed,
                }
            };
            if let Ok(mut e) = shared.lock() {
                *e = end;
            }
        });
        Ok(MuxSession {
            conn,
            exit,
            reader: Some(reader),
        })
    }

    fn state(&self) -> Exit {
        self.exit.lock().map(|e| e.clone()).unwrap_or(Exit::Closed)
    }
}

impl Carrier for MuxSession {
    fn ended(&mut self) -> Option<String> {
        match self.state() {
            Exit::Running => None,
            Exit::Exited(code) => Some(format!("exit status: {code}")),
            Exit::Closed => Some("the ssh master closed the session".into()),
        }
    }

    /// Close the control connection: the master ends the session's channel, as when an
    /// `ssh -S` client is killed.
    fn end(&mut self) {
        let _ = self.conn.shutdown(std::net::Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for MuxSession {
    fn drop(&mut self) {
        self.end();
    }
}

/// A mux message being built or read: SSH wire format (big-endian `uint32`, strings as a
/// length and bytes).
struct Message {
    buf: Vec<u8>,
    at: usize,
}

impl Message {
    fn new(kind: u32) -> Message {
        let mut m = Message {
            buf: Vec::new(),
            at: 0,
        };
        m.put_u32(kind);
        m
    }

    fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn put_string(&mut self, s: &[u8]) {
        self.put_u32(s.len() as u32);
        self.buf.extend_from_slice(s);
    }

    /// The next `uint32` (`None` past the end).
    fn u32(&mut self) -> Option<u32> {
        let bytes: [u8; 4] = self.buf.get(self.at..self.at + 4)?.try_into().ok()?;
        self.at += 4;
        Some(u32::from_be_bytes(bytes))
    }

    /// The next string (`None` past the end).
    fn string(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        let s = self.buf.get(self.at..self.at.checked_add(len)?)?.to_vec();
        self.at += len;
        Some(s)
    }
}

fn write_message(conn: &mut UnixStream, m: &Message) -> std::io::Result<()> {
    let mut framed = Vec::with_capacity(4 + m.buf.len());
    framed.extend_from_slice(&(m.buf.len() as u32).to_be_bytes());
    framed.extend_from_slice(&m.buf);
    conn.write_all(&framed)
}

fn read_message(conn: &mut UnixStream) -> std::io::Result<Message> {
    let mut len = [0u8; 4];
    conn.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a {len}-byte mux message"),
        ));
    }
    let mut buf = vec![0u8; len];
    conn.read_exact(&mut buf)?;
    Ok(Message { buf, at: 0 })
}

#[cfg(test)]
mod tests {
    //! Against a fake master on a socket of the test's: the exact messages this client
    //! sends, and what it does with each answer. The real master is what tests/ssh.rs
    //! runs every session through.
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::IoSliceMut;
    use std::os::unix::net::UnixListener;

    /// What the fake master does after the hello.
    enum Script {
        /// Open the session, write `out` to its stdout, read its stdin, exit with `code`.
        Run { out: &'static [u8], code: u32 },
        /// Refuse with MUX_S_FAILURE.
        Refuse,
        /// Open it, then close the control connection with no exit message.
        Vanish,
    }

    /// Receive one descriptor (one byte each, as mm_receive_fd does), as a File opened
    /// through /proc (safe code: no raw descriptor becomes an owned one).
    fn receive_fd(conn: &UnixStream, write: bool) -> File {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .expect("recvmsg");
        let mut fds = Vec::new();
        for c in msg.cmsgs().expect("control messages") {
            if let ControlMessageOwned::ScmRights(got) = c {
                fds.extend(got);
            }
        }
        assert_eq!(fds.len(), 1, "one descriptor per message");
        let path = format!("/proc/self/fd/{}", fds[0]);
        let file = std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .open(&path)
            .expect("open the passed pipe");
        nix::unistd::close(fds[0]).expect("close");
        file
    }

    /// The master's hello, for protocol `version`.
    fn say_hello(conn: &mut UnixStream, version: u32) {
        let mut hello = Message::new(MUX_MSG_HELLO);
        hello.put_u32(version);
        write_message(conn, &hello).expect("hello");
    }

    /// How a carrier ended, waiting up to 10 s for it.
    fn wait_ended(carrier: &mut dyn Carrier) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = carrier.ended() {
                return end;
            }
            assert!(std::time::Instant::now() < deadline, "no end seen");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A fake master on a new socket: checks the hello and the session request, then
    /// plays `script`. Returns the socket path and the request it read.
    fn fake_master(script: Script) -> (tempfile::TempDir, std::path::PathBuf, JoinHandle<Message>) {
        serve_one(move |mut conn, request| {
            let stdin = receive_fd(&conn, false);
            let mut stdout = receive_fd(&conn, true);
            let _stderr = receive_fd(&conn, true);
            let mut reply = match script {
                Script::Refuse => {
                    let mut r = Message::new(MUX_S_FAILURE);
                    r.put_u32(1);
                    r.put_string(b"Multiple sessions not supported");
                    r
                }
                _ => {
                    let mut r = Message::new(MUX_S_SESSION_OPENED);
                    r.put_u32(1);
                    r.put_u32(7);
                    r
                }
            };
            write_message(&mut conn, &reply).expect("reply");
            if let Script::Run { out, code } = script {
                stdout.write_all(out).expect("stdout");
                drop(stdout);
                let mut input = String::new();
                let mut stdin = stdin;
                stdin.read_to_string(&mut input).expect("stdin");
                assert_eq!(input, "q\n");
                reply = Message::new(MUX_S_EXIT_MESSAGE);
                reply.put_u32(7);
                reply.put_u32(code);
                write_message(&mut conn, &reply).expect("exit");
            }
            request
        })
    }

    /// A master on a new socket that accepts one client, checks the hellos, reads one
    /// request and hands the connection and the request to `serve`, whose return the
    /// handle gives. Returns the socket path too.
    fn serve_one(
        serve: impl FnOnce(UnixStream, Message) -> Message + Send + 'static,
    ) -> (tempfile::TempDir, std::path::PathBuf, JoinHandle<Message>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m");
        let listener = UnixListener::bind(&path).expect("bind");
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            say_hello(&mut conn, VERSION);
            let mut theirs = read_message(&mut conn).expect("client hello");
            assert_eq!((theirs.u32(), theirs.u32()), (Some(MUX_MSG_HELLO), Some(4)));
            let request = read_message(&mut conn).expect("request");
            serve(conn, request)
        });
        (dir, path, handle)
    }

    #[test]
    fn a_session_passes_three_pipes_and_reports_the_exit_value() {
        let (_dir, path, master) = fake_master(Script::Run {
            out: b"hello\n",
            code: 3,
        });
        let mut s = open(&path, "cd / && exec true").expect("open");
        let mut out = String::new();
        s.stdout.read_to_string(&mut out).expect("read");
        assert_eq!(out, "hello\n");
        s.stdin.write_all(b"q\n").expect("write");
        drop(s.stdin);
        let mut request = master.join().expect("master");
        // The request, field by field (PROTOCOL.mux §2).
        assert_eq!(request.u32(), Some(MUX_C_NEW_SESSION));
        assert_eq!(request.u32(), Some(1), "request id");
        assert_eq!(request.string(), Some(Vec::new()), "reserved");
        let flags: Vec<_> = (0..4).map(|_| request.u32()).collect();
        assert_eq!(
            flags,
            [Some(0), Some(1), Some(1), Some(0)],
            "tty, x11, agent, subsystem"
        );
        assert_eq!(request.u32(), Some(NO_ESCAPE));
        assert_eq!(request.string(), Some(Vec::new()), "terminal type");
        assert_eq!(request.string(), Some(b"cd / && exec true".to_vec()));
        let mut env = Vec::new();
        while let Some(e) = request.string() {
            env.push(String::from_utf8_lossy(&e).into_owned());
        }
        assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
        let mut carrier = s.carrier;
        assert_eq!(wait_ended(&mut *carrier), "exit status: 3");
    }

    #[test]
    fn a_refusal_says_why() {
        let (_dir, path, master) = fake_master(Script::Refuse);
        let e = open(&path, "true").err().expect("refused");
        assert_eq!(
            e.to_string(),
            "the ssh master refused a session: Multiple sessions not supported"
        );
        master.join().expect("master");
    }

    #[test]
    fn a_master_that_goes_away_ends_the_session_without_a_status() {
        let (_dir, path, master) = fake_master(Script::Vanish);
        let mut s = open(&path, "true").expect("open");
        master.join().expect("master");
        assert_eq!(
            wait_ended(&mut *s.carrier),
            "the ssh master closed the session"
        );
        let mut out = Vec::new();
        assert_eq!(s.stdout.read_to_end(&mut out).ok(), Some(0), "EOF");
    }

    /// What a fake master does with a check or a termination.
    enum Answer {
        Reply(Message),
        /// Nothing: it holds the connection open until the client goes.
        Silence,
        /// It closes the connection.
        HangUp,
    }

    /// A fake master that answers the hello, reads one request and does `answer`.
    fn fake_checked(
        answer: Answer,
    ) -> (tempfile::TempDir, std::path::PathBuf, JoinHandle<Message>) {
        serve_one(move |mut conn, request| {
            match answer {
                Answer::Reply(r) => write_message(&mut conn, &r).expect("reply"),
                Answer::Silence => {
                    let mut rest = Vec::new();
                    let _ = conn.read_to_end(&mut rest);
                }
                Answer::HangUp => drop(conn),
            }
            request
        })
    }

    #[test]
    fn an_alive_check_asks_once_and_reads_the_masters_pid() {
        let mut reply = Message::new(MUX_S_ALIVE);
        reply.put_u32(1);
        reply.put_u32(4242);
        let (_dir, path, master) = fake_checked(Answer::Reply(reply));
        assert_eq!(alive(&path, Duration::from_secs(10)).expect("alive"), 4242);
        let request = master.join().expect("master");
        // PROTOCOL.mux §3: the type and a request id, nothing else.
        assert_eq!(
            request.buf,
            [0x10, 0, 0, 0x04, 0, 0, 0, 1],
            "MUX_C_ALIVE_CHECK, request 1"
        );
    }

    #[test]
    fn a_termination_is_asked_once_and_its_ok_read() {
        let mut ok = Message::new(MUX_S_OK);
        ok.put_u32(1);
        let (_dir, path, master) = fake_checked(Answer::Reply(ok));
        terminate(&path, Duration::from_secs(10)).expect("ended");
        let request = master.join().expect("master");
        // PROTOCOL.mux §5: the type and a request id, nothing else.
        assert_eq!(request.buf, [0x10, 0, 0, 0x05, 0, 0, 0, 1]);
        // A master that ends before its answer is out has ended all the same.
        let (_dir, path, master) = fake_checked(Answer::HangUp);
        let ended = std::thread::spawn(move || terminate(&path, Duration::from_secs(10)));
        master.join().expect("master");
        ended
            .join()
            .expect("client")
            .expect("a closed connection is a yes");
        let mut denied = Message::new(MUX_S_PERMISSION_DENIED);
        denied.put_u32(1);
        denied.put_string(b"confirmation refused");
        let (_dir, path, master) = fake_checked(Answer::Reply(denied));
        let e = terminate(&path, Duration::from_secs(10)).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "the ssh master did not do the request: confirmation refused"
        );
        master.join().expect("master");
    }

    #[test]
    fn an_alive_check_refuses_another_answer() {
        let mut reply = Message::new(MUX_S_FAILURE);
        reply.put_u32(1);
        reply.put_string(b"no");
        let (_dir, path, master) = fake_checked(Answer::Reply(reply));
        let e = alive(&path, Duration::from_secs(10)).expect_err("not alive");
        assert!(matches!(e, MuxError::Protocol(_)), "{e}");
        master.join().expect("master");
        let mut wrong_id = Message::new(MUX_S_ALIVE);
        wrong_id.put_u32(2);
        wrong_id.put_u32(4242);
        let (_dir, path, master) = fake_checked(Answer::Reply(wrong_id));
        let e = alive(&path, Duration::from_secs(10)).expect_err("not ours");
        assert!(matches!(e, MuxError::Protocol(_)), "{e}");
        master.join().expect("master");
        let (_dir, path, master) = fake_checked(Answer::HangUp);
        let e = alive(&path, Duration::from_secs(10)).expect_err("no answer");
        assert!(matches!(e, MuxError::Protocol(_)), "{e}");
        master.join().expect("master");
    }

    #[test]
    fn a_master_that_does_not_answer_is_given_up_on() {
        let (_dir, path, master) = fake_checked(Answer::Silence);
        let started = Instant::now();
        let e = alive(&path, Duration::from_millis(300)).expect_err("no answer");
        assert!(matches!(e, MuxError::Socket { .. }), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        master.join().expect("master");
    }

    #[test]
    fn a_master_that_never_accepts_is_given_up_on() {
        // A stopped master: its socket listens, nobody accepts, its queue is full (here a
        // queue of one, taken by the first connection).
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m");
        let listener = nix::sys::socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        let addr = UnixAddr::new(&path).expect("address");
        nix::sys::socket::bind(listener.as_raw_fd(), &addr).expect("bind");
        let queue = nix::sys::socket::Backlog::new(0).expect("backlog");
        nix::sys::socket::listen(&listener, queue).expect("listen");
        let _queued = UnixStream::connect(&path).expect("the one queued connection");
        let started = Instant::now();
        let e = alive(&path, Duration::from_millis(300)).expect_err("no answer");
        assert!(matches!(e, MuxError::Socket { .. }), "{e}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(250),
            "gave up at once: {took:?}"
        );
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[test]
    fn no_socket_is_a_socket_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            alive(&dir.path().join("m"), Duration::from_secs(1)),
            Err(MuxError::Socket { .. })
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let e = open(&dir.path().join("m"), "true")
            .err()
            .expect("no master");
        assert!(matches!(e, MuxError::Socket { .. }), "{e}");
    }

    #[test]
    fn another_protocol_version_is_told_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m");
        let listener = UnixListener::bind(&path).expect("bind");
        let t = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            say_hello(&mut conn, 5);
            let _ = read_message(&mut conn);
        });
        let e = open(&path, "true").err().expect("refused");
        assert!(matches!(e, MuxError::Version(5)), "{e}");
        t.join().expect("fake");
    }
}
