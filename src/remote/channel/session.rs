//! One agent process (`orbctl run ... sh -c AGENT`, or ssh's equivalent, from the
//! transport's [`Launcher`]) and the framing on its pipes.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::process;
use crate::remote::launcher::{Carrier, Launcher};
use crate::remote::trace::Tracer;
use crate::remote::{Exec, ExecOutput, Input, Link, RemoteError, Sent};

use super::io::{copy_exact, nonce, CopyError, DeadlineReader};
use super::sudo;

/// The agent script, run by the machine's `sh`: the probe library (functions the probe
/// requests call) and the request loop.
pub fn agent() -> &'static str {
    static AGENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        format!(
            "{}{}",
            crate::remote::probe_lib::probe_lib(),
            crate::remote::probe_lib::compact(include_str!("agent.sh"))
        )
    })
}

/// How long opening a session may take (it may auto-start a stopped machine).
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);
/// Extra time past a request's own timeout before the whole session is declared hung:
/// as long as the timeout itself, at least 2 s, at most 30 s. The agent kills a request at
/// its timeout; no reply well after that means orbctl or the machine itself is stuck.
fn hung_grace(timeout: Duration) -> Duration {
    timeout.clamp(Duration::from_secs(2), Duration::from_secs(30))
}
/// The most bytes of a chain written here at once; a larger one (files' bytes with it) is
/// written by a thread of its own (see [`Session::send_chain`]). Under what the pipes
/// between here and the agent hold (64 KiB on Linux), so a chain written at once cannot
/// wait for the agent to be read from.
const INLINE_CHAIN: usize = 32 * 1024;

/// Bytes of the session's own stderr kept for error messages.
const STDERR_KEEP: usize = 8192;

/// Why a request did not complete.
pub enum RequestError {
    /// The session was dead before the request reached the machine: safe to resend.
    NotStarted(String),
    /// The session died while the request ran: its effect is unknown.
    Lost(String),
    /// Anything else (timeouts, local I/O).
    Other(RemoteError),
}

/// A live session.
pub struct Session {
    /// The launcher process, or the ssh mux session.
    child: Box<dyn Carrier>,
    stdin: Option<File>,
    out: BufReader<DeadlineReader>,
    stderr: Arc<Mutex<Vec<u8>>>,
    next_id: u64,
    machine: String,
    /// What the session is called in messages, and what to check when it dies.
    name: &'static str,
    hint: String,
    /// Ends the text of a text-mode reply (with the request id after it).
    end_marker: String,
    /// How long the machine ran the last request: from the agent's line saying it started
    /// to its line saying it ended (`None`: no such pair was read).
    ran: Option<Duration>,
    /// Where a copy of each script goes.
    trace: Tracer,
    /// Requests of a chain sent ahead ([`Session::send_chain`]), not answered yet.
    queued: VecDeque<Queued>,
    /// The last request was answered from the chain (no request of its own).
    answered_ahead: bool,
    /// The thread writing a chain too large to write at once ([`INLINE_CHAIN`]).
    writer: Option<std::thread::JoinHandle<()>>,
}

/// A request sent ahead in a chain: its id, what it is, and whether its failure stops the
/// chain.
struct Queued {
    id: u64,
    sent: Sent,
    link: Link,
}

/// The argv that opens a session (`agent` is the script, or its name for `--show-calls`).
pub fn open_argv(
    launcher: &dyn Launcher,
    user: Option<&str>,
    agent: &str,
    nonce: &str,
) -> Vec<OsString> {
    launcher.agent_argv(user, agent, nonce)
}

