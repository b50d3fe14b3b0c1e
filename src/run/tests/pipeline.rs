//! Pipelined steps on a machine that chains requests as the channel's agent does: the
//! requests it takes, and results that are the same as without pipelining.

use super::*;
use crate::remote::fake::Reply;
use StepStatus::*;

/// The benchmark's mix (docs/performance.md): 35 steps, 20 of them commands, 5 puts, 5
/// directories, 5 lines, the commands spread between the others.
fn mix() -> String {
    let mut ops = String::new();
    for i in 0..5 {
        ops.push_str(&format!(
            "- {{ name: d{i}, directory: {{ path: '{{{{ root }}}}/d{i}' }} }}\n\
             - {{ name: c{i}a, shell: 'true' }}\n\
             - {{ name: p{i}, put: {{ content: \"v{i}\\n\", dest: '{{{{ root }}}}/d{i}/f' }} }}\n\
             - {{ name: c{i}b, shell: 'echo {i} > /dev/null' }}\n\
             - {{ name: l{i}, line: {{ path: '{{{{ root }}}}/d{i}/g', line: 'x{i}' }} }}\n\
             - {{ name: c{i}c, command: [true] }}\n\
             - {{ name: c{i}d, shell: 'test -d {{{{ root }}}}' }}\n"
        ));
    }
    ops
}

/// Every step result of a run on `fake` as JSON, without what time decides, the machine's
/// directory written `ROOT` and the operations file's `OPS`.
fn results(ran: &Reported, fake: &FakeMachine) -> Vec<String> {
    let root = fake.root().display().to_string();
    ran.steps
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).expect("a step result serializes");
            if let Some(m) = v.as_object_mut() {
                for k in ["duration_ms", "start_ms", "timings"] {
                    m.remove(k);
                }
                if let Some(o) = m.get_mut("origin").and_then(|o| o.as_object_mut()) {
                    o.insert("file".into(), "OPS".into());
                }
            }
            v.to_string().replace(&root, "ROOT")
        })
        .collect()
}

/// `ops` applied to two machines that start alike (`prepare` writes both), one with
/// pipelining and one without; returns both runs, pipelined first.
fn both(
    ops: &str,
    prepare: impl Fn(&FakeMachine),
) -> ((Reported, FakeMachine), (Reported, FakeMachine)) {
    let mut chained = FakeMachine::new(MACHINE);
    chained.chaining();
    prepare(&chained);
    let plain = FakeMachine::new(MACHINE);
    prepare(&plain);
    let mut off = config();
    off.pipeline = false;
    let a = apply_on(chained, &ops.replace("ROOT", "{{ root }}"), &config());
    let b = apply_on(plain, &ops.replace("ROOT", "{{ root }}"), &off);
    (a, b)
}

#[test]
fn a_no_change_re_apply_of_the_benchmark_mix_takes_three_requests_or_fewer() {
    let mut fake = FakeMachine::new(MACHINE);
    fake.chaining();
    let (first, fake) = apply_on(fake, &mix(), &config());
    assert_eq!(first.host.counts.get(Failed), 0, "{:?}", first.rows);
    let before = fake.requests().len();
    let (again, fake) = apply_on(fake, &mix(), &config());
    let made = &fake.requests()[before..];
    assert_eq!(again.host.counts.get(Ran), 20, "{:?}", again.rows);
    assert_eq!(again.host.counts.get(Ok), 15, "{:?}", again.rows);
    assert!(made.len() <= 3, "{} requests: {made:#?}", made.len());
    assert!(made.iter().any(|r| r.chain));

    // Without pipelining: one read, then one request per command.
    let mut off = config();
    off.pipeline = false;
    let before = fake.requests().len();
    let (plain, fake) = apply_on(fake, &mix(), &off);
    assert_eq!(results(&plain, &fake), results(&again, &fake));
    assert!(fake.requests().len() - before >= 21);
}

#[test]
fn a_command_that_edits_a_later_steps_file_is_seen_by_its_guard() {
    let ops = "\
- { name: seed, put: { content: \"a\\n\", dest: 'ROOT/f' } }
- { name: edit, shell: 'printf \"b\\n\" > ROOT/f' }
- { name: keep, line: { path: 'ROOT/f', line: 'a' } }
- { name: after, shell: 'echo after >> ROOT/log' }
";
    let prepare = |f: &FakeMachine| std::fs::write(f.root().join("f"), "a\n").unwrap();
    let ((piped, pf), (plain, qf)) = both(ops, prepare);
    assert_eq!(
        piped.rows,
        rows(&[
            ("seed", Ok),
            ("edit", Ran),
            ("keep", Changed),
            ("after", Ran)
        ])
    );
    assert_eq!(results(&piped, &pf), results(&plain, &qf));
    assert_eq!(read(&pf, "f"), read(&qf, "f"));
    assert_eq!(read(&pf, "f"), "b\na\n");
    assert_eq!(read(&pf, "log"), "after\n");
}

