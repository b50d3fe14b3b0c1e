//! The load-time render check: every selected step (and every handler it may notify) is
//! rendered for every machine that will run it, with placeholders for registered values,
//! so an undefined variable, a bad expression or a missing local file is exit 2 before
//! any machine is touched.

use serde_json::json;

use super::Plan;
use crate::error::ConfigError;
use crate::load::inventory::DesiredState;
use crate::steps::{self, Playbook};
use crate::template::Renderer;

/// Check that every step of `plan` renders for its machine. `book` names the values steps
/// register, which later steps may read.
pub fn validate(plan: &Plan<'_>, book: &Playbook, renderer: &Renderer) -> Result<(), ConfigError> {
    // What a registered value looks like, before the step that registers it has run.
    let placeholder = json!({
        "stdout": "", "stderr": "", "stdout_lines": [], "rc": 0,
        "changed": false, "failed": false, "skipped": false,
    });
    let registers: Vec<&String> = book
        .steps
        .iter()
        .chain(&book.handlers)
        .filter_map(|s| s.spec.register.as_ref())
        .collect();
    // Only a running machine runs steps.
    for m in plan
        .machines
        .iter()
        .filter(|m| m.state == DesiredState::Running)
    {
        let mut vars = m.vars.clone();
        for r in &registers {
            vars.insert((*r).clone(), placeholder.clone());
        }
        vars.insert("hostvars".into(), plan.hostvars.clone());
        let ctx = minijinja::Value::from_serialize(&vars);
        for step in m.steps.iter().chain(&m.handlers) {
            let on = |e: String| steps::at(step, format!("on machine `{}`: {e}", m.name));
            if let Some(w) = &step.spec.when {
                renderer
                    .truthy(&w.value, &ctx)
                    .map_err(|e| on(format!("when: {e}")))?;
            }
            crate::ops::render(step, renderer, &ctx).map_err(|e| on(e.to_string()))?;
        }
    }
    Ok(())
}
