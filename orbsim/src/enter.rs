//! Entering a machine: what `run` (and push/pull's copy step) does.
//!
//! The process joins the init's namespaces (its mount namespace brings the machine's root
//! with it), forks so the child is inside the PID namespace, drops to the user and execs
//! the user's login shell as OrbStack does (docs/orbctl.md §4.2): argv0 `-bash`, `-c` and the
//! shell-quoted command. The child is a keeper ([`crate::keeper`]) that runs the shell in a
//! session of its own and ends what the shell left running when it exits; it forwards
//! orbsim's signals, and ends the session when orbsim dies, so a client that kills the
//! group of `orbctl run` also ends the command.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{anyhow, Context, Result};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Gid, Pid, Uid};

/// A user of a machine, from its /etc/passwd.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// What to run inside a machine.
pub struct Session<'a> {
    /// Host pid of the machine's init.
    pub init_pid: i32,
    /// The machine's cgroups (host paths), joined first so its limits hold for the session.
    pub cgroups: &'a [String],
    /// Whether the machine has its own network namespace.
    pub own_network: bool,
    /// The user name.
    pub user: &'a str,
    /// Working directory (`None` or empty: the user's home). Falls back to `/` silently, as OrbStack.
    pub workdir: Option<&'a str>,
    /// Script for `shell -c`, or `None` for an interactive login shell.
    pub command: Option<String>,
    /// Extra environment (ORBENV-listed variables, TERM).
    pub env: Vec<(String, String)>,
    /// The session sees a `/tmp` of its own, a fresh tmpfs that goes with it (the
    /// `push-tmp-view` fault: docs/orbctl.md §12.8).
    pub private_tmp: bool,
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: i32) {
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            nix::libc::kill(child, sig);
        }
    }
}

/// Run a session and return its exit status (255 when the command died of a signal).
pub fn run(s: &Session) -> Result<i32> {
    crate::cgroup::join(s.cgroups)?;
    join_namespaces(s.init_pid, s.own_network)?;
    if s.private_tmp {
        private_tmp()?;
    }
    let Some(user) = lookup_user(s.user)? else {
        // [GUESS] OrbStack's exact words; the exit status 1 is from the reference (§4.3).
        eprintln!("orbsim: user {} not found in the machine", s.user);
        return Ok(1);
    };
    let groups = supplementary_groups(&user);
    let argv0 = format!("-{}", user.shell.rsplit('/').next().unwrap_or("sh"));
    let mut argv = vec![cstring(&argv0)?];
    if let Some(cmd) = &s.command {
        argv.push(cstring("-c")?);
        argv.push(cstring(cmd)?);
    }
    let shell = cstring(&user.shell)?;
    // `-w ""` and no `-w` at all (for push/pull) both mean the user's home.
    let workdir = match s.workdir {
        None | Some("") => user.home.clone(),
        Some(w) => w.to_string(),
    };
    let env = environment(&user, &workdir, &s.env)?;

    // SAFETY: orbsim is single-threaded; the child only calls exec-safe functions.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            let code = keeper(&user, &groups, &workdir, &shell, &argv, &env);
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            CHILD.store(child.as_raw(), Ordering::SeqCst);
            let action = SigAction::new(
                SigHandler::Handler(forward),
                SaFlags::SA_RESTART,
                SigSet::empty(),
            );
            for sig in [
                Signal::SIGINT,
                Signal::SIGTERM,
                Signal::SIGHUP,
                Signal::SIGQUIT,
            ] {
                // SAFETY: the handler only calls kill().
                unsafe {
                    let _ = sigaction(sig, &action);
                }
            }
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(..)) => return Ok(255),
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(anyhow!("waiting for the command: {e}")),
                }
            }
        }
    }
}

/// The session's keeper (see [`crate::keeper`]): it runs the login shell in a child and
/// ends the session's leftovers after it.
fn keeper(
    user: &User,
    groups: &[Gid],
    workdir: &str,
    shell: &CString,
    argv: &[CString],
    env: &[CString],
) -> i32 {
    let compat = crate::compat::Compat::from_env();
    let sweep = crate::keeper::sweeps(compat.nohup_survives);
    if !crate::keeper::arm(sweep) {
        return 255;
    }
    // SAFETY: still single-threaded; the child only sets itself up and execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = child(user, groups, workdir, shell, argv, env);
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => crate::keeper::keep(child, sweep),
        Err(e) => {
            eprintln!("orbsim: fork: {e}");
            255
        }
    }
}

