//! A recording fake orbctl shared by the command-line tests: it logs every argv and
//! answers from files, so tests can assert the exact orbctl calls orbdeploy makes.

#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;

/// A temp dir with a fake `orbctl` that logs every argv and answers from files.
pub struct Fake {
    pub dir: tempfile::TempDir,
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
  create|start|stop|restart|delete|clone)
    if [ -f "$dir/fail-$1" ]; then cat "$dir/fail-$1" >&2; exit 1; fi ;;
  run)
    # Run the command locally, with the machine's name in $FAKE_MACHINE.
    shift
    while [ $# -gt 0 ]; do
      case "$1" in -m) FAKE_MACHINE=$2; shift 2 ;; -u|-w) shift 2 ;; *) break ;; esac
    done
    export FAKE_MACHINE
    exec "$@" ;;
  *) echo "fake: unexpected call: $*" >&2; exit 99 ;;
esac
"#;

pub fn record(name: &str, state: &str) -> String {
    format!(
        r#"{{"id":"01K2G8TY5GM9C3CN95KCB4ZG8B","name":"{name}","image":{{"distro":"debian","version":"bookworm","arch":"amd64","variant":"default"}},"config":{{"isolated":false,"default_username":"dev"}},"builtin":false,"state":"{state}"}}"#
    )
}

impl Fake {
    pub fn new(machines: &[(&str, &str)]) -> Fake {
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

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("orbctl")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("orbdeploy").unwrap();
        c.env("ORBDEPLOY_ORBCTL", self.path())
            .env_remove("CI")
            .current_dir(self.dir.path());
        c
    }
}
