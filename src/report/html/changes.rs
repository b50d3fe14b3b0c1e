//! The "Changes" section, first on the page: every step that changed (in a plan, that
//! will change or will run), machine by machine, with where it is written, what changed
//! and, when the run had `--diff`, the diff, open. After a deploy this is what people
//! look for first; the step tables further down have the rest.

use std::fmt::Write as _;

use super::escape::esc;
use super::{badge, every_step, look, step_title};
use crate::report::{Report, StepOrigin, StepResult, StepStatus};

/// At most this many changed steps are written out; the rest are in the step tables.
const MAX_CHANGES: usize = 200;

/// Where a step is written: `file:line:column`, and the includes and role calls that led
/// to it (`(via site.yaml:4:3 role web)`), as `--list-steps` says it.
pub(super) fn origin_text(o: &StepOrigin) -> String {
    let mut text = format!("{}:{}:{}", o.file, o.line, o.column);
    if !o.include_chain.is_empty() {
        let _ = write!(text, " (via {})", o.include_chain.join(" → "));
    }
    text
}

/// A unified diff as markup, each line marked by its first character as the step tables
/// mark it (the `+` and `-` stay: not colour alone).
pub(super) fn diff_pre(diff: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    for line in diff.lines() {
        let class = if line.starts_with("@@") {
            "hunk"
        } else if line.starts_with('+') {
            "add"
        } else if line.starts_with('-') {
            "del"
        } else {
            ""
        };
        let _ = write!(out, "<span class=\"{class}\">{}\n</span>", esc(line));
    }
    out.push_str("</pre>");
    out
}

/// One changed step: machine, step (a link to its row, with its origin), what changed.
fn row(out: &mut String, r: usize, k: usize, s: &StepResult) {
    let (class, icon) = look(s.status);
    let origin = s
        .origin
        .as_deref()
        .map(|o| format!("<div class=\"origin\">{}</div>", esc(&origin_text(o))))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<tr><td>{machine}</td><td><a href=\"#s-{r}-{k}\">{name}</a> <span class=\"kind\">{kind}</span>{origin}</td><td>{}</td><td class=\"what\">",
        badge(class, icon, s.status.word()),
        machine = esc(&s.machine),
        name = esc(&step_title(s)),
        kind = esc(s.kind.as_str()),
    );
    for c in &s.changes {
        let _ = write!(out, "<div>{}</div>", esc(c));
    }
    // A command changes by running; it says no more than that.
    if s.changes.is_empty() && s.diff.is_none() {
        let ran = if s.status == StepStatus::Changed {
            "ran"
        } else {
            "will run"
        };
        let _ = write!(out, "<div class=\"why\">{ran}</div>");
    }
    if let Some(d) = &s.diff {
        let _ = write!(
            out,
            "<details class=\"diff\" open><summary>diff</summary>{}</details>",
            diff_pre(d)
        );
    }
    out.push_str("</td></tr>\n");
}

/// The section.
pub(super) fn section(out: &mut String, report: &Report, plan: bool) {
    // A step that changed something (or, in a plan, would): its status says so.
    let all: Vec<(usize, usize, &StepResult)> = every_step(report)
        .filter(|(_, _, s)| s.status.changes())
        .collect();
    let n = all.len();
    let _ = writeln!(
        out,
        "<section id=\"changes\" aria-labelledby=\"h-changes\">\n<h2 id=\"h-changes\">Changes ({n})</h2>"
    );
    if n == 0 {
        let none = if plan {
            "No step would change anything."
        } else {
            "No step changed anything."
        };
        let _ = writeln!(out, "<p class=\"none\">{none}</p>\n</section>");
        return;
    }
    out.push_str(
        "<table class=\"changes\">\n<thead><tr><th scope=\"col\">machine</th><th scope=\"col\">step</th>\
         <th scope=\"col\">status</th><th scope=\"col\">what changed</th></tr></thead>\n<tbody>\n",
    );
    for (r, k, s) in all.iter().take(MAX_CHANGES) {
        row(out, *r, *k, s);
    }
    out.push_str("</tbody>\n</table>\n");
    if n > MAX_CHANGES {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more changed steps are in the steps of their machines, below.</p>",
            n - MAX_CHANGES
        );
    }
    out.push_str("</section>\n");
}
