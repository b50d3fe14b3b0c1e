//! Output for people: one plain line per finished step and machine (CI, pipes), or
//! progress bars on a terminal; then the end of the run ([`super::summary`]): failures in
//! full, a table of machines, the slowest steps and one closing line.
//!
//! The steps of a machine that never started (unreachable, or in a plan one that would be
//! created or started first) arrive all at once, just before the machine's own result;
//! they are held until then, so that an unreachable machine is one line, not one per step
//! repeating the same error. A rolling batch (`serial`) is announced by a line of its own
//! (`batch 2/3: web-3 web-4`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use std::time::Instant;

use super::live::Area;
use super::summary::{self, Unreachable};
use super::{
    ActionKind, ActionStatus, Counts, Event, HostResult, HostStatus, MachineAction, Options, Report,
};
use super::{StepResult, StepStatus};

/// The human reporter: writes lines as events arrive, and the summary at the end.
pub struct Human {
    color: bool,
    plan: bool,
    show_calls: bool,
    /// `--timings`.
    timings: bool,
    /// How long connecting to the ssh machines took (`None`: there were none).
    connecting_ms: Option<u64>,
    /// The live area on a terminal (`--progress`).
    bars: Option<Area>,
    /// Failed (and ignored, and rescued) steps of machines that ran, in order.
    failures: Vec<StepResult>,
    /// Machines that could not be used or were not started.
    unreachable: Vec<Unreachable>,
    /// Machines whose steps started (a `HostStarted` arrived).
    started: BTreeSet<String>,
    /// Steps of machines that never started, held until the machine's result.
    held: BTreeMap<String, Vec<StepResult>>,
    /// The error each machine's phase-1 line already showed.
    shown_errors: BTreeMap<String, String>,
}

/// `s` in the ANSI colour `code`, when colour is on.
pub(super) fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn status_code(s: StepStatus) -> &'static str {
    s.traits().ansi
}

/// A duration as people read it: `0.03s`.
pub(super) fn secs(ms: u64) -> String {
    format!("{:.2}s", Duration::from_millis(ms).as_secs_f64())
}

/// `n thing` or `n things`.
pub(super) fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// Every line of `text` prefixed with `by`.
pub(super) fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}\n"))
        .collect::<String>()
}

/// What a machine's result is called: in a plan, a machine with pending changes "will
/// change" and one with only commands to run "will run", as its steps say.
pub(super) fn host_word(plan: bool, status: HostStatus, counts: &Counts) -> &'static str {
    match status {
        HostStatus::Changed if plan => {
            if counts.sum(|t| t.pending) > 0 {
                "will change"
            } else if counts.sum(|t| t.changes) > 0 {
                "will run"
            } else {
                "ok"
            }
        }
        s => s.word(),
    }
}

/// A machine action of the first phase in words: what was done, what a plan would do,
/// or what went wrong.
fn action_text(color: bool, a: &MachineAction) -> String {
    let done = a.action.done();
    let what = match (a.status, a.action) {
        (ActionStatus::Failed, action) if action.is_condition() => {
            format!("machine {}", paint(color, "1;31", action.word()))
        }
        (ActionStatus::Failed, action) => {
            format!(
                "machine {} {}",
                action.word(),
                paint(color, "1;31", "FAILED")
            )
        }
        (ActionStatus::Planned, ActionKind::Settings) => "machine settings will change".into(),
        (ActionStatus::Done, ActionKind::Settings) => "machine settings changed".into(),
        (ActionStatus::Planned, _) => format!("machine will be {done}"),
        _ => format!("machine {done}"),
    };
    match &a.message {
        Some(m) => format!("{}: {what} — {m}\n", a.machine),
        None => format!("{}: {what}\n", a.machine),
    }
}

