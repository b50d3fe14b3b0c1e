//! The SSH test bed: real OpenSSH sshd in orbsim machines, reached from the host at their
//! ip4 with a key and a known_hosts file the test makes — so the ssh transport is tested
//! against the real thing, and never touches `~/.ssh`.
//!
//! A module of the harness (`crate::harness::sshbed`; it uses `crate::harness::World`):
//!
//! ```ignore
//! use crate::harness::{sshbed, World};
//!
//! let w = World::new("mytest");
//! let bed = sshbed::SshBed::start(&w, 2);
//! let cfg = bed.ssh_config_file();          // for `ssh -F`
//! let h = &bed.hosts[0];                    // name, ip4, port, user, identity, known_hosts
//! ```
//!
//! Each host is an orbsim machine of the `openssh-server,python3` flavour (see orbsim's
//! README, "sshd in orbsim machines") with its own host keys. sshd runs as root on
//! `ip4:22` with `LogLevel VERBOSE` into `/var/log/sshd.log`, so "Accepted publickey" lines
//! count authentications, and offers the key exchange [`FAST_KEX`] unless the bed was
//! started with [`SshBed::start_default_kex`]. The client key is a fresh ed25519 key in the test's directory,
//! authorized for the machine's default user and for root. The known_hosts file holds each
//! machine's real host keys, read through `orbctl run` (not ssh-keyscan): trusting them is
//! real trust.
//!
//! Dropping the bed (also when the test panics) kills every sshd it started and every ssh
//! client process whose argv names the test's directory or a bed host; the World then
//! deletes the machines.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::World;

/// The image flavour every bed host is made from (python3 for the peers in the benchmark).
pub const PACKAGES: &str = "openssh-server,python3";

/// Where each host's sshd logs (in the machine).
pub const SSHD_LOG: &str = "/var/log/sshd.log";

/// One sshd host of the bed.
#[derive(Debug, Clone)]
pub struct SshHost {
    /// The orbsim machine's name (also its `Host` alias in [`SshBed::ssh_config_file`]).
    pub name: String,
    /// The machine's address, reached from the host over orbsim's bridge.
    pub ip4: String,
    /// sshd's port.
    pub port: u16,
    /// The machine's default user (the key also logs in as root).
    pub user: String,
    /// The private key authorized for `user` and root.
    pub identity: PathBuf,
    /// A known_hosts file holding this host's real keys (the bed's one file, all hosts).
    pub known_hosts: PathBuf,
    /// The host's ed25519 public key, `ssh-ed25519 BASE64`.
    pub host_key: String,
}

impl SshHost {
    /// `user@ip4`, as ssh takes it.
    pub fn target(&self) -> String {
        format!("{}@{}", self.user, self.ip4)
    }

    /// How orbdeploy's ssh transport reaches the host: its address, the bed's key and
    /// known_hosts, nothing from `~/.ssh`.
    pub fn ssh_target(&self) -> orbdeploy::ssh_target::SshTarget {
        use orbdeploy::ssh_target::{HostKeyPolicy, SshTarget};
        SshTarget {
            host: self.ip4.clone(),
            port: Some(self.port),
            user: Some(self.user.clone()),
            identity: Some(self.identity.clone()),
            jump: None,
            config: None,
            host_key: HostKeyPolicy::Strict,
            // Generous: the machine is shared, and a loaded one answers a SYN late.
            connect_timeout: Some(Duration::from_secs(30)),
            options: vec![
                (
                    "UserKnownHostsFile".into(),
                    self.known_hosts.display().to_string(),
                ),
                ("GlobalKnownHostsFile".into(), "/dev/null".into()),
            ],
            persist: None,
        }
    }
}

/// N sshd hosts for one test (see the module docs).
pub struct SshBed<'w> {
    world: &'w World,
    /// The hosts, in the order they were asked for.
    pub hosts: Vec<SshHost>,
    /// The bed's files: key, known_hosts, ssh config (`<test dir>/ssh`).
    pub dir: PathBuf,
    /// A private (0700) directory for ControlPath sockets of the test's own ssh calls.
    pub control_dir: PathBuf,
    /// The key exchange sshd offers: `None` for OpenSSH's default list.
    kex: Option<&'static str>,
}

