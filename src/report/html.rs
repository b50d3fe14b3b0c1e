//! `--report-html PATH`: the run as one self-contained HTML page — a header (inventory,
//! command line, start, duration, exit code, counts), the steps that changed with what
//! they changed (and their diffs with `--diff`), the failures in full with where each
//! step is written, a timeline of every machine's phase 1 and steps, a sortable table of
//! machines, the slowest steps, and every step with what it changed.
//!
//! Nothing on the page is fetched: the CSS and the script are inline (`html/report.css`,
//! `html/report.js`), icons are text, and a Content-Security-Policy allows no request at
//! all and no script but the page's own (by its SHA-256). A string that slipped past
//! escaping could then neither run nor reach the network; the escaping itself is
//! `html/escape.rs`'s, and every string from the run goes through it.
//!
//! The size stays small at hundreds of machines because each step's detail (name,
//! changes, diff, failure) is written once, in the JSON data block; the script builds
//! the tooltips and a machine's step table when it is opened. The timeline bars and
//! everything else are markup, drawn before the script runs. Secrets are already `***`
//! in the [`Report`] (the [`super::Sender`] masks every event); the command line is
//! masked by [`command_line`].

mod changes;
mod data;
mod escape;
mod timeline;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::human::{host_word, secs};
use super::{ActionKind, ActionStatus, Masker, Report, ReportMachine, StepResult, StepStatus};
use escape::esc;

/// The page's style sheet.
const CSS: &str = include_str!("html/report.css");
/// The page's script: tooltips, keyboard moves on the timeline, step tables, sorting.
const JS: &str = include_str!("html/report.js");

/// At most this many failures are written out in full; the rest are in the step tables.
const MAX_FAILURES: usize = 100;
/// How many of the slowest steps are listed.
const SLOWEST: usize = 10;
/// A step shorter than this is not among the slowest: it would read `0.00s`.
const SLOW_MS: u64 = 10;

/// What the events told the reporter only by when they arrived, on the run's clock
/// (milliseconds since the reporter started, just before `run_started`).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// When each machine's phase-1 action was reported. Phase 1 reports every machine
    /// once all are done, so this is the end of phase 1 for each.
    pub phase1_end_ms: BTreeMap<String, u64>,
    /// When the summary was sent: the end of the run.
    pub end_ms: u64,
}

/// What the page shows besides the [`Report`].
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The command line, secrets masked ([`command_line`]).
    pub command: String,
    /// When things happened.
    pub clock: Clock,
}

/// The command line as a shell would take it back, with the program's file name first
/// (not the path it was started by) and every secret `***`: each word is masked before
/// quoting, so that a secret a quote would split is still found.
pub fn command_line<I, S>(args: I, masker: &Masker) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut words: Vec<String> = Vec::new();
    for (i, a) in args.into_iter().enumerate() {
        let a = a.as_ref();
        let word = if i == 0 {
            std::path::Path::new(a)
                .file_name()
                .unwrap_or(a)
                .to_string_lossy()
                .into_owned()
        } else {
            a.to_string_lossy().into_owned()
        };
        words.push(masker.text(&word));
    }
    masker.text(&crate::quote::join(&words))
}

/// The class a status's bar, badge and row carry, and its icon: the word is
/// [`StepStatus::word`]. Status is never shown by colour alone: badges carry the icon and
/// the word, bars a pattern of their own and a tooltip.
fn look(s: StepStatus) -> (&'static str, &'static str) {
    let t = s.traits();
    (t.html_class, t.icon)
}

/// The statuses the header and the legend list: those the mode produces, and any other
/// that occurred.
fn shown(plan: bool, c: &super::Counts) -> Vec<StepStatus> {
    StepStatus::SHOWN
        .into_iter()
        .filter(|s| {
            let (in_plan, in_apply) = s.traits().html_usual;
            (if plan { in_plan } else { in_apply }) || c.get(*s) > 0
        })
        .collect()
}

