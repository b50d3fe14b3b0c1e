//! orbsim driven as `orbctl`, asserting the texts and exit codes of docs/orbctl.md.

mod sim;

use sim::Sim;

// ---------- grammar and errors (no machine needed) ----------

/// When its reader goes away, orbctl (a Go program) is killed by SIGPIPE without a word;
/// orbsim too, never a panic or an error line.
#[test]
fn a_reader_that_goes_away_ends_orbsim_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let s = Sim::new();
    for args in [&["version"][..], &["list", "-f", "json"], &["status"]] {
        let mut c = s.command("orbctl", args);
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = c
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(13), "{args:?}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn errors_match_orbctl_without_machines() {
    let s = Sim::new();
    let o = s.orbctl(&["info", "ghost"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (1, "", "[-32098] machine not found: 'ghost'\n")
    );
    let o = s.orbctl(&["list", "-f", "json"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "[]\n"));
    let o = s.orbctl(&["list"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    let o = s.orbctl(&["list", "-f", "xml"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .starts_with("Error: invalid format: xml\nUsage:\n  orbctl list [flags]\n"),
        "{}",
        o.stderr
    );
    let o = s.orbctl(&["info"]);
    assert!(
        o.stderr
            .starts_with("Error: accepts 1 arg(s), received 0\n"),
        "{}",
        o.stderr
    );
    assert_eq!(o.code, 1);
    let o = s.orbctl(&["frobnicate"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Error: unknown command \"frobnicate\" for \"orbctl\"\nRun 'orbctl --help' for usage.\n"));
    let o = s.orbctl(&["list", "--bogus"]);
    assert!(
        o.stderr.starts_with("Error: unknown flag: --bogus\n"),
        "{}",
        o.stderr
    );
    let o = s.orbctl(&["create", "debain"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.starts_with("Error: invalid distro: debain\nUsage:\n  orbctl create [flags] DISTRO[:VERSION] [MACHINE_NAME]\n"), "{}", o.stderr);
    let o = s.orbctl(&["create", "-a", "sparc", "debian", "x1"]);
    assert!(
        o.stderr.starts_with("Error: invalid architecture: sparc\n"),
        "{}",
        o.stderr
    );
    for bad in ["a", "-x1", "a_b", "docker", "k8s", "default"] {
        let o = s.orbctl(&["create", "debian", bad]);
        if bad.starts_with('-') {
            continue; // read as a flag by cobra
        }
        assert_eq!(
            (o.code, o.stderr.clone()),
            (
                1,
                format!("[-32098] create '{bad}': invalid machine name '{bad}'\n")
            )
        );
    }
    let o = s.orbctl(&["default"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "[-32098] no machines found\n")
    );
    let o = s.orbctl(&["logs", "ghost"]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (0, "[-32098] machine not found: 'ghost'\n", "")
    );
    let o = s.orbctl(&["status"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "Running\n"));
    let o = s.orbctl(&["version"]);
    assert!(
        o.stdout.starts_with("Version: 2.2.3 (2020300)\nCommit: "),
        "{}",
        o.stdout
    );
    let o = s.orbctl(&["restart"]);
    assert!(o.stderr.starts_with("Error: no machines specified\n"));
    let o = s.orbctl(&["delete"]);
    assert!(o.stderr.starts_with("Error: no machines specified\n"));
    let o = s.orbctl(&["start"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, "OrbStack is already running. Docker engine is ready to use.\nUse --all to start all machines.\n"));
    let o = s.orbctl(&["run", "true"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("orb create ubuntu"), "{}", o.stderr);
}

#[test]
fn run_flag_parser_rejects_double_dash_and_unknown_flags_without_running() {
    let s = Sim::new();
    s.create("rf1");
    let marker = "/tmp/ran";
    let o = s.orbctl(&["run", "-m", "rf1", "--", "touch", marker]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with(
            "Error: unknown flag --\nUsage:\n  orbctl run [flags] -- [COMMAND] [ARGS]...\n"
        ),
        "{}",
        o.stderr
    );
    let o = s.orbctl(&["run", "-m", "rf1", "-x", "touch", marker]);
    assert!(o.stderr.starts_with("Error: unknown flag -x\n"));
    let o = s.orbctl(&["run", "-m"]);
    assert!(o.stderr.starts_with("Error: missing value for flag -m\n"));
    assert_eq!(
        s.sh("rf1", &format!("test -e {marker}")).code,
        1,
        "a rejected command ran"
    );
    // `=` forms, long forms, and flags after the command go to the command.
    let o = s.orbctl(&[
        "run",
        "--machine=rf1",
        "-u=root",
        "-w=/tmp",
        "sh",
        "-c",
        "id -un; pwd",
        "-x",
    ]);
    assert_eq!(o.ok().stdout, "root\n/tmp\n");
    // -s joins the words unquoted: the shell expands.
    let o = s.orbctl(&["run", "-m", "rf1", "-s", "echo", "$((1+2))"]);
    assert_eq!(o.ok().stdout, "3\n");
    // Missing machine: silent, exit 1.
    let o = s.orbctl(&["run", "-m", "nosuch", "true"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (1, "", ""));
}

// ---------- machines ----------

#[test]
fn lifecycle_list_info_stop_start_delete() {
    let s = Sim::new();
    s.create("life1");
    let list = s.json(&["list", "-f", "json"]);
    let m = &list[0];
    assert_eq!(m["name"], "life1");
    assert_eq!(m["state"], "running");
    assert_eq!(m["builtin"], false);
    assert_eq!(m["image"]["distro"], "debian");
    assert_eq!(m["image"]["version"], "bookworm");
    assert_eq!(m["config"]["default_username"], "dev");
    assert_eq!(m["id"].as_str().unwrap().len(), 26);
    let info = s.json(&["info", "life1", "-f", "json"]);
    let ip = info["ip4"].as_str().unwrap().to_string();
    assert!(ip.starts_with("198.19.249."), "{ip}");
    assert!(info["disk_size"].is_null());
    assert_eq!(info["record"]["name"], "life1");
    // The first machine becomes the default.
    assert_eq!(s.orbctl(&["default"]).ok().stdout, "life1\n");
    let text = s.orbctl(&["info", "life1"]);
    assert!(text.ok().stdout.starts_with("ID: "), "{}", text.stdout);
    assert!(
        text.stdout
            .ends_with(&format!("Architecture: amd64\n\nIPv4: {ip}\n\n")),
        "{}",
        text.stdout
    );
    let q = s.orbctl(&["list", "-q"]);
    assert_eq!(q.stdout, "life1\n");
    let o = s.orbctl(&["create", "debian", "life1"]);
    assert_eq!(
        o.stderr,
        "[-32098] create 'life1': machine already exists: 'life1'\n"
    );

    s.orbctl(&["stop", "life1"]).ok();
    let info = s.json(&["info", "life1", "-f", "json"]);
    assert_eq!(info["record"]["state"], "stopped");
    assert!(info.get("ip4").is_none(), "a stopped machine has no ip4");
    assert_eq!(s.orbctl(&["list", "-r", "-q"]).stdout, "");
    // Files survive a stop (not in /tmp, emptied at each start: tests/compat.rs); run
    // auto-starts the machine.
    s.orbctl(&["start", "life1"]).ok();
    s.sh("life1", "echo kept > /var/tmp/kept").ok();
    s.orbctl(&["restart", "life1"]).ok();
    assert_eq!(s.sh("life1", "cat /var/tmp/kept").ok().stdout, "kept\n");
    s.orbctl(&["stop", "life1"]).ok();
    assert_eq!(s.sh("life1", "hostname").ok().stdout, "life1\n");
    assert_eq!(
        s.json(&["info", "life1", "-f", "json"])["record"]["state"],
        "running"
    );

    s.orbctl(&["delete", "-f", "life1"]).ok();
    assert_eq!(s.orbctl(&["list", "-f", "json"]).stdout, "[]\n");
    assert_eq!(
        std::fs::read_dir(s.home().join("machines"))
            .unwrap()
            .count(),
        0,
        "delete left files"
    );
}

#[test]
fn processes_survive_between_runs_and_die_on_stop() {
    let s = Sim::new();
    s.create("proc1");
    // A session of its own: a plain `nohup … &` ends with its session (tests/compat.rs).
    s.sh("proc1", "setsid sleep 600 >/dev/null 2>&1 &").ok();
    assert_eq!(s.sh("proc1", "pgrep -c -x sleep").ok().stdout, "1\n");
    let host_pids = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 600$"])
        .output()
        .unwrap();
    assert!(!host_pids.stdout.is_empty());
    s.orbctl(&["stop", "proc1"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 600$"])
        .output()
        .unwrap();
    let before: Vec<&str> = std::str::from_utf8(&host_pids.stdout)
        .unwrap()
        .lines()
        .collect();
    let still: Vec<&str> = std::str::from_utf8(&after.stdout)
        .unwrap()
        .lines()
        .collect();
    assert!(
        before.iter().all(|p| !still.contains(p)),
        "stop left the machine's processes running"
    );
}

#[test]
fn run_passes_arguments_exit_codes_env_and_stdin_exactly() {
    let s = Sim::new();
    s.create("run1");
    let o = s.orbctl(&[
        "run", "-m", "run1", "-w", "/", "printf", "[%s]", "a b", "$HOME", "it's", "", "*",
    ]);
    assert_eq!(o.ok().stdout, "[a b][$HOME][it's][][*]");
    assert_eq!(s.sh("run1", "exit 7").code, 7);
    let o = s.orbctl(&["run", "-m", "run1", "no-such-command"]);
    assert_eq!(o.code, 127);
    assert!(
        o.stderr.contains("no-such-command: command not found"),
        "{}",
        o.stderr
    );
    assert_eq!(s.sh("run1", "kill -9 $$").code, 255);
    // A machine's processes get SIGPIPE's default action, as on OrbStack: a pipeline whose
    // reader quits ends quietly (orbsim itself is a Rust program started with it ignored).
    let o = s.sh("run1", "yes | head -1; grep SigIgn /proc/self/status");
    assert_eq!(
        o.stderr, "",
        "yes must die of SIGPIPE, not report a write error"
    );
    let ignored = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .expect("SigIgn line");
    assert_eq!(ignored & (1 << (13 - 1)), 0, "SIGPIPE is not ignored");
    // Default user, root, home for -w "", fallback to / for a missing dir.
    assert_eq!(s.sh("run1", "id -un").stdout, "dev\n");
    assert_eq!(
        s.orbctl(&["run", "-m", "run1", "-w", "", "pwd"]).stdout,
        "/home/dev\n"
    );
    assert_eq!(
        s.orbctl(&["run", "-m", "run1", "-w", "/nonexistent", "pwd"])
            .stdout,
        "/\n"
    );
    // Without -w the caller's cwd is used, translated under /mnt/mac.
    let cwd = s.dir.path().to_string_lossy().into_owned();
    assert_eq!(
        s.orbctl(&["run", "-m", "run1", "pwd"]).stdout,
        format!("/mnt/mac{cwd}\n")
    );
    // A clean environment: only ORBENV-listed variables pass.
    let o = s.run_program(
        "orbctl",
        &[
            "run",
            "-m",
            "run1",
            "sh",
            "-c",
            "echo ${SECRET_X:-unset} ${PASSED_Y:-unset}",
        ],
        None,
    );
    assert_eq!(o.stdout, "unset unset\n");
    let mut env_sim = s.env.clone();
    env_sim.push(("ORBENV".into(), "PASSED_Y".into()));
    env_sim.push(("PASSED_Y".into(), "yes".into()));
    env_sim.push(("SECRET_X".into(), "leak".into()));
    let t = Sim {
        dir: tempfile::tempdir().unwrap(),
        env: env_sim,
    };
    let o = std::process::Command::new(s.path("bin/orbctl"))
        .args([
            "run",
            "-m",
            "run1",
            "sh",
            "-c",
            "echo ${SECRET_X:-unset} ${PASSED_Y:-unset}",
        ])
        .env("ORBSIM_HOME", s.home())
        .envs(t.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    drop(t);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "unset yes\n");
    // Binary-safe stdin and stdout.
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let o = s.with_stdin(&["run", "-m", "run1", "cat"], &data);
    assert_eq!(o.code, 0);
    assert_eq!(o.raw_stdout, data);
}

#[test]
fn push_and_pull_copy_as_the_default_user_and_land_owned_by_the_caller() {
    let s = Sim::new();
    s.create("cp1");
    let src = s.path("file with spaces.txt");
    std::fs::write(&src, "payload\n").unwrap();
    // One-argument push lands in the Linux home.
    s.orbctl(&["push", "-m", "cp1", src.to_str().unwrap()]).ok();
    assert_eq!(
        s.sh("cp1", "stat -c '%U %s' '/home/dev/file with spaces.txt'")
            .stdout,
        "dev 8\n"
    );
    s.orbctl(&["push", "-m", "cp1", src.to_str().unwrap(), "/tmp/p.txt"])
        .ok();
    assert_eq!(s.sh("cp1", "cat /tmp/p.txt").stdout, "payload\n");
    // A destination the default user cannot write: cp's own message and exit code.
    let o = s.orbctl(&["push", "-m", "cp1", src.to_str().unwrap(), "/etc/x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "cp: cannot create regular file '/etc/x': Permission denied\n"
        )
    );
    let missing = s.path("nope");
    let o = s.orbctl(&["push", "-m", "cp1", missing.to_str().unwrap(), "/tmp/"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        format!(
            "cp: cannot stat '/mnt/mac{}': No such file or directory\n",
            missing.display()
        )
    );
    // Relative host paths resolve against the caller's cwd; pulled files belong to the caller.
    s.sh("cp1", "printf 'from linux' > /home/dev/out.txt").ok();
    s.orbctl(&["pull", "-m", "cp1", "out.txt", "pulled.txt"])
        .ok();
    let pulled = s.path("pulled.txt");
    assert_eq!(std::fs::read_to_string(&pulled).unwrap(), "from linux");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&pulled).unwrap().uid(),
        nix::unistd::geteuid().as_raw()
    );
    let o = s.orbctl(&["pull", "-m", "cp1", "/etc/shadow", "x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "cp: cannot open '/etc/shadow' for reading: Permission denied\n"
        )
    );
    let o = s.orbctl(&["pull", "-m", "cp1", "nope.txt", "x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "cp: cannot stat 'nope.txt': No such file or directory\n")
    );
}

#[test]
fn two_machines_reach_each_other_by_ip4() {
    let s = Sim::new();
    s.create("net-a");
    s.create("net-b");
    let ip_a = s.json(&["info", "net-a", "-f", "json"])["ip4"]
        .as_str()
        .unwrap()
        .to_string();
    let ip_b = s.json(&["info", "net-b", "-f", "json"])["ip4"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(ip_a, ip_b);
    s.sh("net-a", "mkdir -p /tmp/www && echo hello-from-a > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www").ok();
    let o = s.sh(
        "net-b",
        &format!("busybox wget -q -O- http://{ip_a}:8080/index.html"),
    );
    assert_eq!(o.ok().stdout, "hello-from-a\n");
    // And from the host.
    let host = std::process::Command::new("curl")
        .args(["-s", &format!("http://{ip_a}:8080/index.html")])
        .output();
    if let Ok(out) = host {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello-from-a\n");
    }
    assert_eq!(s.sh("net-b", "hostname").stdout, "net-b\n");
    the_gateway_keeps_its_mac_while_machines_come_and_go(&s);
}

/// The bridge's MAC is set, not taken from its ports: otherwise a machine starting or
/// stopping could change it under every other machine's neighbour entry for the gateway,
/// and their traffic to the host was lost for seconds (the tests' old intermittent hangs).
fn the_gateway_keeps_its_mac_while_machines_come_and_go(s: &Sim) {
    let bridge = |file: &str| {
        std::fs::read_to_string(format!("/sys/class/net/orbsim0/{file}"))
            .unwrap_or_else(|e| panic!("orbsim0/{file}: {e}"))
            .trim()
            .to_string()
    };
    // 3 is NET_ADDR_SET: chosen, so the kernel never replaces it.
    assert_eq!(bridge("addr_assign_type"), "3");
    let mac = bridge("address");
    let seen_from_a = || {
        let arp = s
            .sh(
                "net-a",
                "busybox ping -c 1 -W 2 198.19.249.1 >/dev/null 2>&1; cat /proc/net/arp",
            )
            .ok()
            .stdout
            .clone();
        arp.lines()
            .find(|l| l.starts_with("198.19.249.1 "))
            .and_then(|l| l.split_whitespace().nth(3))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no neighbour entry for the gateway in net-a:\n{arp}"))
    };
    assert_eq!(seen_from_a(), mac);
    s.orbctl(&["stop", "net-b"]).ok();
    s.orbctl(&["start", "net-b"]).ok();
    assert_eq!(bridge("address"), mac, "a port came and went");
    assert_eq!(seen_from_a(), mac);
}

#[test]
fn concurrent_runs_and_creates_do_not_damage_the_state() {
    let s = Sim::new();
    s.create("conc0");
    let outs: Vec<sim::Out> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..20)
            .map(|i| {
                let s = &s;
                scope.spawn(move || s.sh("conc0", &format!("echo run-{i}")))
            })
            .collect();
        let creates: Vec<_> = (1..=5)
            .map(|i| {
                let s = &s;
                scope.spawn(move || s.orbctl(&["create", "debian", &format!("conc{i}")]))
            })
            .collect();
        runs.into_iter()
            .chain(creates)
            .map(|h| h.join().unwrap())
            .collect()
    });
    for (i, o) in outs.iter().enumerate().take(20) {
        assert_eq!(o.stdout, format!("run-{i}\n"));
    }
    for o in &outs[20..] {
        o.ok();
    }
    let list = s.json(&["list", "-f", "json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["conc0", "conc1", "conc2", "conc3", "conc4", "conc5"]
    );
    let ips: std::collections::BTreeSet<String> = names
        .iter()
        .map(|n| {
            s.json(&["info", n, "-f", "json"])["ip4"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ips.len(), 6, "addresses must be unique");
}

#[test]
fn clone_rename_default_and_orb_name() {
    let s = Sim::new();
    s.create("orig");
    s.sh("orig", "echo cloned > /home/dev/mark").ok();
    s.orbctl(&["clone", "orig", "copy1"]).ok();
    let info = s.json(&["info", "copy1", "-f", "json"]);
    assert_eq!(info["record"]["state"], "stopped");
    assert_eq!(s.sh("copy1", "cat /home/dev/mark").stdout, "cloned\n");
    s.orbctl(&["rename", "copy1", "copy2"]).ok();
    let o = s.orbctl(&["rename", "copy2", "orig"]);
    assert_eq!(o.stderr, "[-32098] machine '\"orig\"' already exists\n");
    s.orbctl(&["default", "copy2"]).ok();
    assert_eq!(s.orbctl(&["default"]).stdout, "copy2\n");
    // `orb`: a subcommand first, else a command in the default machine.
    assert_eq!(s.orb(&["list", "-q"]).stdout, "copy2\norig\n");
    assert_eq!(s.orb(&["hostname"]).stdout, "copy2\n");
    assert_eq!(s.orb(&["-m", "orig", "hostname"]).stdout, "orig\n");
    // Deleting the default makes the alphabetically first machine the default.
    s.orbctl(&["delete", "copy2"]).ok();
    assert_eq!(s.orbctl(&["default"]).stdout, "orig\n");
    let logs = s.orbctl(&["logs", "orig"]);
    assert_eq!(logs.code, 0);
}

// ---------- faults and the call log ----------

#[test]
fn fault_not_running() {
    let mut s = Sim::new();
    s.env.push(("ORBSIM_FAULTS".into(), "not-running".into()));
    assert_eq!(s.orbctl(&["status"]).code, 1);
    assert_eq!(s.orbctl(&["status"]).stdout, "Stopped\n");
    let o = s.orbctl(&["stop", "x1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (0, "OrbStack is not running\n")
    );
    let o = s.orbctl(&["list", "-f", "json"]);
    assert_eq!(o.code, 1);
    assert!(!o.stderr.is_empty());
    assert_eq!(s.orbctl(&["run", "-m", "x1", "true"]).code, 1);
}

#[test]
fn fault_create_timeout_leaves_a_running_machine() {
    let mut s = Sim::new();
    s.env
        .push(("ORBSIM_FAULTS".into(), "create-timeout".into()));
    let o = s.orbctl(&["create", "debian", "slow1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "[-32098] create 'slow1': setup: machine didn't start in 30s (missing IP address)\n"
        )
    );
    s.env.clear();
    assert_eq!(
        s.json(&["info", "slow1", "-f", "json"])["record"]["state"],
        "running"
    );
}

#[test]
fn fault_run_fail_after_kills_one_session_and_latency_and_slow_create_add_time() {
    let mut s = Sim::new();
    s.create("flt1");
    s.env.push((
        "ORBSIM_FAULTS".into(),
        "run-fail-after=2,latency=150".into(),
    ));
    let log = s.path("calls.jsonl");
    s.env
        .push(("ORBSIM_LOG".into(), log.to_string_lossy().into_owned()));
    assert_eq!(s.sh("flt1", "echo 1").stdout, "1\n");
    assert_eq!(s.sh("flt1", "echo 2").stdout, "2\n");
    let third = s.sh("flt1", "echo 3");
    assert_eq!((third.code, third.stdout.as_str()), (255, ""));
    assert_eq!(s.sh("flt1", "echo 4").stdout, "4\n");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2]["exit"], 255);
    assert_eq!(lines[0]["argv"][1], "run");
    assert_eq!(lines[0]["argv"][3], "flt1");
    // latency=150 is a floor on every call's duration.
    assert!(lines
        .iter()
        .all(|l| l["duration_ms"].as_f64().unwrap() >= 150.0));
    s.env = vec![
        ("ORBSIM_FAULTS".into(), "create-slow=1".into()),
        ("ORBSIM_LOG".into(), log.to_string_lossy().into_owned()),
    ];
    s.create("flt2");
    let last: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["argv"][1], "create");
    assert!(last["duration_ms"].as_f64().unwrap() >= 1000.0);
}

#[test]
fn host_network_mode_reports_no_address_of_its_own() {
    let mut s = Sim::new();
    s.env.push(("ORBSIM_NETWORK".into(), "host".into()));
    s.create("hostnet1");
    let info = s.json(&["info", "hostnet1", "-f", "json"]);
    assert_eq!(info["record"]["state"], "running");
    assert!(
        info.get("ip4").is_none(),
        "host mode must not claim an address: {info}"
    );
    // The machine is in the host's network namespace.
    let inside = s.sh("hostnet1", "stat -L -c %i /proc/self/ns/net");
    let host = std::fs::metadata("/proc/self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    assert_eq!(inside.ok().stdout, format!("{host}\n"));
    assert_eq!(s.sh("hostnet1", "hostname").stdout, "hostnet1\n");
}

#[test]
fn create_with_user_and_user_data_and_console_log() {
    let s = Sim::new();
    let script = s.path("setup.sh");
    std::fs::write(&script, "#!/bin/sh\necho provisioned > /etc/provisioned\n").unwrap();
    s.orbctl(&[
        "create",
        "-u",
        "alice",
        "-c",
        script.to_str().unwrap(),
        "debian:12",
        "usr1",
    ])
    .ok();
    let rec = s.json(&["info", "usr1", "-f", "json"]);
    assert_eq!(rec["record"]["config"]["default_username"], "alice");
    assert_eq!(
        rec["record"]["image"]["version"], "bookworm",
        "12 is an alias of bookworm"
    );
    assert_eq!(rec["record"]["image"]["variant"], "cloud");
    // The default user is the default for run, has bash, a home and passwordless sudo.
    assert_eq!(
        s.sh("usr1", "id -un; echo $SHELL; echo $HOME; sudo -n id -un")
            .stdout,
        "alice\n/bin/bash\n/home/alice\nroot\n"
    );
    assert_eq!(s.sh("usr1", "cat /etc/provisioned").stdout, "provisioned\n");
    let o = s.orbctl(&["run", "-m", "usr1", "-u", "nobody-here", "true"]);
    assert_eq!(o.code, 1);
    // The console log is the init's output (empty unless something wrote to it) and is readable.
    assert_eq!(s.orbctl(&["logs", "usr1"]).code, 0);
}
