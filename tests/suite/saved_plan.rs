//! Saved plans end to end against real orbsim machines: `plan --out` then `apply --plan`
//! applies exactly the planned changes; a machine changed in between is refused before
//! anything changes on it while the others apply (and a step the plan found ok is left
//! alone: drift); an edited template, a tampered plan file and a plan made with other
//! inputs are refused (exit 5) by name; unknown steps need `--allow-unknown`; and the plan
//! file matches docs/plan-schema.json and holds no secret.

use crate::harness;

use harness::{step_statuses as statuses, World};
use serde_json::Value;

/// The template, put, line, an ok put and a guarded command, on every machine.
const OPS: &str = r#"
- name: config
  template: { src: templates/app.conf.j2, dest: /tmp/app.conf }
- name: motd
  put: { src: files/motd, dest: /tmp/motd }
- name: setting
  line: { path: /tmp/settings, line: "a=1", regexp: "^a=" }
- name: already there
  put: { content: "same\n", dest: /tmp/same }
- name: marker
  shell: "touch /tmp/ran"
  creates: /tmp/ran
- name: secret line
  line: { path: /tmp/secret, line: "token={{ token }} env={{ env('SP_TOKEN') }}" }
- name: labelled
  put: { content: "x\n", dest: /tmp/labelled }
  loop: ["{{ token }}"]
  label: "{{ item }}"
"#;

/// Every entry of /tmp with its time to the nanosecond, and every file's SHA-256: equal
/// before and after means nothing there changed (the directory's own time included).
const SNAPSHOT_TMP: &str =
    "ls -la --time-style=+%s.%N /tmp | sort; sha256sum /tmp/* 2>/dev/null | sort";

/// Machines `names` (made now, with /tmp/same already as declared) and the files of
/// [`OPS`]; returns the inventory's path.
fn setup(w: &mut World, names: &[&str]) -> String {
    w.env.push(("SP_TOKEN".into(), "env-t0ken-value".into()));
    let mut machines = String::new();
    for n in names {
        let m = w.name(n);
        w.create(&m);
        w.sh(&m, None, "printf 'same\\n' > /tmp/same")
            .assert_code(0);
        machines.push_str(&format!("  {m}: {{}}\n"));
    }
    w.write(
        "templates/app.conf.j2",
        "name={{ machine }}\nport={{ port }}\ntoken={{ token }}\n",
    );
    w.write("files/motd", "hello\n");
    w.write("ops.yaml", OPS);
    let inv = format!(
        "vars: {{ port: 80, token: s3cr3t-t0ken }}\nsecrets: [token]\nmachines:\n{machines}operations: ops.yaml\n"
    );
    w.write("inv.yaml", inv).to_str().unwrap().to_string()
}

/// The saved plan `name`, checked against docs/plan-schema.json.
fn plan_doc(w: &World, name: &str) -> Value {
    let text = std::fs::read_to_string(w.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        !text.contains("s3cr3t-t0ken"),
        "a secret is in the plan:\n{text}"
    );
    let doc: Value = serde_json::from_str(&text).expect("the plan is JSON");
    let schema: Value = serde_json::from_str(include_str!("../../docs/plan-schema.json"))
        .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not match docs/plan-schema.json: {errors:#?}"
    );
    doc
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// What a file on a machine holds (`MISSING` when it does not exist).
fn cat(w: &World, m: &str, path: &str) -> String {
    w.sh(m, None, &format!("cat {path} 2>/dev/null || echo MISSING"))
        .stdout
}

#[test]
fn plan_then_apply_applies_exactly_the_plan() {
    let mut w = World::new("spexact");
    let inv = setup(&mut w, &["a"]);
    let a = w.name("a");
    // With --exit-code a plan with changes ends 4, and the file is written all the same.
    w.orbdeploy(["plan", &inv, "--out", "p.json", "--exit-code"])
        .assert_code(4);
    let doc = plan_doc(&w, "p.json");
    assert_eq!(doc["schema"], "orbdeploy-plan");
    assert_eq!(doc["format_version"], 1);
    let steps = doc["machines"][0]["steps"].as_array().unwrap();
    let status: Vec<&str> = steps
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        status,
        [
            "will_change",
            "will_change",
            "will_change",
            "ok",
            "will_run",
            "will_change",
            "will_change"
        ]
    );
    assert_eq!(steps[5]["changes"][0], "create /tmp/secret with the line");
    assert!(steps[0]["facts"]["keys"].is_object(), "{:#}", steps[0]);
    assert!(steps[3]["facts"].is_null(), "an ok step keeps no facts");
    let inputs: Vec<&str> = doc["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        inputs,
        [
            "files/motd",
            "inv.yaml",
            "ops.yaml",
            "templates/app.conf.j2"
        ]
    );

    let out = w.orbdeploy(["apply", "--plan", "p.json", "--report", "r.json"]);
    out.assert_code(0);
    assert_eq!(
        statuses(&w.report("r.json"), &a),
        pairs(&[
            ("config", "changed"),
            ("motd", "changed"),
            ("setting", "changed"),
            ("already there", "ok"),
            ("marker", "ran"),
            ("secret line", "changed"),
            ("labelled [***]", "changed"),
        ])
    );
    assert_eq!(
        cat(&w, &a, "/tmp/app.conf"),
        format!("name={a}\nport=80\ntoken=s3cr3t-t0ken\n")
    );
    assert_eq!(cat(&w, &a, "/tmp/ran"), "");
    // Nothing is pending after it, and the same plan does not apply twice: the facts it
    // was made on are gone.
    w.orbdeploy(["plan", &inv, "--exit-code"]).assert_code(0);
    let again = w.orbdeploy(["apply", "--plan", "p.json"]);
    again.assert_code(5);
    assert!(
        again.stdout.contains("refused by the saved plan"),
        "{}",
        again.stdout
    );
}

