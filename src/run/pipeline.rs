//! Pipelined steps: when a command step is about to run and the read-ahead window read
//! past it (speculatively, [`crate::facts::Window::speculating`]), the steps after it whose
//! decisions are already known travel with it in one request — a chain
//! ([`crate::remote::Remote::send_chain`]): for each step in order, its guard (a speculative
//! step's probe run again on the machine, which stops the chain when what the step was
//! decided on changed), then its command, or nothing for a step with nothing to do. The run
//! then goes through the steps as always; each request a step makes is answered from the
//! chain, in order, as the agent finishes it. A guard that fails, or a command that fails,
//! stops the chain on the machine, and the steps after it are read and run as without
//! pipelining: the results are the same, only the number of round trips differs
//! (docs/design.md, "Pipelined steps").

use crate::facts::Facts;
use crate::ops::{Decision, Rendered};
use crate::remote::{Exec, Link};
use crate::steps::Step;

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

/// What the step at a later position adds to the chain, and whether the chain goes on.
enum Next {
    /// Its request (a command), or none; the chain goes on after it.
    Go(Option<Exec>),
    /// The chain ends after its guard: it changes something, fails, or is judged here.
    End,
}

/// What the step `step`, rendered as `rendered` with `facts`, adds to a chain.
fn next(env: &mut StepEnv<'_>, step: &Step, rendered: &Rendered, facts: &Facts) -> Next {
    if judged_here(step) {
        return Next::End;
    }
    match rendered.op.decide(facts) {
        Ok(Decision::Unchanged | Decision::Skip(_)) => Next::Go(None),
        Ok(Decision::Run) if rendered.op.is_command() => {
            Next::Go(Some(super::step::command_request(env, rendered)))
        }
        _ => Next::End,
    }
}

/// Send the chain that starts with the command `first` of `list[pos]` (about to run), if
/// the window holds steps after it; returns whether one was sent (and so whether `first`
/// is answered from it). The window keeps only
/// the facts the chain's guards check.
pub(super) fn start(env: &mut StepEnv<'_>, list: &[&Step], pos: usize, first: Exec) -> bool {
    let step = list[pos];
    if !env.pipelining || judged_here(step) || env.window.end() <= pos + 1 {
        return false;
    }
    let mut bytes = first.full_script().len();
    let mut chain = vec![(first, link(step))];
    let mut last = pos;
    let mut chained = Vec::new();
    let end = env.window.end().min(list.len());
    for (at, later) in list.iter().enumerate().take(end).skip(pos + 1) {
        let Some((rendered, facts)) = env.window.peek(at) else {
            // A step the window found skipped (`when:`, an empty loop): no request.
            continue;
        };
        let (rendered, facts) = (rendered.clone(), facts.clone());
        let guard = env.window.guard_of(at).cloned();
        let step_next = next(env, later, &rendered, &facts);
        let more = guard.iter().map(|g| g.script.len()).sum::<usize>()
            + match &step_next {
                Next::Go(Some(req)) => req.full_script().len(),
                _ => 0,
            };
        if bytes + more > CHAIN_BYTES {
            break;
        }
        bytes += more;
        if let Some(g) = guard {
            chain.push((g, Link::Stops));
        }
        last = at;
        match step_next {
            Next::Go(Some(req)) => {
                chain.push((req, link(later)));
                chained.push(at);
            }
            Next::Go(None) => {}
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
    for at in chained {
        env.window.mark_chained(at);
    }
    true
}
