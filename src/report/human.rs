//! Output for people: one plain line per finished step and machine (CI, pipes), or
//! progress bars on a terminal; then failures in full, a summary table and the slowest
//! steps.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, Options, Report, StepResult, StepStatus};

pub struct Human {
    color: bool,
    plan: bool,
    show_calls: bool,
    bars: Option<Bars>,
    failures: Vec<StepResult>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    hosts: BTreeMap<String, ProgressBar>,
}

fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn status_code(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Ok => "32",
        StepStatus::Changed | StepStatus::WillChange | StepStatus::WillRun => "33",
        StepStatus::Failed => "1;31",
        StepStatus::Ignored => "31",
        StepStatus::Skipped | StepStatus::Unknown => "2",
    }
}

fn secs(ms: u64) -> String {
    format!("{:.2}s", Duration::from_millis(ms).as_secs_f64())
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}\n"))
        .collect::<String>()
}

impl Human {
    pub fn new(opts: &Options) -> Self {
        let bars = opts.progress.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} steps {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            overall.set_prefix(opts.mode.clone());
            Bars {
                multi,
                overall,
                hosts: BTreeMap::new(),
            }
        });
        Human {
            color: opts.color,
            plan: opts.mode == "plan",
            show_calls: opts.show_calls,
            bars,
            failures: Vec::new(),
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(b) => {
                for l in text.trim_end_matches('\n').lines() {
                    let _ = b.multi.println(l);
                }
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        }
    }

    pub fn event(&mut self, e: &Event) {
        match e {
            Event::RunStarted { .. } => {}
            Event::Machine(a) => {
                if a.action == "keep" {
                    return;
                }
                let mut text = format!(
                    "{}: machine {} {}",
                    a.machine,
                    a.action,
                    match a.status.as_str() {
                        "failed" => paint(self.color, "1;31", "FAILED"),
                        s => s.to_string(),
                    }
                );
                if let Some(m) = &a.message {
                    text.push_str(&format!(" — {m}"));
                }
                text.push('\n');
                if self.show_calls && !a.argv.is_empty() {
                    text.push_str(&format!("    $ {}\n", a.argv.join(" ")));
                }
                self.line(&text);
            }
            Event::HostStarted { machine, steps } => {
                if let Some(b) = &mut self.bars {
                    b.overall.inc_length(*steps as u64);
                    let bar = b.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {prefix}: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(machine.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    b.hosts.insert(machine.clone(), bar);
                }
            }
            Event::StepStarted { machine, name } => {
                if let Some(bar) = self.bars.as_ref().and_then(|b| b.hosts.get(machine)) {
                    bar.set_message(name.clone());
                }
            }
            Event::Step(s) => {
                if let Some(b) = &self.bars {
                    b.overall.inc(1);
                }
                if matches!(s.status, StepStatus::Failed | StepStatus::Ignored) {
                    self.failures.push(s.clone());
                }
                let text = self.step_text(s);
                self.line(&text);
            }
            Event::Host(h) => {
                if let Some(bar) = self.bars.as_mut().and_then(|b| b.hosts.remove(&h.machine)) {
                    bar.finish_and_clear();
                }
                let mut text = format!(
                    "{}: {} ({})",
                    h.machine,
                    h.status.word(),
                    secs(h.duration_ms)
                );
                if let Some(err) = &h.error {
                    text.push_str(&format!(" — {err}"));
                }
                text.push('\n');
                self.line(&text);
            }
            Event::Summary(_) => {
                if let Some(b) = &self.bars {
                    b.overall.finish_and_clear();
                    let _ = b.multi.clear();
                }
            }
        }
    }

    fn step_text(&self, s: &StepResult) -> String {
        let word = paint(self.color, status_code(s.status), s.status.word());
        let handler = if s.handler { "handler " } else { "" };
        let mut text = format!(
            "{}: {word} {handler}{} ({})\n",
            s.machine,
            s.name,
            secs(s.duration_ms)
        );
        if let Some(r) = &s.reason {
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
                text.push_str(&format!("    $ {c}\n"));
            }
        }
        if let Some(f) = &s.failure {
            text.push_str(&format!("    {}\n", f.message));
        }
        text
    }

    pub fn finish(&mut self, report: &Report) {
        let mut out = String::new();
        if !self.failures.is_empty() {
            out.push_str("\nFailures:\n");
            for s in &self.failures {
                out.push_str(&format!(
                    "\n  {} — step `{}` ({})\n",
                    s.machine, s.name, s.kind
                ));
                if let Some(f) = &s.failure {
                    out.push_str(&format!("    {}\n", f.message));
                    if let Some(c) = &f.command {
                        out.push_str("    command:\n");
                        out.push_str(&indent(c, "      "));
                    }
                    if let Some(code) = f.exit_code {
                        out.push_str(&format!("    exit code: {code}\n"));
                    }
                    if !f.stdout_tail.is_empty() {
                        out.push_str("    stdout (last lines):\n");
                        out.push_str(&indent(&f.stdout_tail, "      "));
                    }
                    if !f.stderr_tail.is_empty() {
                        out.push_str("    stderr (last lines):\n");
                        out.push_str(&indent(&f.stderr_tail, "      "));
                    }
                }
            }
        }
        out.push('\n');
        let head: [&str; 5] = if self.plan {
            ["NO CHANGE", "WILL CHANGE", "WILL RUN", "UNKNOWN", "FAILED"]
        } else {
            ["OK", "CHANGED", "FAILED", "SKIPPED", "IGNORED"]
        };
        let width = report
            .machines
            .iter()
            .map(|m| m.result.machine.len())
            .max()
            .unwrap_or(7)
            .max(7);
        out.push_str(&format!(
            "{:<width$}  {:<11}  {:>9}  {:>11}  {:>8}  {:>7}  {:>7}  {:>7}\n",
            "MACHINE", "STATUS", head[0], head[1], head[2], head[3], head[4], "TIME"
        ));
        for m in &report.machines {
            let c = &m.result.counts;
            let nums = if self.plan {
                [c.ok, c.will_change, c.will_run, c.unknown, c.failed]
            } else {
                [c.ok, c.changed, c.failed, c.skipped, c.ignored]
            };
            let status = m.result.status.word();
            out.push_str(&format!(
                "{:<width$}  {:<11}  {:>9}  {:>11}  {:>8}  {:>7}  {:>7}  {:>7}\n",
                m.result.machine,
                status,
                nums[0],
                nums[1],
                nums[2],
                nums[3],
                nums[4],
                secs(m.result.duration_ms)
            ));
        }
        let mut all: Vec<&StepResult> = report.machines.iter().flat_map(|m| &m.steps).collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.duration_ms));
        let slow: Vec<&&StepResult> = all
            .iter()
            .filter(|s| s.duration_ms >= 100)
            .take(5)
            .collect();
        if !slow.is_empty() {
            out.push_str("\nSlowest steps:\n");
            for s in slow {
                out.push_str(&format!(
                    "  {:>7}  {}  {}\n",
                    secs(s.duration_ms),
                    s.machine,
                    s.name
                ));
            }
        }
        let sum = &report.summary;
        let verdict = if sum.interrupted {
            "interrupted".to_string()
        } else if self.plan {
            let pending = sum.counts.will_change + sum.counts.unknown;
            let runs = if sum.counts.will_run > 0 {
                format!(" ({} command step(s) would run)", sum.counts.will_run)
            } else {
                String::new()
            };
            if pending == 0 {
                format!("no changes pending{runs}")
            } else {
                format!("{pending} step(s) would change{runs}")
            }
        } else if sum.counts.failed > 0 || sum.machines.get("unreachable").is_some_and(|n| *n > 0) {
            "FAILED".into()
        } else {
            "done".into()
        };
        out.push_str(&format!(
            "\n{}: {} machine(s), {} in {} (exit {})\n",
            verdict,
            report.machines.len(),
            if self.plan {
                format!("{} to change", sum.counts.will_change)
            } else {
                format!(
                    "{} changed, {} failed",
                    sum.counts.changed, sum.counts.failed
                )
            },
            secs(sum.duration_ms),
            sum.exit_code
        ));
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}
