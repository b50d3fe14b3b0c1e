//! The comparisons `apply --plan` makes with the saved plan: the input files, the flags
//! that chose the machines and steps, each machine's action, and each machine's facts.
//! Each returns `Err` with one sentence that names what differs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::guard::Seen;
use super::model::{FactsHash, PlanFile, PlannedStep, PlannedVar};
use crate::quote::join;
use crate::report::ActionKind;

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

/// `Err` naming the first `--var` that was given to the plan and not now, has another
/// value, or was not given to the plan. (`--limit`, `--tags` and `--roles-path` are taken
/// from the plan before the load; `--var` values are not in it.)
pub fn vars(planned: &[PlannedVar], now: &[PlannedVar]) -> Result<(), String> {
    for var in planned {
        match now.iter().find(|v| v.name == var.name) {
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
    match now
        .iter()
        .find(|v| !planned.iter().any(|p| p.name == v.name))
    {
        Some(extra) => Err(format!("--var {} was not given to the plan", extra.name)),
        None => Ok(()),
    }
}

/// `Err` when a machine's phase-1 action now is not the planned one.
pub fn action(
    plan: &PlanFile,
    machine: &str,
    action: ActionKind,
    argv: &[String],
) -> Result<(), String> {
    let Some(planned) = plan.machine(machine) else {
        return Err(format!("machine `{machine}` is not in the saved plan"));
    };
    if planned.action != action {
        return Err(format!(
            "its machine action is now `{}`, the plan's is `{}`",
            action.word(),
            planned.action.word()
        ));
    }
    // The first word is the orbctl binary, which may be another path where the plan is
    // applied.
    if planned.argv.get(1..) != argv.get(1..) {
        return Err(format!(
            "its `{}` would now run `{}`, the plan's ran `{}`",
            action.word(),
            join(argv.get(1..).unwrap_or_default()),
            join(planned.argv.get(1..).unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, hash: &str) -> PlannedVar {
        PlannedVar {
            name: name.into(),
            value_hash: hash.into(),
        }
    }

    #[test]
    fn vars_must_be_the_plans() {
        let plan = [var("port", "h1")];
        assert_eq!(vars(&plan, &[var("port", "h1")]), Ok(()));
        assert_eq!(
            vars(&plan, &[var("port", "h2")]),
            Err("--var port has another value than in the plan".into())
        );
        assert_eq!(
            vars(&plan, &[]),
            Err("--var port was given to the plan, not to this apply".into())
        );
        assert_eq!(
            vars(&[], &[var("x", "h")]),
            Err("--var x was not given to the plan".into())
        );
    }

    #[test]
    fn differing_facts_are_named() {
        let hash = |status: &str, keys: &[(&str, &str)]| FactsHash {
            status: status.into(),
            keys: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let plan = hash("s0", &[("stat", "a"), ("sha", "b")]);
        assert_eq!(facts_differ(Some(&plan), Some(&plan.clone())), None);
        let now = hash("s1", &[("stat", "a"), ("sha", "c"), ("new", "d")]);
        assert_eq!(
            facts_differ(Some(&plan), Some(&now)).as_deref(),
            Some("`sha`, `new` (new), the probe's exit status")
        );
        assert_eq!(facts_differ(None, None), None);
    }

    #[test]
    fn gone_changed_and_new_inputs_are_named() {
        let plan_with = |inputs: &[(&str, &str)]| PlanFile {
            schema: String::new(),
            format_version: 1,
            orbdeploy_version: String::new(),
            plan_id: String::new(),
            created_unix: 0,
            inventory: String::new(),
            selection: Default::default(),
            inputs: inputs
                .iter()
                .map(|(p, s)| super::super::model::Input {
                    path: p.to_string(),
                    sha256: s.to_string(),
                })
                .collect(),
            machines: Vec::new(),
            integrity: String::new(),
        };
        let now: BTreeMap<String, String> = [("a.yaml".to_string(), "1".repeat(64))].into();
        assert_eq!(
            inputs(&plan_with(&[("a.yaml", &"1".repeat(64))]), &now),
            Ok(())
        );
        let changed = inputs(&plan_with(&[("a.yaml", &"2".repeat(64))]), &now).unwrap_err();
        assert_eq!(
            changed,
            "input file `a.yaml` changed since the plan (sha256 222222222222 in the plan, 111111111111 now)"
        );
        let gone = inputs(&plan_with(&[("b.yaml", "x")]), &BTreeMap::new()).unwrap_err();
        assert_eq!(
            gone,
            "input file `b.yaml` was read by the plan but not by this apply"
        );
        let new = inputs(&plan_with(&[]), &now).unwrap_err();
        assert_eq!(
            new,
            "input file `a.yaml` is read by this apply but was not read by the plan"
        );
    }
}
