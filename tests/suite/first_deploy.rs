//! The README's "Your first deploy", run: the files of `examples/first-deploy/` applied to a
//! real orbsim machine twice — the first apply changes every step and runs both handlers,
//! the second changes nothing (only the `command` step runs, as commands do) and runs no
//! handler — then a plan agrees, and `plan --diff` with another `--var` shows the line that
//! would change. The README's copies of the files are checked in `readme`.

use crate::harness::{step_statuses, World};

const README: &str = include_str!("../../README.md");

/// The example's files, relative to examples/first-deploy/.
pub(crate) const FILES: [&str; 7] = [
    "inventory.yaml",
    "site.yaml",
    "templates/hello.conf.j2",
    "roles/site/defaults.yaml",
    "roles/site/steps.yaml",
    "roles/site/handlers.yaml",
    "roles/site/templates/index.html.j2",
];

/// Copy the example into the world, its machine renamed to one of the world's.
fn example(w: &World, machine: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/first-deploy");
    for f in FILES {
        let text = std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        w.write(f, text.replace("first-web", machine));
    }
    w.path("inventory.yaml").display().to_string()
}

/// Each step's kind in a report, by name.
fn kinds(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["machines"][0]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (text(&s["name"]), text(&s["kind"]))
        })
        .collect()
}

#[test]
fn the_first_deploy_converges_and_re_applies_as_a_no_op() {
    let w = World::new("firstdeploy");
    let m = w.name("web");
    let inv = example(&w, &m);

    let apply = w.orbdeploy(["apply", &inv, "--report", "r1.json"]);
    apply.assert_code(0);
    let first = w.report("r1.json");
    let rows = step_statuses(&first, &m);
    let want: Vec<(&str, &str)> = vec![
        ("app directory", "changed"),
        ("app config", "changed"),
        ("greeting in the motd", "changed"),
        ("site : site root", "changed"),
        ("site : index page", "changed"),
        // A command that ran is `ran`: orbdeploy cannot know what it changed.
        ("what the config says", "ran"),
        // Handlers run at the machine's end, the role's before the run's.
        ("site : site changed", "ran"),
        ("reload hello", "ran"),
    ];
    let got: Vec<(&str, &str)> = rows.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
    assert_eq!(got, want, "{first:#}");
    // The template as the README says it renders: the loop trimmed, the filters applied.
    let conf = w.sh(&m, None, "cat /etc/hello/hello.conf").stdout;
    assert_eq!(
        conf,
        format!("# {m}: managed by orbdeploy, edits are overwritten\nport = 8080\nadmin = ALICE\nadmin = BOB\ngreeting = hello\n")
    );
    let page = w
        .sh(&m, None, "cat /srv/site/index.html; cat /etc/motd")
        .stdout;
    assert!(
        page.contains("<p>Run by Platform; admins: alice, bob.</p>")
            && page.contains(&format!("Welcome to {m}, run by platform")),
        "{page}"
    );

    let second = w.orbdeploy(["apply", &inv, "--report", "r2.json"]);
    second.assert_code(0);
    let again = w.report("r2.json");
    let kinds = kinds(&again);
    for ((name, status), (_, kind)) in step_statuses(&again, &m).iter().zip(&kinds) {
        let runs_every_time = kind == "shell" || kind == "command";
        assert!(
            status == "ok" || runs_every_time,
            "`{name}` ({kind}) is {status} on the second apply: {again:#}"
        );
    }
    // No handler ran: no step changed to notify one. The command ran again, and is no change.
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    // The closing lines are the ones the README shows.
    for (run, line) in [
        (&apply, "done: 1 machine, 5 changed, 3 ran, 0 failed"),
        (&second, "done: 1 machine, 0 changed, 1 ran, 0 failed"),
    ] {
        assert!(run.stdout.contains(line), "{line}:\n{}", run.stdout);
        assert!(
            README.contains(line),
            "the README's first deploy should say `{line}`"
        );
    }

    // A plan agrees (the command would run, which `--exit-code` does not count) ...
    w.orbdeploy(["plan", &inv, "--exit-code"]).assert_code(0);
    // ... and with another port, the diff names the line and the handler it would notify.
    let plan = w.orbdeploy([
        "plan",
        &inv,
        "--diff",
        "--exit-code",
        "--var",
        "http_port=9090",
    ]);
    plan.assert_code(4);
    for wanted in ["app config", "-port = 8080", "+port = 9090", "reload hello"] {
        assert!(plan.stdout.contains(wanted), "{wanted}:\n{}", plan.stdout);
    }
}