#[test]
fn a_machine_changed_after_the_plan_is_refused_before_anything_changes_on_it() {
    let mut w = World::new("spmoved");
    let inv = setup(&mut w, &["a", "b", "c"]);
    let (a, b, c) = (w.name("a"), w.name("b"), w.name("c"));
    w.orbdeploy(["plan", &inv, "--out", "p.json"])
        .assert_code(0);
    // c: stopped since, so its action would now be a start.
    w.orbctl(["stop", &c]).assert_code(0);
    // b: a planned step's facts move. a: a step the plan found ok now differs (drift).
    w.sh(&b, None, "printf 'someone else\\n' > /tmp/motd")
        .assert_code(0);
    w.sh(&a, None, "printf 'drifted\\n' > /tmp/same")
        .assert_code(0);
    let before_b = w.sh(&b, None, SNAPSHOT_TMP).stdout;

    let out = w.orbdeploy(["apply", &inv, "--plan", "p.json", "--report", "r.json"]);
    out.assert_code(5);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{b}: failed")))
        .unwrap_or_else(|| panic!("no failed line for {b}:\n{}", out.stdout));
    assert!(
        line.contains("refused by the saved plan: step `motd` (")
            && line
                .contains("ops.yaml:4:3): its facts differ from the plan's: `stat`, `sha` (new)"),
        "{line}"
    );
    let line_c = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{c}: failed")))
        .unwrap_or_else(|| panic!("no failed line for {c}:\n{}", out.stdout));
    assert!(
        line_c.ends_with(
            "refused by the saved plan: its machine action is now `start`, the plan's is `keep`"
        ),
        "{line_c}"
    );
    assert_eq!(w.state(&c).as_deref(), Some("stopped"), "c was not started");
    // Nothing changed on b: the same files, sizes and times as before the apply.
    assert_eq!(w.sh(&b, None, SNAPSHOT_TMP).stdout, before_b);
    assert_eq!(cat(&w, &b, "/tmp/app.conf"), "MISSING\n");
    let doc = w.report("r.json");
    assert!(statuses(&doc, &b).iter().all(|(_, s)| s == "skipped"));
    // a applied the plan and left the drifted step alone.
    assert_eq!(
        statuses(&doc, &a),
        pairs(&[
            ("config", "changed"),
            ("motd", "changed"),
            ("setting", "changed"),
            ("already there", "skipped"),
            ("marker", "ran"),
            ("secret line", "changed"),
            ("labelled [***]", "changed"),
        ])
    );
    assert_eq!(cat(&w, &a, "/tmp/same"), "drifted\n");
    assert!(
        out.stdout
            .contains("drift: the saved plan does not change this step"),
        "{}",
        out.stdout
    );
}

