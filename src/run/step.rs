//! One step on one machine, in four stages: the **gate** (Ctrl-C, `--fail-fast`, an
//! earlier failure), the **facts** (from the read-ahead window, or read now), the
//! **decision** (unchanged, change, run, skip) and the **change** itself, with retries.
//! Each stage either hands the next what it needs or ends the step with a [`StepOutcome`].
//! Where the time of each stage goes is counted on the way ([`super::timing`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::facts::gather::{gather, ReadError};
use crate::facts::window::Ahead;
use crate::facts::{scan, Facts, Probed, Window};
use crate::ops::{Ctx, Decision, Failure, FailureKind, Rendered};
use crate::remote::{ExecOutput, Remote};
use crate::report::{Event, Sender, StepStatus};
use crate::steps::items::{self, ItemState};
use crate::steps::Step;
use crate::template::Renderer;

use super::config::{Config, OnFailure};
use super::timing::{Phases, Span};
use super::verdict::{Judge, Natural};

/// What the whole run shares with each machine's run and each step.
pub struct Shared<'a> {
    /// Renders templates and expressions.
    pub renderer: &'a Renderer,
    /// The reporter.
    pub events: Sender,
    /// The run's configuration (plan or apply, diffs, what a failure stops).
    pub config: &'a Config,
    /// Set when a step failed and `--fail-fast` is on: every machine stops.
    pub stop_all: &'a AtomicBool,
    /// Every machine's variables, for `hostvars`.
    pub hostvars: &'a Json,
    /// A feature beside the runner that sees every step (the saved plan), if any.
    pub watch: Option<&'a dyn super::watch::StepWatch>,
}

/// How one step ended.
#[derive(Debug)]
pub enum StepOutcome {
    /// Not run: Ctrl-C arrived.
    Interrupted,
    /// Not run, and why: `--fail-fast`, an earlier failure, `when:`, `creates:`/`unless:`.
    Skipped(String),
    /// Already as declared (or a command `changed_when` says changed nothing, with its
    /// output).
    Ok(Option<ExecOutput>),
    /// Plan: cannot be known, and why (it depends on a change an earlier step would make).
    Unknown(String),
    /// Plan: would change.
    WillChange,
    /// Plan: a command that would run.
    WillRun,
    /// Changed the machine, with the command's output when it has one.
    Changed(Option<ExecOutput>),
    /// A command ran, with its output.
    Ran(Option<ExecOutput>),
    /// Failed; `ignored` when `ignore_errors` lets the machine go on.
    Failed {
        /// Why.
        failure: Failure,
        /// `ignore_errors: true`, and the machine is still there.
        ignored: bool,
    },
}

impl StepOutcome {
    /// The status a report shows.
    pub fn status(&self) -> StepStatus {
        match self {
            StepOutcome::Interrupted | StepOutcome::Skipped(_) => StepStatus::Skipped,
            StepOutcome::Ok(_) => StepStatus::Ok,
            StepOutcome::Unknown(_) => StepStatus::Unknown,
            StepOutcome::WillChange => StepStatus::WillChange,
            StepOutcome::WillRun => StepStatus::WillRun,
            StepOutcome::Changed(_) => StepStatus::Changed,
            StepOutcome::Ran(_) => StepStatus::Ran,
            StepOutcome::Failed { ignored: false, .. } => StepStatus::Failed,
            StepOutcome::Failed { ignored: true, .. } => StepStatus::Ignored,
        }
    }

    /// The output of the command the step ran, for `register`.
    pub fn output(&self) -> Option<&ExecOutput> {
        match self {
            StepOutcome::Ok(out) | StepOutcome::Changed(out) | StepOutcome::Ran(out) => {
                out.as_ref()
            }
            StepOutcome::Failed { failure, .. } => failure.output.as_deref(),
            _ => None,
        }
    }
}

/// What a report shows of a step besides how it ended.
#[derive(Debug, Default)]
pub struct Detail {
    /// What changed or would change, in words.
    pub changes: Vec<String>,
    /// The unified diff of the change (`--diff`).
    pub diff: Option<String>,
    /// The orbctl calls apply would make (`plan --show-calls`).
    pub calls: Vec<String>,
    /// How many times the change was tried (0: it was not).
    pub attempts: u32,
    /// Where the step's time went.
    pub phases: Phases,
    /// A plan whose watch wants them: the facts the decision was made on.
    pub facts: Option<Facts>,
}

/// A step's outcome and what the report shows of it.
#[derive(Debug)]
pub struct Ran {
    /// How it ended.
    pub outcome: StepOutcome,
    /// What else the report shows.
    pub detail: Detail,
}

