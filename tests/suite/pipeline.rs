//! Pipelined steps change nothing but the time: the same deploys applied with pipelining
//! (the default) and with `--no-pipeline`, each on a fresh orbsim machine of its own, print
//! the same human output, JSON lines, report and JUnit report once times and the machine's
//! name are redacted — a first apply and a re-apply of every operation kind, loops,
//! handlers, a failure in the middle, `ignore_errors`, a command that changes a later
//! step's file, and Ctrl-C between steps.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use sha2::Digest;

use crate::harness::{self, every_kind_files, World, EVERY_KIND_STEPS};

/// Times and the machine's name (`machine`, and its `-a`/`-b` twin) written as one word.
fn redact(text: &str, machine: &str) -> String {
    // A duration takes the spaces before it: the summary table right-aligns its TIME
    // column, so "9.8s" and "10.1s" come with different padding.
    let times = Regex::new(
        r#" *\d+(\.\d+)?\s?(ms|s|µs)\b|time="[^"]*"|timestamp="[^"]*"|\d{4}-\d\d-\d\dT[0-9:.]+Z?"#,
    )
    .expect("the pattern compiles");
    let named = text.replace(machine, "M");
    let text = times.replace_all(&named, " T");
    // The summary lists steps that took long, which only time decides.
    let slowest = Regex::new(r"(?m)^Slowest steps:\n(?: .*\n)*\n?").expect("the pattern compiles");
    slowest.replace_all(&text, "").into_owned()
}

/// A JSON document with every key that holds a time (or the transport's counts, which
/// are what pipelining changes) removed, and the machine's name redacted.
fn redact_json(v: &Value, machine: &str) -> Value {
    const TIMED: [&str; 8] = [
        "duration_ms",
        "start_ms",
        "timings",
        "started_at",
        "finished_at",
        "elapsed_ms",
        "generated_at",
        "command_line",
    ];
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    // The inventory's hash differs with the machine's name.
                    let other = k.ends_with("_ms")
                        || k.ends_with("_unix")
                        || k.as_str() == "inventory_sha256";
                    !TIMED.contains(&k.as_str()) && !other
                })
                .map(|(k, v)| (k.clone(), redact_json(v, machine)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| redact_json(v, machine)).collect()),
        Value::String(s) => Value::String(redact(s, machine)),
        other => other.clone(),
    }
}

/// Everything a user sees of one `apply` on `machine` (inventory `inv`), redacted: stdout
/// and stderr as printed (human or, with `json`, JSON lines, each line redacted as JSON),
/// the report and the JUnit report.
fn seen(w: &World, inv: &str, machine: &str, extra: &[&str], json: bool, tag: &str) -> Vec<String> {
    let report = format!("{tag}.json");
    let junit = format!("{tag}.xml");
    let mut args = vec!["apply", inv, "--report", &report, "--junit", &junit];
    if json {
        args.extend(["--output", "json"]);
    }
    args.extend(extra);
    let out = w.orbdeploy(&args);
    let stdout = if json {
        out.stdout
            .lines()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v) => redact_json(&v, machine).to_string(),
                Err(_) => redact(l, machine),
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        redact(&out.stdout, machine)
    };
    let junit_text = std::fs::read_to_string(w.path(&junit)).unwrap_or_default();
    vec![
        format!("exit {}", out.code),
        stdout,
        redact(&out.stderr, machine),
        redact_json(&w.report(&report), machine).to_string(),
        redact(&junit_text, machine),
    ]
}

