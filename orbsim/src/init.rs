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

/// The hidden subcommand that runs this module.
pub const SUBCOMMAND: &str = "__init";

/// What the init needs to know, passed as arguments.
struct Args {
    root: PathBuf,
    lower: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    hostname: String,
    console: PathBuf,
    own_network: bool,
}

fn parse(args: &[String]) -> Option<Args> {
    match args {
        [root, lower, upper, work, hostname, console, net] => Some(Args {
            root: root.into(),
            lower: lower.into(),
            upper: upper.into(),
            work: work.into(),
            hostname: hostname.clone(),
            console: console.into(),
            own_network: net == "netns",
        }),
        _ => None,
    }
}

/// Entry point of `orbsim __init ROOT LOWER UPPER WORK HOSTNAME CONSOLE netns|host`.
/// Prints the host pid of the machine's PID 1 on success.
pub fn main(raw: &[String]) -> i32 {
    let Some(args) = parse(raw) else {
        eprintln!("orbsim __init: bad arguments");
        return 1;
    };
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID;
    if args.own_network {
        flags |= CloneFlags::CLONE_NEWNET;
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
fn pid1(args: &Args, ready: OwnedFd) -> i32 {
    detach(&args.console);
    let mut ready = std::fs::File::from(ready);
    match setup(args) {
        Ok(()) => {
            let _ = ready.write_all(b"ok\n");
        }
        Err(e) => {
            let _ = ready.write_all(format!("{e:#}\n").as_bytes());
            return 1;
        }
    }
    drop(ready);
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

fn setup(a: &Args) -> Result<()> {
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
    let mac = r.join("mnt/mac");
    std::fs::create_dir_all(&mac)?;
    mount(
        Some("/"),
        &mac,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
    .context("sharing the host at /mnt/mac")?;
    mount(
        Some("proc"),
        &r.join("proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        none,
    )
    .context("mounting /proc")?;
    if mount(
        Some("sysfs"),
        &r.join("sys"),
        Some("sysfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        none,
    )
    .is_err()
    {
        // Some hosts refuse a fresh sysfs; the host's, read-only, is the next best thing.
        let _ = mount(
            Some("/sys"),
            &r.join("sys"),
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY,
            none,
        );
    }
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
    nix::unistd::sethostname(&a.hostname).context("setting the hostname")?;
    write_identity(r, &a.hostname)?;
    pivot(r)
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

/// Hostname files and the host's resolver, so names resolve inside the machine.
fn write_identity(r: &Path, hostname: &str) -> Result<()> {
    std::fs::write(r.join("etc/hostname"), format!("{hostname}\n"))?;
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
