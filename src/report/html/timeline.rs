//! The timeline: one row per machine, its phase-1 action and every step as a bar along
//! the run's time, in the order they ran. Bars are markup (`<i class="b s ch">` with their
//! place in percent) so the page draws them before its script runs; the script adds the
//! tooltips and the keyboard moves.
//!
//! A step of a few milliseconds in a run of minutes would be thinner than a pixel, and
//! steps that never ran (unreachable, or in a plan a machine to be created first) last
//! zero: every bar is at least [`MIN_WIDTH`] of the run wide and starts no earlier than
//! the end of the bar before it, so each step stays one visible bar, in order. The
//! tooltip tells the real start and duration.

use std::fmt::Write as _;

use super::escape::esc;
use super::{host_look, look, Clock};
use crate::report::{ActionKind, ActionStatus, MachineAction, Report};

/// The narrowest bar, as a fraction of the timeline.
const MIN_WIDTH: f64 = 0.0015;
/// The narrowest bar that carries its step's name, as a fraction of the timeline: about
/// ten characters on a laptop's screen. A narrower window cuts the name with an ellipsis.
const LABEL_WIDTH: f64 = 0.05;

/// The machine's phase-1 action and when phase 1 ended, when there is one to draw: an
/// action that kept the machine as it was is no bar.
pub(super) fn phase1<'a>(
    report: &'a Report,
    clock: &Clock,
    machine: &str,
) -> Option<(&'a MachineAction, u64)> {
    let a = report
        .machine_actions
        .iter()
        .find(|a| a.machine == machine)?;
    if a.action == ActionKind::Keep {
        return None;
    }
    Some((a, clock.phase1_end_ms.get(machine).copied().unwrap_or(0)))
}

/// One bar: its classes and its place on the run's clock (ms), before scaling.
struct Bar {
    class: String,
    start: f64,
    width: f64,
    /// What the bar is: a step's name, or the phase-1 action.
    label: String,
}

/// Every row's bars, and the length of the time axis they need.
fn layout(report: &Report, clock: &Clock) -> (Vec<Vec<Bar>>, f64) {
    let mut span = clock.end_ms;
    for m in &report.machines {
        for s in &m.steps {
            span = span.max(s.start_ms + s.duration_ms);
        }
        if let Some((_, end)) = phase1(report, clock, &m.result.machine) {
            span = span.max(end);
        }
    }
    let span = span.max(1) as f64;
    let min = span * MIN_WIDTH;
    let mut axis = span;
    let mut rows = Vec::with_capacity(report.machines.len());
    for m in &report.machines {
        let mut bars = Vec::with_capacity(m.steps.len() + 1);
        let mut end = 0.0_f64;
        let mut push = |class: String, start: u64, dur: u64, label: String| {
            let start = (start as f64).max(end);
            let width = (dur as f64).max(min);
            end = start + width;
            bars.push(Bar {
                class,
                start,
                width,
                label,
            });
        };
        if let Some((a, until)) = phase1(report, clock, &m.result.machine) {
            let failed = if a.status == ActionStatus::Failed {
                " fa"
            } else {
                ""
            };
            push(
                format!("b p{failed}"),
                0,
                until,
                a.action.word().to_string(),
            );
        }
        for s in &m.steps {
            let h = if s.handler { " h" } else { "" };
            push(
                format!("b s {}{h}", look(s.status).0),
                s.start_ms,
                s.duration_ms,
                super::step_title(s),
            );
        }
        axis = axis.max(end);
        rows.push(bars);
    }
    (rows, axis)
}

/// A percentage with at most two decimals and no needless zeros: `12.5`, `.07`, `0`.
fn pct(part: f64, whole: f64) -> String {
    let s = format!("{:.2}", (part / whole * 100.0).clamp(0.0, 100.0));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s.strip_prefix("0.") {
        Some(rest) => format!(".{rest}"),
        None if s.is_empty() => "0".into(),
        None => s.to_string(),
    }
}

