//! The reaper: a small process of orbdeploy's own that ends orbdeploy's children when
//! orbdeploy itself ends without doing so — killed with SIGKILL, or a panic that unwound
//! past the code that would have ended them.
//!
//! Every child runs in a process group of its own (so that Ctrl-C at a terminal reaches
//! only orbdeploy, which ends them itself), which also means nothing ends them when
//! orbdeploy dies: an `ssh -N` master never reads its stdin and would run on. So the
//! first child orbdeploy starts also starts the reaper (this same binary, `orbdeploy
//! __reaper`, in a group of its own) with a pipe on its stdin, and each child group is
//! written to it as it starts (`+PGID`) and ends (`-PGID`). The reaper holds the only
//! read end; orbdeploy the only write end (close-on-exec, so no child holds it). When
//! orbdeploy ends, however it ends, the kernel closes the write end: the reaper reads
//! EOF and ends the groups still listed as Ctrl-C would (SIGTERM, SIGKILL after
//! [`GRACE`]). A pipe's end is seen the same way on Linux and macOS, unlike
//! `PR_SET_PDEATHSIG`, which macOS lacks (and which would need `unsafe` in `pre_exec`,
//! which this crate forbids).
//!
//! A clean run has unlisted every group by the time it exits, so its reaper reads EOF
//! with nothing to do and exits at once. A group started in the microseconds between its
//! spawn and its `+PGID` line, when orbdeploy is killed in exactly that gap, is missed.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The first argument that makes orbdeploy the reaper (not a command users type).
pub const ARG: &str = "__reaper";

/// How long the groups get between SIGTERM and SIGKILL (as Ctrl-C gives them).
pub const GRACE: Duration = Duration::from_secs(2);

/// The reaper of this process, started with the first child: its stdin, and the child
/// (kept so that it is not waited for; it exits when this process does).
static REAPER: Mutex<Option<(Child, ChildStdin)>> = Mutex::new(None);

/// Whether this process may start a reaper: armed by the `orbdeploy` binary
/// ([`enable`]), not by a test or another program that uses the library (whose
/// executable is not orbdeploy), and tried once.
static ARMED: Mutex<bool> = Mutex::new(false);

/// Let the first child start a reaper (`main_entry` does, for the binary).
pub fn enable() {
    if let Ok(mut armed) = ARMED.lock() {
        *armed = true;
    }
}

/// Tell the reaper a group started (`true`) or ended (`false`). Best effort: without a
/// reaper (it could not be started) the run goes on as before.
pub fn note(pgid: i32, started: bool) {
    let Ok(mut reaper) = REAPER.lock() else {
        return;
    };
    if reaper.is_none() {
        if !started {
            return;
        }
        *reaper = start();
    }
    let line = format!("{}{pgid}\n", if started { '+' } else { '-' });
    if let Some((_, stdin)) = reaper.as_mut() {
        if stdin.write_all(line.as_bytes()).is_err() {
            // It is gone; nothing more to tell it.
            *reaper = None;
        }
    }
}

/// Start the reaper, once per process at most.
fn start() -> Option<(Child, ChildStdin)> {
    let mut armed = ARMED.lock().ok()?;
    if !*armed {
        return None;
    }
    *armed = false;
    let started = std::env::current_exe().and_then(|exe| {
        std::os::unix::process::CommandExt::process_group(
            Command::new(exe)
                .arg(ARG)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
    });
    let mut child = started.ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

/// The reaper's life (`orbdeploy __reaper`): read `+PGID`/`-PGID` lines until EOF, then end
/// the groups still listed. Returns the exit code.
pub fn serve() -> i32 {
    // A Ctrl-C or hang-up at the terminal is orbdeploy's to handle; the reaper stays to
    // see whether orbdeploy ended its children.
    let _ = ctrlc::set_handler(|| {});
    let mut live = BTreeSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        apply_line(&mut live, &line);
    }
    end_groups(&live.into_iter().collect::<Vec<_>>(), GRACE);
    0
}

/// One line of the protocol; anything else is ignored.
fn apply_line(live: &mut BTreeSet<i32>, line: &str) {
    let (sign, number) = line.split_at(line.len().min(1));
    match (sign, number.parse::<i32>()) {
        // 0 and 1 are never a child's group, and killpg(0) would be our own.
        (_, Ok(pgid)) if pgid <= 1 => {}
        ("+", Ok(pgid)) => {
            live.insert(pgid);
        }
        ("-", Ok(pgid)) => {
            live.remove(&pgid);
        }
        _ => {}
    }
}

/// SIGTERM to every group, SIGKILL after `grace` to those still there.
pub fn end_groups(groups: &[i32], grace: Duration) {
    for pgid in groups {
        let _ = killpg(Pid::from_raw(*pgid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        let alive = groups
            .iter()
            .any(|pgid| killpg(Pid::from_raw(*pgid), None).is_ok());
        if !alive {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for pgid in groups {
        let _ = killpg(Pid::from_raw(*pgid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_list_and_unlist_groups() {
        let mut live = BTreeSet::new();
        for line in ["+40", "+41", "-40", "+0", "+1", "-1", "x", "", "+-5", "+42"] {
            apply_line(&mut live, line);
        }
        assert_eq!(live.into_iter().collect::<Vec<_>>(), [41, 42]);
    }
}
