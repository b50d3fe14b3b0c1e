//! The `ORBSIM_PACKAGES` image flavour and OpenSSH's sshd in orbsim machines: each machine
//! its own host keys, sshd started as root, a login from the host at the machine's ip4 with
//! a key and a known_hosts file the test makes.

mod sim;

use std::path::Path;
use std::process::Command;

use sim::Sim;

const PACKAGES: &str = "python3, openssh-server";

/// A machine's ed25519 host public key, `TYPE BASE64`, read through orbctl.
fn host_key(s: &Sim, m: &str) -> String {
    let o = s.sh(m, "cat /etc/ssh/ssh_host_ed25519_key.pub");
    o.ok();
    let mut f = o.stdout.split_whitespace();
    format!("{} {}", f.next().unwrap(), f.next().unwrap())
}

fn ip4(s: &Sim, m: &str) -> String {
    s.json(&["info", m, "-f", "json"])["ip4"]
        .as_str()
        .expect("a machine in its own namespace has an ip4")
        .to_string()
}

/// `ssh` from the host with nothing from ~/.ssh: this key, this known_hosts file only.
fn ssh(key: &Path, known: &Path, target: &str, cmd: &str) -> std::process::Output {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-T", "-i"])
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .args([target, cmd])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the OpenSSH client (`ssh`) must be installed on the host: apt-get install openssh-client")
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) must be installed on the host");
    assert!(st.success());
}

#[test]
fn a_flavour_machine_runs_sshd_with_its_own_host_keys_and_takes_a_key_login_from_the_host() {
    let mut s = Sim::new();
    s.env.push(("ORBSIM_PACKAGES".into(), PACKAGES.into()));
    s.create("ssh-a");
    s.create("ssh-b");
    s.env.clear();
    // The flavour is what the machine says it is, and has what was asked for.
    let o = s.sh(
        "ssh-a",
        "grep ^packages= /etc/orbsim-image; python3 -c 'print(6*7)'",
    );
    assert_eq!(o.ok().stdout, "packages=openssh-server,python3\n42\n");
    // Every machine its own host keys; a clone makes new ones at its first start.
    s.orbctl(&["stop", "ssh-b"]).ok();
    s.orbctl(&["clone", "ssh-b", "ssh-c"]).ok();
    s.orbctl(&["start", "ssh-b", "ssh-c"]).ok();
    let keys = ["ssh-a", "ssh-b", "ssh-c"].map(|m| host_key(&s, m));
    assert_ne!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);
    assert_ne!(keys[0], keys[2]);
    // A machine of the base image has no sshd and is unchanged.
    s.create("plain");
    let o = s.sh(
        "plain",
        "test -e /usr/sbin/sshd; echo $?; grep -c ^packages= /etc/orbsim-image",
    );
    assert_eq!(o.stdout, "1\n0\n");

    // sshd as root on ip4:22, the test's key for the default user.
    let ip = ip4(&s, "ssh-a");
    let key = s.path("id_ed25519");
    let other = s.path("other_ed25519");
    keygen(&key);
    keygen(&other);
    let public = std::fs::read(s.path("id_ed25519.pub")).unwrap();
    s.with_stdin(
        &[
            "run",
            "-m",
            "ssh-a",
            "sh",
            "-c",
            "umask 077; mkdir -p ~/.ssh && cat > ~/.ssh/authorized_keys",
        ],
        &public,
    )
    .ok();
    // sshd daemonizes before it binds its socket and writes its pid file after: wait for
    // that, so the first client is not refused.
    let start = format!(
        "rm -f /run/sshd.pid; /usr/sbin/sshd -o ListenAddress={ip}:22 -o LogLevel=VERBOSE -E /var/log/sshd.log || exit 1; \
         i=0; while [ ! -s /run/sshd.pid ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done; [ -s /run/sshd.pid ]"
    );
    s.orbctl(&["run", "-m", "ssh-a", "-u", "root", "sh", "-c", &start])
        .ok();
    let known = s.path("known_hosts");
    std::fs::write(&known, format!("{ip} {}\n", keys[0])).unwrap();

    let o = ssh(&key, &known, &format!("dev@{ip}"), "id -un; hostname");
    assert!(
        o.status.success(),
        "ssh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "dev\nssh-a\n");
    // A key not in authorized_keys is refused; so is a host key that is not the machine's.
    let o = ssh(&other, &known, &format!("dev@{ip}"), "true");
    assert_eq!(o.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(&known, format!("{ip} {}\n", keys[1])).unwrap();
    let o = ssh(&key, &known, &format!("dev@{ip}"), "true");
    assert_eq!(o.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log = s.sh("ssh-a", "sudo cat /var/log/sshd.log");
    assert_eq!(
        log.ok()
            .stdout
            .matches("Accepted publickey for dev")
            .count(),
        1,
        "{}",
        log.stdout
    );
}

#[test]
fn a_bad_package_name_fails_create_before_anything_is_built() {
    let mut s = Sim::new();
    s.env
        .push(("ORBSIM_PACKAGES".into(), "openssh-server,Bad_Name".into()));
    let o = s.orbctl(&["create", "debian", "nope"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "[-32098] create 'nope': make rootfs: ORBSIM_PACKAGES: `Bad_Name` is not a Debian package name\n"
        )
    );
    s.env.clear();
    assert_eq!(s.orbctl(&["list", "-q"]).stdout, "");
}