/// Apply `ops` three times (human output, JSON lines, human again) on two fresh machines
/// that `setup` prepared alike, with and without pipelining; every output must match.
/// Returns the runs' outputs with pipelining, for the test's own checks.
fn same_with_and_without(w: &World, ops: &str, setup: &str) -> Vec<Vec<String>> {
    w.write("ops.yaml", ops);
    let mut piped = Vec::new();
    let mut names = Vec::new();
    for twin in ["a", "b"] {
        let m = w.name(twin);
        w.create(&m);
        w.sh(&m, None, setup).assert_code(0);
        let inv = w.write(
            &format!("inv-{twin}.yaml"),
            format!("vars: {{ port: 8080 }}\nmachines:\n  {m}: {{ groups: [app] }}\noperations: ops.yaml\n"),
        );
        names.push((m, inv.display().to_string()));
    }
    let [(a, inv_a), (b, inv_b)] = [names[0].clone(), names[1].clone()];
    for (run, json) in [("first", false), ("again", true), ("third", false)] {
        let with = seen(w, &inv_a, &a, &[], json, &format!("{run}-a"));
        let without = seen(w, &inv_b, &b, &["--no-pipeline"], json, &format!("{run}-b"));
        for (x, y) in with.iter().zip(&without) {
            assert_eq!(
                x.replace("inv-a", "inv-X")
                    .replace(&format!("{run}-a"), "R"),
                y.replace("inv-b", "inv-X")
                    .replace(&format!("{run}-b"), "R"),
                "{run}: pipelined vs --no-pipeline"
            );
        }
        piped.push(with);
    }
    piped
}

/// The machine's step statuses in a report line of [`seen`].
fn statuses(report: &str) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(report).expect("the redacted report is JSON");
    harness::step_statuses(&doc, "M")
}

#[test]
fn every_kind_loops_and_handlers_print_the_same() {
    let w = World::new("pipe-kinds");
    every_kind_files(&w, "name={{ machine }}\nport={{ port }}\n");
    let ops = format!(
        r#"steps:
{}
- name: count
  shell: "echo {{{{ item }}}} >> /tmp/count"
  loop: [one, two, three]
- name: one-time setup
  shell: "echo done > /tmp/setup-done"
  creates: /tmp/setup-done
- name: after loop
  directory: {{ path: /tmp/after }}
- name: notify
  shell: "true"
  notify: restart
- name: guarded
  command: [touch, /tmp/guarded]
  unless: "test -e /tmp/guarded"
- name: with env
  shell: 'test "$X" = y && pwd > /tmp/pwd'
  env: {{ X: y }}
  workdir: /srv
- name: last line
  line: {{ path: /tmp/count, line: one }}
handlers:
- name: restart
  shell: "echo restarted >> /tmp/handler"
"#,
        EVERY_KIND_STEPS.trim_start()
    );
    let runs = same_with_and_without(&w, &ops, "touch /tmp/stale");
    let again = statuses(&runs[1][3]);
    assert!(
        again.iter().any(|(n, s)| n == "count [two]" && s == "ran"),
        "{again:?}"
    );
    assert!(
        again.iter().any(|(n, s)| n == "restart" && s == "ran"),
        "{again:?}"
    );
}