impl Session {
    /// Start the session and wait for the agent's handshake line.
    pub fn open(
        launcher: &dyn Launcher,
        machine: &str,
        user: Option<&str>,
        trace: &Tracer,
    ) -> Result<Session, RemoteError> {
        launcher.prepare()?;
        let nonce = nonce();
        // The argv carries the whole agent: built only for a process, or for an error that
        // names the command (a session over the ssh socket needs neither).
        let spec = || process::Spec::new(open_argv(launcher, user, agent(), &nonce));
        let piped = match launcher.attach(user, agent(), &nonce)? {
            Some(attached) => attached,
            None => process::spawn_piped(&spec())
                .map_err(|e| launcher.spawn_failed(e))?
                .into(),
        };
        let (mut stdin, mut stderr) = (piped.stdin, piped.stderr);
        let mut out = BufReader::with_capacity(64 * 1024, DeadlineReader::new(piped.stdout));
        let marker = format!("ORBDEPLOY-READY {nonce}");
        // sudo asks for the password before the agent starts (sudo.rs).
        let answered = launcher.sudo_password(user).map(|password| {
            let pipes = sudo::Pipes {
                out: &mut out,
                stderr: &mut stderr,
                stdin: &mut stdin,
            };
            sudo::answer(
                pipes,
                &password,
                &nonce,
                &marker,
                Instant::now() + OPEN_TIMEOUT,
            )
        });
        let kept = process::keep_tail(stderr, STDERR_KEEP);
        if let (Some(a), Ok(mut k)) = (&answered, kept.lock()) {
            k.splice(0..0, a.said.iter().copied());
        }
        let mut session = Session {
            child: piped.carrier,
            stdin: Some(stdin),
            out,
            // orbctl's (or ssh's) words when the session fails.
            stderr: kept,
            next_id: 1,
            machine: machine.to_string(),
            name: launcher.session_name(),
            hint: launcher.check_hint(),
            end_marker: format!("@@end {nonce} "),
            ran: None,
            trace: trace.clone(),
            queued: VecDeque::new(),
            answered_ahead: false,
            writer: None,
        };
        let ready = match answered.map(|a| a.answer) {
            None => session.handshake(&marker),
            Some(sudo::Answer::Ready) => true,
            Some(sudo::Answer::Refused) => {
                // Closed before a word more is written: sudo must not read another try.
                session.stdin = None;
                session.close();
                return Err(launcher.sudo_refused(user.unwrap_or_default()));
            }
            Some(sudo::Answer::Ended) => false,
        };
        if ready {
            return Ok(session);
        }
        let stderr = session.stderr_text();
        session.close();
        Err(launcher.open_failed(user, &spec().display(), &stderr))
    }

