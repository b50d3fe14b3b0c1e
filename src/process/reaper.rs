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
//!
//! Paths orbdeploy would remove itself on its way out (an ssh host's control directory, a
//! temporary file before its rename: [`crate::interrupt::HardExitGuard`]) are listed the
//! same way (`>HEX` and `<HEX`, the path's bytes in hexadecimal, since a path may hold a
//! newline) and removed by the reaper after the groups ended. Paths listed before the
//! reaper starts are kept here and sent when it does; a path alone starts no reaper (a run
//! that starts no child has nothing else for it to do).

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
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

/// Paths listed before the reaper started, to send it when it does.
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

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
        let pending = PENDING.lock().map(|mut p| std::mem::take(&mut *p));
        for path in pending.unwrap_or_default() {
            tell(&mut reaper, &path_line('>', &path));
        }
    }
    tell(
        &mut reaper,
        &format!("{}{pgid}\n", if started { '+' } else { '-' }),
    );
}

/// Tell the reaper that `path` is to be removed should orbdeploy end without removing it
/// (`kept`), or no longer. Without a reaper yet, the list is kept for when one starts.
pub fn note_path(path: &Path, kept: bool) {
    let Ok(mut reaper) = REAPER.lock() else {
        return;
    };
    if reaper.is_some() {
        tell(&mut reaper, &path_line(if kept { '>' } else { '<' }, path));
    } else if let Ok(mut pending) = PENDING.lock() {
        if kept {
            pending.insert(path.to_path_buf());
        } else {
            pending.remove(path);
        }
    }
}

/// Write `line` to the reaper, forgetting it when it is gone.
fn tell(reaper: &mut Option<(Child, ChildStdin)>, line: &str) {
    if let Some((_, stdin)) = reaper.as_mut() {
        if stdin.write_all(line.as_bytes()).is_err() {
            // It is gone; nothing more to tell it.
            *reaper = None;
        }
    }
}

/// A path's line: `sign` and the path's bytes in hexadecimal.
fn path_line(sign: char, path: &Path) -> String {
    format!("{sign}{}\n", hex::encode(path.as_os_str().as_bytes()))
}

/// The path of a `>HEX`/`<HEX` line's hexadecimal, if it is one.
fn path_of(hex: &str) -> Option<PathBuf> {
    let bytes = hex::decode(hex).ok().filter(|b| !b.is_empty())?;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
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
    let mut live = Listed::default();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        apply_line(&mut live, &line);
    }
    end_groups(&live.groups.into_iter().collect::<Vec<_>>(), GRACE);
    // After the groups: a temporary file's writer is gone by now.
    for path in live.paths {
        let _ = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
    0
}

/// What the reaper was told is still there.
#[derive(Default)]
struct Listed {
    groups: BTreeSet<i32>,
    paths: BTreeSet<PathBuf>,
}

/// One line of the protocol; anything else is ignored.
fn apply_line(live: &mut Listed, line: &str) {
    let (sign, rest) = line.split_at(line.len().min(1));
    match (sign, path_of(rest)) {
        (">", Some(path)) => {
            live.paths.insert(path);
            return;
        }
        ("<", Some(path)) => {
            live.paths.remove(&path);
            return;
        }
        _ => {}
    }
    let live = &mut live.groups;
    match (sign, rest.parse::<i32>()) {
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
        let mut live = Listed::default();
        for line in ["+40", "+41", "-40", "+0", "+1", "-1", "x", "", "+-5", "+42"] {
            apply_line(&mut live, line);
        }
        assert_eq!(live.groups.into_iter().collect::<Vec<_>>(), [41, 42]);
        assert!(live.paths.is_empty());
    }

    #[test]
    fn lines_list_and_unlist_paths_of_any_bytes() {
        let odd = PathBuf::from(std::ffi::OsString::from_vec(b"/tmp/a\nb \xff".to_vec()));
        let mut live = Listed::default();
        let lines = [
            path_line('>', Path::new("/tmp/odssh-x")),
            path_line('>', &odd),
            path_line('>', Path::new("/tmp/gone")),
            path_line('<', Path::new("/tmp/gone")),
            ">abc\n".into(),
            ">zz\n".into(),
            "<\n".into(),
        ];
        for line in &lines {
            apply_line(&mut live, line.trim_end_matches('\n'));
        }
        let want: BTreeSet<PathBuf> = [PathBuf::from("/tmp/odssh-x"), odd].into();
        assert_eq!(live.paths, want);
        assert!(live.groups.is_empty());
    }
}
