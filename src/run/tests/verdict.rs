//! `changed_when:` and `failed_when:` ([`crate::run::verdict`]) and the `ran` status, on
//! the fake machine: what a step's status becomes, what `register:` records, which
//! handlers it notifies, and the plan-time check of the expressions.

use super::*;
use crate::report::HostStatus;
use StepStatus::*;

#[test]
fn a_command_that_ran_is_ran_and_its_machine_is_not_changed() {
    let ops = "\
- { name: a, shell: 'echo a' }
- { name: w, wait: { path: '{{ root }}' } }
";
    let (ran, _) = apply(ops);
    assert_eq!(ran.rows, rows(&[("a", Ran), ("w", Ok)]));
    assert_eq!(ran.host.status, HostStatus::Ok);
    assert_eq!(
        (ran.host.counts.get(Ran), ran.host.counts.get(Changed)),
        (1, 0)
    );
}

#[test]
fn changed_when_decides_from_rc_and_stdout() {
    let ops = "\
- { name: rc2, shell: 'exit 0', changed_when: result.rc == 2 }
- { name: said, shell: 'echo installed', changed_when: \"'installed' in result.stdout\" }
- { name: never, shell: 'echo x', changed_when: false }
- { name: always, shell: 'true', changed_when: true }
- { name: list, shell: 'echo a; echo b', changed_when: [\"result.stdout_lines | length == 2\", \"result.rc == 0\"] }
- { name: list-no, shell: 'echo a', changed_when: [\"result.rc == 0\", \"'b' in result.stdout\"] }
";
    let (ran, _) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[
            ("rc2", Ok),
            ("said", Changed),
            ("never", Ok),
            ("always", Changed),
            ("list", Changed),
            ("list-no", Ok),
        ])
    );
    assert_eq!(ran.host.status, HostStatus::Changed);
}

#[test]
fn failed_when_fails_or_excuses_and_names_the_expression() {
    let ops = "\
- { name: grep, shell: 'echo nothing; exit 1', failed_when: result.rc > 1 }
- { name: bad, shell: 'echo ERROR here', failed_when: \"'ERROR' in result.stdout\" }
";
    let (ran, _) = apply(ops);
    assert_eq!(ran.rows, rows(&[("grep", Ran), ("bad", Failed)]));
    let f = ran.step("bad").failure.as_ref().expect("a failure");
    assert_eq!(f.message, "failed_when: `'ERROR' in result.stdout` is true");
    assert_eq!(f.exit_code, Some(0));
    assert!(f.stdout_tail.contains("ERROR here"), "{f:?}");
}

#[test]
fn failed_when_false_excuses_a_failing_command_and_changed_when_still_decides() {
    let ops = "\
- { name: a, shell: 'exit 3', failed_when: false, changed_when: result.rc == 3 }
- { name: b, shell: 'exit 3', failed_when: false }
- { name: c, shell: 'exit 3', changed_when: false }
";
    let (ran, _) = apply(ops);
    // Without failed_when a failing command fails, whatever changed_when says.
    assert_eq!(ran.rows, rows(&[("a", Changed), ("b", Ran), ("c", Failed)]));
}

#[test]
fn register_records_the_final_changed_and_failed() {
    let ops = "\
- { name: a, shell: 'echo hi; exit 1', failed_when: false, changed_when: false, register: a }
- { name: b, shell: 'echo fine', failed_when: result.stdout == 'fine', register: b, ignore_errors: true }
- { name: c, shell: 'echo x', register: c }
- { name: show, shell: \"echo '{{ a.changed }} {{ a.failed }} {{ a.rc }} {{ a.stdout }} / {{ b.failed }} {{ b.rc }} / {{ c.changed }} {{ c.status }}' > out\" }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[("a", Ok), ("b", Ignored), ("c", Ran), ("show", Ran)])
    );
    assert_eq!(read(&fake, "out"), "False False 1 hi / True 0 / True ran\n");
}

#[test]
fn the_register_name_is_the_result_in_the_expressions() {
    let ops = "- { name: a, shell: 'echo 5', register: out, changed_when: out.stdout | int > 3 }\n";
    let (ran, _) = apply(ops);
    assert_eq!(ran.rows, rows(&[("a", Changed)]));
}

#[test]
fn each_item_of_a_loop_is_judged_on_its_own() {
    let ops = "\
- name: each
  shell: 'echo {{ item }}'
  loop: [keep, change, keep]
  changed_when: \"result.stdout == 'change' and item == 'change'\"
  register: all
- { name: show, shell: \"echo '{{ all.changed }} {{ all.results | map(attribute=\\\"changed\\\") | join(\\\",\\\") }}' > out\" }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[
            ("each [keep]", Ok),
            ("each [change]", Changed),
            ("each [keep]", Ok),
            ("show", Ran),
        ])
    );
    assert_eq!(read(&fake, "out"), "True False,True,False\n");
}

#[test]
fn changed_when_on_a_file_kind_sees_what_changed() {
    let ops = "\
- { name: conf, put: { content: \"a\\n\", dest: '{{ root }}/conf' }, changed_when: \"result.changes | length > 0\" }
- { name: quiet, put: { content: \"b\\n\", dest: '{{ root }}/quiet' }, changed_when: false }
- { name: loud, put: { content: \"a\\n\", dest: '{{ root }}/conf' }, changed_when: true }
";
    let (ran, fake) = apply(ops);
    assert_eq!(
        ran.rows,
        rows(&[("conf", Changed), ("quiet", Ok), ("loud", Changed)])
    );
    assert_eq!(
        read(&fake, "quiet"),
        "b\n",
        "changed_when does not stop the change"
    );
}

#[test]
fn ran_notifies_its_handlers_and_changed_when_false_does_not() {
    let ops = "\
steps:
  - { name: a, shell: 'true', notify: h1 }
  - { name: b, shell: 'true', notify: h2, changed_when: false }
handlers:
  - { name: h1, shell: 'echo h1 >> log' }
  - { name: h2, shell: 'echo h2 >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(ran.rows, rows(&[("a", Ran), ("b", Ok), ("h1", Ran)]));
    assert_eq!(read(&fake, "log"), "h1\n");
}

#[test]
fn an_expression_that_fails_at_run_time_fails_the_step_with_its_key() {
    let ops = "- { name: a, shell: 'echo x', changed_when: \"result.stdout | int > 1\" }\n- { name: b, shell: 'echo 7', changed_when: result.stdout }\n";
    let (ran, _) = apply_with_keep_going(ops);
    let a = ran.step("a").failure.as_ref().expect("a failure");
    assert!(a.message.starts_with("changed_when: "), "{}", a.message);
    assert!(a.stdout_tail.contains('x'), "the output is shown: {a:?}");
    let f = ran.step("b").failure.as_ref().expect("a failure");
    assert!(
        f.message
            .starts_with("changed_when: `result.stdout` is a string (\"7\"), not true or false"),
        "{}",
        f.message
    );
}

#[test]
fn a_plan_does_not_evaluate_them_and_says_will_run() {
    let ops = "- { name: a, shell: 'echo x', changed_when: false }\n";
    let mut config = config();
    config.mode.dry_run = true;
    let (ran, _) = apply_on(FakeMachine::new(MACHINE), ops, &config);
    assert_eq!(ran.rows, rows(&[("a", WillRun)]));
}

#[test]
fn the_plan_time_check_finds_undefined_names_and_non_booleans() {
    let check = |ops: &str| -> Result<(), String> {
        let fake = FakeMachine::new(MACHINE);
        let loaded = load(fake.root(), ops);
        let plan = crate::plan::select(&loaded.inv, &loaded.book, (&[], None), &[]).expect("plan");
        crate::plan::validate::validate(&plan, &loaded.book, &loaded.renderer)
            .map_err(|e| e.message)
    };
    assert_eq!(
        check("- { shell: a, changed_when: resutl.rc == 0 }\n"),
        Err("step `shell a`: on machine `m1`: changed_when: undefined variable `resutl`; did you mean `result`?".into())
    );
    assert_eq!(
        check("- { shell: a, failed_when: result.rc }\n"),
        Err("step `shell a`: on machine `m1`: failed_when: `result.rc` is a number (0), not true or false (compare it, e.g. `result.rc == \"yes\"`, or test it, e.g. `result.rc is defined`)".into())
    );
    assert_eq!(
        check("- { shell: a, register: out, changed_when: \"out.rc == 1 and root != ''\" }\n"),
        Result::Ok(())
    );
    assert_eq!(
        check("- { shell: a, changed_when: \"'x' in result.stdout_lines\", failed_when: [result.rc > 2, \"result.stderr == ''\"] }\n"),
        Result::Ok(())
    );
    // What only the real result can say is checked when the step runs.
    assert_eq!(
        check("- { shell: a, register: n, changed_when: \"n.stdout | int > 0\" }\n"),
        Result::Ok(())
    );
    // A field no result has is found now.
    assert!(check("- { shell: a, changed_when: result.return_code }\n")
        .is_err_and(|e| e.contains("changed_when: `result.return_code` is undefined")),);
}

/// [`apply`] that goes on after a failure.
fn apply_with_keep_going(ops: &str) -> (Reported, FakeMachine) {
    let mut config = config();
    config.on_failure = OnFailure::Nothing;
    apply_on(FakeMachine::new(MACHINE), ops, &config)
}

#[test]
fn retries_try_again_while_failed_when_says_failed() {
    let ops = "\
- name: counts
  shell: 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo $n'
  failed_when: result.stdout | int < 3
  retries: 5
  delay: 0
";
    let (ran, fake) = apply(ops);
    assert_eq!(ran.rows, rows(&[("counts", Ran)]));
    assert_eq!(ran.step("counts").attempts, 3);
    assert_eq!(read(&fake, "n"), "3\n");
}
