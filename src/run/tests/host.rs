//! One machine's run: order, handlers, `when`, `register`, what a failure stops, Ctrl-C
//! between steps, a plan, and where a resumed machine starts.

use super::*;
use crate::remote::fake::Reply;
use crate::report::HostStatus;
use StepStatus::*;

/// Each step appends its name to `log` under the machine's root: the order things ran in.
fn logged(name: &str) -> String {
    format!("{{ name: {name}, shell: 'echo {name} >> log' }}")
}

#[test]
fn steps_run_in_order_and_a_second_run_changes_nothing() {
    let ops = "\
- { name: dir, directory: { path: '{{ root }}/etc' } }
- { name: conf, put: { content: \"port 80\\n\", dest: '{{ root }}/etc/app.conf' } }
- { name: flag, file: { path: '{{ root }}/etc/flag' } }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[("dir", Changed), ("conf", Changed), ("flag", Changed)])
    );
    assert_eq!(ran.host.status, HostStatus::Changed);
    assert_eq!(read(&fake, "etc/app.conf"), "port 80\n");
    assert_eq!(
        fake.closed(),
        1,
        "the connection is closed at the machine's end"
    );

    let (again, _) = apply_on(fake, ops, &config());
    assert_eq!(again.rows, rows(&[("dir", Ok), ("conf", Ok), ("flag", Ok)]));
    assert_eq!(again.host.status, HostStatus::Ok);
    assert_eq!(
        (
            again.host.counts.get(StepStatus::Ok),
            again.host.counts.get(StepStatus::Changed)
        ),
        (3, 0)
    );
}

#[test]
fn a_handler_notified_twice_runs_once_after_every_step() {
    let ops = format!(
        "\
steps:
  - {{ name: a, shell: 'echo a >> log', notify: restart }}
  - {{ name: b, shell: 'echo b >> log', notify: [restart] }}
  - {}
handlers:
  - {{ name: restart, shell: 'echo restart >> log' }}
  - {{ name: never, shell: 'echo never >> log' }}
",
        logged("c")
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "a\nb\nc\nrestart\n");
    let handler = ran.step("restart");
    assert!(handler.handler && handler.status == Ran);
    assert!(ran.steps.iter().all(|s| s.name != "never"));
}

#[test]
fn a_step_that_changes_nothing_notifies_no_handler() {
    let ops = "\
steps:
  - { name: flag, file: { path: '{{ root }}/flag' }, notify: h }
handlers:
  - { name: h, shell: 'echo h >> log' }
";
    let fake = FakeMachine::new(MACHINE);
    std::fs::write(fake.root().join("flag"), "").unwrap();
    let (ran, fake) = apply_on(fake, ops, &config());
    assert_eq!(ran.rows, rows(&[("flag", Ok)]));
    assert_eq!(read(&fake, "log"), "");
}

#[test]
fn handlers_do_not_run_after_a_failure_unless_keep_going() {
    let ops = "\
steps:
  - { name: a, shell: 'echo a >> log', notify: h }
  - { name: broken, shell: 'exit 3' }
  - { name: after, shell: 'echo after >> log' }
handlers:
  - { name: h, shell: 'echo h >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[("a", Ran), ("broken", Failed), ("after", Skipped)])
    );
    assert_eq!(
        ran.step("after").reason.as_deref(),
        Some("an earlier step failed on this machine")
    );
    assert_eq!(read(&fake, "log"), "a\n");
    assert_eq!(ran.host.status, HostStatus::Failed);
    let failure = ran.step("broken").failure.clone().expect("a failure");
    assert_eq!(failure.exit_code, Some(3));

    let mut keep_going = config();
    keep_going.on_failure = OnFailure::Nothing;
    let (ran, fake) = apply_with_config(ops, &keep_going);
    assert_eq!(read(&fake, "log"), "a\nafter\nh\n");
    assert_eq!(ran.host.status, HostStatus::Failed);
}

fn apply_with_config(ops: &str, config: &Config) -> (Reported, FakeMachine) {
    apply_on(FakeMachine::new(MACHINE), ops, config)
}

