//! The phases of a test and how each ended on a platform, judged from the report of the
//! apply it ran (in process, with the reporter quiet).

use crate::report::{HostStatus, Report, ReportMachine, StepResult, StepStatus};

/// A phase, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The template: created from the image with the platform's settings, then `prepare`.
    Prepare,
    /// The throwaway machine, cloned from the template and started.
    Create,
    /// The first apply of what is tested.
    Converge,
    /// The second apply, which must change nothing.
    Idempotence,
    /// The `verify` steps, which must succeed and change nothing.
    Verify,
    /// The throwaway machine deleted.
    Destroy,
}

impl Phase {
    /// Every phase in order.
    pub const ALL: [Phase; 6] = [
        Phase::Prepare,
        Phase::Create,
        Phase::Converge,
        Phase::Idempotence,
        Phase::Verify,
        Phase::Destroy,
    ];

    /// Its name in the output and the JUnit cases.
    pub fn word(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Create => "create",
            Phase::Converge => "converge",
            Phase::Idempotence => "idempotence",
            Phase::Verify => "verify",
            Phase::Destroy => "destroy",
        }
    }
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It did what it must.
    Passed,
    /// It did not; the details say why.
    Failed,
    /// It did not run (an earlier phase failed, Ctrl-C, `--keep`, nothing to do).
    Skipped,
}

impl Verdict {
    /// Its word in the output.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Skipped => "skipped",
        }
    }
}

/// One phase on one platform.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    /// Which.
    pub phase: Phase,
    /// How it ended.
    pub verdict: Verdict,
    /// Wall time in milliseconds.
    pub ms: u64,
    /// One line of what happened (`3 changed`, `cloned from odt-tpl-…`).
    pub note: String,
    /// Why it failed, line by line.
    pub details: Vec<String>,
    /// It failed on a mistake in what the user wrote (a step that cannot be rendered for
    /// the machine): the run ends with exit 2.
    pub bad_input: bool,
}

impl PhaseResult {
    /// A phase that passed.
    pub fn passed(phase: Phase, ms: u64, note: impl Into<String>) -> Self {
        PhaseResult {
            phase,
            verdict: Verdict::Passed,
            ms,
            note: note.into(),
            details: Vec::new(),
            bad_input: false,
        }
    }

    /// A phase whose apply ended with an error instead of a report: its message (masked
    /// as the run masks it), and whether it is a mistake in the input.
    pub fn apply_error(phase: Phase, ms: u64, e: &anyhow::Error) -> Self {
        let mut parts: Vec<String> = e
            .chain()
            .map(|c| c.to_string())
            .filter(|p| !p.is_empty())
            .collect();
        parts.dedup();
        let text = parts.join(": ");
        let text = match e.downcast_ref::<crate::mask::MaskErrors>() {
            Some(m) => m.0.text(&text),
            None => text,
        };
        let bad_input = e
            .chain()
            .any(|c| c.downcast_ref::<crate::error::ConfigError>().is_some());
        let note = if bad_input {
            "bad input"
        } else {
            "the apply failed"
        };
        PhaseResult {
            bad_input,
            ..PhaseResult::failed(phase, ms, note, vec![text])
        }
    }

    /// A phase that failed, and why.
    pub fn failed(phase: Phase, ms: u64, note: impl Into<String>, details: Vec<String>) -> Self {
        PhaseResult {
            phase,
            verdict: Verdict::Failed,
            ms,
            note: note.into(),
            details,
            bad_input: false,
        }
    }

    /// A phase that did not run, and why.
    pub fn skipped(phase: Phase, why: impl Into<String>) -> Self {
        PhaseResult {
            phase,
            verdict: Verdict::Skipped,
            ms: 0,
            note: why.into(),
            details: Vec::new(),
            bad_input: false,
        }
    }
}

/// How the apply of `phase` went on `machine`. With `no_changes`, a step that changed
/// fails the phase, named with what it changed.
pub fn judge(
    phase: Phase,
    report: &Report,
    machine: &str,
    ms: u64,
    no_changes: bool,
) -> PhaseResult {
    let Some(m) = report.machines.iter().find(|m| m.result.machine == machine) else {
        return PhaseResult::failed(phase, ms, "the machine has no result", Vec::new());
    };
    let note = counts(m);
    match m.result.status {
        HostStatus::Ok | HostStatus::Changed => {}
        HostStatus::Interrupted => return PhaseResult::skipped(phase, "interrupted"),
        _ => {
            let mut details: Vec<String> = m
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Failed)
                .flat_map(failure)
                .collect();
            if let Some(e) = &m.result.error {
                details.push(e.clone());
            }
            return PhaseResult::failed(phase, ms, note, details);
        }
    }
    let changed: Vec<&StepResult> = m
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Changed)
        .collect();
    if no_changes && !changed.is_empty() {
        let n = changed.len();
        let what = if n == 1 { "step" } else { "steps" };
        let details = changed.into_iter().map(change).collect();
        return PhaseResult::failed(phase, ms, format!("{n} {what} changed"), details);
    }
    PhaseResult::passed(phase, ms, note)
}

/// `3 ok, 2 changed`: the statuses a machine's steps ended with.
fn counts(m: &ReportMachine) -> String {
    let parts: Vec<String> = StepStatus::ALL
        .into_iter()
        .filter(|s| m.result.counts.get(*s) > 0)
        .map(|s| format!("{} {}", m.result.counts.get(s), s.word().to_lowercase()))
        .collect();
    if parts.is_empty() {
        "no steps".to_string()
    } else {
        parts.join(", ")
    }
}

/// Where a step is written: `file:line:column`, and the role it belongs to.
fn origin(s: &StepResult) -> String {
    match &s.origin {
        Some(o) => {
            let role = o
                .role
                .as_ref()
                .map(|r| format!(", role {r}"))
                .unwrap_or_default();
            format!(" ({}:{}:{}{role})", o.file, o.line, o.column)
        }
        None => String::new(),
    }
}

/// A step that changed where nothing should have: its name, where it is, what changed.
fn change(s: &StepResult) -> String {
    let what = if s.changes.is_empty() {
        "changed".to_string()
    } else {
        s.changes.join("; ")
    };
    format!("`{}`{}: {what}", s.name, origin(s))
}

/// A failed step: its name, where it is, the message, then its command, exit code and the
/// last lines of its output.
fn failure(s: &StepResult) -> Vec<String> {
    let mut out = vec![format!("`{}`{} failed", s.name, origin(s))];
    if let Some(f) = &s.failure {
        out.push(format!("  {}", f.message));
        if let Some(c) = &f.command {
            out.push(format!("  command: {c}"));
        }
        if let Some(code) = f.exit_code {
            out.push(format!("  exit code: {code}"));
        }
        for (name, tail) in [("stdout", &f.stdout_tail), ("stderr", &f.stderr_tail)] {
            if !tail.trim().is_empty() {
                out.push(format!("  {name}:"));
                out.extend(tail.lines().map(|l| format!("    {l}")));
            }
        }
    }
    out
}
