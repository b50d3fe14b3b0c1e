//! One step ([`crate::run::step::run`]): the gate, retries and `delay`, a change that
//! failed half-way, the kinds of failure and what `ignore_errors` excuses, and the facts it
//! reads ahead for the steps after it.

use std::time::{Duration, Instant};

use super::*;
use crate::facts::Window;
use crate::ops::{FailureKind, Rendered};
use crate::remote::fake::Reply;
use crate::run::step::{self, StepEnv, StepOutcome};
use crate::steps::{items, Step};

/// What the gate is told about the machine and the run.
#[derive(Default, Clone, Copy)]
struct Gate {
    /// An earlier step of the machine failed.
    failed: bool,
    /// `--fail-fast` stopped every machine.
    stop_all: bool,
}

/// The machine's steps (loops expanded) and the template contexts a step runs in.
struct Steps {
    expanded: Vec<Step>,
    ctx: minijinja::Value,
    fixed: minijinja::Value,
    hostvars: serde_json::Value,
}

fn steps_of(loaded: &Loaded) -> Steps {
    let plan = crate::plan::select(&loaded.inv, &loaded.book, (&[], None), &[]).expect("plan");
    let machine = &plan.machines[0];
    let mut vars = machine.vars.clone();
    vars.insert("hostvars".into(), plan.hostvars.clone());
    let ctx = minijinja::Value::from_serialize(&vars);
    let fixed = minijinja::Value::from_serialize(&machine.fixed);
    let expanded = items::expand(&machine.steps, &loaded.renderer, &ctx, &fixed);
    Steps {
        expanded,
        ctx,
        fixed,
        hostvars: plan.hostvars.clone(),
    }
}

/// Run the step at `pos` of `ops` on `fake` (a fresh window), as the machine's run would.
fn run_step(
    fake: &mut FakeMachine,
    ops: &str,
    pos: usize,
    gate: Gate,
) -> (step::Ran, Window<Rendered>) {
    let loaded = load(fake.root(), ops);
    let steps = steps_of(&loaded);
    run_at(fake, &loaded, &steps, &config(), pos, gate)
}

/// [`run_step`] with this configuration, the gate open.
fn run_with(
    fake: &mut FakeMachine,
    loaded: &Loaded,
    steps: &Steps,
    config: &Config,
    pos: usize,
) -> step::Ran {
    run_at(fake, loaded, steps, config, pos, Gate::default()).0
}

fn run_at(
    fake: &mut FakeMachine,
    loaded: &Loaded,
    steps: &Steps,
    config: &Config,
    pos: usize,
    gate: Gate,
) -> (step::Ran, Window<Rendered>) {
    let stop_all = AtomicBool::new(gate.stop_all);
    let shared = Shared {
        renderer: &loaded.renderer,
        events: Sender::discarding(),
        config,
        stop_all: &stop_all,
        hostvars: &steps.hostvars,
        watch: None,
    };
    let mut window = Window::default();
    let list: Vec<&Step> = steps.expanded.iter().collect();
    let env = StepEnv {
        shared: &shared,
        machine: MACHINE,
        remote: fake,
        ctx: &steps.ctx,
        fixed: &steps.fixed,
        window: &mut window,
        failed: gate.failed,
        earlier_changes: false,
        hold: None,
        skip: None,
        pipelining: false,
    };
    let ran = step::run(env, &list, pos, list[pos]);
    crate::interrupt::request_on_this_thread(false);
    (ran, window)
}

/// The failure of a failed step, and whether `ignore_errors` excused it.
fn failure(ran: &step::Ran) -> (&crate::ops::Failure, bool) {
    match &ran.outcome {
        StepOutcome::Failed { failure, ignored } => (failure, *ignored),
        other => panic!("not a failure: {other:?}"),
    }
}

/// A shell step that fails until it has been tried `fail` times (it counts in `tries`).
fn flaky(fail: u32, keys: &str) -> String {
    format!(
        "- {{ name: flaky, shell: 'n=$(cat tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > tries; [ $n -gt {fail} ]', {keys} }}\n"
    )
}

#[test]
fn retries_try_again_until_the_change_succeeds() {
    let mut fake = FakeMachine::new(MACHINE);
    let (ran, _) = run_step(
        &mut fake,
        &flaky(2, "retries: 3, delay: 0"),
        0,
        Gate::default(),
    );
    assert!(matches!(ran.outcome, StepOutcome::Ran(_)), "{ran:?}");
    assert_eq!(ran.detail.attempts, 3);
    assert_eq!(read(&fake, "tries"), "3\n");
}

#[test]
fn a_step_that_fails_every_try_fails_after_its_retries() {
    let mut fake = FakeMachine::new(MACHINE);
    let (ran, _) = run_step(
        &mut fake,
        &flaky(9, "retries: 2, delay: 0"),
        0,
        Gate::default(),
    );
    let (f, ignored) = failure(&ran);
    assert_eq!(
        (f.kind, f.status, ignored),
        (FailureKind::Step, Some(1), false)
    );
    assert_eq!(ran.detail.attempts, 3);
    assert_eq!(read(&fake, "tries"), "3\n");
}

