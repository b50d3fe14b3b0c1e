//! `orbctl config` (global and per machine) and create's v2.1–v2.2 flags, each with its
//! effect read back from inside the machine.

mod sim;

use std::io::{Read, Write};

use sim::Sim;

/// The machine's cgroup limits as the machine itself sees them: `(quota, period, memory)`
/// in cgroup v2 or v1 words. Fails, saying why, when neither is there.
fn limits_inside(s: &Sim, m: &str) -> (String, String, String) {
    let script = "if [ -f /sys/fs/cgroup/cpu.max ]; then \
           echo v2 $(cat /sys/fs/cgroup/cpu.max) $(cat /sys/fs/cgroup/memory.max); \
         elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then \
           echo v1 $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us \
             /sys/fs/cgroup/memory/memory.limit_in_bytes); \
         else echo none; fi";
    let out = s.sh(m, script).ok().stdout.clone();
    let f: Vec<&str> = out.split_whitespace().collect();
    match f.as_slice() {
        [_, quota, period, memory] => (quota.to_string(), period.to_string(), memory.to_string()),
        _ => panic!(
            "no cgroup limits visible in machine {m} ({out:?}): the host has neither cgroup v2 \
             nor cgroup v1 cpu and memory controllers that orbsim can use"
        ),
    }
}

fn show(s: &Sim) -> Vec<String> {
    let o = s.orbctl(&["config", "show"]);
    o.ok();
    o.stdout.lines().map(String::from).collect()
}

