//! Loops in a machine's run: each item a step with its binding and label, `when:` per
//! item, a loop over a registered value, a looping `register`, a failed or interrupted
//! item, and a register inside a looping include.

use super::*;
use crate::remote::fake::Reply;
use crate::report::HostStatus;
use StepStatus::*;

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
            ("greet [ann]", Ran),
            ("greet [bob]", Ran),
            ("plain [x]", Ran),
            ("plain [y]", Ran)
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
            ("odd [1]", Ran),
            ("odd [2]", Skipped),
            ("odd [3]", Ran),
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
            ("list", Ran),
            ("each [a]", Ran),
            ("each [b]", Ran),
            ("each [c]", Ran),
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
            ("each [a]", Ran),
            ("each [b]", Ignored),
            ("each [c]", Ran),
            ("summary", Ran),
            ("h", Ran)
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
            ("each [0]", Ran),
            ("each [1]", Failed),
            ("each [2]", Ran),
            ("after", Skipped)
        ])
    );
    assert_eq!(read(&fake, "log"), "0\n1\n2\n");
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
            ("r [a]", Ran),
            ("use [a]", Ran),
            ("r [b]", Ran),
            ("use [b]", Ran),
            ("after", Ran)
        ])
    );
    assert_eq!(read(&fake, "log"), "use a\nuse b\nafter b\n");
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
            ("each [a]", Ran),
            ("each [b]", Skipped),
            ("each [c]", Skipped),
            ("after", Skipped)
        ])
    );
    assert_eq!(ran.host.status, HostStatus::Interrupted);
}
