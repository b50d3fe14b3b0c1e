//! The load-time render check: every selected step (and every handler it may notify) is
//! rendered for every machine that will run it — each item of a loop on its own — with
//! placeholders for registered values, so an undefined variable, a bad expression, a
//! `when:` that is not a boolean, a loop that is not a list or a missing local file is
//! exit 2 before any machine is touched. What depends on a registered value (a loop over
//! one, a `when:` reading one) is checked as far as the placeholders allow, and again when
//! it runs.
//!
//! An ssh machine's facts (`distro`, `version`, `arch`, `ip4`, `user`) are known only once
//! it is reached: `apply` checks the other machines first ([`validate_where`]), then
//! connects to the ssh machines and reads their facts (which changes nothing), then checks
//! theirs, all before any machine is touched.

use minijinja::Value;
use serde_json::json;

use super::Plan;
use crate::error::ConfigError;
use crate::load::inventory::DesiredState;
use crate::spec::ResultTest;
use crate::steps::items::{self, ItemState};
use crate::steps::{self, Playbook, Step};
use crate::template::Renderer;

/// What a registered value looks like, before the step that registers it has run (a
/// looping step's has `results` too).
pub fn placeholder() -> serde_json::Value {
    json!({
        "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": [], "rc": 0,
        "changed": false, "failed": false, "skipped": false, "changes": [], "msg": "",
        "status": "ok", "results": [],
    })
}

/// Check that every step of `plan` renders for its machine. `book` names the values steps
/// register, which later steps may read.
pub fn validate(plan: &Plan<'_>, book: &Playbook, renderer: &Renderer) -> Result<(), ConfigError> {
    validate_where(plan, book, renderer, &|_| true)
}

/// [`validate`] for the machines `only` names (by name) alone.
pub fn validate_where(
    plan: &Plan<'_>,
    book: &Playbook,
    renderer: &Renderer,
    only: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let registers: Vec<String> = book.registers().into_iter().cloned().collect();
    // Only a running machine runs steps.
    for m in plan
        .machines
        .iter()
        .filter(|m| m.state == DesiredState::Running && only(&m.name))
    {
        let mut vars = m.vars.clone();
        for r in &registers {
            vars.insert(r.clone(), placeholder());
        }
        vars.insert("hostvars".into(), plan.hostvars.clone());
        let base = Value::from_serialize(&vars);
        let fixed = Value::from_serialize(&m.fixed);
        let check = Check {
            renderer,
            base: &base,
            fixed: &fixed,
            registers: &registers,
        };
        for list in [&m.steps, &m.handlers] {
            for step in items::expand(list, renderer, &base, &fixed) {
                check
                    .step(&step)
                    .map_err(|e| steps::at(&step, format!("on machine `{}`: {e}", m.name)))?;
            }
        }
    }
    Ok(())
}

/// One machine's contexts, for checking its steps.
struct Check<'a> {
    renderer: &'a Renderer,
    base: &'a Value,
    fixed: &'a Value,
    registers: &'a [String],
}

impl Check<'_> {
    /// One step (or item): its loop, label, `when:` and operation.
    fn step(&self, s: &Step) -> Result<(), String> {
        if let Some(item) = &s.item {
            match &item.state {
                ItemState::Empty => return Ok(()),
                // A loop over a registered value is known only when it runs.
                ItemState::Broken(_) if self.loop_reads_registered(s) => return Ok(()),
                ItemState::Broken(msg) => return Err(msg.clone()),
                ItemState::Ready => {}
            }
        }
        items::check_label(s, self.renderer, self.base, self.fixed)?;
        let ctx = items::step_context(s, self.renderer, self.base, self.fixed)?;
        let mut runs = true;
        for w in s.whens() {
            let yes = self
                .renderer
                .condition(&w.value, &ctx)
                .map_err(|e| format!("when: {e}"))?;
            // A step whose `when:` is false whatever earlier steps register never runs
            // here, and need not render (it may use what only the true case defines).
            if !yes && !self.reads_registered(&w.value) {
                runs = false;
            }
        }
        if runs {
            s.render(self.renderer, &ctx).map_err(|e| e.to_string())?;
            self.result_tests(s, &ctx)?;
        }
        Ok(())
    }

    /// `changed_when` and `failed_when`, evaluated with a result placeholder for
    /// `result` (and the step's `register` name): an undefined name or a value that is
    /// not true or false is found now. What the real result holds is known only when the
    /// step runs.
    fn result_tests(&self, s: &Step, ctx: &Value) -> Result<(), String> {
        let tests = [
            ("changed_when", &s.spec.changed_when),
            ("failed_when", &s.spec.failed_when),
        ];
        let mut names = serde_json::Map::new();
        if let Some(r) = &s.spec.register {
            names.insert(r.clone(), placeholder());
        }
        names.insert("result".into(), placeholder());
        let ctx = minijinja::value::merge_maps([ctx.clone(), Value::from_serialize(&names)]);
        for (key, test) in tests {
            let Some(ResultTest::All(exprs)) = test else {
                continue;
            };
            for e in exprs {
                if let Err(err) = self.renderer.condition(e, &ctx) {
                    if !self.known_when_it_runs(e, &ctx) {
                        return Err(format!("{key}: {err}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// An expression over a result that failed on the stand-in result only for its values
    /// (`result.stdout | int` of an empty stdout, an index past its empty lines): what the
    /// real result holds is known when the step runs. A name no one defines, or a value that
    /// is not true or false, is not of that kind.
    fn known_when_it_runs(&self, expr: &str, ctx: &Value) -> bool {
        let inner = crate::steps::single_expression(expr).unwrap_or(expr);
        let undefined = self
            .renderer
            .names_in(inner)
            .iter()
            .any(|n| n != "env" && ctx.get_attr(n).map_or(true, |v| v.is_undefined()));
        !undefined && self.renderer.eval(inner, ctx).is_err()
    }

    /// The step's loop (or its include's) reads a registered value.
    fn loop_reads_registered(&self, s: &Step) -> bool {
        loop_reads_registered(s, self.renderer, self.registers)
    }

    /// An expression reads a value a step registers.
    fn reads_registered(&self, expr: &str) -> bool {
        reads_registered(expr, self.renderer, self.registers)
    }
}

/// The loop of `s` (or of its include) reads one of `registers`: its items are known
/// only when it runs.
pub fn loop_reads_registered(s: &Step, renderer: &Renderer, registers: &[String]) -> bool {
    let outer = s.scope.outer_loop.as_ref().map(|(_, l)| l);
    s.looping
        .iter()
        .chain(outer)
        .filter_map(|l| l.expression())
        .any(|e| reads_registered(e, renderer, registers))
}

/// An expression reads one of `registers`.
fn reads_registered(expr: &str, renderer: &Renderer, registers: &[String]) -> bool {
    let expr = crate::steps::single_expression(expr).unwrap_or(expr);
    renderer
        .names_in(expr)
        .iter()
        .any(|n| registers.contains(n))
}