#[test]
fn a_failure_in_the_middle_and_ignore_errors_print_the_same() {
    let w = World::new("pipe-fail");
    let ops = r#"
- { name: a, shell: "echo a >> /tmp/log" }
- { name: dir, directory: { path: /tmp/d } }
- { name: ignored, shell: "exit 3", ignore_errors: true }
- { name: b, shell: "echo b >> /tmp/log" }
- { name: conf, put: { content: "x\n", dest: /tmp/d/conf } }
- { name: broken, shell: "echo broken >> /tmp/log; exit 5" }
- { name: c, shell: "echo c >> /tmp/log" }
- { name: late, put: { content: "y\n", dest: /tmp/d/late } }
"#;
    let runs = same_with_and_without(&w, ops, "true");
    let first = statuses(&runs[0][3]);
    let want = [
        ("a", "ran"),
        ("dir", "changed"),
        ("ignored", "ignored"),
        ("b", "ran"),
        ("conf", "changed"),
        ("broken", "failed"),
        ("c", "skipped"),
        ("late", "skipped"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    assert_eq!(first, want);
    let m = w.name("a");
    assert_eq!(
        w.sh(&m, None, "cat /tmp/log").stdout,
        "a\nb\nbroken\na\nb\nbroken\na\nb\nbroken\n"
    );
    assert_eq!(
        w.sh(&m, None, "test -e /tmp/d/late || echo absent").stdout,
        "absent\n"
    );
}

#[test]
fn a_command_that_changes_a_later_steps_file_prints_the_same() {
    let w = World::new("pipe-edit");
    let ops = r#"
- { name: seed, line: { path: /tmp/lines, line: a } }
- { name: drop a, shell: "sed -i '/^a$/d' /tmp/lines" }
- { name: line a, line: { path: /tmp/lines, line: a } }
- { name: conf, put: { content: "c\n", dest: /tmp/conf } }
- { name: clobber, shell: "echo other > /tmp/conf" }
- { name: conf again, put: { content: "c\n", dest: /tmp/conf } }
- { name: mark, shell: "touch /tmp/mark", creates: /tmp/mark }
"#;
    let runs = same_with_and_without(&w, ops, "true");
    for run in &runs {
        let st = statuses(&run[3]);
        let of = |n: &str| st.iter().find(|(s, _)| s == n).map(|(_, v)| v.clone());
        assert_eq!(of("line a").as_deref(), Some("changed"), "{st:?}");
        assert_eq!(of("conf again").as_deref(), Some("changed"), "{st:?}");
    }
}

/// Run `apply` with JSON lines on `machine` and send it SIGINT once the step `after` has its
/// row and the file `started` exists on the machine (the next step is running there).
fn interrupted(w: &World, inv: &str, extra: &[&str], machine: &str) -> (i32, Vec<String>) {
    let mut cmd = Command::new(harness::orbdeploy_bin());
    cmd.args(["apply", inv, "--output", "json"])
        .args(extra)
        .env("ORBSIM_HOME", &w.home)
        .env("ORBDEPLOY_ORBCTL", &w.orbctl)
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("orbdeploy starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = Vec::new();
    let mut sent = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line of output");
        let row = serde_json::from_str::<Value>(&line).ok();
        let done = row
            .as_ref()
            .is_some_and(|v| v["name"] == "first" && v["status"].is_string());
        lines.push(line);
        if done && !sent {
            let started = harness::wait_until(Duration::from_secs(60), || {
                w.sh(machine, None, "test -e /tmp/slow-started").code == 0
            });
            assert!(started, "the step `slow` never started");
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
            sent = true;
        }
    }
    let status = child.wait().expect("orbdeploy ends");
    assert!(sent, "the step `first` never had its row: {lines:#?}");
    (status.code().unwrap_or(-1), lines)
}

#[test]
fn ctrl_c_during_a_step_stops_before_the_next_one_either_way() {
    let w = World::new("pipe-int");
    w.write(
        "ops.yaml",
        r#"
- { name: first, shell: "touch /tmp/first" }
- { name: slow, shell: "touch /tmp/slow-started; sleep 5; touch /tmp/slow" }
- { name: next, shell: "touch /tmp/next" }
- { name: dir, directory: { path: /tmp/d } }
"#,
    );
    let mut outs = Vec::new();
    for (twin, extra) in [("a", vec![]), ("b", vec!["--no-pipeline"])] {
        let m = w.name(twin);
        w.create(&m);
        let inv = w.write(
            &format!("inv-{twin}.yaml"),
            format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
        );
        let (code, lines) = interrupted(&w, inv.to_str().unwrap(), &extra, &m);
        assert_eq!(code, 130);
        let rows: Vec<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["status"].is_string() && v["name"].is_string())
            .map(|v| redact_json(&v, &m).to_string())
            .collect();
        // Nothing after the interrupted step ran, whatever was sent ahead: had the agent
        // gone on, `slow` would have ended after its 5 s and `next` run.
        std::thread::sleep(Duration::from_secs(6));
        let after = w.sh(
            &m,
            None,
            "ls /tmp/slow /tmp/next /tmp/d 2>/dev/null | wc -l",
        );
        assert_eq!(after.stdout, "0\n", "{twin}");
        assert_eq!(w.sh(&m, None, "ls /tmp/first").code, 0);
        outs.push(rows);
    }
    assert_eq!(outs[0], outs[1]);
}

/// The benchmark's mix (scripts/bench-pipeline.sh): 35 steps, 20 of them commands between
/// the directories, puts and lines.
fn mix() -> String {
    let mut ops = String::new();
    for g in 1..=5 {
        ops.push_str(&format!(
            "- {{ name: dir {g}, directory: {{ path: /tmp/pbench/d{g} }} }}\n\
             - {{ name: cmd {g} a, shell: \"echo {g} > /dev/null\" }}\n\
             - {{ name: put {g}, put: {{ content: \"file {g}\\n\", dest: /tmp/pbench/d{g}/f }} }}\n\
             - {{ name: cmd {g} b, shell: \"test -d /tmp/pbench\" }}\n\
             - {{ name: line {g}, line: {{ path: /tmp/pbench/lines, line: \"key{g}=value{g}\" }} }}\n\
             - {{ name: cmd {g} c, command: [\"true\"] }}\n\
             - {{ name: cmd {g} d, shell: \"uname > /dev/null\" }}\n"
        ));
    }
    ops
}

/// The requests the machine's run made, from a report.
fn requests(w: &World, report: &str) -> u64 {
    let doc = w.report(report);
    doc["machines"][0]["timings"]["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no request count in {report}"))
}

