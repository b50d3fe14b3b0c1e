//! The end of a run in human output: the failures in full, a table of machines, the
//! slowest steps, with `--timings` where the time went ([`super::breakdown`]), and one
//! closing line with the verdict and the exit code.

use super::human::{count, host_word, indent, paint, secs};
use super::{Closing, HostStatus, Report, StepResult, StepStatus, Summary};

/// A step shorter than this is never among the "slowest steps": below it, which steps
/// come first is chance (and the first step of a machine also pays for the session).
const SLOW_MS: u64 = 1000;

/// How many slowest steps are shown.
const SLOWEST: usize = 5;

/// A machine that could not be used (or whose batch was not started), for the failures.
pub struct Unreachable {
    /// The machine.
    pub machine: String,
    /// Unreachable or not started.
    pub status: super::HostStatus,
    /// Why.
    pub error: String,
    /// How many of its steps did not run.
    pub steps: usize,
}

/// What the summary is made of.
pub struct Input<'a> {
    /// A plan (its words and counts) rather than an apply.
    pub plan: bool,
    /// Colour on.
    pub color: bool,
    /// Failed (and ignored, and rescued) steps of machines that ran, in order.
    pub failures: &'a [StepResult],
    /// Machines that could not be used.
    pub unreachable: &'a [Unreachable],
    /// The whole run.
    pub report: &'a Report,
    /// `--timings`: show where the time went, and how long the run took before the first
    /// machine started its steps.
    pub timings: Option<super::breakdown::Before>,
    /// The report files written (`--report`, `--junit`, `--report-html`): the path as
    /// given, and what it is.
    pub reports: &'a [(String, &'static str)],
}

/// The text printed after the last step.
pub fn render(i: &Input) -> String {
    let mut out = failures(i);
    out.push('\n');
    out.push_str(&table(i));
    out.push_str(&batches(i.report));
    out.push_str(&slowest(i.report));
    if let Some(before) = i.timings {
        out.push_str(&super::breakdown::render(i.report, before));
    }
    if !i.reports.is_empty() {
        let files: Vec<String> = i
            .reports
            .iter()
            .map(|(path, what)| format!("{path} ({what})"))
            .collect();
        out.push_str(&format!("\nReports: {}\n", files.join(", ")));
    }
    out.push('\n');
    out.push_str(&closing_line(i));
    out
}

fn failures(i: &Input) -> String {
    if i.failures.is_empty() && i.unreachable.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nFailures:\n");
    // Machines not reached first, the failed steps, then the machines a failed batch kept
    // from starting (the consequence after its cause).
    let (first, last): (Vec<&Unreachable>, Vec<&Unreachable>) = i
        .unreachable
        .iter()
        .partition(|u| u.status != HostStatus::NotStarted);
    let never_ran = |out: &mut String, u: &Unreachable| {
        out.push_str(&format!(
            "\n  {} — {}, {} not run\n",
            u.machine,
            u.status.word(),
            count(u.steps, "step")
        ));
        out.push_str(&indent(&u.error, "    "));
    };
    for u in first {
        never_ran(&mut out, u);
    }
    for s in i.failures {
        out.push_str(&failure(s));
    }
    for u in last {
        never_ran(&mut out, u);
    }
    out
}

/// One failed step in full: what went wrong, the exact command, its exit code and the
/// last lines of its output.
fn failure(s: &StepResult) -> String {
    let ignored = match s.status {
        StepStatus::Ignored => ", failure ignored",
        StepStatus::Rescued => ", rescued",
        _ => "",
    };
    let mut out = format!(
        "\n  {} — step `{}` ({}{ignored})\n",
        s.machine, s.name, s.kind
    );
    let Some(f) = &s.failure else {
        return out;
    };
    out.push_str(&indent(&f.message, "    "));
    if let Some(c) = &f.command {
        out.push_str("    command:\n");
        out.push_str(&indent(c, "      "));
    }
    if let Some(code) = f.exit_code {
        out.push_str(&format!("    exit code: {code}\n"));
    }
    for (name, tail) in [("stdout", &f.stdout_tail), ("stderr", &f.stderr_tail)] {
        if !tail.is_empty() {
            out.push_str(&format!("    {name} (last lines):\n"));
            out.push_str(&indent(tail, "      "));
        }
    }
    out
}

