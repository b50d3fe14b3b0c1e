//! The comparisons `apply --plan` makes with the saved plan: the input files, the flags
//! that chose the machines and steps, each machine's action, and each machine's facts.
//! Each returns `Err` with one sentence that names what differs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::guard::Seen;
use super::model::{FactsHash, PlanFile, PlannedStep, PlannedVar, Selection};

/// Where a read file is named in a plan: relative to the inventory's directory when it
/// is inside it (so a plan made in one checkout applies in another), else absolute.
pub fn input_name(path: &Path, inventory_dir: &Path) -> String {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match full.strip_prefix(inventory_dir) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => full.display().to_string(),
    }
}

/// The directory of the inventory, resolved.
pub fn inventory_dir(inventory: &Path) -> PathBuf {
    let full = std::fs::canonicalize(inventory).unwrap_or_else(|_| inventory.to_path_buf());
    full.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The files read now, by their plan names, with their hex SHA-256.
pub fn inputs_now(read: &BTreeMap<PathBuf, String>, inventory: &Path) -> BTreeMap<String, String> {
    let dir = inventory_dir(inventory);
    read.iter()
        .map(|(p, sha)| (input_name(p, &dir), sha.clone()))
        .collect()
}

/// `Err` naming the first input file that changed, went or came since the plan.
pub fn inputs(plan: &PlanFile, now: &BTreeMap<String, String>) -> Result<(), String> {
    for input in &plan.inputs {
        match now.get(&input.path) {
            None => {
                return Err(format!(
                    "input file `{}` was read by the plan but not by this apply",
                    input.path
                ))
            }
            Some(sha) if *sha != input.sha256 => {
                return Err(format!(
                    "input file `{}` changed since the plan (sha256 {} in the plan, {} now)",
                    input.path,
                    short(&input.sha256),
                    short(sha)
                ))
            }
            Some(_) => {}
        }
    }
    let known: Vec<&str> = plan.inputs.iter().map(|i| i.path.as_str()).collect();
    match now.keys().find(|p| !known.contains(&p.as_str())) {
        Some(p) => Err(format!(
            "input file `{p}` is read by this apply but was not read by the plan"
        )),
        None => Ok(()),
    }
}

/// `Err` naming the first flag whose value differs from the plan's. `vars` are this
/// run's `--var`s as the plan keeps them (salted hashes).
pub fn selection(planned: &Selection, now: &Selection) -> Result<(), String> {
    let differs = |flag: &str, plan: &[String], now: &[String]| {
        Err(format!(
            "{flag} differs: the plan was made with [{}], this apply has [{}]",
            plan.join(", "),
            now.join(", ")
        ))
    };
    if planned.limit != now.limit {
        return differs("--limit", &planned.limit, &now.limit);
    }
    if planned.tags != now.tags {
        return differs("--tags", &planned.tags, &now.tags);
    }
    if planned.roles_path != now.roles_path {
        return differs("--roles-path", &planned.roles_path, &now.roles_path);
    }
    let names = |v: &[PlannedVar]| v.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    for var in &planned.vars {
        match now.vars.iter().find(|v| v.name == var.name) {
            None => {
                return Err(format!(
                    "--var {} was given to the plan, not to this apply",
                    var.name
                ))
            }
            Some(v) if v.value_hash != var.value_hash => {
                return Err(format!(
                    "--var {} has another value than in the plan",
                    var.name
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = names(&now.vars)
        .into_iter()
        .find(|n| !names(&planned.vars).contains(n))
    {
        return Err(format!("--var {extra} was not given to the plan"));
    }
    Ok(())
}

/// `Err` when a machine's phase-1 action now is not the planned one.
pub fn action(plan: &PlanFile, machine: &str, action: &str, argv: &[String]) -> Result<(), String> {
    let Some(planned) = plan.machine(machine) else {
        return Err(format!("machine `{machine}` is not in the saved plan"));
    };
    if planned.action != action {
        return Err(format!(
            "its machine action is now `{action}`, the plan's is `{}`",
            planned.action
        ));
    }
    // The first word is the orbctl binary, which may be another path where the plan is
    // applied.
    if planned.argv.get(1..) != argv.get(1..) {
        return Err(format!(
            "its `{action}` would now run `{}`, the plan's ran `{}`",
            argv.get(1..).unwrap_or_default().join(" "),
            planned.argv.get(1..).unwrap_or_default().join(" ")
        ));
    }
    Ok(())
}

/// `Err` naming the first step the plan changes whose decision or facts differ in the
/// dry pass `seen` just made on `machine`.
pub fn machine(plan: &PlanFile, machine: &str, seen: &[Seen]) -> Result<(), String> {
    let Some(planned) = plan.machine(machine) else {
        return Err(format!("machine `{machine}` is not in the saved plan"));
    };
    for step in planned.steps.iter().filter(|s| s.acts()) {
        let now = seen
            .iter()
            .find(|s| s.handler == step.handler && s.index == step.index && s.name == step.name);
        let what = match now {
            None => format!(
                "the plan has it as {}, now it is not reached",
                step.status.word()
            ),
            Some(n) if n.status != step.status => format!(
                "the plan has it as {}, now it is {}",
                step.status.word(),
                n.status.word()
            ),
            Some(n) => match facts_differ(step.facts.as_ref(), n.facts.as_ref()) {
                None => continue,
                Some(keys) => format!("its facts differ from the plan's: {keys}"),
            },
        };
        return Err(format!("{}: {what}", step_label(step)));
    }
    Ok(())
}

/// `step `name` (file:line:col)` or `handler `name``.
fn step_label(step: &PlannedStep) -> String {
    let what = if step.handler { "handler" } else { "step" };
    match &step.origin {
        Some(o) => format!("{what} `{}` ({o})", step.name),
        None => format!("{what} `{}`", step.name),
    }
}

/// Which facts differ, in words; `None` when none does.
fn facts_differ(plan: Option<&FactsHash>, now: Option<&FactsHash>) -> Option<String> {
    let empty = FactsHash::default();
    let (plan, now) = (plan.unwrap_or(&empty), now.unwrap_or(&empty));
    let mut keys: Vec<String> = plan
        .keys
        .iter()
        .filter(|(k, v)| now.keys.get(*k) != Some(v))
        .map(|(k, _)| format!("`{k}`"))
        .collect();
    keys.extend(
        now.keys
            .keys()
            .filter(|k| !plan.keys.contains_key(*k))
            .map(|k| format!("`{k}` (new)")),
    );
    if plan.status != now.status {
        keys.push("the probe's exit status".into());
    }
    (!keys.is_empty()).then(|| keys.join(", "))
}

/// The first 12 hex digits of a hash, for messages.
fn short(sha: &str) -> &str {
    let hex = sha.strip_prefix("sha256:").unwrap_or(sha);
    &hex[..hex.len().min(12)]
}
