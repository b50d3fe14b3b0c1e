//! How a step ends (docs/step-results.md), end to end: `changed_when:` and `failed_when:`
//! on real orbsim machines (exit-code and output based, `false`, lists, per loop item,
//! `register:` seeing the final values, handlers), the `ran` status in the report, JUnit and
//! the closing line, and the human output with the new status pinned by snapshots (through
//! the recording fake orbctl and a local `sh`, as the other output snapshots are).

use crate::harness;
use crate::snap;

use harness::{step_statuses, summary_count as count, World};

const OPS: &str = r#"steps:
  - name: grep finds nothing
    shell: "grep -c nothing /etc/hostname"
    failed_when: result.rc > 1
    changed_when: false
  - name: grep with a bad file
    shell: "grep -c x /no/such/file"
    failed_when: result.rc > 1
    ignore_errors: true
  - name: installer says what it did
    shell: "if [ -e /tmp/installed ]; then echo already; else touch /tmp/installed; echo installed; fi"
    register: install
    changed_when: "'installed' in install.stdout"
    notify: after install
  - name: rc 2 means changed
    shell: "test -e /tmp/marker && exit 0; touch /tmp/marker; exit 2"
    changed_when: result.rc == 2
    failed_when: result.rc not in [0, 2]
  - name: both must hold
    shell: "echo a; test -e /tmp/both && echo b; touch /tmp/both"
    changed_when: ["result.stdout_lines | length == 1", "result.rc == 0"]
  - name: each item
    shell: "test -e /tmp/item-{{ item }} && echo kept || { touch /tmp/item-{{ item }}; echo made; }"
    loop: [one, two]
    changed_when: "result.stdout == 'made'"
    register: items
  - name: just runs
    command: [true]
    register: plain
  - name: record
    shell: "echo '{{ install.changed }} {{ install.status }} {{ items.changed }} {{ items.results | map(attribute=\"changed\") | join(\",\") }} {{ plain.status }} {{ plain.changed }}' > /tmp/record"
    changed_when: false
handlers:
  - name: after install
    shell: "echo handled >> /tmp/handled"
"#;

/// The first apply changes what the expressions say changed, the second changes nothing
/// (commands whose output says so are ok; a command without `changed_when` is ran), and
/// `register:` holds the final values.
#[test]
fn changed_when_and_failed_when_decide_on_a_real_machine() {
    let w = World::new("results");
    let m = w.name("m");
    w.create(&m);
    w.write("ops.yaml", OPS);
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap();

    let first = w.orbdeploy([
        "apply",
        inv,
        "--report",
        "first.json",
        "--junit",
        "first.xml",
    ]);
    first.assert_code(0);
    let doc = w.report("first.json");
    let st = |n: &str, s: &str| (n.to_string(), s.to_string());
    assert_eq!(
        step_statuses(&doc, &m),
        vec![
            st("grep finds nothing", "ok"),
            st("grep with a bad file", "ignored"),
            st("installer says what it did", "changed"),
            st("rc 2 means changed", "changed"),
            st("both must hold", "changed"),
            st("each item [one]", "changed"),
            st("each item [two]", "changed"),
            st("just runs", "ran"),
            st("record", "ok"),
            st("after install", "ran"),
        ],
        "{}",
        first.stdout
    );
    assert_eq!((count(&doc, "changed"), count(&doc, "ran")), (5, 2));
    let failure = &harness::machine_entry(&doc, &m)["steps"][1]["failure"];
    assert_eq!(
        failure["message"],
        "the shell failed with exit code 2 (failed_when: `result.rc > 1` is true)",
        "{failure}"
    );
    assert_eq!(failure["exit_code"], 2);
    assert_eq!(
        w.sh(&m, None, "cat /tmp/record /tmp/handled").stdout,
        "True changed True True,True ran True\nhandled\n"
    );
    let junit = std::fs::read_to_string(w.path("first.xml")).unwrap();
    assert!(junit.contains(" just runs\""), "{junit}");
    assert!(
        first.stdout.contains(", 5 changed, 2 ran, 0 failed in "),
        "{}",
        first.stdout
    );

    let second = w.orbdeploy(["apply", inv, "--report", "second.json"]);
    second.assert_code(0);
    let doc = w.report("second.json");
    let statuses = step_statuses(&doc, &m);
    assert_eq!(count(&doc, "changed"), 0, "{statuses:?}");
    assert!(
        statuses.contains(&st("installer says what it did", "ok"))
            && statuses.contains(&st("each item [two]", "ok")),
        "{statuses:?}"
    );
    assert_eq!(count(&doc, "ran"), 1, "only `just runs`: {statuses:?}");
    assert_eq!(harness::machine_entry(&doc, &m)["status"], "ok");
    assert_eq!(
        w.sh(&m, None, "cat /tmp/record /tmp/handled").stdout,
        "False ok False False,False ran True\nhandled\n",
        "register holds the final values; the handler was not notified again"
    );
    // A plan says the commands will run, and nothing is pending.
    let plan = w.orbdeploy(["plan", inv, "--exit-code"]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("no changes pending"),
        "{}",
        plan.stdout
    );
}

/// `failed_when` that is true fails the machine (exit 1) with the expression, the exit
/// code and the output in the failure; a failed item fails its loop after every item ran.
#[test]
fn failed_when_fails_the_machine_with_the_expression() {
    let w = World::new("failwhen");
    let m = w.name("m");
    w.create(&m);
    w.write(
        "ops.yaml",
        r#"- name: check
  shell: "echo {{ item }}"
  loop: [fine, ERROR, fine2]
  failed_when: "'ERROR' in result.stdout"
- name: after
  shell: "true"
"#,
    );
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let run = w.orbdeploy(["apply", inv.to_str().unwrap(), "--report", "r.json"]);
    run.assert_code(1);
    let doc = w.report("r.json");
    assert_eq!(
        step_statuses(&doc, &m),
        vec![
            ("check [fine]".to_string(), "ran".to_string()),
            ("check [ERROR]".into(), "failed".into()),
            ("check [fine2]".into(), "ran".into()),
            ("after".into(), "skipped".into()),
        ]
    );
    assert!(
        run.stdout
            .contains("failed_when: `'ERROR' in result.stdout` is true"),
        "{}",
        run.stdout
    );
}

const SNAP_OPS: &str = r#"steps:
  - name: list the work directory
    command: [ls, "{{ root }}"]
  - name: count errors
    shell: "grep -c ERROR {{ root }}/log || true"
    register: errors
    changed_when: errors.stdout | int > 0
    notify: tell
  - name: quiet check
    shell: "exit 1"
    failed_when: false
    changed_when: false
  - name: the config
    put: { content: "a=1\n", dest: "{{ root }}/app.conf" }
handlers:
  - name: tell
    shell: "echo told"
"#;

/// The human output with `ran`: the step lines, the RAN column and the closing line, on a
/// first and a second apply, and a plan of the same.
#[test]
fn human_output_shows_ran_and_the_judged_statuses() {
    let p = snap::Project::new(&[("devbox", "running")], "machines:\n  devbox: {}\n");
    p.write("ops.yaml", SNAP_OPS);
    p.write("work/log", "ERROR one\nfine\n");
    let first = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("ran_first_apply", first.text()));
    p.write("work/log", "fine\n");
    let second = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("ran_second_apply", second.text()));
    let plan = p.run(&["plan", "inv.yaml", "--exit-code"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("ran_plan", plan.text()));
}
