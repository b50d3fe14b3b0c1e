//! `orbdeploy report merge A.json B.json …`: the reports of a run's shards (`--shard K/N`)
//! made into one ([`crate::report::merge`]), written as JSON, JUnit and HTML like a run's,
//! ending with the exit code the whole run would have had.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{ConfigError, Outcome, RunEnd};
use crate::report::{self, html, junit, Report};

/// `orbdeploy report merge`'s inputs and outputs.
#[derive(Debug, Clone)]
pub struct MergeConfig {
    /// The shards' `--report` documents.
    pub reports: Vec<PathBuf>,
    /// Write the merged JSON report here.
    pub out: Option<PathBuf>,
    /// Write the merged JUnit report here.
    pub junit: Option<PathBuf>,
    /// Write the merged HTML report here.
    pub report_html: Option<PathBuf>,
    /// The command line (the HTML report shows it).
    pub command_line: Vec<std::ffi::OsString>,
}

/// Merge, write what was asked, print one line, and end with the merged run's code.
pub fn merge(config: &MergeConfig) -> Result<()> {
    let mut reports = Vec::new();
    for path in &config.reports {
        reports.push((path.display().to_string(), read(path)?));
    }
    let merged = report::merge::merge(reports).map_err(|e| ConfigError::plain(e.to_string()))?;
    if let Some(path) = &config.out {
        let text = serde_json::to_string_pretty(&merged)?;
        report::write_atomic(path, text.as_bytes())?;
    }
    if let Some(path) = &config.junit {
        report::write_atomic(path, junit::render(&merged).as_bytes())?;
    }
    if let Some(path) = &config.report_html {
        let page = html::Page {
            command: html::command_line(&config.command_line, &report::Masker::default()),
            clock: html::Clock {
                end_ms: merged.summary.duration_ms,
                ..html::Clock::default()
            },
        };
        report::write_atomic(path, html::render(&merged, &page).as_bytes())?;
    }
    println!("{}", one_line(&config.reports, &merged));
    match end_of(merged.summary.exit_code) {
        RunEnd::Success => Ok(()),
        end => Err(Outcome::Reported(end).into()),
    }
}

/// `merged 3 reports (apply of inv.yaml): 7 machines, 5 ok, 1 changed, 1 failed; exit code 1`.
fn one_line(paths: &[PathBuf], merged: &Report) -> String {
    let total: u32 = merged.summary.machines.values().sum();
    let per: Vec<String> = merged
        .summary
        .machines
        .iter()
        .map(|(word, n)| format!("{n} {word}"))
        .collect();
    let per = if per.is_empty() {
        String::new()
    } else {
        format!(", {}", per.join(", "))
    };
    format!(
        "merged {} report(s) ({} of {}): {total} machine(s){per}; exit code {}",
        paths.len(),
        merged.mode.word(),
        merged.inventory,
        merged.summary.exit_code
    )
}

/// The run end the merged exit code stands for (the merge accepts only codes a run ends
/// with, so the fallback is never taken).
fn end_of(code: i32) -> RunEnd {
    report::merge::end_of(code).unwrap_or(RunEnd::Failed)
}

/// One shard's report; a file that is not one is exit 2, naming it.
fn read(path: &Path) -> Result<Report, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::in_file(path, format!("cannot read the report: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        ConfigError::at(
            path,
            e.line() as u64,
            e.column() as u64,
            format!("not an orbdeploy report (docs/report-schema.json): {e}"),
        )
    })
}
