//! Chains on the real agent (`agent.sh`), run by this host's `sh`: what runs, in what
//! order, what each request is answered, and what a stopped chain leaves to run on its own.

use std::ffi::OsString;
use std::sync::Arc;

use super::Channel;
use crate::process::ProcessError;
use crate::quote::quote;
use crate::remote::launcher::Launcher;
use crate::remote::{write_script, Exec, Link, Remote, RemoteError, WriteFile};

/// Runs the agent here, as this process's user.
struct Here;

impl Launcher for Here {
    fn argv(&self, _user: Option<&str>, words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }
    fn open_failed(&self, _user: Option<&str>, command: &str, stderr: &str) -> RemoteError {
        RemoteError::Transfer(format!("{command}: {stderr}"))
    }
    fn spawn_failed(&self, e: ProcessError) -> RemoteError {
        RemoteError::Process(e)
    }
    fn session_name(&self) -> &'static str {
        "the local agent"
    }
    fn check_hint(&self) -> String {
        "run it again".into()
    }
    fn sudo_refused(&self, user: &str) -> RemoteError {
        // Never asked: the agent runs here as this user, without sudo.
        RemoteError::Transfer(format!("sudo refused the password for {user}"))
    }
}

/// A command that appends `word` to `log` and exits with `status`.
fn logs(log: &str, word: &str, status: i32) -> Exec {
    Exec::script(format!("echo {word} >> {}; exit {status}", quote(log)))
}

fn log_of(log: &str) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn a_chain_runs_in_order_and_stops_at_a_failure_that_is_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log").display().to_string();
    let mut ch = Channel::over(Arc::new(Here), "here");
    let (a, b, c, d) = (
        logs(&log, "a", 0),
        logs(&log, "b", 3),
        logs(&log, "c", 0),
        logs(&log, "d", 0),
    );
    let chain = [
        (a.clone(), Link::Stops),
        (b.clone(), Link::Ignored),
        (c.clone(), Link::Stops),
        (logs(&log, "x", 4), Link::Stops),
        (d.clone(), Link::Stops),
    ];
    let before = ch.meter().requests;
    ch.send_chain(&chain).unwrap();
    assert!(ch.chain_pending());
    assert_eq!(ch.exec(&a).unwrap().status, 0);
    assert_eq!(ch.exec(&b).unwrap().status, 3);
    assert_eq!(ch.exec(&c).unwrap().status, 0);
    assert_eq!(ch.exec(&chain[3].0).unwrap().status, 4);
    // The chain stopped at x: d did not run, and runs on its own when asked.
    assert!(!ch.chain_pending());
    assert_eq!(log_of(&log), "a\nb\nc\nx\n");
    assert_eq!(ch.meter().requests - before, 1);
    assert_eq!(ch.exec(&d).unwrap().status, 0);
    assert_eq!(log_of(&log), "a\nb\nc\nx\nd\n");
    assert_eq!(ch.meter().requests - before, 2);
    ch.close();
}

#[test]
fn a_guard_that_fails_stops_the_chain_before_the_step_it_guards() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log").display().to_string();
    let flag = dir.path().join("flag").display().to_string();
    let mut ch = Channel::over(Arc::new(Here), "here");
    // A guard (mode g) whose facts were read before the chain: FLAG did not exist. (The
    // guard orbdeploy builds from a probe's output is `facts::gather::guard`.)
    let guard_that = |exists: bool| Exec {
        script: format!(
            "{}test -e {}\n",
            if exists { "" } else { "! " },
            quote(&flag)
        ),
        guard: true,
        ..Exec::default()
    };
    let guard = guard_that(false);
    let make = Exec::script(format!("touch {}", quote(&flag)));
    let after = logs(&log, "after", 0);
    ch.send_chain(&[
        (make.clone(), Link::Stops),
        (guard.clone(), Link::Stops),
        (after.clone(), Link::Stops),
    ])
    .unwrap();
    assert_eq!(ch.exec(&make).unwrap().status, 0);
    // The first command made the file: the guard finds the facts stale.
    assert_ne!(ch.exec(&guard).unwrap().status, 0);
    assert!(!ch.chain_pending());
    assert_eq!(log_of(&log), "", "nothing after a stale guard runs");

    // A guard whose facts hold lets the chain go on.
    let holds = guard_that(true);
    ch.send_chain(&[
        (make.clone(), Link::Stops),
        (holds.clone(), Link::Stops),
        (after.clone(), Link::Stops),
    ])
    .unwrap();
    assert_eq!(ch.exec(&make).unwrap().status, 0);
    assert_eq!(ch.exec(&holds).unwrap().status, 0);
    assert_eq!(ch.exec(&after).unwrap().status, 0);
    assert_eq!(log_of(&log), "after\n");
    ch.close();
}

