//! `try:` / `rescue:` / `always:` in one machine's run: what runs after a failure in each
//! list, what the steps report, nesting, and how a group's failure reaches its machine.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::report::HostStatus;
use StepStatus::*;

/// A step that appends `word` to `log` under the machine's root, then fails when `fail`.
fn step(word: &str, fail: bool) -> String {
    let end = if fail { "; exit 3" } else { "" };
    format!("{{ name: {word}, shell: 'echo {word} >> log{end}' }}")
}

/// A group named `name` of the given lists (`None`: the key is left out).
fn group(
    name: &str,
    tried: &[String],
    rescue: Option<&[String]>,
    always: Option<&[String]>,
) -> String {
    let list = |l: &[String]| format!("[{}]", l.join(", "));
    let mut out = format!("{{ name: {name}, try: {}", list(tried));
    if let Some(r) = rescue {
        out.push_str(&format!(", rescue: {}", list(r)));
    }
    if let Some(a) = always {
        out.push_str(&format!(", always: {}", list(a)));
    }
    out.push_str(" }");
    out
}

#[test]
fn a_failure_in_try_skips_the_rest_runs_rescue_and_always_and_is_rescued() {
    let ops = format!(
        "- {}\n- {}\n",
        group(
            "migrate",
            &[step("t1", false), step("t2", true), step("t3", false)],
            Some(&[step("r1", false)]),
            Some(&[step("a1", false)]),
        ),
        step("after", false)
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "t1\nt2\nr1\na1\nafter\n");
    assert_eq!(
        ran.rows,
        rows(&[
            ("migrate / try / t1", Ran),
            ("migrate / try / t2", Rescued),
            ("migrate / try / t3", Skipped),
            ("migrate / rescue / r1", Ran),
            ("migrate / always / a1", Ran),
            ("after", Ran),
        ])
    );
    assert_eq!(
        ran.step("migrate / try / t3").reason.as_deref(),
        Some("a step of `migrate / try` failed")
    );
    // The failure is kept in full, and counted apart from failures.
    let t2 = ran.step("migrate / try / t2");
    assert_eq!(t2.failure.as_ref().and_then(|f| f.exit_code), Some(3));
    assert_eq!(ran.host.status, HostStatus::Ok);
    assert_eq!(
        (ran.host.counts.get(Rescued), ran.host.counts.get(Failed)),
        (1, 0)
    );
}

#[test]
fn a_try_that_succeeds_skips_rescue_and_runs_always() {
    let ops = format!(
        "- {}\n",
        group(
            "g",
            &[step("t1", false)],
            Some(&[step("r1", false)]),
            Some(&[step("a1", false)]),
        )
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "t1\na1\n");
    let r1 = ran.step("g / rescue / r1");
    assert_eq!(r1.status, Skipped);
    assert_eq!(r1.reason.as_deref(), Some("runs only if `g / try` fails"));
}

#[test]
fn a_failed_rescue_runs_always_then_fails_the_machine() {
    let ops = format!(
        "- {}\n- {}\n",
        group(
            "g",
            &[step("t1", true)],
            Some(&[step("r1", true), step("r2", false)]),
            Some(&[step("a1", false)]),
        ),
        step("after", false)
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "t1\nr1\na1\n");
    assert_eq!(
        ran.rows,
        rows(&[
            ("g / try / t1", Rescued),
            ("g / rescue / r1", Failed),
            ("g / rescue / r2", Skipped),
            ("g / always / a1", Ran),
            ("after", Skipped),
        ])
    );
    assert_eq!(ran.host.status, HostStatus::Failed);
}

#[test]
fn without_rescue_the_failure_is_the_machines_once_always_ran() {
    let ops = format!(
        "- {}\n- {}\n",
        group(
            "g",
            &[step("t1", true), step("t2", false)],
            None,
            Some(&[step("a1", false)])
        ),
        step("after", false)
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "t1\na1\n");
    assert_eq!(ran.step("g / try / t1").status, Failed);
    assert_eq!(
        ran.step("after").reason.as_deref(),
        Some("an earlier step failed on this machine")
    );
}