impl Human {
    /// A reporter for these options (progress bars when `opts.progress`).
    pub fn new(opts: &Options) -> Self {
        let bars = opts
            .progress
            .then(|| Area::new(opts.mode.word(), opts.color));
        Human {
            color: opts.color,
            plan: opts.mode.is_plan(),
            show_calls: opts.show_calls,
            timings: opts.timings,
            connecting_ms: opts.connecting_ms,
            bars,
            failures: Vec::new(),
            unreachable: Vec::new(),
            started: BTreeSet::new(),
            held: BTreeMap::new(),
            shown_errors: BTreeMap::new(),
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(b) => {
                for l in text.trim_end_matches('\n').lines() {
                    b.bar.println(l);
                }
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        }
    }

    /// Show one event.
    pub fn event(&mut self, e: &Event) {
        match e {
            Event::RunStarted {
                machines, steps, ..
            } => {
                if let Some(b) = &mut self.bars {
                    b.run_started(machines.len(), *steps);
                }
            }
            Event::Batch(b) => {
                let mut text = b.line();
                if !b.started {
                    text.push_str(" — not started");
                }
                if let Some(bars) = &self.bars {
                    bars.state().batch(b.started.then(|| b.line()));
                }
                self.line(&format!("{text}\n"));
            }
            Event::Machine(a) => {
                if a.action == ActionKind::Keep {
                    return;
                }
                if a.status == ActionStatus::Failed {
                    if let Some(m) = &a.message {
                        self.shown_errors.insert(a.machine.clone(), m.clone());
                    }
                }
                let mut text = action_text(self.color, a);
                if self.show_calls && !a.argv.is_empty() {
                    text.push_str(&format!("    $ {}\n", crate::quote::join(&a.argv)));
                }
                self.line(&text);
            }
            Event::HostStarted { machine, steps } => {
                self.started.insert(machine.clone());
                self.add_bar(machine, *steps);
            }
            Event::StepStarted { machine, name } => {
                if let Some(b) = &self.bars {
                    b.state().step_started(machine, name, Instant::now());
                    b.bar.tick();
                }
            }
            Event::Step(s) => {
                if !self.started.contains(&s.machine) {
                    self.held
                        .entry(s.machine.clone())
                        .or_default()
                        .push(s.clone());
                    return;
                }
                if let Some(b) = &self.bars {
                    b.bar.inc(1);
                }
                if matches!(
                    s.status,
                    StepStatus::Failed | StepStatus::Ignored | StepStatus::Rescued
                ) {
                    self.failures.push(s.clone());
                }
                let text = self.step_text(s, true);
                self.line(&text);
            }
            Event::Host(h) => self.host(h),
            Event::Summary(_) => {
                if let Some(b) = &self.bars {
                    b.bar.finish_and_clear();
                }
            }
        }
    }

    fn add_bar(&mut self, machine: &str, steps: usize) {
        if let Some(b) = &mut self.bars {
            b.host_started(machine, steps);
        }
    }

    /// A machine's result; for a machine that never started, its held steps first.
    fn host(&mut self, h: &HostResult) {
        let started = self.started.contains(&h.machine);
        if let Some(b) = &mut self.bars {
            b.host_done(&h.machine, started);
        }
        let held = self.held.remove(&h.machine).unwrap_or_default();
        let ran = self.started.contains(&h.machine);
        let mut text = String::new();
        if h.status.traits().never_ran.is_some() {
            let error = h.error.clone().unwrap_or_default();
            text.push_str(&format!(
                "{}: {}, {} not run",
                h.machine,
                paint(self.color, "1;31", h.status.word()),
                count(held.len(), "step")
            ));
            if self.shown_errors.get(&h.machine) != Some(&error) && !error.is_empty() {
                text.push_str(&format!(" — {error}"));
            }
            text.push('\n');
            self.unreachable.push(Unreachable {
                machine: h.machine.clone(),
                status: h.status,
                error,
                steps: held.len(),
            });
        } else {
            // The same reason (the machine would be created first) is said once.
            let mut last_reason: Option<&str> = None;
            for s in &held {
                let repeated = s.reason.is_some() && s.reason.as_deref() == last_reason;
                text.push_str(&self.step_text(s, !repeated));
                last_reason = s.reason.as_deref();
            }
            let word = host_word(self.plan, h.status, &h.counts);
            text.push_str(&format!("{}: {word}", h.machine));
            if ran {
                text.push_str(&format!(" ({})", secs(h.duration_ms)));
            }
            if let Some(err) = &h.error {
                text.push_str(&format!(" — {err}"));
            }
            text.push('\n');
        }
        self.line(&text);
    }

    /// One step: its line, then (indented) why, what changed, the diff, the calls and the
    /// failure. A step that did not run has no time.
    fn step_text(&self, s: &StepResult, with_reason: bool) -> String {
        let word = paint(self.color, status_code(s.status), s.status.word());
        let handler = if s.handler { "handler " } else { "" };
        let mut text = format!("{}: {word} {handler}{}", s.machine, s.name);
        if !matches!(s.status, StepStatus::Skipped | StepStatus::Unknown) {
            text.push_str(&format!(" ({})", secs(s.duration_ms)));
        }
        text.push('\n');
        if let (Some(r), true) = (&s.reason, with_reason) {
            text.push_str(&format!("    {r}\n"));
        }
        for c in &s.changes {
            text.push_str(&format!("    {c}\n"));
        }
        if let Some(d) = &s.diff {
            text.push_str(&indent(d, "    "));
        }
        if self.show_calls {
            for c in &s.calls {
                text.push_str(&call_text(c));
            }
        }
        if let Some(f) = &s.failure {
            text.push_str(&format!("    {}\n", f.message));
        }
        text
    }

    /// Write the end of the run: failures, the table, the slowest steps, with `--timings`
    /// where the time went (`before_ms`: the run's time before the first machine started
    /// its steps), the report files written, the last line.
    pub fn finish(&mut self, report: &Report, before_ms: u64, reports: &[(String, &'static str)]) {
        let out = summary::render(&summary::Input {
            plan: self.plan,
            color: self.color,
            failures: &self.failures,
            unreachable: &self.unreachable,
            report,
            timings: self.timings.then_some(super::breakdown::Before {
                steps_ms: before_ms,
                connecting_ms: self.connecting_ms,
            }),
            reports,
        });
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// An orbctl call of `--show-calls`: `$ ` and the call, its later lines (a script)
/// indented under it.
fn call_text(call: &str) -> String {
    let mut out = String::new();
    for (i, l) in call.trim_end_matches('\n').split('\n').enumerate() {
        let lead = if i == 0 { "    $ " } else { "      " };
        out.push_str(&format!("{lead}{l}\n"));
    }
    out
}
