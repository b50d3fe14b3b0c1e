//! Which steps each machine gets: the machines `--limit` selects, each with the steps
//! whose `hosts:` include it and that `--tags` keeps, and the handlers those steps may
//! notify.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::{MachinePlan, Plan, TemplateVars};
use crate::error::ConfigError;
use crate::inventory::shard::Shard;
use crate::inventory::{Host, Inventory};
use crate::steps::{Playbook, Step};

/// The plan of `book` for the machines of `inv` that `limit` selects (every machine when
/// it is empty) and `shard` keeps, keeping the steps with one of `tags` (every step when it is empty). An
/// unknown `--limit` pattern is an error.
pub fn select<'a>(
    inv: &Inventory,
    book: &'a Playbook,
    (limit, shard): (&[String], Option<Shard>),
    tags: &[String],
) -> Result<Plan<'a>, ConfigError> {
    // `hosts:` is resolved once per step, not once per step and machine.
    let hosts: Vec<BTreeSet<&str>> = book.steps.iter().map(|s| step_hosts(inv, s)).collect();
    let machines = inv
        .limit(limit)?
        .into_iter()
        .filter(|h| shard.is_none_or(|s| s.keeps(&h.name)))
        .map(|h| {
            let steps: Vec<&Step> = book
                .steps
                .iter()
                .zip(&hosts)
                .filter(|(s, on)| on.contains(h.name.as_str()) && tagged(s, tags))
                .map(|(s, _)| s)
                .collect();
            MachinePlan {
                name: h.name.clone(),
                state: h.desired.state,
                vars: vars(inv, h),
                fixed: fixed(inv, h),
                handlers: notifiable(book, &steps),
                steps,
                resume: Default::default(),
            }
        })
        .collect();
    Ok(Plan {
        machines,
        hostvars: hostvars(inv),
    })
}

/// A plan with nothing to do because of what was selected is a usage error (exit 2), not
/// a quiet success a script cannot tell from one: no machine left by the inventory,
/// `--limit` and `--shard`, or no step on any of them left by `--tags`.
pub fn ensure_some(
    inv: &Inventory,
    book: &Playbook,
    plan: &Plan,
    (limit, shard): (&[String], Option<Shard>),
    tags: &[String],
) -> Result<(), ConfigError> {
    if plan.machines.is_empty() {
        return Err(inv.empty_selection(limit, shard));
    }
    if tags.is_empty() || plan.machines.iter().any(|m| !m.steps.is_empty()) {
        return Ok(());
    }
    let shown: Vec<String> = tags.iter().map(|t| format!("`{t}`")).collect();
    let machines = if limit.is_empty() {
        String::new()
    } else {
        format!(" of the {} selected", plan.machines.len())
    };
    let mut known: Vec<&str> = book
        .steps
        .iter()
        .flat_map(|s| s.spec.tags.0.iter().map(String::as_str))
        .collect();
    known.sort_unstable();
    known.dedup();
    let known = if known.is_empty() {
        "no step has a tag".to_string()
    } else {
        format!("the steps' tags are `{}`", known.join("`, `"))
    };
    Err(ConfigError::plain(format!(
        "--tags {} selects no step on the machines{machines}: {known}; give --allow-empty if nothing to do is fine",
        shown.join(", ")
    )))
}

/// The machines a step's `hosts:` patterns select (`all` when it has none), narrowed by
/// the `hosts:` of every include and role call around it. The patterns were checked
/// against the inventory when the steps were loaded.
fn step_hosts<'i>(inv: &'i Inventory, step: &Step) -> BTreeSet<&'i str> {
    let mut out = pattern_hosts(inv, &step.spec.hosts.0);
    for outer in &step.scope.hosts {
        let allowed = pattern_hosts(inv, outer);
        out.retain(|h| allowed.contains(h));
    }
    out
}

/// The machines a list of patterns selects (every machine when it is empty).
fn pattern_hosts<'i>(inv: &'i Inventory, patterns: &[String]) -> BTreeSet<&'i str> {
    let all = ["all".to_string()];
    let patterns: &[String] = if patterns.is_empty() { &all } else { patterns };
    let mut out = BTreeSet::new();
    for p in patterns {
        if p == "all" {
            out.extend(inv.hosts.iter().map(|h| h.name.as_str()));
        } else if let Ok(hs) = inv.select(p) {
            out.extend(hs.into_iter().map(|h| h.name.as_str()));
        }
    }
    out
}

/// Whether `--tags` keeps the step: no tags given, one of its tags given, or `always`.
fn tagged(step: &Step, tags: &[String]) -> bool {
    tags.is_empty()
        || step
            .spec
            .tags
            .0
            .iter()
            .any(|t| t == "always" || tags.contains(t))
}

/// The handlers that `steps` notify, in the order of the handlers.
fn notifiable<'a>(book: &'a Playbook, steps: &[&Step]) -> Vec<&'a Step> {
    let notified: BTreeSet<usize> = steps.iter().flat_map(|s| s.notifies.clone()).collect();
    book.handlers
        .iter()
        .filter(|h| notified.contains(&h.index))
        .collect()
}

/// A machine's variables as template values.
pub fn vars(inv: &Inventory, host: &Host) -> TemplateVars {
    inv.vars(host)
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect()
}

/// The variables no include, role or loop can override: built-ins and `--var`.
pub fn fixed(inv: &Inventory, host: &Host) -> TemplateVars {
    inv.vars(host)
        .into_iter()
        .filter(|(_, v)| v.source == "built-in" || v.source == "--var")
        .map(|(k, v)| (k, v.value))
        .collect()
}

/// Every machine's variables by machine name.
pub fn hostvars(inv: &Inventory) -> Json {
    Json::Object(
        inv.hosts
            .iter()
            .map(|h| (h.name.clone(), Json::Object(vars(inv, h))))
            .collect(),
    )
}
