//! What users see of saved plans, pinned by snapshots (`tests/suite/snapshots/suite__saved_plan_output__*`),
//! through the recording fake orbctl (no root): `plan --show` of a plan with a machine to
//! create, `apply --plan` with a refused machine and a drifted step, and every refusal
//! message of a bad or stale plan file. Plan ids, dates and hashes are redacted.

use crate::snap;

use snap::Project;

const TWO: &[(&str, &str)] = &[("db", "running"), ("web", "running")];

/// Each machine writes under `work/MACHINE/` (the fake runs every machine here).
const OPS: &str = r#"steps:
  - name: config
    template: { src: app.conf.j2, dest: "{{ root }}/{{ machine }}/app.conf" }
  - name: motd
    put: { content: "hello\n", dest: "{{ root }}/{{ machine }}/motd" }
  - name: already there
    put: { content: "same\n", dest: "{{ root }}/{{ machine }}/same" }
  - name: marker
    shell: "touch {{ root }}/{{ machine }}/ran"
    creates: "{{ root }}/{{ machine }}/ran"
    notify: reload
handlers:
  - { name: reload, shell: "true" }
"#;

fn project(machines: &[(&str, &str)], inventory: &str) -> Project {
    let p = Project::new(machines, inventory);
    p.write("ops.yaml", OPS);
    p.write("app.conf.j2", "name={{ machine }}\n");
    for (m, _) in TWO {
        p.write(&format!("work/{m}/same"), "same\n");
    }
    p
}

/// The harness's redactions, and the plan id, the date and every hash.
fn settings(p: &Project) -> insta::Settings {
    let mut s = p.settings();
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[plan-id]",
    );
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "[date]");
    s.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[hash]");
    s.add_filter(r"\b[0-9a-f]{12}\b", "[hash]");
    s
}

#[test]
fn plan_show_prints_a_saved_plan() {
    let p = project(
        &[("db", "running"), ("web", "running")],
        "defaults: { create: true }\nmachines:\n  db: {}\n  web: {}\n  new: {}\n",
    );
    let plan = p.run(&["plan", "inv.yaml", "--out", "p.json", "--var", "port=81"]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    // The plan (a machine to create, unknown steps, a handler) matches its schema.
    let doc: serde_json::Value = serde_json::from_str(&p.read("p.json")).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/plan-schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let show = p.run(&["plan", "--show", "p.json"]);
    settings(&p).bind(|| insta::assert_snapshot!("plan_show", show.text()));
    let apply = p.run(&["apply", "--plan", "p.json", "--var", "port=81"]);
    settings(&p).bind(|| insta::assert_snapshot!("apply_plan_unknown", apply.text()));
    assert_eq!(
        p.changing_calls(),
        Vec::<String>::new(),
        "plan --show touches nothing"
    );
}

#[test]
fn apply_plan_refuses_a_moved_machine_and_leaves_drift_alone() {
    let p = project(TWO, "machines:\n  db: {}\n  web: {}\n");
    let plan = p.run(&["plan", "inv.yaml", "--out", "p.json"]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    p.write("work/db/motd", "someone else\n");
    p.write("work/web/same", "drifted\n");
    let apply = p.run(&["apply", "--plan", "p.json"]);
    settings(&p).bind(|| insta::assert_snapshot!("apply_plan_refused_and_drift", apply.text()));
    assert_eq!(apply.code, 5);
    assert_eq!(p.read("work/db/motd"), "someone else\n");
    assert!(!p.work().join("db/app.conf").exists());
    assert_eq!(p.read("work/web/same"), "drifted\n");
    assert_eq!(p.read("work/web/app.conf"), "name=web\n");
}

#[test]
fn stale_and_bad_plan_files_are_refused_with_one_message() {
    let p = project(TWO, "machines:\n  db: {}\n  web: {}\n");
    let plan = p.run(&["plan", "inv.yaml", "--out", "p.json", "--limit", "web"]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    let doc: serde_json::Value = serde_json::from_str(&p.read("p.json")).unwrap();
    let mut tampered = doc.clone();
    tampered["machines"][0]["steps"][2]["status"] = "will_change".into();
    p.write("tampered.json", &tampered.to_string());
    let mut v9 = doc.clone();
    v9["format_version"] = 9.into();
    p.write("v9.json", &v9.to_string());
    p.write(
        "not-json.json",
        "{ \"schema\": \"orbdeploy-plan\",\n  oops }\n",
    );
    p.write("report.json", "{ \"schema\": \"orbdeploy-report\" }\n");
    let cases: &[&[&str]] = &[
        &["apply", "--plan", "missing.json"],
        &["apply", "--plan", "not-json.json"],
        &["apply", "--plan", "report.json"],
        &["apply", "--plan", "v9.json"],
        &["apply", "--plan", "tampered.json"],
        &["apply", "--plan", "p.json", "--limit", "db"],
        &["apply", "--plan", "p.json", "--var", "port=80"],
        &["apply", "other.yaml", "--plan", "p.json"],
        &["apply", "--plan", "p.json", "--dry-run"],
        &["apply", "inv.yaml", "--allow-unknown"],
        &["plan", "--show", "p.json", "inv.yaml"],
    ];
    p.write("other.yaml", &p.read("inv.yaml"));
    let mut text = String::new();
    for args in cases {
        let run = p.run(args);
        text.push_str(&format!("$ orbdeploy {}\n{}\n", args.join(" "), run.text()));
    }
    p.write("app.conf.j2", "name={{ machine }} (edited)\n");
    text.push_str("$ orbdeploy apply --plan p.json  (after editing app.conf.j2)\n");
    text.push_str(&p.run(&["apply", "--plan", "p.json"]).text());
    settings(&p).bind(|| insta::assert_snapshot!("refusals", text));
    assert_eq!(
        p.changing_calls(),
        Vec::<String>::new(),
        "no refused plan touched a machine"
    );
    assert!(!p.work().join("web/app.conf").exists());
}

#[test]
fn a_plan_that_fails_writes_no_plan_file() {
    let p = Project::new(&[("web", "running")], "machines:\n  web: {}\n");
    p.write(
        "ops.yaml",
        "- name: check\n  assert: { that: \"machine == 'db'\", message: \"not db\" }\n",
    );
    let plan = p.run(&["plan", "inv.yaml", "--out", "p.json"]);
    settings(&p).bind(|| insta::assert_snapshot!("failed_plan_no_file", plan.text()));
    assert_eq!(plan.code, 1);
    assert!(!p.dir().join("p.json").exists());
}
