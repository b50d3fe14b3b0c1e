//! The SSH test bed itself (tests/suite/harness/sshbed.rs): its hosts take the bed's key and refuse
//! another, its known_hosts is the machines' real keys, it counts authentications, and it
//! leaves no ssh or sshd process behind.

use crate::harness;
use crate::harness::sshbed;

use std::time::Duration;

use harness::World;
use sshbed::SshBed;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_bed_logs_in_with_its_key_refuses_others_and_counts_authentications() {
    let w = World::new("sshbed");
    let bed = SshBed::start(&w, 2);
    assert_eq!(bed.hosts.len(), 2);
    assert_ne!(bed.hosts[0].ip4, bed.hosts[1].ip4);
    assert_ne!(bed.hosts[0].host_key, bed.hosts[1].host_key);
    let cfg = bed.ssh_config_file();
    for (i, h) in bed.hosts.iter().enumerate() {
        assert_eq!(bed.auth_count(h), 0, "{}", bed.sshd_log(h));
        let o = bed.ssh(h, &[], "id -un; hostname");
        assert!(o.status.success(), "ssh {}: {}", h.name, stderr(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("{}\n{}\n", h.user, h.name)
        );
        // Root takes the same key; plain `ssh -F cfg NAME true` works.
        let o = bed.ssh(h, &["-l", "root"], "id -u");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "0\n", "{}", stderr(&o));
        let o = std::process::Command::new("ssh")
            .arg("-F")
            .arg(&cfg)
            .args([&h.name, "true"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(bed.auth_count(h), 3, "host {i}: {}", bed.sshd_log(h));
    }
    let h = &bed.hosts[0];

    // Another key: refused, and not counted.
    let wrong = bed.wrong_identity();
    // A config of its own naming only that key (`-o IdentityFile` would add to the bed's).
    let only_wrong = w.write(
        "ssh/wrong_config",
        format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
            wrong.display(),
            h.known_hosts.display()
        ),
    );
    let o = std::process::Command::new("ssh")
        .arg("-F")
        .arg(&only_wrong)
        .args([&h.target(), "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Permission denied (publickey"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bed.auth_count(h), 3, "{}", bed.sshd_log(h));

    // A known_hosts without the host: the strict client refuses before authenticating.
    let empty = w.write("ssh/empty_known_hosts", "");
    let o = bed.ssh(
        h,
        &["-o", &format!("UserKnownHostsFile={}", empty.display())],
        "true",
    );
    assert_eq!(o.status.code(), Some(255));
    assert!(
        stderr(&o).contains("Host key verification failed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bed.auth_count(h), 3);

    // A master left running is one of the test's ssh processes until it is ended; many
    // commands over it are one authentication.
    let ctl = bed.control_dir.join("%C");
    let ctl_opt = format!("ControlPath={}", ctl.display());
    let o = bed.ssh(
        h,
        &["-o", "ControlMaster=yes", "-o", &ctl_opt, "-f", "-N"],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(bed.ssh_processes().len(), 1, "the master");
    for _ in 0..3 {
        let o = bed.ssh(h, &["-o", &ctl_opt], "true");
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(bed.auth_count(h), 4, "{}", bed.sshd_log(h));
    // Only this bed's ssh processes: the suite is one process, and other tests' ssh
    // processes descend from it too.
    let me = std::process::id() as i32;
    let ours = bed.ssh_processes();
    let under: Vec<i32> = bed
        .ssh_processes_under(me)
        .into_iter()
        .filter(|p| ours.contains(p))
        .collect();
    assert!(under.is_empty(), "the master detached (-f) from the test");
    let o = bed.ssh(h, &["-o", &ctl_opt, "-O", "exit"], "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        bed.wait_no_ssh_processes(Duration::from_secs(5)),
        Vec::<i32>::new()
    );

    // sshd killed: the host refuses connections until it is started again.
    bed.kill_sshd(h);
    let o = bed.ssh(h, &[], "true");
    assert_eq!(o.status.code(), Some(255));
    assert!(stderr(&o).contains("Connection refused"), "{}", stderr(&o));
    bed.start_sshd(h);
    let o = bed.ssh(h, &[], "true");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(bed.auth_count(h), 5);
}

#[test]
fn the_bed_ends_its_ssh_clients_and_sshds_when_dropped_even_on_panic() {
    let w = World::new("sshbeddrop");
    let names;
    let master;
    {
        let bed = SshBed::start(&w, 1);
        let h = bed.hosts[0].clone();
        names = h.name.clone();
        let ctl = format!("ControlPath={}", bed.control_dir.join("%C").display());
        let o = bed.ssh(&h, &["-o", "ControlMaster=yes", "-o", &ctl, "-f", "-N"], "");
        assert!(o.status.success(), "{}", stderr(&o));
        master = bed.ssh_processes();
        assert_eq!(master.len(), 1);
        // Panic with the bed alive; the unwind drops it.
        let bed = std::panic::AssertUnwindSafe(bed);
        let r = std::panic::catch_unwind(move || {
            let _bed = bed;
            panic!("a failing test");
        });
        assert!(r.is_err());
    }
    assert!(
        sshbed::all_ssh_processes()
            .iter()
            .all(|(pid, _)| !master.contains(pid)),
        "the master outlived the bed"
    );
    let left = w.sh(&names, Some("root"), "pgrep -x sshd || true");
    left.assert_code(0);
    assert_eq!(left.stdout, "", "sshd outlived the bed");
}
