//! SIGKILL of orbdeploy at random points of an apply, over the orbsim channel and over ssh
//! (real sshd hosts of the sshbed): 10 s later no process of the run is left — no `orbctl
//! run`, no ssh master or session, no reaper, and in the machines no agent and no command
//! it started (src/process/reaper.rs).
//!
//! A local process belongs to the run when its environment carries the run's own marker
//! variable, which every child inherits (orbctl, ssh, the reaper); a process in a machine
//! belongs to it when it is an agent (`orbdeploy-agent` in its argv) or the run's long step
//! (`sleep 30.5`), the machines being the test's own. So that the check cannot pass for want
//! of looking, each kill first sees orbdeploy itself through the marker, the first kill of
//! each transport is made while the long step runs (an agent and its command are seen in
//! the machine, and a child of orbdeploy locally), and one control kill also kills the
//! reaper: then processes are left, and the same check must find them.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::sshbed::{SshBed, SshHost};
use crate::harness::{orbdeploy_bin, wait_until, World};

/// The run's marker variable.
const MARK: &str = "ORBDEPLOY_KILL_TEST";

/// How long the processes of a killed run may take to end.
const LIMIT: Duration = Duration::from_secs(10);

const OPS: &str = r#"
- name: first file
  put: { content: "one\n", dest: /tmp/kill-one }
- name: long step
  shell: "sleep 30.5"
- name: second file
  put: { content: "two\n", dest: /tmp/kill-two }
"#;

/// Processes whose environment holds `MARK=tag` (zombies excluded: they have ended), with
/// their argv, for messages.
fn marked(tag: &str) -> Vec<(i32, String)> {
    let needle = format!("{MARK}={tag}");
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        panic!("cannot read /proc: this test needs Linux's /proc");
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) || zombie(pid) {
            continue;
        }
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv: String = String::from_utf8_lossy(&argv)
            .replace('\0', " ")
            .chars()
            .take(160)
            .collect();
        found.push((pid, argv));
    }
    found
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// The run's processes in a machine: agents and the long step's sleep. (The pattern's
/// brackets keep pgrep's own shell from matching it.)
fn in_machine(w: &World, machine: &str) -> Vec<String> {
    let out = w.sh(
        machine,
        Some("root"),
        "pgrep -af 'orbdeploy-[a]gent|sleep 30[.]5' | cut -c1-120; true",
    );
    assert_eq!(out.code, 0, "pgrep in {machine}: {}", out.stderr);
    out.stdout.lines().map(str::to_string).collect()
}

/// A number from the clock, for the random kill points (the seed is printed on failure).
fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
}

/// `apply` of `inv` with the marker, in a group of its own, its output in files.
fn start(w: &World, inv: &Path, tag: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(w.path(&format!("{tag}.out"))).expect("out file");
    let err = std::fs::File::create(w.path(&format!("{tag}.err"))).expect("err file");
    Command::new(orbdeploy_bin())
        .arg("apply")
        .arg(inv)
        .env("ORBSIM_HOME", &w.home)
        .env("ORBDEPLOY_ORBCTL", &w.orbctl)
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env_remove("ORBSIM_FAULTS")
        .env(MARK, tag)
        .env("XDG_RUNTIME_DIR", runtime_dir(w))
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .expect("start orbdeploy")
}

/// The runs' `XDG_RUNTIME_DIR`: where their ssh control directories are made, so that
/// what a killed run left there is seen (and no other test's).
fn runtime_dir(w: &World) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = w.path("run");
    std::fs::create_dir_all(&dir).expect("the runtime directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 700");
    dir
}

/// The control directories (`odssh-*`) left in the runs' runtime directory.
fn control_dirs(w: &World) -> Vec<String> {
    std::fs::read_dir(runtime_dir(w))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("odssh-"))
                .collect()
        })
        .unwrap_or_default()
}

/// What was alive at a kill.
struct AtKill {
    local: Vec<(i32, String)>,
    remote: Vec<String>,
}

/// Kill the run (SIGKILL, orbdeploy alone: its children are in groups of their own) and
/// say what was alive at that moment. `also_reaper`: kill the reaper first (the control).
fn kill(w: &World, child: &mut Child, tag: &str, machines: &[String], also_reaper: bool) -> AtKill {
    let pid = child.id() as i32;
    let local = marked(tag);
    assert!(
        local.iter().any(|(p, _)| *p == pid),
        "the scan does not see orbdeploy ({pid}) itself: {local:?}"
    );
    if also_reaper {
        let reaper = local
            .iter()
            .find(|(_, argv)| argv.contains("__reaper"))
            .unwrap_or_else(|| panic!("no reaper among {local:?}"));
        signal(reaper.0, "KILL");
    }
    let remote = machines.iter().flat_map(|m| in_machine(w, m)).collect();
    signal(pid, "KILL");
    let _ = child.wait();
    AtKill { local, remote }
}

fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// Wait up to [`LIMIT`] for nothing of the run to be left; what is left then (a control
/// directory counts as a process in the machines would).
fn left_after(w: &World, tag: &str, machines: &[String]) -> (Vec<(i32, String)>, Vec<String>) {
    let mut left = (Vec::new(), Vec::new());
    let clean = wait_until(LIMIT, || {
        left = (
            marked(tag),
            machines
                .iter()
                .flat_map(|m| in_machine(w, m))
                .chain(control_dirs(w))
                .collect(),
        );
        left.0.is_empty() && left.1.is_empty()
    });
    if clean {
        (Vec::new(), Vec::new())
    } else {
        left
    }
}

