//! The command line end to end with a recording fake orbctl: exact outputs, exit codes,
//! and the orbctl calls made. (Tests against real machines live in `tests/suite/e2e.rs`.)

use std::path::Path;

use assert_cmd::Command;

use crate::fake;

use fake::Fake;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn rel(p: &Path, dir: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

#[test]
fn inventory_explain_shows_values_and_sources() {
    let fake = Fake::new(&[("web-1", "running"), ("ci-x", "stopped")]);
    fake.write(
        "inv.yaml",
        "vars: { env: dev, token: s3cret }\nsecrets: [token]\ngroups:\n  web: { vars: { port: 8080 } }\nmachines:\n  web-1: { groups: [web], vars: { port: 81 } }\ndiscover: { match: \"ci-*\" }\n",
    );
    let out = fake
        .cmd()
        .args(["inventory", "inv.yaml", "--explain", "--var", "env=prod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "\
web-1  (running)
  groups: all, web, orbstack_running, orbstack_amd64, orbstack_debian, transport_orbctl
  arch    = \"amd64\"  (built-in)
  distro  = \"debian\"  (built-in)
  env     = \"prod\"  (--var)
  groups  = [\"all\",\"web\",\"orbstack_running\",\"orbstack_amd64\",\"orbstack_debian\",\"transport_orbctl\"]  (built-in)
  ip4     = \"198.19.249.7\"  (built-in)
  machine = \"web-1\"  (built-in)
  port    = 81  (machine web-1)
  token   = \"***\"  (vars)
  user    = \"dev\"  (built-in)
  version = \"bookworm\"  (built-in)
ci-x  (stopped)
  groups: all, orbstack_stopped, orbstack_amd64, orbstack_debian, transport_orbctl
  arch    = \"amd64\"  (built-in)
  distro  = \"debian\"  (built-in)
  env     = \"prod\"  (--var)
  groups  = [\"all\",\"orbstack_stopped\",\"orbstack_amd64\",\"orbstack_debian\",\"transport_orbctl\"]  (built-in)
  ip4     = null  (built-in)
  machine = \"ci-x\"  (built-in)
  token   = \"***\"  (vars)
  user    = \"dev\"  (built-in)
  version = \"bookworm\"  (built-in)
"
    );
    assert!(!text(&out.stdout).contains("s3cret"));
    // Read-only: one list, one info for the running machine, nothing else.
    assert_eq!(fake.calls(), ["list -f json", "info web-1 -f json"]);
}

#[test]
fn inventory_json_is_one_document() {
    let fake = Fake::new(&[("web-1", "running")]);
    fake.write(
        "inv.yaml",
        "machines:\n  web-1: {}\n  db-1: { create: true }\n",
    );
    let out = fake
        .cmd()
        .args(["inventory", "inv.yaml", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["machines"][0]["name"], "web-1");
    assert_eq!(doc["machines"][0]["state"], "running");
    assert_eq!(doc["machines"][1]["state"], "missing");
    assert_eq!(doc["machines"][1]["desired"]["create"], true);
}

#[test]
fn bad_inventory_is_exit_2_with_position_and_no_orbctl_call() {
    let fake = Fake::new(&[]);
    let inv = fake.write("inv.yaml", "machines:\n  web-1: { grups: [web] }\n");
    let out = fake.cmd().args(["inventory", "inv.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: inv.yaml:2:12: unknown field `grups`; did you mean `groups`? Expected one of `groups`, `vars`, `vars_files`, `become_password`, `image`, `arch`, `user`, `create`, `state`, `ssh`, `cpus`, `memory`, `disk`, `isolated`, `mounts`, `isolate_network`, `forward_ssh_agent`, `cloud_init`, `restart_for_settings`\n"
    );
    assert_eq!(rel(&inv, fake.dir.path()), "inv.yaml");
    assert!(
        fake.calls().is_empty(),
        "orbctl was called: {:?}",
        fake.calls()
    );
}

#[test]
fn missing_inventory_file_is_exit_2() {
    let fake = Fake::new(&[]);
    let out = fake
        .cmd()
        .args(["inventory", "nope.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: nope.yaml: cannot read file: no such file\n"
    );
}

#[test]
fn bad_var_flag_is_exit_2() {
    let fake = Fake::new(&[]);
    fake.write("inv.yaml", "machines: {}\n");
    let out = fake
        .cmd()
        .args(["inventory", "inv.yaml", "--var", "novalue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --var `novalue`: expected NAME=VALUE\n"
    );
}

#[test]
fn unknown_flag_is_exit_2() {
    let fake = Fake::new(&[]);
    let out = fake
        .cmd()
        .args(["inventory", "--frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--frobnicate'"));
}

#[test]
fn orbctl_missing_is_exit_3_with_remedy() {
    let fake = Fake::new(&[]);
    fake.write("inv.yaml", "machines: {}\n");
    let out = fake
        .cmd()
        .env("ORBDEPLOY_ORBCTL", "/nonexistent/orbctl")
        .args(["inventory", "inv.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: orbctl not found at `/nonexistent/orbctl`: install OrbStack (https://orbstack.dev), or pass --orbctl PATH / set ORBDEPLOY_ORBCTL\n"
    );
}

#[test]
fn orbstack_not_running_is_exit_3() {
    let fake = Fake::new(&[]);
    fake.write("down", "");
    let out = fake.cmd().args(["machines", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: OrbStack is not running (dial unix /var/run/orbstack.sock: connect: connection refused): start it with `orbctl start` or open the OrbStack app\n"
    );
    assert_eq!(fake.calls(), ["list -f json", "status"]);
}

#[test]
fn machines_list_prints_a_table() {
    let fake = Fake::new(&[("web-1", "running"), ("db-1", "stopped")]);
    let out = fake.cmd().args(["machines", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "\
NAME   STATE    DISTRO  VERSION   ARCH   IP
web-1  running  debian  bookworm  amd64  198.19.249.7
db-1   stopped  debian  bookworm  amd64
"
    );
    assert_eq!(fake.calls(), ["list -f json", "info web-1 -f json"]);
}

#[test]
fn machines_info_of_a_missing_machine_is_exit_3() {
    let fake = Fake::new(&[]);
    let out = fake
        .cmd()
        .args(["machines", "info", "ghost"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: reading machine `ghost`: machine `ghost` does not exist: create it with `orbdeploy machines create`, or set `create: true` in the inventory\n"
    );
}

#[test]
fn machines_delete_of_a_missing_machine_does_not_advise_creating_it() {
    let fake = Fake::new(&[]);
    // orbctl's own words for a machine it does not know.
    std::fs::write(
        fake.dir.path().join("fail-delete"),
        "[-32098] machine not found: 'nope'\n",
    )
    .unwrap();
    let out = fake
        .cmd()
        .args(["machines", "delete", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "error: deleting `nope`: machine `nope` does not exist, nothing to delete (`orbdeploy machines list` shows the machines there are)\n"
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::cargo_bin("orbdeploy")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("orbdeploy"), "{shell}");
    }
}

#[test]
fn lifecycle_calls_use_the_exact_argv() {
    let fake = Fake::new(&[]);
    let run = |args: &[&str]| {
        let out = fake.cmd().args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    assert_eq!(
        run(&[
            "machines",
            "create",
            "web-1",
            "--image",
            "debian:trixie",
            "--arch",
            "amd64",
            "--user",
            "deploy"
        ]),
        "web-1: created\n"
    );
    assert_eq!(
        run(&["machines", "start", "a1", "b1"]),
        "a1: started\nb1: started\n"
    );
    assert_eq!(run(&["machines", "stop", "a1"]), "a1: stopped\n");
    assert_eq!(run(&["machines", "restart", "a1"]), "a1: restarted\n");
    assert_eq!(run(&["machines", "delete", "a1"]), "a1: deleted\n");
    assert_eq!(
        run(&["machines", "clone", "a1", "c1"]),
        "c1: cloned from a1 (stopped)\n"
    );
    assert_eq!(
        fake.calls(),
        [
            "create -a amd64 -u deploy debian:trixie web-1",
            "start a1",
            "start b1",
            "stop a1",
            "restart a1",
            "delete -f a1",
            "clone a1 c1",
        ]
    );
}

#[test]
fn create_if_missing_is_idempotent() {
    let fake = Fake::new(&[("web-1", "running")]);
    let out = fake
        .cmd()
        .args(["machines", "create", "web-1", "--if-missing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "web-1: exists\n");
    assert_eq!(fake.calls(), ["list -f json"]);
}

#[test]
fn create_errors_are_classified() {
    let fake = Fake::new(&[]);
    fake.write(
        "fail-create",
        "[-32098] create 'web-1': machine already exists: 'web-1'\n",
    );
    let out = fake
        .cmd()
        .args(["machines", "create", "web-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: creating machine `web-1`: machine `web-1` already exists\n"
    );
    let out = fake
        .cmd()
        .args(["machines", "create", "web_1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        fake.calls().iter().all(|c| !c.contains("web_1")),
        "an invalid name reached orbctl"
    );
}

#[test]
fn stop_and_delete_require_names() {
    let fake = Fake::new(&[]);
    for verb in ["stop", "delete", "start", "restart"] {
        let out = fake.cmd().args(["machines", verb]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{verb}");
    }
    assert!(fake.calls().is_empty());
}

#[test]
fn exec_runs_on_every_machine_and_fails_when_one_fails() {
    for transport in ["channel", "no-channel"] {
        let fake = Fake::new(&[("a1", "running"), ("b1", "running"), ("c1", "stopped")]);
        fake.write("inv.yaml", "machines:\n  a1: {}\n  b1: {}\n  c1: {}\n");
        let mut args = vec!["exec", "inv.yaml", "--parallel", "1"];
        if transport == "no-channel" {
            args.push("--no-channel");
        }
        args.extend([
            "--",
            "sh",
            "-c",
            "echo on $FAKE_MACHINE; test $FAKE_MACHINE != b1",
        ]);
        let out = fake.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let blocks: Vec<&str> = stdout.split("== ").filter(|b| !b.is_empty()).collect();
        assert_eq!(blocks.len(), 3, "{transport}: {stdout}");
        assert!(
            blocks[0].starts_with("a1 (exit code 0, ") && blocks[0].ends_with("s) ==\non a1\n"),
            "{transport}: {stdout}"
        );
        assert!(blocks[1].starts_with("b1 (exit code 1, "), "{stdout}");
        assert!(blocks[2].starts_with("c1 (exit code 0, "), "{stdout}");
        assert_eq!(
            text(&out.stderr),
            "error: the command failed on 1 of 3 machines\n"
        );
        // The command goes through orbdeploy's transport, like a step: over the channel,
        // one session per machine (orbctl run of the agent) carries it; with --no-channel,
        // one orbctl run per machine whose argv is only the reader of the script on stdin:
        // the command is in no argv.
        let runs: Vec<String> = fake
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("run "))
            .collect();
        let sessions = |m: &str| {
            runs.iter()
                .filter(|c| c.starts_with(&format!("run -m {m} -w / sh -c ")))
                .count()
        };
        assert_eq!(
            (runs.len(), sessions("a1"), sessions("b1"), sessions("c1")),
            (3, 1, 1, 1),
            "{transport}: {runs:?}"
        );
        if transport == "no-channel" {
            assert!(
                runs[1].starts_with("run -m b1 -w / sh -c IFS= read -r __od_n"),
                "{runs:?}"
            );
            assert!(runs.iter().all(|r| !r.contains("echo on")), "{runs:?}");
        } else {
            assert!(
                runs[1].starts_with("run -m b1 -w / sh -c __od_"),
                "{runs:?}"
            );
        }
    }
}

#[test]
fn exec_on_a_missing_machine_is_exit_3() {
    let fake = Fake::new(&[("a1", "running")]);
    fake.write("inv.yaml", "machines:\n  a1: {}\n  zz: {}\n");
    let out = fake
        .cmd()
        .args(["exec", "inv.yaml", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!fake.calls().iter().any(|c| c.starts_with("run")));
}

#[test]
fn exec_refuses_a_command_that_starts_with_a_dash() {
    let fake = Fake::new(&[("a1", "running")]);
    fake.write("inv.yaml", "machines:\n  a1: {}\n");
    let out = fake
        .cmd()
        .args(["exec", "inv.yaml", "--", "-x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(fake.calls().is_empty());
}

/// `--version` names the version and the commit built from: `git rev-parse --short HEAD` of
/// this checkout (build.rs), or `unknown` when the source is not a git checkout.
#[test]
fn version_names_the_git_commit() {
    let out = Command::cargo_bin("orbdeploy")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    let commit = head.unwrap_or_else(|| "unknown".into());
    assert_eq!(
        text(&out.stdout),
        format!(
            "orbdeploy {} (commit {commit})\n",
            env!("CARGO_PKG_VERSION")
        ),
        "the binary names another commit than HEAD (a commit made after it was built?)"
    );
}

/// A selection that leaves no machine is exit 2 for apply, plan and exec, saying what was
/// selected and what exists; `--allow-empty` makes it a run that does nothing.
#[test]
fn an_empty_selection_is_exit_2_unless_allowed() {
    let fake = Fake::new(&[("web-1", "running")]);
    fake.write("inv.yaml", "machines:\n  web-1: {}\n");
    let runs: [&[&str]; 3] = [
        &["apply", "inv.yaml", "--limit", "zz-*"],
        &["plan", "inv.yaml", "--limit", "zz-*"],
        &["exec", "inv.yaml", "--limit", "zz-*", "--", "true"],
    ];
    for args in runs {
        let out = fake.cmd().env("NO_COLOR", "1").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            "error: --limit `zz-*` selects no machine: the inventory has machine `web-1`; give --allow-empty if nothing to do is fine\n",
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        let mut allowed: Vec<&str> = args.to_vec();
        allowed.insert(2, "--allow-empty");
        let out = fake
            .cmd()
            .env("NO_COLOR", "1")
            .args(&allowed)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{allowed:?}: {}",
            text(&out.stderr)
        );
    }
    let changing: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| !(c.starts_with("list") || c.starts_with("info") || c.starts_with("status")))
        .collect();
    assert!(changing.is_empty(), "{changing:?}");
}

/// `machines list --json | head`: a reader that goes away ends the command quietly with
/// the status a shell gives a process SIGPIPE ended.
#[test]
fn a_closed_stdout_ends_quietly_with_141() {
    let fake = Fake::new(&[("web-1", "running"), ("web-2", "running")]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("orbdeploy"))
        .args(["machines", "list", "--json"])
        .env("ORBDEPLOY_ORBCTL", fake.path())
        .current_dir(fake.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before anything is written: orbctl is asked first.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(text(&out.stderr), "");

    // A script of 100 kB or so into a pipe nobody reads: no panic from the generator.
    let (read, write) = std::io::pipe().unwrap();
    drop(read);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("orbdeploy"))
        .args(["completions", "bash"])
        .stdout(write)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn init_writes_a_starting_point_that_plan_accepts() {
    let fake = Fake::new(&[]);
    let out = fake.cmd().args(["init", "start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("wrote start/inventory.yaml\n"), "{said}");
    assert!(
        said.contains("\nNext:\n  orbdeploy plan start/inventory.yaml "),
        "{said}"
    );
    // The machine does not exist yet: a plan says it would be created, exit 0.
    let plan = fake
        .cmd()
        .args(["plan", "start/inventory.yaml", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    assert!(text(&plan.stdout).contains("\"action\":\"create\""));
    // A second init changes nothing and says why.
    let again = fake.cmd().args(["init", "start"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        text(&again.stderr),
        "error: init: start/inventory.yaml exists already; nothing was written (choose an empty directory: `orbdeploy init DIR`)\n"
    );
}