#[test]
fn delay_is_waited_between_tries() {
    let mut fake = FakeMachine::new(MACHINE);
    let started = Instant::now();
    let (ran, _) = run_step(
        &mut fake,
        &flaky(1, "retries: 1, delay: 1"),
        0,
        Gate::default(),
    );
    assert!(matches!(ran.outcome, StepOutcome::Ran(_)), "{ran:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn ctrl_c_ends_the_retries_without_waiting_the_delay() {
    let mut fake = FakeMachine::new(MACHINE);
    fake.on_command("tries", Reply::RunThenInterrupt, None);
    let started = Instant::now();
    let (ran, _) = run_step(
        &mut fake,
        &flaky(9, "retries: 5, delay: 30"),
        0,
        Gate::default(),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    failure(&ran);
    assert_eq!(ran.detail.attempts, 1);
}

#[test]
fn ctrl_c_during_the_delay_ends_the_retries_before_another_try() {
    // The command never creates `never`, so the step has a probe to read again; Ctrl-C
    // arrives with that second read (the first is the step's own facts).
    let ops = "- { name: c, shell: 'echo x >> tries; exit 1', creates: '{{ root }}/never', retries: 3, delay: 0 }\n";
    let mut fake = FakeMachine::new(MACHINE);
    fake.on("never", Reply::RunThenExit(0), Some(1));
    fake.on("never", Reply::RunThenInterrupt, Some(1));
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    failure(&ran);
    assert_eq!(ran.detail.attempts, 1);
    assert_eq!(read(&fake, "tries"), "x\n", "no try after Ctrl-C");
}

#[test]
fn a_command_whose_creates_exists_after_a_failed_try_is_done() {
    let ops = "- { name: c, shell: 'touch made; echo x >> tries; exit 1', creates: '{{ root }}/made', retries: 3, delay: 0 }\n";
    let mut fake = FakeMachine::new(MACHINE);
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    assert!(matches!(ran.outcome, StepOutcome::Ran(None)), "{ran:?}");
    assert_eq!(ran.detail.attempts, 1);
    assert_eq!(read(&fake, "tries"), "x\n", "not run again");
}

#[test]
fn a_change_that_failed_half_way_is_done_when_the_machine_reads_as_declared() {
    let ops = "- { name: flag, file: { path: '{{ root }}/flag' }, retries: 2, delay: 0 }\n";
    let mut fake = FakeMachine::new(MACHINE);
    fake.on_command("flag", Reply::RunThenExit(1), Some(1));
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    assert!(matches!(ran.outcome, StepOutcome::Changed(None)), "{ran:?}");
    assert_eq!(ran.detail.attempts, 1, "read again, not tried again");
    assert_eq!(fake.probe_requests(), 2);
    assert!(fake.root().join("flag").exists());

    // Without retries the failure stands.
    let mut fake = FakeMachine::new(MACHINE);
    fake.on_command("flag", Reply::RunThenExit(1), Some(1));
    let ops = "- { name: flag, file: { path: '{{ root }}/flag' } }\n";
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    failure(&ran);
}

#[test]
fn ignore_errors_excuses_a_failed_command_and_a_time_limit() {
    let ops = "- { name: c, shell: 'exit 7', ignore_errors: true }\n";
    let mut fake = FakeMachine::new(MACHINE);
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    let (f, ignored) = failure(&ran);
    assert_eq!(
        (f.kind, f.status, ignored),
        (FailureKind::Step, Some(7), true)
    );
    assert_eq!(ran.outcome.status(), StepStatus::Ignored);

    let ops = "- { name: slow, shell: 'sleep 9', timeout: 1, ignore_errors: true }\n";
    let mut fake = FakeMachine::new(MACHINE);
    fake.on_command("sleep 9", Reply::TimedOut, None);
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    let (f, ignored) = failure(&ran);
    assert_eq!((f.kind, ignored), (FailureKind::TimedOut, true));
}

#[test]
fn a_lost_connection_makes_the_machine_unreachable_whatever_ignore_errors_says() {
    let ops = "- { name: c, shell: 'echo hi', ignore_errors: true, retries: 2, delay: 0 }\n";
    let mut fake = FakeMachine::new(MACHINE);
    fake.on_command("echo hi", Reply::Disconnect, None);
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    let (f, ignored) = failure(&ran);
    assert_eq!((f.kind, ignored), (FailureKind::Unreachable, false));
    assert_eq!(ran.outcome.status(), StepStatus::Failed);
    assert!(f.message.contains("lost the connection"), "{}", f.message);
}

#[test]
fn facts_that_cannot_be_read_fail_the_step_before_any_change() {
    let ops = "- { name: flag, file: { path: '{{ root }}/flag' }, ignore_errors: true }\n";
    // The connection breaks while reading.
    let mut fake = FakeMachine::new(MACHINE);
    fake.on("flag", Reply::Disconnect, None);
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    let (f, ignored) = failure(&ran);
    assert_eq!((f.kind, ignored), (FailureKind::Unreachable, false));

    // The reply lacks the facts: exit 255 is a broken connection, another status is not.
    for (status, kind) in [(255, FailureKind::Unreachable), (2, FailureKind::Step)] {
        let mut fake = FakeMachine::new(MACHINE);
        fake.on("flag", Reply::Exit(status), None);
        let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
        let (f, ignored) = failure(&ran);
        assert_eq!((f.kind, ignored), (kind, false), "{}", f.message);
        assert!(
            f.message.contains(&format!("exit {status}")),
            "{}",
            f.message
        );
        assert_eq!(fake.commands_with("flag"), 0, "nothing changed");
    }
}

#[test]
fn the_gate_stops_a_step_before_it_asks_the_machine_anything() {
    let ops = "- { name: c, shell: 'echo hi' }\n";
    let cases = [
        (
            Gate {
                failed: true,
                stop_all: false,
            },
            "an earlier step failed on this machine",
        ),
        (
            Gate {
                failed: false,
                stop_all: true,
            },
            "stopped: a step failed elsewhere (--fail-fast)",
        ),
    ];
    for (gate, why) in cases {
        let mut fake = FakeMachine::new(MACHINE);
        let (ran, _) = run_step(&mut fake, ops, 0, gate);
        assert!(
            matches!(&ran.outcome, StepOutcome::Skipped(w) if w == why),
            "{ran:?}"
        );
        assert!(fake.requests().is_empty());
    }
    let mut fake = FakeMachine::new(MACHINE);
    crate::interrupt::request_on_this_thread(true);
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    assert!(matches!(ran.outcome, StepOutcome::Interrupted), "{ran:?}");
    assert!(fake.requests().is_empty());
}

#[test]
fn a_step_reads_the_facts_of_the_steps_after_it() {
    let ops = "\
- { name: a, file: { path: '{{ root }}/a' } }
- { name: b, file: { path: '{{ root }}/b' } }
- { name: c, shell: 'true' }
- { name: d, file: { path: '{{ root }}/d' } }
";
    let mut fake = FakeMachine::new(MACHINE);
    for f in ["a", "b", "d"] {
        std::fs::write(fake.root().join(f), "").unwrap();
    }
    let (ran, mut window) = run_step(&mut fake, ops, 0, Gate::default());
    assert!(matches!(ran.outcome, StepOutcome::Ok(_)), "{ran:?}");
    assert_eq!(fake.requests().len(), 1);
    assert!(window.take(1).is_some(), "b was read with a");
    assert!(window.take(3).is_none(), "not past the command");
}

#[test]
fn creates_and_unless_skip_a_command_that_was_done() {
    let mut fake = FakeMachine::new(MACHINE);
    std::fs::write(fake.root().join("done"), "").unwrap();
    let ops = "\
- { name: made, shell: 'echo ran >> log', creates: '{{ root }}/done' }
- { name: held, shell: 'echo ran >> log', unless: 'test -e {{ root }}/done' }
- { name: runs, shell: 'echo ran >> log', unless: 'false' }
";
    for (pos, skipped) in [(0, true), (1, true), (2, false)] {
        let (ran, _) = run_step(&mut fake, ops, pos, Gate::default());
        assert_eq!(
            matches!(ran.outcome, StepOutcome::Skipped(_)),
            skipped,
            "{pos}: {ran:?}"
        );
    }
    assert_eq!(read(&fake, "log"), "ran\n");
}

#[test]
fn a_failure_before_the_change_is_not_excused_by_ignore_errors() {
    let ops = "- { name: c, shell: 'true', when: root, ignore_errors: true }\n";
    let mut fake = FakeMachine::new(MACHINE);
    let (ran, _) = run_step(&mut fake, ops, 0, Gate::default());
    let (f, ignored) = failure(&ran);
    assert!(!ignored);
    assert!(f.message.starts_with("when: "), "{}", f.message);
}

#[test]
fn a_plan_with_diff_shows_what_would_change_and_the_calls() {
    let ops = "- { name: conf, put: { content: \"new\\n\", dest: '{{ root }}/conf' } }\n";
    let mut fake = FakeMachine::new(MACHINE);
    std::fs::write(fake.root().join("conf"), "old\n").unwrap();
    let loaded = load(fake.root(), ops);
    let steps = steps_of(&loaded);
    let mut config = config();
    config.mode.dry_run = true;
    config.mode.show_calls = true;
    config.diff = true;
    let ran = run_with(&mut fake, &loaded, &steps, &config, 0);
    assert!(matches!(ran.outcome, StepOutcome::WillChange), "{ran:?}");
    let diff = ran.detail.diff.as_deref().unwrap_or_default();
    assert!(diff.contains("-old") && diff.contains("+new"), "{diff}");
    assert!(!ran.detail.changes.is_empty());
    assert_eq!(ran.detail.calls.len(), 1, "what the fake describes");
    assert_eq!(read(&fake, "conf"), "old\n");
}