/// The key exchange a bed's sshd offers unless a test asks for OpenSSH's default
/// ([`SshBed::start_default_kex`]). The default prefers the post-quantum hybrid
/// `sntrup761x25519-sha512`, which cost about 70 ms of CPU per login on each side here
/// (BENCHMARKS.md, "SSH"): the `ssh` module's tests used 28 s of CPU with it and 17 s
/// with this. The transport does not depend on the key exchange; one convergence test
/// keeps the default.
pub const FAST_KEX: &str = "curve25519-sha256";

/// Run a command with a deadline; the output, or a panic saying what hung.
fn output(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("sshbed: cannot start {cmd:?}: {e}"));
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(data).expect("sshbed: writing stdin");
    }
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(300)) {
        Ok(out) => out.unwrap_or_else(|e| panic!("sshbed: waiting for {cmd:?}: {e}")),
        Err(_) => {
            signal(pid, "KILL");
            panic!("sshbed: {cmd:?} did not finish within 300 s");
        }
    }
}

fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh ed25519 key without passphrase at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", "sshbed", "-f"])
        .arg(path);
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!(
            "sshbed: the OpenSSH client is needed on the host (ssh, ssh-keygen: \
             `apt-get install openssh-client`, scripts/setup.sh installs it): {e}"
        ),
    };
    assert!(
        out.status.success(),
        "sshbed: ssh-keygen failed: {}",
        text(&out.stderr)
    );
}