impl From<StepOutcome> for Ran {
    fn from(outcome: StepOutcome) -> Ran {
        Ran {
            outcome,
            detail: Detail::default(),
        }
    }
}

/// What a step needs from its machine's run.
pub struct StepEnv<'s> {
    /// What the whole run shares.
    pub shared: &'s Shared<'s>,
    /// The machine.
    pub machine: &'s str,
    /// The connection to it.
    pub remote: &'s mut dyn Remote,
    /// The template context: the machine's variables, registered values, `hostvars`.
    pub ctx: &'s minijinja::Value,
    /// What no include, role or loop overrides: built-ins and `--var`.
    pub fixed: &'s minijinja::Value,
    /// The facts read ahead for the machine's steps.
    pub window: &'s mut Window<Rendered>,
    /// An earlier step of this machine failed.
    pub failed: bool,
    /// Plan: an earlier step of this machine would change it or run a command, so the
    /// machine as it is now may not be what this step would meet.
    pub earlier_changes: bool,
    /// Why the step must not change its machine (the watch said so), if it must not.
    pub hold: Option<&'static str>,
    /// Why the step does not run at all, from its `try:` groups (a failure before it in
    /// its list, a `rescue:` whose `try:` did not fail), if it does not.
    pub skip: Option<String>,
    /// A command step may start a chain of the steps after it ([`super::pipeline`]).
    pub pipelining: bool,
}

/// Run `list[pos]` (which is `step`): `list` is the machine's steps, or the handlers it
/// notified, so the window can read ahead of it.
pub fn run(mut env: StepEnv<'_>, list: &[&Step], pos: usize, step: &Step) -> Ran {
    if let Some(outcome) = gate(&env) {
        return outcome.into();
    }
    env.shared.events.send(Event::StepStarted {
        machine: env.machine.to_string(),
        name: step.name.clone(),
    });
    let mut phases = Phases::default();
    let mut ran = facts_decide_change(&mut env, list, pos, step, &mut phases);
    // What was read ahead for steps whose facts were then dropped (by this step's change,
    // or by a read that replaced them) is this step's cost.
    phases.read(&env.window.take_orphaned());
    ran.detail.phases = phases;
    ran
}

/// The stages after the gate, each one's time counted in `phases`.
fn facts_decide_change(
    env: &mut StepEnv<'_>,
    list: &[&Step],
    pos: usize,
    step: &Step,
    phases: &mut Phases,
) -> Ran {
    let (rendered, facts) = match facts(env, list, pos, step, phases) {
        Ok(Ok(pair)) => pair,
        Ok(Err(why)) => return StepOutcome::Skipped(why).into(),
        Err(failure) => return failed(failure).into(),
    };
    let ((would, mut detail), (took, spent)) = timed(env, |env| decide(env, &rendered, &facts));
    phases.local(took, spent);
    let dry_run = env.shared.config.mode.dry_run;
    if dry_run && env.shared.watch.is_some_and(|w| w.wants_facts()) {
        detail.facts = Some(facts.clone());
    }
    // A plan ends with what would happen, as does a step with nothing to do (once
    // `changed_when`/`failed_when` have judged it: a plan does not evaluate them).
    let acts = matches!(would, StepOutcome::WillRun | StepOutcome::WillChange);
    if dry_run || !acts {
        let outcome = if dry_run {
            would
        } else {
            judge_unchanged(env, step, would, &detail.changes)
        };
        return Ran { outcome, detail };
    }
    // A watch may hold the change (`apply --plan` changes only what the plan changes).
    if let Some(why) = env.hold {
        return Ran {
            outcome: StepOutcome::Skipped(why.into()),
            detail,
        };
    }
    let mut reread = Duration::ZERO;
    let changes = detail.changes.clone();
    let runs = matches!(would, StepOutcome::WillRun);
    let mut chained = env.window.take_chained(pos);
    if !chained {
        // A command, or a change whose requests can be known ahead, may start a chain.
        let first = if runs && rendered.op.is_command() {
            Some(vec![command_request(env, &rendered)])
        } else if !runs {
            super::pipeline::change_requests(env, &rendered, &facts)
        } else {
            None
        };
        if let Some(first) = first {
            chained = super::pipeline::start(env, list, pos, first);
        }
    }
    let ((outcome, attempts), (took, spent)) = timed(env, |env| {
        let how = How {
            step,
            rendered: &rendered,
            runs,
            changes: &changes,
            chained,
        };
        change(env, &how, facts, &mut reread)
    });
    phases.change(took, spent, reread);
    detail.attempts = attempts;
    Ran { outcome, detail }
}