#[test]
fn the_benchmark_mix_re_applies_in_three_requests_and_the_same_rows() {
    let w = World::new("pipe-mix");
    let runs = same_with_and_without(&w, &mix(), "true");
    assert_eq!(statuses(&runs[1][3]).len(), 35);
    // The first apply: its changes travel in chains with the commands (one read, one
    // chain, then again from `line 2`, whose guard sees the file `line 1` created).
    let first = requests(&w, "first-a.json");
    let first_plain = requests(&w, "first-b.json");
    assert!(
        first <= 6,
        "{first} requests in the first apply with pipelining"
    );
    assert!(
        first_plain >= 35,
        "{first_plain} requests in the first apply with --no-pipeline"
    );
    // The last runs of [`same_with_and_without`]: a no-change re-apply each.
    let piped = requests(&w, "third-a.json");
    let plain = requests(&w, "third-b.json");
    assert!(piped <= 3, "{piped} requests with pipelining");
    assert!(plain >= 21, "{plain} requests with --no-pipeline");
}

#[test]
fn large_files_travel_in_a_chain_behind_a_loud_command_and_a_failed_write_stops_it() {
    let w = World::new("pipe-big");
    // 300 KB: the chain is larger than a pipe holds, and the command before the file
    // prints 1 MiB, which fills the way back before the agent reads the file's bytes.
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    w.write("files/big", &big);
    let ops = r#"
- { name: loud, shell: "head -c 1048576 /dev/zero | tr '\\0' x" }
- { name: big, put: { src: files/big, dest: /tmp/big } }
- { name: sum, shell: "sha256sum /tmp/big > /tmp/big.sum" }
- { name: small, put: { content: "s\n", dest: /tmp/small } }
- { name: bad, put: { content: "x\n", dest: /tmp/no-such-dir/f } }
- { name: after, shell: "touch /tmp/after" }
"#;
    let runs = same_with_and_without(&w, ops, "true");
    let want: Vec<(String, String)> = [
        ("loud", "ran"),
        ("big", "changed"),
        ("sum", "ran"),
        ("small", "changed"),
        ("bad", "failed"),
        ("after", "skipped"),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), s.to_string()))
    .collect();
    assert_eq!(statuses(&runs[0][3]), want);
    let m = w.name("a");
    let local = format!("{:x}", sha2::Sha256::digest(&big));
    assert_eq!(
        w.sh(&m, None, "cut -d' ' -f1 /tmp/big.sum").stdout,
        format!("{local}\n")
    );
    assert_eq!(
        w.sh(&m, None, "test -e /tmp/after || echo absent").stdout,
        "absent\n"
    );
    // The first apply's read, then one chain from `loud` to `bad`, whose write failed.
    let first = requests(&w, "first-a.json");
    assert!(
        first <= 3,
        "{first} requests in the first apply with pipelining"
    );
}