/// A machine's class, icon and word (a plan's machine "will change" or "will run").
fn host_look(plan: bool, m: &ReportMachine) -> (&'static str, &'static str, &'static str) {
    let word = host_word(plan, m.result.status, &m.result.counts);
    let (class, icon) = match word {
        "will change" => ("wc", "◐"),
        "will run" => ("wr", "▶"),
        _ => m.result.status.traits().html,
    };
    (class, icon, word)
}

/// A status badge: icon and word, in the status's colours.
fn badge(class: &str, icon: &str, word: &str) -> String {
    format!(
        "<span class=\"st {class}\"><span aria-hidden=\"true\">{icon}</span> {}</span>",
        esc(word)
    )
}

/// What an exit code means (README, "Exit codes").
fn exit_meaning(code: i32, plan: bool) -> &'static str {
    match code {
        crate::exit::OK if plan => "no step failed (with --exit-code: and no change is pending)",
        crate::exit::OK => "every step on every selected machine succeeded",
        crate::exit::FAILED => {
            "at least one step failed on at least one machine (or a machine could not be \
             created or started, or drifted, or was not started after a failed batch)"
        }
        crate::exit::USAGE => "usage or configuration error; nothing was run",
        crate::exit::UNAVAILABLE => {
            "orbctl or a machine is unavailable, and no step failed elsewhere"
        }
        crate::exit::CHANGES_PENDING => "plan --exit-code: changes are pending",
        crate::exit::PLAN_REFUSED => {
            "apply --plan: a machine's facts differ from the saved plan's, so it was refused \
             before any change, and no step failed elsewhere"
        }
        crate::exit::INTERRUPTED => {
            "interrupted (Ctrl-C or SIGTERM): children were stopped, the reports written"
        }
        _ => "not one of orbdeploy's exit codes",
    }
}

/// A Unix time as `2026-05-01 12:00:00 UTC` and as an RFC 3339 `datetime` attribute (the
/// saved plan's `plan --show` prints the first).
pub(crate) fn utc(unix: u64) -> (String, String) {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    // Howard Hinnant's days-to-civil algorithm: no date crate for one line of the page.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02} UTC"),
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
    )
}

/// The whole page.
pub fn render(report: &Report, page: &Page) -> String {
    let plan = report.mode.is_plan();
    let steps: usize = report.machines.iter().map(|m| m.steps.len()).sum();
    let mut out = String::with_capacity(64 * 1024 + steps * 200);
    head(&mut out, report);
    out.push_str("<body>\n<a class=\"skip\" href=\"#changes\">Skip to the changes</a>\n");
    header(&mut out, report, page, plan);
    out.push_str("<main>\n");
    changes::section(&mut out, report, plan);
    failures(&mut out, report);
    batches(&mut out, report);
    timeline::section(&mut out, report, &page.clock, plan);
    machines(&mut out, report, plan);
    slowest(&mut out, report);
    step_lists(&mut out, report, plan);
    out.push_str("</main>\n");
    out.push_str("<div id=\"tip\" role=\"tooltip\" hidden></div>\n");
    out.push_str("<script type=\"application/json\" id=\"od-data\">");
    out.push_str(&escape::json_script(&data::value(report, &page.clock)));
    out.push_str("</script>\n<script>");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// The document's head: the policy that keeps the page off the network, and the style.
fn head(out: &mut String, report: &Report) {
    let hash = escape::base64(&Sha256::digest(JS.as_bytes()));
    let verdict = super::summary::verdict(report.mode.is_plan(), &report.summary);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\" data-mode=\"{mode}\">\n<head>\n\
         <meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         script-src 'sha256-{hash}'; style-src 'unsafe-inline'; img-src data:; \
         base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>orbdeploy {mode} {inv}: {verdict} (exit {code})</title>\n\
         <style>{CSS}</style>\n</head>\n",
        mode = report.mode.word(),
        inv = esc(&report.inventory),
        code = report.summary.exit_code,
    );
}