/// `work`'s result, with its wall time and what the transport spent in it.
fn timed<'e, T>(
    env: &mut StepEnv<'e>,
    work: impl FnOnce(&mut StepEnv<'e>) -> T,
) -> (T, (Duration, crate::remote::Meter)) {
    let span = Span::start(&*env.remote);
    let out = work(env);
    (out, span.end(&*env.remote))
}

/// What the step would do, decided from its facts alone, and what the report shows of
/// it (what would change, the diff, the orbctl calls).
fn decide(env: &mut StepEnv<'_>, rendered: &Rendered, facts: &Facts) -> (StepOutcome, Detail) {
    let config = env.shared.config;
    let mut detail = Detail::default();
    if config.mode.show_calls {
        detail.calls = calls(rendered, &mut *env.remote);
    }
    let would = match rendered.op.decide(facts) {
        Ok(Decision::Unchanged) => StepOutcome::Ok(None),
        Ok(Decision::Skip(why)) => StepOutcome::Skipped(why),
        Ok(Decision::Run) => StepOutcome::WillRun,
        Ok(Decision::Change(what)) => {
            if config.diff {
                let mut ctx = step_ctx(&mut *env.remote, rendered);
                detail.diff = rendered.op.diff(&mut ctx, facts);
            }
            detail.changes = what;
            StepOutcome::WillChange
        }
        // In a plan the machine has not received the earlier changes yet (a service
        // whose script a previous step would install): that is not a failure.
        Err(f) if config.mode.dry_run && env.earlier_changes => {
            StepOutcome::Unknown(format!("depends on earlier changes: {}", f.message))
        }
        Err(f) => failed(f),
    };
    (would, detail)
}

/// Whether the step may start: not after Ctrl-C, not after a failure elsewhere under
/// `--fail-fast`, not after a failure on this machine unless `--keep-going`, not when
/// its `try:` groups say so.
fn gate(env: &StepEnv<'_>) -> Option<StepOutcome> {
    // A chain sent ahead may already be running this step on the machine: it goes on to
    // read its reply, which the ended session answers as it would a request sent alone
    // (the transport sends nothing new after Ctrl-C).
    if crate::interrupt::requested() && !env.remote.chain_pending() {
        return Some(StepOutcome::Interrupted);
    }
    if env.shared.stop_all.load(Ordering::SeqCst) {
        return Some(StepOutcome::Skipped(
            "stopped: a step failed elsewhere (--fail-fast)".into(),
        ));
    }
    if env.failed && env.shared.config.on_failure != OnFailure::Nothing {
        return Some(StepOutcome::Skipped(
            "an earlier step failed on this machine".into(),
        ));
    }
    env.skip.clone().map(StepOutcome::Skipped)
}

/// The step rendered for this machine and its facts: from the window when an earlier
/// step read them ahead, else read now (with those of the steps after it). `Err(why)`
/// inside when it is skipped (a false `when:`, a loop with no item). What rendering and
/// reading cost the step goes in `phases`.
fn facts(
    env: &mut StepEnv<'_>,
    list: &[&Step],
    pos: usize,
    step: &Step,
    phases: &mut Phases,
) -> Result<Result<(Rendered, Facts), String>, Failure> {
    if let Some(pair) = env.window.take_checked(&mut *env.remote, pos) {
        phases.read(&env.window.take_cost(pos));
        return Ok(Ok(pair));
    }
    let renderer = env.shared.renderer;
    let rendering = Instant::now();
    let rendered = render(step, renderer, env.ctx, env.fixed);
    phases.render += rendering.elapsed();
    let rendered = match rendered? {
        Ok(r) => r,
        Err(why) => return Ok(Err(why)),
    };
    let (ctx, fixed) = (env.ctx, env.fixed);
    let mut render_ahead = |s: &Step| match render(s, renderer, ctx, fixed) {
        Ok(Ok(r)) => Ahead::Ready(r),
        Ok(Err(_)) => Ahead::Skip,
        Err(_) => Ahead::Stop,
    };
    let span = Span::start(&*env.remote);
    match env
        .window
        .read(&mut *env.remote, list, pos, rendered, &mut render_ahead)
    {
        Ok(pair) => {
            phases.read(&env.window.take_cost(pos));
            Ok(Ok(pair))
        }
        Err(e) => {
            // Nothing was booked: the failed read is all this step's.
            let (took, spent) = span.end(&*env.remote);
            phases.probe += took;
            phases.wire.add(&spent);
            Err(read_failure(e))
        }
    }
}

