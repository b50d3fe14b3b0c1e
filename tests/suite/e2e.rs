//! End-to-end: the built orbdeploy binary against real machines (orbsim on Linux; real
//! OrbStack with ORBDEPLOY_TEST_ORBCTL=orbctl). See `tests/suite/harness/mod.rs`.

use crate::harness;

use harness::World;

/// Area 1: machine lifecycle through `orbdeploy machines`, checked against `orbctl list`.
/// Area 10: create/delete times are printed (no assertion on them).
#[test]
fn machine_lifecycle_through_orbdeploy() {
    let w = World::new("lifecycle");
    let name = w.name("m");
    let created = w.orbdeploy(["machines", "create", &name, "--image", "debian:bookworm"]);
    created.assert_code(0);
    assert_eq!(created.stdout, format!("{name}: created\n"));
    println!("timing: create {:.3}s", created.elapsed.as_secs_f64());
    assert_eq!(w.state(&name).as_deref(), Some("running"));
    w.orbdeploy(["machines", "create", &name, "--if-missing"])
        .assert_code(0);

    let list = w.orbdeploy(["machines", "list", "--json"]);
    list.assert_code(0);
    let machines: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert!(machines
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == name.as_str()));

    let info = w.orbdeploy(["machines", "info", &name, "--json"]);
    info.assert_code(0);
    let info: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(info["state"], "running");
    assert!(
        info["ip4"].as_str().is_some_and(|ip| !ip.is_empty()),
        "{info}"
    );

    w.orbdeploy(["machines", "stop", &name]).assert_code(0);
    assert_eq!(w.state(&name).as_deref(), Some("stopped"));
    w.orbdeploy(["machines", "start", &name]).assert_code(0);
    assert_eq!(w.state(&name).as_deref(), Some("running"));
    w.orbdeploy(["machines", "restart", &name]).assert_code(0);
    assert_eq!(w.state(&name).as_deref(), Some("running"));

    let deleted = w.orbdeploy(["machines", "delete", &name]);
    deleted.assert_code(0);
    println!("timing: delete {:.3}s", deleted.elapsed.as_secs_f64());
    assert_eq!(w.state(&name), None);
}

