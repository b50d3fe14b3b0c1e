//! A machine's init: the long-lived PID 1 of the machine's namespaces.
//!
//! `start` runs `orbsim __init ...` (this module). The outer process unshares the
//! namespaces and forks the child that becomes PID 1; the child detaches from the caller
//! (new session, stdio to the machine's console log) so `start` returns and the caller's
//! pipes close, mounts the machine's root (overlay over the image, `/proc`, `/sys`, a
//! small `/dev`, `/run`, the host at `/mnt/mac`), sets the hostname, pivots into the root
//! and then only reaps zombies until SIGTERM. When it exits, the kernel ends every process
//! of the machine: that is `stop`.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{fork, ForkResult};
use serde::{Deserialize, Serialize};

/// The hidden subcommand that runs this module.
pub const SUBCOMMAND: &str = "__init";

/// What the init needs to know, written by [`crate::machine::boot`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Spec {
    /// Where the machine's root is assembled (the overlay mount point).
    pub root: PathBuf,
    /// The image (lower layer).
    pub lower: PathBuf,
    /// The machine's own layer.
    pub upper: PathBuf,
    /// overlayfs' work directory.
    pub work: PathBuf,
    /// Hostname (the machine's name).
    pub hostname: String,
    /// The console log the init's output goes to.
    pub console: PathBuf,
    /// A network namespace of its own (else the host's).
    pub own_network: bool,
    /// The text of `/etc/orbsim-image`.
    pub marker: String,
    /// Bind the host's `/` at `/mnt/mac` (false for isolated machines).
    pub share_host: bool,
    /// Host paths bound into the machine: (source, destination).
    pub mounts: Vec<(String, String)>,
    /// cgroups to join before the namespaces are made (host paths).
    pub cgroups: Vec<String>,
    /// How the machine sees its cgroups.
    pub cgroup_mount: Option<crate::cgroup::InMachine>,
    /// The caller's SSH agent socket, bound at [`AGENT_SOCKET`] (`forward_ssh_agent`).
    pub agent_socket: Option<String>,
    /// Empty the machine's `/tmp` before anything runs (see [`empty_tmp`]).
    pub clean_tmp: bool,
}

/// Where a forwarded SSH agent appears in a machine. \[GUESS\] OrbStack's own path is not in
/// the reference; `SSH_AUTH_SOCK` is what clients read.
pub const AGENT_SOCKET: &str = "/opt/orbstack-guest/run/host-ssh-agent.sock";

/// Entry point of `orbsim __init`, its [`Spec`] as JSON on stdin (not in argv, where it
/// would be every machine's `ps` line). Prints the host pid of the machine's PID 1 on success.
pub fn main(_args: &[String]) -> i32 {
    let mut json = String::new();
    let parsed = std::io::stdin()
        .read_to_string(&mut json)
        .ok()
        .and_then(|_| serde_json::from_str::<Spec>(&json).ok());
    let Some(args) = parsed else {
        eprintln!("orbsim __init: bad specification on stdin");
        return 1;
    };
    // Joined before unsharing, so the new cgroup namespace is rooted at the machine's cgroup.
    if let Err(e) = crate::cgroup::join(&args.cgroups) {
        eprintln!("orbsim: joining the machine's cgroups: {e:#}");
        return 1;
    }
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID;
    if args.own_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if !args.cgroups.is_empty() {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    if let Err(e) = unshare(flags) {
        eprintln!(
            "orbsim: cannot create the machine's namespaces ({e}): orbsim needs root on Linux"
        );
        return 1;
    }
    let (ready_r, ready_w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("orbsim: pipe: {e}");
            return 1;
        }
    };
    // SAFETY: this process is single-threaded here (no threads were started), so the child
    // may run arbitrary code after fork.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(ready_r);
            let code = pid1(&args, ready_w);
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => {
            drop(ready_w);
            let mut msg = String::new();
            let mut file = std::fs::File::from(ready_r);
            let _ = file.read_to_string(&mut msg);
            if msg.trim() == "ok" {
                println!("{child}");
                0
            } else {
                eprintln!("orbsim: the machine did not start: {}", msg.trim());
                1
            }
        }
        Err(e) => {
            eprintln!("orbsim: fork: {e}");
            1
        }
    }
}

