//! What other OrbStack clients rely on (docs/orbctl.md §12, all \[3P\]): `config add`,
//! clones as templates and the pause of their source, run sessions ending their background
//! processes, `/tmp` per boot, 2.2.3's version, the `disk_bytes` quota, `orbctl` without
//! `HOME`, and push's other view of `/tmp` (a fault). Each switch of `ORBSIM_COMPAT` too.

mod sim;

use std::time::{Duration, Instant};

use sim::Sim;

/// The host-side pids of processes whose command line is exactly `cmd`.
fn host_pids(cmd: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("^{cmd}$")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn config_add_appends_a_mount_with_orbctls_syntax_and_it_applies_at_the_next_start() {
    let s = Sim::new();
    let src = s.path("shared");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "from the host\n").unwrap();
    let src = src.to_string_lossy().into_owned();
    s.create("add1");
    let key = "machine.add1.mounts";

    let cases: &[(&[&str], &str)] = &[
        (
            &["config", "add", key],
            "Error: accepts 2 arg(s), received 1\n",
        ),
        (
            &["config", "add", "machine.nope.mounts", "/tmp"],
            "[-32098] machine not found: 'nope'\n",
        ),
        (
            &["config", "add", "machine.add1.cpu", "1"],
            "Configuration key is not a list: machine.add1.cpu\n",
        ),
        (
            &["config", "add", "cpu", "1"],
            "Configuration key is not a list: cpu\n",
        ),
        (
            &["config", "add", "machine.add1.bogus", "1"],
            "Unknown machine config key: machine.add1.bogus\n",
        ),
        (
            &["config", "add", "nope", "1"],
            "Unknown configuration key: nope\n",
        ),
        (
            &["config", "add", key, "/does/not/exist"],
            "mount source does not exist: '/does/not/exist'\n",
        ),
        (
            &["config", "add", key, "/etc:relative"],
            "mount destination must be an absolute path: 'relative'\n",
        ),
    ];
    for (args, stderr) in cases {
        let o = s.orbctl(args);
        assert_eq!(o.code, 1, "{args:?}");
        assert!(
            o.stderr.starts_with(stderr),
            "{args:?}: {:?}, expected it to start with {stderr:?}",
            o.stderr
        );
        assert_eq!(o.stdout, "");
    }

    // On a running machine: recorded, said to need a restart, not there yet.
    let spec = format!("{src}:/mnt/shared");
    let o = s.orbctl(&["config", "add", key, &spec]);
    o.ok();
    assert_eq!(
        o.stderr,
        "Restart the machine with \"orbctl restart add1\" to apply changes.\n"
    );
    assert_eq!(
        s.sh("add1", "ls -A /mnt/shared 2>/dev/null | wc -l")
            .ok()
            .stdout,
        "0\n"
    );
    // The same mount again changes nothing; another source at its destination is refused.
    s.orbctl(&["config", "add", key, &spec]).ok();
    let o = s.orbctl(&["config", "add", key, "/etc:/mnt/shared"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "mount destination already in use: '/mnt/shared'\n")
    );
    // A second one, DEST defaulting to SRC; both listed by show and get, in order.
    let second = s.path("second").to_string_lossy().into_owned();
    std::fs::create_dir_all(&second).unwrap();
    s.orbctl(&["config", "add", key, &second]).ok();
    let listed = format!("{key}: {spec},{second}");
    let show = s.orbctl(&["config", "show"]).ok().stdout.clone();
    assert!(show.lines().any(|l| l == listed), "{show}");
    let mut get = s.command("orbctl", &["config", "get", key]);
    get.env("ORBSIM_CONFIG_GET", "value");
    let got = get.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        format!("{spec},{second}\n")
    );

    s.orbctl(&["restart", "add1"]).ok();
    assert_eq!(
        s.sh("add1", &format!("cat /mnt/shared/f; ls -d {second}"))
            .ok()
            .stdout,
        format!("from the host\n{second}\n")
    );
    let info = s.json(&["info", "add1", "-f", "json"]);
    assert_eq!(
        info["record"]["config"]["mounts"][0]["destination"],
        "/mnt/shared"
    );
}

