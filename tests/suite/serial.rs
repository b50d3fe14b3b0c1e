//! Rolling batches (`serial`, `max_fail_percentage`, docs/batches.md): on orbsim, a batch
//! is created and applied before the next is created at all, a failing batch leaves the
//! later machines not started (never created), and every output says so; the human output
//! is pinned by snapshots (through the fake orbctl).

use serde_json::Value;

use crate::harness::{machine_entry, step_statuses, summary_count, World};
use crate::snap::Project;

/// Three machines in inventory order, the second failing its check by a machine
/// variable; one batch each, no failure allowed.
fn three_in_batches(w: &World) -> [String; 3] {
    let [a, b, c] = [w.name("a"), w.name("b"), w.name("c")];
    w.write(
        "inv.yaml",
        format!(
            "defaults: {{ create: true }}\nvars: {{ broken: \"no\" }}\nserial: 1\nmax_fail_percentage: 0\nmachines:\n  {a}: {{}}\n  {b}: {{ vars: {{ broken: \"yes\" }} }}\n  {c}: {{}}\noperations: ops.yaml\n"
        ),
    );
    w.write(
        "ops.yaml",
        "steps:\n  - name: config\n    put: { content: \"v=1\\n\", dest: /tmp/app.conf }\n    notify: reload\n  - name: check\n    shell: \"test {{ broken }} = no\"\nhandlers:\n  - name: reload\n    shell: \"date +%s%N > /tmp/reloaded\"\n",
    );
    [a, b, c]
}

/// The events of `--output json`, in order: (event, machine or batch number).
fn events(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            let what = match e["event"].as_str() {
                Some("batch") => e["number"].to_string(),
                _ => e["machine"].as_str().unwrap_or_default().to_string(),
            };
            (e["event"].as_str().unwrap_or_default().to_string(), what)
        })
        .collect()
}

