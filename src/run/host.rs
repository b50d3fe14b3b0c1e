//! One machine's run: its steps in order, then the handlers it notified, once, at its
//! end. Each step goes through [`super::step`]; this file keeps what lasts from one step
//! to the next (registered values, notified handlers, counts, the read-ahead window, the
//! machine's timings) and turns each step's outcome into its report line.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{json, Value as Json};

use crate::facts::{Facts, Window};
use crate::ops::{FailureKind, Rendered};
use crate::plan::{MachinePlan, TemplateVars};
use crate::remote::Remote;
use crate::report::{
    ms, Counts, Event, FailureInfo, HostResult, HostStatus, HostTimings, ItemInfo, Millis, Sender,
    StepOrigin, StepResult, StepStatus,
};
use crate::steps::{items, Step};

use super::config::OnFailure;
use super::groups::Groups;
use super::step::{self, Ran, Shared, StepEnv, StepOutcome};

/// Run one machine's steps and handlers over `remote`; returns its result.
pub fn run(shared: &Shared<'_>, machine: &MachinePlan<'_>, remote: &mut dyn Remote) -> HostResult {
    let started = Instant::now();
    let wire = remote.meter();
    let mut h = HostRun {
        shared,
        machine,
        remote,
        registered: TemplateVars::new(),
        ctx: context(&machine.vars, &TemplateVars::new(), shared.hostvars),
        fixed: minijinja::Value::from_serialize(&machine.fixed),
        // `--rerun-failed`: what the failed run's changes notified and never ran.
        notified: machine.resume.owed.clone(),
        counts: Counts::default(),
        failed: false,
        interrupted: false,
        window: Window::speculating(pipelines(shared, machine)),
        window_speculates: pipelines(shared, machine),
        timings: HostTimings::default(),
        looping: LoopRun::default(),
        groups: Groups::new(&machine.steps),
    };
    let steps = items::expand(&machine.steps, shared.renderer, &h.ctx, &h.fixed);
    shared.events.send(Event::HostStarted {
        machine: machine.name.clone(),
        steps: steps.len(),
    });
    let opening = Instant::now();
    h.remote.expect_users(&likely_users(&machine.steps));
    h.timings.session_ms += Millis::of(opening.elapsed());
    h.run_list(&machine.steps, steps, false);
    if h.groups.end_all() {
        h.machine_failed();
    }
    let handlers: Vec<&Step> = machine
        .handlers
        .iter()
        .copied()
        .filter(|s| h.notified.contains(&s.index))
        .collect();
    // Handler positions are positions among the handlers, not among the steps.
    h.window.forget_steps();
    h.window.stop_speculating();
    if !(h.failed && shared.config.on_failure != OnFailure::Nothing) {
        let expanded = items::expand(&handlers, shared.renderer, &h.ctx, &h.fixed);
        h.run_list(&handlers, expanded, true);
    }
    let closing = Instant::now();
    h.remote.close();
    h.timings.session_ms += Millis::of(closing.elapsed());
    let spent = h.remote.meter().since(&wire);
    h.timings.transport_ms = Millis::of(spent.waiting());
    h.timings.machine_ms = spent.measured.then(|| Millis::of(spent.machine));
    h.timings.requests = spent.requests;
    let status = if h.interrupted {
        HostStatus::Interrupted
    } else if h.counts.get(StepStatus::Failed) > 0 {
        HostStatus::Failed
    } else if h.counts.sum(|t| t.changes) > 0 {
        HostStatus::Changed
    } else {
        HostStatus::Ok
    };
    HostResult {
        machine: machine.name.clone(),
        status,
        counts: h.counts,
        duration_ms: ms(started.elapsed()),
        error: None,
        timings: Some(h.timings),
        batch: None,
    }
}

/// What lasts from one step of a machine to the next.
struct HostRun<'a, 'b> {
    shared: &'a Shared<'a>,
    machine: &'a MachinePlan<'b>,
    remote: &'a mut dyn Remote,
    /// Values registered by earlier steps.
    registered: TemplateVars,
    /// The template context, built again only when a step registers something.
    ctx: minijinja::Value,
    /// Built-ins and `--var`, over what includes, roles and loops give a step.
    fixed: minijinja::Value,
    /// Handlers (positions among the handlers) notified by the steps that changed
    /// something.
    notified: BTreeSet<usize>,
    counts: Counts,
    /// A step failed (not ignored).
    failed: bool,
    /// Ctrl-C stopped a step.
    interrupted: bool,
    /// Facts read ahead for this machine's steps.
    window: Window<Rendered>,
    /// The window reads past commands: a command step may pipeline the steps after it.
    window_speculates: bool,
    /// Where the machine's time went so far.
    timings: HostTimings,
    /// The items of the loop under way.
    looping: LoopRun,
    /// The `try:` groups the run is inside, and what failed in them.
    groups: Groups,
}

