//! `plan --list-steps`: every selected machine's steps as the run would go through them —
//! loops expanded with the machine's variables, includes and roles resolved — each with
//! its kind and the file, line and column it comes from (and the include chain). Nothing
//! is rendered against a machine and no machine is touched.

use std::io::Write;

use minijinja::Value;

use super::validate::{loop_reads_registered, placeholder};
use super::Plan;
use crate::steps::items::{self, ItemState};
use crate::steps::{Playbook, Step};
use crate::template::Renderer;

/// Write the expanded steps of every machine of `plan` to `out`.
pub fn list_steps(
    plan: &Plan<'_>,
    book: &Playbook,
    renderer: &Renderer,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let registers: Vec<String> = book.registers().into_iter().cloned().collect();
    for m in &plan.machines {
        let mut vars = m.vars.clone();
        for r in &registers {
            vars.insert(r.clone(), placeholder());
        }
        vars.insert("hostvars".into(), plan.hostvars.clone());
        let base = Value::from_serialize(&vars);
        let fixed = Value::from_serialize(&m.fixed);
        let steps = items::expand(&m.steps, renderer, &base, &fixed);
        let handlers = items::expand(&m.handlers, renderer, &base, &fixed);
        writeln!(out, "{} ({} steps)", m.name, steps.len())?;
        let rows = |list: &[Step]| -> Vec<[String; 4]> {
            list.iter()
                .enumerate()
                .map(|(i, s)| row(i, s, renderer, &registers))
                .collect()
        };
        let (steps, handlers) = (rows(&steps), rows(&handlers));
        let width = |col: usize| {
            steps
                .iter()
                .chain(&handlers)
                .map(|r| r[col].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        for r in &steps {
            writeln!(out, "  {:>w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3])?;
        }
        if !handlers.is_empty() {
            writeln!(out, "  handlers (run at the end when notified):")?;
            for r in &handlers {
                writeln!(out, "  {:>w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3])?;
            }
        }
    }
    Ok(())
}

/// One step's row: its number, name (with a note for a loop not yet known), kind and
/// where it comes from.
fn row(i: usize, s: &Step, renderer: &Renderer, registers: &[String]) -> [String; 4] {
    let mut name = s.name.clone();
    match s.item.as_ref().map(|it| &it.state) {
        Some(ItemState::Empty | ItemState::Broken(_))
            if loop_reads_registered(s, renderer, registers) =>
        {
            name.push_str(" [items known when it runs]");
        }
        Some(ItemState::Empty) => name.push_str(" [no items: skipped]"),
        Some(ItemState::Broken(e)) => name.push_str(&format!(" [{e}]")),
        _ => {}
    }
    [
        format!("{}", i + 1),
        name,
        s.kind().as_str().to_string(),
        format!("{}{}", s.origin, s.source.via()),
    ]
}
