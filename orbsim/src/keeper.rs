//! The keeper of a `run` session: the process between orbsim and the user's login shell,
//! inside the machine, that ends the session's background processes when it ends.
//!
//! Third-party clients report (docs/orbctl.md §12.10, \[3P\]) that on OrbStack a process
//! started with `nohup … &` in `orbctl run` is killed when the session ends, while one
//! started with `setsid … &` survives. So the keeper makes the session a session of its own
//! in the machine (`setsid`), runs the shell in it, and when the shell has exited kills
//! every process still in that session; a process that made a new session is not in it.
//! `ORBSIM_COMPAT=nohup-survives` skips all of it (the session then stays in the caller's
//! session and process group, as orbsim did before).
//!
//! \[GUESS\]: the signal (SIGKILL: a nohup'd process ignores SIGHUP, and the report says it
//! is killed), and a grace of [`GRACE`] before it, which OrbStack may not give: a
//! `setsid … &` that has not yet called setsid(2) when the shell exits would otherwise be
//! killed (the report's `& sleep 0.5` works around that race on OrbStack). A session on a
//! terminal is not moved (it would lose its controlling terminal), and nothing is swept.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// How long processes left in an ended session get before they are killed.
pub const GRACE: Duration = Duration::from_millis(100);

/// The signal the keeper gets when orbsim (its parent, outside the machine) dies.
const PARENT_GONE: Signal = Signal::SIGUSR2;

static SHELL: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: i32) {
    let shell = SHELL.load(Ordering::SeqCst);
    if shell > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            nix::libc::kill(shell, sig);
        }
    }
}

extern "C" fn parent_gone(_: i32) {
    let shell = SHELL.load(Ordering::SeqCst);
    if shell > 0 {
        // SAFETY: kill is async-signal-safe. The sweep after the shell's end does the rest.
        unsafe {
            nix::libc::kill(shell, nix::libc::SIGKILL);
        }
    }
}

/// Whether this session gets a session of its own (and is swept when it ends).
pub fn sweeps(nohup_survives: bool) -> bool {
    !nohup_survives && !std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// In the keeper (a child of orbsim, inside the machine's PID namespace, still root):
/// become a session leader when `leader`, so the session's processes are those whose
/// session id is this pid, and learn of orbsim's death. Returns false when orbsim is
/// already gone.
pub fn arm(leader: bool) -> bool {
    if leader {
        let _ = nix::unistd::setsid();
    }
    // SAFETY: plain prctl on this process.
    unsafe {
        nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, PARENT_GONE as i32);
    }
    // orbsim is outside the machine, so it reads as pid 0; pid 1 means the keeper was
    // reparented to the machine's init before the death signal was armed.
    nix::unistd::getppid().as_raw() != 1
}

/// In the keeper: forward signals to the shell, wait for it, sweep the session when
/// `sweep`, and return the shell's exit status (255 when it died of a signal).
pub fn keep(shell: Pid, sweep: bool) -> i32 {
    SHELL.store(shell.as_raw(), Ordering::SeqCst);
    let fwd = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let gone = SigAction::new(
        SigHandler::Handler(parent_gone),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handlers only call kill().
    unsafe {
        for sig in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ] {
            let _ = sigaction(sig, &fwd);
        }
        let _ = sigaction(PARENT_GONE, &gone);
    }
    let code = loop {
        match waitpid(shell, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(..)) => break 255,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break 255,
        }
    };
    if sweep {
        sweep_session(std::process::id() as i32);
    }
    code
}

/// Kill every process of session `sid` but the caller, after [`GRACE`] when there are any;
/// repeated while new ones appear (a process may fork while it is being killed).
fn sweep_session(sid: i32) {
    let me = std::process::id() as i32;
    for round in 0..20 {
        let left: Vec<i32> = in_session(sid).into_iter().filter(|p| *p != me).collect();
        if left.is_empty() {
            return;
        }
        if round == 0 {
            std::thread::sleep(GRACE);
            continue;
        }
        for pid in left {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Reap what is ours (the keeper's own children); the machine's init reaps the rest.
        while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
            waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
        {}
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Live processes (not zombies) of session `sid`, from the machine's /proc.
fn in_session(sid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            session_of(&stat).is_some_and(|(state, s)| s == sid && state != 'Z')
        })
        .collect()
}

/// (state, session id) from a `/proc/PID/stat` line; the command name may hold anything,
/// so the fields are counted after its last `)`.
fn session_of(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let session = f.nth(2)?.parse().ok()?;
    Some((state, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_session_after_the_command_name() {
        let stat = "42 (a) b (c)) S 1 40 41 0 -1 4194560";
        assert_eq!(session_of(stat), Some(('S', 41)));
        assert_eq!(session_of("7 (x) Z 1 7 7 0"), Some(('Z', 7)));
        assert_eq!(session_of("garbage"), None);
    }
}
