//! The live progress display in a real pseudo-terminal: `orbdeploy apply --progress
//! always` runs inside a tmux session of its own (its own server socket), on the recording
//! fake orbctl whose `run` executes the channel agent on this machine, and the screen is
//! read with `tmux capture-pane` while a step sleeps. Two screens taken seconds apart show
//! the run's clock and the running step's age moving during the step, not only when a
//! step ends; a run of 30 machines on a 20-line terminal shows a screenful and a line
//! for the rest.
//!
//! tmux is required: a test that cannot find it fails and says how to install it
//! (`scripts/setup.sh` does).

use crate::snap;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use snap::Project;

/// A tmux server of this test's own, killed when dropped (also when the test fails).
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached session of `cols` × `rows` running `command` in `dir`, then keeping its
    /// screen until it is read.
    fn start(name: &str, dir: &Path, cols: u16, rows: u16, command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("orbdeploy-live-{name}-{}", std::process::id()),
        };
        let shell = format!("{command}; echo \"EXIT=$?\"; sleep 120");
        let out = t
            .cmd()
            .args(["new-session", "-d", "-s", "live", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .arg("-c")
            .arg(dir)
            .arg(shell)
            .output()
            .unwrap_or_else(|e| {
                panic!("tmux could not be started ({e}): install it (scripts/setup.sh does)")
            });
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// The screen as it is now, one string per line.
    fn screen(&self) -> Vec<String> {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "live"])
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux capture-pane failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The screen once `done` holds for it (within a minute).
    fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what}; the screen:\n{}",
                s.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// `orbdeploy ARGS` as a person at a terminal runs it (no `CI`), for the session's shell.
fn command_line(p: &Project, args: &str) -> String {
    format!(
        "env -u CI -u ORBDEPLOY_TRACE_DIR NO_COLOR=1 ORBDEPLOY_ORBCTL='{}' '{}' {args}",
        p.fake.path().display(),
        env!("CARGO_BIN_EXE_orbdeploy")
    )
}

/// The seconds of a clock the display shows (`7s`, `2m05s`) at the end of `text`.
fn seconds(text: &str) -> u64 {
    let word = text.split_whitespace().last().unwrap_or("");
    let (m, s) = match word.split_once('m') {
        Some((m, s)) => (m.parse::<u64>().unwrap_or(0), s),
        None => (0, word),
    };
    let s: u64 = s
        .strip_suffix('s')
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no clock at the end of {text:?}"));
    m * 60 + s
}

/// The bar's line (`   apply [===>  ] 1/2 steps 3s`) and the line of `machine`'s step.
fn bar_and_step(screen: &[String], machine_step: &str) -> (String, String) {
    let bar = screen
        .iter()
        .find(|l| l.trim_start().starts_with("apply ["))
        .unwrap_or_else(|| panic!("no bar on the screen:\n{}", screen.join("\n")));
    let step = screen
        .iter()
        .find(|l| l.trim_start().starts_with(machine_step))
        .unwrap_or_else(|| panic!("no line for {machine_step}:\n{}", screen.join("\n")));
    (bar.clone(), step.clone())
}

