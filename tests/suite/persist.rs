//! Connections that persist (`persist:` in an `ssh:` block, `--persist`), against real
//! sshd hosts (the sshbed): the master outlives the run in the user's control directory
//! (0700), the next run reuses it without logging in (sshd counts the logins), a dead one
//! is replaced, an expired one is gone, `orbdeploy ssh close` ends them, a directory that
//! is not private is refused, and without `persist` nothing outlives the run.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::harness::sshbed::{SshBed, SshHost};
use crate::harness::{orbdeploy_bin, wait_until, World};

/// The inventory of `hosts` as ssh machines, each block ending with `extra`.
fn inventory(w: &World, file: &str, hosts: &[SshHost], extra: &str) -> String {
    let listed: String = hosts
        .iter()
        .map(|h| {
            format!(
                "  {}: {{ ssh: {{ host: '{}', port: {}, user: {}, identity: '{}', connect_timeout: 30s, options: {{ UserKnownHostsFile: '{}', GlobalKnownHostsFile: /dev/null }}{extra} }} }}\n",
                h.name,
                h.ip4,
                h.port,
                h.user,
                h.identity.display(),
                h.known_hosts.display()
            )
        })
        .collect();
    let path = w.write(file, format!("machines:\n{listed}operations: ops.yaml\n"));
    path.display().to_string()
}

/// The sockets in the control directory.
fn sockets(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
                .count()
        })
        .unwrap_or(0)
}

/// orbdeploy with the control directory `dir`: (exit code, stdout, stderr).
fn with_dir(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(orbdeploy_bin())
        .args(args)
        .env("ORBDEPLOY_SSH_CONTROL_DIR", dir)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run orbdeploy");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Ends what a failed test left: `ssh close` on the test's control directory (the bed's
/// drop then kills any ssh process that names the test's directory).
struct CloseOnDrop(std::path::PathBuf);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let _ = with_dir(&self.0, &["ssh", "close"]);
    }
}

#[test]
fn a_persisted_connection_is_reused_replaced_expired_and_closed() {
    let mut w = World::new("persist");
    let ctl = w.path("ctl");
    w.env.push((
        "ORBDEPLOY_SSH_CONTROL_DIR".into(),
        ctl.display().to_string(),
    ));
    // Every ssh client orbdeploy starts goes through this, which writes down its arguments.
    let started = w.path("ssh-started");
    let counting = w.write(
        "bin/ssh",
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec ssh \"$@\"\n",
            started.display()
        ),
    );
    std::fs::set_permissions(&counting, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    w.env
        .push(("ORBDEPLOY_SSH".into(), counting.display().to_string()));
    let ssh_started = || -> Vec<String> {
        std::fs::read_to_string(&started)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let w = w;
    let bed = SshBed::start(&w, 1);
    let _close = CloseOnDrop(ctl.clone());
    let h = &bed.hosts[0];
    w.write(
        "ops.yaml",
        "- put: { content: \"x\\n\", dest: /tmp/persist-x }\n",
    );
    let inv = inventory(&w, "persist.yaml", &bed.hosts, ", persist: 60s");

    w.orbdeploy(["apply", &inv]).assert_code(0);
    assert_eq!(bed.auth_count(h), 1, "{}", bed.sshd_log(h));
    let mode = std::fs::metadata(&ctl)
        .expect("control dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(sockets(&ctl), 1);
    assert_eq!(bed.ssh_processes().len(), 1, "the master outlived the run");

    // The second run logs in zero times, and starts no ssh process at all: the master's
    // check (no `ssh -O check`) and the sessions go over its socket from orbdeploy.
    let before = ssh_started().len();
    assert!(before >= 1, "the counting ssh saw the master start");
    let second = w.orbdeploy(["apply", &inv]);
    second.assert_code(0);
    assert_eq!(bed.auth_count(h), 1, "{}", bed.sshd_log(h));
    assert_eq!(bed.ssh_processes().len(), 1);
    assert_eq!(
        ssh_started()[before..],
        [] as [String; 0],
        "a reusing run started ssh"
    );

    // A master that died (its socket left behind) is replaced.
    for pid in bed.ssh_processes() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(wait_until(Duration::from_secs(5), || bed
        .ssh_processes()
        .is_empty()));
    assert_eq!(sockets(&ctl), 1, "the dead master's socket is still there");
    w.orbdeploy(["apply", &inv]).assert_code(0);
    assert_eq!(bed.auth_count(h), 2, "{}", bed.sshd_log(h));
    let checks: Vec<String> = ssh_started()
        .into_iter()
        .filter(|a| a.contains("-O check"))
        .collect();
    assert!(checks.is_empty(), "{checks:?}");

    // `ssh close` ends it.
    let close = w.orbdeploy(["ssh", "close"]);
    close.assert_code(0);
    assert_eq!(
        close.stdout,
        format!(
            "closed 1 persisted ssh connection(s) in {}\n",
            ctl.display()
        )
    );
    assert!(wait_until(Duration::from_secs(5), || bed
        .ssh_processes()
        .is_empty()));
    assert_eq!(sockets(&ctl), 0);
    let exits: Vec<String> = ssh_started()
        .into_iter()
        .filter(|a| a.contains("-O "))
        .collect();
    assert!(exits.is_empty(), "no `ssh -O` process either: {exits:?}");

    // --persist over an inventory without `persist`: 1 s, then the master has expired and
    // the next run logs in again.
    let plain = inventory(&w, "plain.yaml", &bed.hosts, "");
    w.orbdeploy(["apply", &plain, "--persist", "1s"])
        .assert_code(0);
    assert_eq!(bed.auth_count(h), 3);
    assert!(
        wait_until(Duration::from_secs(10), || bed.ssh_processes().is_empty()),
        "the master ends on its own 1 s after the run"
    );
    w.orbdeploy(["apply", &plain, "--persist", "1s"])
        .assert_code(0);
    assert_eq!(bed.auth_count(h), 4, "an expired master is not reused");

    // Without persist nothing outlives the run (the default is unchanged).
    assert!(wait_until(Duration::from_secs(10), || bed
        .ssh_processes()
        .is_empty()));
    w.orbdeploy(["apply", &plain]).assert_code(0);
    assert_eq!(bed.auth_count(h), 5);
    assert!(bed.ssh_processes().is_empty(), "{:?}", bed.ssh_processes());

    // A control directory others can enter is refused, and nothing is run.
    let open = w.path("open");
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&open)
        .expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, stdout, _) = with_dir(&open, &["apply", &inv]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "cannot use the control directory for persisted connections: {} is not a private directory of this user's",
            open.display()
        )),
        "{stdout}"
    );
    assert_eq!(bed.auth_count(h), 5);
    let bad = w.orbdeploy(["apply", &plain, "--persist", "0s"]);
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("`0s`: at least 1 second"),
        "{}",
        bad.stderr
    );
}
