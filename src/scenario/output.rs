//! What `orbdeploy test` shows: each phase as it ends, per platform; then a summary table
//! (scenario, platform, converge, idempotence, verify, time), the machines kept and how to
//! reach them, and one closing line. `--junit` gets one test case per scenario, platform
//! and phase.

use std::io::Write;
use std::path::Path;

use crate::load::scenario::Scenario;

use super::phases::{Phase, Verdict};
use super::sequence::PlatformRun;

/// A scenario's platforms after its run.
pub struct ScenarioRun {
    /// The scenario's name.
    pub name: String,
    /// Its platforms.
    pub platforms: Vec<PlatformRun>,
}

/// The human output, on stdout, written as the run goes.
#[derive(Default)]
pub struct Output {
    /// Width of the platform column of the current scenario.
    width: usize,
}

fn secs(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

impl Output {
    /// A scenario starts.
    pub fn scenario(&mut self, s: &Scenario, runs: &[PlatformRun]) {
        self.width = runs.iter().map(|r| r.platform.len()).max().unwrap_or(8);
        let names: Vec<&str> = runs.iter().map(|r| r.platform.as_str()).collect();
        print(&format!(
            "scenario {} ({}): {}\n",
            s.name,
            s.path.display(),
            names.join(", ")
        ));
    }

    /// `phase` ended on every platform that reached it.
    pub fn phase(&mut self, phase: Phase, runs: &[PlatformRun]) {
        let mut text = String::new();
        for r in runs {
            let Some(p) = r.phase(phase) else { continue };
            text.push_str(&format!(
                "  {:<w$}  {:<11}  {:<7}  {:>7}  {}\n",
                r.platform,
                phase.word(),
                p.verdict.word(),
                secs(p.ms),
                p.note,
                w = self.width
            ));
            for d in &p.details {
                text.push_str(&format!("      {d}\n"));
            }
        }
        print(&text);
    }

    /// The table of every scenario and platform, the kept machines, the closing line.
    pub fn summary(&self, all: &[ScenarioRun], kept_inventory: Option<&Path>) {
        let mut rows = vec![[
            "scenario".to_string(),
            "platform".into(),
            "converge".into(),
            "idempotence".into(),
            "verify".into(),
            "time".into(),
        ]];
        for s in all {
            for r in &s.platforms {
                let word = |ph| r.phase(ph).map_or("-", |p| p.verdict.word()).to_string();
                rows.push([
                    s.name.clone(),
                    r.platform.clone(),
                    word(Phase::Converge),
                    word(Phase::Idempotence),
                    word(Phase::Verify),
                    secs(r.ms()),
                ]);
            }
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let mut text = String::from("\nSummary:\n");
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            text.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
        }
        text.push_str(&kept(all, kept_inventory));
        text.push_str(&closing(all));
        print(&text);
    }
}

/// How to reach the machines that were kept.
fn kept(all: &[ScenarioRun], inventory: Option<&Path>) -> String {
    let machines: Vec<&PlatformRun> = all
        .iter()
        .flat_map(|s| &s.platforms)
        .filter(|r| r.kept)
        .collect();
    if machines.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nKept (remove them with `orbdeploy test --cleanup`):\n");
    for r in machines {
        text.push_str(&format!(
            "  {}\n    orbctl shell -m {}\n",
            r.machine, r.machine
        ));
        if let Some(inv) = inventory {
            text.push_str(&format!(
                "    orbdeploy exec {} --limit {} -- CMD\n",
                inv.display(),
                r.machine
            ));
        }
    }
    text
}

/// `orbdeploy test: 2 of 2 platforms passed`, or how many failed, with the exit code.
fn closing(all: &[ScenarioRun]) -> String {
    let runs: Vec<&PlatformRun> = all.iter().flat_map(|s| &s.platforms).collect();
    let passed = runs.iter().filter(|r| r.passed()).count();
    let total = runs.len();
    let unit = if total == 1 { "platform" } else { "platforms" };
    if crate::interrupt::requested() {
        format!(
            "\norbdeploy test: interrupted, {passed} of {total} {unit} passed (exit code 130)\n"
        )
    } else if passed == total {
        format!("\norbdeploy test: {passed} of {total} {unit} passed\n")
    } else {
        let failed = total - passed;
        let bad = runs.iter().flat_map(|r| &r.phases).any(|p| p.bad_input);
        let code = if bad { 2 } else { 1 };
        format!("\norbdeploy test: {failed} of {total} {unit} failed (exit code {code})\n")
    }
}

/// The JUnit document: a suite per scenario, a case per platform and phase.
pub fn junit(all: &[ScenarioRun]) -> String {
    let esc = crate::report::junit::escape;
    let mut suites = String::new();
    let (mut tests, mut failures) = (0, 0);
    let mut total_ms = 0;
    for s in all {
        let mut cases = String::new();
        let (mut t, mut f, mut skipped, mut ms) = (0, 0, 0, 0);
        for r in &s.platforms {
            for p in &r.phases {
                t += 1;
                ms += p.ms;
                let name = esc(&format!("{}: {}", r.platform, p.phase.word()));
                let class = esc(&format!("{}.{}", s.name, r.platform));
                let time = format!("{:.3}", p.ms as f64 / 1000.0);
                let body = match p.verdict {
                    Verdict::Passed => String::new(),
                    Verdict::Skipped => {
                        skipped += 1;
                        format!("      <skipped message=\"{}\"/>\n", esc(&p.note))
                    }
                    Verdict::Failed => {
                        f += 1;
                        format!(
                            "      <failure message=\"{}\">{}</failure>\n",
                            esc(&p.note),
                            esc(&p.details.join("\n"))
                        )
                    }
                };
                cases.push_str(&format!(
                    "    <testcase classname=\"{class}\" name=\"{name}\" time=\"{time}\">\n{body}    </testcase>\n"
                ));
            }
        }
        suites.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{t}\" failures=\"{f}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">\n{cases}  </testsuite>\n",
            esc(&s.name),
            ms as f64 / 1000.0
        ));
        tests += t;
        failures += f;
        total_ms += ms;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"orbdeploy test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">\n{suites}</testsuites>\n",
        total_ms as f64 / 1000.0
    )
}