#[test]
fn changed_inputs_and_a_tampered_plan_are_refused_by_name() {
    let mut w = World::new("spinputs");
    let inv = setup(&mut w, &["a"]);
    let a = w.name("a");
    w.orbdeploy(["plan", &inv, "--out", "p.json", "--var", "port=81"])
        .assert_code(0);
    let refused = |args: &[&str], want: &str| {
        let out = w.orbdeploy(args);
        out.assert_code(5);
        assert!(
            out.stderr.contains(want),
            "{args:?}: want {want:?} in:\n{}",
            out.stderr
        );
        assert_eq!(out.stdout, "", "{args:?}: nothing runs");
    };
    // Other inputs: another --var value, none, another inventory.
    refused(
        &["apply", "--plan", "p.json", "--var", "port=82"],
        "--var port has another value",
    );
    refused(
        &["apply", "--plan", "p.json"],
        "--var port was given to the plan",
    );
    w.write(
        "other.yaml",
        std::fs::read_to_string(w.path("inv.yaml")).unwrap(),
    );
    refused(
        &[
            "apply",
            "other.yaml",
            "--plan",
            "p.json",
            "--var",
            "port=81",
        ],
        "the plan was made for the inventory",
    );
    // A tampered plan: a step the plan found ok made to change.
    let text = std::fs::read_to_string(w.path("p.json")).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["machines"][0]["steps"][3]["status"] = "will_change".into();
    w.write("tampered.json", serde_json::to_string_pretty(&doc).unwrap());
    refused(
        &["apply", "--plan", "tampered.json", "--var", "port=81"],
        "the plan's integrity hash does not match its content",
    );
    // An edited template, named.
    w.write("templates/app.conf.j2", "edited {{ port }}\n");
    refused(
        &["apply", "--plan", "p.json", "--var", "port=81"],
        "input file `templates/app.conf.j2` changed since the plan",
    );
    assert_eq!(
        cat(&w, &a, "/tmp/app.conf"),
        "MISSING\n",
        "no refused apply touched the machine"
    );
}

#[test]
fn unknown_steps_need_allow_unknown_and_bad_plan_files_are_refused() {
    let w = World::new("spunknown");
    let n = w.name("new");
    w.write(
        "ops.yaml",
        "- name: hello\n  put: { content: \"hi\\n\", dest: /tmp/hello }\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!("defaults: {{ create: true }}\nmachines:\n  {n}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap();
    w.orbdeploy(["plan", inv, "--out", "p.json"]).assert_code(0);
    let doc = plan_doc(&w, "p.json");
    assert_eq!(doc["machines"][0]["action"], "create");
    assert_eq!(doc["machines"][0]["steps"][0]["status"], "unknown");

    let out = w.orbdeploy(["apply", "--plan", "p.json"]);
    out.assert_code(5);
    assert!(
        out.stderr.contains("1 unknown step(s)") && out.stderr.contains("--allow-unknown"),
        "{}",
        out.stderr
    );
    assert_eq!(w.state(&n), None, "a refused plan creates nothing");

    // Bad files: missing, not JSON, not a plan (exit 2); another format version (exit 5).
    let bad = |file: &str, code: i32, want: &str| {
        let out = w.orbdeploy(["apply", "--plan", file]);
        out.assert_code(code);
        assert!(
            out.stderr.contains(want),
            "{file}: want {want:?} in:\n{}",
            out.stderr
        );
    };
    bad(
        "nothing.json",
        2,
        "nothing.json: cannot read the saved plan: no such file",
    );
    w.write("text.json", "plan: yes\n");
    bad(
        "text.json",
        2,
        "text.json:1:1: not a saved plan: the file is not JSON",
    );
    w.write("report.json", "{\"schema\": \"orbdeploy-report\"}\n");
    bad(
        "report.json",
        2,
        "not a saved plan: expected `\"schema\": \"orbdeploy-plan\"`",
    );
    let mut v2 = doc.clone();
    v2["format_version"] = 2.into();
    w.write("v2.json", v2.to_string());
    bad(
        "v2.json",
        5,
        "the plan has format version 2; this orbdeploy reads version 1",
    );
    let mut old = doc.clone();
    old["orbdeploy_version"] = "0.0.1".into();
    w.write("old.json", old.to_string());
    bad("old.json", 5, "the plan was made by orbdeploy 0.0.1");

    let out = w.orbdeploy(["apply", "--plan", "p.json", "--allow-unknown"]);
    out.assert_code(0);
    assert_eq!(w.state(&n).as_deref(), Some("running"));
    assert_eq!(cat(&w, &n, "/tmp/hello"), "hi\n");
}
