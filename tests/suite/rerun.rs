//! `orbdeploy apply --rerun-failed REPORT.json` end to end against orbsim machines: of four
//! machines, one fails a step and one is unreachable; the re-run touches only those two
//! (orbsim's call log names no other machine), runs the handlers the failed run owed, and
//! converges once the causes are fixed. `--from-failed-step` starts at the failed step
//! (registering steps before it run again); a report of another inventory, a report that
//! is not one, an older report and a report with nothing failed are handled before any
//! machine is touched.

use crate::harness;

use harness::{machine_entry as entry, World};
use serde_json::Value;

/// Each step of `machine`: (name, status, reason).
fn rows(doc: &Value, machine: &str) -> Vec<(String, String, String)> {
    entry(doc, machine)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (text("name"), text("status"), text("reason"))
        })
        .collect()
}

/// The machines of a report, sorted.
fn machines(doc: &Value) -> Vec<String> {
    doc["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["machine"].as_str().unwrap().to_string())
        .collect()
}

/// Every argv orbsim logged in `log` (empty when orbctl was never called).
fn calls(log: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("call log line is JSON");
            v["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect()
}

/// The machine names that occur in the argv of the calls logged in `log`, among `names`.
fn touched(log: &std::path::Path, names: &[&String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| calls(log).iter().any(|argv| argv.contains(n)))
        .map(|n| n.to_string())
        .collect();
    out.sort();
    out
}

const OPS: &str = r#"
steps:
  - name: marker
    put: { content: "v1\n", dest: /etc/orbd-marker }
    become: true
    notify: note
  - name: gate
    shell: "test ! -e /etc/broken"
    become: true
  - name: after
    put: { content: "after\n", dest: /etc/orbd-after }
    become: true
handlers:
  - name: note
    shell: "echo noted >> /etc/orbd-noted"
    become: true
"#;

#[test]
fn rerun_failed_touches_only_the_failed_machines_and_converges() {
    let mut w = World::new("rerun");
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|s| w.name(s));
    for m in [&a, &b, &d] {
        w.create(m);
    }
    // b fails its gate; c does not exist (and `create` is off): unreachable.
    w.sh(&b, Some("root"), "touch /etc/broken").assert_code(0);
    w.write("ops.yaml", OPS);
    let inv = w.write(
        "inv.yaml",
        format!(
            "machines:\n  {a}: {{}}\n  {b}: {{}}\n  {c}: {{}}\n  {d}: {{}}\noperations: ops.yaml\n"
        ),
    );
    let inv = inv.to_str().unwrap().to_string();

    let first = w.orbdeploy(["apply", &inv, "--report", "r1.json"]);
    first.assert_code(1);
    let r1 = w.report("r1.json");
    let status = |doc: &Value, m: &str| entry(doc, m)["status"].as_str().unwrap().to_string();
    assert_eq!(
        [&a, &b, &c, &d].map(|m| status(&r1, m)),
        ["changed", "failed", "unreachable", "changed"]
    );
    // b changed its marker, then failed: its handler never ran.
    w.sh(&b, Some("root"), "test ! -e /etc/orbd-noted")
        .assert_code(0);

    // Before the causes are fixed, the re-run fails on the same two, and only on them.
    let log = w.path("calls-before.log");
    w.env.push(("ORBSIM_LOG".into(), log.display().to_string()));
    let again = w.orbdeploy([
        "apply",
        &inv,
        "--rerun-failed",
        "r1.json",
        "--report",
        "r2.json",
    ]);
    again.assert_code(1);
    assert!(
        again
            .stderr
            .contains(&format!("re-running what failed in r1.json: {b}, {c}")),
        "{}",
        again.stderr
    );
    let all = [&a, &b, &c, &d];
    // (c is missing: no call can name it yet; a and d are never named.)
    assert_eq!(touched(&log, &all), vec![b.clone()]);
    assert_eq!(machines(&w.report("r2.json")), [b.clone(), c.clone()]);

    // Fix both causes; the re-run of the first report converges.
    w.env.clear();
    w.sh(&b, Some("root"), "rm /etc/broken").assert_code(0);
    w.create(&c);
    let log = w.path("calls-fixed.log");
    w.env.push(("ORBSIM_LOG".into(), log.display().to_string()));
    let fixed = w.orbdeploy([
        "apply",
        &inv,
        "--rerun-failed",
        "r1.json",
        "--report",
        "r3.json",
    ]);
    fixed.assert_code(0);
    assert_eq!(touched(&log, &all), [b.clone(), c.clone()]);
    let r3 = w.report("r3.json");
    assert_eq!(machines(&r3), [b.clone(), c.clone()]);
    let names = |rs: Vec<(String, String, String)>| -> Vec<(String, String)> {
        rs.into_iter().map(|(n, s, _)| (n, s)).collect()
    };
    // b: the marker is there already (ok); the handler its change owed runs now.
    assert_eq!(
        names(rows(&r3, &b)),
        [
            ("marker".into(), "ok".into()),
            ("gate".into(), "ran".into()),
            ("after".into(), "changed".into()),
            ("note".into(), "ran".into()),
        ]
    );
    let noted = w.sh(&b, Some("root"), "cat /etc/orbd-noted");
    noted.assert_code(0);
    assert_eq!(noted.stdout, "noted\n");
    assert_eq!(status(&r3, &c), "changed");

    // Nothing failed in the last report: nothing to re-run, no machine touched.
    let log = w.path("calls-nothing.log");
    w.env.clear();
    w.env.push(("ORBSIM_LOG".into(), log.display().to_string()));
    let nothing = w.orbdeploy([
        "apply",
        &inv,
        "--rerun-failed",
        "r3.json",
        "--report",
        "r4.json",
    ]);
    nothing.assert_code(0);
    assert!(
        nothing
            .stderr
            .contains("no machine failed or was unreachable: nothing to re-run"),
        "{}",
        nothing.stderr
    );
    assert!(touched(&log, &all).is_empty(), "{:?}", calls(&log));
    assert!(machines(&w.report("r4.json")).is_empty());

    // The whole inventory has converged.
    w.env.clear();
    w.orbdeploy(["plan", &inv, "--exit-code"]).assert_code(0);
}

#[test]
fn from_failed_step_starts_at_the_failed_step() {
    let mut w = World::new("rerunfrom");
    let m = w.name("m");
    w.create(&m);
    w.sh(&m, Some("root"), "touch /etc/broken").assert_code(0);
    w.write(
        "ops.yaml",
        r#"
- name: count
  shell: "echo x >> /etc/orbd-count"
  become: true
- name: probe
  shell: "echo hello"
  register: out
- name: gate
  shell: "test ! -e /etc/broken"
  become: true
- name: use
  put: { content: "{{ out.stdout }}\n", dest: /etc/orbd-used }
  become: true
"#,
    );
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap().to_string();
    w.orbdeploy(["apply", &inv, "--report", "r1.json"])
        .assert_code(1);
    w.sh(&m, Some("root"), "rm /etc/broken").assert_code(0);

    let from = w.orbdeploy([
        "apply",
        &inv,
        "--rerun-failed",
        "r1.json",
        "--from-failed-step",
        "--report",
        "r2.json",
    ]);
    from.assert_code(0);
    let r2 = w.report("r2.json");
    let skipped = "before the failed step (--from-failed-step)".to_string();
    assert_eq!(
        rows(&r2, &m),
        [
            ("count".into(), "skipped".into(), skipped),
            // It registers a value a later step reads: it runs again.
            ("probe".into(), "ran".into(), String::new()),
            ("gate".into(), "ran".into(), String::new()),
            ("use".into(), "changed".into(), String::new()),
        ]
    );
    let count = w.sh(&m, Some("root"), "cat /etc/orbd-count; cat /etc/orbd-used");
    assert_eq!(count.stdout, "x\nhello\n", "the first step ran once");

    // A report of another inventory is refused, naming both, before any orbctl call.
    let log = w.path("calls.log");
    w.env.push(("ORBSIM_LOG".into(), log.display().to_string()));
    let other = w.write(
        "other.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\nvars: {{ x: 1 }}\n"),
    );
    let refused = w.orbdeploy([
        "apply",
        other.to_str().unwrap(),
        "--rerun-failed",
        "r1.json",
    ]);
    refused.assert_code(2);
    let inv_abs = std::fs::canonicalize(&inv).unwrap();
    let other_abs = std::fs::canonicalize(&other).unwrap();
    assert!(
        refused.stderr.contains(&format!(
            "r1.json: --rerun-failed: the report is of another inventory: {} (sha256 ",
            inv_abs.display()
        )) && refused
            .stderr
            .contains(&format!("not {} (sha256", other_abs.display())),
        "{}",
        refused.stderr
    );
    assert!(calls(&log).is_empty(), "{:?}", calls(&log));
    // The same inventory's bytes elsewhere (another checkout) are the same inventory.
    let copy = w.write("elsewhere/inv.yaml", std::fs::read(&inv).unwrap());
    w.write(
        "elsewhere/ops.yaml",
        std::fs::read(w.path("ops.yaml")).unwrap(),
    );
    let moved = w.orbdeploy([
        "apply",
        copy.to_str().unwrap(),
        "--rerun-failed",
        "r1.json",
        "--dry-run",
    ]);
    moved.assert_code(0);

    // Not a report, an old report, a plan's report: one message each, exit 2.
    std::fs::write(
        w.path("log.json"),
        "{\"schema\": \"orbdeploy-report\",\n  \"version\": }",
    )
    .unwrap();
    let mut old: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("r1.json")).unwrap()).unwrap();
    old["version"] = 2.into();
    std::fs::write(w.path("old.json"), old.to_string()).unwrap();
    w.orbdeploy(["plan", &inv, "--report", "plan.json"])
        .assert_code(0);
    let cases = [
        (
            "missing.json",
            "missing.json: --rerun-failed: cannot read the report: No such file",
        ),
        (
            "log.json",
            "log.json:2:14: --rerun-failed: not a JSON document: ",
        ),
        (
            "old.json",
            "old.json: --rerun-failed: report version 2 does not say which inventory it is of",
        ),
        (
            "plan.json",
            "plan.json: --rerun-failed: this is the report of a plan, which changes nothing",
        ),
    ];
    let before = calls(&log).len();
    for (file, message) in cases {
        let out = w.orbdeploy(["apply", &inv, "--rerun-failed", file]);
        out.assert_code(2);
        assert!(
            out.stderr.starts_with(&format!("error: {message}")) && out.stderr.lines().count() == 1,
            "{file}: {}",
            out.stderr
        );
    }
    assert_eq!(
        calls(&log).len(),
        before,
        "a refused report touches nothing"
    );
    let flag = w.orbdeploy(["apply", &inv, "--from-failed-step"]);
    flag.assert_code(2);
}
