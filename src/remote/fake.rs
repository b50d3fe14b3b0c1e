//! A fake machine for unit tests of the run: a [`Remote`] whose "machine" is a temporary
//! directory of this host, and which records every request it is asked to run.
//!
//! Why a local `sh` and not an in-memory filesystem: the facts a step decides on are the
//! output of real shell scripts (the probe library, `stat`, `sha256sum`, awk), framed by
//! marker lines ([`crate::facts::gather`]). A fake that answered them from a table would
//! have to re-implement that library, and a test would then check the fake against itself.
//! Running the very scripts the steps send, with the probe library in front of a probe
//! (as the one-shot path does), keeps every test honest about what the machine sees and
//! still needs no root, no orbctl and no orbsim: steps name paths under [`FakeMachine::root`],
//! and one request costs a few milliseconds.
//!
//! What it does not do, and says here so that no test relies on it: it runs every request
//! as this process's user (the requested `user` is only recorded), ignores time limits,
//! and counts nothing in a [`crate::remote::Meter`].
//!
//! With [`FakeMachine::chaining`] it runs chains ([`Remote::send_chain`]) as the channel's
//! agent does — in order, at once, stopping at a failure — and records each chain as one
//! request, so that tests can count what pipelining saves.
//!
//! What a test programs ([`FakeMachine::on`]): a request whose script contains a piece of text
//! can exit with a status instead of running, run and then exit with a status, lose the
//! connection, run past its time limit, or run and then let Ctrl-C arrive (on the test's thread
//! alone, see [`crate::interrupt::request_on_this_thread`]), for its first N matches or every
//! time.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use std::collections::VecDeque;

use super::{Exec, ExecOutput, Input, Link, Remote, RemoteError};

/// What a programmed request does instead of (or after) running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// It does not run; it exits with this status and a line on stderr.
    Exit(i32),
    /// It runs, then reports this status: a change that failed half-way.
    RunThenExit(i32),
    /// It does not run: the connection is lost.
    Disconnect,
    /// It does not run: it ran past its time limit.
    TimedOut,
    /// It runs, and Ctrl-C arrives when it has ended.
    RunThenInterrupt,
}

/// A request the machine was asked to run, as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The script (without the probe library), with `cd` and `export` lines in front.
    pub script: String,
    /// The user it was to run as.
    pub user: Option<String>,
    /// A read-only request of orbdeploy's own (facts).
    pub probe: bool,
    /// How many bytes came on stdin.
    pub stdin_len: usize,
    /// A chain of requests sent in one write ([`Remote::send_chain`]).
    pub chain: bool,
}

struct Rule {
    needle: String,
    /// Only requests that are not probes.
    commands_only: bool,
    reply: Reply,
    /// How many more matches it applies to (`None`: every one).
    left: Option<u32>,
}

/// A request of a chain, how it links to the rest, and what it got (`None`: not run).
type Answer = (Exec, Link, Option<Result<ExecOutput, RemoteError>>);

/// A machine that is a temporary directory, see the module's comment.
pub(crate) struct FakeMachine {
    name: String,
    root: tempfile::TempDir,
    rules: Vec<Rule>,
    requests: Vec<Request>,
    closed: u32,
    /// It runs chains ([`FakeMachine::chaining`]).
    chains: bool,
    /// What the requests of the last chain got, to answer their `exec`, in order (`None`:
    /// not run, the chain had stopped).
    answers: VecDeque<Answer>,
}

impl FakeMachine {
    /// A machine called `name`, with an empty root directory.
    pub fn new(name: &str) -> FakeMachine {
        FakeMachine {
            name: name.to_string(),
            root: tempfile::tempdir().expect("a temporary directory"),
            rules: Vec::new(),
            requests: Vec::new(),
            closed: 0,
            chains: false,
            answers: VecDeque::new(),
        }
    }

    /// Run chains of requests as the channel's agent does: in order, at once, each request
    /// after one that failed (see [`Link`]) not run; the chain counts as one request.
    pub fn chaining(&mut self) -> &mut Self {
        self.chains = true;
        self
    }

    /// The directory the tests' steps write in (an absolute path).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A request whose script contains `needle` gets `reply`, for its first `times`
    /// matches (`None`: every time). The first rule that matches applies.
    pub fn on(&mut self, needle: &str, reply: Reply, times: Option<u32>) -> &mut Self {
        self.rules.push(Rule {
            needle: needle.to_string(),
            commands_only: false,
            reply,
            left: times,
        });
        self
    }