/// What the items of one loop add up to, until its last item: its `register` value, and
/// whether one failed — the machine stops only after the loop's remaining items were
/// tried.
#[derive(Default)]
struct LoopRun {
    results: Vec<Json>,
    failed: bool,
}

impl HostRun<'_, '_> {
    /// Run `expanded` (the steps of `original`, loops expanded) in order. After a step
    /// registers a value the loops after it are expanded again, since their items may
    /// read it.
    fn run_list(&mut self, original: &[&Step], mut expanded: Vec<Step>, handler: bool) {
        let mut pos = 0;
        while pos < expanded.len() {
            let refs: Vec<&Step> = expanded.iter().collect();
            let mut again = None;
            while pos < refs.len() {
                if handler && self.failed && self.shared.config.on_failure != OnFailure::Nothing {
                    return;
                }
                if handler {
                    self.window.discard();
                }
                let registered = self.step_in(&refs, pos, refs[pos], handler);
                pos += 1;
                if registered {
                    again = Some(pos);
                    break;
                }
            }
            let Some(done) = again else {
                break;
            };
            // The steps after the one that registered: the rest of its include's items
            // stay as they were expanded, the steps after them are expanded anew.
            let last = &expanded[done - 1];
            let group = last.scope.outer_loop.as_ref().map(|(g, _)| *g);
            let in_group =
                |s: &Step| group.is_some() && s.scope.outer_loop.as_ref().map(|(g, _)| *g) == group;
            let keep = done + expanded[done..].iter().take_while(|s| in_group(s)).count();
            let from = original
                .iter()
                .rposition(|s| s.index == last.index)
                .map_or(original.len(), |i| i + 1);
            let from = from + original[from..].iter().take_while(|s| in_group(s)).count();
            expanded.truncate(keep);
            expanded.extend(items::expand(
                &original[from..],
                self.shared.renderer,
                &self.ctx,
                &self.fixed,
            ));
        }
    }

    /// A dry pass tells the watch what it decided for the step.
    fn tell_watch(&self, step: &Step, handler: bool, status: StepStatus, facts: Option<Facts>) {
        if let Some(watch) = self
            .shared
            .watch
            .filter(|_| self.shared.config.mode.dry_run)
        {
            watch.decided(&self.machine.name, handler, step, status, facts);
        }
    }

    /// A failure is the machine's: its run stops (unless `--keep-going`), and with
    /// `--fail-fast` every machine's.
    fn machine_failed(&mut self) {
        self.failed = true;
        if self.shared.config.on_failure == OnFailure::Everything {
            self.shared.stop_all.store(true, Ordering::SeqCst);
        }
    }

    /// How a step ended, after its groups had their say: a failure inside the `try:` of a
    /// group with a `rescue:` is rescued, unless the machine was lost (the rescue could
    /// not reach it either).
    fn status_of(&self, step: &Step, outcome: &StepOutcome) -> StepStatus {
        let status = outcome.status();
        if status == StepStatus::Failed && !unreachable(outcome) && self.groups.rescues(step) {
            return StepStatus::Rescued;
        }
        status
    }

    /// What a step's end means for the rest of the run: Ctrl-C, or a failure (not
    /// ignored) for its group or its machine.
    fn note_end(&mut self, step: &Step, outcome: &StepOutcome, own_loop: bool) {
        let mut failed_now = false;
        match outcome {
            StepOutcome::Interrupted => self.interrupted = true,
            StepOutcome::Failed { ignored: false, .. } => failed_now = true,
            _ => {}
        }
        // A failed item stops its machine once the loop's other items were tried.
        let loop_over = !own_loop || step.item.as_ref().is_some_and(|i| i.is_last());
        if own_loop {
            self.looping.failed |= failed_now;
            failed_now = loop_over && std::mem::take(&mut self.looping.failed);
            if loop_over {
                self.looping.results.clear();
            }
        }
        // A failure inside a group is the group's until the group ends (its `rescue:`
        // and `always:` still run); outside any, or with the machine lost, the machine's.
        if failed_now && (!self.groups.fail(step) || unreachable(outcome)) {
            self.machine_failed();
        }
    }

