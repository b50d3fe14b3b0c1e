//! The end-to-end harness: every test drives the built `orbdeploy` binary against real
//! machines — orbsim's on Linux (the default), real OrbStack on a Mac when
//! `ORBDEPLOY_TEST_ORBCTL=orbctl` is set (see `scripts/test-macos.sh`).
//!
//! Each test gets a `World`: its own orbsim state home (so tests never see each other's
//! machines), unique machine names, and a guard that deletes every machine the test could
//! have made, even when the test fails. A world that cannot reach its real part panics
//! with the reason: tests are never silently skipped.

#![allow(dead_code)]

pub mod sshbed;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A tiny sysv service for the `service` steps of the every-kind tests (tests/suite/apply.rs,
/// tests/suite/ssh.rs), installed as `/etc/init.d/orbdtest`.
pub const INIT_SCRIPT: &str = r#"#!/bin/sh
# A tiny sysv service for the tests: a sleeping daemon with a pid file.
pidfile=/run/orbdtest.pid
case "$1" in
  start) setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo $! > $pidfile ;;
  stop) [ -f $pidfile ] && kill $(cat $pidfile); rm -f $pidfile ;;
  restart) $0 stop; $0 start ;;
  status) [ -f $pidfile ] && kill -0 $(cat $pidfile) 2>/dev/null ;;
esac
"#;

/// The steps of every operation kind that the every-kind tests (tests/suite/apply.rs, tests/suite/ssh.rs)
/// share, with hostile file names; each test adds its own steps after these. They read the
/// files [`every_kind_files`] writes.
pub const EVERY_KIND_STEPS: &str = r#"
- name: app directory
  directory: { path: /srv/app, mode: "0750", owner: dev }
  become: true
- name: binary file
  put: { src: files/blob.bin, dest: /srv/app/blob.bin, mode: "0640" }
  become: true
- name: hostile name
  put: { content: "it's $HOME; `id`\n", dest: "/srv/app/it's a \"file\" $x;y" }
  become: true
- name: config
  template: { src: templates/app.conf.j2, dest: /srv/app/app.conf, mode: "0600", owner: dev, group: dev }
  become: true
- name: marker file
  file: { path: /srv/app/marker, mode: "0604" }
  become: true
- name: no stale file
  file: { path: /tmp/stale, state: absent }
- name: setting
  line: { path: /srv/app/settings, line: "max=10", regexp: "^max=" }
  become: true
- name: no debug line
  line: { path: /srv/app/settings, line: "debug=1", state: absent }
  become: true
- name: no pager
  packages: { names: [less], state: absent }
- name: ps is there
  packages: { names: [procps] }
- name: app user
  user: { name: appuser, shell: /bin/sh, groups: [sudo] }
- name: init script
  put: { src: files/orbdtest, dest: /etc/init.d/orbdtest, mode: "0755" }
  become: true
- name: service running
  service: { name: orbdtest, state: started }
- name: fetch hostname
  get: { src: /etc/hostname, dest: "out/{{ machine }}/hostname" }
"#;

/// The files [`EVERY_KIND_STEPS`] read: a 70 000-byte binary of every byte value, the init
/// script, and `template` as `templates/app.conf.j2`.
pub fn every_kind_files(w: &World, template: &str) {
    w.write(
        "files/blob.bin",
        (0..=255u8).cycle().take(70_000).collect::<Vec<u8>>(),
    );
    w.write("files/orbdtest", INIT_SCRIPT);
    w.write("templates/app.conf.j2", template);
}

/// How long any single command of a test may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One test's machines, files and orbctl.
pub struct World {
    /// Temp dir with the inventory, operations and local files of the test.
    pub dir: tempfile::TempDir,
    /// The orbctl the test uses (a symlink to orbsim named `orbctl`, or real orbctl).
    pub orbctl: PathBuf,
    /// orbsim's state home for this test (unused against real OrbStack).
    pub home: PathBuf,
    /// Unique prefix of every machine name this test makes.
    pub prefix: String,
    /// True when running against real OrbStack.
    pub real_orbstack: bool,
    /// Extra environment for every command (e.g. ORBSIM_FAULTS).
    pub env: Vec<(String, String)>,
}