/// Area 2: command execution through `orbdeploy exec`: basic, working directory, failure.
/// Area 4 (part): the default user really is the default for `run`.
#[test]
fn exec_runs_commands_on_real_machines() {
    let w = World::new("exec");
    let (a, b, c) = (w.name("a"), w.name("b"), w.name("c"));
    for m in [&a, &b, &c] {
        w.create(m);
    }
    w.write(
        "inv.yaml",
        format!("machines:\n  {a}: {{}}\n  {b}: {{}}\n  {c}: {{}}\n"),
    );

    let out = w.orbdeploy([
        "exec",
        "inv.yaml",
        "--limit",
        a.as_str(),
        "--",
        "sh",
        "-c",
        "echo hi from $(hostname) as $(id -un)",
    ]);
    out.assert_code(0);
    assert!(
        out.stdout.contains(&format!("hi from {a} as dev\n")),
        "{}",
        out.stdout
    );

    let out = w.orbdeploy([
        "exec",
        "inv.yaml",
        "--limit",
        a.as_str(),
        "--workdir",
        "/tmp",
        "--",
        "pwd",
    ]);
    out.assert_code(0);
    assert!(out.stdout.ends_with("/tmp\n"), "{}", out.stdout);

    // A working directory that is not there is said in orbdeploy's words, not the
    // agent's shell's (`orbdeploy-agent: 1: cd: can't cd to …`), on both transports.
    for transport in [None, Some("--no-channel")] {
        let mut args = vec![
            "exec",
            "inv.yaml",
            "--limit",
            a.as_str(),
            "--workdir",
            "/nope",
        ];
        args.extend(transport);
        args.extend(["--", "pwd"]);
        let out = w.orbdeploy(args);
        out.assert_code(1);
        assert!(
            out.stdout.contains(
                "orbdeploy: the working directory /nope does not exist on this machine\n"
            ),
            "{transport:?}: {}",
            out.stdout
        );
        assert!(!out.stdout.contains("can't cd"), "{}", out.stdout);
    }

    // `put` into a directory that is not there names the directory, on both transports.
    w.write(
        "put.yaml",
        format!(
            "machines:\n  {a}: {{}}\noperations:\n  - put: {{ content: x, dest: /srv/nope/index.html }}\n"
        ),
    );
    for transport in [None, Some("--no-channel")] {
        let mut args = vec!["apply", "put.yaml", "--progress", "never"];
        args.extend(transport);
        let out = w.orbdeploy(args);
        out.assert_code(1);
        assert!(
            out.stdout
                .contains("the directory /srv/nope does not exist"),
            "{transport:?}: {}",
            out.stdout
        );
        assert!(!out.stdout.contains("mktemp"), "{}", out.stdout);
    }

    let out = w.orbdeploy([
        "exec",
        "inv.yaml",
        "--user",
        "root",
        "--",
        "sh",
        "-c",
        "echo oops >&2; exit 4",
    ]);
    out.assert_code(1);
    assert!(
        out.stdout.contains(&format!("== {a} (exit code 4, ")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("== {b} (exit code 4, ")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("== {c} (exit code 4, ")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("oops\n"));
    assert_eq!(out.stderr, "error: the command failed on 3 of 3 machines\n");
}

/// Area 6: discovered machines land in the right derived groups with the right variables.
/// Area 9 (part): `ip4` is reported for running machines.
#[test]
fn discovery_groups_and_variables() {
    let w = World::new("discover");
    let (run1, stop1) = (w.name("run"), w.name("stop"));
    w.create(&run1);
    w.create(&stop1);
    w.orbctl(["stop", stop1.as_str()]).assert_code(0);
    w.write(
        "inv.yaml",
        format!(
            "vars: {{ tier: ci }}\ndiscover: {{ match: \"{}-*\" }}\n",
            w.prefix
        ),
    );
    let out = w.orbdeploy(["inventory", "inv.yaml", "--json"]);
    out.assert_code(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let machines = doc["machines"].as_array().unwrap();
    let find = |n: &str| {
        machines
            .iter()
            .find(|m| m["name"] == n)
            .unwrap_or_else(|| panic!("{n} not discovered: {doc}"))
    };
    let r = find(&run1);
    assert_eq!(r["origin"], "discovered");
    assert_eq!(r["state"], "running");
    let groups: Vec<&str> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(groups[0], "all");
    assert!(
        groups.contains(&"orbstack_running") && groups.contains(&"orbstack_debian"),
        "{groups:?}"
    );
    assert_eq!(r["vars"]["tier"], "ci");
    assert_eq!(r["vars"]["distro"], "debian");
    assert_eq!(r["vars"]["version"], "bookworm");
    assert_eq!(r["vars"]["machine"], run1.as_str());
    assert!(
        r["vars"]["ip4"]
            .as_str()
            .is_some_and(|ip| ip.split('.').count() == 4),
        "{r}"
    );
    let s = find(&stop1);
    assert!(s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "orbstack_stopped"));
    assert!(s["vars"]["ip4"].is_null());
}

/// Area 8: error handling — each a clear message and its exit code.
#[test]
fn errors_have_clear_messages_and_exit_codes() {
    let w = World::new("errors");
    let ghost = w.name("ghost");
    let out = w.orbdeploy(["machines", "info", &ghost]);
    out.assert_code(3);
    assert!(
        out.stderr
            .contains(&format!("machine `{ghost}` does not exist")),
        "{}",
        out.stderr
    );

    w.write("inv.yaml", format!("machines:\n  {ghost}: {{}}\n"));
    let out = w.orbdeploy(["exec", "inv.yaml", "--", "true"]);
    out.assert_code(3);

    w.write("bad.yaml", "machines:\n  ok1: { imgae: debian }\n");
    let out = w.orbdeploy(["inventory", "bad.yaml"]);
    out.assert_code(2);
    assert!(
        out.stderr
            .starts_with("error: bad.yaml:2:10: unknown field `imgae`"),
        "{}",
        out.stderr
    );

    let out = w.orbdeploy(["--orbctl", "/nonexistent/orbctl", "machines", "list"]);
    out.assert_code(3);
    assert!(out.stderr.contains("orbctl not found"), "{}", out.stderr);

    if !w.real_orbstack {
        let mut down = World::new("down");
        down.env
            .push(("ORBSIM_FAULTS".into(), "not-running".into()));
        let out = down.orbdeploy(["machines", "list"]);
        out.assert_code(3);
        assert!(
            out.stderr.starts_with("error: OrbStack is not running"),
            "{}",
            out.stderr
        );
        down.env.clear();
    }
}

/// Area 9: the reported ip4 is reachable from another machine.
#[test]
fn machines_reach_each_other_by_reported_ip4() {
    let w = World::new("network");
    let (web, client) = (w.name("web"), w.name("cli"));
    w.create(&web);
    w.create(&client);
    let info = w.orbdeploy(["machines", "info", &web, "--json"]);
    info.assert_code(0);
    let ip: String = serde_json::from_str::<serde_json::Value>(&info.stdout).unwrap()["ip4"]
        .as_str()
        .unwrap()
        .to_string();
    w.sh(&web, None, "mkdir -p /tmp/www && echo served-by-web > /tmp/www/i.html && busybox httpd -p 8080 -h /tmp/www")
        .assert_code(0);
    w.write("inv.yaml", format!("machines:\n  {client}: {{}}\n"));
    let out = w.orbdeploy([
        "exec",
        "inv.yaml",
        "--",
        "busybox",
        "wget",
        "-q",
        "-O-",
        &format!("http://{ip}:8080/i.html"),
    ]);
    out.assert_code(0);
    assert!(out.stdout.contains("served-by-web\n"), "{}", out.stdout);
}

/// Area 4: creation with parameters — architecture and default user — and that user really
/// is the default for `run` (through orbctl and through orbdeploy's steps).
#[test]
fn create_with_arch_and_default_user() {
    let w = World::new("params");
    let m = w.name("p");
    w.orbdeploy([
        "machines",
        "create",
        &m,
        "--image",
        "debian:bookworm",
        "--arch",
        "amd64",
        "--user",
        "alice",
    ])
    .assert_code(0);
    let info = w.orbdeploy(["machines", "info", &m, "--json"]);
    info.assert_code(0);
    let info: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(info["image"]["arch"], "amd64");
    assert_eq!(info["config"]["default_username"], "alice");
    assert_eq!(w.sh(&m, None, "id -un").stdout, "alice\n");
    // A step without `user:` runs as that default user; `become` as root.
    w.write(
        "ops.yaml",
        "- shell: \"id -un > /tmp/who\"\n- shell: \"id -un > /tmp/who-root\"\n  become: true\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{ arch: amd64, user: alice }}\noperations: ops.yaml\n"),
    );
    w.orbdeploy(["apply", inv.to_str().unwrap()]).assert_code(0);
    assert_eq!(
        w.sh(&m, None, "cat /tmp/who /tmp/who-root").stdout,
        "alice\nroot\n"
    );
    // An inventory that declares another user for an existing machine is drift, not a silent success.
    let other = w.write(
        "inv2.yaml",
        format!("machines:\n  {m}: {{ user: bob }}\noperations: ops.yaml\n"),
    );
    let drift = w.orbdeploy(["apply", other.to_str().unwrap()]);
    drift.assert_code(1);
    assert!(drift.stdout.contains("drift"), "{}", drift.stdout);
}