    /// Run `list[pos]`; true when it registered a value.
    fn step_in(&mut self, list: &[&Step], pos: usize, step: &Step, handler: bool) -> bool {
        if !handler && self.groups.enter(step) {
            self.machine_failed();
        }
        if !handler && self.machine.resume.skips(step) {
            let mut r = blank_result(&self.machine.name, step, false, StepStatus::Skipped);
            r.reason = Some(crate::plan::rerun::SKIPPED.into());
            self.counts.add(StepStatus::Skipped);
            self.shared.events.send(Event::Step(r));
            return false;
        }
        let started = Instant::now();
        let hold = self
            .shared
            .watch
            .and_then(|w| w.hold(&self.machine.name, handler, step));
        let env = StepEnv {
            shared: self.shared,
            machine: &self.machine.name,
            remote: &mut *self.remote,
            ctx: &self.ctx,
            fixed: &self.fixed,
            window: &mut self.window,
            failed: self.failed,
            earlier_changes: self.counts.sum(|t| t.changes) > 0,
            hold,
            skip: self.groups.skip(step),
            pipelining: self.window_speculates && !handler,
        };
        let mut ran = step::run(env, list, pos, step);
        let status = self.status_of(step, &ran.outcome);
        self.tell_watch(step, handler, status, ran.detail.facts.take());
        let own_loop = step.looping.is_some() && step.item.is_some();
        let is_item = step
            .item
            .as_ref()
            .is_some_and(|i| i.state == items::ItemState::Ready);
        if own_loop && is_item {
            self.looping.results.push(item_result(step, &ran));
        }
        let mut registered = false;
        if let Some(name) = step.registers_now() {
            let value = if own_loop {
                loop_value(std::mem::take(&mut self.looping.results))
            } else {
                register_value(&ran)
            };
            self.registered.insert(name.clone(), value);
            self.ctx = context(&self.machine.vars, &self.registered, self.shared.hostvars);
            self.window.forget_steps();
            registered = true;
        }
        if status.traits().notifies {
            self.notified.extend(step.notifies.iter().copied());
        }
        self.note_end(step, &ran.outcome, own_loop);
        self.counts.add(status);
        let timings = ran.detail.phases.timings();
        let took = started.elapsed();
        if handler {
            self.timings.handler_ms += Millis::of(took);
        } else {
            self.timings.add_step(&timings);
        }
        let mut result = step_result(&self.machine.name, step, handler, ran, status);
        result.duration_ms = ms(took);
        result.timings = Some(timings);
        self.shared.events.send(Event::Step(result));
        registered
    }
}

/// Whether this machine's steps may be pipelined ([`super::pipeline`]): only where what
/// decides whether a step runs is known before the chain is sent. Not in a plan, nor
/// under a saved plan's watch (it holds changes), nor with `--fail-fast` (a failure
/// elsewhere must stop the machine before its next step), `--rerun-failed` resuming
/// mid-way, or `try:` groups (whether a `rescue:` runs is known only after the `try:`).
fn pipelines(shared: &Shared<'_>, machine: &MachinePlan<'_>) -> bool {
    let config = shared.config;
    config.pipeline
        && !config.mode.dry_run
        && shared.watch.is_none()
        && config.on_failure != OnFailure::Everything
        && machine.resume.from == 0
        && machine.steps.iter().all(|s| s.scope.groups.is_empty())
}

/// The step failed because its machine could not be reached.
fn unreachable(outcome: &StepOutcome) -> bool {
    matches!(outcome, StepOutcome::Failed { failure, .. } if failure.kind == FailureKind::Unreachable)
}

/// The template context: the machine's variables, what earlier steps registered, and
/// `hostvars`.
fn context(vars: &TemplateVars, registered: &TemplateVars, hostvars: &Json) -> minijinja::Value {
    let mut m = vars.clone();
    for (k, v) in registered {
        m.insert(k.clone(), v.clone());
    }
    m.insert("hostvars".into(), hostvars.clone());
    minijinja::Value::from_serialize(&m)
}

