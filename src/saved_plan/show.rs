//! `orbdeploy plan --show PLAN.json`: a saved plan, for people — what it was made from,
//! and per machine its action and every step with what the plan found.

use std::io::Write;

use crate::report::{ActionStatus, StepStatus};

use super::model::{PlanFile, PlannedMachine, PlannedStep};

/// `plan --show PATH`: open the plan (refused like `apply --plan` would when it was
/// changed or made by another version) and print it on stdout.
pub fn print(path: &std::path::Path) -> anyhow::Result<()> {
    let plan = super::open(path)?;
    let mut out = std::io::stdout().lock();
    show(&plan, &mut out)?;
    Ok(())
}

/// Print `plan` to `out`.
pub fn show(plan: &PlanFile, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "saved plan {} (format {}, orbdeploy {}), made {}",
        plan.plan_id,
        plan.format_version,
        plan.orbdeploy_version,
        utc(plan.created_unix)
    )?;
    writeln!(out, "inventory: {}", plan.inventory)?;
    let sel = &plan.selection;
    let mut flags = Vec::new();
    flags.extend(sel.limit.iter().map(|l| format!("--limit {l}")));
    flags.extend(sel.tags.iter().map(|t| format!("--tags {t}")));
    flags.extend(sel.roles_path.iter().map(|r| format!("--roles-path {r}")));
    flags.extend(
        sel.vars
            .iter()
            .map(|v| format!("--var {}=(hashed)", v.name)),
    );
    if !flags.is_empty() {
        writeln!(out, "flags: {}", flags.join(" "))?;
    }
    writeln!(out, "inputs ({} files):", plan.inputs.len())?;
    for i in &plan.inputs {
        let hex = &i.sha256[..i.sha256.len().min(12)];
        writeln!(out, "  {hex}  {}", i.path)?;
    }
    for m in &plan.machines {
        machine(m, out)?;
    }
    writeln!(out, "{}", totals(plan))
}

fn machine(m: &PlannedMachine, out: &mut dyn Write) -> std::io::Result<()> {
    let mut head = format!("{}: {}", m.machine, m.action.word());
    if let Some(msg) = &m.message {
        head.push_str(&format!(" — {msg}"));
    }
    // The first word is the orbctl binary as the plan's run found it.
    if let Some(args) = m.argv.get(1..).filter(|a| !a.is_empty()) {
        head.push_str(&format!(" (orbctl {})", crate::quote::join(args)));
    }
    writeln!(out, "{head}")?;
    for s in &m.steps {
        step(s, out)?;
    }
    Ok(())
}

fn step(s: &PlannedStep, out: &mut dyn Write) -> std::io::Result<()> {
    let handler = if s.handler { "handler " } else { "" };
    let at = s
        .origin
        .as_deref()
        .map_or(String::new(), |o| format!(" [{o}]"));
    writeln!(
        out,
        "  {} {handler}{} ({}){at}",
        s.status.word(),
        s.name,
        s.kind
    )?;
    for c in &s.changes {
        writeln!(out, "      {c}")?;
    }
    if let Some(r) = &s.reason {
        writeln!(out, "      ({r})")?;
    }
    if let Some(f) = &s.facts {
        let mut keys: Vec<&str> = f.keys.keys().map(String::as_str).collect();
        keys.push("exit status");
        writeln!(out, "      decided on: {}", keys.join(", "))?;
    }
    Ok(())
}

/// `2 machines: 1 machine action, 3 will change, 1 will run, 0 unknown, 4 ok, 1 skipped`.
fn totals(plan: &PlanFile) -> String {
    let steps = plan.machines.iter().flat_map(|m| &m.steps);
    let count = |st: StepStatus| steps.clone().filter(|s| s.status == st).count();
    let actions = plan
        .machines
        .iter()
        .filter(|m| m.action_status != ActionStatus::Ok)
        .count();
    let n = |k: usize, word: &str| match k {
        1 => format!("1 {word}"),
        k => format!("{k} {word}s"),
    };
    format!(
        "{}: {}, {} will change, {} will run, {} unknown, {} ok, {} skipped",
        n(plan.machines.len(), "machine"),
        n(actions, "machine action"),
        count(StepStatus::WillChange),
        count(StepStatus::WillRun),
        count(StepStatus::Unknown),
        count(StepStatus::Ok),
        count(StepStatus::Skipped),
    )
}

/// `2026-12-01 23:05:09 UTC` from seconds since the Unix epoch (the HTML report's date).
fn utc(secs: u64) -> String {
    crate::report::html::utc(secs).0
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(1_796_166_309), "2026-12-01 23:05:09 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