/// Wait until the long step runs in a machine (at most 60 s).
fn wait_long_step(w: &World, machines: &[String], child: &mut Child, tag: &str) {
    let started = wait_until(Duration::from_secs(60), || {
        machines
            .iter()
            .any(|m| in_machine(w, m).iter().any(|l| l.contains("sleep 30.5")))
            || child.try_wait().ok().flatten().is_some()
    });
    let mut err = String::new();
    let _ =
        std::fs::File::open(w.path(&format!("{tag}.err"))).map(|mut f| f.read_to_string(&mut err));
    assert!(
        started && child.try_wait().ok().flatten().is_none(),
        "the long step never ran: {err}"
    );
}

/// Kill runs of `inv` at random points; the first while the long step runs.
fn kill_at_random_points(w: &World, inv: &Path, machines: &[String], what: &str) {
    let seed = seed();
    let kills = 3;
    for i in 0..kills {
        let tag = format!("{what}-{seed}-{i}");
        let mut child = start(w, inv, &tag);
        if i == 0 {
            wait_long_step(w, machines, &mut child, &tag);
        } else {
            // Anywhere in the first 4 s: loading, connecting, a handshake, a step.
            let ms = (seed.rotate_left(i * 17) ^ (seed >> i)) % 4000;
            std::thread::sleep(Duration::from_millis(ms));
        }
        if child.try_wait().ok().flatten().is_some() {
            // It finished before the kill point: nothing to kill this time.
            continue;
        }
        let at = kill(w, &mut child, &tag, machines, false);
        if i == 0 {
            assert!(
                at.local.len() >= 2 && !at.remote.is_empty(),
                "seed {seed}: at the first kill the run had children and an agent: {:?} {:?}",
                at.local,
                at.remote
            );
        }
        let started = Instant::now();
        let (local, remote) = left_after(w, &tag, machines);
        assert!(
            local.is_empty() && remote.is_empty(),
            "seed {seed}, kill {i} ({what}): left after {:?}: local {local:?}, in the machines or the runtime directory {remote:?} (alive at the kill: {:?} {:?})",
            started.elapsed(),
            at.local,
            at.remote
        );
    }
}

#[test]
fn a_killed_apply_over_the_channel_leaves_nothing() {
    let w = World::new("killch");
    let machines: Vec<String> = ["a", "b"].iter().map(|s| w.name(s)).collect();
    for m in &machines {
        w.create(m);
    }
    w.write("ops.yaml", OPS);
    let listed: String = machines.iter().map(|m| format!("  {m}: {{}}\n")).collect();
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n{listed}operations: ops.yaml\n"),
    );
    kill_at_random_points(&w, &inv, &machines, "channel");
    control(&w, &inv, &machines, "orbctl run");
}

/// The control: with the reaper killed too, the run's children (`local`: how their argv
/// holds) outlive orbdeploy, and so does the long step in the machines; the check must
/// see both (then they are ended here).
fn control(w: &World, inv: &Path, machines: &[String], local: &str) {
    let tag = format!("control-{}", seed());
    let mut child = start(w, inv, &tag);
    wait_long_step(w, machines, &mut child, &tag);
    kill(w, &mut child, &tag, machines, true);
    // Looked at once, when the test above would have given up waiting: polling for 10 s
    // for what is meant to stay cost more CPU than the rest of the test.
    std::thread::sleep(LIMIT);
    let (left, remote): (Vec<(i32, String)>, Vec<String>) = (
        marked(&tag),
        machines.iter().flat_map(|m| in_machine(w, m)).collect(),
    );
    for (pid, _) in &left {
        signal(*pid, "KILL");
    }
    for m in machines {
        w.sh(
            m,
            Some("root"),
            "pkill -KILL -f 'orbdeploy-[a]gent|sleep 30[.]5'; true",
        );
    }
    if local.starts_with("ssh") {
        // Nobody removed the control directory either: the check above would see it.
        assert!(
            !control_dirs(w).is_empty(),
            "without the reaper, a control directory should be left"
        );
    }
    let children = left.iter().filter(|(_, a)| a.contains(local)).count();
    assert!(
        children >= machines.len() && !remote.is_empty(),
        "without the reaper, `{local}` processes and the long step should be left, and the check should see them: {left:?} {remote:?}"
    );
}

/// The inventory of the bed's hosts as ssh machines.
fn ssh_inventory(w: &World, hosts: &[SshHost]) -> std::path::PathBuf {
    let listed: String = hosts
        .iter()
        .map(|h| {
            format!(
                "  {}: {{ ssh: {{ host: '{}', port: {}, user: {}, identity: '{}', connect_timeout: 30s, options: {{ UserKnownHostsFile: '{}', GlobalKnownHostsFile: /dev/null }} }} }}\n",
                h.name,
                h.ip4,
                h.port,
                h.user,
                h.identity.display(),
                h.known_hosts.display()
            )
        })
        .collect();
    w.write(
        "inv.yaml",
        format!("machines:\n{listed}operations: ops.yaml\n"),
    )
}

#[test]
fn a_killed_apply_over_ssh_leaves_nothing() {
    let w = World::new("killssh");
    let bed = SshBed::start(&w, 2);
    let machines: Vec<String> = bed.hosts.iter().map(|h| h.name.clone()).collect();
    w.write("ops.yaml", OPS);
    let inv = ssh_inventory(&w, &bed.hosts);
    kill_at_random_points(&w, &inv, &machines, "ssh");

    control(&w, &inv, &machines, "ssh -");
    drop(bed);
}
