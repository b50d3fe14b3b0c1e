//! Loops, includes and roles end to end against real orbsim machines, on the persistent
//! channel and with `--no-channel`: literal and variable loops with `when` per item,
//! nested includes with `vars`, `hosts` and `tags`, an include with a loop, the role
//! example of `fixtures/roles` (defaults, arguments, files, templates, a handler). Each
//! converges — the first apply changes, the second changes nothing (from the report),
//! `plan --exit-code` is 0 — and each item is a row of its own in the report and JUnit.

use crate::harness;

use harness::{summary_count as count, World};
use serde_json::Value;

/// Every step row of `machine`: (name, status).
fn rows(doc: &Value, machine: &str) -> Vec<(String, String)> {
    let m = doc["machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["machine"] == machine)
        .unwrap_or_else(|| panic!("no machine {machine}"));
    m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Apply twice and plan: the first apply changes, the second changes nothing, the plan
/// has nothing pending. Returns the first and second reports.
fn converges(w: &World, inv: &str, flags: &[&str]) -> (Value, Value) {
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(flags);
        w.orbdeploy(all)
    };
    run(&["apply", inv, "--report", "r1.json", "--junit", "r1.xml"]).assert_code(0);
    let first = w.report("r1.json");
    assert!(count(&first, "changed") > 0, "{first:#}");
    run(&["apply", inv, "--report", "r2.json"]).assert_code(0);
    let second = w.report("r2.json");
    assert_eq!(count(&second, "changed"), 0, "{second:#}");
    assert_eq!(count(&second, "failed"), 0, "{second:#}");
    run(&["plan", inv, "--exit-code"]).assert_code(0);
    (first, second)
}

/// Copy `fixtures/roles` into the world, its machine renamed.
fn role_fixture(w: &World, machine: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roles");
    for f in [
        "inventory.yaml",
        "site.yaml",
        "common/base.yaml",
        "roles/webapp/role.yaml",
        "roles/webapp/defaults.yaml",
        "roles/webapp/steps.yaml",
        "roles/webapp/handlers.yaml",
        "roles/webapp/templates/site.conf.j2",
        "roles/webapp/files/run.sh",
    ] {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        w.write(f, text.replace("roles-web", machine));
    }
    w.path("inventory.yaml").display().to_string()
}

fn the_role_example_converges(no_channel: bool) {
    let w = World::new(if no_channel { "roleone" } else { "rolechan" });
    let m = w.name("web");
    let inv = role_fixture(&w, &m);
    let flags: &[&str] = if no_channel { &["--no-channel"] } else { &[] };
    let (first, _) = converges(&w, &inv, flags);
    let rows = rows(&first, &m);
    let status = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
            .unwrap_or_else(|| panic!("no row `{name}` in {rows:?}"))
    };
    assert_eq!(status("developers [alice]"), "changed");
    assert_eq!(status("webapp : site configs [blog]"), "changed");
    assert_eq!(status("webapp : site configs [shop]"), "skipped");
    assert_eq!(status("webapp : site configs [wiki]"), "changed");
    assert_eq!(status("webapp : reload webapp"), "ran");
    // Arguments over defaults, role defaults, the role's templates/ and files/.
    let conf = w.sh(&m, None, "cat /srv/webapp/wiki/site.conf").stdout;
    assert_eq!(
        conf,
        format!("# wiki on {m}\nlisten 8080\nupstream 127.0.0.1:8083\nlog_level debug\n")
    );
    let ls = w.sh(
        &m,
        None,
        "ls /srv/webapp; stat -c %a /srv/webapp/run.sh; id -un alice",
    );
    assert_eq!(ls.stdout, "blog\nreloaded\nrun.sh\nwiki\n755\nalice\n");
    // Each item is its own row: in the report (with its label and where it was
    // written) and in JUnit.
    let steps = first["machines"][0]["steps"].as_array().unwrap();
    let wiki = steps
        .iter()
        .find(|s| s["name"] == "webapp : site configs [wiki]")
        .unwrap();
    assert_eq!(wiki["item"]["label"], "wiki");
    assert_eq!(wiki["item"]["index"], 2);
    assert_eq!(wiki["item"]["count"], 3);
    assert_eq!(wiki["origin"]["role"], "webapp");
    let chain = wiki["origin"]["include_chain"][0].as_str().unwrap();
    assert!(chain.ends_with("/site.yaml:4:3 role webapp"), "{chain}");
    let file = wiki["origin"]["file"].as_str().unwrap();
    assert!(file.ends_with("roles/webapp/steps.yaml"), "{file}");
    let junit = std::fs::read_to_string(w.path("r1.xml")).unwrap();
    for item in ["blog", "wiki"] {
        assert!(
            junit.contains(&format!("webapp : site configs [{item}]\"")),
            "{junit}"
        );
    }
}

#[test]
fn the_role_example_converges_over_the_channel() {
    the_role_example_converges(false);
}

#[test]
fn the_role_example_converges_without_the_channel() {
    the_role_example_converges(true);
}

const LOOPS: &str = r#"
- name: literal
  put: { content: "{{ item }}\n", dest: "/tmp/lit-{{ item }}" }
  loop: [x, y]
  register: lits
