//! `forward_ssh_agent`: the caller's SSH agent, reachable in the machine at
//! [`crate::init::AGENT_SOCKET`], which `run` sessions get as `SSH_AUTH_SOCK`.
//!
//! orbsim runs as root, so the caller's agent socket is root's (mode 0600) while the
//! machine's default user is uid 1000: a bind mount of the socket would be useless to it.
//! Instead the machine's init runs a small relay inside the machine: a socket anyone in
//! the machine may use, each connection copied to the caller's agent, which the relay
//! reaches through a file descriptor opened before the machine's root replaced the host's
//! (so it works on isolated machines, which see no host file at all). The relay dies with
//! the machine.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use anyhow::{Context, Result};

/// The caller's agent, opened before the pivot (its path is gone after it).
pub struct Relay {
    agent: OwnedFd,
}

/// Before the pivot: open the agent socket (an `O_PATH` descriptor, which connects later
/// through `/proc/self/fd/N`).
pub fn prepare(agent: &str) -> Result<Relay> {
    let fd = nix::fcntl::open(
        agent,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("opening the SSH agent socket {agent}"))?;
    Ok(Relay { agent: fd })
}

/// After the pivot: listen at `path` (short now: a socket path has at most 107 bytes).
pub fn listen(relay: Relay, path: &Path) -> Result<(Relay, UnixListener)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).context("listening for the SSH agent")?;
    // Anyone in the machine may use it, as the machine's users are not the caller's uid.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    Ok((relay, listener))
}

/// Serve from a child process (PID 1 only reaps). Called once PID 1 holds no descriptor
/// the starting process waits on.
pub fn serve(relay: Relay, listener: UnixListener) {
    // SAFETY: PID 1 is single-threaded; the child only runs the relay and exits.
    if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
        let target = format!("/proc/self/fd/{}", relay.agent.as_raw_fd());
        for conn in listener.incoming().flatten() {
            let target = target.clone();
            // Each connection's threads end when either side closes.
            std::thread::spawn(move || {
                if let Ok(agent) = UnixStream::connect(&target) {
                    pipe_both(conn, agent);
                }
            });
        }
        std::process::exit(0);
    }
}

/// Copy both ways until one side closes.
fn pipe_both(a: UnixStream, b: UnixStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || copy(a, b2));
    copy(b, a2);
    let _ = up.join();
}

fn copy(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
