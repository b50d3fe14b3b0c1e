//! `orbdeploy apply` / `plan` end to end against real orbsim machines: every operation
//! kind converges (first apply changes, second changes nothing, plan changes nothing), on
//! the persistent channel and on the one-shot path; diffs, failures, handlers, `when`,
//! tags, `register`, `--limit`, retries, `ignore_errors`, parallel machines with one
//! failing, hostile names, secret masking in every output, and the report schema.

use crate::harness;

use harness::{every_kind_files, Run, World, EVERY_KIND_STEPS};
use harness::{machine_entry, step_statuses as statuses, summary_count as count};
use serde_json::Value;

/// `apply INV --report NAME.json`, which must exit `code`: each step's status by name, and
/// the run's stdout.
fn apply_statuses(
    w: &World,
    inv: &str,
    name: &str,
    code: i32,
) -> (std::collections::HashMap<String, String>, String) {
    let out = w.orbdeploy(["apply", inv, "--report", &format!("{name}.json")]);
    out.assert_code(code);
    let doc = w.report(&format!("{name}.json"));
    (
        statuses(&doc, machine_names(&doc)[0].as_str())
            .into_iter()
            .collect(),
        out.stdout,
    )
}

/// The machines of a report, in order.
fn machine_names(doc: &Value) -> Vec<String> {
    doc["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["machine"].as_str().unwrap().to_string())
        .collect()
}

/// An inventory using every operation kind on one machine, with hostile file names.
fn every_kind(w: &World, m: &str) -> std::path::PathBuf {
    every_kind_files(
        w,
        "name={{ machine }}\nport={{ port }}\n{% for g in groups %}group={{ g }}\n{% endfor %}",
    );
    w.write(
        "ops.yaml",
        format!(
            "{EVERY_KIND_STEPS}{}",
            r#"- name: fetch the binary back
  get: { src: /srv/app/blob.bin, dest: "out/{{ machine }}/blob copy.bin" }
  become: true
- name: one-time setup
  shell: "echo done > /tmp/setup-done"
  creates: /tmp/setup-done
- name: guarded command
  command: [touch, /tmp/guarded]
  unless: "test -e /tmp/guarded"
"#
        ),
    );
    w.write(
        "inv.yaml",
        format!(
            "vars: {{ port: 8080 }}\nmachines:\n  {m}: {{ groups: [app] }}\noperations: ops.yaml\n"
        ),
    )
}

fn converge(channel: bool) {
    let w = World::new(if channel { "kinds-ch" } else { "kinds-1s" });
    let m = w.name("k");
    w.create(&m);
    // Things the steps must change or remove.
    w.sh(&m, None, "touch /tmp/stale").assert_code(0);
    w.sh(
        &m,
        Some("root"),
        "mkdir -p /srv/app; printf 'max=1\\ndebug=1\\nkeep=1\\nmax=2' > /srv/app/settings",
    )
    .assert_code(0);
    let inv = every_kind(&w, &m);
    let inv = inv.to_str().unwrap();
    let extra: &[&str] = if channel { &[] } else { &["--no-channel"] };
    let args = |more: &[&str]| -> Vec<String> {
        more.iter().chain(extra).map(|s| s.to_string()).collect()
    };

    // plan: everything would change, nothing does.
    w.orbdeploy(args(&["plan", inv, "--report", "plan.json"]))
        .assert_code(0);
    let plan = w.report("plan.json");
    for (n, s) in statuses(&plan, &m) {
        let want = match n.as_str() {
            "ps is there" => "ok",
            // Their inputs come from earlier steps that have not run yet.
            "service running" | "fetch the binary back" => "unknown",
            "one-time setup" | "guarded command" => "will_run",
            _ => "will_change",
        };
        assert_eq!(s, want, "plan of step `{n}`");
    }
    let untouched = w.sh(&m, Some("root"), "ls /srv/app; test -e /tmp/stale && echo stale-still-there; dpkg -s less >/dev/null 2>&1 && echo less-installed");
    assert_eq!(
        untouched.stdout, "settings\nstale-still-there\nless-installed\n",
        "plan changed the machine"
    );

    // First apply: every step changes (procps was already installed); the commands ran.
    let first = w.orbdeploy(args(&["apply", inv, "--report", "first.json"]));
    first.assert_code(0);
    let doc = w.report("first.json");
    for (name, status) in statuses(&doc, &m) {
        let want = match name.as_str() {
            "ps is there" => "ok",
            "one-time setup" | "guarded command" => "ran",
            _ => "changed",
        };
        assert_eq!(status, want, "step `{name}`\n{}", first.stdout);
    }
    let state = w.sh(
        &m,
        Some("root"),
        r#"cd /srv/app
stat -c '%n %a %U %G' . blob.bin app.conf marker
cat app.conf; cat settings; cat "it's a \"file\" \$x;y"
sha256sum blob.bin | cut -c1-16
test -e /tmp/stale || echo stale-gone
dpkg -s less >/dev/null 2>&1 || echo less-gone
getent passwd appuser | cut -d: -f7; id -Gn appuser
/etc/init.d/orbdtest status && echo service-up
cat /tmp/setup-done; test -e /tmp/guarded && echo guarded
ls -a /srv/app | grep -c orbdeploy || true"#,
    );
    state.assert_code(0);
    let blob_sha = {
        use sha2::Digest;
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        format!("{:x}", sha2::Sha256::digest(&bytes))[..16].to_string()
    };
    assert_eq!(
        state.stdout,
        format!(
            ". 750 dev root\nblob.bin 640 root root\napp.conf 600 dev dev\nmarker 604 root root\n\
             name={m}\nport=8080\ngroup=all\ngroup=app\ngroup=orbstack_running\ngroup=orbstack_amd64\ngroup=orbstack_debian\ngroup=transport_orbctl\n\
             max=10\nkeep=1\nit's $HOME; `id`\n{blob_sha}\nstale-gone\nless-gone\n/bin/sh\nappuser sudo\nservice-up\ndone\nguarded\n0\n"
        )
    );
    let back = std::fs::read(w.path(&format!("out/{m}/blob copy.bin"))).unwrap();
    assert!(
        back == (0..=255u8).cycle().take(70_000).collect::<Vec<u8>>(),
        "downloaded bytes differ"
    );
    let fetched = std::fs::read_to_string(w.path(&format!("out/{m}/hostname"))).unwrap();
    assert_eq!(fetched.trim(), m);

    // Second apply: nothing changes.
    let second = w.orbdeploy(args(&["apply", inv, "--report", "second.json"]));
    second.assert_code(0);
    let doc = w.report("second.json");
    assert_eq!(
        (count(&doc, "changed"), count(&doc, "failed")),
        (0, 0),
        "{}",
        second.stdout
    );
    for (name, status) in statuses(&doc, &m) {
        let want = if name == "one-time setup" || name == "guarded command" {
            "skipped"
        } else {
            "ok"
        };
        assert_eq!(status, want, "step `{name}` on the second apply");
    }
    // plan --exit-code agrees: nothing pending.
    w.orbdeploy(args(&["plan", inv, "--exit-code"]))
        .assert_code(0);
}

#[test]
fn every_operation_kind_converges_over_the_channel() {
    converge(true);
}

#[test]
fn every_operation_kind_converges_without_the_channel() {
    converge(false);
}

#[test]
fn diff_plan_exit_code_and_failure_output() {
    let w = World::new("diff");
    let m = w.name("d");
    w.create(&m);
    w.write("ops.yaml", "- name: motd\n  put: { content: \"line one\\nline two\\n\", dest: /tmp/motd }\n- name: settings\n  line: { path: /tmp/conf, line: \"a=2\", regexp: \"^a=\" }\n");
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap();
    w.orbdeploy(["apply", inv]).assert_code(0);
    w.sh(
        &m,
        None,
        "printf 'line one\\nline 2\\n' > /tmp/motd; echo a=1 > /tmp/conf",
    )
    .assert_code(0);
    let plan = w.orbdeploy(["plan", inv, "--diff", "--exit-code"]);
    plan.assert_code(4);
    for want in [
        "-line 2",
        "+line two",
        "-a=1",
        "+a=2",
        "--- /tmp/motd (on the machine)",
        "will change",
    ] {
        assert!(
            plan.stdout.contains(want),
            "missing `{want}` in:\n{}",
            plan.stdout
        );
    }
    // The plan changed nothing.
    assert_eq!(
        w.sh(&m, None, "cat /tmp/motd /tmp/conf").stdout,
        "line one\nline 2\na=1\n"
    );

    // A failing step: host, step, command, exit code and stderr in the output; exit 1.
    w.write("bad.yaml", "- name: breaks\n  shell: \"echo partial; echo 'it broke' >&2; exit 7\"\n- name: never runs\n  shell: \"true\"\n");
    let inv2 = w.write(
        "inv2.yaml",
        format!("machines:\n  {m}: {{}}\noperations: bad.yaml\n"),
    );
    let run = w.orbdeploy([
        "apply",
        inv2.to_str().unwrap(),
        "--report",
        "bad.json",
        "--junit",
        "bad.xml",
    ]);
    run.assert_code(1);
    for want in [
        "FAILED breaks",
        "exit code: 7",
        "it broke",
        "partial",
        "echo partial;",
        &m,
        "an earlier step failed on this machine",
    ] {
        assert!(
            run.stdout.contains(want),
            "missing `{want}` in:\n{}",
            run.stdout
        );
    }
    let doc = w.report("bad.json");
    assert_eq!(
        statuses(&doc, &m),
        vec![
            ("breaks".into(), "failed".into()),
            ("never runs".into(), "skipped".into())
        ]
    );
    assert_eq!(doc["summary"]["exit_code"], 1);
    let junit = std::fs::read_to_string(w.path("bad.xml")).unwrap();
    assert!(
        junit.contains("<failure message=\"the shell failed with exit code 7\">"),
        "{junit}"
    );
    assert!(junit.contains("tests=\"2\" failures=\"1\""), "{junit}");
}

#[test]
fn handlers_when_tags_register_limit_retries_ignore_errors() {
    let w = World::new("flow");
    let (a, b) = (w.name("a"), w.name("b"));
    w.create(&a);
    w.create(&b);
    w.write(
        "ops.yaml",
        format!(
            r#"steps:
  - name: say hello
    shell: "echo hello-$(hostname)"
    register: greeting
  - name: keep what was said
    put: {{ content: "{{{{ greeting.stdout }}}} rc={{{{ greeting.rc }}}}\n", dest: /tmp/said }}
    notify: said changed
  - name: only on a
    shell: "touch /tmp/only-a"
    when: machine == '{a}'
  - name: tagged
    shell: "touch /tmp/tagged"
    tags: [deploy]
  - name: flaky
    shell: "n=$(cat /tmp/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/count; [ $n -ge 3 ]"
    retries: 3
    delay: 0
    hosts: "{a}"
  - name: allowed to fail
    shell: "exit 3"
    ignore_errors: true
    register: failed_step
  - name: after the failure
    put: {{ content: "rc={{{{ failed_step.rc }}}}\n", dest: /tmp/after }}
handlers:
  - name: said changed
    shell: "echo x >> /tmp/handled"
"#
        ),
    );
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {a}: {{}}\n  {b}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap();

    // --tags: only the tagged step (on both machines).
    let tagged = w.orbdeploy(["apply", inv, "--tags", "deploy", "--report", "tags.json"]);
    tagged.assert_code(0);
    let doc = w.report("tags.json");
    assert_eq!(statuses(&doc, &a), vec![("tagged".into(), "ran".into())]);

    // --limit: only machine b.
    w.orbdeploy(["apply", inv, "--limit", &b, "--report", "limit.json"])
        .assert_code(0);
    let doc = w.report("limit.json");
    assert_eq!(doc["machines"].as_array().unwrap().len(), 1);
    let st = statuses(&doc, &b);
    assert!(
        st.contains(&("only on a".into(), "skipped".into())),
        "{st:?}"
    );
    assert!(
        st.contains(&("allowed to fail".into(), "ignored".into())),
        "{st:?}"
    );
    assert!(
        !st.iter().any(|(n, _)| n == "flaky"),
        "hosts: filters the step out"
    );
    assert_eq!(
        w.sh(&b, None, "cat /tmp/said /tmp/after /tmp/handled")
            .stdout,
        format!("hello-{b} rc=0\nrc=3\nx\n")
    );

    // Everything on both: retries succeed on the third attempt on a; the handler runs only
    // where its step changed (a: first time; b: already done).
    let all = w.orbdeploy(["apply", inv, "--report", "all.json"]);
    all.assert_code(0);
    let doc = w.report("all.json");
    let steps_a = machine_entry(&doc, &a)["steps"].clone();
    let flaky = steps_a
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "flaky")
        .unwrap();
    assert_eq!(
        (flaky["status"].as_str(), flaky["attempts"].as_u64()),
        (Some("ran"), Some(3))
    );
    assert!(statuses(&doc, &a).contains(&("said changed".into(), "ran".into())));
    assert!(
        !statuses(&doc, &b).iter().any(|(n, _)| n == "said changed"),
        "b's file was already right"
    );
    assert_eq!(
        w.sh(
            &a,
            None,
            "cat /tmp/handled; test -e /tmp/only-a && echo only-a"
        )
        .stdout,
        "x\nonly-a\n"
    );
    assert_eq!(
        w.sh(&b, None, "test -e /tmp/only-a || echo not-on-b")
            .stdout,
        "not-on-b\n"
    );
}