/// Inventory, command line, start, duration, exit code and its meaning, counts.
fn header(out: &mut String, report: &Report, page: &Page, plan: bool) {
    let sum = &report.summary;
    let verdict = super::summary::verdict(plan, sum);
    let (vclass, vicon) = match verdict {
        "done" | "no changes pending" => ("ok", "✓"),
        "changes pending" => ("wc", "◐"),
        "interrupted" => ("sk", "■"),
        _ => ("fa", "✗"),
    };
    let (started, datetime) = utc(report.started_unix);
    // By the words the machines table uses (in a plan, "will change" rather than the
    // summary's "changed").
    let mut by_word: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &report.machines {
        *by_word.entry(host_look(plan, m).2).or_default() += 1;
    }
    let machines: Vec<String> = by_word.iter().map(|(w, n)| format!("{n} {w}")).collect();
    let _ = write!(
        out,
        "<header>\n<h1>orbdeploy {mode} {badge}</h1>\n<dl class=\"meta\">\n\
         <dt>Inventory</dt><dd><code>{inv}</code></dd>\n\
         <dt>Command</dt><dd><code>{cmd}</code></dd>\n\
         <dt>Started</dt><dd><time datetime=\"{datetime}\">{started}</time></dd>\n\
         <dt>Duration</dt><dd><span class=\"dur\">{dur}</span></dd>\n\
         <dt>Exit code</dt><dd><b class=\"code\">{code}</b> — {meaning}</dd>\n\
         <dt>Machines</dt><dd>{n}{list}</dd>\n\
         <dt>orbdeploy</dt><dd class=\"version\">{version}</dd>\n</dl>\n",
        mode = report.mode.word(),
        badge = badge(vclass, vicon, verdict),
        inv = esc(&report.inventory),
        cmd = esc(&page.command),
        dur = secs(sum.duration_ms),
        code = sum.exit_code,
        meaning = exit_meaning(sum.exit_code, plan),
        n = report.machines.len(),
        list = if machines.is_empty() {
            String::new()
        } else {
            format!(" ({})", machines.join(", "))
        },
        version = esc(&report.orbdeploy_version),
    );
    out.push_str("<ul class=\"counts\" aria-label=\"steps by status\">\n");
    for s in shown(plan, &sum.counts) {
        let (class, icon) = look(s);
        let _ = writeln!(
            out,
            "<li class=\"st {class}\"><span aria-hidden=\"true\">{icon}</span> <b>{}</b> {}</li>",
            sum.counts.get(s),
            s.word()
        );
    }
    out.push_str("</ul>\n</header>\n");
}

/// A step's name as the page shows it: `handler ` before a handler's name.
fn step_title(s: &StepResult) -> String {
    if s.handler {
        format!("handler {}", s.name)
    } else {
        s.name.clone()
    }
}

/// The rolling batches (`serial`), in order, each with its machines and whether it was
/// started; nothing without batches.
fn batches(out: &mut String, report: &Report) {
    if report.batches.is_empty() {
        return;
    }
    out.push_str("<section id=\"batches\" aria-labelledby=\"h-batches\">\n<h2 id=\"h-batches\">Batches</h2>\n<ol class=\"batches\">\n");
    for b in &report.batches {
        let status = if b.started {
            String::new()
        } else {
            let t = super::HostStatus::NotStarted.traits();
            format!(" {}", badge(t.html.0, t.html.1, t.word))
        };
        let _ = writeln!(out, "<li>{}{status}</li>", esc(&b.line()));
    }
    out.push_str("</ol>\n</section>\n");
}