    /// [`FakeMachine::on`] for requests that are not probes (the changes and commands).
    pub fn on_command(&mut self, needle: &str, reply: Reply, times: Option<u32>) -> &mut Self {
        self.on(needle, reply, times);
        if let Some(rule) = self.rules.last_mut() {
            rule.commands_only = true;
        }
        self
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    /// How many requests were probes (reads of facts).
    pub fn probe_requests(&self) -> usize {
        self.requests.iter().filter(|r| r.probe).count()
    }

    /// The requests that were not probes and whose script contains `text`.
    pub fn commands_with(&self, text: &str) -> usize {
        self.requests
            .iter()
            .filter(|r| !r.probe && r.script.contains(text))
            .count()
    }

    /// How many times the connection was closed.
    pub fn closed(&self) -> u32 {
        self.closed
    }

    fn programmed(&mut self, script: &str, probe: bool) -> Option<Reply> {
        let rule = self.rules.iter_mut().find(|r| {
            r.left != Some(0) && !(probe && r.commands_only) && script.contains(&r.needle)
        })?;
        if let Some(n) = rule.left.as_mut() {
            *n -= 1;
        }
        Some(rule.reply)
    }

    /// Run `script` with `sh` in the root directory, `stdin` on its stdin.
    fn sh(&self, script: &str, stdin: Vec<u8>) -> Result<std::process::Output, RemoteError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(self.root())
            .env("HOME", self.root())
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut pipe = child.stdin.take();
        // On a thread of its own: a script that writes much before it reads must not block.
        let writer = std::thread::spawn(move || {
            if let Some(p) = pipe.as_mut() {
                let _ = p.write_all(&stdin);
            }
        });
        let out = child.wait_with_output()?;
        let _ = writer.join();
        Ok(out)
    }
}

impl Remote for FakeMachine {
    fn machine(&self) -> &str {
        &self.name
    }

    fn exec_stream(
        &mut self,
        req: &Exec,
        input: Option<Input<'_>>,
        sink: Option<&mut dyn Write>,
    ) -> Result<ExecOutput, RemoteError> {
        let mut input = input;
        let sent = match self.answers.front() {
            Some((e, _, _)) => crate::remote::Sent::of(e).is(req, input.as_mut())?,
            None => false,
        };
        if sent {
            if let Some((_, link, Some(answer))) = self.answers.pop_front() {
                let failed = answer.as_ref().map_or(true, |o| o.status != 0);
                if failed && (req.guard || link == Link::Stops) {
                    self.answers.clear();
                }
                return answer;
            }
            self.answers.clear();
        }
        self.answers.clear();
        let mut stdin = req.stdin.clone();
        if let Some(i) = input {
            stdin.clear();
            i.reader.read_to_end(&mut stdin)?;
        }
        let script = req.full_script();
        self.requests.push(Request {
            script: script.clone(),
            user: req.user.clone(),
            probe: req.probe,
            stdin_len: stdin.len(),
            chain: false,
        });
        self.run_one(req, script, stdin, sink)
    }

    fn describe(&self, req: &Exec) -> Vec<String> {
        vec![format!("fake {} {}", self.name, req.script.len())]
    }

    fn close(&mut self) {
        self.closed += 1;
    }

    fn chains(&self) -> bool {
        self.chains
    }

    fn send_chain(&mut self, chain: &[(Exec, Link)]) -> Result<(), RemoteError> {
        if !self.chains {
            return Ok(());
        }
        self.requests.push(Request {
            script: chain
                .iter()
                .map(|(e, _)| e.full_script())
                .collect::<Vec<_>>()
                .join("\n"),
            user: chain.first().and_then(|(e, _)| e.user.clone()),
            probe: false,
            stdin_len: 0,
            chain: true,
        });
        self.answers.clear();
        let mut stopped = false;
        for (req, link) in chain {
            if stopped {
                self.answers.push_back((req.clone(), *link, None));
                continue;
            }
            let answer = self.run_one(req, req.full_script(), req.stdin.clone(), None);
            let failed = answer.as_ref().map_or(true, |o| o.status != 0);
            stopped = failed && (req.guard || *link == Link::Stops);
            self.answers.push_back((req.clone(), *link, Some(answer)));
        }
        Ok(())
    }

