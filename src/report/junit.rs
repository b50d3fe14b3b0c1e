//! `--junit PATH.xml`: one test suite per machine, one test case per step; a machine that
//! could not be reached makes each of its cases an error.

use super::{Report, StepStatus};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The JUnit XML document.
pub fn render(report: &Report) -> String {
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for m in &report.machines {
        let name = &m.result.machine;
        let mut cases = String::new();
        let (mut t, mut f, mut e, mut s) = (0, 0, 0, 0);
        if let Some(err) = &m.result.error {
            t += 1;
            e += 1;
            cases.push_str(&format!(
                "    <testcase classname=\"{n}\" name=\"machine {n} is reachable\" time=\"0.000\">\n      <error message=\"{m}\">{m}</error>\n    </testcase>\n",
                n = esc(name),
                m = esc(err)
            ));
        }
        for step in &m.steps {
            t += 1;
            let case_name = format!(
                "{:02} {}{}",
                step.index + 1,
                if step.handler { "handler " } else { "" },
                step.name
            );
            let mut body = String::new();
            match step.status {
                StepStatus::Failed => {
                    let fi = step.failure.clone().unwrap_or_default();
                    let unreachable = m.result.error.is_some();
                    let tag = if unreachable { "error" } else { "failure" };
                    if unreachable {
                        e += 1;
                    } else {
                        f += 1;
                    }
                    let mut detail = fi.message.clone();
                    if let Some(c) = &fi.command {
                        detail.push_str(&format!("\ncommand:\n{c}"));
                    }
                    if let Some(code) = fi.exit_code {
                        detail.push_str(&format!("\nexit code: {code}"));
                    }
                    if !fi.stderr_tail.is_empty() {
                        detail.push_str(&format!("\nstderr:\n{}", fi.stderr_tail));
                    }
                    body = format!(
                        "\n      <{tag} message=\"{}\">{}</{tag}>\n    ",
                        esc(&fi.message),
                        esc(&detail)
                    );
                }
                StepStatus::Skipped | StepStatus::Unknown => {
                    s += 1;
                    body = format!(
                        "\n      <skipped message=\"{}\"/>\n    ",
                        esc(step.reason.as_deref().unwrap_or(step.status.word()))
                    );
                }
                _ => {
                    if !step.changes.is_empty() || step.diff.is_some() {
                        let mut out = step.changes.join("\n");
                        if let Some(d) = &step.diff {
                            out.push('\n');
                            out.push_str(d);
                        }
                        body = format!("\n      <system-out>{}</system-out>\n    ", esc(&out));
                    }
                }
            }
            cases.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">{body}</testcase>\n",
                esc(name),
                esc(&case_name),
                secs(step.duration_ms)
            ));
        }
        tests += t;
        failures += f;
        errors += e;
        suites.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{t}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\" time=\"{}\">\n{cases}  </testsuite>\n",
            esc(name),
            secs(m.result.duration_ms)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"orbdeploy {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">\n{suites}</testsuites>\n",
        esc(&report.mode),
        secs(report.summary.duration_ms)
    )
}