#[test]
fn a_clone_is_a_template_stopped_with_its_own_settings_before_its_first_start() {
    let s = Sim::new();
    let src = s.path("clone-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "mounted\n").unwrap();
    let src = src.to_string_lossy().into_owned();
    s.orbctl(&["create", "--isolate-network", "debian", "tmpl"])
        .ok();
    s.sh(
        "tmpl",
        "echo base > /var/tmp/base; echo gone > /tmp/per-boot",
    )
    .ok();

    s.orbctl(&["clone", "tmpl", "c1"]).ok();
    let rec = s.json(&["info", "c1", "-f", "json"]);
    assert_eq!(rec["record"]["state"], "stopped", "a clone lands stopped");
    assert_eq!(rec["record"]["config"]["isolate_network"], true);
    // Per-clone settings before the first start (a clone cannot take --mount).
    s.orbctl(&["config", "set", "machine.c1.cpu", "1"]).ok();
    s.orbctl(&["config", "set", "machine.c1.isolate_network", "false"])
        .ok();
    let o = s.orbctl(&[
        "config",
        "add",
        "machine.c1.mounts",
        &format!("{src}:/mnt/m"),
    ]);
    o.ok();
    assert_eq!(o.stderr, "", "a stopped machine needs no restart");
    assert_eq!(
        s.json(&["info", "c1", "-f", "json"])["record"]["state"],
        "stopped",
        "config add does not start the clone"
    );

    s.orbctl(&["start", "c1"]).ok();
    let inside = s
        .sh(
            "c1",
            "hostname; cat /mnt/m/f /var/tmp/base; ls -A /tmp | wc -l; echo mine > /var/tmp/own",
        )
        .ok()
        .stdout
        .clone();
    assert_eq!(inside, "c1\nmounted\nbase\n0\n");
    let rec = s.json(&["info", "c1", "-f", "json"]);
    assert_eq!(rec["record"]["config"]["isolate_network"], false);
    // The source keeps its own settings and files.
    assert_eq!(
        s.sh(
            "tmpl",
            "ls /mnt/m 2>&1 >/dev/null | wc -l; cat /var/tmp/own 2>/dev/null || echo none"
        )
        .ok()
        .stdout,
        "1\nnone\n"
    );
    let show = s.orbctl(&["config", "show"]).ok().stdout.clone();
    assert!(show.contains("machine.c1.cpu: 1\n") && !show.contains("machine.tmpl.cpu"));
}

/// Start a ticker in `m`: a line with the time every 20 ms in /var/tmp/ticks, in a session
/// of its own (so it outlives the `run` that starts it).
fn start_ticker(s: &Sim, m: &str) {
    s.sh(
        m,
        "setsid sh -c 'while :; do date +%s.%N >> /var/tmp/ticks; sleep 0.02; done' >/dev/null 2>&1 &",
    )
    .ok();
    std::thread::sleep(Duration::from_millis(300));
}

/// Empty the ticker's file and wait for its first lines (a pause must have ticks before it).
fn restart_ticks(s: &Sim, m: &str) {
    s.sh(m, ": > /var/tmp/ticks").ok();
    std::thread::sleep(Duration::from_millis(300));
}

/// The gaps longer than 0.3 s between the ticker's lines, in seconds.
fn tick_gaps(s: &Sim, m: &str) -> Vec<f64> {
    let ticks: Vec<f64> = s
        .sh(m, "cat /var/tmp/ticks")
        .ok()
        .stdout
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0.3)
        .collect()
}