/// A `/tmp` of this session's own: a mount namespace of its own with a fresh tmpfs there.
fn private_tmp() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    let none: Option<&str> = None;
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).context("a mount namespace for /tmp")?;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .context("making mounts private")?;
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .context("mounting a private /tmp")
}

fn child(
    user: &User,
    groups: &[Gid],
    workdir: &str,
    shell: &CString,
    argv: &[CString],
    env: &[CString],
) -> i32 {
    if nix::unistd::setgroups(groups).is_err()
        || nix::unistd::setgid(Gid::from_raw(user.gid)).is_err()
        || nix::unistd::setuid(Uid::from_raw(user.uid)).is_err()
    {
        eprintln!("orbsim: cannot switch to user {}", user.name);
        return 1;
    }
    // Set after the uid change: a credential change clears the parent-death signal.
    // SAFETY: plain prctl on this process.
    unsafe {
        nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL);
    }
    if nix::unistd::chdir(workdir).is_err() {
        let _ = nix::unistd::chdir("/");
    }
    // Rust starts orbsim with SIGPIPE ignored, and an ignored signal stays ignored across
    // exec: a machine's processes get the default action, as on OrbStack (`yes | head -1`
    // ends quietly, and a shell can trap PIPE).
    // SAFETY: a plain signal() call in the forked child before exec.
    unsafe {
        nix::libc::signal(nix::libc::SIGPIPE, nix::libc::SIG_DFL);
    }
    let _ = nix::unistd::execve(shell, argv, env);
    eprintln!("orbsim: cannot start the login shell {}", user.shell);
    127
}

fn join_namespaces(pid: i32, own_network: bool) -> Result<()> {
    let mut kinds = vec![
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ];
    if own_network {
        kinds.push(("net", CloneFlags::CLONE_NEWNET));
    }
    kinds.push(("pid", CloneFlags::CLONE_NEWPID));
    // The mount namespace last: it changes our root to the machine's.
    kinds.push(("mnt", CloneFlags::CLONE_NEWNS));
    let files: Vec<(std::fs::File, CloneFlags)> = kinds
        .iter()
        .map(|(name, flag)| {
            std::fs::File::open(format!("/proc/{pid}/ns/{name}"))
                .map(|f| (f, *flag))
                .with_context(|| format!("opening the machine's {name} namespace"))
        })
        .collect::<Result<_>>()?;
    for (f, flag) in &files {
        setns(f.as_fd(), *flag).with_context(|| format!("entering namespace {flag:?}"))?;
    }
    Ok(())
}

/// A user from the machine's /etc/passwd (call after joining the mount namespace).
pub fn lookup_user(name: &str) -> Result<Option<User>> {
    let passwd =
        std::fs::read_to_string("/etc/passwd").context("reading the machine's /etc/passwd")?;
    Ok(passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        Some(User {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5].to_string(),
            shell: if f[6].is_empty() {
                "/bin/sh".to_string()
            } else {
                f[6].to_string()
            },
        })
    }))
}

fn supplementary_groups(user: &User) -> Vec<Gid> {
    let mut out = vec![Gid::from_raw(user.gid)];
    if let Ok(group) = std::fs::read_to_string("/etc/group") {
        for line in group.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4 && f[3].split(',').any(|m| m == user.name) {
                if let Ok(gid) = f[2].parse() {
                    out.push(Gid::from_raw(gid));
                }
            }
        }
    }
    out
}

/// The environment of docs/orbctl.md §4.4: a clean one plus what the login adds and the
/// variables the caller forwards (`ORBENV`, `TERM`).
fn environment(user: &User, workdir: &str, extra: &[(String, String)]) -> Result<Vec<CString>> {
    let mut vars = vec![
        ("HOME".to_string(), user.home.clone()),
        ("USER".to_string(), user.name.clone()),
        ("LOGNAME".to_string(), user.name.clone()),
        ("SHELL".to_string(), user.shell.clone()),
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("PWD".to_string(), workdir.to_string()),
        ("SSH_CONNECTION".to_string(), "::1 0 ::1 22".to_string()),
    ];
    vars.extend(extra.iter().cloned());
    vars.iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect()
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| anyhow!("argument contains a NUL byte"))
}

/// Signal helper for stop: end a process.
pub fn signal(pid: i32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid), sig);
}