/// The failures in full, open: unreachable machines, then failed, ignored and rescued
/// steps.
fn failures(out: &mut String, report: &Report) {
    let mut items: Vec<String> = Vec::new();
    for (r, m) in report.machines.iter().enumerate() {
        if let Some(err) = &m.result.error {
            let t = m.result.status.traits();
            items.push(format!(
                "<details class=\"failure\" open>\n<summary>{} <b>{}</b> — {}, {} not run</summary>\n<pre class=\"msg\">{}</pre>\n</details>\n",
                badge(t.html.0, t.html.1, t.word),
                esc(&m.result.machine),
                t.word,
                plural(m.steps.len(), "step"),
                esc(err)
            ));
            continue;
        }
        for (k, s) in m.steps.iter().enumerate() {
            if matches!(
                s.status,
                StepStatus::Failed | StepStatus::Ignored | StepStatus::Rescued
            ) {
                items.push(failure(r, k, s));
            }
        }
    }
    let n = items.len();
    let _ = writeln!(
        out,
        "<section id=\"failures\" aria-labelledby=\"h-failures\">\n<h2 id=\"h-failures\">Failures ({n})</h2>"
    );
    if n == 0 {
        out.push_str("<p class=\"none\">✓ No step failed and every machine was reached.</p>\n");
    }
    for item in items.iter().take(MAX_FAILURES) {
        out.push_str(item);
    }
    if n > MAX_FAILURES {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more failures are in the steps of their machines, below.</p>",
            n - MAX_FAILURES
        );
    }
    out.push_str("</section>\n");
}

