//! Starting and stopping a machine: its init process, its overlay directories and its
//! network lease.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

use crate::state::{process_start_time, Machine};
use crate::{enter, image, net, paths};

/// How long a stopping machine gets before its init is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Boot a stopped machine: start its init, then give it its address.
pub fn boot(home: &Path, m: &mut Machine) -> Result<()> {
    if m.is_running() {
        return Ok(());
    }
    let lower = image::ensure(&paths::images(), &m.image.version, &m.image.arch)?;
    let dir = m.dir(home);
    for sub in ["root", "upper", "work"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    let mode = net::mode();
    let exe = std::env::current_exe().context("finding the orbsim binary")?;
    let out = Command::new(exe)
        .arg(crate::init::SUBCOMMAND)
        .arg(dir.join("root"))
        .arg(&lower)
        .arg(dir.join("upper"))
        .arg(dir.join("work"))
        .arg(&m.name)
        .arg(dir.join("console.log"))
        .arg(if mode == net::Mode::Namespace {
            "netns"
        } else {
            "host"
        })
        .stdin(Stdio::null())
        .output()
        .context("starting the machine's init")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("reading the init's pid")?;
    let start =
        process_start_time(pid).context("the machine's init died at once (see `orbctl logs`)")?;
    m.init_pid = Some(pid);
    m.init_start = Some(start);
    m.ip4 = None;
    if mode == net::Mode::Namespace {
        match net::attach(home, &m.id, pid, start) {
            Ok(ip) => m.ip4 = Some(ip),
            Err(e) => {
                halt(home, m);
                return Err(
                    e.context("setting up the machine's network (or use ORBSIM_NETWORK=host)")
                );
            }
        }
    }
    Ok(())
}

/// Stop a machine: SIGTERM to its init (PID 1 exiting ends every process in it), SIGKILL
/// after a grace period, then free its address.
pub fn halt(home: &Path, m: &mut Machine) {
    if let (Some(pid), true) = (m.init_pid, m.is_running()) {
        enter::signal(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while m.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if m.is_running() {
            enter::signal(pid, Signal::SIGKILL);
            while m.is_running() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    net::detach(home, &m.id);
    m.init_pid = None;
    m.init_start = None;
    m.ip4 = None;
}

/// First-boot setup: the default user with a home, bash and passwordless sudo.
/// Runs in a child process so this process's namespaces stay the host's.
pub fn setup_user(m: &Machine) -> Result<()> {
    let name = &m.config.default_username;
    let script = format!(
        "exec >>/var/log/orbsim-setup.log 2>&1\n\
         set -e\n\
         getent group {uid} >/dev/null || groupadd -g {uid} {name}\n\
         id -u {name} >/dev/null 2>&1 || useradd -m -s /bin/bash -u {uid} -g {uid} {name}\n\
         echo '{name} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/orbsim-{name}\n\
         chmod 0440 /etc/sudoers.d/orbsim-{name}\n",
        uid = m.uid,
        name = name,
    );
    let status = in_machine(m, "root", "/", &script)?;
    if status != 0 {
        bail!(
            "creating the default user `{name}` failed (exit {status}; see `orbctl logs {}`)",
            m.name
        );
    }
    Ok(())
}

/// Run a script as `user` inside a running machine from a forked child (this process keeps
/// the host's namespaces); its output goes to ours. Returns its status.
pub fn in_machine(m: &Machine, user: &str, workdir: &str, script: &str) -> Result<i32> {
    let pid = m.init_pid.context("the machine is not running")?;
    // SAFETY: orbsim is single-threaded; the child enters the machine and exits.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            let session = enter::Session {
                init_pid: pid,
                own_network: net::mode() == net::Mode::Namespace,
                user,
                workdir: Some(workdir),
                command: Some(script.to_string()),
                env: Vec::new(),
            };
            let code = enter::run(&session).unwrap_or(1);
            std::process::exit(code);
        }
        nix::unistd::ForkResult::Parent { child } => loop {
            match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(nix::sys::wait::WaitStatus::Signaled(..)) => return Ok(255),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => bail!("waiting for setup: {e}"),
            }
        },
    }
}
