//! `orbdeploy report merge`: the `--report` documents of the shards of one run (`--shard
//! K/N` on the jobs of a CI matrix) made into the one report an unsharded run would have
//! written, so that `--junit`, `--report-html` and `apply --rerun-failed` see the whole
//! fleet.
//!
//! The shards ran at the same time on different controllers, so the merged run's duration
//! is the longest shard's, and each step keeps the start time its shard gave it.

use std::collections::BTreeMap;

use super::{Counts, Report, REPORT_VERSION};
use crate::error::RunEnd;

/// Why reports cannot be merged (each a usage error: nothing is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no report to merge")]
    Empty,
    /// Not a report of this version, or not one with the inventory's identity.
    #[error("{name}: {why}")]
    Unusable {
        /// The report, as named on the command line.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// Two reports of different inventories, or of a plan and an apply.
    #[error("{first} and {second} are not shards of one run: {why}")]
    Different {
        /// The first report.
        first: String,
        /// The report that differs from it.
        second: String,
        /// What differs.
        why: String,
    },
    /// A machine in two reports: shards never share a machine.
    #[error("machine `{machine}` is in both {first} and {second}: shards of one run never share a machine (was one report given twice, or were the shards made with different --shard N?)")]
    Overlap {
        /// The machine.
        machine: String,
        /// The first report holding it.
        first: String,
        /// The second one.
        second: String,
    },
}

/// Merge `reports` (each with the name the user gave it, for messages) into one.
pub fn merge(reports: Vec<(String, Report)>) -> Result<Report, MergeError> {
    let mut ends = Vec::new();
    for (name, r) in &reports {
        ends.push(check_one(name, r)?);
    }
    let (first_name, first) = reports.first().ok_or(MergeError::Empty)?;
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    for (name, r) in &reports {
        check_same(first_name, first, name, r)?;
        for m in &r.machines {
            if let Some(before) = owner.insert(m.result.machine.clone(), name) {
                return Err(MergeError::Overlap {
                    machine: m.result.machine.clone(),
                    first: before.to_string(),
                    second: name.clone(),
                });
            }
        }
    }
    let mut merged = Report::new(
        first.mode,
        first.inventory.clone(),
        None,
        reports
            .iter()
            .map(|(_, r)| r.started_unix)
            .min()
            .unwrap_or(0),
    );
    merged.inventory_path = first.inventory_path.clone();
    merged.inventory_sha256 = first.inventory_sha256.clone();
    let mut counts = Counts::default();
    let mut machines: BTreeMap<String, u32> = BTreeMap::new();
    for (_, r) in reports {
        counts.merge(&r.summary.counts);
        for (word, n) in &r.summary.machines {
            *machines.entry(word.clone()).or_insert(0) += n;
        }
        merged.summary.interrupted |= r.summary.interrupted;
        merged.summary.duration_ms = merged.summary.duration_ms.max(r.summary.duration_ms);
        merged.machine_actions.extend(r.machine_actions);
        merged.machines.extend(r.machines);
    }
    merged
        .machines
        .sort_by(|a, b| a.result.machine.cmp(&b.result.machine));
    merged
        .machine_actions
        .sort_by(|a, b| a.machine.cmp(&b.machine));
    merged.summary.counts = counts;
    merged.summary.machines = machines;
    merged.summary.exit_code = worst(&ends).exit_code();
    Ok(merged)
}

/// What one report must be to be merged: this version's document, with the inventory's
/// identity (which the shards are compared by), ended with a known code.
fn check_one(name: &str, r: &Report) -> Result<RunEnd, MergeError> {
    let unusable = |why: String| MergeError::Unusable {
        name: name.to_string(),
        why,
    };
    if r.schema != "orbdeploy-report" {
        return Err(unusable(format!(
            "not an orbdeploy report (schema `{}`)",
            r.schema
        )));
    }
    if r.version != REPORT_VERSION {
        return Err(unusable(format!(
            "a report of version {}, this orbdeploy merges version {REPORT_VERSION}",
            r.version
        )));
    }
    if r.inventory_sha256.is_none() {
        return Err(unusable(
            "it does not record the inventory's SHA-256, so it cannot be told to be of the same inventory as the others".into(),
        ));
    }
    end_of(r.summary.exit_code).ok_or_else(|| {
        unusable(format!(
            "its summary's exit code {} is not one a run ends with",
            r.summary.exit_code
        ))
    })
}

/// Shards of one run read the same inventory bytes, in the same mode.
fn check_same(first_name: &str, first: &Report, name: &str, r: &Report) -> Result<(), MergeError> {
    let different = |why: String| MergeError::Different {
        first: first_name.to_string(),
        second: name.to_string(),
        why,
    };
    if r.inventory_sha256 != first.inventory_sha256 {
        return Err(different(format!(
            "their inventories differ (SHA-256 {} and {})",
            short(&first.inventory_sha256),
            short(&r.inventory_sha256)
        )));
    }
    if r.mode != first.mode {
        return Err(different(format!(
            "one is of `{}`, the other of `{}`",
            first.mode.word(),
            r.mode.word()
        )));
    }
    Ok(())
}

/// The first 12 hex digits of a hash, enough to tell two apart in a message.
fn short(sum: &Option<String>) -> String {
    sum.as_deref()
        .map(|s| s.chars().take(12).collect())
        .unwrap_or_default()
}

/// The run end an exit code stands for.
pub fn end_of(code: i32) -> Option<RunEnd> {
    [
        RunEnd::Success,
        RunEnd::Failed,
        RunEnd::Unavailable,
        RunEnd::ChangesPending,
        RunEnd::PlanRefused,
        RunEnd::Interrupted,
    ]
    .into_iter()
    .find(|e| e.exit_code() == code)
}

/// The end of the whole run, in the order one run decides its own (`run::outcome`): an
/// interrupt, then a failure, then an unavailable machine, a refused one, pending changes.
/// A shard's failure is a failure of the whole run, and a shard that ended unavailable
/// had nothing fail, so the order of the shards' ends is the whole run's.
fn worst(ends: &[RunEnd]) -> RunEnd {
    let rank = |e: &RunEnd| match e {
        RunEnd::Interrupted => 5,
        RunEnd::Failed => 4,
        RunEnd::Unavailable => 3,
        RunEnd::PlanRefused => 2,
        RunEnd::ChangesPending => 1,
        RunEnd::Success => 0,
    };
    ends.iter()
        .copied()
        .max_by_key(rank)
        .unwrap_or(RunEnd::Success)
}

#[cfg(test)]
mod tests;