/// What `register:` keeps of a step, as later templates see it: its final status (after
/// `changed_when`/`failed_when`), output, changes and failure.
fn register_value(ran: &Ran) -> Json {
    let failure = match &ran.outcome {
        StepOutcome::Failed { failure, .. } => Some(failure),
        _ => None,
    };
    super::verdict::result_value(
        ran.outcome.status(),
        ran.outcome.output(),
        &ran.detail.changes,
        failure,
    )
}

/// One item's entry in its loop's registered `results`.
fn item_result(step: &Step, ran: &Ran) -> Json {
    let mut v = register_value(ran);
    if let (Json::Object(m), Some(item)) = (&mut v, &step.item) {
        m.insert("item".into(), item.value());
    }
    v
}

/// What `register:` keeps of a looping step: every item's result, and whether any
/// changed or failed (skipped: every item was).
fn loop_value(results: Vec<Json>) -> Json {
    let any = |k: &str| results.iter().any(|r| r[k] == Json::Bool(true));
    let all_skipped = results.iter().all(|r| r["skipped"] == Json::Bool(true));
    json!({
        "changed": any("changed"),
        "failed": any("failed"),
        "skipped": all_skipped,
        "results": results,
    })
}

/// A step's report line, with `status` (how it ended, after its groups had their say).
fn step_result(
    machine: &str,
    step: &Step,
    handler: bool,
    ran: Ran,
    status: StepStatus,
) -> StepResult {
    let mut r = blank_result(machine, step, handler, status);
    r.changes = ran.detail.changes;
    r.diff = ran.detail.diff;
    r.calls = ran.detail.calls;
    r.attempts = ran.detail.attempts;
    match ran.outcome {
        StepOutcome::Interrupted => r.reason = Some("interrupted".into()),
        StepOutcome::Skipped(why) | StepOutcome::Unknown(why) => r.reason = Some(why),
        StepOutcome::Failed { failure: f, .. } => {
            r.failure = Some(FailureInfo {
                message: f.message,
                command: f.command,
                exit_code: f.status,
                stdout_tail: f.stdout_tail,
                stderr_tail: f.stderr_tail,
            })
        }
        StepOutcome::Ok(_)
        | StepOutcome::WillChange
        | StepOutcome::WillRun
        | StepOutcome::Changed(_)
        | StepOutcome::Ran(_) => {}
    }
    r
}

/// The users a machine's steps will probably run as (from the steps as written, without
/// rendering, see [`Step::likely_user`]).
pub(super) fn likely_users(steps: &[&Step]) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    for s in steps {
        let Some(u) = s.likely_user() else {
            continue;
        };
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

/// A step result with nothing recorded yet.
fn blank_result(machine: &str, step: &Step, handler: bool, status: StepStatus) -> StepResult {
    let mut r = StepResult::new(machine, step.index, &step.name, step.kind(), status);
    r.handler = handler;
    r.item = step.item.as_ref().and_then(|i| {
        let label = i.labels.join("] [");
        (!i.labels.is_empty()).then(|| {
            Box::new(ItemInfo {
                label,
                index: i.pos.map(|p| p.0),
                count: i.pos.map(|p| p.1),
            })
        })
    });
    r.origin = Some(Box::new(origin(step)));
    r
}

/// Where a step was written, for the reports.
fn origin(step: &Step) -> StepOrigin {
    let src = &step.source;
    StepOrigin {
        file: src.file.display().to_string(),
        line: src.line,
        column: src.column,
        role: src.role.clone(),
        include_chain: src
            .chain
            .iter()
            .map(|l| format!("{} {}", l.at, l.what))
            .collect(),
    }
}

/// Results for a machine whose steps cannot run: every step `unknown` (plan, machine not
/// there yet) or failed (unreachable).
pub fn not_run(
    events: &Sender,
    machine: &str,
    steps: &[&Step],
    status: StepStatus,
    reason: &str,
) -> Counts {
    let mut counts = Counts::default();
    for step in steps {
        let mut r = blank_result(machine, step, false, status);
        if status == StepStatus::Failed {
            r.failure = Some(FailureInfo {
                message: reason.to_string(),
                ..FailureInfo::default()
            });
        } else {
            r.reason = Some(reason.to_string());
        }
        counts.add(status);
        events.send(Event::Step(r));
    }
    counts
}