    fn chain_pending(&self) -> bool {
        self.answers.iter().any(|(_, _, a)| a.is_some())
    }
}

impl FakeMachine {
    /// Run one request (its full script) as programmed.
    fn run_one(
        &mut self,
        req: &Exec,
        script: String,
        stdin: Vec<u8>,
        sink: Option<&mut dyn Write>,
    ) -> Result<ExecOutput, RemoteError> {
        let reply = self.programmed(&script, req.probe);
        match reply {
            Some(Reply::Exit(status)) => {
                return Ok(ExecOutput {
                    status,
                    stderr: format!("fake: exit {status} as programmed\n").into_bytes(),
                    ..ExecOutput::default()
                })
            }
            Some(Reply::Disconnect) => {
                return Err(RemoteError::Disconnected {
                    machine: self.name.clone(),
                    detail: "the fake machine dropped the connection as programmed".into(),
                })
            }
            Some(Reply::TimedOut) => {
                return Err(RemoteError::Timeout(req.timeout.unwrap_or_default()))
            }
            Some(Reply::RunThenInterrupt | Reply::RunThenExit(_)) | None => {}
        }
        let full = if req.probe || req.guard {
            format!("{}{script}", super::probe_lib::probe_lib())
        } else {
            script
        };
        let out = self.sh(&full, stdin)?;
        if reply == Some(Reply::RunThenInterrupt) {
            crate::interrupt::request_on_this_thread(true);
        }
        let mut stdout = out.stdout;
        if let Some(sink) = sink {
            sink.write_all(&stdout)?;
            stdout.clear();
        }
        let status = match reply {
            Some(Reply::RunThenExit(status)) => status,
            _ => out.status.code().unwrap_or(255),
        };
        Ok(ExecOutput {
            status,
            stdout,
            stderr: out.stderr,
            duration: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::WriteFile;

    #[test]
    fn a_rule_applies_to_its_first_matches_and_commands_only_when_asked() {
        let mut m = FakeMachine::new("m");
        m.on("echo a", Reply::Exit(9), Some(2));
        m.on_command("echo b", Reply::Exit(8), None);
        let run = |m: &mut FakeMachine, script: &str, probe: bool| {
            let req = Exec {
                probe,
                ..Exec::script(script)
            };
            m.exec(&req).map(|o| (o.status, o.stdout_text()))
        };
        assert_eq!(run(&mut m, "echo a", false).unwrap().0, 9);
        assert_eq!(run(&mut m, "echo a", true).unwrap().0, 9);
        assert_eq!(run(&mut m, "echo a", false).unwrap(), (0, "a\n".into()));
        assert_eq!(run(&mut m, "echo b", true).unwrap(), (0, "b\n".into()));
        assert_eq!(run(&mut m, "echo b", false).unwrap().0, 8);
        assert_eq!(m.requests().len(), 5);
        assert_eq!(m.probe_requests(), 2);
        m.on("lost", Reply::Disconnect, None);
        assert!(matches!(
            run(&mut m, "lost", false),
            Err(RemoteError::Disconnected { .. })
        ));
    }

    #[test]
    fn a_probe_gets_the_probe_library_and_a_command_runs_in_the_root() {
        let mut m = FakeMachine::new("m");
        let probe = Exec {
            probe: true,
            ..Exec::script("command -v __od_1 >/dev/null && echo defined")
        };
        assert_eq!(m.exec(&probe).unwrap().stdout_text(), "defined\n");
        let plain = m.exec(&Exec::script("command -v __od_1 || pwd")).unwrap();
        let root = m.root().canonicalize().unwrap();
        assert_eq!(plain.stdout_text().trim(), root.display().to_string());
    }

    #[test]
    fn files_are_written_and_read_through_the_transports_scripts() {
        let mut m = FakeMachine::new("m");
        let path = m.root().join("f").display().to_string();
        let req = WriteFile {
            path: path.clone(),
            mode: 0o640,
            len: 5,
            ..WriteFile::default()
        };
        m.write_file(&req, &mut &b"hello"[..]).unwrap();
        let mut back = Vec::new();
        assert_eq!(m.read_file(&path, None, &mut back).unwrap(), 5);
        assert_eq!(back, b"hello");
        assert_eq!(m.requests()[0].stdin_len, 5);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }
}
