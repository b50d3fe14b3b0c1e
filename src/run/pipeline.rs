//! Pipelined steps: when a command step, or a change whose requests can be known ahead
//! ([`record`]), is about to run and the read-ahead window read past it (speculatively,
//! [`crate::facts::Window::speculating`]), the steps after it whose decisions are already
//! known travel with it in one request — a chain ([`crate::remote::Remote::send_chain`]):
//! for each step in order, its guard (a speculative step's probe run again on the machine,
//! which stops the chain when what the step was decided on changed), then its command or
//! its change's requests (a write with its bytes), or nothing for a step with nothing to
//! do. The run then goes through the steps as always; each request a step makes is
//! answered from the chain, in order, as the agent finishes it. A guard that fails, or a
//! request that fails, stops the chain on the machine, and the steps after it are read and
//! run as without pipelining: the results are the same, only the number of round trips
//! differs (docs/design.md, "Pipelined steps").

use crate::facts::Facts;
use crate::ops::{Decision, Rendered};
use crate::remote::{Exec, Link};
use crate::steps::Step;

use super::record;
use super::step::StepEnv;

/// The most script bytes one chain carries: it is written whole before any reply is read,
/// so it must fit in the pipes between here and the agent (64 KiB on Linux) with room to
/// spare, or a command's reply could fill the way back while the chain is still being
/// written, and both sides would wait for each other.
const CHAIN_BYTES: usize = 32 * 1024;

/// Whether a step's decision or failure is orbdeploy's own after its command ran
/// (`changed_when`, `failed_when`): the machine cannot tell, so the chain ends after it.
fn judged_here(step: &Step) -> bool {
    step.spec.changed_when.is_some() || step.spec.failed_when.is_some()
}

/// How a command step's failure bears on the chain: with `ignore_errors` the steps after it
/// still run, unless it has `retries` (the tries after the first are made on their own).
fn link(step: &Step) -> Link {
    let retries = step.spec.retries.unwrap_or(0) > 0;
    if step.spec.ignore_errors == Some(true) && !retries {
        Link::Ignored
    } else {
        Link::Stops
    }
}

/// The most bytes of files one chain carries ([`record`]); a change whose files are more
/// than what is left travels alone. The chain is written by a thread of its own when it is
/// larger than the pipes hold (`crate::remote::channel`).
const PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// What the step at a later position adds to the chain, and whether the chain goes on.
enum Next {
    /// Its requests (a command's, a change's recorded ones), or none; the chain goes on
    /// after it.
    Go(Vec<Exec>),
    /// The chain ends after its guard: it fails, is judged here, or its change cannot be
    /// known ahead.
    End,
}

/// What the step `step`, rendered as `rendered` with `facts`, adds to a chain whose files
/// have `budget` bytes left.
fn next(
    env: &mut StepEnv<'_>,
    step: &Step,
    rendered: &Rendered,
    facts: &Facts,
    budget: usize,
) -> Next {
    if judged_here(step) {
        return Next::End;
    }
    match rendered.op.decide(facts) {
        Ok(Decision::Unchanged | Decision::Skip(_)) => Next::Go(Vec::new()),
        Ok(Decision::Run) if rendered.op.is_command() => {
            Next::Go(vec![super::step::command_request(env, rendered)])
        }
        Ok(Decision::Change(_)) if chains_changes(env) => {
            match record::requests(rendered, facts, env.machine, budget) {
                Some(requests) => Next::Go(requests),
                None => Next::End,
            }
        }
        _ => Next::End,
    }
}

/// Whether changes travel in chains too, not only commands: not when the report shows
/// diffs, which read a file before its change is made (a request of its own between the
/// chain's), nor over a connection that does not chain (`--no-channel`: recording the
/// change would only read its files twice).
pub(super) fn chains_changes(env: &StepEnv<'_>) -> bool {
    env.pipelining && !env.shared.config.diff && env.remote.chains()
}

/// The requests of the change `rendered` is about to make (with `facts`), when a chain
/// can carry them ([`record`]).
pub(super) fn change_requests(
    env: &StepEnv<'_>,
    rendered: &Rendered,
    facts: &Facts,
) -> Option<Vec<Exec>> {
    if !chains_changes(env) {
        return None;
    }
    record::requests(rendered, facts, env.machine, PAYLOAD_BYTES)
}

/// Send the chain that starts with the requests `first` of `list[pos]` (about to run: a
/// command, or a change), if the window holds steps after it; returns whether one was sent
/// (and so whether `first` is answered from it). The window keeps only the facts the
/// chain's guards check.
pub(super) fn start(env: &mut StepEnv<'_>, list: &[&Step], pos: usize, first: Vec<Exec>) -> bool {
    let step = list[pos];
    if !env.pipelining || judged_here(step) || env.window.end() <= pos + 1 {
        return false;
    }
    let mut bytes: usize = first.iter().map(|r| r.full_script().len()).sum();
    let mut payload: usize = first.iter().map(|r| r.stdin.len()).sum();
    let mut chain: Vec<(Exec, Link)> = first.into_iter().map(|r| (r, link(step))).collect();
    let mut last = pos;
    let mut chained = Vec::new();
    let end = env.window.end().min(list.len());
    for (at, later) in list.iter().enumerate().take(end).skip(pos + 1) {
        let Some((rendered, facts)) = env.window.peek(at) else {
            // A step the window found skipped (`when:`, an empty loop): no request.
            continue;
        };
        let guard = env.window.guard_of(at).cloned();
        if guard.is_none() && rendered.op.probe().is_some() {
            // Read before the chain's first change and not checked again: not in it.
            break;
        }
        let (rendered, facts) = (rendered.clone(), facts.clone());
        let step_next = next(env, later, &rendered, &facts, PAYLOAD_BYTES - payload);
        let (more, files) = match &step_next {
            Next::Go(reqs) => (
                reqs.iter().map(|r| r.full_script().len()).sum::<usize>(),
                reqs.iter().map(|r| r.stdin.len()).sum::<usize>(),
            ),
            Next::End => (0, 0),
        };
        let more = more + guard.iter().map(|g| g.script.len()).sum::<usize>();
        if bytes + more > CHAIN_BYTES {
            break;
        }
        bytes += more;
        payload += files;
        if let Some(g) = guard {
            chain.push((g, Link::Stops));
        }
        last = at;
        match step_next {
            Next::Go(reqs) => {
                if !reqs.is_empty() {
                    chained.push(at);
                }
                chain.extend(reqs.into_iter().map(|r| (r, link(later))));
            }
            Next::End => break,
        }
        if later.registers_now().is_some() {
            break;
        }
    }
    env.window.keep_through(last);
    if chain.len() < 2 {
        return false;
    }
    if env.remote.send_chain(&chain).is_err() {
        // Nothing to answer from: every step's request goes on its own, and what was
        // read past this command is no longer to be trusted.
        env.window.keep_through(pos);
        return false;
    }
    env.window.chain_sent();
    for at in chained {
        env.window.mark_chained(at);
    }
    true
}