- name: from a variable
  line: { path: /tmp/lines, line: "{{ item }}" }
  loop: "{{ names }}"
  when: item != "skipme"
- name: results
  put: { content: "{{ lits.results | length }} {{ lits.results | map(attribute='item') | join(',') }}\n", dest: /tmp/results }
- include: inc/outer.yaml
  vars: { port: 8080 }
  hosts: web
  tags: [base]
- include: inc/per-thing.yaml
  loop: [one, two]
  loop_var: thing
"#;

fn loops_and_includes_converge(no_channel: bool) {
    let w = World::new(if no_channel { "loopone" } else { "loopchan" });
    let (a, b) = (w.name("a"), w.name("b"));
    w.write(
        "inv.yaml",
        format!(
            "defaults: {{ create: true }}\nvars: {{ names: [n1, skipme, n2], extra: \"yes\" }}\nmachines:\n  {a}: {{ groups: [web] }}\n  {b}: {{}}\noperations: ops.yaml\n"
        ),
    );
    w.write("ops.yaml", LOOPS);
    w.write(
        "inc/outer.yaml",
        "- name: outer\n  put: { content: \"port={{ port }}\\n\", dest: /tmp/outer }\n- include: inner.yaml\n  vars: { port: 9090 }\n  when: extra == \"yes\"\n",
    );
    w.write(
        "inc/inner.yaml",
        "- name: inner\n  put: { content: \"port={{ port }}\\n\", dest: /tmp/inner }\n",
    );
    w.write(
        "inc/per-thing.yaml",
        "- name: per thing\n  put: { content: \"{{ thing }}\\n\", dest: \"/tmp/thing-{{ thing }}\" }\n",
    );
    let flags: &[&str] = if no_channel { &["--no-channel"] } else { &[] };
    let (first, _) = converges(&w, "inv.yaml", flags);
    let names: Vec<String> = rows(&first, &a).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "literal [x]",
            "literal [y]",
            "from a variable [n1]",
            "from a variable [skipme]",
            "from a variable [n2]",
            "results",
            "outer",
            "inner",
            "per thing [one]",
            "per thing [two]",
        ]
    );
    let on_a = w.sh(
        &a,
        None,
        "cat /tmp/lines /tmp/results /tmp/outer /tmp/inner /tmp/thing-two",
    );
    assert_eq!(on_a.stdout, "n1\nn2\n2 x,y\nport=8080\nport=9090\ntwo\n");
    // `hosts: web` narrows the include: b is not in web.
    let names_b: Vec<String> = rows(&first, &b).into_iter().map(|(n, _)| n).collect();
    assert!(
        !names_b.iter().any(|n| n == "outer" || n == "inner"),
        "{names_b:?}"
    );
    w.sh(&b, None, "test ! -e /tmp/outer").assert_code(0);
    // `tags: [base]` on the include tags its steps.
    let mut args = vec!["plan", "inv.yaml", "--tags", "base", "--report", "t.json"];
    args.extend(flags);
    w.orbdeploy(args).assert_code(0);
    let tagged: Vec<String> = rows(&w.report("t.json"), &a)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(tagged, ["outer", "inner"]);
}

#[test]
fn loops_and_includes_converge_over_the_channel() {
    loops_and_includes_converge(false);
}

#[test]
fn loops_and_includes_converge_without_the_channel() {
    loops_and_includes_converge(true);
}

/// A loop over a registered value is expanded when it runs; a failed item stops its
/// machine only after the loop's other items were tried; a loop whose value turns out
/// not to be a list fails its step, naming the value.
#[test]
fn loops_over_registered_values_and_failing_items() {
    let w = World::new("loopreg");
    let m = w.name("m");
    w.write(
        "inv.yaml",
        format!("defaults: {{ create: true }}\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    w.write(
        "ops.yaml",
        r#"
- name: list
  shell: "printf 'p\nq\n'"
  register: out
- name: per line
  put: { content: "{{ item }}\n", dest: "/tmp/reg-{{ item }}" }
  loop: "{{ out.stdout_lines }}"
- name: check
  shell: "test {{ item }} != bad && touch /tmp/checked-{{ item }}"
  loop: [a, bad, c]
  register: checks
- name: after
  shell: "touch /tmp/after"
"#,
    );
    let run = w.orbdeploy(["apply", "inv.yaml", "--report", "r.json"]);
    run.assert_code(1);
    let doc = w.report("r.json");
    let got = rows(&doc, &m);
    let want = [
        ("list", "ran"),
        ("per line [p]", "changed"),
        ("per line [q]", "changed"),
        ("check [a]", "ran"),
        ("check [bad]", "failed"),
        ("check [c]", "ran"),
        ("after", "skipped"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    assert_eq!(got, want);
    w.sh(
        &m,
        None,
        "test -e /tmp/reg-q && test -e /tmp/checked-c && test ! -e /tmp/after",
    )
    .assert_code(0);

    w.write(
        "ops.yaml",
        "- name: list\n  shell: echo p\n  register: out\n- name: not a list\n  shell: \"echo {{ item }}\"\n  loop: \"{{ out.stdout }}\"\n",
    );
    let run = w.orbdeploy(["apply", "inv.yaml"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("loop: `out.stdout` is a string (\"p\"), not a list"),
        "{}",
        run.stdout
    );
}