/// Where cargo put the binaries of this workspace.
fn bin_dir() -> PathBuf {
    let me = PathBuf::from(env!("CARGO_BIN_EXE_orbdeploy"));
    me.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Poll `check` until it holds (true) or `limit` has passed (false): tests wait for the
/// event they need (a step started, processes gone), never a fixed time.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    // The pause grows from 20 ms to 150 ms: most waits end within the first few checks,
    // and a long one whose check runs a process in a machine costs far fewer checks than
    // at a steady 20 ms. The last check is made at the deadline.
    let mut pause = Duration::from_millis(20);
    while !check() {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 3 / 2).min(Duration::from_millis(150));
    }
    true
}

/// [`wait_until`], or panic naming `what`.
pub fn wait_for(what: &str, limit: Duration, check: impl FnMut() -> bool) {
    assert!(
        wait_until(limit, check),
        "timed out after {limit:?} waiting for {what}"
    );
}

/// The built orbdeploy binary.
pub fn orbdeploy_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_orbdeploy"))
}

impl World {
    /// A fresh world. Panics with the reason when orbsim (or orbctl) cannot be used.
    pub fn new(test: &str) -> World {
        let dir = tempfile::Builder::new()
            .prefix("orbdeploy-e2e-")
            .tempdir()
            .expect("cannot create a temp dir");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Unique per test, process and moment; short because machine names end up in
        // hostnames and interface names.
        let tag: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(8)
            .collect::<String>()
            .to_lowercase();
        let prefix = format!(
            "t{}-{:x}{:x}-{}",
            tag,
            std::process::id() % 0xfff,
            (nanos >> 12) % 0xfff,
            n
        );
        let home = dir.path().join("orbsim-home");
        let real_orbstack = std::env::var("ORBDEPLOY_TEST_ORBCTL").is_ok();
        let orbctl = match std::env::var("ORBDEPLOY_TEST_ORBCTL") {
            Ok(bin) => PathBuf::from(bin),
            Err(_) => {
                let orbsim = bin_dir().join("orbsim");
                assert!(
                    orbsim.exists(),
                    "orbsim is not built at {}: run `cargo build --workspace --bins` (scripts/test.sh does)",
                    orbsim.display()
                );
                let link_dir = dir.path().join("bin");
                std::fs::create_dir_all(&link_dir).expect("mkdir bin");
                let link = link_dir.join("orbctl");
                std::os::unix::fs::symlink(&orbsim, &link).expect("symlink orbctl -> orbsim");
                link
            }
        };
        World {
            dir,
            orbctl,
            home,
            prefix,
            real_orbstack,
            env: Vec::new(),
        }
    }

    /// A machine name unique to this test.
    pub fn name(&self, short: &str) -> String {
        format!("{}-{}", self.prefix, short)
    }