#[test]
fn parallel_machines_one_fails_others_finish() {
    let w = World::new("par");
    let names: Vec<String> = (0..3).map(|i| w.name(&format!("p{i}"))).collect();
    for n in &names {
        w.create(n);
    }
    w.write(
        "ops.yaml",
        format!(
            "- name: work\n  shell: \"sleep 1; echo ok > /tmp/work\"\n- name: fails on one\n  shell: \"exit 9\"\n  hosts: {}\n- name: last\n  shell: \"echo last > /tmp/last\"\n",
            names[1]
        ),
    );
    let mut inv = String::from("machines:\n");
    for n in &names {
        inv.push_str(&format!("  {n}: {{}}\n"));
    }
    inv.push_str("operations: ops.yaml\n");
    let inv = w.write("inv.yaml", inv);
    let run = w.orbdeploy(["apply", inv.to_str().unwrap(), "--output", "json"]);
    run.assert_code(1);
    // stdout is JSON lines only, ending with the summary.
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["exit_code"].as_i64()),
        (Some("summary"), Some(1))
    );
    let hosts: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "host")
        .map(|e| {
            (
                e["machine"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(hosts.len(), 3);
    for (m, s) in &hosts {
        // Only commands ran on the others: they are ok, not changed.
        assert_eq!(s, if *m == names[1] { "failed" } else { "ok" }, "{m}");
    }
    for n in [&names[0], &names[2]] {
        assert_eq!(
            w.sh(n, None, "cat /tmp/work /tmp/last").stdout,
            "ok\nlast\n"
        );
    }
    let missing = w.sh(&names[1], None, "cat /tmp/last 2>&1 || true");
    assert!(
        missing.stdout.contains("No such file"),
        "the failed machine stopped before `last`"
    );
    // Three machines with a 1 s step each ran in parallel, not one after the other.
    assert!(run.elapsed.as_secs_f64() < 6.0, "{:?}", run.elapsed);
}

#[test]
fn secrets_are_masked_in_every_output() {
    let w = World::new("secret");
    let m = w.name("s");
    w.create(&m);
    let secret = "s3cr3t-Tok3n-42";
    let from_env = "env-Pa55-word-77";
    w.write(
        "ops.yaml",
        "- name: config with secrets\n  put: { content: \"token={{ token }}\\npass={{ env('ORBD_TEST_PASS') }}\\n\", dest: /tmp/secret.conf, mode: \"0600\" }\n- name: leaks on failure\n  shell: \"echo {{ token }}; echo {{ env('ORBD_TEST_PASS') }} >&2; exit 1\"\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!("vars: {{ token: {secret} }}\nsecrets: [token]\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap();
    w.sh(&m, None, "echo old > /tmp/secret.conf").assert_code(0);
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut run = |args: &[&str]| -> Run {
        let mut cmd_args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        cmd_args.insert(0, "--var".into());
        cmd_args.insert(1, "unused=1".into());
        let r = {
            std::env::set_var("ORBD_TEST_PASS", from_env);
            w.orbdeploy(args)
        };
        outputs.push((format!("{args:?} stdout"), r.stdout.clone()));
        outputs.push((format!("{args:?} stderr"), r.stderr.clone()));
        r
    };
    run(&["plan", inv, "--diff"]).assert_code(0);
    run(&[
        "apply", inv, "--diff", "--report", "r.json", "--junit", "j.xml",
    ])
    .assert_code(1);
    run(&["apply", inv, "--output", "json"]).assert_code(1);
    outputs.push((
        "report".into(),
        std::fs::read_to_string(w.path("r.json")).unwrap(),
    ));
    outputs.push((
        "junit".into(),
        std::fs::read_to_string(w.path("j.xml")).unwrap(),
    ));
    for (what, text) in &outputs {
        assert!(
            !text.contains(secret) && !text.contains(from_env),
            "a secret leaked into {what}:\n{text}"
        );
    }
    assert!(
        outputs.iter().any(|(_, t)| t.contains("token=***")),
        "the diff shows the masked value"
    );
    // The machine has the real values.
    assert_eq!(
        w.sh(&m, None, "cat /tmp/secret.conf").stdout,
        format!("token={secret}\npass={from_env}\n")
    );
}

#[test]
fn multi_machine_example_serves_and_fetches_by_ip4() {
    let w = World::new("example");
    let (web, client) = (w.name("web"), w.name("client"));
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    for f in ["deploy.yaml", "templates/index.html.j2"] {
        w.write(
            f,
            std::fs::read_to_string(demo.join(f))
                .unwrap()
                .replace("demo-web", &web),
        );
    }
    let inv = std::fs::read_to_string(demo.join("inventory.yaml"))
        .unwrap()
        .replace("demo-web", &web)
        .replace("demo-client", &client);
    let inv = w.write("inventory.yaml", inv);
    let run = w.orbdeploy(["apply", inv.to_str().unwrap(), "--report", "r.json"]);
    run.assert_code(0);
    let doc = w.report("r.json");
    assert_eq!(machine_entry(&doc, &web)["status"], "changed");
    // The client only ran commands: they ran, and changed nothing anyone can tell.
    assert_eq!(
        statuses(&doc, &client),
        [
            ("fetch the page from the web machine", "ran"),
            ("show what was fetched", "ran")
        ]
        .map(|(n, s)| (n.to_string(), s.to_string()))
    );
    assert_eq!(machine_entry(&doc, &client)["status"], "ok");
    let page = w.sh(&client, None, "cat /tmp/index.html").stdout;
    assert!(page.contains(&format!("served by {web}")), "{page}");
    // Re-apply, as the demo does: 0 changed, and it says what ran (issue 34).
    let again = w.orbdeploy(["apply", inv.to_str().unwrap(), "--report", "r2.json"]);
    again.assert_code(0);
    let doc = w.report("r2.json");
    assert_eq!((count(&doc, "changed"), count(&doc, "ran")), (0, 2));
    assert!(
        again
            .stdout
            .contains("done: 2 machines, 0 changed, 2 ran, 0 failed in "),
        "{}",
        again.stdout
    );
    for (name, status) in statuses(&doc, &web) {
        let want = if name == "web server running" {
            "skipped"
        } else {
            "ok"
        };
        assert_eq!(status, want, "{name}");
    }
    let plan = w.orbdeploy(["plan", inv.to_str().unwrap(), "--exit-code"]);
    plan.assert_code(0);
    assert!(
        plan.stdout
            .contains("no changes pending: 2 machines, 0 will change, 2 will run"),
        "{}",
        plan.stdout
    );
}

#[test]
fn keep_going_and_fail_fast() {
    let w = World::new("going");
    let (a, b) = (w.name("a"), w.name("b"));
    w.create(&a);
    w.create(&b);
    w.write(
        "ops.yaml",
        format!(
            "- name: one\n  shell: \"if [ $(hostname) = {a} ]; then exit 1; else sleep 1; fi\"\n- name: two\n  put: {{ content: \"2\\n\", dest: /tmp/two }}\n"
        ),
    );
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {a}: {{}}\n  {b}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_str().unwrap();
    let two = |w: &World, m: &str| {
        w.sh(m, None, "cat /tmp/two 2>/dev/null; rm -f /tmp/two")
            .stdout
    };

    // Default: the failed machine stops, the other goes on.
    w.orbdeploy(["apply", inv, "--report", "default.json"])
        .assert_code(1);
    let doc = w.report("default.json");
    assert_eq!(statuses(&doc, &a)[1].1, "skipped");
    assert_eq!(
        (two(&w, &a), two(&w, &b)),
        (String::new(), "2\n".to_string())
    );

    // --keep-going: the failed machine goes on with its next steps.
    w.orbdeploy(["apply", inv, "--keep-going", "--report", "keep.json"])
        .assert_code(1);
    let doc = w.report("keep.json");
    assert_eq!(statuses(&doc, &a)[1].1, "changed");
    assert_eq!(
        (two(&w, &a), two(&w, &b)),
        ("2\n".to_string(), "2\n".to_string())
    );

    // --fail-fast: the first failure stops every machine before its next step.
    let run = w.orbdeploy(["apply", inv, "--fail-fast", "--report", "fast.json"]);
    run.assert_code(1);
    let doc = w.report("fast.json");
    let b_steps = machine_entry(&doc, &b)["steps"].clone();
    assert_eq!(b_steps[1]["status"], "skipped");
    assert!(
        b_steps[1]["reason"]
            .as_str()
            .unwrap()
            .contains("--fail-fast"),
        "{b_steps}"
    );
    assert_eq!(two(&w, &b), "");
}

/// Facts kept between batches (the content-hash memo of the scans) follow a file that a
/// command changes between two windows: the second `line` step sees the line the command
/// removed, on every apply, and the packages steps stay correct around it.
#[test]
fn kept_facts_follow_a_file_a_command_changes() {
    let w = World::new("memo");
    let m = w.name("mm");
    w.create(&m);
    let inv = w.write(
        "inv.yaml",
        format!(
            r#"machines:
  {m}: {{}}
operations:
  - {{ name: dir, directory: {{ path: /srv/m }}, become: true }}
  - {{ name: conf a, put: {{ content: "a\n", dest: /srv/m/a.conf }}, become: true }}
  - {{ name: line a, line: {{ path: /srv/m/lines, line: a }}, become: true }}
  - {{ name: ps, packages: {{ names: [procps] }} }}
  - {{ name: drop b, shell: "sed -i '/^b$/d' /srv/m/lines", become: true }}
  - {{ name: conf b, put: {{ content: "b\n", dest: /srv/m/b.conf }}, become: true }}
  - {{ name: line b, line: {{ path: /srv/m/lines, line: b }}, become: true }}
  - {{ name: ps again, packages: {{ names: [procps] }} }}
  - {{ name: line a again, line: {{ path: /srv/m/lines, line: a }}, become: true }}
"#
        ),
    );
    let inv = inv.to_str().unwrap();
    for (run, want_a) in [("first", "changed"), ("second", "ok"), ("third", "ok")] {
        let (st, stdout) = apply_statuses(&w, inv, run, 0);
        assert_eq!(st["line a"], want_a, "{run}\n{stdout}");
        assert_eq!(
            st["line b"], "changed",
            "{run}: the command removed b\n{stdout}"
        );
        assert_eq!(st["ps"], "ok", "{run}");
        assert_eq!(st["ps again"], "ok", "{run}");
        assert_eq!(st["line a again"], "ok", "{run}");
        let lines = w.sh(&m, None, "cat /srv/m/lines");
        assert_eq!(lines.stdout, "a\nb\n", "{run}");
    }
}

/// A stand-in for systemctl (orbsim machines run no systemd, OrbStack's do): units listed in
/// /var/lib/fakesd/units, their state in files beside it, every call logged. It answers
/// like systemctl: `is-active` prints active/inactive (exit 0/3), `is-enabled`
/// enabled/disabled (exit 0/1), `cat` fails for an unknown unit.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
d=/var/lib/fakesd
echo "$*" >> $d/calls
verb=$1; u=$2
grep -qx "$u" $d/units || { echo "Unit $u.service could not be found." >&2; exit 4; }
case $verb in
  is-active) if [ -e $d/$u.active ]; then echo active; else echo inactive; exit 3; fi ;;
  is-enabled) if [ -e $d/$u.enabled ]; then echo enabled; else echo disabled; exit 1; fi ;;
  cat) echo "[Unit]" ;;
  start) : > $d/$u.active ;;
  stop) rm -f $d/$u.active ;;
  restart) : > $d/$u.active; echo "$u restarted" >> $d/restarts ;;
  enable) : > $d/$u.enabled ;;
  disable) rm -f $d/$u.enabled ;;
  *) exit 1 ;;
