//! Starting and stopping a machine: its init process, its overlay directories and its
//! network lease.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;

use crate::state::{process_start_time, Machine};
use crate::{cgroup, enter, image, init, net, paths};

/// How long a stopping machine gets before its init is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Boot a stopped machine: its cgroups, its init, then its address.
pub fn boot(home: &Path, m: &mut Machine) -> Result<()> {
    if m.is_running() {
        return Ok(());
    }
    let lower =
        image::ensure_flavour(&paths::images(), m.root_suite(), &m.image.arch, &m.packages)?;
    let dir = m.dir(home);
    for sub in ["root", "upper", "work"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    let mode = net::mode();
    let tag = net::short_hash(&format!("{}/{}", home.display(), m.id));
    let backend = cgroup::Backend::detect();
    // A host without usable cgroups still runs machines; their limits are only recorded.
    let cgroups = match &backend {
        Some(b) => b.create(&tag).unwrap_or_default(),
        None => Vec::new(),
    };
    cgroup::apply(&cgroups, m.limits.cpu, m.limits.memory_mib)?;
    let spec = init::Spec {
        root: dir.join("root"),
        lower,
        upper: dir.join("upper"),
        work: dir.join("work"),
        hostname: m.name.clone(),
        console: dir.join("console.log"),
        own_network: mode == net::Mode::Namespace,
        marker: image::marker(
            &m.image.distro,
            &m.image.version,
            &m.image.arch,
            m.root_suite(),
            &m.packages,
        ),
        share_host: !m.config.isolated,
        mounts: m
            .config
            .mounts
            .iter()
            .map(|x| (x.source.clone(), x.destination.clone()))
            .collect(),
        cgroup_mount: backend
            .filter(|_| !cgroups.is_empty())
            .map(|b| b.in_machine()),
        cgroups: cgroups.clone(),
        agent_socket: m.config.forward_ssh_agent.then(agent_socket).flatten(),
        clean_tmp: !crate::compat::Compat::from_env().tmp_survives,
    };
    let pid = start_init(&spec).inspect_err(|_| cgroup::remove(&cgroups))?;
    let start =
        process_start_time(pid).context("the machine's init died at once (see `orbctl logs`)")?;
    m.init_pid = Some(pid);
    m.init_start = Some(start);
    m.cgroups = cgroups;
    m.ip4 = None;
    if mode == net::Mode::Namespace {
        let isolation = net::Isolation {
            host: m.config.isolated || m.config.isolate_network,
            machines: m.config.isolate_network,
        };
        match net::attach(home, &m.id, pid, start, isolation) {
            Ok(ip) => m.ip4 = Some(ip),
            Err(e) => {
                halt(home, m);
                return Err(
                    e.context("setting up the machine's network (or use ORBSIM_NETWORK=host)")
                );
            }
        }
    }
    if m.user_pending {
        ensure_user(m, None)?;
        m.user_pending = false;
    }
    if let Some(script) = image::ssh_host_keys_script(pid) {
        // Each machine its own host keys: the image ships none (see image::ensure_flavour).
        let status = in_machine(m, "root", "/", script)?;
        if status != 0 {
            bail!("making the machine's sshd host keys failed (exit {status}; see /var/log/orbsim-setup.log in it)");
        }
    }
    Ok(())
}

/// The caller's SSH agent socket, when it names one.
fn agent_socket() -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let sock = std::env::var("SSH_AUTH_SOCK").ok()?;
    let meta = std::fs::metadata(&sock).ok()?;
    meta.file_type().is_socket().then_some(sock)
}

/// Run `orbsim __init` with the spec on its stdin; returns the host pid of the machine's PID 1.
fn start_init(spec: &init::Spec) -> Result<i32> {
    use std::io::Write;
    let exe = std::env::current_exe().context("finding the orbsim binary")?;
    let mut child = Command::new(exe)
        .arg(init::SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the machine's init")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(serde_json::to_string(spec)?.as_bytes())?;
    }
    let out = child
        .wait_with_output()
        .context("waiting for the machine's init")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("reading the init's pid")
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
    cgroup::remove(&m.cgroups);
    m.cgroups.clear();
    m.init_pid = None;
    m.init_start = None;
    m.ip4 = None;
}

/// First-boot setup: the default user with a home, bash and passwordless sudo.
pub fn setup_user(m: &mut Machine) -> Result<()> {
    let uid = m.uid;
    ensure_user(m, Some(uid))
}

/// Make sure the default user exists (with `uid`, or the next free one), and record its
/// uid: push and pull hand their staging directory to it. Runs in a child process so
/// this process's namespaces stay the host's.
pub fn ensure_user(m: &mut Machine, uid: Option<u32>) -> Result<()> {
    let name = m.config.default_username.clone();
    let q = crate::quote::quote(&name);
    let create = match uid {
        Some(uid) => format!(
            "getent group {uid} >/dev/null || groupadd -g {uid} {q}\n\
             id -u {q} >/dev/null 2>&1 || useradd -m -s /bin/bash -u {uid} -g {uid} {q}\n"
        ),
        None => format!("id -u {q} >/dev/null 2>&1 || useradd -m -U -s /bin/bash {q}\n"),
    };
    // sudo skips files in sudoers.d whose names hold a dot.
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let script = format!(
        "exec >>/var/log/orbsim-setup.log 2>&1\n\
         set -e\n\
         {create}\
         echo {q}' ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/orbsim-{file}\n\
         chmod 0440 /etc/sudoers.d/orbsim-{file}\n",
    );
    let status = in_machine(m, "root", "/", &script)?;
    if status != 0 {
        bail!(
            "creating the default user `{name}` failed (exit {status}; see `orbctl logs {}`)",
            m.name
        );
    }
    if let Some(uid) = user_uid(m, &name) {
        m.uid = uid;
    }
    Ok(())
}

/// A user's uid from a running machine's /etc/passwd.
fn user_uid(m: &Machine, name: &str) -> Option<u32> {
    let pid = m.init_pid?;
    let passwd = std::fs::read_to_string(format!("/proc/{pid}/root/etc/passwd")).ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// Run a script as `user` inside a running machine from a forked child (this process keeps
/// the host's namespaces); its output goes to ours. Returns its status.
pub fn in_machine(m: &Machine, user: &str, workdir: &str, script: &str) -> Result<i32> {
    in_machine_view(m, user, workdir, script, false)
}

/// [`in_machine`], with a `/tmp` of the script's own when `private_tmp`.
pub fn in_machine_view(
    m: &Machine,
    user: &str,
    workdir: &str,
    script: &str,
    private_tmp: bool,
) -> Result<i32> {
    let pid = m.init_pid.context("the machine is not running")?;
    // SAFETY: orbsim is single-threaded; the child enters the machine and exits.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            let session = enter::Session {
                init_pid: pid,
                cgroups: &m.cgroups,
                own_network: net::mode() == net::Mode::Namespace,
                user,
                workdir: Some(workdir),
                command: Some(script.to_string()),
                env: Vec::new(),
                private_tmp,
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
