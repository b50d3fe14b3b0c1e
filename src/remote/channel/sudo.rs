//! Answering sudo's password prompt at the start of a session (an ssh host's
//! `become_password:`, docs/secrets.md). The agent is started through `sudo -S -p PROMPT`:
//! sudo prints PROMPT on stderr and reads one line from stdin, the session's stdin, before
//! it starts the agent. So the password never is in an argv, here or on the host, and it
//! goes nowhere else: it is written once, only when the prompt came (a `NOPASSWD` rule or
//! sudo's cached credentials ask for nothing, and the agent's ready line comes instead).
//!
//! A second prompt means sudo refused the password: the session is ended at once, with
//! its stdin closed before anything else is written (sudo would read the next line as
//! another try), instead of waiting for sudo's third try. sudo reads the password one
//! byte at a time up to the newline, so the requests that follow on the same stdin reach
//! the agent untouched.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::io::DeadlineReader;

/// The prompt sudo prints for the session with this nonce: known, so that it is found in
/// the session's stderr, and free of sudo's `%` escapes.
pub fn prompt(nonce: &str) -> String {
    format!("[orbdeploy-sudo {nonce}]")
}

/// How the start of a session through `sudo -S` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The agent's ready line came: the session is open.
    Ready,
    /// sudo asked again after the password was given.
    Refused,
    /// The session ended (or the time was up, or orbdeploy is interrupted) first.
    Ended,
}

/// The pipes of a starting session.
pub struct Pipes<'a> {
    /// The agent's stdout (the ready line comes there).
    pub out: &'a mut BufReader<DeadlineReader>,
    /// sudo's stderr, then the agent's.
    pub stderr: &'a mut File,
    /// sudo's stdin, then the agent's.
    pub stdin: &'a mut File,
}

/// What [`answer`] saw: how it ended, and what sudo said on stderr but its prompts (a
/// lecture, an error), for the session's messages.
pub struct Answered {
    /// How it ended.
    pub answer: Answer,
    /// stderr, prompts removed.
    pub said: Vec<u8>,
}

/// Wait for the agent's ready line (`marker`) on stdout, giving `password` to the first
/// prompt on stderr; by `deadline` at the latest.
pub fn answer(
    p: Pipes<'_>,
    password: &str,
    nonce: &str,
    marker: &str,
    deadline: Instant,
) -> Answered {
    let prompt = prompt(nonce);
    let mut said: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut sent = false;
    let mut stderr_open = true;
    let answer = loop {
        if !p.out.buffer().is_empty() {
            if take_line(p.out, &mut line, marker) {
                break Answer::Ready;
            }
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || crate::interrupt::requested() {
            break Answer::Ended;
        }
        let (out_ready, err_ready) = wait(p.out.get_ref(), p.stderr, stderr_open, left);
        if out_ready {
            // Readable: one read, which does not block (an empty buffer is the end).
            match p.out.fill_buf() {
                Ok([]) | Err(_) => break Answer::Ended,
                Ok(_) => continue,
            }
        }
        if !err_ready {
            continue;
        }
        if !read_some(p.stderr, &mut said) {
            stderr_open = false;
            continue;
        }
        match said
            .windows(prompt.len())
            .filter(|w| *w == prompt.as_bytes())
            .count()
        {
            0 => {}
            1 if !sent => {
                sent = true;
                let line = format!("{password}\n");
                if p.stdin
                    .write_all(line.as_bytes())
                    .and_then(|()| p.stdin.flush())
                    .is_err()
                {
                    break Answer::Ended;
                }
            }
            1 => {}
            _ => break Answer::Refused,
        }
    };
    if answer == Answer::Ended && stderr_open {
        drain(p.stderr, &mut said, Instant::now() + Duration::from_secs(1));
    }
    let said = without(&said, prompt.as_bytes());
    // sudo set to one try (`passwd_tries=1`) says so and ends instead of asking again.
    let refused = sent && answer == Answer::Ended && said_incorrect(&said);
    Answered {
        answer: if refused { Answer::Refused } else { answer },
        said,
    }
}

/// Move the buffered stdout up to its next newline into `line`; true when that completed
/// the ready line. Bytes after the line stay buffered for the session.
fn take_line(out: &mut BufReader<DeadlineReader>, line: &mut Vec<u8>, marker: &str) -> bool {
    let buf = out.buffer();
    match buf.iter().position(|b| *b == b'\n') {
        Some(i) => {
            line.extend_from_slice(&buf[..i]);
            out.consume(i + 1);
            let ready = line.trim_ascii_end() == marker.as_bytes();
            line.clear();
            ready
        }
        None => {
            line.extend_from_slice(buf);
            let n = buf.len();
            out.consume(n);
            false
        }
    }
}

/// Whether stdout and stderr are readable (or at their end) within `left` (at most 200 ms,
/// so that an interrupt is seen).
fn wait(out: &DeadlineReader, stderr: &File, stderr_open: bool, left: Duration) -> (bool, bool) {
    let ms = left.min(Duration::from_millis(200)).as_millis() as u16;
    let mut fds = vec![PollFd::new(out.as_fd(), PollFlags::POLLIN)];
    if stderr_open {
        fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
    }
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(n) if n > 0 => {
            let ready =
                |fd: Option<&PollFd>| fd.and_then(PollFd::revents).is_some_and(|r| !r.is_empty());
            (ready(fds.first()), ready(fds.get(1)))
        }
        _ => (false, false),
    }
}

