//! The live area of the progress display on a terminal: the run's bar and clock, one line
//! per running machine with its current step and how long that step has been running
//! (`slow` past [`SLOW`]), and one line for the machines not shown.
//!
//! The area is one indicatif bar whose template ends in the `{live}` key, drawn from the
//! shared [`Live`] state each time indicatif draws. A steady tick redraws it every
//! [`TICK`], so the clock and the ages move while a step runs, not only when one ends.
//! How many machine lines fit is decided at each draw from the terminal's height, so that
//! 100 machines stay a screenful.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::human::paint;

/// How often the area is redrawn: under a second, so the clock never skips one.
const TICK: Duration = Duration::from_millis(500);
/// A step running longer than this is marked `slow`.
pub(super) const SLOW: Duration = Duration::from_secs(10);
/// The fewest and the most machine lines, whatever the terminal's height.
const MIN_LINES: usize = 3;
const MAX_LINES: usize = 20;

/// A machine whose steps have started and not finished.
#[derive(Debug, Clone)]
struct Running {
    /// The step it is on (`None` until its first step starts).
    step: Option<String>,
    /// When that step started (or the machine, before its first step).
    since: Instant,
    /// Order of arrival, so that machines with steps of the same age keep their places.
    order: usize,
}

/// What the area shows, updated by the reporter as events arrive.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// Machines selected for the run.
    selected: usize,
    /// Machines that finished (or never started and were reported).
    finished: usize,
    running: BTreeMap<String, Running>,
    arrivals: usize,
    color: bool,
    /// The rolling batch running (`batch 2/3: web-3 web-4`), shown above the machines.
    batch: Option<String>,
}

impl Live {
    /// The run's machines are known.
    pub(super) fn selected(&mut self, n: usize) {
        self.selected = n;
    }

    /// A rolling batch begins (`None`: no batch is running).
    pub(super) fn batch(&mut self, line: Option<String>) {
        self.batch = line;
    }

    /// A machine starts its steps.
    pub(super) fn host_started(&mut self, machine: &str, now: Instant) {
        self.arrivals += 1;
        self.running.insert(
            machine.to_string(),
            Running {
                step: None,
                since: now,
                order: self.arrivals,
            },
        );
    }

    /// A machine starts a step.
    pub(super) fn step_started(&mut self, machine: &str, step: &str, now: Instant) {
        if let Some(r) = self.running.get_mut(machine) {
            r.step = Some(step.to_string());
            r.since = now;
        }
    }

    /// A machine is done (or was reported without starting).
    pub(super) fn host_done(&mut self, machine: &str) {
        self.running.remove(machine);
        self.finished += 1;
    }

    /// The machine lines and the line of the rest, at `now`, in at most `lines` machine
    /// lines of `width` columns. The machines whose step has run longest come first: the
    /// slow ones are the ones people look for.
    pub(super) fn render(&self, now: Instant, lines: usize, width: usize) -> Vec<String> {
        let mut running: Vec<(&String, &Running)> = self.running.iter().collect();
        running.sort_by_key(|(_, r)| (r.since, r.order));
        let waiting = self
            .selected
            .saturating_sub(self.finished + self.running.len());
        // A line for the rest takes the place of one machine line.
        let others = self.finished + waiting;
        let shown = if running.len() > lines || (running.len() == lines && others > 0) {
            lines.saturating_sub(1)
        } else {
            running.len()
        };
        let mut out = Vec::with_capacity(shown + 2);
        if let Some(b) = &self.batch {
            out.push(fit(&format!("  {b}"), width));
        }
        for (machine, r) in running.iter().take(shown) {
            let age = now.saturating_duration_since(r.since);
            let step = r.step.as_deref().unwrap_or("starting");
            let mut line = format!("  {machine}: {step} {}", clock(age));
            if age >= SLOW {
                line.push(' ');
                line.push_str(&paint(self.color, "1;33", "slow"));
            }
            out.push(fit(&line, width));
        }
        let hidden = running.len() - shown;
        if let Some(rest) = rest_line(hidden, self.finished, waiting, shown > 0) {
            out.push(fit(&rest, width));
        }
        out
    }
}