#[test]
fn a_failure_in_always_fails_the_group_and_skips_the_rest_of_always() {
    let ops = format!(
        "- {}\n- {}\n",
        group(
            "g",
            &[step("t1", false)],
            None,
            Some(&[step("a1", true), step("a2", false)]),
        ),
        step("after", false)
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "t1\na1\n");
    assert_eq!(ran.step("g / always / a1").status, Failed);
    assert_eq!(ran.step("g / always / a2").status, Skipped);
    assert_eq!(ran.step("after").status, Skipped);
}

#[test]
fn an_inner_group_without_rescue_runs_its_always_before_the_outer_rescue() {
    let inner = group(
        "inner",
        &[step("i1", true), step("i2", false)],
        None,
        Some(&[step("ia", false)]),
    );
    let ops = format!(
        "- {}\n",
        group(
            "outer",
            &[inner, step("o2", false)],
            Some(&[step("or", false)]),
            Some(&[step("oa", false)]),
        )
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "i1\nia\nor\noa\n");
    assert_eq!(
        ran.rows,
        rows(&[
            ("outer / try / inner / try / i1", Rescued),
            ("outer / try / inner / try / i2", Skipped),
            ("outer / try / inner / always / ia", Ran),
            ("outer / try / o2", Skipped),
            ("outer / rescue / or", Ran),
            ("outer / always / oa", Ran),
        ])
    );
    assert_eq!(ran.host.status, HostStatus::Ok);
}

#[test]
fn an_inner_rescue_keeps_the_outer_group_going() {
    let inner = group(
        "inner",
        &[step("i1", true)],
        Some(&[step("ir", false)]),
        None,
    );
    let ops = format!(
        "- {}\n",
        group(
            "outer",
            &[inner, step("o2", false)],
            Some(&[step("or", false)]),
            None
        )
    );
    let (ran, fake) = apply(&ops);
    assert_eq!(read(&fake, "log"), "i1\nir\no2\n");
    assert_eq!(ran.step("outer / rescue / or").status, Skipped);
}

