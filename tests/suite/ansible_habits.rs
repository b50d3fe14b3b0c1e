//! Issue 34's keys together, as a playbook ported from Ansible would use them: a
//! `try:`/`rescue:`/`always:` group, `changed_when`, `failed_when` and `register`, applied
//! with `serial: 1` and `max_fail_percentage: 0` over three machines whose second fails.
//! On orbsim: the rescue and the always ran on the machines that ran, the third machine is
//! not started (never created), and the human output, the report, JUnit and the HTML page
//! say so. The human output is pinned by a snapshot (through the fake orbctl).

use crate::harness::{machine_entry, step_statuses, World};
use crate::snap::Project;

/// The steps: a group whose `try` fails and is rescued, then a command judged by
/// `changed_when`/`failed_when` from its registered output (`{{ root }}` is where the files
/// go: `/tmp` on a machine, the project's work directory in the snapshot test).
const OPS: &str = r#"steps:
  - name: migrate
    try:
      - name: lock
        put: { content: "locked\n", dest: "{{ root }}/{{ machine }}.lock" }
      - name: run migrations
        shell: "echo 'schema 7 is newer than this release' >&2; exit 3"
    rescue:
      - name: restore
        shell: "echo restored > {{ root }}/{{ machine }}.restored"
        changed_when: false
    always:
      - name: unlock
        file: { path: "{{ root }}/{{ machine }}.lock", state: absent }
  - name: release
    shell: "echo {{ release }}"
    register: out
    changed_when: out.stdout != "current"
    failed_when: "'broken' in result.stdout"
"#;

/// The inventory of three machines in batches of one, the second's release broken. With
/// `root`, a whole inventory; without, the part the snapshot project completes (it adds
/// `vars: { root }` and `operations:`).
fn inventory(create: bool, names: &[&str; 3], root: Option<&str>) -> String {
    let [a, b, c] = names;
    let tail = root
        .map(|r| format!("vars: {{ root: {r} }}\noperations: ops.yaml\n"))
        .unwrap_or_default();
    format!(
        "defaults: {{ create: {create} }}\nserial: 1\nmax_fail_percentage: 0\nmachines:\n  {a}: {{ vars: {{ release: current }} }}\n  {b}: {{ vars: {{ release: broken }} }}\n  {c}: {{ vars: {{ release: current }} }}\n{tail}"
    )
}

#[test]
fn a_rescued_group_then_a_judged_failure_stops_the_later_batch() {
    let w = World::new("habits");
    let [a, b, c] = [w.name("a"), w.name("b"), w.name("c")];
    w.write(
        "inv.yaml",
        inventory(true, &[a.as_str(), b.as_str(), c.as_str()], Some("/tmp")),
    );
    w.write("ops.yaml", OPS);
    let run = w.orbdeploy([
        "apply",
        "inv.yaml",
        "--report",
        "r.json",
        "--junit",
        "r.xml",
        "--report-html",
        "r.html",
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);

    let doc = w.report("r.json");
    let group = |release: &str| -> Vec<(String, String)> {
        [
            ("migrate / try / lock", "changed"),
            ("migrate / try / run migrations", "rescued"),
            ("migrate / rescue / restore", "ok"),
            ("migrate / always / unlock", "changed"),
            ("release", release),
        ]
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
    };
    assert_eq!(step_statuses(&doc, &a), group("ok"), "{doc:#}");
    assert_eq!(step_statuses(&doc, &b), group("failed"), "{doc:#}");
    // The rescue and the always ran on the machine: their files say so.
    for m in [&a, &b] {
        let files = w.sh(m, None, &format!("ls /tmp/{m}.restored /tmp/{m}.lock 2>&1"));
        assert!(
            files.stdout.contains(&format!("/tmp/{m}.restored\n")),
            "{}",
            files.stdout
        );
        assert!(
            files.stdout.contains("No such file"),
            "the lock was removed: {}",
            files.stdout
        );
    }
    assert_eq!(machine_entry(&doc, &a)["status"], "changed");
    assert_eq!(machine_entry(&doc, &b)["status"], "failed");
    assert_eq!(machine_entry(&doc, &c)["status"], "not_started");
    assert_eq!(w.state(&c), None, "a machine not started is never created");

    // Every output shows the rescue, the judged failure and the machine not started.
    let out = &run.stdout;
    for want in [
        format!("{a}: failed (rescued) migrate / try / run migrations"),
        format!("{b}: FAILED release"),
        "failed_when: `'broken' in result.stdout` is true".to_string(),
        format!("batch 3/3: {c} — not started"),
        "FAILED: 3 machines (1 not started)".to_string(),
    ] {
        assert!(out.contains(&want), "`{want}` not in:\n{out}");
    }
    let junit = std::fs::read_to_string(w.path("r.xml")).expect("r.xml");
    assert!(junit.contains("failed_when"), "{junit}");
    // The machine not started: its case "was started" is skipped, as are its steps.
    assert!(
        junit.contains(&format!("name=\"machine {c} was started\"")),
        "{junit}"
    );
    assert!(
        junit.contains("skipped message=\"not started: 1 of 1 machines of batch 2/3 failed"),
        "{junit}"
    );
    let html = std::fs::read_to_string(w.path("r.html")).expect("r.html");
    for want in ["failed (rescued)", "not started", "failed_when"] {
        assert!(html.contains(want), "`{want}` not in the HTML report");
    }
}

#[test]
fn apply_with_every_habit() {
    let p = Project::new(
        &[
            ("web-1", "running"),
            ("web-2", "running"),
            ("web-3", "running"),
        ],
        &inventory(false, &["web-1", "web-2", "web-3"], None),
    );
    p.write("ops.yaml", OPS);
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_every_habit", run.text()));
    assert_eq!(run.code, 1);
}
