//! The read-ahead window as the machine sees it: how many requests a run makes, where a
//! window ends, and which bytes travel.

use super::*;
use StepStatus::*;

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
            ("cmd", Ran),
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
