//! Making the saved plan from a finished `plan` run: its report (masked, as every output
//! is), the facts hashes the run kept, the files it read and the flags it was given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::report::{ActionKind, ActionStatus, Report, ReportMachine, StepResult};

use super::digest;
use super::guard::{SavedRun, Seen};
use super::model::{
    Input, PlanFile, PlannedMachine, PlannedStep, PlannedVar, Selection, FORMAT_VERSION, SCHEMA,
};

/// The flags that chose what a run covers, as a plan keeps them: `--var` values as
/// salted hashes of the masked value.
pub fn selection(
    saved: &SavedRun,
    limit: &[String],
    tags: &[String],
    roles_path: &[PathBuf],
    vars: &[(String, String)],
) -> Selection {
    Selection {
        limit: limit.to_vec(),
        tags: tags.to_vec(),
        roles_path: roles_path.iter().map(|p| p.display().to_string()).collect(),
        vars: vars
            .iter()
            .map(|(name, value)| PlannedVar {
                name: name.clone(),
                value_hash: digest::salted(saved.plan_id(), name, &saved.masker().text(value)),
            })
            .collect(),
    }
}

/// The plan of a finished run.
pub fn build(
    saved: &SavedRun,
    inventory: &Path,
    selection: Selection,
    inputs: &BTreeMap<String, String>,
    report: &Report,
) -> PlanFile {
    let machines = report
        .machines
        .iter()
        .map(|m| machine(saved, report, m))
        .collect();
    let mut plan = PlanFile {
        schema: SCHEMA.into(),
        format_version: FORMAT_VERSION,
        orbdeploy_version: env!("CARGO_PKG_VERSION").into(),
        plan_id: saved.plan_id().into(),
        created_unix: report.started_unix,
        inventory: inventory.display().to_string(),
        selection,
        inputs: inputs
            .iter()
            .map(|(path, sha)| Input {
                path: path.clone(),
                sha256: sha.clone(),
            })
            .collect(),
        machines,
        integrity: String::new(),
    };
    plan.integrity = digest::integrity_of(&plan);
    plan
}

/// Write `plan` to `path` (renamed into place).
pub fn write(path: &Path, plan: &PlanFile) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut text = serde_json::to_string_pretty(plan).context("cannot encode the saved plan")?;
    text.push('\n');
    crate::report::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write the saved plan {}", path.display()))
}

/// One machine of the plan: its action and its steps, each with the facts its dry pass
/// decided on.
fn machine(saved: &SavedRun, report: &Report, m: &ReportMachine) -> PlannedMachine {
    let name = &m.result.machine;
    let action = report.machine_actions.iter().find(|a| &a.machine == name);
    let mut seen = saved.take_seen(name);
    PlannedMachine {
        machine: name.clone(),
        action: action.map_or(ActionKind::Keep, |a| a.action),
        action_status: action.map_or(ActionStatus::Ok, |a| a.status),
        argv: action.map(|a| a.argv.clone()).unwrap_or_default(),
        message: action.and_then(|a| a.message.clone()),
        steps: m.steps.iter().map(|s| step(s, &mut seen)).collect(),
    }
}

/// One step, with the facts of the first unused decision of the same step.
fn step(s: &StepResult, seen: &mut Vec<Seen>) -> PlannedStep {
    let found = seen
        .iter()
        .position(|x| x.handler == s.handler && x.index == s.index && x.name == s.name)
        .map(|i| seen.remove(i));
    let keeps_facts = !matches!(
        s.status,
        crate::report::StepStatus::Ok | crate::report::StepStatus::Skipped
    );
    PlannedStep {
        index: s.index,
        name: s.name.clone(),
        kind: s.kind,
        handler: s.handler,
        status: s.status,
        changes: s.changes.clone(),
        reason: s.reason.clone(),
        origin: s
            .origin
            .as_ref()
            .map(|o| format!("{}:{}:{}", o.file, o.line, o.column)),
        facts: found.and_then(|f| f.facts).filter(|_| keeps_facts),
    }
}