/// `… and 92 more: 80 done, 12 waiting`, or, with no machine line above it, the counts
/// alone; `None` when there is nothing to say.
fn rest_line(running: usize, done: usize, waiting: usize, after_lines: bool) -> Option<String> {
    let parts: Vec<String> = [(running, "running"), (done, "done"), (waiting, "waiting")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
    if parts.is_empty() {
        return None;
    }
    let total = running + done + waiting;
    Some(if after_lines {
        format!("  … and {total} more: {}", parts.join(", "))
    } else {
        format!("  machines: {}", parts.join(", "))
    })
}

/// A line cut to the terminal's width: a wrapped line would break the redraw.
fn fit(line: &str, width: usize) -> String {
    console::truncate_str(line, width.max(10), "…").into_owned()
}

/// A running time as a clock people read at a glance: `7s`, `2m05s`, `1h02m`.
pub(super) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// How many machine lines fit a terminal of `rows`: half of it, less the bar's line and
/// the line of the rest, so the finished steps above stay in view.
fn lines_for(rows: usize) -> usize {
    (rows / 2).saturating_sub(2).clamp(MIN_LINES, MAX_LINES)
}

/// The bar that draws the area on stderr, ticking by itself, and the state it reads.
pub(super) struct Area {
    /// The bar: its position counts finished steps.
    pub(super) bar: ProgressBar,
    state: Arc<Mutex<Live>>,
    /// The steps counted for each machine that has not started yet: the operations'
    /// count, until the machine says how many it goes through. Counting them from the
    /// start keeps the bar from looking nearly done while machines still wait.
    estimate: u64,
}

impl Area {
    /// An area for a run of `mode` (its word prefixes the bar).
    pub(super) fn new(mode: &str, color: bool) -> Area {
        let state = Arc::new(Mutex::new(Live {
            color,
            ..Live::default()
        }));
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let started = Instant::now();
        let reader = Arc::clone(&state);
        let style =
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} steps {run}{live}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ")
                .with_key(
                    "run",
                    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&clock(started.elapsed()));
                    },
                )
                .with_key(
                    "live",
                    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let (rows, cols) = console::Term::stderr().size();
                        let live = lock(&reader);
                        for line in live.render(
                            Instant::now(),
                            lines_for(usize::from(rows)),
                            usize::from(cols),
                        ) {
                            let _ = w.write_char('\n');
                            let _ = w.write_str(&line);
                        }
                    },
                );
        bar.set_style(style);
        bar.set_prefix(mode.to_string());
        bar.enable_steady_tick(TICK);
        Area {
            bar,
            state,
            estimate: 0,
        }
    }

    /// The run starts: `machines` selected, `steps` in the operations.
    pub(super) fn run_started(&mut self, machines: usize, steps: usize) {
        self.estimate = steps as u64;
        self.bar.set_length(machines as u64 * self.estimate);
        self.state().selected(machines);
    }

    /// A machine starts the `steps` it goes through.
    pub(super) fn host_started(&mut self, machine: &str, steps: usize) {
        self.recount(steps as u64);
        self.state().host_started(machine, Instant::now());
    }

    /// A machine is done; one that never `started` runs none of its estimated steps.
    pub(super) fn host_done(&mut self, machine: &str, started: bool) {
        if !started {
            self.recount(0);
        }
        self.state().host_done(machine);
    }

    /// One machine's estimate replaced by its real count.
    fn recount(&self, steps: u64) {
        let len = self.bar.length().unwrap_or(0);
        self.bar
            .set_length(len.saturating_sub(self.estimate).saturating_add(steps));
    }

    /// The state, to update it.
    pub(super) fn state(&self) -> MutexGuard<'_, Live> {
        lock(&self.state)
    }
}