esac
"#;

/// Where systemd runs, `service` steps go through systemctl: start and enable what is not,
/// stop and disable, restart every time, change nothing the second time, and name a unit
/// that does not exist. (The machine gets /run/systemd/system and a stand-in systemctl.)
#[test]
fn service_steps_drive_systemctl_where_systemd_runs() {
    let w = World::new("systemd");
    let m = w.name("sd");
    w.create(&m);
    let setup = format!(
        "mkdir -p /run/systemd/system /var/lib/fakesd\n\
         printf 'web\\ndb\\ncache\\n' > /var/lib/fakesd/units\n\
         : > /var/lib/fakesd/db.active; : > /var/lib/fakesd/db.enabled\n\
         cat > /usr/local/sbin/systemctl <<'FAKE'\n{FAKE_SYSTEMCTL}FAKE\n\
         chmod 0755 /usr/local/sbin/systemctl"
    );
    w.sh(&m, Some("root"), &setup).assert_code(0);
    let ops = |extra: &str| {
        format!(
            "machines:\n  {m}: {{}}\noperations:\n  - {{ name: web up, service: {{ name: web, state: started, enabled: true }} }}\n  - {{ name: db down, service: {{ name: db, state: stopped, enabled: false }} }}\n  - {{ name: cache bounce, service: {{ name: cache, state: restarted }} }}\n{extra}"
        )
    };
    let inv = w.write("inv.yaml", ops(""));
    let inv = inv.to_str().unwrap().to_string();
    let calls = |w: &World| {
        let out = w.sh(
            &m,
            Some("root"),
            "grep -v '^is-\\|^cat ' /var/lib/fakesd/calls; : > /var/lib/fakesd/calls",
        );
        out.stdout
    };

    let three = |st: &std::collections::HashMap<String, String>| {
        [&st["web up"], &st["db down"], &st["cache bounce"]].map(|s| s.to_string())
    };
    let (st, stdout) = apply_statuses(&w, &inv, "first", 0);
    assert_eq!(three(&st), ["changed", "changed", "changed"], "{stdout}");
    assert_eq!(
        calls(&w),
        "start web\nenable web\nstop db\ndisable db\nrestart cache\n"
    );

    // Second apply: only the restart runs again.
    let (st, _) = apply_statuses(&w, &inv, "second", 0);
    assert_eq!(three(&st), ["ok", "ok", "changed"]);
    assert_eq!(calls(&w), "restart cache\n");

    // A unit that does not exist fails its step with a message saying so.
    w.write(
        "inv.yaml",
        ops("  - { name: ghost, service: { name: ghost, state: started } }\n"),
    );
    let third = w.orbdeploy(["apply", &inv, "--report", "third.json"]);
    third.assert_code(1);
    assert!(
        third.stdout.contains("no service named ghost") && third.stdout.contains("no systemd unit"),
        "{}",
        third.stdout
    );
}