impl<'w> SshBed<'w> {
    /// Start `n` sshd hosts in `world`, offering [`FAST_KEX`]. Panics with the reason
    /// when any part fails.
    pub fn start(world: &'w World, n: usize) -> SshBed<'w> {
        Self::start_offering(world, n, Some(FAST_KEX))
    }

    /// [`SshBed::start`], with sshd offering OpenSSH's default key exchanges.
    pub fn start_default_kex(world: &'w World, n: usize) -> SshBed<'w> {
        Self::start_offering(world, n, None)
    }

    fn start_offering(world: &'w World, n: usize, kex: Option<&'static str>) -> SshBed<'w> {
        assert!(
            !world.real_orbstack,
            "sshbed: needs orbsim machines (real OrbStack images ship no sshd)"
        );
        let dir = world.path("ssh");
        let control_dir = dir.join("ctl");
        std::fs::create_dir_all(&control_dir).expect("sshbed: mkdir");
        for d in [&dir, &control_dir] {
            std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .expect("sshbed: chmod 0700");
        }
        let identity = dir.join("id_ed25519");
        keygen(&identity);
        let mut bed = SshBed {
            world,
            hosts: Vec::new(),
            dir,
            control_dir,
            kex,
        };
        let public = std::fs::read(identity.with_extension("pub")).expect("sshbed: read key");
        let known_hosts = bed.dir.join("known_hosts");
        let mut known = String::new();
        for i in 0..n {
            let name = world.name(&format!("ssh{i}"));
            bed.create(&name);
            let host = bed.set_up(&name, &public, &identity, &known_hosts, &mut known);
            bed.hosts.push(host);
            bed.start_sshd(&bed.hosts[i]);
        }
        std::fs::write(&known_hosts, known).expect("sshbed: write known_hosts");
        bed
    }

    /// `orbctl` of the world, with its state home.
    fn orbctl(&self) -> Command {
        let mut cmd = Command::new(&self.world.orbctl);
        cmd.env("ORBSIM_HOME", &self.world.home)
            .env_remove("ORBSIM_FAULTS")
            .current_dir(self.world.dir.path());
        cmd
    }

    /// A script run as root in a host's machine; its output, or a panic with its stderr.
    pub fn root_sh(&self, machine: &str, script: &str) -> String {
        let mut cmd = self.orbctl();
        cmd.args([
            "run", "-m", machine, "-u", "root", "-w", "/", "sh", "-c", script,
        ]);
        let out = output(cmd, None);
        assert!(
            out.status.success(),
            "sshbed: `{script}` in {machine} failed ({}): {}",
            out.status,
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn create(&self, name: &str) {
        let mut cmd = self.orbctl();
        cmd.env("ORBSIM_PACKAGES", PACKAGES)
            .args(["create", "debian:bookworm", name]);
        let out = output(cmd, None);
        assert!(
            out.status.success(),
            "sshbed: creating {name} with ORBSIM_PACKAGES={PACKAGES} failed: {}",
            text(&out.stderr)
        );
    }

    /// Address, user and keys of a new machine; the client key authorized for its default
    /// user and root; its host keys appended to `known`.
    fn set_up(
        &self,
        name: &str,
        public: &[u8],
        identity: &Path,
        known_hosts: &Path,
        known: &mut String,
    ) -> SshHost {
        let mut cmd = self.orbctl();
        cmd.args(["info", name, "-f", "json"]);
        let out = output(cmd, None);
        let info: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("sshbed: info -f json is JSON");
        let ip4 = info["ip4"]
            .as_str()
            .expect("sshbed: the machine has no ip4 (ORBSIM_NETWORK=host cannot host sshd)")
            .to_string();
        let user = info["record"]["config"]["default_username"]
            .as_str()
            .expect("sshbed: info has a default user")
            .to_string();
        let install = format!(
            "set -e; umask 077\n\
             for h in /root /home/{user}; do mkdir -p $h/.ssh; cat /tmp/sshbed.pub > $h/.ssh/authorized_keys; done\n\
             chown -R {user}: /home/{user}/.ssh\nrm /tmp/sshbed.pub\n"
        );
        let mut cmd = self.orbctl();
        cmd.args(["run", "-m", name, "-u", "root", "-w", "/", "sh", "-c"])
            .arg(format!("cat > /tmp/sshbed.pub && {{ {install} }}"));
        let out = output(cmd, Some(public));
        assert!(
            out.status.success(),
            "sshbed: authorizing the key in {name}: {}",
            text(&out.stderr)
        );
        let keys = self.root_sh(name, "cat /etc/ssh/ssh_host_*_key.pub");
        let mut host_key = String::new();
        for line in keys.lines() {
            let mut f = line.split_whitespace();
            let (Some(kind), Some(b64)) = (f.next(), f.next()) else {
                continue;
            };
            known.push_str(&format!("{ip4} {kind} {b64}\n"));
            if kind == "ssh-ed25519" {
                host_key = format!("{kind} {b64}");
            }
        }
        assert!(
            !host_key.is_empty(),
            "sshbed: {name} has no ed25519 host key"
        );
        SshHost {
            name: name.to_string(),
            ip4,
            port: 22,
            user,
            identity: identity.to_path_buf(),
            known_hosts: known_hosts.to_path_buf(),
            host_key,
        }
    }

    /// (Re)start sshd in a host: as root, on ip4:22, LogLevel VERBOSE into [`SSHD_LOG`]
    /// (appended). Returns once it listens.
    ///
    /// sshd daemonizes before it binds its socket (sshd.c: `daemon()`, then
    /// `server_listen()`), so the command's exit says nothing about the listener: a client
    /// right after it was once refused (a CI run). It writes its pid file once the socket is
    /// bound, so the script waits for that (a stale one, left by [`SshBed::kill_sshd`], is
    /// removed first).
    pub fn start_sshd(&self, host: &SshHost) {
        let kex = self
            .kex
            .map(|k| format!("-o KexAlgorithms={k} "))
            .unwrap_or_default();
        self.root_sh(
            &host.name,
            &format!(
                "rm -f /run/sshd.pid; \
                 /usr/sbin/sshd -o ListenAddress={}:{} {kex}-o LogLevel=VERBOSE -E {SSHD_LOG} || exit 1; \
                 i=0; while [ ! -s /run/sshd.pid ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done; \
                 [ -s /run/sshd.pid ] || {{ echo 'sshd wrote no pid file in 10 s' >&2; exit 1; }}",
                host.ip4, host.port
            ),
        );
    }

    /// Kill every sshd process of a host (the listener and each session's), as a crash
    /// would: SIGKILL, no goodbye to the clients.
    pub fn kill_sshd(&self, host: &SshHost) {
        // The machine's own PID namespace: pgrep there sees only this machine's sshds.
        self.root_sh(
            &host.name,
            "for p in $(pgrep -x sshd); do kill -KILL $p 2>/dev/null || true; done",
        );
    }

    /// Successful authentications on a host so far ("Accepted publickey" lines).
    pub fn auth_count(&self, host: &SshHost) -> usize {
        self.sshd_log(host).matches("Accepted publickey").count()
    }

    /// The host's sshd log.
    pub fn sshd_log(&self, host: &SshHost) -> String {
        self.root_sh(&host.name, &format!("cat {SSHD_LOG} 2>/dev/null || true"))
    }

    /// The number of sessions sshd opened on a host so far ("Starting session" lines: one
    /// per command or shell, multiplexed ones included).
    pub fn session_count(&self, host: &SshHost) -> usize {
        self.sshd_log(host).matches("Starting session").count()
    }

    /// A file for `ssh -F` naming every host by its machine name, with the bed's key and
    /// known_hosts and nothing from `~/.ssh` or `/etc/ssh`: `ssh -F CFG NAME true` works.
    pub fn ssh_config_file(&self) -> PathBuf {
        let mut cfg = String::from("# Written by the test's sshbed.\n");
        for h in &self.hosts {
            cfg.push_str(&format!(
                "Host {}\n  HostName {}\n  Port {}\n  User {}\n",
                h.name, h.ip4, h.port, h.user
            ));
        }
        let first = self.hosts.first();
        let (identity, known) = match first {
            Some(h) => (h.identity.clone(), h.known_hosts.clone()),
            None => (self.dir.join("id_ed25519"), self.dir.join("known_hosts")),
        };
        cfg.push_str(&format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  \
             BatchMode yes\n  ConnectTimeout 10\n",
            identity.display(),
            known.display()
        ));
        let path = self.dir.join("ssh_config");
        std::fs::write(&path, cfg).expect("sshbed: write ssh_config");
        path
    }

    /// A second ed25519 key that no host authorizes (made on first use).
    pub fn wrong_identity(&self) -> PathBuf {
        let path = self.dir.join("wrong_ed25519");
        if !path.exists() {
            keygen(&path);
        }
        path
    }

    /// `ssh -F <bed config> [extra...] HOST CMD`, stdin closed.
    pub fn ssh(&self, host: &SshHost, extra: &[&str], cmd: &str) -> Output {
        let mut c = Command::new("ssh");
        c.arg("-F")
            .arg(self.ssh_config_file())
            .arg("-T")
            .args(extra)
            .args([&host.name, cmd]);
        output(c, None)
    }

    /// Pids of ssh client processes that belong to this test: every process named `ssh`
    /// whose argv names the test's directory (its key, config, known_hosts or a ControlPath
    /// in it) or one of the bed's hosts — masters that outlived their parent included.
    pub fn ssh_processes(&self) -> Vec<i32> {
        let needle = self.world.dir.path().to_string_lossy().into_owned();
        all_ssh_processes()
            .into_iter()
            .filter(|(_, argv)| {
                argv.iter().any(|a| {
                    a.contains(&needle)
                        || self.hosts.iter().any(|h| {
                            a == &h.ip4 || a.ends_with(&format!("@{}", h.ip4)) || a == &h.name
                        })
                })
            })
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Pids of ssh processes whose parent chain leads to `ancestor`.
    pub fn ssh_processes_under(&self, ancestor: i32) -> Vec<i32> {
        all_ssh_processes()
            .into_iter()
            .filter(|(pid, _)| descends_from(*pid, ancestor))
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Wait up to `limit` for [`SshBed::ssh_processes`] to be empty; what is left.
    pub fn wait_no_ssh_processes(&self, limit: Duration) -> Vec<i32> {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.ssh_processes();
            if left.is_empty() || Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Every process whose name is `ssh`, with its argv.
pub fn all_ssh_processes() -> Vec<(i32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        // A zombie has ended already (its reaper has not looked yet).
        if comm.trim_end() != "ssh" || state(pid) == Some('Z') {
            continue;
        }
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(text)
            .collect();
        found.push((pid, argv));
    }
    found
}

/// The state letter of a process (`R`, `S`, `Z`...).
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The parent of a process (from /proc/PID/stat, after the parenthesised name).
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

fn descends_from(mut pid: i32, ancestor: i32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent(pid) {
            Some(p) if p > 0 => pid = p,
            _ => return false,
        }
    }
    false
}

impl Drop for SshBed<'_> {
    fn drop(&mut self) {
        // Clients first (TERM, then KILL what is left), then the servers.
        let left = self.ssh_processes();
        for pid in &left {
            signal(*pid, "TERM");
        }
        if !left.is_empty() {
            let still = self.wait_no_ssh_processes(Duration::from_secs(1));
            for pid in &still {
                signal(*pid, "KILL");
            }
            self.wait_no_ssh_processes(Duration::from_secs(2));
        }
        for h in &self.hosts {
            let mut cmd = self.orbctl();
            cmd.args(["run", "-m", &h.name, "-u", "root", "-w", "/", "sh", "-c"])
                .arg("for p in $(pgrep -x sshd); do kill -KILL $p 2>/dev/null || true; done");
            let _ = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
