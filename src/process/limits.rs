//! The open-file limit a run needs. Each machine holds a few descriptors for the whole run
//! (a channel's three pipes, an ssh master's two, a session's control socket and pipes),
//! so a run of hundreds of machines passes the soft limit many systems start a process
//! with (1024 on Linux, 256 on macOS) long before it runs out of anything else. The soft
//! limit is raised up to the hard limit, which a process may do on its own; past that only
//! the administrator can help, and the run says so before it starts.

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// Descriptors a run holds whatever its size: the standard streams, the reporter's files,
/// the trace, the reaper's pipe, the lock files, the orbctl calls of phase 1.
const BASE: u64 = 64;

/// Descriptors one machine may hold at once: a master (stdin and stderr pipes), two
/// sessions (a user's and root's: a control socket and three pipes each, or a launcher's
/// three pipes), a one-shot call's three pipes, with room to spare.
const PER_MACHINE: u64 = 16;

/// macOS refuses a soft limit above `OPEN_MAX` even when the hard limit is unlimited.
const MACOS_OPEN_MAX: u64 = 10240;

/// The open files a run of `machines` machines may need.
pub fn needed(machines: usize) -> u64 {
    BASE.saturating_add(PER_MACHINE.saturating_mul(machines as u64))
}

/// Raise the soft open-file limit to what a run of `machines` needs, as far as the hard
/// limit allows. `Some(warning)` when the run may need more than the hard limit (or the
/// limit cannot be read or raised), for the caller to print before the run.
pub fn raise_open_files(machines: usize) -> Option<String> {
    let want = needed(machines);
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => return Some(format!("warning: cannot read the open-file limit: {e}")),
    };
    let target = target(soft, hard, want, cfg!(target_os = "macos"));
    if target > soft {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            return Some(format!(
                "warning: a run of {machines} machines may need {want} open files, but the soft limit is {soft} and raising it failed ({e}); raise it with `ulimit -n {want}`"
            ));
        }
    }
    (target < want).then(|| {
        format!(
            "warning: a run of {machines} machines may need {want} open files, but the limit is {target} (the hard limit, `ulimit -Hn`, or macOS's {MACOS_OPEN_MAX}); machines past it may fail with `Too many open files`: raise the hard limit, or split the run with --shard"
        )
    })
}

/// The soft limit to set: `want`, within the hard limit (and macOS's ceiling), never
/// lower than `soft` is already.
fn target(soft: u64, hard: u64, want: u64, macos: bool) -> u64 {
    if soft == RLIM_INFINITY || soft >= want {
        return soft;
    }
    let mut target = if hard == RLIM_INFINITY {
        want
    } else {
        want.min(hard)
    };
    if macos {
        target = target.min(MACOS_OPEN_MAX);
    }
    target.max(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_rises_to_what_the_run_needs_within_the_hard_limit() {
        assert_eq!(needed(100), 1664);
        assert_eq!(target(1024, 524_288, 1664, false), 1664);
        assert_eq!(target(4096, 524_288, 1664, false), 4096, "never lowered");
        assert_eq!(target(1024, 1200, 1664, false), 1200);
        assert_eq!(target(256, RLIM_INFINITY, 20_000, true), MACOS_OPEN_MAX);
        assert_eq!(
            target(RLIM_INFINITY, RLIM_INFINITY, 20_000, false),
            RLIM_INFINITY
        );
        assert_eq!(needed(usize::MAX), u64::MAX, "no overflow");
    }

    #[test]
    fn a_run_this_process_can_hold_needs_no_warning() {
        // This process's own limits: a run of 10 machines fits any usual hard limit, and
        // raising the soft one (never lowering it) is harmless to the tests beside it.
        let hard = getrlimit(Resource::RLIMIT_NOFILE).unwrap().1;
        assert!(
            hard == RLIM_INFINITY || hard >= needed(10),
            "hard limit {hard}"
        );
        assert_eq!(raise_open_files(10), None);
        assert!(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0 >= needed(10));
    }
}