/// `n thing` or `n things`.
fn plural(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// One failed step, open: what went wrong, the command, its exit code, the last lines of
/// its stdout and stderr.
fn failure(r: usize, k: usize, s: &StepResult) -> String {
    let (class, icon) = look(s.status);
    let mut out = format!(
        "<details class=\"failure\" open>\n<summary>{} <b>{}</b> — step <a href=\"#s-{r}-{k}\">{}</a> ({}){}</summary>\n",
        badge(class, icon, s.status.word()),
        esc(&s.machine),
        esc(&step_title(s)),
        esc(s.kind.as_str()),
        s.origin
            .as_deref()
            .map(|o| format!(" at <code class=\"origin\">{}</code>", esc(&changes::origin_text(o))))
            .unwrap_or_default()
    );
    let Some(f) = &s.failure else {
        out.push_str("</details>\n");
        return out;
    };
    let _ = writeln!(out, "<pre class=\"msg\">{}</pre>", esc(&f.message));
    if let Some(c) = &f.command {
        let _ = writeln!(out, "<h4>command</h4>\n<pre class=\"cmd\">{}</pre>", esc(c));
    }
    if let Some(code) = f.exit_code {
        let _ = writeln!(out, "<p>exit code <b class=\"code\">{code}</b></p>");
    }
    for (name, tail) in [("stdout", &f.stdout_tail), ("stderr", &f.stderr_tail)] {
        if !tail.is_empty() {
            let _ = writeln!(
                out,
                "<h4>{name} (last lines)</h4>\n<pre class=\"{name}\">{}</pre>",
                esc(tail)
            );
        }
    }
    out.push_str("</details>\n");
    out
}

/// A machine's phase-1 action in words, or `—` when there was none to take.
fn action_words(report: &Report, machine: &str) -> String {
    let Some(a) = report.machine_actions.iter().find(|a| a.machine == machine) else {
        return "—".into();
    };
    match (a.status, a.action) {
        (_, ActionKind::Keep) => "—".into(),
        (ActionStatus::Failed, action) if action.is_condition() => action.word().into(),
        (ActionStatus::Failed, action) => format!("{} FAILED", action.word()),
        (ActionStatus::Planned, action) => format!("will be {}", action.done()),
        (_, action) => action.done().into(),
    }
}

/// A header cell the script can sort by.
fn sort_th(label: &str, numeric: bool) -> String {
    format!(
        "<th scope=\"col\" data-sort=\"{}\"><button type=\"button\">{label}</button></th>",
        if numeric { "n" } else { "s" }
    )
}

/// The machines × status counts, sortable by any column.
fn machines(out: &mut String, report: &Report, plan: bool) {
    // The summary table's columns, in its order.
    let cols: Vec<StepStatus> = StepStatus::columns(plan)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    out.push_str(
        "<section id=\"machines\" aria-labelledby=\"h-machines\">\n<h2 id=\"h-machines\">Machines</h2>\n\
         <table class=\"sortable\">\n<thead><tr>",
    );
    out.push_str(&sort_th("machine", false));
    out.push_str(&sort_th("status", false));
    out.push_str(&sort_th("phase 1", false));
    for s in &cols {
        out.push_str(&sort_th(s.word(), true));
    }
    out.push_str(&sort_th("steps", true));
    out.push_str(&sort_th("time", true));
    out.push_str("</tr></thead>\n<tbody>\n");
    for (r, m) in report.machines.iter().enumerate() {
        let (class, icon, word) = host_look(plan, m);
        let _ = write!(
            out,
            "<tr><th scope=\"row\" data-v=\"{name}\"><a href=\"#m-{r}\">{name}</a></th><td data-v=\"{word}\">{}</td><td>{}</td>",
            badge(class, icon, word),
            esc(&action_words(report, &m.result.machine)),
            name = esc(&m.result.machine),
        );
        for s in &cols {
            let n = m.result.counts.get(*s);
            let _ = write!(out, "<td class=\"num\" data-v=\"{n}\">{n}</td>");
        }
        let _ = writeln!(
            out,
            "<td class=\"num\" data-v=\"{n}\">{n}</td><td class=\"num\" data-v=\"{ms}\">{}</td></tr>",
            secs(m.result.duration_ms),
            n = m.steps.len(),
            ms = m.result.duration_ms,
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// Every step of the report with its machine's place and its own (`#s-R-K` on the page).
pub(super) fn every_step(report: &Report) -> impl Iterator<Item = (usize, usize, &StepResult)> {
    report
        .machines
        .iter()
        .enumerate()
        .flat_map(|(r, m)| m.steps.iter().enumerate().map(move |(k, s)| (r, k, s)))
}

/// The slowest steps of the run, slowest first.
fn slowest(out: &mut String, report: &Report) {
    let mut all: Vec<(usize, usize, &StepResult)> = every_step(report)
        .filter(|(_, _, s)| s.duration_ms >= SLOW_MS)
        .collect();
    all.sort_by_key(|(r, k, s)| (std::cmp::Reverse(s.duration_ms), *r, *k));
    out.push_str(
        "<section id=\"slowest\" aria-labelledby=\"h-slowest\">\n<h2 id=\"h-slowest\">Slowest steps</h2>\n",
    );
    if all.is_empty() {
        out.push_str("<p class=\"none\">No step took 0.01s or more.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table>\n<thead><tr><th scope=\"col\">time</th><th scope=\"col\">machine</th>\
         <th scope=\"col\">step</th><th scope=\"col\">kind</th><th scope=\"col\">status</th></tr></thead>\n<tbody>\n",
    );
    for (r, k, s) in all.into_iter().take(SLOWEST) {
        let (class, icon) = look(s.status);
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td><a href=\"#s-{r}-{k}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            secs(s.duration_ms),
            esc(&s.machine),
            esc(&step_title(s)),
            esc(s.kind.as_str()),
            badge(class, icon, s.status.word())
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// One closed section per machine; the script fills in its steps when it is opened.
fn step_lists(out: &mut String, report: &Report, plan: bool) {
    out.push_str(
        "<section id=\"steps\" aria-labelledby=\"h-steps\">\n<h2 id=\"h-steps\">Steps</h2>\n\
         <noscript><p class=\"note\">The step tables are built by the page's script; \
         the failures above are complete without it.</p></noscript>\n",
    );
    for (r, m) in report.machines.iter().enumerate() {
        let (class, icon, word) = host_look(plan, m);
        let mut counts: Vec<String> = Vec::new();
        for s in StepStatus::SHOWN {
            let n = m.result.counts.get(s);
            if n > 0 {
                counts.push(format!("{n} {}", s.word()));
            }
        }
        let _ = writeln!(
            out,
            "<details class=\"machine\" id=\"m-{r}\" data-m=\"{r}\">\n<summary>{} <b>{}</b> — {}{} in {}</summary>\n<div class=\"steps\"></div>\n</details>",
            badge(class, icon, word),
            esc(&m.result.machine),
            plural(m.steps.len(), "step"),
            if counts.is_empty() {
                String::new()
            } else {
                format!(": {}", counts.join(", "))
            },
            secs(m.result.duration_ms),
        );
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests;
