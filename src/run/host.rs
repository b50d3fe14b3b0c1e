//! One machine's run: its steps in order, then the handlers it notified.
//!
//! Facts are read ahead in windows: from the current step up to the first command step,
//! the first step that registers a variable, or a change of user, every probe goes in one
//! round trip. A change (or a command) invalidates what was read ahead, so the next step
//! starts a new window; a no-change re-apply therefore costs one round trip per window.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::facts::{gather as facts, Facts};
use crate::ops::{self, Ctx, Decision, Failure, Rendered};
use crate::remote::Remote;
use crate::report::{
    ms, Counts, Event, FailureInfo, HostResult, HostStatus, Sender, StepResult, StepStatus,
};
use crate::steps::Step;
use crate::template::Renderer;

mod window;

/// What the whole run shares with each machine's run.
pub struct Shared<'a> {
    /// Renders templates and expressions.
    pub renderer: &'a Renderer,
    /// The reporter.
    pub events: Sender,
    /// Plan: decide and describe, change nothing.
    pub dry_run: bool,
    /// Show diffs.
    pub diff: bool,
    /// Collect the orbctl calls per step.
    pub show_calls: bool,
    /// A failed step does not stop its machine.
    pub keep_going: bool,
    /// The first failure stops every machine.
    pub fail_fast: bool,
    /// Set when a failure happened and `fail_fast` is on.
    pub stop_all: &'a AtomicBool,
    /// Every machine's variables, for `hostvars`.
    pub hostvars: Json,
}

/// One machine's work.
pub struct HostJob<'a> {
    /// The machine.
    pub machine: String,
    /// Its variables (name → value).
    pub vars: serde_json::Map<String, Json>,
    /// The steps that apply to it, in order.
    pub steps: Vec<&'a Step>,
    /// Every handler.
    pub handlers: &'a [Step],
}

/// Run one machine's steps and handlers; returns its result.
pub fn run(shared: &Shared<'_>, job: HostJob<'_>, remote: &mut dyn Remote) -> HostResult {
    let started = Instant::now();
    shared.events.send(Event::HostStarted {
        machine: job.machine.clone(),
        steps: job.steps.len(),
    });
    let mut h = HostRun {
        shared,
        job: &job,
        remote,
        registered: serde_json::Map::new(),
        ctx: HostRun::build_ctx(&job, &serde_json::Map::new(), &shared.hostvars),
        notified: BTreeSet::new(),
        counts: Counts::default(),
        failed: false,
        interrupted: false,
        ahead: HashMap::new(),
        scans: window::Scans::default(),
    };
    let users = likely_users(&job.steps);
    h.remote.expect_users(&users);
    for (pos, step) in job.steps.iter().enumerate() {
        h.step_in(&job.steps, pos, step, false);
    }
    let handlers: Vec<&Step> = job
        .handlers
        .iter()
        .filter(|s| h.notified.contains(&s.name))
        .collect();
    // Handler indices are positions among the handlers, not among the steps.
    h.scans.forget_steps();
    for (pos, step) in handlers.iter().enumerate() {
        if h.failed && !shared.keep_going {
            break;
        }
        h.ahead.clear();
        h.step_in(&handlers, pos, step, true);
    }
    h.remote.close();
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
        machine: job.machine.clone(),
        status,
        counts: h.counts,
        duration_ms: ms(started.elapsed()),
        error: None,
    }
}

struct HostRun<'a, 'b> {
    shared: &'a Shared<'a>,
    job: &'a HostJob<'b>,
    remote: &'a mut dyn Remote,
    registered: serde_json::Map<String, Json>,
    ctx: minijinja::Value,
    notified: BTreeSet<String>,
    counts: Counts,
    failed: bool,
    interrupted: bool,
    /// Steps of the current window, rendered, with the facts read ahead for them.
    ahead: HashMap<usize, (Rendered, Facts)>,
    /// What later steps will ask a scan, and what scans found (see `window`).
    scans: window::Scans,
}

