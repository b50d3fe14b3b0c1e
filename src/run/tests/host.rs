//! One machine's run: order, handlers, `when`, loops, `register`, the read-ahead window,
//! what a failure stops, and Ctrl-C between steps.

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
    assert_eq!((again.host.counts.ok, again.host.counts.changed), (3, 0));
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
    assert!(handler.handler && handler.status == Changed);
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
        rows(&[("a", Changed), ("broken", Failed), ("after", Skipped)])
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
    assert_eq!(ran.rows, rows(&[("yes", Changed), ("no", Skipped)]));
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
        rows(&[
            ("probe", Changed),
            ("on ready", Changed),
            ("on failed", Skipped)
        ])
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
    assert_eq!(ran.rows, rows(&[("probe", Changed), ("uses it", Failed)]));
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
        rows(&[
            ("two lines", Changed),
            ("fails", Ignored),
            ("show", Changed)
        ])
    );
    assert_eq!(read(&fake, "seen"), "a,b oops 0 True 4 True partial\n");
    assert_eq!(ran.host.status, HostStatus::Changed);
    assert_eq!(ran.host.counts.ignored, 1);
}

#[test]
fn a_loop_runs_each_item_with_its_binding_and_label() {
    let ops = "\
- name: greet
  shell: 'echo {{ who.name }}={{ who.n }} >> log'
  loop: [{ name: ann, n: 1 }, { name: bob, n: 2 }]
  loop_var: who
  label: '{{ who.name }}'
- { name: plain, shell: 'echo {{ item }} >> log', loop: [x, y] }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[
            ("greet [ann]", Changed),
            ("greet [bob]", Changed),
            ("plain [x]", Changed),
            ("plain [y]", Changed)
        ])
    );
    assert_eq!(read(&fake, "log"), "ann=1\nbob=2\nx\ny\n");
    let item = ran.step("greet [bob]").item.as_ref().expect("item info");
    assert_eq!(
        (item.label.as_str(), item.index, item.count),
        ("bob", Some(1), Some(2))
    );
}

#[test]
fn when_is_evaluated_per_item_and_an_empty_loop_is_one_skipped_row() {
    let ops = "\
- { name: odd, shell: 'echo {{ item }} >> log', loop: [1, 2, 3], when: item % 2 == 1 }
- { name: none, shell: 'echo none >> log', loop: [] }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[
            ("odd [1]", Changed),
            ("odd [2]", Skipped),
            ("odd [3]", Changed),
            ("none", Skipped)
        ])
    );
    assert_eq!(ran.step("none").reason.as_deref(), Some("loop: no items"));
    assert_eq!(read(&fake, "log"), "1\n3\n");
}

#[test]
fn a_loop_over_a_registered_value_is_expanded_when_it_is_known() {
    let ops = "\
- { name: list, shell: 'printf \"a\\nb\\nc\\n\"', register: names }
- { name: each, shell: 'echo {{ item }} >> log', loop: '{{ names.stdout_lines }}' }
- { name: not a list, shell: 'true', loop: '{{ names.rc }}' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[
            ("list", Changed),
            ("each [a]", Changed),
            ("each [b]", Changed),
            ("each [c]", Changed),
            ("not a list", Failed)
        ])
    );
    assert_eq!(read(&fake, "log"), "a\nb\nc\n");
    let message = &ran.step("not a list").failure.as_ref().unwrap().message;
    assert!(message.contains("not a list"), "{message}");
}

#[test]
fn a_looping_register_holds_every_item_and_notify_fires_once() {
    let ops = "\
steps:
  - name: each
    shell: 'echo {{ item }}; [ {{ item }} != b ]'
    loop: [a, b, c]
    register: r
    ignore_errors: true
    notify: h
  - name: summary
    shell: \"echo '{{ r.changed }} {{ r.failed }} {{ r.results | map(attribute=\\\"item\\\") | join }} {{ r.results[1].rc }} {{ r.results[2].stdout }}' > seen\"
handlers:
  - { name: h, shell: 'echo h >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[
            ("each [a]", Changed),
            ("each [b]", Ignored),
            ("each [c]", Changed),
            ("summary", Changed),
            ("h", Changed)
        ])
    );
    assert_eq!(read(&fake, "seen"), "True True abc 1 c\n");
    assert_eq!(read(&fake, "log"), "h\n");
}

