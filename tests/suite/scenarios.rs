//! `orbdeploy test` (docs/scenarios.md) on orbsim's real machines: the role fixture's own
//! scenario passes on two platforms in parallel, with a JUnit case per platform and phase,
//! and a second run clones the cached templates; a step that changes every time fails the
//! idempotence phase, naming it; a failing `verify` names its assertion, and `--keep-failed`
//! leaves a machine that the printed `orbdeploy exec` reaches and `--cleanup` removes;
//! Ctrl-C in the middle leaves no throwaway machine. No test leaves a throwaway machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{orbdeploy_bin, wait_for, World};

/// Deletes every machine `orbdeploy test` could have made in the world's own orbsim home
/// (their names carry `odt-`, not the world's prefix), whatever happened.
struct Leftovers<'w>(&'w World);

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        for name in machines(self.0, "odt-") {
            let _ = self.0.orbctl(["delete", "-f", &name]);
        }
    }
}

/// The names of the world's machines that start with `prefix`.
fn machines(w: &World, prefix: &str) -> Vec<String> {
    let out = w.orbctl(["list", "-q"]);
    out.stdout
        .lines()
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// The throwaway machines (`odt-p<pid>r<id>-…`), not the templates.
fn throwaway(w: &World) -> Vec<String> {
    machines(w, "odt-p")
}

/// The webapp role of `fixtures/roles`, whose scenario is `tests/default.yaml`.
fn webapp() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roles/roles/webapp")
}

/// insta settings: times, the run's id and the templates' keys redacted.
fn settings(w: &World) -> insta::Settings {
    let mut s = crate::snap::settings(w.dir.path());
    // The fixture's scenario is named by its path in this checkout, which may itself be
    // under the temporary directory (a fresh clone in /tmp): before the `[tmp]` filter.
    s.add_filter(&regex::escape(env!("CARGO_MANIFEST_DIR")), "[repo]");
    s.add_filter(r"\bp\d+r[0-9a-f]{4}\b", "[run]");
    s.add_filter(r"odt-tpl-[0-9a-f]{16}", "odt-tpl-[key]");
    s.add_filter(
        &regex::escape(&std::env::temp_dir().display().to_string()),
        "[tmp]",
    );
    s
}

/// Each `(name, outcome)` of `want` is among `cases`.
fn assert_has_cases(cases: &[(String, String)], want: &[(&str, &str)]) {
    for (name, outcome) in want {
        assert!(
            cases.contains(&(name.to_string(), outcome.to_string())),
            "no {outcome} case `{name}` in {cases:?}"
        );
    }
}