#[test]
fn a_false_when_on_the_group_skips_every_step_of_it() {
    let ops = "\
- name: g
  when: 1 == 2
  try: [{ name: t, shell: 'echo t >> log' }]
  rescue: [{ name: r, shell: 'echo r >> log' }]
  always: [{ name: a, shell: 'echo a >> log' }]
- { name: after, shell: 'echo after >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(read(&fake, "log"), "after\n");
    for name in ["g / try / t", "g / rescue / r", "g / always / a"] {
        assert_eq!(ran.step(name).status, Skipped, "{name}");
    }
}

#[test]
fn the_group_gives_its_steps_vars_and_become_and_rescue_reads_the_registered_failure() {
    let ops = "\
- name: g
  vars: { word: hello }
  become: true
  try:
    - { name: t, shell: 'echo {{ word }} >> log; exit 5', register: out }
  rescue:
    - { name: r, shell: 'echo rc={{ out.rc }} failed={{ out.failed }} >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(read(&fake, "log"), "hello\nrc=5 failed=True\n");
    assert_eq!(ran.step("g / try / t").status, Rescued);
    let users: Vec<Option<String>> = fake.requests().iter().map(|r| r.user.clone()).collect();
    assert!(
        users.iter().all(|u| u.as_deref() == Some("root")),
        "{users:?}"
    );
}

#[test]
fn a_handler_notified_in_rescue_runs_at_the_end() {
    let ops = "\
steps:
  - name: g
    try: [{ name: t, shell: 'exit 1' }]
    rescue: [{ name: r, shell: 'echo r >> log', notify: h }]
handlers:
  - { name: h, shell: 'echo h >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(read(&fake, "log"), "r\nh\n");
    assert!(ran.step("h").handler);
}

#[test]
fn fail_fast_stops_other_machines_only_when_the_failure_leaves_its_group() {
    let rescued = format!(
        "- {}\n",
        group("g", &[step("t", true)], Some(&[step("r", false)]), None)
    );
    let mut config = config();
    config.on_failure = OnFailure::Everything;
    let stop_all = AtomicBool::new(false);
    let mut fake = FakeMachine::new(MACHINE);
    let loaded = load(fake.root(), &rescued);
    run_host_beside(&loaded, &config, &mut fake, &stop_all, Resume::default());
    assert!(
        !stop_all.load(Ordering::SeqCst),
        "a rescued failure stops nothing"
    );

    let failed = format!(
        "- {}\n",
        group("g", &[step("t", true)], None, Some(&[step("a", false)]))
    );
    let loaded = load(fake.root(), &failed);
    let ran = run_host_beside(&loaded, &config, &mut fake, &stop_all, Resume::default());
    assert!(stop_all.load(Ordering::SeqCst));
    assert_eq!(ran.step("g / always / a").status, Ran, "always ran first");
}

#[test]
fn keep_going_goes_on_after_a_failed_group() {
    let ops = format!(
        "- {}\n- {}\n",
        group("g", &[step("t1", true), step("t2", false)], None, None),
        step("after", false)
    );
    let mut config = config();
    config.on_failure = OnFailure::Nothing;
    let (ran, fake) = apply_on(FakeMachine::new(MACHINE), &ops, &config);
    assert_eq!(
        read(&fake, "log"),
        "t1\nafter\n",
        "the rest of try is still skipped"
    );
    assert_eq!(ran.host.status, HostStatus::Failed);
}

#[test]
fn a_plan_shows_rescue_as_running_only_on_failure() {
    let ops = format!(
        "- {}\n",
        group(
            "g",
            &[step("t", false)],
            Some(&[step("r", false)]),
            Some(&[step("a", false)])
        )
    );
    let mut plan = config();
    plan.mode.dry_run = true;
    let (ran, fake) = apply_on(FakeMachine::new(MACHINE), &ops, &plan);
    assert_eq!(read(&fake, "log"), "");
    assert_eq!(
        ran.rows,
        rows(&[
            ("g / try / t", WillRun),
            ("g / rescue / r", Skipped),
            ("g / always / a", WillRun),
        ])
    );
    assert_eq!(
        ran.step("g / rescue / r").reason.as_deref(),
        Some("runs only if `g / try` fails")
    );
}

#[test]
fn a_loop_item_that_fails_in_try_is_rescued_after_the_other_items() {
    let ops = "\
- name: g
  try:
    - { name: each, shell: 'echo {{ item }} >> log; test {{ item }} != b', loop: [a, b, c] }
    - { name: next, shell: 'echo next >> log' }
  rescue:
    - { name: r, shell: 'echo r >> log' }
";
    let (ran, fake) = apply(ops);
    assert_eq!(read(&fake, "log"), "a\nb\nc\nr\n");
    assert_eq!(ran.step("g / try / each [b]").status, Rescued);
    assert_eq!(ran.step("g / try / next").status, Skipped);
}

#[test]
fn a_group_inside_a_looping_include_runs_anew_for_each_item() {
    let fake = FakeMachine::new(MACHINE);
    // Named by an absolute path: `load` writes the operations file elsewhere.
    let inc = fake.root().join("inc.yaml");
    std::fs::write(
        &inc,
        "\
- name: g
  try:
    - { name: t, shell: 'echo t{{ n }} >> log; test {{ n }} != 1' }
    - { name: u, shell: 'echo u{{ n }} >> log' }
  rescue: [{ name: r, shell: 'echo r{{ n }} >> log' }]
",
    )
    .unwrap();
    let ops = format!(
        "- {{ include: {}, loop: [1, 2], loop_var: n }}\n",
        serde_json::Value::String(inc.display().to_string())
    );
    let (ran, fake) = apply_on(fake, &ops, &config());
    // The first item's failure is rescued; the second item's try runs whole again.
    assert_eq!(read(&fake, "log"), "t1\nr1\nt2\nu2\n");
    assert_eq!(
        ran.rows,
        rows(&[
            ("g / try / t [1]", Rescued),
            ("g / try / u [1]", Skipped),
            ("g / rescue / r [1]", Ran),
            ("g / try / t [2]", Ran),
            ("g / try / u [2]", Ran),
            ("g / rescue / r [2]", Skipped),
        ])
    );
}