#[test]
fn a_failed_item_stops_the_machine_after_the_loop_is_tried() {
    let ops = "\
- { name: each, shell: 'echo {{ item }} >> log; [ {{ item }} != 1 ]', loop: [0, 1, 2] }
- { name: after, shell: 'echo after >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[
            ("each [0]", Changed),
            ("each [1]", Failed),
            ("each [2]", Changed),
            ("after", Skipped)
        ])
    );
    assert_eq!(read(&fake, "log"), "0\n1\n2\n");
}

/// `count` files under the root, each already there, and a step per file.
fn existing_files(fake: &FakeMachine, count: usize) -> String {
    let mut ops = String::new();
    for n in 0..count {
        std::fs::write(fake.root().join(format!("f{n}")), "").unwrap();
        ops.push_str(&format!(
            "- {{ name: f{n}, file: {{ path: '{{{{ root }}}}/f{n}' }} }}\n"
        ));
    }
    ops
}

#[test]
fn the_facts_of_consecutive_steps_are_read_in_one_request() {
    let fake = FakeMachine::new(MACHINE);
    let ops = existing_files(&fake, 6);
    let (ran, fake) = apply_on(fake, &ops, &config());
    assert!(ran.rows.iter().all(|(_, s)| *s == Ok), "{:?}", ran.rows);
    assert_eq!(fake.probe_requests(), 1);
    assert_eq!(fake.requests().len(), 1, "nothing but the one read");
}

#[test]
fn a_change_drops_what_was_read_ahead() {
    let fake = FakeMachine::new(MACHINE);
    let ops = existing_files(&fake, 4);
    std::fs::remove_file(fake.root().join("f1")).unwrap();
    let (ran, fake) = apply_on(fake, &ops, &config());
    assert_eq!(
        ran.rows,
        rows(&[("f0", Ok), ("f1", Changed), ("f2", Ok), ("f3", Ok)])
    );
    // f0..f3 read together; f1's change makes f2 and f3 be read again, together.
    assert_eq!(fake.probe_requests(), 2);
}

#[test]
fn a_command_or_a_register_ends_a_window_and_a_skipped_step_does_not() {
    let fake = FakeMachine::new(MACHINE);
    let files = existing_files(&fake, 6);
    let lines: Vec<&str> = files.lines().collect();
    let ops = format!(
        "{}\n{}\n- {{ name: skipped, shell: 'echo no', when: false }}\n{}\n- {{ name: cmd, shell: 'true' }}\n{}\n- {{ name: reg, file: {{ path: '{{{{ root }}}}/f4' }}, register: x }}\n{}\n",
        lines[0], lines[1], lines[2], lines[3], lines[5]
    );
    let (ran, fake) = apply_on(fake, &ops, &config());
    assert_eq!(
        ran.rows,
        rows(&[
            ("f0", Ok),
            ("f1", Ok),
            ("skipped", Skipped),
            ("f2", Ok),
            ("cmd", Changed),
            ("f3", Ok),
            ("reg", Ok),
            ("f5", Ok)
        ])
    );
    // f0 f1 f2 | (after the command) f3 reg | (after the register) f5
    assert_eq!(fake.probe_requests(), 3);
}

#[test]
fn a_change_of_user_starts_a_new_request() {
    let fake = FakeMachine::new(MACHINE);
    let mut ops = existing_files(&fake, 2);
    std::fs::write(fake.root().join("r"), "").unwrap();
    ops.push_str("- { name: as root, file: { path: '{{ root }}/r' }, become: true }\n");
    let (ran, fake) = apply_on(fake, &ops, &config());
    assert_eq!(ran.rows, rows(&[("f0", Ok), ("f1", Ok), ("as root", Ok)]));
    let users: Vec<Option<&str>> = fake
        .requests()
        .iter()
        .filter(|r| r.probe)
        .map(|r| r.user.as_deref())
        .collect();
    assert_eq!(users, [None, Some("root")]);
}