#[test]
fn a_failing_batch_leaves_the_later_machines_not_started_and_a_fixed_run_goes_through_in_batches() {
    let w = World::new("serial");
    let [a, b, c] = three_in_batches(&w);

    // The plan shows the batches and touches nothing.
    let plan = w.orbdeploy(["plan", "inv.yaml"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    for (n, m) in [(1, &a), (2, &b), (3, &c)] {
        assert!(
            plan.stdout.contains(&format!("batch {n}/3: {m}\n")),
            "{}",
            plan.stdout
        );
    }
    assert_eq!(w.state(&a), None);

    let run = w.orbdeploy([
        "apply", "inv.yaml", "--report", "r1.json", "--junit", "r1.xml",
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    // The first batch ran whole, its handler included, before the second began; the
    // third was never created.
    assert_eq!(w.state(&a).as_deref(), Some("running"), "{}", run.stdout);
    assert_eq!(w.state(&b).as_deref(), Some("running"), "{}", run.stdout);
    assert_eq!(w.state(&c), None, "a machine not started is not created");
    assert!(w.sh(&a, None, "cat /tmp/reloaded").code == 0);
    assert_ne!(w.sh(&b, None, "test -e /tmp/reloaded").code, 0);
    let why = "1 of 1 machines of batch 2/3 failed, more than `max_fail_percentage: 0` allows";
    assert!(
        run.stdout
            .contains(&format!("{c}: not started, 2 steps not run — {why}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("batch 3/3: {c} — not started\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("FAILED: 3 machines (1 not started), 2 changed, 2 ran, 1 failed"),
        "{}",
        run.stdout
    );

    let doc = w.report("r1.json");
    let entry = machine_entry(&doc, &c);
    assert_eq!(entry["status"], "not_started");
    assert_eq!(entry["batch"], 3);
    assert_eq!(entry["error"], why);
    assert_eq!(
        step_statuses(&doc, &c),
        [
            ("config".into(), "skipped".into()),
            ("check".into(), "skipped".into())
        ]
    );
    assert_eq!(machine_entry(&doc, &b)["status"], "failed");
    assert_eq!(machine_entry(&doc, &a)["batch"], 1);
    assert_eq!(doc["summary"]["machines"]["not_started"], 1);
    assert_eq!(summary_count(&doc, "failed"), 1);
    let started: Vec<bool> = doc["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["started"].as_bool().unwrap_or(true))
        .collect();
    assert_eq!(started, [true, true, false]);
    let junit = std::fs::read_to_string(w.path("r1.xml")).expect("junit");
    assert!(
        junit.contains(&format!(
            "name=\"machine {c} was started\" time=\"0.000\">\n      <skipped message=\"{why}\"/>"
        )),
        "{junit}"
    );

    // Fixed (by --var), and two at a time from the command line: every machine runs, the
    // second batch's machine is created only after the first batch ended.
    let run = w.orbdeploy([
        "apply",
        "inv.yaml",
        "--var",
        "broken=no",
        "--serial",
        "2",
        "--output",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(w.state(&c).as_deref(), Some("running"));
    let ev = events(&run.stdout);
    let at = |event: &str, what: &str| {
        ev.iter()
            .position(|(e, m)| e == event && m == what)
            .unwrap_or_else(|| panic!("no {event} {what} in {ev:?}"))
    };
    assert!(at("batch", "1") < at("host", &a));
    assert!(at("host", &a) < at("batch", "2") && at("host", &b) < at("batch", "2"));
    assert!(at("batch", "2") < at("machine", &c));
    assert!(at("machine", &c) < at("host", &c));
    assert_eq!(ev.iter().filter(|(e, _)| e == "batch").count(), 2);
}

// ---- what users see (fake orbctl, steps run by the local channel agent) --------------

const THREE: &[(&str, &str)] = &[
    ("web-1", "running"),
    ("web-2", "running"),
    ("web-3", "running"),
];
const THREE_INV: &str = "serial: 1\nmachines:\n  web-1: {}\n  web-2: {}\n  web-3: {}\n";
const CHECK_OPS: &str = "- name: config\n  put: { content: \"v=1\\n\", dest: \"{{ root }}/{{ machine }}.conf\" }\n- name: check\n  shell: \"test {{ machine }} != web-2\"\n";

#[test]
fn apply_in_batches_stops_after_a_failing_batch() {
    let p = Project::new(THREE, THREE_INV);
    p.write("ops.yaml", CHECK_OPS);
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_serial_stopped", run.text()));
    assert_eq!(run.code, 1);
    assert!(!p.work().join("web-3.conf").exists());
}

#[test]
fn plan_in_batches_shows_every_batch() {
    let p = Project::new(
        THREE,
        "serial: [1, \"67%\"]\nmachines:\n  web-1: {}\n  web-2: {}\n  web-3: {}\n",
    );
    p.write("ops.yaml", CHECK_OPS);
    let run = p.run(&["plan", "inv.yaml", "--parallel", "1"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("plan_serial", run.text()));
    assert_eq!(run.code, 0);
}

#[test]
fn max_fail_percentage_stops_only_above_it() {
    let p = Project::new(THREE, THREE_INV);
    p.write("ops.yaml", CHECK_OPS);
    // Batches of 2 (the command line over the inventory's 1): 1 failed of 2 is 50%, not
    // more than 50, so the second batch runs; with 49 it is not started.
    let args = [
        "apply",
        "inv.yaml",
        "--serial",
        "2",
        "--max-fail-percentage",
    ];
    let run = p.run(&[&args[..], &["50"]].concat());
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stdout.contains("batch 1/2: web-1 web-2\n"),
        "{}",
        run.text()
    );
    assert!(run.stdout.contains("batch 2/2: web-3\n"), "{}", run.text());
    assert!(p.work().join("web-3.conf").exists());
    std::fs::remove_file(p.work().join("web-3.conf")).unwrap();
    let run = p.run(&[&args[..], &["49"]].concat());
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stdout.contains("web-3: not started, 2 steps not run — 1 of 2 machines of batch 1/2 failed, more than `max_fail_percentage: 49` allows\n"),
        "{}",
        run.text()
    );
    assert!(!p.work().join("web-3.conf").exists());
}

#[test]
fn json_lines_junit_and_html_say_not_started() {
    let p = Project::new(THREE, THREE_INV);
    p.write("ops.yaml", CHECK_OPS);
    let run = p.run(&[
        "apply",
        "inv.yaml",
        "--output",
        "json",
        "--junit",
        "out/r.xml",
        "--report-html",
        "out/r.html",
    ]);
    assert_eq!(run.code, 1, "{}", run.text());
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let batches: Vec<(u64, bool)> = lines
        .iter()
        .filter(|e| e["event"] == "batch")
        .map(|e| (e["number"].as_u64().unwrap_or(0), e["started"] == true))
        .collect();
    assert_eq!(batches, [(1, true), (2, true), (3, false)]);
    let web3 = lines
        .iter()
        .find(|e| e["event"] == "host" && e["machine"] == "web-3")
        .expect("a host line for web-3");
    assert_eq!(web3["status"], "not_started");
    assert_eq!(web3["batch"], 3);
    let summary = lines.last().expect("a summary line");
    assert_eq!(summary["machines"]["not_started"], 1);
    assert_eq!(summary["exit_code"], 1);

    let junit = p.read("out/r.xml");
    assert!(
        junit.contains(
            "<testsuite name=\"web-3\" tests=\"3\" failures=\"0\" errors=\"0\" skipped=\"3\""
        ),
        "{junit}"
    );
    assert!(
        junit.contains("name=\"machine web-3 was started\""),
        "{junit}"
    );
    let html = p.read("out/r.html");
    assert!(html.contains("<h2 id=\"h-batches\">Batches</h2>"), "{html}");
    assert!(
        html.contains("<li>batch 3/3: web-3 <span class=\"st ns\"><span aria-hidden=\"true\">○</span> not started</span></li>"),
        "{html}"
    );
}

#[test]
fn max_fail_percentage_without_serial_is_warned_about_before_the_run() {
    let inv = "max_fail_percentage: 30\nmachines:\n  web-1: {}\n  web-2: {}\n  web-3: {}\n";
    let p = Project::new(THREE, inv);
    p.write("ops.yaml", CHECK_OPS);
    let warning = "warning: max_fail_percentage has nothing to stop without serial: every machine is in one batch, and the percentage is checked between batches (docs/batches.md)\n";
    let run = p.run(&["plan", "inv.yaml"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(
        run.stderr.starts_with(&format!("inv.yaml:1:22: {warning}")),
        "{}",
        run.text()
    );
    // The command line's percentage is named as such; with `--serial` there is no warning.
    let run = p.run(&["plan", "inv.yaml", "--max-fail-percentage", "10"]);
    assert!(
        run.stderr
            .starts_with(&format!("--max-fail-percentage: {warning}")),
        "{}",
        run.text()
    );
    let run = p.run(&["plan", "inv.yaml", "--serial", "1"]);
    assert!(!run.stderr.contains("warning"), "{}", run.text());
}