/// Append what one read of `from` gives; false at its end.
fn read_some(from: &mut File, to: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    match from.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            to.extend_from_slice(&buf[..n]);
            true
        }
    }
}

/// The rest of a stderr whose session ended: sudo's last words, until its end or `until`.
fn drain(stderr: &mut File, said: &mut Vec<u8>, until: Instant) {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(1000) as u16;
        let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLIN)];
        if ms == 0 || !matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(1..)) {
            return;
        }
        if !read_some(stderr, said) {
            return;
        }
    }
}

/// `text` without any occurrence of `cut`.
fn without(text: &[u8], cut: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(cut) {
            i += cut.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// sudo's own words for a refused password (`sudo: 1 incorrect password attempt`).
fn said_incorrect(said: &[u8]) -> bool {
    String::from_utf8_lossy(said).contains("incorrect password attempt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};

    /// A stand-in for `sudo -S -p PROMPT -- AGENT` (`$1` the prompt, `$2` the password it
    /// takes, `$3` `nopasswd` to ask nothing): prompts on stderr, reads a line, asks
    /// again (up to three times) when it is wrong, then prints the ready line and echoes
    /// what comes next on its stdin, as the agent would read it.
    const SUDO: &str = r#"
if [ "$3" != nopasswd ]; then
  n=0
  while :; do
    printf '%s' "$1" >&2
    IFS= read -r pw || { echo 'sudo: no password was provided' >&2; exit 1; }
    [ "$pw" = "$2" ] && break
    n=$((n + 1))
    [ $n -ge 3 ] && { echo "sudo: $n incorrect password attempts" >&2; exit 1; }
    echo 'Sorry, try again.' >&2
  done
fi
printf '\nORBDEPLOY-READY n1\n'
IFS= read -r next && printf 'got %s\n' "$next"
"#;

    fn run(takes: &str, mode: &str, given: &str) -> (Answered, Vec<u8>) {
        let mut child = Command::new("sh")
            .args(["-c", SUDO, "sudo", &prompt("n1"), takes, mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = File::from(OwnedFd::from(child.stdin.take().unwrap()));
        let stdout = File::from(OwnedFd::from(child.stdout.take().unwrap()));
        let mut stderr = File::from(OwnedFd::from(child.stderr.take().unwrap()));
        let mut out = BufReader::new(DeadlineReader::new(stdout));
        let deadline = Instant::now() + Duration::from_secs(20);
        let pipes = Pipes {
            out: &mut out,
            stderr: &mut stderr,
            stdin: &mut stdin,
        };
        let answered = answer(pipes, given, "n1", "ORBDEPLOY-READY n1", deadline);
        // What the "agent" reads next is the first request, not a word of the password.
        let _ = stdin.write_all(b"x 1\n");
        drop(stdin);
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
        let _ = child.wait();
        (answered, rest)
    }

    #[test]
    fn the_right_password_is_given_once_and_the_requests_follow_untouched() {
        let (a, rest) = run("s3cret pw", "ask", "s3cret pw");
        assert_eq!(a.answer, Answer::Ready);
        assert_eq!(String::from_utf8_lossy(&rest), "got x 1\n");
        assert!(a.said.is_empty(), "{:?}", String::from_utf8_lossy(&a.said));
    }

    #[test]
    fn a_sudo_that_asks_nothing_gets_nothing() {
        let (a, rest) = run("unused", "nopasswd", "s3cret pw");
        assert_eq!(a.answer, Answer::Ready);
        // The password was never written: the first line the agent reads is the request.
        assert_eq!(String::from_utf8_lossy(&rest), "got x 1\n");
    }

    #[test]
    fn a_wrong_password_is_refused_at_the_second_prompt_without_waiting() {
        let t = Instant::now();
        let (a, _) = run("right", "ask", "wrong");
        assert_eq!(a.answer, Answer::Refused);
        assert_eq!(String::from_utf8_lossy(&a.said), "Sorry, try again.\n");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn the_prompt_is_cut_from_what_sudo_said() {
        let p = prompt("n1");
        let said = format!("{p}Sorry, try again.\n{p}");
        assert_eq!(
            without(said.as_bytes(), p.as_bytes()),
            b"Sorry, try again.\n"
        );
        assert!(!p.contains('%'));
    }
}