/// Facts that could not be read fail the step; a broken connection makes the machine
/// unreachable (no `ignore_errors` excuses that).
fn read_failure(e: ReadError) -> Failure {
    match e {
        ReadError::Remote(e) => Failure::from(e),
        ReadError::Unreadable { status, .. } => {
            let mut f = Failure::msg(e.to_string());
            if status == 255 {
                f.kind = FailureKind::Unreachable;
            }
            f
        }
    }
}

/// What reading facts needs to know of a rendered step.
impl Probed for Rendered {
    fn probe(&self) -> Option<String> {
        self.op.probe()
    }
    fn user(&self) -> Option<&str> {
        self.run_as.as_deref()
    }
    fn is_command(&self) -> bool {
        self.op.is_command()
    }
    fn has_user_code(&self) -> bool {
        self.op.probe_has_user_code()
    }
    fn hashes(&self) -> Option<&str> {
        self.op.hashes()
    }
    fn scan(&self) -> Option<scan::Item> {
        self.op.scan()
    }
}

/// Render `step` in the template context `ctx` (with `fixed` over its layers, see
/// [`items::step_context`]); `Ok(Err(why))` when it is skipped: a `when:` is false, or
/// its loop has no item. A `when:` that is not a boolean, or a loop that is not a list,
/// fails the step.
fn render(
    step: &Step,
    renderer: &Renderer,
    ctx: &minijinja::Value,
    fixed: &minijinja::Value,
) -> Result<Result<Rendered, String>, Failure> {
    if let Some(item) = &step.item {
        match &item.state {
            ItemState::Ready => {}
            ItemState::Empty => return Ok(Err("loop: no items".into())),
            ItemState::Broken(msg) => return Err(Failure::msg(msg.clone())),
        }
    }
    let ctx = items::step_context(step, renderer, ctx, fixed).map_err(Failure::msg)?;
    for w in step.whens() {
        let yes = renderer
            .condition(&w.value, &ctx)
            .map_err(|e| Failure::msg(format!("when: {e}")))?;
        if !yes {
            return Ok(Err(format!("when: {} is false", w.value)));
        }
    }
    step.render(renderer, &ctx).map(Ok).map_err(Failure::msg)
}

/// The orbctl calls apply would make for the step: its session, and its command (shell,
/// command) or its probe ([`ops::Operation::shown_call`]).
fn calls(rendered: &Rendered, remote: &mut dyn Remote) -> Vec<String> {
    let ctx = step_ctx(remote, rendered);
    let req = rendered.op.shown_call(&ctx);
    ctx.remote.describe(&req)
}

/// Make the change, trying again up to `retries:` times (`delay:` seconds apart); a
/// change that failed half-way is read again before the next try, and is done when the
/// machine is then as declared (or, for a command with `creates:`/`unless:`, when that
/// now says it was done — as Ansible's command module would skip it on its next try).
/// Ctrl-C during the delay or the read ends the tries. Returns how it ended and how many
/// tries it took; the time spent reading the state again is added to `reread`.
fn change(
    env: &mut StepEnv<'_>,
    how: &How<'_>,
    mut facts: Facts,
    reread: &mut Duration,
) -> (StepOutcome, u32) {
    let (step, rendered) = (how.step, how.rendered);
    // From here the machine changes: what was read ahead is stale, unless this change
    // travels in a chain whose guards check the steps after it.
    if !how.chained {
        env.window.discard();
        if !rendered.op.is_command() {
            env.window.note_change();
        }
    }
    let judge = match Judge::new(step, env.shared.renderer, env.ctx, env.fixed) {
        Some(Err(f)) => return (failed(f), 0),
        Some(Ok(j)) => Some(j),
        None => None,
    };
    let retries = step.spec.retries.unwrap_or(0);
    let delay = Duration::from_secs(step.spec.delay.map(|d| d.0).unwrap_or(1));
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut ctx = step_ctx(&mut *env.remote, rendered);
        let natural = match rendered.op.apply(&mut ctx, &facts) {
            // The apply found nothing to change after all (a download whose bytes are
            // what `dest` has): ok, as its decision would have been.
            Ok(applied) if applied.unchanged => Natural::Ok(applied.output),
            Ok(applied) => how.done(applied.output),
            Err(f) => Natural::Failed(f),
        };
        let failure = match judged(judge.as_ref(), natural, how.changes) {
            Natural::Failed(f) => f,
            done => return (settled(done), attempts),
        };
        let give_up = |failure: Failure| {
            let ignored =
                step.spec.ignore_errors == Some(true) && failure.kind != FailureKind::Unreachable;
            (StepOutcome::Failed { failure, ignored }, attempts)
        };
        if attempts > retries || crate::interrupt::requested() {
            return give_up(failure);
        }
        sleep_interruptibly(delay);
        if let Some(now) = read_again(env, rendered, reread) {
            facts = now;
            // Done after all, unless `failed_when` is to say so from an output.
            let done = matches!(
                rendered.op.decide(&facts),
                Ok(Decision::Unchanged | Decision::Skip(_))
            );
            if done && step.spec.failed_when.is_none() {
                let natural = how.done(None);
                return (
                    settled(judged(judge.as_ref(), natural, how.changes)),
                    attempts,
                );
            }
        }
        if crate::interrupt::requested() {
            return give_up(failure);
        }
    }
}

