//! OrbStack as it is in 2026, end to end on orbsim: machine settings at creation and on an
//! existing machine (live changes applied, restart-bound ones refused without
//! `restart_for_settings`, a smaller disk reported), a deadline on every orbctl call (a
//! hanging `list` is exit 3 within it, with no process left), the 2026 create errors retried
//! when passing, and an image service outage named as such.

use crate::harness;

use std::time::{Duration, Instant};

use harness::{Run, World};

/// `orbctl config show` as `key: value` pairs.
fn config(w: &World) -> String {
    let out = w.orbctl(["config", "show"]);
    out.assert_code(0);
    out.stdout
}

fn has(config: &str, line: &str) -> bool {
    config.lines().any(|l| l == line)
}

fn inventory(w: &World, machine: &str, settings: &str) -> String {
    w.write("ops.yaml", "- name: marker\n  shell: \"true\"\n");
    let inv = w.write(
        "inv.yaml",
        format!("defaults: {{ create: true }}\nmachines:\n  {machine}: {{ {settings} }}\noperations: ops.yaml\n"),
    );
    inv.to_string_lossy().into_owned()
}

fn apply(w: &World, inv: &str) -> Run {
    w.orbdeploy(["apply", inv])
}

#[test]
fn settings_at_creation_then_changed_refused_or_restarted() {
    let w = World::new("settings26");
    let m = w.name("s");
    let src = w.path("shared");
    std::fs::create_dir_all(&src).unwrap();
    let src = std::fs::canonicalize(&src).unwrap();
    let inv = inventory(&w, &m, "cpus: 1, memory: 1G, disk: 32G");
    apply(&w, &inv).assert_code(0);
    let c = config(&w);
    for line in [
        format!("machine.{m}.cpu: 1"),
        format!("machine.{m}.memory_mib: 1024"),
        format!("machine.{m}.disk_bytes: {}", 32u64 << 30),
    ] {
        assert!(has(&c, &line), "created with {line}:\n{c}");
    }

    // A live change: planned in plan's words (and pending for --exit-code), then applied.
    // (orbsim, like OrbStack, refuses more CPUs than the host has: this one may have 2.)
    let inv = inventory(&w, &m, "cpus: 2, memory: 1G, disk: 32G");
    let plan = w.orbdeploy(["plan", &inv, "--exit-code"]);
    plan.assert_code(4);
    assert!(
        plan.stdout.contains(&format!(
            "{m}: machine settings will change — machine.{m}.cpu 1 → 2\n"
        )),
        "{}",
        plan.stdout
    );
    let run = apply(&w, &inv);
    run.assert_code(0);
    assert!(
        run.stdout.contains("machine settings changed"),
        "{}",
        run.stdout
    );
    assert!(has(&config(&w), &format!("machine.{m}.cpu: 2")));
    w.orbdeploy(["plan", &inv, "--exit-code"]).assert_code(0);

    // A restart-bound change on a running machine: refused with the commands to run.
    let mounts = format!(
        "cpus: 2, memory: 1G, disk: 32G, mounts: ['{}:/shared']",
        src.display()
    );
    let inv = inventory(&w, &m, &mounts);
    let run = apply(&w, &inv);
    run.assert_code(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!(
            "needs a restart for machine.{m}.mounts (default) → {}:/shared (needs a restart)",
            src.display()
        )) || all.contains(&format!(
            "needs a restart for machine.{m}.mounts (default) → {}:/shared",
            src.display()
        )),
        "{all}"
    );
    assert!(all.contains(&format!("orbctl restart {m}")), "{all}");
    assert!(!config(&w).contains(&format!("machine.{m}.mounts")));

    // Allowed: set, restarted, and the mount is there.
    let inv = inventory(&w, &m, &format!("{mounts}, restart_for_settings: true"));
    let run = apply(&w, &inv);
    run.assert_code(0);
    assert!(run.stdout.contains("then a restart"), "{}", run.stdout);
    assert!(has(
        &config(&w),
        &format!("machine.{m}.mounts: {}:/shared", src.display())
    ));
    w.sh(&m, None, "test -d /shared").assert_code(0);

    // A smaller disk cannot be made: drift, with why, and nothing changes.
    let inv = inventory(&w, &m, "cpus: 2, memory: 1G, disk: 16G");
    let run = apply(&w, &inv);
    run.assert_code(1);
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("its disk cannot shrink"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(has(
        &config(&w),
        &format!("machine.{m}.disk_bytes: {}", 32u64 << 30)
    ));
}

/// orbsim processes of this test's state home that are still alive.
fn leftover(w: &World) -> Vec<String> {
    let home = w.home.display().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            let env = String::from_utf8_lossy(&env);
            let cmd = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            if env.contains(&format!("ORBSIM_HOME={home}")) && cmd.contains("list") {
                out.push(cmd.replace('\0', " "));
            }
        }
    }
    out
}

#[test]
fn a_hanging_list_is_exit_3_within_its_deadline_and_leaves_no_process() {
    let mut w = World::new("hanglist");
    let m = w.name("h");
    let inv = inventory(&w, &m, "");
    let orbctl = w.orbctl_wrapper("stopped-hang");
    w.env.push((
        "ORBDEPLOY_ORBCTL_DEADLINES".into(),
        "query=2,status=2".into(),
    ));
    let started = Instant::now();
    let run = w.orbdeploy(["--orbctl", orbctl.to_str().unwrap(), "plan", &inv]);
    let took = started.elapsed();
    run.assert_code(3);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "error: OrbStack is not running (`{} list -f json` did not answer in 2 s): start it with `orbctl start` or open the OrbStack app",
            orbctl.display()
        ),
    );
    // The run has ended; the killed `orbctl list` may still be on its way out.
    harness::wait_for("orbctl list to end", Duration::from_secs(3), || {
        leftover(&w).is_empty()
    });
}

#[test]
fn passing_create_errors_are_retried_and_an_outage_is_named() {
    let w = World::new("createerr");
    let m = w.name("c");
    let inv = inventory(&w, &m, "");
    // Cut twice, then the download works: created on the third try.
    let cut = w.orbctl_wrapper("create-error=rootfs-eof,create-error-times=2");
    let run = w.orbdeploy(["--orbctl", cut.to_str().unwrap(), "apply", &inv]);
    run.assert_code(0);
    assert_eq!(w.state(&m).as_deref(), Some("running"));
    w.orbctl(["delete", "-f", &m]).assert_code(0);
    // The index fetch times out once (its 15 s are cut to nothing here).
    let slow =
        w.orbctl_wrapper("create-error=index-timeout,create-error-times=1,create-error-after=0");
    w.orbdeploy(["--orbctl", slow.to_str().unwrap(), "apply", &inv])
        .assert_code(0);
    w.orbctl(["delete", "-f", &m]).assert_code(0);
    // The image service answers 404 every time: a few tries, then one clear message.
    let down = w.orbctl_wrapper("create-error=image-404");
    let run = w.orbdeploy(["--orbctl", down.to_str().unwrap(), "apply", &inv]);
    run.assert_code(3);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("OrbStack's image service is unavailable (3 tries; last:"),
        "{all}"
    );
    assert_eq!(w.state(&m), None, "no machine left behind");
}