#[test]
fn fail_fast_tells_the_other_machines_to_stop() {
    let fake = FakeMachine::new(MACHINE);
    let loaded = load(fake.root(), "- { name: broken, shell: 'exit 1' }\n");
    let mut fail_fast = config();
    fail_fast.on_failure = OnFailure::Everything;
    let (ran, stop_all) = run_host_stop_all(&loaded, &fail_fast, fake, false);
    assert_eq!(ran.rows, rows(&[("broken", Failed)]));
    assert!(stop_all, "a failure under --fail-fast stops every machine");

    // A machine that starts after another failed runs nothing.
    let fake = FakeMachine::new(MACHINE);
    let loaded = load(fake.root(), &format!("- {}\n", logged("a")));
    let (ran, _) = run_host_stop_all(&loaded, &fail_fast, fake, true);
    assert_eq!(ran.rows, rows(&[("a", Skipped)]));
    assert_eq!(
        ran.step("a").reason.as_deref(),
        Some("stopped: a step failed elsewhere (--fail-fast)")
    );
}

/// [`run_host_beside`] with `stop_all` set beforehand as given; returns it as the run left
/// it.
fn run_host_stop_all(
    loaded: &Loaded,
    config: &Config,
    mut fake: FakeMachine,
    stopped: bool,
) -> (Reported, bool) {
    let stop_all = AtomicBool::new(stopped);
    let ran = run_host_beside(loaded, config, &mut fake, &stop_all, Resume::default());
    (ran, stop_all.load(std::sync::atomic::Ordering::SeqCst))
}

#[test]
fn when_decides_per_step_and_a_skipped_step_runs_nothing() {
    let ops = "\
- { name: yes, shell: 'echo yes >> log', when: 1 == 1 }
- { name: no, shell: 'echo no >> log', when: root == 'elsewhere' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(ran.rows, rows(&[("yes", Ran), ("no", Skipped)]));
    assert_eq!(
        ran.step("no").reason.as_deref(),
        Some("when: root == 'elsewhere' is false")
    );
    assert_eq!(read(&fake, "log"), "yes\n");
    assert_eq!(fake.commands_with("echo no"), 0);
}

#[test]
fn when_reads_what_an_earlier_step_registered() {
    let ops = "\
- { name: probe, shell: 'echo ready', register: r }
- { name: on ready, shell: 'echo go >> log', when: r.stdout == 'ready' and r.rc == 0 }
- { name: on failed, shell: 'echo bad >> log', when: r.failed }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[("probe", Ran), ("on ready", Ran), ("on failed", Skipped)])
    );
    assert_eq!(read(&fake, "log"), "go\n");
}

#[test]
fn a_when_that_is_not_a_boolean_at_run_time_fails_its_step() {
    let ops = "\
- { name: probe, shell: 'echo some text', register: r }
- { name: uses it, shell: 'true', when: r.stdout }
";
    let (ran, _) = apply(ops);
    assert_eq!(ran.rows, rows(&[("probe", Ran), ("uses it", Failed)]));
    let message = &ran.step("uses it").failure.as_ref().unwrap().message;
    assert!(message.starts_with("when: "), "{message}");
}

#[test]
fn register_keeps_output_status_and_what_happened() {
    let ops = "\
- { name: two lines, shell: 'printf \"a\\nb\\n\"; echo oops >&2', register: out }
- { name: fails, shell: 'echo partial; exit 4', register: bad, ignore_errors: true }
- name: show
  shell: \"echo '{{ out.stdout_lines | join(\\\",\\\") }} {{ out.stderr }} {{ out.rc }} {{ out.changed }} {{ bad.rc }} {{ bad.failed }} {{ bad.stdout }}' > seen\"
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[("two lines", Ran), ("fails", Ignored), ("show", Ran)])
    );
    assert_eq!(read(&fake, "seen"), "a,b oops 0 True 4 True partial\n");
    assert_eq!(ran.host.status, HostStatus::Ok);
    assert_eq!(ran.host.counts.get(StepStatus::Ignored), 1);
}

#[test]
fn ctrl_c_between_steps_stops_the_machine_before_its_next_step() {
    let ops = "\
steps:
  - { name: one, shell: 'echo one >> log', notify: h }
  - { name: two, shell: 'echo two >> log' }
  - { name: three, shell: 'echo three >> log' }
handlers:
  - { name: h, shell: 'echo h >> log' }
";
    let mut fake = FakeMachine::new(MACHINE);
    fake.on("echo two", Reply::RunThenInterrupt, Some(1));
    let (ran, fake) = apply_on(fake, ops, &config());
    assert_eq!(read(&fake, "log"), "one\ntwo\n");
    assert_eq!(ran.host.status, HostStatus::Interrupted);
    assert_eq!(ran.step("two").status, Ran);
    assert_eq!(ran.step("three").status, Skipped);
    assert_eq!(ran.step("three").reason.as_deref(), Some("interrupted"));
    assert_eq!(fake.commands_with("echo h"), 0, "no handler after Ctrl-C");
    assert_eq!(fake.closed(), 1);
}