    /// Path of a file inside the test's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write a file (creating parent directories) into the test's directory.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write test file");
        p
    }

    fn base_env(&self, cmd: &mut Command) {
        cmd.env("ORBSIM_HOME", &self.home)
            .env("ORBDEPLOY_ORBCTL", &self.orbctl)
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env_remove("ORBSIM_FAULTS")
            .current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
    }

    /// Run orbdeploy with these arguments.
    pub fn orbdeploy<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut cmd = Command::new(orbdeploy_bin());
        cmd.args(args.into_iter().map(Into::into));
        self.base_env(&mut cmd);
        run_with_timeout(cmd)
    }

    /// Run orbctl (orbsim or real) directly, to check what orbdeploy did.
    pub fn orbctl<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut cmd = Command::new(&self.orbctl);
        cmd.args(args.into_iter().map(Into::into));
        self.base_env(&mut cmd);
        run_with_timeout(cmd)
    }

    /// The JSON report a run wrote to `name` (relative to the test's directory), checked
    /// against docs/report-schema.json.
    pub fn report(&self, name: &str) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc: serde_json::Value = serde_json::from_str(&text).expect("report is JSON");
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/report-schema.json"))
                .expect("the schema is JSON");
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "report {name} does not match docs/report-schema.json: {errors:#?}"
        );
        doc
    }

    /// `orbctl list -f json`, parsed.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let out = self.orbctl(["list", "-f", "json"]);
        out.assert_code(0);
        serde_json::from_str(&out.stdout).expect("list -f json is JSON")
    }

    /// The state of one machine (`None` when it does not exist).
    pub fn state(&self, name: &str) -> Option<String> {
        self.list()
            .into_iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["state"].as_str().map(str::to_string))
    }

    /// Run a shell command inside a machine, as its default user or `user`.
    pub fn sh(&self, machine: &str, user: Option<&str>, script: &str) -> Run {
        let mut args: Vec<String> = vec!["run".into(), "-m".into(), machine.into()];
        if let Some(u) = user {
            args.push("-u".into());
            args.push(u.into());
        }
        args.extend([
            "-w".into(),
            "/".into(),
            "sh".into(),
            "-c".into(),
            script.into(),
        ]);
        self.orbctl(args)
    }

    /// Create a machine directly with orbctl (for tests about existing machines).
    pub fn create(&self, name: &str) {
        self.orbctl(["create", "debian:bookworm", name])
            .assert_code(0);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Delete every machine whose name carries this test's prefix, whatever happened —
        // without the test's extra environment (a fault such as `not-running` would make the
        // cleanup itself fail and leak the machines).
        self.env.clear();
        let out = self.orbctl(["list", "-q"]);
        assert!(
            out.code == 0 || std::thread::panicking(),
            "cleanup: `orbctl list` failed: {}",
            out.stderr
        );
        for name in out.stdout.lines().filter(|n| n.starts_with(&self.prefix)) {
            let _ = self.orbctl(["delete", "-f", name]);
        }
    }
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// stdout as text.
    pub stdout: String,
    /// stderr as text.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    /// Assert the exit code, showing both streams when it differs.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn run_with_timeout(mut cmd: Command) -> Run {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output: Output = match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(out) => out.unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{pid}")])
                .status();
            panic!("{cmd:?} did not finish within {COMMAND_TIMEOUT:?}");
        }
    };
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

impl World {
    /// A script named `orbctl` that runs this world's orbctl with its state home and the
    /// given faults — for tests that call orbdeploy's library in-process.
    pub fn orbctl_wrapper(&self, faults: &str) -> PathBuf {
        let dir = self
            .dir
            .path()
            .join(format!("wrap-{}", COUNTER.fetch_add(1, Ordering::SeqCst)));
        std::fs::create_dir_all(&dir).expect("mkdir wrapper");
        let script = dir.join("orbctl");
        let target = std::fs::canonicalize(&self.orbctl).unwrap_or_else(|_| self.orbctl.clone());
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexport ORBSIM_HOME='{}' ORBSIM_FAULTS='{}'\nexec '{}' \"$@\"\n",
                self.home.display(),
                faults,
                target.display()
            ),
        )
        .expect("write wrapper");
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .expect("chmod");
        script
    }
}

/// The `--report` document's entry for `machine` (panics, naming it, when there is none).
pub fn machine_entry<'a>(doc: &'a serde_json::Value, machine: &str) -> &'a serde_json::Value {
    doc["machines"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["machine"] == machine))
        .unwrap_or_else(|| panic!("no machine {machine} in the report: {doc}"))
}

/// Every step of `machine` in a report, in order: (name, status).
pub fn step_statuses(doc: &serde_json::Value, machine: &str) -> Vec<(String, String)> {
    let steps = machine_entry(doc, machine)["steps"].as_array();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    steps
        .into_iter()
        .flatten()
        .map(|s| (text(&s["name"]), text(&s["status"])))
        .collect()
}

/// A count of the report's summary (`changed`, `failed`, ...); panics when it is missing.
pub fn summary_count(doc: &serde_json::Value, key: &str) -> u64 {
    doc["summary"]["counts"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no summary count `{key}` in the report: {doc}"))
}