/// What [`change`] needs to know of the step besides the machine.
struct How<'a> {
    step: &'a Step,
    rendered: &'a Rendered,
    /// The decision was to run (a command, a wait), not to change.
    runs: bool,
    /// What the decision said would change, in words.
    changes: &'a [String],
    /// Its request was sent ahead in a chain ([`super::pipeline`]).
    chained: bool,
}

impl How<'_> {
    /// How an apply that succeeded ended: a command ran, a wait waited (and changed
    /// nothing), anything else changed the machine.
    fn done(&self, output: Option<ExecOutput>) -> Natural {
        match (self.runs, self.rendered.op.is_command()) {
            (true, true) => Natural::Ran(output),
            (true, false) => Natural::Ok(output),
            (false, _) => Natural::Changed(output),
        }
    }
}

/// `natural` judged by the step's expressions, if it has any.
fn judged(judge: Option<&Judge<'_>>, natural: Natural, changes: &[String]) -> Natural {
    match judge {
        Some(j) => j.judge(natural, changes),
        None => natural,
    }
}

/// A judged ending that is not a failure, as the step's outcome.
fn settled(n: Natural) -> StepOutcome {
    match n {
        Natural::Ok(o) => StepOutcome::Ok(o),
        Natural::Changed(o) => StepOutcome::Changed(o),
        Natural::Ran(o) => StepOutcome::Ran(o),
        Natural::Failed(f) => failed(f),
    }
}

/// A step that had nothing to change (or whose facts failed it before any change), judged
/// by its `changed_when`/`failed_when`: `changed_when: true` makes it a change, and
/// `failed_when` may excuse or make a failure. Not a failure to read its facts: that is
/// no result of the step.
fn judge_unchanged(
    env: &StepEnv<'_>,
    step: &Step,
    would: StepOutcome,
    changes: &[String],
) -> StepOutcome {
    let natural = match would {
        StepOutcome::Ok(o) => Natural::Ok(o),
        StepOutcome::Failed {
            failure,
            ignored: false,
        } => Natural::Failed(failure),
        other => return other,
    };
    match Judge::new(step, env.shared.renderer, env.ctx, env.fixed) {
        None => settled(natural),
        Some(Err(f)) => failed(f),
        Some(Ok(j)) => settled(j.judge(natural, changes)),
    }
}

/// The step's facts read again before another try (`None`: it has no probe, or the read
/// failed; the try goes ahead on what was known).
fn read_again(env: &mut StepEnv<'_>, rendered: &Rendered, reread: &mut Duration) -> Option<Facts> {
    let probe = rendered.op.probe()?;
    let user = rendered.run_as.as_deref();
    let isolate = rendered.op.probe_has_user_code();
    let reading = Instant::now();
    let read = gather(&mut *env.remote, user, &(0, probe), &[], "", isolate);
    *reread += reading.elapsed();
    read.ok().map(|(now, _)| now)
}

/// A failure before any change: never excused by `ignore_errors` (the step did not run).
fn failed(failure: Failure) -> StepOutcome {
    StepOutcome::Failed {
        failure,
        ignored: false,
    }
}

/// The request a command step's change makes (its `shell`/`command` script, user, time
/// limit, directory and environment), exactly as its apply will make it.
pub(super) fn command_request(env: &mut StepEnv<'_>, rendered: &Rendered) -> crate::remote::Exec {
    let ctx = step_ctx(&mut *env.remote, rendered);
    rendered.op.shown_call(&ctx)
}

/// What an operation needs to run the step on the machine.
fn step_ctx<'r>(remote: &'r mut dyn Remote, rendered: &Rendered) -> Ctx<'r> {
    Ctx {
        remote,
        user: rendered.run_as.clone(),
        timeout: rendered.timeout,
    }
}

fn sleep_interruptibly(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !crate::interrupt::requested() {
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
}