#[test]
fn a_failure_in_the_middle_stops_the_chain_and_later_steps_are_not_run() {
    let ops = "\
- { name: a, shell: 'echo a >> ROOT/log' }
- { name: b, shell: 'echo b >> ROOT/log; exit 3' }
- { name: c, shell: 'echo c >> ROOT/log' }
- { name: d, directory: { path: 'ROOT/d' } }
";
    let ((piped, pf), (plain, qf)) = both(ops, |_| {});
    assert_eq!(
        piped.rows,
        rows(&[("a", Ran), ("b", Failed), ("c", Skipped), ("d", Skipped)])
    );
    assert_eq!(results(&piped, &pf), results(&plain, &qf));
    assert_eq!(read(&pf, "log"), "a\nb\n");
    assert!(!pf.root().join("d").exists());
}

#[test]
fn ignore_errors_lets_the_chain_go_on_and_a_timeout_stops_it() {
    let ops = "\
- { name: a, shell: 'echo a >> ROOT/log' }
- { name: b, shell: 'exit 4', ignore_errors: true }
- { name: c, shell: 'echo c >> ROOT/log' }
- { name: slow, shell: 'echo slow >> ROOT/log', timeout: 5 }
- { name: e, shell: 'echo e >> ROOT/log' }
";
    let program = |f: &mut FakeMachine| {
        f.on_command("echo slow", Reply::TimedOut, None);
    };
    let mut chained = FakeMachine::new(MACHINE);
    chained.chaining();
    program(&mut chained);
    let mut plain = FakeMachine::new(MACHINE);
    program(&mut plain);
    let mut off = config();
    off.pipeline = false;
    let (piped, pf) = apply_on(chained, &ops.replace("ROOT", "{{ root }}"), &config());
    let (alone, qf) = apply_on(plain, &ops.replace("ROOT", "{{ root }}"), &off);
    assert_eq!(
        piped.rows,
        rows(&[
            ("a", Ran),
            ("b", Ignored),
            ("c", Ran),
            ("slow", Failed),
            ("e", Skipped)
        ])
    );
    assert_eq!(results(&piped, &pf), results(&alone, &qf));
    assert_eq!(read(&pf, "log"), "a\nc\n");
    assert_eq!(read(&qf, "log"), "a\nc\n");
    assert_eq!(pf.requests().iter().filter(|r| r.chain).count(), 1);
}

#[test]
fn changed_when_ends_the_chain_after_its_step() {
    let ops = "\
- { name: a, shell: 'echo a >> ROOT/log' }
- { name: b, shell: 'echo b >> ROOT/log', failed_when: 'result.rc == 0' }
- { name: c, shell: 'echo c >> ROOT/log' }
";
    let ((piped, pf), (plain, qf)) = both(ops, |_| {});
    assert_eq!(
        piped.rows,
        rows(&[("a", Ran), ("b", Failed), ("c", Skipped)])
    );
    assert_eq!(results(&piped, &pf), results(&plain, &qf));
    assert_eq!(read(&pf, "log"), "a\nb\n");
}

#[test]
fn a_first_apply_sends_its_changes_in_chains_with_the_commands() {
    // The mix with every line in one file: the second line's guard sees the file the
    // first one created, and the chain stops there; the rest is a read and one chain.
    let ops = mix().replace("/d{i}/g", "/g");
    let ops: String = (0..5).fold(ops, |o, i| o.replace(&format!("/d{i}/g'"), "/g'"));
    let ((piped, pf), (plain, qf)) = both(&ops.replace("{{ root }}", "ROOT"), |_| {});
    assert_eq!(piped.host.counts.get(Changed), 15, "{:?}", piped.rows);
    assert_eq!(results(&piped, &pf), results(&plain, &qf));
    assert_eq!(read(&pf, "g"), "x0\nx1\nx2\nx3\nx4\n");
    assert_eq!(read(&pf, "g"), read(&qf, "g"));
    assert_eq!(read(&pf, "d3/f"), "v3\n");
    let made = pf.requests();
    assert_eq!(made.len(), 4, "{made:#?}");
    assert_eq!(made.iter().filter(|r| r.chain).count(), 2);
    assert!(qf.requests().len() >= 35);
}

#[test]
fn with_diff_a_change_is_made_on_its_own() {
    // A diff reads the file before its change: a request between the chain's, which
    // would read the file the chain had already written.
    let ops = "\
- { name: conf, put: { content: \"new\\n\", dest: 'ROOT/conf' } }
- { name: after, shell: 'echo after >> ROOT/log' }
- { name: more, put: { content: \"more\\n\", dest: 'ROOT/more' } }
";
    let mut diff = config();
    diff.diff = true;
    let mut no_pipeline = diff.clone();
    no_pipeline.pipeline = false;
    let mut runs = Vec::new();
    for (chaining, config) in [(true, &diff), (false, &no_pipeline)] {
        let mut fake = FakeMachine::new(MACHINE);
        if chaining {
            fake.chaining();
        }
        std::fs::write(fake.root().join("conf"), "old\n").unwrap();
        std::fs::write(fake.root().join("more"), "less\n").unwrap();
        runs.push(apply_on(fake, &ops.replace("ROOT", "{{ root }}"), config));
    }
    let (ran, fake) = &runs[0];
    assert_eq!(
        ran.rows,
        rows(&[("conf", Changed), ("after", Ran), ("more", Changed)])
    );
    let more = ran.steps[2].diff.as_deref().unwrap_or_default();
    assert!(more.contains("-less") && more.contains("+more"), "{more}");
    assert_eq!(results(ran, fake), results(&runs[1].0, &runs[1].1));
    assert!(fake.requests().iter().all(|r| !r.chain));
}