#[test]
fn a_plan_decides_without_changing_anything() {
    let ops = "\
- { name: flag, file: { path: '{{ root }}/flag' } }
- { name: cmd, shell: 'echo ran >> log' }
- { name: ready, file: { path: '{{ root }}/ready' } }
";
    let fake = FakeMachine::new(MACHINE);
    std::fs::write(fake.root().join("ready"), "").unwrap();
    let mut plan = config();
    plan.mode.dry_run = true;
    let (ran, fake) = apply_on(fake, ops, &plan);
    assert_eq!(
        ran.rows,
        rows(&[("flag", WillChange), ("cmd", WillRun), ("ready", Ok)])
    );
    assert!(!fake.root().join("flag").exists());
    assert_eq!(read(&fake, "log"), "");
    assert!(fake.requests().iter().all(|r| r.probe), "only reads");
    assert_eq!(ran.host.status, HostStatus::Changed);
}

#[test]
fn an_includes_when_is_decided_at_run_time_from_registered_values() {
    let fake = FakeMachine::new(MACHINE);
    let inc = fake.root().join("inc.yaml");
    std::fs::write(&inc, "- { name: inner, shell: 'echo inner >> log' }\n").unwrap();
    let ops = format!(
        "- {{ name: check, shell: 'echo no', register: r }}\n- {{ include: {}, when: r.stdout == 'yes' }}\n- {{ name: last, shell: 'echo last >> log' }}\n",
        serde_json::Value::String(inc.display().to_string())
    );
    let (ran, fake) = apply_on(fake, &ops, &config());
    assert_eq!(
        ran.rows,
        rows(&[("check", Ran), ("inner", Skipped), ("last", Ran)])
    );
    assert_eq!(
        ran.step("inner").reason.as_deref(),
        Some("when: r.stdout == 'yes' is false")
    );
    assert_eq!(read(&fake, "log"), "last\n");
}

#[test]
fn a_plan_registers_a_command_that_would_run_as_skipped() {
    let ops = "\
- { name: cmd, shell: 'echo real', register: r }
- { name: when skipped, shell: 'true', when: r.skipped and r.stdout == '' }
";
    let mut plan = config();
    plan.mode.dry_run = true;
    let (ran, fake) = apply_with_config(ops, &plan);
    assert_eq!(
        ran.rows,
        rows(&[("cmd", WillRun), ("when skipped", WillRun)])
    );
    assert_eq!(fake.commands_with("echo real"), 0);
}

#[test]
fn a_resumed_machine_skips_to_its_failed_step_and_runs_the_handlers_it_owes() {
    let ops = "\
steps:
  - { name: a, shell: 'echo a >> log', notify: owed }
  - { name: reg, shell: 'echo kept', register: r }
  - { name: failed before, shell: 'echo {{ r.stdout }} >> log' }
handlers:
  - { name: owed, shell: 'echo owed >> log' }
  - { name: not owed, shell: 'echo no >> log' }
";
    let mut fake = FakeMachine::new(MACHINE);
    let loaded = load(fake.root(), ops);
    let resume = Resume {
        from: 2,
        owed: [0].into(),
    };
    let ran = run_host_beside(
        &loaded,
        &config(),
        &mut fake,
        &AtomicBool::new(false),
        resume,
    );
    assert_eq!(
        ran.rows,
        rows(&[
            ("a", Skipped),
            ("reg", Ran),
            ("failed before", Ran),
            ("owed", Ran)
        ])
    );
    assert_eq!(
        ran.step("a").reason.as_deref(),
        Some(crate::plan::rerun::SKIPPED)
    );
    assert_eq!(read(&fake, "log"), "kept\nowed\n");
}

#[test]
fn a_handler_sees_registered_values_and_its_failure_fails_the_machine() {
    let ops = "\
steps:
  - { name: a, shell: 'echo v1', register: ver, notify: [show, broken] }
handlers:
  - { name: show, shell: \"echo '{{ ver.stdout }} {{ hostvars[machine].root == root }}' >> log\" }
  - { name: broken, shell: 'exit 5' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[("a", Ran), ("show", Ran), ("broken", Failed)])
    );
    assert_eq!(read(&fake, "log"), "v1 True\n");
    assert_eq!(ran.host.status, HostStatus::Failed);
    assert_eq!(ran.host.counts.get(StepStatus::Failed), 1);
}
