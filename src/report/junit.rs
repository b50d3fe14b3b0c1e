//! `--junit PATH.xml`: one test suite per machine, one test case per step; a machine that
//! could not be reached makes each of its cases an error, and one whose rolling batch was
//! not started has a skipped case saying so.

use super::{JunitAs, Report, ReportMachine, StepResult};
use crate::printable::{printable, Controls};

/// Text made fit for XML 1.0: terminal colour codes dropped and any other control
/// character (most of which XML cannot carry, even escaped) shown as `?` ([`printable`]),
/// the two non-characters XML refuses shown as `?` too, and the five special characters
/// escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in printable(s, Controls::Replace('?')).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{fffe}' | '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Text made fit for XML 1.0, as this module escapes it, for the other JUnit documents
/// orbdeploy writes (`orbdeploy test`).
pub fn escape(s: &str) -> String {
    esc(s)
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// Test cases of one suite, counted by outcome.
#[derive(Default)]
struct Tally {
    tests: u32,
    failures: u32,
    errors: u32,
    skipped: u32,
}

/// The JUnit XML document.
pub fn render(report: &Report) -> String {
    let mut suites = String::new();
    let mut total = Tally::default();
    for m in &report.machines {
        let (xml, t) = suite(m);
        suites.push_str(&xml);
        total.tests += t.tests;
        total.failures += t.failures;
        total.errors += t.errors;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"orbdeploy {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">\n{suites}</testsuites>\n",
        report.mode.word(),
        total.tests,
        total.failures,
        total.errors,
        secs(report.summary.duration_ms)
    )
}

/// One machine's suite; an unreachable machine first gets a case saying so.
fn suite(m: &ReportMachine) -> (String, Tally) {
    let name = esc(&m.result.machine);
    let mut cases = String::new();
    let mut t = Tally::default();
    if let Some(err) = &m.result.error {
        // Unreachable (and what else leaves an error) is an error case; a machine that
        // was not started is a skipped one (its status's row says which).
        let (what, junit) = m
            .result
            .status
            .traits()
            .never_ran
            .unwrap_or(("is reachable", JunitAs::Failure));
        t.tests += 1;
        let body = if junit == JunitAs::Skipped {
            t.skipped += 1;
            format!("<skipped message=\"{}\"/>", esc(err))
        } else {
            t.errors += 1;
            format!("<error message=\"{m}\">{m}</error>", m = esc(err))
        };
        cases.push_str(&format!(
            "    <testcase classname=\"{name}\" name=\"machine {name} {what}\" time=\"0.000\">\n      {body}\n    </testcase>\n"
        ));
    }
    for step in &m.steps {
        t.tests += 1;
        let body = match step.status.traits().junit {
            JunitAs::Failure if m.result.error.is_some() => {
                t.errors += 1;
                failure("error", step)
            }
            JunitAs::Failure => {
                t.failures += 1;
                failure("failure", step)
            }
            JunitAs::Skipped => {
                t.skipped += 1;
                format!(
                    "\n      <skipped message=\"{}\"/>\n    ",
                    esc(step.reason.as_deref().unwrap_or(step.status.word()))
                )
            }
            JunitAs::Passed => output(step),
            // Passed, since the run goes on as if it had; the failure is its output, so
            // that a rescue never hides what went wrong.
            JunitAs::Rescued => format!(
                "\n      <system-out>{}</system-out>\n    ",
                esc(&format!("{}: {}", step.status.word(), detail(step)))
            ),
        };
        cases.push_str(&format!(
            "    <testcase classname=\"{name}\" name=\"{:02} {}{}\" time=\"{}\">{body}</testcase>\n",
            step.index + 1,
            if step.handler { "handler " } else { "" },
            esc(&step.name),
            secs(step.duration_ms)
        ));
    }
    let xml = format!(
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">\n{cases}  </testsuite>\n",
        t.tests,
        t.failures,
        t.errors,
        t.skipped,
        secs(m.result.duration_ms)
    );
    (xml, t)
}

/// A `<failure>` or `<error>` with the message, and as its text the failure in full (as
/// the terminal shows it): message, command, exit code, last lines of stdout and stderr.
fn failure(tag: &str, step: &StepResult) -> String {
    let message = step
        .failure
        .as_ref()
        .map(|f| f.message.as_str())
        .unwrap_or_default();
    format!(
        "\n      <{tag} message=\"{}\">{}</{tag}>\n    ",
        esc(message),
        esc(&detail(step))
    )
}

/// A failure in full: message, command, exit code, last lines of stdout and stderr.
fn detail(step: &StepResult) -> String {
    let fi = step.failure.clone().unwrap_or_default();
    let mut detail = fi.message.clone();
    if let Some(c) = &fi.command {
        detail.push_str(&format!("\ncommand:\n{}", c.trim_end_matches('\n')));
    }
    if let Some(code) = fi.exit_code {
        detail.push_str(&format!("\nexit code: {code}"));
    }
    for (name, tail) in [("stdout", &fi.stdout_tail), ("stderr", &fi.stderr_tail)] {
        if !tail.is_empty() {
            detail.push_str(&format!("\n{name} (last lines):\n{tail}"));
        }
    }
    detail
}

/// What a step changed (or would change), with its diff, as `<system-out>`.
fn output(step: &StepResult) -> String {
    if step.changes.is_empty() && step.diff.is_none() {
        return String::new();
    }
    let mut out = step.changes.join("\n");
    if let Some(d) = &step.diff {
        out.push('\n');
        out.push_str(d);
    }
    format!("\n      <system-out>{}</system-out>\n    ", esc(&out))
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn esc_leaves_only_what_xml_can_carry() {
        assert_eq!(
            esc("<&> \"q\" 'a' \x1b[31mred\x1b[0m \x01\x7f\u{9b}\u{fffe}\u{ffff}\n\ttab"),
            "&lt;&amp;&gt; &quot;q&quot; &apos;a&apos; red ?????\n\ttab"
        );
    }
}