fn register_value(status: StepStatus, out: Option<&crate::remote::ExecOutput>) -> Json {
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

impl HostRun<'_, '_> {
    /// The template context: the machine's variables, what earlier steps registered, and
    /// `hostvars`. Built again only when a step registers something.
    fn build_ctx(
        job: &HostJob<'_>,
        registered: &serde_json::Map<String, Json>,
        hostvars: &Json,
    ) -> minijinja::Value {
        let mut m = job.vars.clone();
        for (k, v) in registered {
            m.insert(k.clone(), v.clone());
        }
        m.insert("hostvars".into(), hostvars.clone());
        minijinja::Value::from_serialize(&m)
    }

    fn step_in(&mut self, list: &[&Step], pos: usize, step: &Step, handler: bool) {
        let started = Instant::now();
        let mut result = blank_result(&self.job.machine, step, handler, StepStatus::Ok);
        let output = self.decide_and_apply(list, pos, step, &mut result);
        result.duration_ms = ms(started.elapsed());
        if let Some(name) = &step.spec.register {
            self.registered
                .insert(name.clone(), register_value(result.status, output.as_ref()));
            self.ctx = Self::build_ctx(self.job, &self.registered, &self.shared.hostvars);
            self.scans.forget_steps();
        }
        if matches!(
            result.status,
            StepStatus::Changed | StepStatus::WillChange | StepStatus::WillRun
        ) {
            for n in &step.spec.notify.0 {
                self.notified.insert(n.clone());
            }
        }
        if result.status == StepStatus::Failed {
            self.failed = true;
            if self.shared.fail_fast {
                self.shared.stop_all.store(true, Ordering::SeqCst);
            }
        }
        self.counts.add(result.status);
        self.shared.events.send(Event::Step(result));
    }

    fn skip(result: &mut StepResult, reason: impl Into<String>) {
        result.status = StepStatus::Skipped;
        result.reason = Some(reason.into());
    }

    fn fail(result: &mut StepResult, f: Failure) {
        result.status = StepStatus::Failed;
        result.failure = Some(FailureInfo {
            message: f.message,
            command: f.command,
            exit_code: f.status,
            stdout_tail: f.stdout_tail,
            stderr_tail: f.stderr_tail,
        });
    }

    /// Render a step for this machine; `Ok(None)` when `when` is false.
    fn render(&self, step: &Step) -> Result<Option<Rendered>, Failure> {
        let ctx = &self.ctx;
        if let Some(w) = &step.spec.when {
            let yes = self
                .shared
                .renderer
                .truthy(&w.value, ctx)
                .map_err(|e| Failure::msg(format!("when: {e}")))?;
            if !yes {
                return Ok(None);
            }
        }
        ops::render(step, self.shared.renderer, ctx)
            .map(Some)
            .map_err(Failure::msg)
    }

    fn decide_and_apply(
        &mut self,
        list: &[&Step],
        pos: usize,
        step: &Step,
        result: &mut StepResult,
    ) -> Option<crate::remote::ExecOutput> {
        if crate::interrupt::requested() {
            self.interrupted = true;
            Self::skip(result, "interrupted");
            return None;
        }
        if self.shared.stop_all.load(Ordering::SeqCst) {
            Self::skip(result, "stopped: a step failed elsewhere (--fail-fast)");
            return None;
        }
        if self.failed && !self.shared.keep_going {
            Self::skip(result, "an earlier step failed on this machine");
            return None;
        }
        self.shared.events.send(Event::StepStarted {
            machine: self.job.machine.clone(),
            name: step.name.clone(),
        });
        // Facts (and the rendered step) from the window when they were read ahead.
        let (rendered, facts) = match self.ahead.remove(&step.index) {
            Some(pair) => pair,
            None => {
                let rendered = match self.render(step) {
                    Ok(Some(r)) => r,
                    Ok(None) => {
                        Self::skip(
                            result,
                            format!(
                                "when: {} is false",
                                step.spec
                                    .when
                                    .as_ref()
                                    .map(|w| w.value.as_str())
                                    .unwrap_or("")
                            ),
                        );
                        return None;
                    }
                    Err(f) => {
                        Self::fail(result, f);
                        return None;
                    }
                };
                if rendered.op.probe().is_some() {
                    if let Err(f) = self.read_ahead(list, pos, rendered.clone()) {
                        Self::fail(result, f);
                        return None;
                    }
                    match self.ahead.remove(&step.index) {
                        Some(pair) => pair,
                        None => {
                            Self::fail(
                                result,
                                Failure::msg("internal: facts missing after reading ahead"),
                            );
                            return None;
                        }
                    }
                } else {
                    (rendered, Facts::default())
                }
            }
        };
        let mut ctx = Ctx {
            remote: &mut *self.remote,
            user: rendered.run_as.clone(),
            timeout: rendered.timeout,
        };
        if self.shared.show_calls {
            let probe = rendered.op.probe();
            let req = match &rendered.op {
                ops::Op::Shell(sh) => sh.exec(&ctx),
                _ => ctx.exec(probe.unwrap_or_default()),
            };
            result.calls = ctx.remote.describe(&req);
        }
        let decision = match rendered.op.decide(&facts) {
            Ok(d) => d,
            // In a plan the machine has not received the earlier changes yet (a service
            // whose script a previous step would install): that is not a failure.
            Err(f) if self.shared.dry_run && self.counts.will_change + self.counts.will_run > 0 => {
                result.status = StepStatus::Unknown;
                result.reason = Some(format!("depends on earlier changes: {}", f.message));
                return None;
            }
            Err(f) => {
                Self::fail(result, f);
                return None;
            }
        };
        match &decision {
            Decision::Unchanged => return None,
            Decision::Skip(why) => {
                Self::skip(result, why.clone());
                return None;
            }
            Decision::Change(what) => result.changes = what.clone(),
            Decision::Run => {}
        }
        if self.shared.diff {
            if let Decision::Change(_) = decision {
                result.diff = rendered.op.diff(&mut ctx, &facts);
            }
        }
        if self.shared.dry_run {
            result.status = match decision {
                Decision::Run => StepStatus::WillRun,
                _ => StepStatus::WillChange,
            };
            return None;
        }
        // From here the machine changes: what was read ahead is stale.
        self.ahead.clear();
        let retries = step.spec.retries.unwrap_or(0);
        let delay = Duration::from_secs(step.spec.delay.map(|d| d.0).unwrap_or(1));
        let mut facts = facts;
        loop {
            result.attempts += 1;
            let mut ctx = Ctx {
                remote: &mut *self.remote,
                user: rendered.run_as.clone(),
                timeout: rendered.timeout,
            };
            match rendered.op.apply(&mut ctx, &facts) {
                Ok(applied) => {
                    result.status = StepStatus::Changed;
                    return applied.output;
                }
                Err(_) if result.attempts <= retries && !crate::interrupt::requested() => {
                    sleep_interruptibly(delay);
                    // A half-done change is read again before the next attempt.
                    if let Some(probe) = rendered.op.probe() {
                        match facts::gather(
                            &mut *self.remote,
                            rendered.run_as.as_deref(),
                            &[(0, probe)],
                            "",
                            rendered.op.probe_has_user_code(),
                        ) {
                            Ok(mut got) => facts = got.remove(&0).unwrap_or_default(),
                            Err(_) => continue,
                        }
                        if let Ok(Decision::Unchanged) = rendered.op.decide(&facts) {
                            result.status = StepStatus::Changed;
                            return None;
                        }
                    }
                }
                Err(f) => {
                    let output = f.output.clone().map(|b| *b);
                    let ignore = step.spec.ignore_errors == Some(true)
                        && f.kind != ops::FailureKind::Unreachable;
                    Self::fail(result, f);
                    if ignore {
                        result.status = StepStatus::Ignored;
                    }
                    return output;
                }
            }
        }
    }
}

/// The users a machine's steps will probably run as (from the steps as written, without
/// rendering): root for `become` and for packages/user/service, a literal `user:`, else the
/// default user.
fn likely_users(steps: &[&Step]) -> Vec<Option<String>> {
    use crate::load::operations::UserField;
    use crate::steps::Kind;
    let mut out: Vec<Option<String>> = Vec::new();
    for s in steps {
        let u = if s.spec.become_root == Some(true)
            || matches!(s.kind, Kind::Packages | Kind::User | Kind::Service)
        {
            Some("root".to_string())
        } else {
            match &s.spec.user {
                Some(UserField::RunAs(u)) if !u.contains("{{") => Some(u.clone()),
                Some(UserField::RunAs(_)) => continue,
                _ => None,
            }
        };
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

fn sleep_interruptibly(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !crate::interrupt::requested() {
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
}

/// A step result with nothing recorded yet.
fn blank_result(machine: &str, step: &Step, handler: bool, status: StepStatus) -> StepResult {
    StepResult {
        machine: machine.to_string(),
        index: step.index,
        name: step.name.clone(),
        kind: step.kind.as_str().to_string(),
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

/// Variables as a JSON map (values only).
pub fn vars_json(
    vars: &BTreeMap<String, crate::inventory::VarValue>,
) -> serde_json::Map<String, Json> {
    vars.iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect()
}
