//! One machine's run: its steps in order, then the handlers it notified, once, at its
//! end. Each step goes through [`super::step`]; this file keeps what lasts from one step
//! to the next (registered values, notified handlers, counts, the read-ahead window, the
//! machine's timings) and turns each step's outcome into its report line.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{json, Value as Json};

use crate::facts::Window;
use crate::ops::Rendered;
use crate::plan::{MachinePlan, TemplateVars};
use crate::remote::{ExecOutput, Remote};
use crate::report::{
    ms, Counts, Event, FailureInfo, HostResult, HostStatus, HostTimings, Millis, Sender,
    StepResult, StepStatus,
};
use crate::steps::Step;

use super::config::OnFailure;
use super::step::{self, Ran, Shared, StepEnv, StepOutcome};

/// Run one machine's steps and handlers over `remote`; returns its result.
pub fn run(shared: &Shared<'_>, machine: &MachinePlan<'_>, remote: &mut dyn Remote) -> HostResult {
    let started = Instant::now();
    let wire = remote.meter();
    shared.events.send(Event::HostStarted {
        machine: machine.name.clone(),
        steps: machine.steps.len(),
    });
    let mut h = HostRun {
        shared,
        machine,
        remote,
        registered: TemplateVars::new(),
        ctx: context(&machine.vars, &TemplateVars::new(), shared.hostvars),
        notified: BTreeSet::new(),
        counts: Counts::default(),
        failed: false,
        interrupted: false,
        window: Window::default(),
        timings: HostTimings::default(),
    };
    let opening = Instant::now();
    h.remote.expect_users(&likely_users(&machine.steps));
    h.timings.session_ms += Millis::of(opening.elapsed());
    for (pos, step) in machine.steps.iter().enumerate() {
        h.step_in(&machine.steps, pos, step, false);
    }
    let handlers: Vec<&Step> = machine
        .handlers
        .iter()
        .copied()
        .filter(|s| h.notified.contains(&s.name))
        .collect();
    // Handler indices are positions among the handlers, not among the steps.
    h.window.forget_steps();
    for (pos, step) in handlers.iter().enumerate() {
        if h.failed && shared.config.on_failure != OnFailure::Nothing {
            break;
        }
        h.window.discard();
        h.step_in(&handlers, pos, step, true);
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
    } else if h.counts.failed > 0 {
        HostStatus::Failed
    } else if h.counts.changed + h.counts.will_change + h.counts.will_run > 0 {
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
    /// Handlers notified by the steps that changed something.
    notified: BTreeSet<String>,
    counts: Counts,
    /// A step failed (not ignored).
    failed: bool,
    /// Ctrl-C stopped a step.
    interrupted: bool,
    /// Facts read ahead for this machine's steps.
    window: Window<Rendered>,
    /// Where the machine's time went so far.
    timings: HostTimings,
}

impl HostRun<'_, '_> {
    fn step_in(&mut self, list: &[&Step], pos: usize, step: &Step, handler: bool) {
        let started = Instant::now();
        let env = StepEnv {
            shared: self.shared,
            machine: &self.machine.name,
            remote: &mut *self.remote,
            ctx: &self.ctx,
            window: &mut self.window,
            failed: self.failed,
            earlier_changes: self.counts.will_change + self.counts.will_run > 0,
        };
        let ran = step::run(env, list, pos, step);
        let status = ran.outcome.status();
        if let Some(name) = &step.spec.register {
            self.registered
                .insert(name.clone(), register_value(status, ran.outcome.output()));
            self.ctx = context(&self.machine.vars, &self.registered, self.shared.hostvars);
            self.window.forget_steps();
        }
        if matches!(
            status,
            StepStatus::Changed | StepStatus::WillChange | StepStatus::WillRun
        ) {
            self.notified.extend(step.spec.notify.0.iter().cloned());
        }
        match ran.outcome {
            StepOutcome::Interrupted => self.interrupted = true,
            StepOutcome::Failed { ignored: false, .. } => {
                self.failed = true;
                if self.shared.config.on_failure == OnFailure::Everything {
                    self.shared.stop_all.store(true, Ordering::SeqCst);
                }
            }
            _ => {}
        }
        self.counts.add(status);
        let timings = ran.detail.phases.timings();
        let took = started.elapsed();
        if handler {
            self.timings.handler_ms += Millis::of(took);
        } else {
            self.timings.add_step(&timings);
        }
        let mut result = step_result(&self.machine.name, step, handler, ran);
        result.duration_ms = ms(took);
        result.timings = Some(timings);
        self.shared.events.send(Event::Step(result));
    }
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

/// What `register:` keeps of a step, as later templates see it.
fn register_value(status: StepStatus, out: Option<&ExecOutput>) -> Json {
    let stdout = out.map(|o| o.stdout_text()).unwrap_or_default();
    let stderr = out.map(|o| o.stderr_text()).unwrap_or_default();
    let lines: Vec<&str> = stdout.lines().collect();
    json!({
        "stdout": stdout.trim_end_matches('\n'),
        "stderr": stderr.trim_end_matches('\n'),
        "stdout_lines": lines,
        "rc": out.map(|o| o.status).unwrap_or(0),
        "changed": matches!(status, StepStatus::Changed),
        "failed": matches!(status, StepStatus::Failed | StepStatus::Ignored),
        "skipped": matches!(status, StepStatus::Skipped | StepStatus::WillRun | StepStatus::WillChange | StepStatus::Unknown),
    })
}

/// A step's report line.
fn step_result(machine: &str, step: &Step, handler: bool, ran: Ran) -> StepResult {
    let mut r = blank_result(machine, step, handler, ran.outcome.status());
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
        StepOutcome::Ok
        | StepOutcome::WillChange
        | StepOutcome::WillRun
        | StepOutcome::Changed(_) => {}
    }
    r
}

/// The users a machine's steps will probably run as (from the steps as written, without
/// rendering, see [`Step::likely_user`]).
fn likely_users(steps: &[&Step]) -> Vec<Option<String>> {
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
    StepResult {
        machine: machine.to_string(),
        index: step.index,
        name: step.name.clone(),
        kind: step.kind().as_str().to_string(),
        handler,
        status,
        changes: Vec::new(),
        reason: None,
        diff: None,
        duration_ms: 0,
        start_ms: 0, // stamped by report::Sender::send
        attempts: 0,
        failure: None,
        calls: Vec::new(),
        timings: None,
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