#[test]
fn an_unanswered_chain_is_drained_before_another_request_and_killed_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log").display().to_string();
    let mut ch = Channel::over(Arc::new(Here), "here");
    let (a, b) = (logs(&log, "a", 0), logs(&log, "b", 0));
    ch.send_chain(&[(a.clone(), Link::Stops), (b.clone(), Link::Stops)])
        .unwrap();
    // Another request first: a and b ran (they were sent), their replies are dropped.
    let other = ch.exec(&Exec::script("echo other")).unwrap();
    assert_eq!(other.stdout_text(), "other\n");
    assert_eq!(log_of(&log), "a\nb\n");
    // b is not answered from the forgotten chain: it runs again.
    assert_eq!(ch.exec(&b).unwrap().status, 0);
    assert_eq!(log_of(&log), "a\nb\nb\n");

    // A session closed with a chain unanswered is ended: what was not started never runs.
    let slow = Exec::script(format!("sleep 1; echo slow >> {}", quote(&log)));
    ch.send_chain(&[(slow, Link::Stops), (logs(&log, "late", 0), Link::Stops)])
        .unwrap();
    ch.close();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(!log_of(&log).contains("late"), "{}", log_of(&log));
}

/// The request that writes `content` to `path` as `write_file` makes it, with the bytes
/// in it as a chain carries them.
fn write_of(path: &str, content: &[u8]) -> (WriteFile, Exec) {
    let req = WriteFile {
        path: path.to_string(),
        user: None,
        mode: 0o644,
        owner: None,
        group: None,
        len: content.len() as u64,
    };
    let exec = Exec {
        stdin: content.to_vec(),
        ..Exec::script(write_script(&req))
    };
    (req, exec)
}

#[test]
fn a_write_sent_ahead_answers_write_file_behind_a_loud_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big").display().to_string();
    // 200 KB of file behind a command that prints 1 MiB: more than the pipes hold both
    // ways, so the chain is written while the replies are read.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let loud = Exec::script("head -c 1048576 /dev/zero");
    let (req, write) = write_of(&path, &big);
    let log = dir.path().join("log").display().to_string();
    let after = logs(&log, "after", 0);
    let mut ch = Channel::over(Arc::new(Here), "here");
    let before = ch.meter().requests;
    let chain = [
        (loud.clone(), Link::Stops),
        (write, Link::Stops),
        (after.clone(), Link::Stops),
    ];
    ch.send_chain(&chain).unwrap();
    assert_eq!(ch.exec(&loud).unwrap().stdout.len(), 1 << 20);
    ch.write_file(&req, &mut big.as_slice()).unwrap();
    assert_eq!(ch.exec(&after).unwrap().status, 0);
    assert_eq!(ch.meter().requests - before, 1);
    assert_eq!(std::fs::read(&path).unwrap(), big);
    assert_eq!(log_of(&log), "after\n");
    ch.close();
}

#[test]
fn bytes_that_changed_since_the_chain_was_sent_are_an_error_not_a_second_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f").display().to_string();
    let (req, write) = write_of(&path, b"sent\n");
    let mut ch = Channel::over(Arc::new(Here), "here");
    let later = Exec::script("true");
    ch.send_chain(&[(write, Link::Stops), (later.clone(), Link::Stops)])
        .unwrap();
    let err = ch.write_file(&req, &mut &b"edit\n"[..]).unwrap_err();
    assert!(
        err.to_string().contains("changed after they were sent"),
        "{err}"
    );
    // The machine has what the chain carried, written once.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "sent\n");
    assert!(!ch.chain_pending());
    ch.close();
}