#[test]
fn a_running_source_is_paused_while_it_is_cloned_and_concurrent_clones_serialize() {
    let s = Sim::new();
    s.create("src1");
    start_ticker(&s, "src1");

    // One clone whose copy takes 1 s longer: the source's ticker stops for that long, once,
    // and runs again after.
    let t = Instant::now();
    s.orbctl_env(
        &[("ORBSIM_FAULTS", "clone-slow=1")],
        &["clone", "src1", "k1"],
    )
    .ok();
    let took = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let gaps = tick_gaps(&s, "src1");
    assert_eq!(gaps.len(), 1, "one pause: {gaps:?}");
    assert!(
        gaps[0] >= 0.9 && gaps[0] <= took + 0.1,
        "paused {:.2} s of a {took:.2} s clone",
        gaps[0]
    );
    let after = s.sh("src1", "wc -l < /var/tmp/ticks").ok().stdout.clone();
    std::thread::sleep(Duration::from_millis(300));
    let later = s.sh("src1", "wc -l < /var/tmp/ticks").ok().stdout.clone();
    assert_ne!(after, later, "the source runs again after the clone");

    // Two clones of it at once, each 0.6 s longer: one after the other (1.2 s at least), and
    // the source paused for each.
    restart_ticks(&s, "src1");
    let slow = [("ORBSIM_FAULTS", "clone-slow=0.6")];
    let t = Instant::now();
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| s.orbctl_env(&slow, &["clone", "src1", "k2"]));
        let b = sc.spawn(|| s.orbctl_env(&slow, &["clone", "src1", "k3"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let took = t.elapsed().as_secs_f64();
    a.ok();
    b.ok();
    assert!(
        took >= 1.2,
        "two clones of one source overlapped: {took:.2} s"
    );
    std::thread::sleep(Duration::from_millis(300));
    let gaps = tick_gaps(&s, "src1");
    let paused: f64 = gaps.iter().sum();
    assert!(
        paused >= 1.1,
        "the source was paused {paused:.2} s ({gaps:?}) of two 0.6 s copies"
    );

    // ORBSIM_COMPAT=clone-no-pause: the ticker goes on while the clone copies.
    restart_ticks(&s, "src1");
    let env = [slow[0], ("ORBSIM_COMPAT", "clone-no-pause")];
    s.orbctl_env(&env, &["clone", "src1", "k4"]).ok();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(tick_gaps(&s, "src1"), Vec::<f64>::new());
}

#[test]
fn background_processes_end_with_their_session_unless_they_made_a_new_one() {
    let s = Sim::new();
    s.create("sess1");
    let o = s.sh(
        "sess1",
        "nohup sleep 4101 >/dev/null 2>&1 & sleep 4102 >/dev/null 2>&1 & setsid sleep 4103 >/dev/null 2>&1 & sleep 0.2; echo started",
    );
    assert_eq!(o.ok().stdout, "started\n");
    let left = s
        .sh("sess1", "pgrep -a sleep | cut -d' ' -f2-")
        .ok()
        .stdout
        .clone();
    assert_eq!(left, "sleep 4103\n", "only the setsid one survives");
    assert!(host_pids("sleep 4101").is_empty() && host_pids("sleep 4102").is_empty());

    // The session's processes go when orbctl run itself is killed, too.
    let mut child = s
        .command(
            "orbctl",
            &["run", "-m", "sess1", "sh", "-c", "sleep 4104 & sleep 4105"],
        )
        .spawn()
        .unwrap();
    let t = Instant::now();
    while host_pids("sleep 4105").is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !host_pids("sleep 4104").is_empty(),
        "the session never started"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    let t = Instant::now();
    while !(host_pids("sleep 4104").is_empty() && host_pids("sleep 4105").is_empty())
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        host_pids("sleep 4104").is_empty() && host_pids("sleep 4105").is_empty(),
        "killing orbctl run left its session's processes running"
    );

    // ORBSIM_COMPAT=nohup-survives: as before, the nohup'd process outlives the session.
    let old = [("ORBSIM_COMPAT", "nohup-survives")];
    s.sh_env(&old, "sess1", "nohup sleep 4106 >/dev/null 2>&1 &")
        .ok();
    assert_eq!(
        s.sh("sess1", "pgrep -a sleep | grep -c 4106").ok().stdout,
        "1\n"
    );
}

#[test]
fn tmp_is_emptied_at_each_start_unless_switched_back() {
    let s = Sim::new();
    s.create("tmp1");
    let mark = "echo x > /tmp/f; mkdir -p /tmp/.d/e; touch /tmp/.d/e/g; echo y > /var/tmp/kept";
    let look = "ls -A /tmp; stat -c %a /tmp; cat /var/tmp/kept";
    s.sh("tmp1", mark).ok();
    s.orbctl(&["stop", "tmp1"]).ok();
    s.orbctl(&["start", "tmp1"]).ok();
    assert_eq!(s.sh("tmp1", look).ok().stdout, "1777\ny\n");
    s.sh("tmp1", mark).ok();
    s.orbctl(&["restart", "tmp1"]).ok();
    assert_eq!(s.sh("tmp1", look).ok().stdout, "1777\ny\n");
    // A run that starts a stopped machine finds /tmp empty as well.
    s.sh("tmp1", mark).ok();
    s.orbctl(&["stop", "tmp1"]).ok();
    assert_eq!(s.sh("tmp1", look).ok().stdout, "1777\ny\n");

    s.sh("tmp1", mark).ok();
    s.orbctl_env(&[("ORBSIM_COMPAT", "tmp-survives")], &["restart", "tmp1"])
        .ok();
    assert_eq!(s.sh("tmp1", look).ok().stdout, ".d\nf\n1777\ny\n");
}

#[test]
fn version_quota_and_home_answer_as_the_reports_say() {
    let s = Sim::new();
    let v = s.orbctl(&["version"]);
    assert!(
        v.ok().stdout.starts_with("Version: 2.2.3 (2020300)\n"),
        "{}",
        v.stdout
    );

    // orbctl without HOME panics (§12.6): a Go panic, exit 2, nothing done.
    let o = s
        .command("orbctl", &["list"])
        .env_remove("HOME")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("panic: $HOME is not defined\n"));
    let o = s
        .command("orbctl", &["list"])
        .env("HOME", "")
        .env("ORBSIM_COMPAT", "home-optional")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));

    // A machine at its disk_bytes quota cannot be deleted until the quota is lifted (§12.5),
    // with the disk-quota fault.
    s.create("q1");
    let quota = [("ORBSIM_FAULTS", "disk-quota")];
    s.orbctl(&["config", "set", "machine.q1.disk_bytes", "4096"])
        .ok();
    let o = s.orbctl_env(&quota, &["delete", "-f", "q1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "[-32098] delete 'q1': remove subvolume: no space left on device\n"
        )
    );
    assert_eq!(s.orbctl(&["list", "-q"]).stdout, "q1\n");
    // Below the quota it goes (a large quota), and 0 lifts it.
    s.orbctl(&["config", "set", "machine.q1.disk_bytes", "0"])
        .ok();
    assert!(!s
        .orbctl(&["config", "show"])
        .stdout
        .contains("q1.disk_bytes"));
    s.orbctl_env(&quota, &["delete", "-f", "q1"]).ok();
    s.create("q2");
    s.orbctl(&["config", "set", "machine.q2.disk_bytes", "68719476736"])
        .ok();
    s.orbctl_env(&quota, &["delete", "-f", "q2"]).ok();
    assert_eq!(s.orbctl(&["list", "-q"]).stdout, "");
}

#[test]
fn push_tmp_view_fault_loses_a_push_into_tmp_and_only_there() {
    let s = Sim::new();
    s.create("view1");
    let file = s.path("pushed.txt");
    std::fs::write(&file, "payload\n").unwrap();
    let file = file.to_string_lossy().into_owned();
    let fault = [("ORBSIM_FAULTS", "push-tmp-view")];
    // Success, and nothing there (§12.8).
    s.orbctl_env(&fault, &["push", "-m", "view1", &file, "/tmp/pushed.txt"])
        .ok();
    assert_eq!(
        s.sh("view1", "ls -A /tmp | wc -l").ok().stdout,
        "0\n",
        "the push went to another view of /tmp"
    );
    // Elsewhere the push lands as usual.
    s.orbctl_env(
        &fault,
        &["push", "-m", "view1", &file, "/home/dev/pushed.txt"],
    )
    .ok();
    assert_eq!(
        s.sh("view1", "cat /home/dev/pushed.txt").ok().stdout,
        "payload\n"
    );
    s.orbctl(&["push", "-m", "view1", &file, "/tmp/pushed.txt"])
        .ok();
    assert_eq!(
        s.sh("view1", "cat /tmp/pushed.txt").ok().stdout,
        "payload\n"
    );
}