#[test]
fn a_hundred_items_are_read_in_two_requests() {
    let fake = FakeMachine::new(MACHINE);
    for n in 0..100 {
        std::fs::write(fake.root().join(format!("i{n}")), "").unwrap();
    }
    let ops =
        "- { name: each, file: { path: '{{ root }}/i{{ item }}' }, loop: '{{ range(100) }}' }\n";
    let (ran, fake) = apply_on(fake, ops, &config());
    assert_eq!(ran.rows.len(), 100);
    assert!(ran.rows.iter().all(|(_, s)| *s == Ok));
    // At most 64 steps a window.
    assert_eq!(fake.probe_requests(), 2);
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
    assert_eq!(ran.step("two").status, Changed);
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
fn a_put_moves_its_bytes_only_when_they_differ() {
    let ops = "- { name: conf, put: { content: \"0123456789\\n\", dest: '{{ root }}/conf' } }\n";
    let sent = |fake: &FakeMachine| -> Vec<usize> {
        fake.requests()
            .iter()
            .filter(|r| !r.probe)
            .map(|r| r.stdin_len)
            .collect()
    };
    let (ran, fake) = apply(ops);
    assert_eq!(ran.rows, rows(&[("conf", Changed)]));
    assert_eq!(sent(&fake), [11], "one write, the content on its stdin");
    let (ran, fake) = apply_on(fake, ops, &config());
    assert_eq!(ran.rows, rows(&[("conf", Ok)]));
    assert_eq!(sent(&fake), [11], "no second write");
    std::fs::write(fake.root().join("conf"), "changed by hand\n").unwrap();
    let (ran, fake) = apply_on(fake, ops, &config());
    assert_eq!(ran.rows, rows(&[("conf", Changed)]));
    assert_eq!(read(&fake, "conf"), "0123456789\n");
}

#[test]
fn a_register_inside_a_looping_include_keeps_the_includes_items() {
    let fake = FakeMachine::new(MACHINE);
    // Named by an absolute path: `load` writes the operations file elsewhere.
    let inc = fake.root().join("inc.yaml");
    std::fs::write(
        &inc,
        "- { name: r, shell: 'echo {{ site }}', register: out }\n- { name: use, shell: 'echo use {{ out.stdout }} >> log' }\n",
    )
    .unwrap();
    let ops = format!(
        "- {{ include: {}, loop: [a, b], loop_var: site }}\n- {{ name: after, shell: 'echo after {{{{ out.stdout }}}} >> log' }}\n",
        serde_json::Value::String(inc.display().to_string())
    );
    let (ran, fake) = apply_on(fake, &ops, &config());
    assert_eq!(
        ran.rows,
        rows(&[
            ("r [a]", Changed),
            ("use [a]", Changed),
            ("r [b]", Changed),
            ("use [b]", Changed),
            ("after", Changed)
        ])
    );
    assert_eq!(read(&fake, "log"), "use a\nuse b\nafter b\n");
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
        rows(&[("check", Changed), ("inner", Skipped), ("last", Changed)])
    );
    assert_eq!(
        ran.step("inner").reason.as_deref(),
        Some("when: r.stdout == 'yes' is false")
    );
    assert_eq!(read(&fake, "log"), "last\n");
}

#[test]
fn ctrl_c_between_the_items_of_a_loop_stops_the_rest() {
    let ops = "\
- { name: each, shell: 'echo {{ item }} >> log', loop: [a, b, c], register: r }
- { name: after, shell: 'echo after >> log' }
";
    let mut fake = FakeMachine::new(MACHINE);
    fake.on("echo a", Reply::RunThenInterrupt, Some(1));
    let (ran, fake) = apply_on(fake, ops, &config());
    assert_eq!(read(&fake, "log"), "a\n");
    assert_eq!(
        ran.rows,
        rows(&[
            ("each [a]", Changed),
            ("each [b]", Skipped),
            ("each [c]", Skipped),
            ("after", Skipped)
        ])
    );
    assert_eq!(ran.host.status, HostStatus::Interrupted);
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
            ("reg", Changed),
            ("failed before", Changed),
            ("owed", Changed)
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
        rows(&[("a", Changed), ("show", Changed), ("broken", Failed)])
    );
    assert_eq!(read(&fake, "log"), "v1 True\n");
    assert_eq!(ran.host.status, HostStatus::Failed);
    assert_eq!(ran.host.counts.failed, 1);
}