#[test]
fn the_clock_and_the_step_age_move_while_a_step_runs() {
    let p = Project::new(&[("devbox", "running")], "machines:\n  devbox: {}\n");
    p.write(
        "ops.yaml",
        "- name: quick\n  shell: \"true\"\n\
         - name: wait for it\n  shell: \"touch {{ root }}/started; sleep 8\"\n",
    );
    let cmd = command_line(&p, "apply inv.yaml --progress always");
    let tmux = Tmux::start("clock", p.dir(), 100, 30, &cmd);
    let started = p.work().join("started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "the sleeping step never started; the screen:\n{}",
            tmux.screen().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let first = tmux.screen();
    std::thread::sleep(Duration::from_millis(2000));
    let second = tmux.screen();
    let (bar1, step1) = bar_and_step(&first, "devbox: wait for it");
    let (bar2, step2) = bar_and_step(&second, "devbox: wait for it");
    let both = format!(
        "first:\n{}\nsecond:\n{}",
        first.join("\n"),
        second.join("\n")
    );
    // No step ended between the two screens, yet the clock moved...
    assert!(
        bar1.contains("1/2 steps") && bar2.contains("1/2 steps"),
        "{both}"
    );
    assert!(seconds(&bar2) > seconds(&bar1), "{both}");
    // ... and so did the step's age on its line.
    // The first screen is taken 1.5 s into the step; a loaded machine may take it later
    // (the step sleeps 8 s so that both screens fall inside it even then).
    let (age1, age2) = (seconds(&step1), seconds(&step2));
    assert!((1..=5).contains(&age1), "{both}");
    assert!(age2 > age1, "{both}");
    assert!(
        !step2.contains("slow"),
        "8 s is under the threshold: {both}"
    );
    // At the end the live area is gone and the run's summary is there.
    let end = tmux.wait_for("the run's end", |s| {
        s.iter().any(|l| l.starts_with("EXIT="))
    });
    assert!(end.iter().any(|l| l == "EXIT=0"), "{}", end.join("\n"));
    assert!(
        !end.iter().any(|l| l.trim_start().starts_with("apply [")),
        "{}",
        end.join("\n")
    );
    assert!(
        end.iter().any(|l| l.starts_with("devbox: ran wait for it")),
        "{}",
        end.join("\n")
    );
}

#[test]
fn thirty_machines_on_twenty_lines_show_a_screenful_and_count_the_rest() {
    let names: Vec<String> = (0..30).map(|i| format!("m{i:02}")).collect();
    let machines: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "running")).collect();
    let inv: String = std::iter::once("machines:\n".to_string())
        .chain(names.iter().map(|n| format!("  {n}: {{}}\n")))
        .collect();
    let p = Project::new(&machines, &inv);
    p.write(
        "ops.yaml",
        "- name: nap\n  shell: \"touch {{ root }}/{{ machine }}; sleep 6\"\n",
    );
    let cmd = command_line(&p, "apply inv.yaml --progress always --parallel 20");
    let tmux = Tmux::start("many", p.dir(), 100, 20, &cmd);
    // How many run at once is up to the machine's load; 8 or more fill the area.
    let full = |s: &[String]| -> Option<String> {
        s.iter()
            .find(|l| l.starts_with("  … and 23 more: ") && l.contains(" running"))
            .cloned()
    };
    let screen = tmux.wait_for("a full live area", |s| full(s).is_some());
    let text = screen.join("\n");
    // A 20-line terminal gives the live area 8 lines: 7 machines and the rest.
    let lines: Vec<&String> = screen
        .iter()
        .filter(|l| l.starts_with("  m") && (l.contains(": nap ") || l.contains(": starting ")))
        .collect();
    assert_eq!(lines.len(), 7, "{text}");
    // The rest is counted in full: running, done and waiting add up to 23.
    let rest = full(&screen).unwrap_or_default();
    let counted: usize = rest
        .trim_start_matches("  … and 23 more: ")
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(counted, 23, "{text}");
    let end = tmux.wait_for("the run's end", |s| {
        s.iter().any(|l| l.starts_with("EXIT="))
    });
    assert!(end.iter().any(|l| l == "EXIT=0"), "{}", end.join("\n"));
}

/// The screen while `devbox` sleeps in its second step, for `orbdeploy apply FLAGS` with
/// `env` before it.
fn screen_during_a_step(env: &str, flags: &str) -> Vec<String> {
    let p = Project::new(&[("devbox", "running")], "machines:\n  devbox: {}\n");
    p.write(
        "ops.yaml",
        "- name: quick\n  shell: \"true\"\n\
         - name: wait for it\n  shell: \"touch {{ root }}/started; sleep 4\"\n",
    );
    // After env's options: an assignment ends them.
    let cmd = command_line(&p, &format!("apply inv.yaml {flags}")).replacen(
        "NO_COLOR=1 ",
        &format!("NO_COLOR=1 {env} "),
        1,
    );
    let tmux = Tmux::start("modes", p.dir(), 100, 30, &cmd);
    let started = p.work().join("started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "the sleeping step never started; the screen:\n{}",
            tmux.screen().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1200));
    let screen = tmux.screen();
    tmux.wait_for("the run's end", |s| s.iter().any(|l| l == "EXIT=0"));
    screen
}

#[test]
fn progress_modes_behave_as_documented() {
    let drawn = |s: &[String]| s.iter().any(|l| l.trim_start().starts_with("apply ["));
    // auto: drawn on a terminal...
    let s = screen_during_a_step("", "");
    assert!(drawn(&s), "auto, no CI:\n{}", s.join("\n"));
    // ... but not in CI, where `always` still draws it.
    let s = screen_during_a_step("CI=true", "");
    assert!(!drawn(&s), "auto, CI:\n{}", s.join("\n"));
    assert!(
        s.iter().any(|l| l.starts_with("devbox: ran quick")),
        "{}",
        s.join("\n")
    );
    let s = screen_during_a_step("CI=true", "--progress always");
    assert!(drawn(&s), "always, CI:\n{}", s.join("\n"));
    // never: the plain lines alone.
    let s = screen_during_a_step("", "--progress never");
    assert!(!drawn(&s), "never:\n{}", s.join("\n"));
    assert!(
        s.iter().any(|l| l.starts_with("devbox: ran quick")),
        "{}",
        s.join("\n")
    );
}