/// The steps of a report's machine whose `timings` are there, as (name, step).
fn timed_steps<'a>(doc: &'a Value, machine: &str) -> Vec<(&'a str, &'a Value)> {
    machine_entry(doc, machine)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["timings"].is_object())
        .map(|s| (s["name"].as_str().unwrap(), s))
        .collect()
}

/// A time of a `timings` object, in milliseconds.
fn ms_of(t: &Value, key: &str) -> f64 {
    t[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number: {t}"))
}

/// Where the time went adds up on real machines, on both transports: a step's phases
/// never exceed its duration, the put's transfer counts its bytes, a sleeping command's
/// time is the machine's own on the channel (and not claimed without it), a window's
/// steps share its request evenly, a machine's transport and machine time fit in its
/// duration, and `--timings` prints the block. (No upper bound on any time: the suite
/// never asserts how fast the machine is.)
#[test]
fn timings_add_up_on_both_transports() {
    let w = World::new("timings");
    let m = w.name("tm");
    w.create(&m);
    let content = "x".repeat(1000);
    let inv = w.write(
        "inv.yaml",
        format!(
            r#"machines:
  {m}: {{}}
operations:
  steps:
    - {{ name: dir, directory: {{ path: /srv/t }}, become: true }}
    - {{ name: conf, put: {{ content: "{content}", dest: /srv/t/a.conf }}, become: true, notify: [reload] }}
    - {{ name: l1, line: {{ path: /srv/t/lines, line: a }}, become: true }}
    - {{ name: l2, line: {{ path: /srv/t/lines, line: b }}, become: true }}
    - {{ name: l3, line: {{ path: /srv/t/lines, line: c }}, become: true }}
    - {{ name: nap, shell: sleep 0.3 }}
  handlers:
    - {{ name: reload, shell: "true" }}
"#
        ),
    );
    let inv = inv.to_str().unwrap();
    let first = w.orbdeploy(["apply", inv, "--timings", "--report", "first.json"]);
    first.assert_code(0);
    assert!(
        first.stdout.contains("\nWhere the time went:\n"),
        "{}",
        first.stdout
    );
    let doc = w.report("first.json");
    // What a step does at its turn (transfers, the change) fits in its duration. Its
    // render and probe times may have been spent ahead, in the turn of the step whose read
    // took its facts too (a probe's time is its share of that read: docs/performance.md),
    // so they add up over the machine's steps: every phase of every step fits in their
    // durations together.
    let (mut all_phases, mut all_durations) = (0.0, 0.0);
    for (name, s) in timed_steps(&doc, &m) {
        let t = &s["timings"];
        let at_turn: f64 = ["transfer_ms", "apply_ms"]
            .iter()
            .map(|k| ms_of(t, k))
            .sum();
        let ahead: f64 = ["render_ms", "probe_ms"].iter().map(|k| ms_of(t, k)).sum();
        // duration_ms is whole milliseconds, rounded down.
        let duration = s["duration_ms"].as_f64().unwrap() + 1.0;
        assert!(at_turn <= duration, "{name}: {at_turn} > {duration}: {t}");
        all_phases += at_turn + ahead;
        all_durations += duration;
        assert!(t["machine_ms"].is_number(), "{name}: {t}");
    }
    assert!(
        all_phases <= all_durations,
        "the steps' phases {all_phases} > their durations {all_durations}"
    );
    let steps: std::collections::HashMap<&str, &Value> =
        timed_steps(&doc, &m).into_iter().collect();
    assert_eq!(steps["conf"]["timings"]["transfer_bytes"], 1000);
    assert!(ms_of(&steps["conf"]["timings"], "transfer_ms") > 0.0);
    // The machine's time is read between two lines of the agent, so a controller that is
    // late to read the first one (a loaded CI machine: 277 ms for `sleep 0.3` once) moves
    // time from the machine's share to the transport's. Their sum holds the whole sleep;
    // the machine's share is most of it.
    let nap = &steps["nap"]["timings"];
    let (machine, apply) = (ms_of(nap, "machine_ms"), ms_of(nap, "apply_ms"));
    assert!(machine + ms_of(nap, "transport_ms") >= 290.0, "{nap}");
    assert!(machine > apply / 2.0, "{nap}");
    assert!(apply >= 290.0, "{nap}");
    let host = &machine_entry(&doc, &m)["timings"];
    let duration = machine_entry(&doc, &m)["duration_ms"].as_f64().unwrap();
    let split = ms_of(host, "transport_ms") + ms_of(host, "machine_ms");
    assert!(split <= duration + 1.0, "{split} > {duration}: {host}");
    assert!(ms_of(host, "handler_ms") > 0.0, "{host}");

    // A re-apply changes nothing before the command: one request reads the facts of dir,
    // conf, l1, l2 and l3, and each is booked a fifth of it (to the microsecond).
    w.orbdeploy(["apply", inv, "--report", "again.json"])
        .assert_code(0);
    let doc = w.report("again.json");
    let shares: Vec<f64> = timed_steps(&doc, &m)
        .iter()
        .filter(|(n, _)| ["dir", "conf", "l1", "l2", "l3"].contains(n))
        .map(|(_, s)| ms_of(&s["timings"], "probe_ms"))
        .collect();
    assert_eq!(shares.len(), 5);
    let (lo, hi) = shares
        .iter()
        .fold((f64::MAX, 0f64), |(l, h), s| (l.min(*s), h.max(*s)));
    assert!(
        lo > 0.0 && hi - lo <= 0.0015,
        "shares of one window differ: {shares:?}"
    );

    // Without the channel the machine's own time is not told apart.
    w.orbdeploy(["apply", inv, "--no-channel", "--report", "oneshot.json"])
        .assert_code(0);
    let doc = w.report("oneshot.json");
    assert!(machine_entry(&doc, &m)["timings"]["machine_ms"].is_null());
    for (name, s) in timed_steps(&doc, &m) {
        assert!(s["timings"]["machine_ms"].is_null(), "{name}");
    }
    let requests = machine_entry(&doc, &m)["timings"]["requests"]
        .as_u64()
        .unwrap();
    assert!(
        requests >= 6,
        "one orbctl call per probe and command at least: {requests}"
    );
}
