//! `try:` / `rescue:` / `always:` end to end: against real orbsim machines (a failure in
//! `try` rescued, with an include and a nested group inside; a rescue that fails; a group
//! whose `when:` is false), and what users see of a group, pinned by snapshots through
//! the recording fake orbctl (`tests/suite/snapshots/suite__groups__*.snap`).

use crate::harness;
use crate::snap;

use harness::{step_statuses, summary_count as count, World};

/// `(name, status)` rows written compactly.
fn rows(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

/// A group whose `try` fails half-way (inside a nested group, after an included step):
/// its rescue reads the failure, its always runs, and the step after the group runs.
const RESCUED: &str = r#"
- name: migrate
  try:
    - include: steps/prepare.yaml
    - name: schema
      try:
        - { name: run migrations, shell: "echo migrating > /tmp/migrate.log; exit 4", register: migration }
        - { name: never, shell: "touch /tmp/never" }
      always:
        - { name: keep the log, shell: "cp /tmp/migrate.log /tmp/kept.log" }
    - { name: after schema, shell: "touch /tmp/never2" }
  rescue:
    - name: restore
      put: { content: "restored after rc={{ migration.rc }}\n", dest: /tmp/restored }
  always:
    - { name: unlock, put: { content: "unlocked\n", dest: /tmp/unlocked } }
- { name: after, put: { content: "after\n", dest: /tmp/after } }
"#;

#[test]
fn a_failure_in_try_is_rescued_always_runs_and_the_run_succeeds() {
    let w = World::new("grpresc");
    let m = w.name("a");
    w.write(
        "inv.yaml",
        format!("defaults: {{ create: true }}\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    w.write("ops.yaml", RESCUED);
    w.write(
        "steps/prepare.yaml",
        "- { name: lock, put: { content: \"locked\\n\", dest: /tmp/locked } }\n",
    );
    let args = [
        "apply",
        "inv.yaml",
        "--report",
        "r.json",
        "--junit",
        "r.xml",
        "--report-html",
        "r.html",
    ];
    w.orbdeploy(args).assert_code(0);
    let doc = w.report("r.json");
    assert_eq!(
        step_statuses(&doc, &m),
        rows(&[
            ("migrate / try / lock", "changed"),
            ("migrate / try / schema / try / run migrations", "rescued"),
            ("migrate / try / schema / try / never", "skipped"),
            ("migrate / try / schema / always / keep the log", "ran"),
            ("migrate / try / after schema", "skipped"),
            ("migrate / rescue / restore", "changed"),
            ("migrate / always / unlock", "changed"),
            ("after", "changed"),
        ])
    );
    assert_eq!((count(&doc, "rescued"), count(&doc, "failed")), (1, 0));
    assert_eq!(doc["summary"]["exit_code"], 0);
    let machine = w.sh(
        &m,
        None,
        "cat /tmp/locked /tmp/kept.log /tmp/restored /tmp/unlocked /tmp/after; ls /tmp/never /tmp/never2 2>&1 | wc -l",
    );
    assert_eq!(
        machine.stdout,
        "locked\nmigrating\nrestored after rc=4\nunlocked\nafter\n2\n"
    );
    // The failure stays in sight: in the report with its exit code, in JUnit as a
    // passed case whose output is the failure, in the HTML report with its own badge.
    let steps = doc["machines"][0]["steps"].as_array().unwrap();
    assert_eq!(steps[1]["failure"]["exit_code"], 4);
    let junit = std::fs::read_to_string(w.path("r.xml")).unwrap();
    assert!(
        junit.contains("<system-out>failed (rescued): the shell failed with exit code 4"),
        "{junit}"
    );
    assert!(junit.contains("failures=\"0\""), "{junit}");
    let html = std::fs::read_to_string(w.path("r.html")).unwrap();
    assert!(
        html.contains(
            "<span class=\"st rs\"><span aria-hidden=\"true\">↺</span> failed (rescued)</span>"
        ),
        "{html}"
    );
}

#[test]
fn a_failed_rescue_still_runs_always_and_fails_the_run() {
    let w = World::new("grpfail");
    let m = w.name("a");
    w.write(
        "inv.yaml",
        format!("defaults: {{ create: true }}\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    w.write(
        "ops.yaml",
        r#"
- name: not here
  when: 1 == 2
  try: [{ name: t, shell: "touch /tmp/skipped-try" }]
  always: [{ name: a, shell: "touch /tmp/skipped-always" }]
- name: deploy
  try: [{ name: fetch, shell: "exit 1" }]
  rescue:
    - { name: roll back, shell: "echo cannot >&2; exit 2" }
    - { name: never, shell: "touch /tmp/never" }
  always: [{ name: clean up, put: { content: "cleaned\n", dest: /tmp/cleaned } }]
- { name: after, shell: "touch /tmp/after" }
"#,
    );
    w.orbdeploy(["apply", "inv.yaml", "--report", "r.json"])
        .assert_code(1);
    let doc = w.report("r.json");
    assert_eq!(
        step_statuses(&doc, &m),
        rows(&[
            ("not here / try / t", "skipped"),
            ("not here / always / a", "skipped"),
            ("deploy / try / fetch", "rescued"),
            ("deploy / rescue / roll back", "failed"),
            ("deploy / rescue / never", "skipped"),
            ("deploy / always / clean up", "changed"),
            ("after", "skipped"),
        ])
    );
    let machine = w.sh(
        &m,
        None,
        "cat /tmp/cleaned; ls /tmp/skipped-try /tmp/skipped-always /tmp/never /tmp/after 2>&1 | wc -l",
    );
    assert_eq!(machine.stdout, "cleaned\n4\n");
}

/// The human output of an apply with a rescued failure, of a plan (rescue steps run only
/// if `try` fails) and `plan --list-steps`.
#[test]
fn what_users_see_of_a_group() {
    let p = snap::Project::new(&[("devbox", "running")], "machines:\n  devbox: {}\n");
    p.write(
        "ops.yaml",
        r#"steps:
  - name: migrate
    try:
      - { name: lock, put: { content: "locked\n", dest: "{{ root }}/lock" } }
      - { name: run migrations, shell: "echo schema 7 is newer than the code >&2; exit 3" }
      - { name: mark done, put: { content: "7\n", dest: "{{ root }}/done" } }
    rescue:
      - { name: restore backup, put: { content: "backup\n", dest: "{{ root }}/db" }, notify: restart }
    always:
      - { name: unlock, file: { path: "{{ root }}/lock", state: absent } }
handlers:
  - { name: restart, shell: "true" }
"#,
    );
    let plan = p.run(&["plan", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("plan_group", plan.text()));
    let list = p.run(&["plan", "--list-steps", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("list_steps_group", list.text()));
    let apply = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_rescued", apply.text()));
    assert_eq!(apply.code, 0);
    assert_eq!(p.read("work/db"), "backup\n");
    assert!(!p.work().join("lock").exists());
    assert!(!p.work().join("done").exists());
}