#[test]
fn config_show_get_set_and_reset_of_global_keys() {
    let s = Sim::new();
    let lines = show(&s);
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "sorted key: value lines");
    for line in &lines {
        let (k, v) = line.split_once(": ").unwrap_or_else(|| panic!("{line}"));
        assert!(!k.is_empty() && !v.trim().is_empty(), "{line}");
    }
    for key in [
        "cpu",
        "memory_mib",
        "rosetta",
        "network_proxy",
        "network_bridge",
        "network.subnet4",
        "docker.set_context",
        "setup.use_admin",
        "k8s.enable",
        "ssh.expose_port",
        "power.pause_on_sleep",
        "app.start_at_login",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{key}: "))),
            "{key} missing from config show"
        );
    }
    assert!(lines.contains(&"network.subnet4: 198.19.248.0/23".to_string()));
    // `get` prints every key, as OrbStack's source does; ORBSIM_CONFIG_GET=value, one value.
    let get = s.orbctl(&["config", "get", "cpu"]);
    assert_eq!(get.ok().stdout.lines().collect::<Vec<_>>(), lines);
    let mut one = Sim::new();
    one.env.push(("ORBSIM_CONFIG_GET".into(), "value".into()));
    let cpu = one.orbctl(&["config", "get", "cpu"]).ok().stdout.clone();
    assert!(cpu.trim().parse::<u32>().is_ok_and(|n| n > 0), "{cpu}");
    let o = one.orbctl(&["config", "get", "nope"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Unknown configuration key: nope\n")
    );

    let o = s.orbctl(&["config", "set", "app.start_at_login", "true"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    let o = s.orbctl(&["config", "set", "rosetta", "1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            0,
            "Restart OrbStack with \"orbctl stop\" to apply changes.\n"
        )
    );
    let lines = show(&s);
    assert!(lines.contains(&"app.start_at_login: true".to_string()));
    assert!(lines.contains(&"rosetta: true".to_string()));
    // Persisted in the state file, which stays valid JSON.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.home().join("state.json")).unwrap()).unwrap();
    assert_eq!(state["config"]["app.start_at_login"], "true");
    for (args, err) in [
        (["cpu", "0"], "CPU limit must be at least 1\n"),
        (
            ["cpu", "99999"],
            "CPU limit cannot exceed number of cores\n",
        ),
        (
            ["memory_mib", "lots"],
            "strconv.ParseUint: parsing \"lots\": invalid syntax\n",
        ),
        (
            ["rosetta", "maybe"],
            "strconv.ParseBool: parsing \"maybe\": invalid syntax\n",
        ),
        (["bogus.key", "1"], "Unknown configuration key: bogus.key\n"),
    ] {
        let o = s.orbctl(&["config", "set", args[0], args[1]]);
        assert_eq!((o.code, o.stderr.as_str()), (1, err), "{args:?}");
    }
    let o = s.orbctl(&["config", "set", "cpu"]);
    assert!(
        o.stderr
            .starts_with("Error: accepts 2 arg(s), received 1\n"),
        "{}",
        o.stderr
    );
    let o = s.orbctl(&["config", "frob"]);
    assert_eq!(o.code, 1);
    s.orbctl(&["config", "reset"]).ok();
    assert!(show(&s).contains(&"rosetta: false".to_string()));
}

/// What a third-party client (pyinfra-orbstack) does: create `ubuntu:22.04`, read
/// `config show`, change the machine's user with `config set machine.NAME.username U`.
#[test]
fn a_pyinfra_like_client_gets_the_answers_the_reference_describes() {
    let s = Sim::new();
    s.orbctl(&["create", "ubuntu:22.04", "pytest-vm"]).ok();
    let rec = &s.json(&["list", "-f", "json"])[0];
    assert_eq!(rec["image"]["distro"], "ubuntu");
    assert_eq!(rec["image"]["version"], "jammy");
    assert_eq!(rec["config"]["default_username"], "dev");
    let lines = show(&s);
    assert!(
        lines.contains(&"machine.pytest-vm.username: dev".to_string()),
        "{lines:?}"
    );
    let o = s.orbctl(&[
        "config",
        "set",
        "machine.pytest-vm.username",
        "test-user-integration",
    ]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    let got = s.orbctl(&["config", "get", "machine.pytest-vm.username"]);
    assert!(got
        .ok()
        .stdout
        .lines()
        .any(|l| l == "machine.pytest-vm.username: test-user-integration"));
    assert_eq!(
        s.json(&["info", "pytest-vm", "-f", "json"])["record"]["config"]["default_username"],
        "test-user-integration"
    );
    // run without -u is now that user, with a home of its own; push goes to it.
    let o = s.sh("pytest-vm", "id -un; echo $HOME; sudo -n true && echo sudo");
    assert_eq!(
        o.ok().stdout,
        "test-user-integration\n/home/test-user-integration\nsudo\n"
    );
    let f = s.path("pushed.txt");
    std::fs::write(&f, "x").unwrap();
    s.orbctl(&["push", "-m", "pytest-vm", f.to_str().unwrap()])
        .ok();
    assert_eq!(
        s.sh("pytest-vm", "stat -c %U ~/pushed.txt").stdout,
        "test-user-integration\n"
    );
    // Names with dots are quoted; unknown machines and keys fail as orbctl does.
    s.orbctl(&["create", "debian", "web.1"]).ok();
    assert!(show(&s).contains(&"machine.\"web.1\".username: dev".to_string()));
    s.orbctl(&["config", "set", "machine.\"web.1\".username", "alice"])
        .ok();
    assert_eq!(s.sh("web.1", "id -un").stdout, "alice\n");
    let o = s.orbctl(&["config", "set", "machine.ghost.username", "x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "[-32098] machine not found: 'ghost'\n")
    );
    let o = s.orbctl(&["config", "set", "machine.pytest-vm.colour", "x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Unknown machine config key: machine.pytest-vm.colour\n")
    );
    // A stopped machine gets its new user at its next start.
    s.orbctl(&["stop", "web.1"]).ok();
    s.orbctl(&["config", "set", "machine.\"web.1\".username", "bob"])
        .ok();
    assert_eq!(s.sh("web.1", "id -un").stdout, "bob\n");
}

#[test]
fn limits_and_mounts_from_create_flags_are_real_inside_the_machine() {
    let s = Sim::new();
    let share = s.path("share");
    let other = s.path("other");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(share.join("from-host"), "hello\n").unwrap();
    let spec = format!("{}:/data", share.display());
    let o = s.orbctl(&[
        "create",
        "--cpus",
        "1",
        "--memory",
        "256M",
        "--disk",
        "64G",
        "--mount",
        &spec,
        "--mount",
        other.to_str().unwrap(),
        "debian",
        "lim1",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        limits_inside(&s, "lim1"),
        ("100000".into(), "100000".into(), (256u64 << 20).to_string())
    );
    // The memory limit holds: 300 MB in one process is killed by the OOM killer.
    let o = s.sh("lim1", "head -c 300M /dev/zero | tail -n 1 >/dev/null");
    assert_eq!(o.code, 137, "a 256 MiB machine ran 300 MB: {}", o.stderr);
    let lines = show(&s);
    for want in [
        "machine.lim1.cpu: 1",
        "machine.lim1.memory_mib: 256",
        "machine.lim1.disk_bytes: 68719476736",
    ] {
        assert!(lines.contains(&want.to_string()), "{want} in {lines:?}");
    }
    assert!(lines.contains(&format!(
        "machine.lim1.mounts: {}:/data,{}",
        share.display(),
        other.display()
    )));
    // Bind mounts, both ways.
    assert_eq!(s.sh("lim1", "cat /data/from-host").ok().stdout, "hello\n");
    let inside = format!("echo from-machine > {}/x", other.display());
    s.orbctl(&["run", "-m", "lim1", "-u", "root", "sh", "-c", &inside])
        .ok();
    assert_eq!(
        std::fs::read_to_string(other.join("x")).unwrap(),
        "from-machine\n"
    );
    // cpu and memory_mib change at once on a running machine.
    s.orbctl(&["config", "set", "machine.lim1.memory_mib", "512"])
        .ok();
    s.orbctl(&["config", "set", "machine.lim1.cpu", "2"]).ok();
    let (quota, _, memory) = limits_inside(&s, "lim1");
    assert_eq!(
        (quota, memory),
        ("200000".into(), (512u64 << 20).to_string())
    );
    // A clone keeps the settings, not the source's cgroups: deleting it leaves lim1 alone.
    s.orbctl(&["clone", "lim1", "lim2"]).ok();
    assert!(show(&s).contains(&"machine.lim2.memory_mib: 512".to_string()));
    s.orbctl(&["delete", "lim2"]).ok();
    assert_eq!(limits_inside(&s, "lim1").2, (512u64 << 20).to_string());
    // [GUESS] a disk cannot shrink.
    let o = s.orbctl(&["config", "set", "machine.lim1.disk_bytes", "1024"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "disk size cannot be decreased\n")
    );
}

#[test]
fn bad_create_flags_are_rejected_before_anything_is_made() {
    let s = Sim::new();
    let o = s.orbctl(&["create", "--cpus", "two", "debian", "f1"]);
    assert!(
        o.stderr.starts_with(
            "Error: invalid argument \"two\" for \"--cpus\" flag: strconv.ParseInt: parsing \"two\": invalid syntax\nUsage:"
        ),
        "{}",
        o.stderr
    );
    let o = s.orbctl(&["create", "--memory", "4X", "debian", "f1"]);
    assert!(
        o.stderr.starts_with(
            "Error: invalid argument \"4X\" for \"--memory\" flag: invalid size: 4X\n"
        ),
        "{}",
        o.stderr
    );
    let o = s.orbctl(&["create", "--isolated=maybe", "debian", "f1"]);
    assert!(
        o.stderr.starts_with(
            "Error: invalid argument \"maybe\" for \"--isolated\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax\n"
        ),
        "{}",
        o.stderr
    );
    for (args, err) in [
        (&["--cpus", "0"][..], "CPU limit must be at least 1"),
        (&["--cpus=-2"], "CPU limit must be at least 1"),
        (
            &["--cpus", "4096"],
            "CPU limit cannot exceed number of cores",
        ),
        (&["--memory", "16M"], "memory limit must be at least 64 MiB"),
        (
            &["--mount", "/nonexistent/orbsim"],
            "mount source does not exist: '/nonexistent/orbsim'",
        ),
        (
            &["--mount", "/tmp:rel"],
            "mount destination must be an absolute path: 'rel'",
        ),
    ] {
        let mut argv = vec!["create"];
        argv.extend_from_slice(args);
        argv.extend(["debian", "f1"]);
        let o = s.orbctl(&argv);
        assert_eq!(
            (o.code, o.stderr.clone()),
            (1, format!("[-32098] create 'f1': {err}\n")),
            "{args:?}"
        );
    }
    assert_eq!(s.orbctl(&["list", "-f", "json"]).stdout, "[]\n");
}

#[test]
fn isolated_and_network_isolated_machines_cannot_reach_what_they_must_not() {
    let s = Sim::new();
    // A service on the host, on every address (the bridge's included).
    let host = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = host.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in host.incoming().flatten() {
            drop(c);
        }
    });
    s.create("plain1");
    s.orbctl(&["create", "--isolated", "debian", "iso1"]).ok();
    s.orbctl(&["create", "--isolate-network", "debian", "netiso1"])
        .ok();
    let plain = s.json(&["info", "plain1", "-f", "json"])["ip4"]
        .as_str()
        .unwrap()
        .to_string();
    s.sh("plain1", "busybox httpd -p 8080 -h /etc").ok();
    let to_host = format!("nc -zv -w 2 198.19.249.1 {port}");
    let to_plain = format!("nc -zv -w 2 {plain} 8080");
    assert_eq!(
        s.sh("plain1", &to_host).code,
        0,
        "a plain machine reaches the host"
    );
    // Isolated: no host files, no route to the host, other machines still reachable.
    let o = s.sh("iso1", "test -e /mnt/mac && echo has-mnt-mac; ls /");
    assert!(!o.stdout.contains("has-mnt-mac"), "{}", o.stdout);
    let o = s.sh("iso1", &to_host);
    assert_ne!(o.code, 0, "an isolated machine reached the host");
    assert!(o.stderr.contains("No route to host"), "{}", o.stderr);
    assert_eq!(
        s.sh("iso1", &to_plain).code,
        0,
        "{}",
        s.sh("iso1", &to_plain).stderr
    );
    // Network-isolated: neither the host nor the other machines, either way.
    let o = s.sh(
        "netiso1",
        &format!("{to_host}; {to_plain}; ip route get {plain}"),
    );
    assert_eq!(
        o.stderr.matches("No route to host").count(),
        3,
        "{}",
        o.stderr
    );
    let netiso = s.json(&["info", "netiso1", "-f", "json"])["ip4"]
        .as_str()
        .unwrap()
        .to_string();
    s.sh("netiso1", "busybox httpd -p 8081 -h /etc").ok();
    assert_ne!(
        s.sh("plain1", &format!("nc -zv -w 2 {netiso} 8081")).code,
        0
    );
    // Recorded for a running machine, applied at its next start.
    let o = s.orbctl(&["config", "set", "machine.plain1.isolated", "true"]);
    assert_eq!(
        o.stderr,
        "Restart the machine with \"orbctl restart plain1\" to apply changes.\n"
    );
    assert_eq!(s.sh("plain1", "test -d /mnt/mac").code, 0);
    s.orbctl(&["restart", "plain1"]).ok();
    assert_ne!(s.sh("plain1", "test -d /mnt/mac").code, 0);
    assert_eq!(
        s.json(&["info", "plain1", "-f", "json"])["record"]["config"]["isolated"],
        true
    );
}

#[test]
fn forward_ssh_agent_reaches_the_callers_agent_from_an_isolated_machine() {
    let mut s = Sim::new();
    // A stand-in agent: answers every connection with one line.
    let sock = s.path("agent.sock");
    let agent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for mut c in agent.incoming().flatten() {
            let mut b = [0u8; 5];
            let _ = c.read_exact(&mut b);
            let _ = c.write_all(b"agent-ok\n");
        }
    });
    s.env
        .push(("SSH_AUTH_SOCK".into(), sock.to_string_lossy().into_owned()));
    s.orbctl(&[
        "create",
        "--isolated",
        "--forward-ssh-agent",
        "debian",
        "agent1",
    ])
    .ok();
    s.create("noagent1");
    let o = s.sh(
        "agent1",
        "echo $SSH_AUTH_SOCK; printf 'hello' | nc -U -q 2 \"$SSH_AUTH_SOCK\"",
    );
    assert_eq!(
        o.ok().stdout,
        "/opt/orbstack-guest/run/host-ssh-agent.sock\nagent-ok\n",
        "{}",
        o.stderr
    );
    assert_eq!(
        s.sh("noagent1", "echo ${SSH_AUTH_SOCK:-unset}").stdout,
        "unset\n"
    );
    assert_eq!(
        s.json(&["info", "agent1", "-f", "json"])["record"]["config"]["forward_ssh_agent"],
        true
    );
}