/// One row per machine: its status, its steps counted by outcome (the mode's columns of
/// [`StepStatus::columns`]), its time.
fn table(i: &Input) -> String {
    let cols = StepStatus::columns(i.plan);
    let machines = &i.report.machines;
    let width = machines
        .iter()
        .map(|m| m.result.machine.chars().count())
        .max()
        .unwrap_or(0)
        .max("MACHINE".len());
    let row = |name: &str, status: &str, nums: &[String], time: &str| {
        let mut line = format!("{name:<width$}  {status:<11}");
        for (n, at) in nums.iter().zip(0..) {
            line.push_str(&format!("  {n:>w$}", w = column_width(at)));
        }
        format!("{line}  {time:>7}\n")
    };
    let heads: Vec<String> = cols.iter().map(|(_, c)| c.heading.to_string()).collect();
    let mut out = row("MACHINE", "STATUS", &heads, "TIME");
    for m in machines {
        let c = &m.result.counts;
        let nums: Vec<String> = cols.iter().map(|(s, _)| c.get(*s).to_string()).collect();
        out.push_str(&row(
            &m.result.machine,
            host_word(i.plan, m.result.status, c),
            &nums,
            &secs(m.result.duration_ms),
        ));
    }
    out
}

/// The rolling batches in order, a line each, when the run had them.
fn batches(report: &Report) -> String {
    if report.batches.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nBatches:\n");
    for b in &report.batches {
        let not = if b.started { "" } else { " — not started" };
        out.push_str(&format!("  {}{not}\n", b.line()));
    }
    out
}

/// The width of a count column: its widest heading in either mode, and at least 7, so
/// that a plan's table and an apply's line up alike.
fn column_width(at: usize) -> usize {
    [true, false]
        .into_iter()
        .flat_map(StepStatus::columns)
        .filter(|(_, c)| c.at == at)
        .map(|(_, c)| c.heading.len())
        .fold(7, usize::max)
}

/// The slowest steps that took a second or more, slowest first.
fn slowest(report: &Report) -> String {
    let mut all: Vec<&StepResult> = report.machines.iter().flat_map(|m| &m.steps).collect();
    all.sort_by_key(|s| std::cmp::Reverse(s.duration_ms));
    let slow: Vec<&StepResult> = all
        .into_iter()
        .filter(|s| s.duration_ms >= SLOW_MS)
        .take(SLOWEST)
        .collect();
    if slow.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nSlowest steps:\n");
    for s in slow {
        out.push_str(&format!(
            "  {:>7}  {}  {}\n",
            secs(s.duration_ms),
            s.machine,
            s.name
        ));
    }
    out
}

/// The run in one word, agreeing with the exit code (README, "Exit codes"): interrupted,
/// UNREACHABLE, FAILED, done, or in a plan whether changes are pending.
pub(super) fn verdict(plan: bool, sum: &Summary) -> &'static str {
    let c = &sum.counts;
    let unreachable = sum.machines.get("unreachable").copied().unwrap_or(0);
    let not_started = sum.machines.get("not_started").copied().unwrap_or(0);
    if sum.interrupted {
        "interrupted"
    } else if sum.exit_code == crate::exit::UNAVAILABLE {
        "UNREACHABLE"
    } else if c.get(StepStatus::Failed) > 0 || unreachable > 0 || not_started > 0 {
        "FAILED"
    } else if !plan {
        "done"
    } else if c.sum(|t| t.pending) > 0 {
        "changes pending"
    } else {
        "no changes pending"
    }
}

/// `done: 2 machines, 3 changed, 0 failed in 1.20s (exit 0)`; a plan counts what will
/// change and run: `changes pending: 1 machine, 2 will change, 1 will run in … (exit 0)`.
fn closing_line(i: &Input) -> String {
    let sum = &i.report.summary;
    let c = &sum.counts;
    let verdict = match verdict(i.plan, sum) {
        v @ ("FAILED" | "UNREACHABLE" | "interrupted") => paint(i.color, "1;31", v),
        v => v.to_string(),
    };
    let counts: Vec<String> = StepStatus::columns(i.plan)
        .into_iter()
        .filter(|(s, col)| match col.closing {
            Closing::Never => false,
            Closing::Always => true,
            Closing::NonZero => c.get(*s) > 0,
        })
        .map(|(s, _)| format!("{} {}", c.get(s), s.word().to_lowercase()))
        .collect();
    let counts = counts.join(", ");
    let mut machines = count(i.report.machines.len(), "machine");
    let never_ran: Vec<String> = [HostStatus::Unreachable, HostStatus::NotStarted]
        .into_iter()
        .filter_map(|s| {
            let n = sum.machines.get(s.key()).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {}", s.word()))
        })
        .collect();
    if !never_ran.is_empty() {
        machines.push_str(&format!(" ({})", never_ran.join(", ")));
    }
    format!(
        "{verdict}: {machines}, {counts} in {} (exit {})\n",
        secs(sum.duration_ms),
        sum.exit_code
    )
}