/// Area 5: start, stop, force stop, restart — and processes started in a machine die on stop.
#[test]
fn lifecycle_operations_end_processes() {
    let w = World::new("procs");
    let m = w.name("q");
    w.create(&m);
    let inv = w.write("inv.yaml", format!("machines:\n  {m}: {{}}\n"));
    let inv = inv.to_str().unwrap();
    let alive = |w: &World| {
        w.sh(
            &m,
            Some("root"),
            "pgrep -f 'sleep 424[2]' >/dev/null && echo alive || echo gone",
        )
        .stdout
    };
    let start_sleeper = |w: &World| {
        w.orbdeploy([
            "exec",
            inv,
            "--",
            "sh",
            "-c",
            "setsid sleep 4242 </dev/null >/dev/null 2>&1 &",
        ])
        .assert_code(0);
    };
    start_sleeper(&w);
    assert_eq!(
        alive(&w),
        "alive\n",
        "a process started by exec keeps running"
    );
    w.orbdeploy(["machines", "stop", &m]).assert_code(0);
    assert_eq!(w.state(&m).as_deref(), Some("stopped"));
    w.orbdeploy(["machines", "start", &m]).assert_code(0);
    assert_eq!(alive(&w), "gone\n", "stop ended it");
    start_sleeper(&w);
    w.orbdeploy(["machines", "stop", "--force", &m])
        .assert_code(0);
    assert_eq!(w.state(&m).as_deref(), Some("stopped"));
    // apply starts a stopped machine that the inventory wants running.
    let run = w.orbdeploy(["apply", inv]);
    run.assert_code(0);
    assert!(run.stdout.contains("machine started"), "{}", run.stdout);
    assert_eq!(alive(&w), "gone\n", "force stop ended it");
    start_sleeper(&w);
    w.orbdeploy(["machines", "restart", &m]).assert_code(0);
    assert_eq!(w.state(&m).as_deref(), Some("running"));
    assert_eq!(alive(&w), "gone\n", "restart ended it");
}
