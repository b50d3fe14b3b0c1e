//! The command line end to end with a recording fake orbctl: exact outputs, exit codes,
//! and the orbctl calls made. (Tests against real machines live in `tests/e2e.rs`.)

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temp dir with a fake `orbctl` that logs every argv and answers from files.
struct Fake {
    dir: tempfile::TempDir,
}

const FAKE: &str = r#"#!/bin/sh
# Recording fake orbctl: one line per call in $dir/calls.log, answers from files in $dir.
dir=$(dirname "$0")
printf '%s\n' "$*" >> "$dir/calls.log"
if [ -f "$dir/down" ]; then
  [ "$1" = status ] && { echo Stopped; exit 1; }
  echo "dial unix /var/run/orbstack.sock: connect: connection refused" >&2; exit 1
fi
case "$1" in
  status) echo Running ;;
  list) cat "$dir/list.json" ;;
  info)
    if [ -f "$dir/info-$2.json" ]; then cat "$dir/info-$2.json"
    else echo "[-32098] machine not found: '$2'" >&2; exit 1; fi ;;
  *) echo "fake: unexpected call: $*" >&2; exit 99 ;;
esac
"#;

fn record(name: &str, state: &str) -> String {
    format!(
        r#"{{"id":"01K2G8TY5GM9C3CN95KCB4ZG8B","name":"{name}","image":{{"distro":"debian","version":"bookworm","arch":"amd64","variant":"default"}},"config":{{"isolated":false,"default_username":"dev"}},"builtin":false,"state":"{state}"}}"#
    )
}

impl Fake {
    fn new(machines: &[(&str, &str)]) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("orbctl");
        std::fs::write(&bin, FAKE).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&bin)
            .status()
            .unwrap();
        let list: Vec<String> = machines.iter().map(|(n, s)| record(n, s)).collect();
        std::fs::write(
            dir.path().join("list.json"),
            format!("[{}]\n", list.join(",")),
        )
        .unwrap();
        for (n, s) in machines {
            let ip = if *s == "running" {
                r#","ip4":"198.19.249.7""#
            } else {
                ""
            };
            std::fs::write(
                dir.path().join(format!("info-{n}.json")),
                format!(r#"{{"record":{},"disk_size":null{ip}}}"#, record(n, s)),
            )
            .unwrap();
        }
        Fake { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("orbctl")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("orbdeploy").unwrap();
        c.env("ORBDEPLOY_ORBCTL", self.path())
            .env_remove("CI")
            .current_dir(self.dir.path());
        c
    }
}

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
  groups: all, web, orbstack_running, orbstack_amd64, orbstack_debian
  arch    = \"amd64\"  (built-in)
  distro  = \"debian\"  (built-in)
  env     = \"prod\"  (--var)
  groups  = [\"all\",\"web\",\"orbstack_running\",\"orbstack_amd64\",\"orbstack_debian\"]  (built-in)
  ip4     = \"198.19.249.7\"  (built-in)
  machine = \"web-1\"  (built-in)
  port    = 81  (machine web-1)
  token   = \"***\"  (vars)
  user    = \"dev\"  (built-in)
  version = \"bookworm\"  (built-in)
ci-x  (stopped)
  groups: all, orbstack_stopped, orbstack_amd64, orbstack_debian
  arch    = \"amd64\"  (built-in)
  distro  = \"debian\"  (built-in)
  env     = \"prod\"  (--var)
  groups  = [\"all\",\"orbstack_stopped\",\"orbstack_amd64\",\"orbstack_debian\"]  (built-in)
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
        "error: inv.yaml:2:12: unknown field `grups`, expected one of `groups`, `vars`, `image`, `arch`, `user`, `create`, `state`\n"
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
web-1  running  debian  bookworm  amd64
db-1   stopped  debian  bookworm  amd64
"
    );
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
