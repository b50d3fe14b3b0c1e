//! Faults and interruptions against real orbsim machines: a session killed mid-apply, a
//! machine stopped by someone else, a hanging command, a create that times out, OrbStack
//! not running, Ctrl-C / SIGTERM at random points, and two applies on the same machine.
//! Each: the affected machine fails with a message that says what happened, the others
//! finish, the exit code is the documented one, nothing hangs, and the next apply converges.

use crate::harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{orbdeploy_bin, World};

fn two_machines(w: &World, ops: &str) -> (String, String, String) {
    let (a, b) = (w.name("a"), w.name("b"));
    w.create(&a);
    w.create(&b);
    w.write("ops.yaml", ops);
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {a}: {{}}\n  {b}: {{}}\noperations: ops.yaml\n"),
    );
    (a, b, inv.to_str().unwrap().to_string())
}

#[test]
fn session_killed_mid_apply_fails_that_machine_only_and_next_apply_converges() {
    let w = World::new("killed");
    let (a, b, inv) = two_machines(
        &w,
        "- name: first\n  shell: \"echo 1 > /tmp/first\"\n- name: the session dies here\n  shell: \"pkill -KILL -f orbdeploy-agent; sleep 5\"\n  when: machine == target\n- name: last\n  put: { content: \"done\\n\", dest: /tmp/last }\n",
    );
    let run = w.orbdeploy(["apply", &inv, "--var", &format!("target={a}")]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("lost the connection to machine"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("check the machine with"),
        "{}",
        run.stdout
    );
    assert_eq!(
        w.sh(&b, None, "cat /tmp/last").stdout,
        "done\n",
        "the other machine finished"
    );
    // The next apply (the killing step no longer selected) converges.
    w.orbdeploy(["apply", &inv, "--var", "target=nobody"])
        .assert_code(0);
    assert_eq!(w.sh(&a, None, "cat /tmp/last").stdout, "done\n");
}

#[test]
fn machine_stopped_by_someone_else_mid_apply() {
    let w = World::new("stopped");
    let (a, b, inv) = two_machines(
        &w,
        "- name: slow\n  shell: \"sleep 3\"\n- name: after\n  put: { content: \"x\\n\", dest: /tmp/after }\n",
    );
    let mut child = spawn(&w, &["apply", &inv]);
    running(&w, &a, "sleep 3");
    w.orbctl(["stop", &a]).assert_code(0);
    let (code, stdout) = wait(&mut child, Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains(&format!("{a}: FAILED slow")), "{stdout}");
    assert!(stdout.contains("lost the connection"), "{stdout}");
    assert_eq!(w.sh(&b, None, "cat /tmp/after").stdout, "x\n");
    // apply starts the stopped machine (state: running is the default) and converges.
    w.orbdeploy(["apply", &inv]).assert_code(0);
    assert_eq!(w.state(&a).as_deref(), Some("running"));
}

#[test]
fn hanging_command_is_killed_by_its_timeout() {
    let w = World::new("hang");
    let (a, b, inv) = two_machines(
        &w,
        "- name: hangs\n  shell: \"sleep 600\"\n  timeout: 2\n  when: machine == target\n- name: after\n  put: { content: \"x\\n\", dest: /tmp/after }\n",
    );
    let run = w.orbdeploy(["apply", &inv, "--var", &format!("target={a}")]);
    run.assert_code(1);
    assert!(run.elapsed < Duration::from_secs(30), "{:?}", run.elapsed);
    assert!(run.stdout.contains("timed out after 2s"), "{}", run.stdout);
    assert_eq!(w.sh(&b, None, "cat /tmp/after").stdout, "x\n");
    let left = w.sh(&a, Some("root"), "pgrep -x sleep || echo none");
    assert_eq!(left.stdout, "none\n", "the hanging command was killed");
    w.orbdeploy(["apply", &inv, "--var", "target=nobody"])
        .assert_code(0);
}

/// A session that stops answering mid-step (its agent frozen with SIGSTOP, as a stuck orbctl
/// or machine would look): the step's timeout still ends the step, the session is killed,
/// the other machine finishes, and nothing hangs.
#[test]
fn frozen_orbctl_session_is_ended_by_the_step_timeout() {
    let w = World::new("frozen");
    let (a, b, inv) = two_machines(
        &w,
        "- name: slow\n  shell: \"sleep 2\"\n  timeout: 3\n- name: after\n  put: { content: \"x\\n\", dest: /tmp/after }\n",
    );
    let mut child = spawn(&w, &["apply", &inv]);
    running(&w, &a, "sleep 2");
    // Freeze machine a's session: its agent stops answering (SIGSTOP), as a stuck orbctl
    // or machine would. The pattern's brackets keep pkill from matching its own shell.
    w.sh(&a, Some("root"), "pkill -STOP -f 'orbdeploy-agen[t]'")
        .assert_code(0);
    let started = Instant::now();
    let (code, stdout) = wait(&mut child, Duration::from_secs(60));
    let _ = w.sh(&a, Some("root"), "pkill -CONT -f 'orbdeploy-agen[t]'; true");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(stdout.contains(&format!("{a}: FAILED slow")), "{stdout}");
    assert!(stdout.contains("timed out"), "{stdout}");
    assert_eq!(w.sh(&b, None, "cat /tmp/after").stdout, "x\n");
    // Unfrozen, the same apply converges (the step needs 2 s of its 3).
    w.orbdeploy(["apply", &inv]).assert_code(0);
    assert_eq!(w.sh(&a, None, "cat /tmp/after").stdout, "x\n");
}

#[test]
fn create_timeout_is_adopted_and_orbstack_down_is_exit_3() {
    let mut w = World::new("create-timeout");
    let m = w.name("c");
    w.write("ops.yaml", "- put: { content: \"ok\\n\", dest: /tmp/ok }\n");
    let inv = w.write(
        "inv.yaml",
        format!("defaults: {{ create: true }}\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap().to_string();
    w.env
        .push(("ORBSIM_FAULTS".into(), "create-timeout".into()));
    let run = w.orbdeploy(["apply", &inv]);
    run.assert_code(0);
    assert!(run.stdout.contains("adopted"), "{}", run.stdout);
    assert_eq!(w.sh(&m, None, "cat /tmp/ok").stdout, "ok\n");
    w.env.clear();
    w.env.push(("ORBSIM_FAULTS".into(), "not-running".into()));
    let down = w.orbdeploy(["apply", &inv]);
    down.assert_code(3);
    assert!(
        down.stderr.contains("OrbStack is not running"),
        "{}",
        down.stderr
    );
}

fn spawn(w: &World, args: &[&str]) -> std::process::Child {
    Command::new(orbdeploy_bin())
        .args(args)
        .env("ORBSIM_HOME", &w.home)
        .env("ORBDEPLOY_ORBCTL", &w.orbctl)
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("orbdeploy starts")
}

fn wait(child: &mut std::process::Child, limit: Duration) -> (i32, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            use std::io::Read;
            if let Some(mut s) = child.stdout.take() {
                let _ = s.read_to_string(&mut out);
            }
            return (status.code().unwrap_or(-1), out);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("orbdeploy did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until the step running `command` (exactly) is running on machine `m`.
fn running(w: &World, m: &str, command: &str) {
    harness::wait_for(
        &format!("`{command}` on {m}"),
        Duration::from_secs(60),
        || {
            w.sh(m, Some("root"), &format!("pgrep -fx '{command}'"))
                .stdout
                .trim()
                .parse::<u32>()
                .is_ok()
        },
    );
}

/// Wait until machine `m`'s /tmp/log has the line `line`.
fn logged(w: &World, m: &str, line: &str) {
    harness::wait_for(
        &format!("`{line}` in {m}:/tmp/log"),
        Duration::from_secs(60),
        || {
            w.sh(m, None, "cat /tmp/log 2>/dev/null")
                .stdout
                .lines()
                .any(|l| l == line)
        },
    );
}

/// Processes on this host started for this test's machines (orbctl sessions and the like).
fn leftover_orbctl(w: &World) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&w.prefix)
            && (cmd.contains("orbctl") || cmd.contains("orbdeploy"))
            && !cmd.contains("__init")
        {
            out.push(cmd);
        }
    }
    out
}

#[test]
fn interrupt_at_random_points_exits_130_leaves_no_children_and_no_half_files() {
    interrupt_at_random_points(&[], &[50, 150, 300, 600, 1200, 2500]);
}

/// The same without the channel: files go by `orbctl push` to a private directory beside
/// their destination (here /var/tmp: a file for /tmp itself goes through `orbctl run`),
/// which an interrupted push must not leave behind either.
#[test]
fn interrupt_without_the_channel_leaves_no_pushed_file_either() {
    // Early and close together: the push comes first, within about 200 ms of the start.
    interrupt_at_random_points(&["--no-channel"], &[40, 60, 80, 100, 120, 150, 200, 1200]);
}

/// SIGINT or SIGTERM at each of `delays` (ms) into a run (a 3 MB put, a long command, a
/// get), with the flags `extra`: exit 130, the summary and report written, no orbctl or
/// remote command left, every file on the machines old or new and whole, nothing of
/// orbdeploy's left in their /tmp (the put's temporary file, an agent's directory, a push's
/// directory), and a local `get` whole or absent.
fn interrupt_at_random_points(extra: &[&str], delays: &[u64]) {
    let w = World::new(if extra.is_empty() {
        "interrupt"
    } else {
        "interrupt-1s"
    });
    let (a, b) = (w.name("a"), w.name("b"));
    w.create(&a);
    w.create(&b);
    // A large file whose old and new versions are easy to tell apart.
    let old: Vec<u8> = vec![b'o'; 3 << 20];
    let new: Vec<u8> = vec![b'n'; 3 << 20];
    w.write("files/big", &new);
    w.write(
        "ops.yaml",
        "- name: big file\n  put: { src: files/big, dest: /var/tmp/big }\n- name: long\n  shell: \"sleep 30\"\n- name: get it back\n  get: { src: /var/tmp/big, dest: \"out/{{ machine }}/big\" }\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {a}: {{}}\n  {b}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap().to_string();
    let with_extra = |args: &[&str]| -> Vec<String> {
        args.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let mut caught = 0;
    for (i, delay) in delays.iter().enumerate() {
        for m in [&a, &b] {
            w.sh(
                m,
                None,
                &format!(
                    "head -c {} /dev/zero | tr '\\0' o > /var/tmp/big",
                    old.len()
                ),
            )
            .assert_code(0);
        }
        let signal = if i % 2 == 0 { "INT" } else { "TERM" };
        let args = with_extra(&["apply", &inv, "--report", "r.json"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = std::fs::remove_file(w.path("r.json"));
        let mut child = spawn(&w, &args);
        std::thread::sleep(Duration::from_millis(*delay));
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let (code, stdout) = wait(&mut child, Duration::from_secs(30));
        // Very early signals may land before the handler is installed (default action).
        if code == -1 {
            continue;
        }
        assert_eq!(code, 130, "SIG{signal} after {delay} ms:\n{stdout}");
        caught += 1;
        if stdout.is_empty() {
            // Stopped before the run's summary could start (orbctl was still listing the
            // machines): one line on stderr and no report; the machines are checked below
            // all the same.
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                use std::io::Read;
                let _ = s.read_to_string(&mut err);
            }
            assert!(
                err.starts_with("interrupted: "),
                "SIG{signal} after {delay} ms, before the summary: {err}"
            );
            assert!(
                !w.path("r.json").exists(),
                "no report of a run that never began"
            );
        } else {
            assert!(
                stdout.contains("interrupted"),
                "the summary is printed:\n{stdout}"
            );
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(w.path("r.json")).unwrap()).unwrap();
            assert_eq!(report["summary"]["interrupted"], true);
        }
        // The run has ended; its children may still be on their way out.
        let gone = || leftover_orbctl(&w).is_empty();
        assert!(
            harness::wait_until(Duration::from_secs(3), gone),
            "leftover processes: {:?}",
            leftover_orbctl(&w)
        );
        for m in [&a, &b] {
            let check = w.sh(m, Some("root"), "head -c 1 /var/tmp/big; echo; wc -c < /var/tmp/big; pgrep -x sleep || echo no-sleep; echo \"left:$(ls -a /tmp /var/tmp | grep orbdeploy | tr '\\n' ' ')\"");
            let lines: Vec<&str> = check.stdout.lines().collect();
            assert!(
                lines[0] == "o" || lines[0] == "n",
                "content is old or new: {lines:?}"
            );
            assert_eq!(
                lines[1].trim(),
                (3 << 20).to_string(),
                "never a partial file"
            );
            assert_eq!(lines[2], "no-sleep", "the remote command was stopped");
            assert_eq!(
                lines[3], "left:",
                "nothing of orbdeploy's left in /tmp after SIG{signal} at {delay} ms"
            );
        }
        // A local `get` destination is whole or absent.
        for m in [&a, &b] {
            if let Ok(bytes) = std::fs::read(w.path(&format!("out/{m}/big"))) {
                assert!(bytes == new, "partial local file");
            }
        }
    }
    assert!(
        caught + 1 >= delays.len(),
        "only {caught} of {} interruptions reached the handler",
        delays.len()
    );
    // And a normal apply afterwards converges.
    let args = with_extra(&["apply", &inv]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = spawn(&w, &args);
    let (code, stdout) = wait(&mut child, Duration::from_secs(120));
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn two_applies_on_one_machine_never_interleave() {
    let w = World::new("lock");
    let m = w.name("l");
    w.create(&m);
    w.write("ops.yaml", "- shell: \"echo start-$RUN >> /tmp/log; sleep 1; echo end-$RUN >> /tmp/log\"\n  env: { RUN: \"{{ run }}\" }\n");
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap().to_string();
    let mut one = spawn(&w, &["apply", &inv, "--var", "run=1"]);
    logged(&w, &m, "start-1");
    let mut two = spawn(&w, &["apply", &inv, "--var", "run=2"]);
    let (c1, _) = wait(&mut one, Duration::from_secs(60));
    let mut err2 = String::new();
    use std::io::Read;
    let _ = two.stderr.take().unwrap().read_to_string(&mut err2);
    let (c2, _) = wait(&mut two, Duration::from_secs(60));
    assert_eq!((c1, c2), (0, 0));
    assert!(err2.contains("waiting for machine"), "{err2}");
    assert_eq!(
        w.sh(&m, None, "cat /tmp/log").stdout,
        "start-1\nend-1\nstart-2\nend-2\n"
    );
    // With --lock-timeout 0 the second run refuses at once.
    let mut one = spawn(&w, &["apply", &inv, "--var", "run=3"]);
    logged(&w, &m, "start-3");
    let refused = w.orbdeploy(["apply", &inv, "--var", "run=4", "--lock-timeout", "0"]);
    refused.assert_code(1);
    assert!(
        refused.stdout.contains("in use by another orbdeploy run"),
        "{}",
        refused.stdout
    );
    let (c, _) = wait(&mut one, Duration::from_secs(60));
    assert_eq!(c, 0);
}