/// The state even if a drawing thread panicked while holding it: it is only counts and
/// names, never half-written.
fn lock(m: &Mutex<Live>) -> MutexGuard<'_, Live> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(n: usize) -> (Live, Instant) {
        let t0 = Instant::now();
        let mut l = Live::default();
        l.selected(n);
        (l, t0)
    }

    #[test]
    fn a_running_step_shows_its_age_and_is_marked_slow_past_the_threshold() {
        let (mut l, t0) = live(2);
        l.host_started("web", t0);
        l.step_started("web", "install packages", t0);
        l.host_started("db", t0);
        l.step_started("db", "app config", t0 + Duration::from_secs(9));
        let lines = l.render(t0 + Duration::from_secs(16), 10, 80);
        assert_eq!(
            lines,
            ["  web: install packages 16s slow", "  db: app config 7s"]
        );
    }

    #[test]
    fn the_running_batch_is_shown_above_its_machines() {
        let (mut l, t0) = live(3);
        l.host_done("web-1");
        l.batch(Some("batch 2/2: web-2 web-3".into()));
        l.host_started("web-2", t0);
        l.step_started("web-2", "config", t0);
        let lines = l.render(t0 + Duration::from_secs(1), 10, 80);
        assert_eq!(
            lines,
            [
                "  batch 2/2: web-2 web-3",
                "  web-2: config 1s",
                "  … and 2 more: 1 done, 1 waiting"
            ]
        );
        l.batch(None);
        assert_eq!(l.render(t0, 10, 80).len(), 2);
    }

    #[test]
    fn a_hundred_machines_fit_in_the_lines_given_with_a_line_for_the_rest() {
        let (mut l, t0) = live(100);
        for i in 0..100 {
            let m = format!("m{i:03}");
            if i < 80 {
                l.host_started(&m, t0);
                l.host_done(&m);
            } else if i < 88 {
                l.host_started(&m, t0);
                l.step_started(&m, "sleep", t0 + Duration::from_secs(i as u64 - 80));
            }
        }
        let lines = l.render(t0 + Duration::from_secs(20), 5, 80);
        assert_eq!(
            lines,
            [
                "  m080: sleep 20s slow",
                "  m081: sleep 19s slow",
                "  m082: sleep 18s slow",
                "  m083: sleep 17s slow",
                "  … and 96 more: 4 running, 80 done, 12 waiting",
            ]
        );
    }

    #[test]
    fn all_running_machines_that_fit_are_shown_and_the_rest_counted() {
        let (mut l, t0) = live(10);
        for m in ["a", "b"] {
            l.host_started(m, t0);
            l.step_started(m, "s", t0);
        }
        l.host_started("c", t0);
        l.host_done("c");
        let lines = l.render(t0 + Duration::from_millis(1500), 5, 80);
        assert_eq!(
            lines,
            [
                "  a: s 1s",
                "  b: s 1s",
                "  … and 8 more: 1 done, 7 waiting"
            ]
        );
    }

    #[test]
    fn nothing_running_is_the_counts_alone() {
        let (mut l, t0) = live(3);
        l.host_started("a", t0);
        l.host_done("a");
        assert_eq!(l.render(t0, 5, 80), ["  machines: 1 done, 2 waiting"]);
        let (l, t0) = live(0);
        assert!(l.render(t0, 5, 80).is_empty());
    }

    #[test]
    fn long_lines_are_cut_to_the_terminal() {
        let (mut l, t0) = live(1);
        l.host_started("web", t0);
        l.step_started("web", &"x".repeat(200), t0);
        let line = &l.render(t0, 5, 40)[0];
        assert_eq!(console::measure_text_width(line), 40);
        assert!(line.ends_with('…'));
    }

    #[test]
    fn clocks_read_at_a_glance() {
        assert_eq!(clock(Duration::from_millis(999)), "0s");
        assert_eq!(clock(Duration::from_secs(59)), "59s");
        assert_eq!(clock(Duration::from_secs(125)), "2m05s");
        assert_eq!(clock(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn the_terminal_decides_how_many_lines() {
        assert_eq!(lines_for(24), 10);
        assert_eq!(lines_for(4), MIN_LINES);
        assert_eq!(lines_for(200), MAX_LINES);
    }
}