    /// Wait for the agent's ready line; false when the session ended (or took longer than
    /// [`OPEN_TIMEOUT`]) first. Whatever the login profile prints comes before the line and
    /// is ignored.
    fn handshake(&mut self, marker: &str) -> bool {
        self.out.get_mut().deadline = Some(Instant::now() + OPEN_TIMEOUT);
        let ready = loop {
            let mut line = Vec::new();
            match self.out.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break false,
                Ok(_) if line.trim_ascii_end() == marker.as_bytes() => break true,
                Ok(_) => {}
            }
        };
        self.out.get_mut().deadline = None;
        ready
    }

    fn stderr_text(&self) -> String {
        // Give the stderr reader a moment to collect orbctl's last words.
        std::thread::sleep(Duration::from_millis(50));
        self.stderr
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn lost(&mut self, what: &str) -> String {
        let status = self
            .ended_soon(Duration::from_millis(250))
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let tail = process::tail_lines(self.stderr_text().as_bytes(), 3);
        let mut msg = format!("{} ended {what}{status}", self.name);
        if !tail.is_empty() {
            msg.push_str(&format!(": {tail}"));
        }
        msg.push_str(&format!("; {}", self.hint));
        msg
    }

    /// How the carrier ended, waiting up to `limit` for it: its pipes closing comes a moment
    /// before its exit, and a message that names the exit status only when the race was won
    /// would differ from run to run.
    fn ended_soon(&mut self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.ended() {
                Some(end) => return Some(end),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                None => return None,
            }
        }
    }

    /// Send one request and read its reply.
    pub fn request<'w>(
        &mut self,
        req: &Exec,
        input: Option<&mut Input<'_>>,
        mut sink: Option<&mut (dyn Write + 'w)>,
    ) -> Result<ExecOutput, RequestError> {
        let started = Instant::now();
        self.ran = None;
        self.answered_ahead = false;
        let mut input = input;
        if let Some(answer) =
            self.answer_ahead(req, input.as_deref_mut(), sink.as_deref_mut(), started)?
        {
            return Ok(answer);
        }
        self.forget_chain();
        let id = self.next_id;
        self.next_id += 1;
        let script = sendable_script(req).map_err(RequestError::Other)?;
        let in_len = match &input {
            Some(i) => i.len,
            None => req.stdin.len() as u64,
        };
        self.trace
            .record(&self.machine, req.user.as_deref(), &script);
        self.send(&header(req, id, &script, in_len), &script, req, input)?;
        // The agent enforces the timeout itself; this deadline only catches a hung session.
        self.reply(req, id, sink, started)?.ok_or_else(|| {
            self.close();
            RequestError::Lost(format!(
                "garbled reply from the agent: request {id} not run"
            ))
        })
    }

    /// Read the reply to request `id` (which is `req`) and turn it into its output; `None`
    /// when the agent did not run it (its chain had stopped).
    fn reply<'w>(
        &mut self,
        req: &Exec,
        id: u64,
        sink: Option<&mut (dyn Write + 'w)>,
        started: Instant,
    ) -> Result<Option<ExecOutput>, RequestError> {
        self.out.get_mut().deadline = req.timeout.map(|t| Instant::now() + t + hung_grace(t));
        let result = self.read_reply(id, sink);
        self.out.get_mut().deadline = None;
        let timeout = || RemoteError::Timeout(req.timeout.unwrap_or_default());
        let reply = result.map_err(|e| match e {
            ReplyError::Hung => {
                self.close();
                RequestError::Other(timeout())
            }
            ReplyError::Eof => RequestError::Lost(self.lost("while the request ran")),
            ReplyError::Protocol(what) => {
                self.close();
                RequestError::Lost(format!("garbled reply from the agent: {what}"))
            }
            ReplyError::Sink(e) => RequestError::Other(RemoteError::Io(e)),
        })?;
        if reply.not_run {
            return Ok(None);
        }
        if reply.timed_out {
            return Err(RequestError::Other(timeout()));
        }
        Ok(Some(ExecOutput {
            status: reply.status,
            stdout: reply.stdout,
            stderr: reply.stderr,
            duration: started.elapsed(),
        }))
    }

    /// The reply to `req` when it is the next request of the chain sent ahead (`None`: it
    /// is not, or the agent did not run it, and it is to be sent as any other). A reply
    /// that stops the chain makes the session forget the rest of it.
    fn answer_ahead<'w>(
        &mut self,
        req: &Exec,
        input: Option<&mut Input<'_>>,
        sink: Option<&mut (dyn Write + 'w)>,
        started: Instant,
    ) -> Result<Option<ExecOutput>, RequestError> {
        let Some(front) = self.queued.front() else {
            return Ok(None);
        };
        let sent = front.sent.is(req, input);
        match sent {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            // Its reply is still read (the agent ran it), and the chain forgotten.
            Err(e) => {
                self.forget_chain();
                return Err(RequestError::Other(e));
            }
        }
        let Some(q) = self.queued.pop_front() else {
            return Ok(None);
        };
        let answer = self.reply(req, q.id, sink, started);
        let go_on = match &answer {
            Ok(Some(out)) => out.status == 0 || (q.link == Link::Ignored && !req.guard),
            Ok(None) | Err(_) => false,
        };
        if !go_on {
            self.forget_chain();
        }
        let answer = answer?;
        self.answered_ahead = answer.is_some();
        Ok(answer)
    }

    /// Read and drop the replies of the chain sent ahead that nobody asked for (the agent
    /// runs them anyway, unless the chain stopped).
    fn forget_chain(&mut self) {
        while let Some(q) = self.queued.pop_front() {
            if self.stdin.is_none() {
                continue;
            }
            let t = q.sent.exec().timeout;
            self.out.get_mut().deadline = t.map(|t| Instant::now() + t + hung_grace(t));
            let read = self.read_reply(q.id, None);
            self.out.get_mut().deadline = None;
            if read.is_err() {
                self.queued.clear();
                self.close();
            }
        }
    }

    /// Send `chain` in one write; each request is answered to the [`Session::request`] of
    /// an equal one, in order. The first starts the chain on the agent (`n`/`N`), the others
    /// continue it (`c`/`i`, docs/channel-protocol.md §3.3).
    pub fn send_chain(&mut self, chain: &[(Exec, Link)]) -> Result<(), RequestError> {
        self.forget_chain();
        let mut bytes = Vec::new();
        let mut queued = Vec::new();
        for (i, (req, link)) in chain.iter().enumerate() {
            let id = self.next_id;
            self.next_id += 1;
            let script = sendable_script(req).map_err(RequestError::Other)?;
            self.trace
                .record(&self.machine, req.user.as_deref(), &script);
            let letter = match (i == 0, link) {
                (true, Link::Stops) => 'n',
                (true, Link::Ignored) => 'N',
                (false, Link::Stops) => 'c',
                (false, Link::Ignored) => 'i',
            };
            let head = header(req, id, &script, req.stdin.len() as u64);
            bytes.extend_from_slice(head.trim_end().as_bytes());
            bytes.extend_from_slice(format!(" {letter}\n").as_bytes());
            bytes.extend_from_slice(script.as_bytes());
            bytes.extend_from_slice(&req.stdin);
            queued.push(Queued {
                id,
                sent: Sent::of(req),
                link: *link,
            });
        }
        self.finish_writing();
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(RequestError::NotStarted("the session is closed".into()));
        };
        if bytes.len() > INLINE_CHAIN {
            // Written by a thread of its own while the replies are read here: the agent
            // may fill the way back (a command's output) before it reads the rest, and
            // both sides would wait for each other. A session that dies meanwhile shows
            // up as its end when the replies are read.
            let Ok(mut pipe) = stdin.try_clone() else {
                return Err(RequestError::NotStarted(
                    self.lost("before the request was sent"),
                ));
            };
            self.writer = Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes).and_then(|()| pipe.flush());
            }));
            self.queued.extend(queued);
            return Ok(());
        }
        // One write: a dead session shows up here, before anything ran.
        if stdin
            .write_all(&bytes)
            .and_then(|()| stdin.flush())
            .is_err()
        {
            return Err(RequestError::NotStarted(
                self.lost("before the request was sent"),
            ));
        }
        self.queued.extend(queued);
        Ok(())
    }

    /// The last request was answered from a chain sent ahead: it made no request of its
    /// own.
    pub fn answered_ahead(&self) -> bool {
        self.answered_ahead
    }

    /// Requests of a chain sent ahead are still to be answered.
    pub fn chain_pending(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Whether `req` is the next request of the chain sent ahead: the agent may be running
    /// it already, and its reply (or the session's end) says what became of it.
    pub fn sent_ahead(&self, req: &Exec) -> bool {
        self.queued
            .front()
            .is_some_and(|q| q.sent.exec().same_but_stdin(req))
    }

    /// Wait until a chain's bytes written by a thread of their own ([`INLINE_CHAIN`]) are
    /// all written, before anything else is: by then every reply of the chain was read,
    /// so the agent has read them all.
    fn finish_writing(&mut self) {
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }

    /// Write a request's header, script and stdin bytes to the agent.
    fn send(
        &mut self,
        header: &str,
        script: &str,
        req: &Exec,
        input: Option<&mut Input<'_>>,
    ) -> Result<(), RequestError> {
        self.finish_writing();
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(RequestError::NotStarted("the session is closed".into()));
        };
        // Header and script in one write: a dead session shows up here, before anything ran.
        let mut first = Vec::with_capacity(header.len() + script.len());
        first.extend_from_slice(header.as_bytes());
        first.extend_from_slice(script.as_bytes());
        if stdin.write_all(&first).is_err() {
            return Err(RequestError::NotStarted(
                self.lost("before the request was sent"),
            ));
        }
        let sent = match input {
            Some(i) => copy_exact(i.reader, stdin, i.len),
            None => stdin.write_all(&req.stdin).map_err(CopyError::Write),
        };
        match sent.and_then(|()| stdin.flush().map_err(CopyError::Write)) {
            Ok(()) => Ok(()),
            Err(CopyError::Read(e)) => {
                // The agent is waiting for bytes we cannot give: the session is unusable.
                self.close();
                Err(RequestError::Other(RemoteError::Io(e)))
            }
            Err(CopyError::Write(_)) => {
                Err(RequestError::Lost(self.lost("while sending the request")))
            }
        }
    }

    fn read_line(&mut self) -> Result<String, ReplyError> {
        let mut line = Vec::new();
        match self.out.read_until(b'\n', &mut line) {
            Ok(0) => Err(ReplyError::Eof),
            Ok(_) => Ok(String::from_utf8_lossy(&line).trim_end().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(ReplyError::Hung),
            Err(_) => Err(ReplyError::Eof),
        }
    }

    /// How long the machine ran the last request, when the reply showed it: the time
    /// between the agent's start and end lines as they arrived here. Both lines take the
    /// same way back, so the transport's latency cancels out; when both arrive in one read
    /// it is a lower bound.
    pub fn ran(&self) -> Option<Duration> {
        self.ran
    }

    fn read_reply<'w>(
        &mut self,
        id: u64,
        sink: Option<&mut (dyn Write + 'w)>,
    ) -> Result<Reply, ReplyError> {
        let started = self.read_line()?;
        let begun = Instant::now();
        // A text reply (a probe) comes without the `p` line.
        if started.starts_with("t ") {
            return self.read_text_reply(id, &started, begun, sink);
        }
        if let Some(reply) = chain_reply(id, &started)? {
            self.ran = Some(begun.elapsed());
            return Ok(reply);
        }
        let fields: Vec<&str> = started.split(' ').collect();
        if fields.first() != Some(&"p") || fields.get(1) != Some(&id.to_string().as_str()) {
            return Err(ReplyError::Protocol(format!(
                "expected start of request {id}, got `{started}`"
            )));
        }
        let done = self.read_line()?;
        self.ran = Some(begun.elapsed());
        let f: Vec<&str> = done.split(' ').collect();
        let parse = |i: usize| -> Result<u64, ReplyError> {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| ReplyError::Protocol(format!("bad reply header `{done}`")))
        };
        if f.first() != Some(&"r") || parse(1)? != id {
            return Err(ReplyError::Protocol(format!(
                "expected reply to {id}, got `{done}`"
            )));
        }
        let status = parse(2)? as i32;
        let out_len = parse(3)?;
        let err_len = parse(4)?;
        let timed_out = parse(5)? == 1;
        let mut stdout = Vec::new();
        match sink {
            Some(w) => copy_exact(&mut self.out, w, out_len).map_err(|e| match e {
                CopyError::Read(e) if e.kind() == std::io::ErrorKind::TimedOut => ReplyError::Hung,
                CopyError::Read(_) => ReplyError::Eof,
                CopyError::Write(e) => ReplyError::Sink(e),
            })?,
            None => {
                stdout.reserve(out_len.min(64 << 20) as usize);
                copy_exact(&mut self.out, &mut stdout, out_len).map_err(|_| ReplyError::Eof)?;
            }
        }
        let mut stderr = Vec::new();
        copy_exact(&mut self.out, &mut stderr, err_len).map_err(|_| ReplyError::Eof)?;
        Ok(Reply {
            status,
            stdout,
            stderr,
            timed_out,
            not_run: false,
        })
    }

    /// The rest of a text-mode reply (`t ID`, see agent.sh): the text, up to the line
    /// `@@end NONCE ID STATUS`.
    fn read_text_reply<'w>(
        &mut self,
        id: u64,
        header: &str,
        begun: Instant,
        sink: Option<&mut (dyn Write + 'w)>,
    ) -> Result<Reply, ReplyError> {
        if header.split(' ').nth(1) != Some(id.to_string().as_str()) {
            return Err(ReplyError::Protocol(format!(
                "expected reply to {id}, got `{header}`"
            )));
        }
        let marker = format!("{}{id} ", self.end_marker);
        let mut stdout = Vec::new();
        let status = loop {
            let start = stdout.len();
            match self.out.read_until(b'\n', &mut stdout) {
                Ok(0) => return Err(ReplyError::Eof),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(ReplyError::Hung),
                Err(_) => return Err(ReplyError::Eof),
            }
            if let Some(rest) = stdout[start..].strip_prefix(marker.as_bytes()) {
                self.ran = Some(begun.elapsed());
                let status = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|r| r.trim_end().parse::<i32>().ok())
                    .ok_or_else(|| {
                        ReplyError::Protocol(format!(
                            "bad end of reply {id}: `{}`",
                            String::from_utf8_lossy(rest).trim_end()
                        ))
                    })?;
                stdout.truncate(start);
                break status;
            }
        };
        // The newline the agent put before the end line.
        if stdout.last() == Some(&b'\n') {
            stdout.pop();
        }
        if let Some(w) = sink {
            w.write_all(&stdout).map_err(ReplyError::Sink)?;
            stdout.clear();
        }
        Ok(Reply {
            status,
            stdout,
            stderr: Vec::new(),
            timed_out: false,
            not_run: false,
        })
    }

    /// Ask the agent to quit (it removes its directory and exits) without waiting for it;
    /// [`Session::close`] then waits. Closing a machine's sessions in two passes lets them
    /// wind down at the same time.
    pub fn ask_to_quit(&mut self) {
        if !self.queued.is_empty() {
            // `q` would come after what was sent ahead, which the agent would run first:
            // [`Session::close`] ends it instead.
            return;
        }
        if self.writer.as_ref().is_some_and(|w| !w.is_finished()) {
            // A chain's bytes are still being written though every reply was read: the
            // session broke under them. `q` cannot follow them; close() ends the session.
            return;
        }
        self.finish_writing();
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"q\n");
            let _ = stdin.flush();
        }
    }

    /// End the session: ask the agent to quit, then make sure the process group is gone
    /// (killed if it has not exited within 2 s).
    pub fn close(&mut self) {
        if !self.queued.is_empty() {
            // The agent would run what was sent ahead before it reads `q`: end it now.
            self.queued.clear();
            self.stdin.take();
            self.child.end();
            // A chain's writer ends when its next write fails, the agent being gone.
            self.writer.take();
            return;
        }
        self.ask_to_quit();
        // A writer still running (see ask_to_quit) ends when the session is ended below.
        self.writer.take();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut pause = Duration::from_micros(250);
        loop {
            match self.child.ended() {
                Some(_) => return,
                None if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                None => break,
            }
        }
        self.child.end();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

/// A request's reply as the agent framed it.
struct Reply {
    status: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The agent's watchdog ended the request at its timeout.
    timed_out: bool,
    /// The agent did not run it: its chain had stopped (`n ID`).
    not_run: bool,
}

/// A guard's reply (`g ID STATUS`) or a request not run (`n ID`), when `line` is one.
fn chain_reply(id: u64, line: &str) -> Result<Option<Reply>, ReplyError> {
    let f: Vec<&str> = line.split(' ').collect();
    let (not_run, status) = match (f.first(), f.get(2)) {
        (Some(&"n"), None) => (true, 0),
        (Some(&"g"), Some(s)) => (
            false,
            s.parse::<i32>()
                .map_err(|_| ReplyError::Protocol(format!("bad guard reply `{line}`")))?,
        ),
        _ => return Ok(None),
    };
    if f.get(1) != Some(&id.to_string().as_str()) {
        return Err(ReplyError::Protocol(format!(
            "expected reply to {id}, got `{line}`"
        )));
    }
    Ok(Some(Reply {
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
        timed_out: false,
        not_run,
    }))
}

/// The script as the agent reads it: line by line with `read`, so it must end with a
/// newline and cannot hold a NUL byte.
fn sendable_script(req: &Exec) -> Result<String, RemoteError> {
    let mut script = req.full_script();
    if script.contains('\0') {
        return Err(RemoteError::NulByte);
    }
    if !script.ends_with('\n') {
        script.push('\n');
    }
    Ok(script)
}

/// The request line of `agent.sh`: `x ID SCRIPT_LINES SCRIPT_BYTES STDIN_LEN TIMEOUT_S MODE`.
fn header(req: &Exec, id: u64, script: &str, in_len: u64) -> String {
    let lines = script.bytes().filter(|b| *b == b'\n').count();
    // A probe has no watchdog on the machine: past its limit the session is abandoned.
    let (timeout_s, mode) = match (req.probe, req.timeout) {
        (_, _) if req.guard => (0, 'g'),
        (true, _) => (0, if req.isolate { 's' } else { 't' }),
        (false, t) => (
            t.map(|t| t.as_secs().max(1)).unwrap_or(0),
            if req.file_sized { 'f' } else { 'b' },
        ),
    };
    format!(
        "x {id} {lines} {} {in_len} {timeout_s} {mode}\n",
        script.len()
    )
}

enum ReplyError {
    Hung,
    Eof,
    Protocol(String),
    Sink(std::io::Error),
}