/// The JUnit cases of a run, as `(name, outcome)`: `passed`, `failure` or `skipped`.
fn junit_cases(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for part in text.split("<testcase ").skip(1) {
        let name = part
            .split(" name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        let body = part.split("</testcase>").next().unwrap_or_default();
        let outcome = if body.contains("<failure") {
            "failure"
        } else if body.contains("<skipped") {
            "skipped"
        } else {
            "passed"
        };
        out.push((name, outcome.to_string()));
    }
    out
}

#[test]
fn the_role_fixture_passes_on_two_platforms_and_a_second_run_clones_its_templates() {
    let w = World::new("scenrole");
    let _guard = Leftovers(&w);
    let junit = w.path("junit.xml");
    let role = webapp();
    let first = w.orbdeploy([
        "test".as_ref(),
        role.as_os_str(),
        "--junit".as_ref(),
        junit.as_os_str(),
    ]);
    first.assert_code(0);
    let cases = junit_cases(&junit);
    for platform in ["debian", "ubuntu"] {
        for phase in [
            "prepare",
            "create",
            "converge",
            "idempotence",
            "verify",
            "destroy",
        ] {
            assert_has_cases(&cases, &[(&format!("{platform}: {phase}"), "passed")]);
        }
    }
    assert_eq!(cases.len(), 12, "{cases:?}");
    assert!(
        first.stdout.contains("made (1 changed)"),
        "{}",
        first.stdout
    );
    assert_eq!(
        throwaway(&w),
        Vec::<String>::new(),
        "no test machine is left"
    );
    let templates = machines(&w, "odt-tpl-");
    assert_eq!(
        templates.len(),
        2,
        "one template per platform: {templates:?}"
    );
    for t in &templates {
        assert_eq!(w.state(t).as_deref(), Some("stopped"), "{t}");
    }

    let second = w.orbdeploy(["test".as_ref(), role.as_os_str()]);
    second.assert_code(0);
    assert_eq!(
        second.stdout.matches("(cached)").count(),
        2,
        "the second run clones the templates: {}",
        second.stdout
    );
    assert_eq!(
        machines(&w, "odt-tpl-"),
        templates,
        "no template made again"
    );
    assert_eq!(throwaway(&w), Vec::<String>::new());
    settings(&w).bind(|| insta::assert_snapshot!("scenario_role_cached", second.stdout));
}

/// A role whose second step changes every time.
const STAMP_ROLE: &str = "\
- name: config
  put: { content: \"x=1\\n\", dest: /tmp/stamp.conf }
- name: stamp
  file: { path: /tmp/stamp, state: touch }
";

#[test]
fn a_step_that_changes_every_time_fails_idempotence_naming_it() {
    let w = World::new("scenidem");
    let _guard = Leftovers(&w);
    w.write("roles/stamp/steps.yaml", STAMP_ROLE);
    w.write(
        "tests/idem.yaml",
        "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge:\n  - role: stamp\n",
    );
    let run = w.orbdeploy(["test", "--junit", "junit.xml"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("`stamp : stamp` (roles/stamp/steps.yaml:3:3, role stamp): touch /tmp/stamp"),
        "{}",
        run.stdout
    );
    assert_has_cases(
        &junit_cases(&w.path("junit.xml")),
        &[
            ("debian: idempotence", "failure"),
            ("debian: verify", "skipped"),
            ("debian: destroy", "passed"),
        ],
    );
    assert_eq!(
        throwaway(&w),
        Vec::<String>::new(),
        "a failed platform's machine is deleted"
    );
    settings(&w).bind(|| insta::assert_snapshot!("scenario_idempotence_fails", run.stdout));
}

const VERIFY: &str = "\
platforms:
  - { name: debian, image: \"debian:bookworm\" }
converge:
  - name: config
    put: { content: \"port=80\\n\", dest: /tmp/app.conf }
verify:
  - name: read the config
    command: cat /tmp/app.conf
    register: conf
  - name: the port is 8080
    assert:
      that: \"'port=8080' in conf.stdout\"
";

#[test]
fn a_failing_verify_names_the_assertion_and_keep_failed_keeps_a_reachable_machine() {
    let w = World::new("scenverify");
    let _guard = Leftovers(&w);
    w.write("tests/verify.yaml", VERIFY);
    let run = w.orbdeploy(["test", "tests/verify.yaml", "--keep-failed"]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("`the port is 8080` (tests/verify.yaml:10:5) failed\n        assertion failed: `'port=8080' in conf.stdout` is false"),
        "{}",
        run.stdout
    );
    settings(&w).bind(|| insta::assert_snapshot!("scenario_verify_fails", run.stdout));
    let kept = throwaway(&w);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(w.state(&kept[0]).as_deref(), Some("running"));
    // The printed way in works: `orbdeploy exec` with the inventory of the kept machines.
    let exec_line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("orbdeploy exec "))
        .unwrap_or_else(|| panic!("no exec hint: {}", run.stdout));
    let words: Vec<&str> = exec_line.split_whitespace().collect();
    let inventory = PathBuf::from(words[2]);
    let exec = w.orbdeploy([
        "exec",
        words[2],
        "--limit",
        &kept[0],
        "--",
        "cat",
        "/tmp/app.conf",
    ]);
    exec.assert_code(0);
    assert!(exec.stdout.contains("port=80"), "{}", exec.stdout);
    let cleanup = w.orbdeploy(["test", "--cleanup", "tests"]);
    cleanup.assert_code(0);
    assert!(
        !inventory.exists(),
        "--cleanup removes the kept machines' inventory"
    );
    assert!(
        cleanup
            .stdout
            .contains(&format!("deleted {} (left by a run that ended)", kept[0])),
        "{}",
        cleanup.stdout
    );
    assert_eq!(throwaway(&w), Vec::<String>::new());
    assert_eq!(
        machines(&w, "odt-tpl-").len(),
        1,
        "the scenario's template stays"
    );
    w.write("tests/verify.yaml", VERIFY.replace("bookworm", "trixie"));
    let old = w.orbdeploy(["test", "--cleanup", "tests"]);
    old.assert_code(0);
    assert!(
        old.stdout.contains("(a template no scenario names)"),
        "{}",
        old.stdout
    );
    assert_eq!(machines(&w, "odt-tpl-"), Vec::<String>::new());
}

#[test]
fn ctrl_c_in_the_middle_leaves_no_throwaway_machine() {
    use std::os::unix::process::CommandExt;
    let w = World::new("scenint");
    let _guard = Leftovers(&w);
    w.write(
        "tests/slow.yaml",
        "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\n  - { name: alpine, image: alpine }\nconverge:\n  - name: long step\n    shell: \"touch /tmp/started; sleep 30\"\n",
    );
    let child = Command::new(orbdeploy_bin())
        .arg("test")
        .env("ORBSIM_HOME", &w.home)
        .env("ORBDEPLOY_ORBCTL", &w.orbctl)
        .env("NO_COLOR", "1")
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start orbdeploy test");
    wait_for(
        "the long step on both machines",
        Duration::from_secs(120),
        || {
            let m = throwaway(&w);
            m.len() == 2
                && m.iter()
                    .all(|m| w.sh(m, None, "test -f /tmp/started").code == 0)
        },
    );
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert_eq!(throwaway(&w), Vec::<String>::new(), "{stdout}");
    assert!(stdout.contains("converge     skipped"), "{stdout}");
    for t in machines(&w, "odt-tpl-") {
        assert_eq!(w.state(&t).as_deref(), Some("stopped"), "{t}");
    }
}

#[test]
fn the_ci_example_s_role_passes_as_its_workflow_runs_it() {
    let w = World::new("scenci");
    let _guard = Leftovers(&w);
    let role = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/deploy/roles/motd");
    let junit = w.path("role-test.xml");
    let run = w.orbdeploy([
        "test".as_ref(),
        role.as_os_str(),
        "--junit".as_ref(),
        junit.as_os_str(),
    ]);
    run.assert_code(0);
    let cases = junit_cases(&junit);
    assert_eq!(cases.len(), 12, "{cases:?}");
    assert!(cases.iter().all(|(_, o)| o == "passed"), "{cases:?}");
    let cleanup = w.orbdeploy(["test".as_ref(), "--cleanup".as_ref(), role.as_os_str()]);
    cleanup.assert_code(0);
    assert!(cleanup.stdout.contains("0 deleted"), "{}", cleanup.stdout);
    assert_eq!(throwaway(&w), Vec::<String>::new());
}

#[test]
fn an_inventory_s_operations_run_with_its_machine_s_groups_and_the_converge_is_reported() {
    let w = World::new("scenrinv");
    let _guard = Leftovers(&w);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roles");
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
        let text = std::fs::read_to_string(root.join(f)).expect("fixture");
        w.write(f, text);
    }
    // `hosts: web` in site.yaml: the test machine takes roles-web's group, so the role runs.
    w.write(
        "tests/site.yaml",
        "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\ninventory: ../inventory.yaml\nlimit: [web]\nverify:\n  - name: the role ran\n    command: test -f /srv/webapp/blog/site.conf\n  - name: the include ran\n    command: id alice\n",
    );
    let run = w.orbdeploy([
        "test",
        "--report",
        "out/converge.json",
        "--report-html",
        "out/converge.html",
    ]);
    run.assert_code(0);
    assert!(run.stdout.contains("converge     passed"), "{}", run.stdout);
    let report = w.report("out/converge.json");
    let machines: Vec<&str> = report["machines"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["machine"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(machines.len(), 1, "{machines:?}");
    assert!(machines[0].ends_with("-site-debian"), "{machines:?}");
    assert!(
        crate::harness::summary_count(&report, "changed") >= 5,
        "{report}"
    );
    let html = std::fs::read_to_string(w.path("out/converge.html")).expect("the HTML report");
    assert!(
        html.contains("site configs"),
        "the role's steps are in the HTML report"
    );
    assert_eq!(throwaway(&w), Vec::<String>::new());
}

#[test]
fn a_failing_prepare_fails_its_platform_and_leaves_no_template() {
    let w = World::new("scenprep");
    let _guard = Leftovers(&w);
    w.write(
        "tests/prep.yaml",
        "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nprepare:\n  - name: a command that fails\n    command: \"false\"\nconverge:\n  - put: { content: \"x\\n\", dest: /tmp/x }\n",
    );
    let run = w.orbdeploy(["test", "--junit", "junit.xml"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("`a command that fails` (tests/prep.yaml:4:5) failed"),
        "{}",
        run.stdout
    );
    assert_has_cases(
        &junit_cases(&w.path("junit.xml")),
        &[
            ("debian: prepare", "failure"),
            ("debian: converge", "skipped"),
        ],
    );
    assert_eq!(
        machines(&w, "odt-"),
        Vec::<String>::new(),
        "no template, no machine"
    );
}

#[test]
fn ctrl_c_while_a_template_is_prepared_leaves_no_half_made_template() {
    use std::os::unix::process::CommandExt;
    let w = World::new("scentpl");
    let _guard = Leftovers(&w);
    w.write(
        "tests/slow.yaml",
        "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nprepare:\n  - name: long preparation\n    shell: \"touch /tmp/started; sleep 30\"\nconverge: []\n",
    );
    let child = Command::new(orbdeploy_bin())
        .arg("test")
        .env("ORBSIM_HOME", &w.home)
        .env("ORBDEPLOY_ORBCTL", &w.orbctl)
        .env("NO_COLOR", "1")
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start orbdeploy test");
    wait_for(
        "the long prepare step in the template",
        Duration::from_secs(120),
        || {
            machines(&w, "odt-tpl-")
                .iter()
                .any(|t| w.sh(t, None, "test -f /tmp/started").code == 0)
        },
    );
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("prepare      skipped"), "{stdout}");
    assert_eq!(machines(&w, "odt-"), Vec::<String>::new(), "{stdout}");
}

#[test]
fn a_pipe_lookup_runs_once_for_the_whole_test_command() {
    let mut w = World::new("scenpipe");
    w.env
        .push(("ORBDEPLOY_SCENARIO_TOKEN".into(), "env-t0ken-value".into()));
    let w = w;
    let _guard = Leftovers(&w);
    let count = w.path("pipe-count");
    // The same command in prepare and converge (applied twice: converge and idempotence):
    // checked for the template and each phase, then run in each phase, before the fix.
    let lookup = format!(
        "{{{{ pipe(\"sh -c 'echo x >> {}; echo s3cr3t-value'\") }}}} {{{{ env(\"ORBDEPLOY_SCENARIO_TOKEN\") }}}}",
        count.display()
    );
    let show = "  - name: show it\n    shell: \"cat /var/tmp/conf; exit 3\"\n";
    w.write(
        "tests/pipe.yaml",
        format!(
            "platforms:\n  - {{ name: debian, image: \"debian:bookworm\" }}\n\
             prepare:\n  - name: seed\n    put:\n      dest: /var/tmp/seed\n      content: |\n        {lookup}\n\
             converge:\n  - name: conf\n    put:\n      dest: /var/tmp/conf\n      content: |\n        {lookup}\n\
             verify:\n  - name: same value\n    command: cmp /var/tmp/seed /var/tmp/conf\n    changed_when: false\n\
             {show}"
        ),
    );
    // The last verify step fails and prints the value: the verify run, answered from the
    // lookups' outputs, masks it as the run that ran the command would.
    let run = w.orbdeploy(["test"]);
    run.assert_code(1);
    assert!(run.stdout.contains("`show it`"), "{}", run.stdout);
    assert!(!run.stdout.contains("s3cr3t-value"), "{}", run.stdout);
    assert!(!run.stdout.contains("env-t0ken-value"), "{}", run.stdout);
    assert_eq!(
        std::fs::read_to_string(&count).unwrap(),
        "x\n",
        "the command ran once for the whole `orbdeploy test`"
    );
}
