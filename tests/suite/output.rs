//! What users see, pinned by snapshots (`tests/suite/snapshots/suite__output__*.snap`): the human output
//! of `apply` and `plan` (exact stdout, stderr and exit code), the `--output json` lines,
//! the `--report` document and the `--junit` XML. Every run goes through the recording
//! fake orbctl, whose `run` executes the channel agent on this machine: no root, no orbsim.
//! The accepted snapshot is the spec; a change of output is a reviewed snapshot diff.

use crate::snap;

use serde_json::Value;
use snap::Project;

const ONE: &[(&str, &str)] = &[("devbox", "running")];
const ONE_INV: &str = "machines:\n  devbox: {}\n";

/// Operations touching every file kind that runs locally: directory, put (content and
/// src), template, line, file, a guarded shell and a command.
const CONVERGE_OPS: &str = r#"
- name: app directory
  directory: { path: "{{ root }}/app" }
- name: app config
  put: { content: "port=8080\n", dest: "{{ root }}/app/app.conf" }
- name: motd
  template: { src: motd.j2, dest: "{{ root }}/app/motd" }
- name: hosts entry
  line: { path: "{{ root }}/app/hosts", line: "127.0.0.1 app.local" }
- name: stale file
  file: { path: "{{ root }}/stale", state: absent }
- name: initialise
  shell: "echo initialised > {{ root }}/app/.init"
  creates: "{{ root }}/app/.init"
- name: list the app
  command: [ls, "{{ root }}/app"]
"#;

fn converge_project() -> Project {
    let p = Project::new(ONE, ONE_INV);
    p.write("ops.yaml", CONVERGE_OPS);
    p.write("motd.j2", "welcome to {{ machine }} ({{ distro }})\n");
    p.write("work/stale", "old\n");
    p
}

#[test]
fn apply_first_run_changes_every_step() {
    let p = converge_project();
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_first_run", run.text()));
    assert_eq!(p.read("work/app/motd"), "welcome to devbox (debian)\n");
}

#[test]
fn apply_second_run_changes_nothing_but_the_command() {
    let p = converge_project();
    assert_eq!(p.run(&["apply", "inv.yaml"]).code, 0);
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_second_run", run.text()));
}