/// A tick's step: 1, 2 or 5 times a power of ten, for about eight ticks.
fn tick_step(axis: f64) -> f64 {
    let raw = (axis / 8.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// A tick's label: `0s`, `1.5s`, `20s`, with as many decimals as the step needs.
fn tick_label(ms: f64, step: f64) -> String {
    let decimals = if step >= 1000.0 {
        0
    } else if step >= 100.0 {
        1
    } else if step >= 10.0 {
        2
    } else {
        3
    };
    format!("{:.*}s", decimals, ms / 1000.0)
}

/// The time axis and the grid lines behind the rows.
fn axis(out: &mut String, axis: f64) {
    let step = tick_step(axis);
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= axis {
        ticks.push(t);
        t += step;
    }
    out.push_str("<div class=\"axis\" aria-hidden=\"true\"><div></div><div class=\"ticks\">");
    for t in &ticks {
        let _ = write!(
            out,
            "<span style=\"left:{}%\">{}</span>",
            pct(*t, axis),
            tick_label(*t, step)
        );
    }
    out.push_str("</div></div>\n<div class=\"grid\" aria-hidden=\"true\">");
    for t in &ticks {
        let _ = write!(out, "<i style=\"left:{}%\"></i>", pct(*t, axis));
    }
    out.push_str("</div>\n");
}

/// The legend: each status's bar and word, the handler mark and phase 1.
fn legend(out: &mut String, report: &Report, plan: bool) {
    out.push_str("<ul class=\"legend\" aria-label=\"legend\">\n");
    for s in super::shown(plan, &report.summary.counts) {
        let (class, icon) = look(s);
        let _ = writeln!(
            out,
            "<li><i class=\"b s {class}\"></i> <span aria-hidden=\"true\">{icon}</span> {}</li>",
            s.word()
        );
    }
    out.push_str(
        "<li><i class=\"b s ok h\"></i> handler (a bar under a line)</li>\n\
         <li><i class=\"b p\"></i> phase 1: create, start, stop or delete</li>\n</ul>\n",
    );
}

/// The section: legend, axis, and one row per machine.
pub(super) fn section(out: &mut String, report: &Report, clock: &Clock, plan: bool) {
    let (rows, span) = layout(report, clock);
    out.push_str(
        "<section id=\"timeline\" aria-labelledby=\"h-timeline\">\n<h2 id=\"h-timeline\">Timeline</h2>\n\
         <p class=\"note\">One row per machine; bars in the order they ran. Phase 1 ends for \
         every machine together. Bars too short to see are drawn wider and follow the one \
         before; a bar wide enough carries its step's name. Point at a bar, or Tab to the timeline and use the arrow keys, to see the \
         step; click or Enter opens it.</p>\n",
    );
    legend(out, report, plan);
    out.push_str("<div class=\"tl\">\n");
    axis(out, span);
    let mut first = true;
    for (r, (m, bars)) in report.machines.iter().zip(&rows).enumerate() {
        let (class, icon, word) = host_look(plan, m);
        let _ = write!(
            out,
            "<div class=\"row\" data-m=\"{r}\"><a class=\"mname st {class}\" href=\"#m-{r}\" title=\"{name} — {word}\"><span aria-hidden=\"true\">{icon}</span> {name}</a><div class=\"track\">",
            name = esc(&m.result.machine),
        );
        for b in bars {
            // One tab stop for the whole timeline; the arrow keys move between bars.
            let tab = if first { " tabindex=\"0\"" } else { "" };
            first = false;
            // The name is for the eye; the tooltip and the step table say it in full.
            let label = if b.width / span >= LABEL_WIDTH {
                format!("<span aria-hidden=\"true\">{}</span>", esc(&b.label))
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "<i class=\"{}\" style=\"left:{}%;width:{}%\"{tab}>{label}</i>",
                b.class,
                pct(b.start, span),
                pct(b.width, span)
            );
        }
        out.push_str("</div></div>\n");
    }
    out.push_str("</div>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_short() {
        assert_eq!(pct(0.0, 10.0), "0");
        assert_eq!(pct(5.0, 10.0), "50");
        assert_eq!(pct(1.0, 8.0), "12.5");
        assert_eq!(pct(7.0, 10_000.0), ".07");
        assert_eq!(pct(20.0, 10.0), "100");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(8000.0), 1000.0);
        assert_eq!(tick_step(12_000.0), 2000.0);
        assert_eq!(tick_step(30.0), 5.0);
        assert_eq!(tick_step(1.0), 1.0);
        assert_eq!(tick_label(1500.0, 500.0), "1.5s");
        assert_eq!(tick_label(20_000.0, 5000.0), "20s");
        assert_eq!(tick_label(5.0, 5.0), "0.005s");
    }
}