/// Life of PID 1: detach, build the root, report readiness, then reap until SIGTERM.
fn pid1(args: &Spec, ready: OwnedFd) -> i32 {
    detach(&args.console);
    let mut ready = std::fs::File::from(ready);
    let relay = match setup(args) {
        Ok(relay) => {
            let _ = ready.write_all(b"ok\n");
            relay
        }
        Err(e) => {
            let _ = ready.write_all(format!("{e:#}\n").as_bytes());
            return 1;
        }
    };
    // Closed before the relay forks, so the starting process sees the end of the pipe.
    drop(ready);
    if let Some((relay, listener)) = relay {
        crate::agent::serve(relay, listener);
    }
    reap_forever()
}

/// New session (a signal to the caller's process group must not reach the machine) and
/// stdio on the console log, so nothing holds the caller's pipes open.
fn detach(console: &Path) {
    let _ = nix::unistd::setsid();
    let null = std::fs::File::open("/dev/null");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(console);
    if let Ok(null) = null {
        let _ = nix::unistd::dup2_stdin(&null);
    }
    if let Ok(log) = log {
        let _ = nix::unistd::dup2_stdout(&log);
        let _ = nix::unistd::dup2_stderr(&log);
    }
}

/// Assemble the machine's root and pivot into it; returns the SSH agent relay to start.
fn setup(a: &Spec) -> Result<Option<(crate::agent::Relay, std::os::unix::net::UnixListener)>> {
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .context("making mounts private")?;
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        a.lower.display(),
        a.upper.display(),
        a.work.display()
    );
    mount(
        Some("overlay"),
        &a.root,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .context("mounting the overlay root")?;
    let r = &a.root;
    if a.clean_tmp {
        empty_tmp(&r.join("tmp")).context("emptying /tmp")?;
    }
    if a.share_host {
        bind(Path::new("/"), &r.join("mnt/mac")).context("sharing the host at /mnt/mac")?;
    } else {
        // Isolated: not even the mount point, as on OrbStack (docs/orbctl.md §5.3).
        let _ = std::fs::remove_dir(r.join("mnt/mac"));
    }
    for (source, dest) in &a.mounts {
        let target = r.join(dest.trim_start_matches('/'));
        bind(Path::new(source), &target).with_context(|| format!("mounting {source} at {dest}"))?;
    }
    mount(
        Some("proc"),
        &r.join("proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        none,
    )
    .context("mounting /proc")?;
    mount_sys(r, a.cgroup_mount.as_ref())?;
    make_dev(r)?;
    mount(
        Some("tmpfs"),
        &r.join("run"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .context("mounting /run")?;
    std::fs::create_dir_all(r.join("run/lock"))?;
    let relay = match &a.agent_socket {
        Some(sock) => Some(crate::agent::prepare(sock)?),
        None => None,
    };
    nix::unistd::sethostname(&a.hostname).context("setting the hostname")?;
    write_identity(r, &a.hostname, &a.marker)?;
    pivot(r)?;
    relay
        .map(|relay| crate::agent::listen(relay, Path::new(AGENT_SOCKET)))
        .transpose()
}

/// Third-party clients report (docs/orbctl.md §12.9, \[3P\]) that a machine's `/tmp` does
/// not survive a stop or a clone: a tmpfs on newer distros, cleaned at boot on the others.
/// orbsim cleans it at every start, as Debian's boot does (`/tmp` stays on the machine's
/// disk, so a large file there costs no memory). `ORBSIM_COMPAT=tmp-survives` keeps it.
fn empty_tmp(tmp: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(entries) = std::fs::read_dir(tmp) {
        for e in entries.flatten() {
            let path = e.path();
            let gone = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            gone.with_context(|| format!("removing {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(tmp)?;
    std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o1777))?;
    Ok(())
}

/// Bind `source` (a directory or a file) at `target`, creating the mount point.
fn bind(source: &Path, target: &Path) -> Result<()> {
    let none: Option<&str> = None;
    let meta = std::fs::metadata(source).context("the source does not exist")?;
    if meta.is_dir() {
        std::fs::create_dir_all(target)?;
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !target.exists() {
            std::fs::File::create(target)?;
        }
    }
    mount(
        Some(source),
        target,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )?;
    Ok(())
}

/// `/sys`, and the machine's cgroups at `/sys/fs/cgroup` (read-only, as Docker does).
fn mount_sys(r: &Path, cgroups: Option<&crate::cgroup::InMachine>) -> Result<()> {
    use crate::cgroup::InMachine;
    let none: Option<&str> = None;
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let sys = r.join("sys");
    if mount(Some("sysfs"), &sys, Some("sysfs"), ro, none).is_err() {
        // Some hosts refuse a fresh sysfs; the host's, read-only, is the next best thing.
        let _ = mount(
            Some("/sys"),
            &sys,
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY,
            none,
        );
    }
    let cg = sys.join("fs/cgroup");
    match cgroups {
        None => Ok(()),
        Some(InMachine::V2) => {
            mount(Some("cgroup2"), &cg, Some("cgroup2"), ro, none).context("mounting cgroup2")
        }
        Some(InMachine::V1(hierarchies)) => {
            mount(
                Some("tmpfs"),
                &cg,
                Some("tmpfs"),
                MsFlags::MS_NOSUID,
                Some("mode=755"),
            )
            .context("mounting /sys/fs/cgroup")?;
            for (dir, opts) in hierarchies {
                std::fs::create_dir_all(cg.join(dir))?;
                mount(
                    Some("cgroup"),
                    &cg.join(dir),
                    Some("cgroup"),
                    ro,
                    Some(opts.as_str()),
                )
                .with_context(|| format!("mounting the {opts} cgroup"))?;
                // `cpu,cpuacct` is also reachable as `cpu` and `cpuacct`, as systemd lays it out.
                for c in opts.split(',').filter(|c| *c != dir.as_str()) {
                    let _ = std::os::unix::fs::symlink(dir, cg.join(c));
                }
            }
            Ok(())
        }
    }
}

/// A minimal /dev: a tmpfs with the usual character devices bound from the host, and a
/// private devpts instance.
fn make_dev(r: &Path) -> Result<()> {
    let none: Option<&str> = None;
    let dev = r.join("dev");
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=755"),
    )
    .context("mounting /dev")?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(node);
        std::fs::File::create(&target)?;
        mount(
            Some(&Path::new("/dev").join(node)),
            &target,
            none,
            MsFlags::MS_BIND,
            none,
        )
        .with_context(|| format!("binding /dev/{node}"))?;
    }
    std::fs::create_dir_all(dev.join("pts"))?;
    mount(
        Some("devpts"),
        &dev.join("pts"),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )
    .context("mounting /dev/pts")?;
    std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx"))?;
    std::fs::create_dir_all(dev.join("shm"))?;
    mount(
        Some("tmpfs"),
        &dev.join("shm"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(name))?;
    }
    Ok(())
}

/// Hostname files, the image marker and the host's resolver, so names resolve inside the
/// machine. (`NAME.orb.local` lines are added to /etc/hosts by [`crate::hosts`].)
fn write_identity(r: &Path, hostname: &str, marker: &str) -> Result<()> {
    std::fs::write(r.join("etc/hostname"), format!("{hostname}\n"))?;
    std::fs::write(r.join("etc/orbsim-image"), marker)?;
    std::fs::write(
        r.join("etc/hosts"),
        format!("127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
    )?;
    if let Ok(resolv) = std::fs::read("/etc/resolv.conf") {
        let target = r.join("etc/resolv.conf");
        let _ = std::fs::remove_file(&target);
        std::fs::write(&target, resolv)?;
    }
    Ok(())
}

fn pivot(r: &Path) -> Result<()> {
    let old = r.join(".orbsim-oldroot");
    std::fs::create_dir_all(&old)?;
    nix::unistd::chdir(r)?;
    nix::unistd::pivot_root(".", ".orbsim-oldroot").context("pivot_root")?;
    nix::unistd::chdir("/")?;
    umount2("/.orbsim-oldroot", MntFlags::MNT_DETACH).context("detaching the old root")?;
    let _ = std::fs::remove_dir("/.orbsim-oldroot");
    Ok(())
}

extern "C" fn on_term(_: i32) {
    // SAFETY: _exit is async-signal-safe. PID 1 exiting makes the kernel end the machine.
    unsafe { nix::libc::_exit(0) }
}

extern "C" fn on_child(_: i32) {}

fn reap_forever() -> i32 {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let term = SigAction::new(
        SigHandler::Handler(on_term),
        SaFlags::empty(),
        SigSet::empty(),
    );
    let child = SigAction::new(
        SigHandler::Handler(on_child),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handlers only call async-signal-safe functions.
    unsafe {
        let _ = sigaction(Signal::SIGTERM, &term);
        let _ = sigaction(Signal::SIGCHLD, &child);
    }
    loop {
        match nix::sys::wait::waitpid(None, None) {
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => {
                nix::unistd::pause();
            }
            Err(_) => continue,
        }
    }
}