#[test]
fn plan_diff_names_each_change_and_shows_it() {
    let p = converge_project();
    assert_eq!(p.run(&["apply", "inv.yaml"]).code, 0);
    p.write(
        "motd.j2",
        "welcome to {{ machine }}, a {{ distro }} machine\n",
    );
    p.write(
        "ops.yaml",
        &CONVERGE_OPS
            .replace("port=8080", "port=9090")
            .replace("app/motd\" }", "app/motd\", mode: \"0600\" }")
            .replace("127.0.0.1 app.local", "127.0.0.1 app.local app")
            .replace("state: absent", "state: touch"),
    );
    let run = p.run(&["plan", "inv.yaml", "--diff"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("plan_diff", run.text()));
    // Nothing changed: the same plan again, and --exit-code says changes are pending.
    assert_eq!(p.read("work/app/app.conf"), "port=8080\n");
    assert_eq!(p.run(&["plan", "inv.yaml", "--exit-code"]).code, 4);
}

#[test]
fn plan_with_nothing_pending() {
    let p = converge_project();
    assert_eq!(p.run(&["apply", "inv.yaml"]).code, 0);
    let run = p.run(&["plan", "inv.yaml", "--exit-code"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("plan_nothing_pending", run.text()));
}

#[test]
fn plan_show_calls_lists_sessions_and_scripts() {
    let p = Project::new(ONE, ONE_INV);
    p.write(
        "ops.yaml",
        r#"
- name: config
  put: { content: "a=1\n", dest: "{{ root }}/a.conf" }
- name: marker
  line: { path: "{{ root }}/a.conf", line: "b=2" }
- name: greet
  shell: echo hello
"#,
    );
    let run = p.run(&["plan", "inv.yaml", "--show-calls"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("plan_show_calls", run.text()));
    assert_eq!(p.changing_calls(), Vec::<String>::new());
}

#[test]
fn plan_of_machines_to_create_and_start() {
    let p = Project::new(
        &[("devbox", "running"), ("sleepy", "stopped")],
        "defaults: { create: true }\nmachines:\n  devbox: {}\n  sleepy: {}\n  newbox: { image: \"debian:trixie\" }\n",
    );
    p.write(
        "ops.yaml",
        "- name: config\n  put: { content: \"a=1\\n\", dest: \"{{ root }}/{{ machine }}.conf\" }\n- name: greet\n  shell: echo hello\n",
    );
    let run = p.run(&["plan", "inv.yaml", "--show-calls", "--parallel", "1"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("plan_create_and_start", run.text()));
    assert_eq!(p.changing_calls(), Vec::<String>::new());
}

const FAILING_OPS: &str = r#"
- name: app config
  put: { content: "port=8080\n", dest: "{{ root }}/{{ machine }}.conf" }
- name: migrate
  shell: |
    echo "migrating {{ machine }}"
    echo "step 1 of 2 done"
    if [ "{{ machine }}" = db ]; then
      echo "no such table: users" >&2
      exit 3
    fi
- name: after the migration
  shell: "echo migrated > {{ root }}/{{ machine }}.done"
"#;

#[test]
fn apply_failure_shows_the_failure_in_full() {
    let p = Project::new(&[("db", "running")], "machines:\n  db: {}\n");
    p.write("ops.yaml", FAILING_OPS);
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_failure", run.text()));
}

#[test]
fn apply_summary_table_of_machines_one_failing() {
    let p = Project::new(
        &[("web", "running"), ("db", "running"), ("cache", "running")],
        "machines:\n  web: {}\n  db: {}\n  cache: {}\n",
    );
    p.write("ops.yaml", FAILING_OPS);
    p.write("work/cache.conf", "port=8080\n");
    let run = p.run(&["apply", "inv.yaml", "--parallel", "1"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_summary_table", run.text()));
}

#[test]
fn apply_ignored_failure_lets_the_machine_go_on() {
    let p = Project::new(ONE, ONE_INV);
    p.write(
        "ops.yaml",
        "- name: optional cleanup\n  shell: \"echo nothing to clean >&2; exit 1\"\n  ignore_errors: true\n- name: next\n  put: { content: \"x\\n\", dest: \"{{ root }}/x\" }\n",
    );
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_ignored_failure", run.text()));
    assert_eq!(run.code, 0);
}

#[test]
fn apply_slowest_steps() {
    let p = Project::new(ONE, ONE_INV);
    p.write(
        "ops.yaml",
        "- name: quick\n  shell: \"true\"\n- name: a bit slow\n  shell: sleep 1.2\n- name: slow\n  shell: sleep 2\n- name: quick again\n  shell: \"true\"\n",
    );
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings_with_slowest()
        .bind(|| insta::assert_snapshot!("apply_slowest_steps", run.text()));
}

/// Steps of every phase: a put and a template (transfers), a line, commands that take
/// clearly different times (so the slowest steps come in one order), and a handler.
const TIMED_OPS: &str = r#"
steps:
  - name: app config
    put: { content: "port=8080\n", dest: "{{ root }}/app.conf" }
    notify: reload
  - name: motd
    template: { src: motd.j2, dest: "{{ root }}/motd" }
  - name: hosts entry
    line: { path: "{{ root }}/hosts", line: "127.0.0.1 app.local" }
  - name: migrate
    shell: sleep 0.8
  - name: warm the cache
    shell: sleep 0.65
  - name: index
    command: [sleep, "0.5"]
  - name: compact
    shell: sleep 0.35
handlers:
  - name: reload
    shell: sleep 0.2
"#;

#[test]
fn apply_timings_says_where_the_time_went() {
    let p = Project::new(ONE, ONE_INV);
    p.write("ops.yaml", TIMED_OPS);
    p.write("motd.j2", "welcome to {{ machine }}\n");
    let run = p.run(&["apply", "inv.yaml", "--timings"]);
    assert_eq!(run.code, 0, "{}", run.text());
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_timings", run.text()));
    // A plan has the same block; it never applies anything.
    let plan = p.run(&["plan", "inv.yaml", "--timings"]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    let block = plan.stdout.split("\nWhere the time went:\n").nth(1);
    let block = block.unwrap_or_else(|| panic!("no block: {}", plan.stdout));
    assert!(block.contains(", apply 0.0ms, "), "{block}");
    assert!(block.contains("slowest steps:"), "{block}");
    let last = plan.stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("no changes pending: 1 machine"), "{last}");
}

#[test]
fn apply_handlers_run_once_at_the_end() {
    let p = Project::new(ONE, ONE_INV);
    p.write(
        "ops.yaml",
        r#"
steps:
  - name: config a
    put: { content: "a\n", dest: "{{ root }}/a.conf" }
    notify: reload
  - name: config b
    put: { content: "b\n", dest: "{{ root }}/b.conf" }
    notify: reload
  - name: unrelated
    put: { content: "c\n", dest: "{{ root }}/c.conf" }
    notify: restart
handlers:
  - name: reload
    shell: "echo reloaded >> {{ root }}/reloads"
  - name: restart
    shell: "echo restarted >> {{ root }}/restarts"
"#,
    );
    p.write("work/c.conf", "c\n");
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_handlers", run.text()));
    assert_eq!(p.read("work/reloads"), "reloaded\n");
}

#[test]
fn apply_masks_secrets_in_changes_and_diffs() {
    let p = Project::new(
        ONE,
        "secrets: [token]\nmachines:\n  devbox: { vars: { token: s3cr3t-t0ken } }\n",
    );
    p.write(
        "ops.yaml",
        "- name: credentials\n  put: { content: \"token={{ token }}\\n\", dest: \"{{ root }}/creds\" }\n- name: use it\n  shell: \"echo using {{ token }}; echo {{ token }} >&2; exit 1\"\n",
    );
    p.write("work/creds", "token=old\n");
    let run = p.run(&["apply", "inv.yaml", "--diff"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_secrets_masked", run.text()));
    assert!(!run.text().contains("s3cr3t"), "{}", run.text());
}

#[test]
fn apply_interrupted_exits_130_with_the_summary() {
    let p = Project::new(ONE, ONE_INV);
    p.write(
        "ops.yaml",
        "- name: quick\n  shell: \"true\"\n- name: long\n  shell: \"touch {{ root }}/started; sleep 30\"\n- name: never reached\n  shell: \"true\"\n",
    );
    let run = p.interrupt_when(&["apply", "inv.yaml"], "started");
    let mut settings = p.settings();
    // How the killed session ended (a signal, "Terminated" on its stderr) varies.
    settings.add_filter(
        r"session ended while the request ran[^;]*;",
        "session ended while the request ran[: how];",
    );
    settings.bind(|| insta::assert_snapshot!("apply_interrupted", run.text()));
    assert_eq!(run.code, 130);
}

#[test]
fn apply_missing_machine_with_create_off_is_exit_3() {
    let p = Project::new(ONE, "machines:\n  devbox: {}\n  ghost: {}\n");
    p.write(
        "ops.yaml",
        "- name: config\n  put: { content: \"a=1\\n\", dest: \"{{ root }}/{{ machine }}.conf\" }\n- name: greet\n  shell: echo hello\n",
    );
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_missing_machine", run.text()));
    assert_eq!(run.code, 3);
    assert_eq!(p.changing_calls(), Vec::<String>::new());
}

#[test]
fn apply_with_orbstack_down_is_exit_3() {
    let p = Project::new(ONE, ONE_INV);
    p.write("ops.yaml", "- shell: echo hello\n");
    p.write("down", "");
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_orbstack_down", run.text()));
    assert_eq!(run.code, 3);
}

// ---- machine-readable outputs -------------------------------------------------------

/// A run with something of everything: a change, an ok step, a failure, a skipped step,
/// and an unreachable machine.
fn mixed_project() -> Project {
    let p = Project::new(
        &[("web", "running"), ("db", "running")],
        "machines:\n  web: {}\n  db: {}\n  ghost: {}\n",
    );
    p.write("ops.yaml", FAILING_OPS);
    p.write("work/web.conf", "port=8080\n");
    p
}

/// Validate a report against docs/report-schema.json.
fn assert_schema(doc: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../../docs/report-schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}

/// Every time in a `timings` object (report version 2) reads `[ms]`, wherever it is;
/// byte and request counts stay, being the same from run to run.
fn redact_timings(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map.iter_mut() {
                match (k.as_str(), inner) {
                    ("timings", Value::Object(t)) => {
                        for (name, time) in t.iter_mut() {
                            if name.ends_with("_ms") {
                                *time = Value::from("[ms]");
                            }
                        }
                    }
                    (_, inner) => redact_timings(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_timings),
        _ => {}
    }
}

#[test]
fn json_lines_are_one_event_per_line() {
    let p = mixed_project();
    let run = p.run(&["apply", "inv.yaml", "--output", "json", "--parallel", "1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.last().unwrap()["event"], "summary");
    // Every step that reached its machine, and every machine that ran, says where its time
    // went; the steps of the unreachable machine do not.
    for e in &events {
        let reached = e["machine"] != "ghost";
        if e["event"] == "step" || e["event"] == "host" {
            assert_eq!(e["timings"].is_object(), reached, "{e}");
        }
    }
    let mut events = Value::Array(events);
    redact_timings(&mut events);
    p.settings().bind(|| {
        insta::assert_json_snapshot!("json_lines", events, {
            "[].duration_ms" => "[ms]",
            "[].start_ms" => "[ms]",
        })
    });
}

#[test]
fn report_document_matches_the_schema() {
    let p = mixed_project();
    let run = p.run(&[
        "apply",
        "inv.yaml",
        "--report",
        "out/report.json",
        "--parallel",
        "1",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&p.read("out/report.json")).unwrap();
    assert_schema(&doc);
    assert_eq!(doc["version"], 4);
    // Version 3: which inventory the report is of (its bytes vary with the test's paths).
    use sha2::Digest;
    let sum = format!("{:x}", sha2::Sha256::digest(p.read("inv.yaml")));
    assert_eq!(doc["inventory_sha256"], sum.as_str());
    let mut doc = doc;
    redact_timings(&mut doc);
    p.settings().bind(|| {
        insta::assert_json_snapshot!("report_json", doc, {
            ".started_unix" => "[unix time]",
            ".inventory_path" => "[absolute path]/inv.yaml",
            ".inventory_sha256" => "[sha256 of inv.yaml]",
            ".orbdeploy_version" => "[version]",
            ".summary.duration_ms" => "[ms]",
            ".machines[].duration_ms" => "[ms]",
            ".machines[].steps[].duration_ms" => "[ms]",
            ".machines[].steps[].start_ms" => "[ms]",
        })
    });
}

#[test]
fn plan_report_matches_the_schema() {
    let p = converge_project();
    let run = p.run(&["plan", "inv.yaml", "--diff", "--report", "plan.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&p.read("plan.json")).unwrap();
    assert_schema(&doc);
    assert_eq!(doc["mode"], "plan");
    assert_eq!(doc["summary"]["counts"]["will_change"], 5);
}

#[test]
fn junit_has_a_suite_per_machine_and_a_case_per_step() {
    let p = mixed_project();
    let run = p.run(&[
        "apply",
        "inv.yaml",
        "--junit",
        "junit.xml",
        "--parallel",
        "1",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let xml = p.read("junit.xml");
    p.settings()
        .bind(|| insta::assert_snapshot!("junit_xml", xml));
}

#[test]
fn junit_escapes_what_xml_cannot_carry() {
    let p = Project::new(ONE, ONE_INV);
    p.write(
        "ops.yaml",
        "- name: \"<&> \\\"quotes\\\" 'and' \\x01 control\"\n  shell: \"printf 'out <&>\\\\001\\\\n'; printf '\\\\033[31mred\\\\033[0m ]]> end\\\\n' >&2; exit 2\"\n",
    );
    let run = p.run(&["apply", "inv.yaml", "--junit", "junit.xml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let xml = p.read("junit.xml");
    p.settings()
        .bind(|| insta::assert_snapshot!("junit_escaping", xml));
}

#[test]
fn the_end_names_the_report_files_it_wrote() {
    let p = converge_project();
    let run = p.run(&[
        "apply",
        "inv.yaml",
        "--report",
        "out/r.json",
        "--junit",
        "out/j.xml",
        "--report-html",
        "out/r.html",
    ]);
    assert_eq!(run.code, 0, "{}", run.text());
    let lines: Vec<&str> = run.stdout.lines().collect();
    let end = &lines[lines.len().saturating_sub(3)..];
    assert_eq!(
        end[0], "Reports: out/r.json (JSON), out/j.xml (JUnit), out/r.html (HTML)",
        "{}",
        run.stdout
    );
    assert_eq!(end[1], "");
    assert!(end[2].starts_with("done"), "{}", run.stdout);
    // A report that cannot be written is not named; the error says why.
    p.write("blocked", "a file, not a folder\n");
    let run = p.run(&["apply", "inv.yaml", "--report", "blocked/r.json"]);
    assert_ne!(run.code, 0, "{}", run.text());
    assert!(!run.stdout.contains("Reports:"), "{}", run.stdout);
    assert!(run.stderr.contains("error:"), "{}", run.stderr);
    // Without report files, no such line.
    let run = p.run(&["apply", "inv.yaml"]);
    assert!(!run.stdout.contains("Reports:"), "{}", run.stdout);
}
