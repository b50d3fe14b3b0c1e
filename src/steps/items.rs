//! Loops, per machine: a looping step becomes one step per item, each with the item bound
//! to its `loop_var` and its label in its name (`site configs [blog]`), so that every
//! item is a row of its own in every output and the read-ahead window batches the probes
//! of all of them. An include's loop repeats its steps in order for each item.
//!
//! Also here: the template context of one step, layered as docs/inventory.md says — built-ins
//! and `--var` over the loop's items, over the includes' and roles' `vars:`, over the
//! machine's variables and registered values, over role defaults.

use std::sync::Arc;

use minijinja::value::{merge_maps, Value};
use serde_json::Value as Json;

use super::{Loop, Step};
use crate::template::{self, Renderer};

/// What a per-item copy of a step carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The loop variables in scope (an include's item first), each with its value.
    pub bindings: Vec<(String, Json)>,
    /// The labels shown after the step's name, outermost first.
    pub labels: Vec<String>,
    /// Position in the step's own loop: (item, how many), from 0.
    pub pos: Option<(usize, usize)>,
    /// Whether the copy runs.
    pub state: ItemState,
    /// Which item of an include's loop the copy belongs to (0 outside one): a `try:` group
    /// inside the include is a group of its own in each.
    pub round: usize,
}

/// Whether a per-item copy runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemState {
    /// It runs with its item.
    Ready,
    /// The loop has no item: the step is skipped (one row).
    Empty,
    /// The loop's items could not be had (not a list, a template error): the step fails
    /// with this message (one row).
    Broken(String),
}

impl Item {
    /// The last item of its step's own loop (or no item of one at all).
    pub fn is_last(&self) -> bool {
        self.pos.is_none_or(|(n, count)| n + 1 == count)
    }

    /// The item of the step's own loop, for `register`'s `results`.
    pub fn value(&self) -> Json {
        self.bindings
            .last()
            .map(|(_, v)| v.clone())
            .unwrap_or(Json::Null)
    }
}

/// The label of an item when the step gives none: a string as it is, anything else as
/// compact JSON, shortened.
pub fn default_label(v: &Json) -> String {
    match v {
        Json::String(s) => template::shorten(s),
        other => template::shorten(&other.to_string()),
    }
}

/// The template context of `step`: `fixed` (built-ins, `--var`) over its loop items, over
/// its includes' and roles' `vars:`, over `base` (machine variables, registered values,
/// `hostvars`), over role defaults. A `vars:` value that is a template is rendered with
/// the layers below it.
pub fn step_context(
    step: &Step,
    renderer: &Renderer,
    base: &Value,
    fixed: &Value,
) -> Result<Value, String> {
    let bindings = step.item.as_ref().map(|i| &i.bindings[..]).unwrap_or(&[]);
    context_with(step, bindings, renderer, base, fixed)
}

/// [`step_context`] with these loop bindings.
fn context_with(
    step: &Step,
    bindings: &[(String, Json)],
    renderer: &Renderer,
    base: &Value,
    fixed: &Value,
) -> Result<Value, String> {
    let scope = &step.scope;
    if bindings.is_empty() && scope.vars.is_empty() && scope.defaults.is_empty() {
        return Ok(base.clone());
    }
    let items: serde_json::Map<String, Json> = bindings.iter().cloned().collect();
    let items = Value::from_serialize(&items);
    let defaults = Value::from_serialize(&scope.defaults);
    if scope.vars.is_empty() {
        return Ok(merge_maps([defaults, base.clone(), items, fixed.clone()]));
    }
    // The last map that has a key gives its value.
    let below = merge_maps([defaults.clone(), base.clone(), items.clone(), fixed.clone()]);
    let mut vars = serde_json::Map::new();
    for (k, v) in &scope.vars {
        let v = render_json(renderer, &format!("vars.{k}"), v, &below)?;
        vars.insert(k.clone(), v);
    }
    let vars = Value::from_serialize(&vars);
    Ok(merge_maps([
        defaults,
        base.clone(),
        vars,
        items,
        fixed.clone(),
    ]))
}

/// Every string inside `v` rendered as a template.
pub fn render_json(
    renderer: &Renderer,
    field: &str,
    v: &Json,
    ctx: &Value,
) -> Result<Json, String> {
    Ok(match v {
        Json::String(s) => Json::String(
            renderer
                .render(field, s, ctx)
                .map_err(|e| format!("{field}: {e}"))?,
        ),
        Json::Array(a) => Json::Array(
            a.iter()
                .map(|x| render_json(renderer, field, x, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(k.clone(), render_json(renderer, field, x, ctx)?);
            }
            Json::Object(out)
        }
        other => other.clone(),
    })
}

/// The items of `lp` in the context `ctx`: a literal list (its strings rendered), or what
/// its expression yields, which must be a list.
pub fn loop_items(lp: &Loop, renderer: &Renderer, ctx: &Value) -> Result<Vec<Json>, String> {
    let expr = match &lp.items.value {
        Json::Array(a) => {
            return a
                .iter()
                .map(|x| render_json(renderer, "loop", x, ctx))
                .collect()
        }
        Json::String(_) => lp.expression().unwrap_or_default(),
        other => {
            return Err(format!(
                "loop: expected a list, found {}",
                template::describe_json(other)
            ))
        }
    };
    let v = renderer.eval(expr, ctx).map_err(|e| format!("loop: {e}"))?;
    let json = serde_json::to_value(&v).map_err(|e| format!("loop: `{expr}`: {e}"))?;
    match json {
        Json::Array(items) => Ok(items),
        other => Err(format!(
            "loop: `{expr}` is {}, not a list",
            template::describe_json(&other)
        )),
    }
}

/// The steps of one machine with every loop expanded, in the context `base` (with
/// `fixed` over it, see [`step_context`]): one step per item; a loop with no item, or
/// whose items cannot be had, stays one step ([`ItemState::Empty`], [`ItemState::Broken`]).
pub fn expand(steps: &[&Step], renderer: &Renderer, base: &Value, fixed: &Value) -> Vec<Step> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let s = steps[i];
        match &s.scope.outer_loop {
            Some((group, lp)) => {
                let len = steps[i..]
                    .iter()
                    .take_while(|t| t.scope.outer_loop.as_ref().map(|g| g.0) == Some(*group))
                    .count();
                expand_group(&steps[i..i + len], lp, renderer, base, fixed, &mut out);
                i += len;
            }
            None => {
                expand_one(s, &[], &[], renderer, base, fixed, &mut out);
                i += 1;
            }
        }
    }
    out
}

/// The steps of a looping include: all of them for the first item, then all for the
/// next, ...
fn expand_group(
    group: &[&Step],
    lp: &Loop,
    renderer: &Renderer,
    base: &Value,
    fixed: &Value,
    out: &mut Vec<Step>,
) {
    let Some(first) = group.first() else {
        return;
    };
    let items = context_with(first, &[], renderer, base, fixed)
        .and_then(|ctx| loop_items(lp, renderer, &ctx));
    let items = match items {
        Ok(items) if !items.is_empty() => items,
        Ok(_) => return out.push(placeholder(first, ItemState::Empty)),
        Err(e) => return out.push(placeholder(first, ItemState::Broken(e))),
    };
    for (round, item) in items.into_iter().enumerate() {
        let bound = vec![(lp.var.clone(), item)];
        let label = label_of(lp, first, &bound, renderer, base, fixed);
        let from = out.len();
        for s in group {
            expand_one(
                s,
                &bound,
                std::slice::from_ref(&label),
                renderer,
                base,
                fixed,
                out,
            );
        }
        for copy in &mut out[from..] {
            if let Some(item) = &mut copy.item {
                Arc::make_mut(item).round = round;
            }
        }
    }
}

/// One step: itself, or one copy per item of its own loop (inside the items of an
/// include's loop, `outer`).
fn expand_one(
    s: &Step,
    outer: &[(String, Json)],
    labels: &[String],
    renderer: &Renderer,
    base: &Value,
    fixed: &Value,
    out: &mut Vec<Step>,
) {
    let Some(lp) = &s.looping else {
        let mut copy = s.clone();
        if !outer.is_empty() {
            copy.name = named(&s.name, labels);
            copy.item = Some(Arc::new(Item {
                bindings: outer.to_vec(),
                labels: labels.to_vec(),
                pos: None,
                state: ItemState::Ready,
                round: 0,
            }));
        }
        return out.push(copy);
    };
    let items = context_with(s, outer, renderer, base, fixed)
        .and_then(|ctx| loop_items(lp, renderer, &ctx));
    let items = match items {
        Ok(items) if !items.is_empty() => items,
        Ok(_) => return out.push(placeholder(s, ItemState::Empty)),
        Err(e) => return out.push(placeholder(s, ItemState::Broken(e))),
    };
    let count = items.len();
    for (n, item) in items.into_iter().enumerate() {
        let mut bound = outer.to_vec();
        bound.push((lp.var.clone(), item));
        let mut all = labels.to_vec();
        all.push(label_of(lp, s, &bound, renderer, base, fixed));
        let mut copy = s.clone();
        copy.name = named(&s.name, &all);
        copy.item = Some(Arc::new(Item {
            bindings: bound,
            labels: all,
            pos: Some((n, count)),
            state: ItemState::Ready,
            round: 0,
        }));
        out.push(copy);
    }
}

/// `name [a] [b]`.
fn named(name: &str, labels: &[String]) -> String {
    let mut out = name.to_string();
    for l in labels {
        out.push_str(&format!(" [{l}]"));
    }
    out
}

/// The one copy of a step whose loop gives no items, or none that can be had.
fn placeholder(s: &Step, state: ItemState) -> Step {
    let mut copy = s.clone();
    copy.item = Some(Arc::new(Item {
        bindings: Vec::new(),
        labels: Vec::new(),
        pos: None,
        state,
        round: 0,
    }));
    copy
}

/// An item's label: `label:` rendered with the item in scope, else the item shortened
/// (also when `label:` does not render: the load-time check reports that).
fn label_of(
    lp: &Loop,
    s: &Step,
    bound: &[(String, Json)],
    renderer: &Renderer,
    base: &Value,
    fixed: &Value,
) -> String {
    let item = bound.last().map(|(_, v)| v.clone()).unwrap_or(Json::Null);
    let Some(label) = &lp.label else {
        return default_label(&item);
    };
    context_with(s, bound, renderer, base, fixed)
        .and_then(|ctx| renderer.render("label", label, &ctx))
        .unwrap_or_else(|_| default_label(&item))
}

/// Check `label:` of every item of `s` (an expanded copy) renders.
pub fn check_label(
    s: &Step,
    renderer: &Renderer,
    base: &Value,
    fixed: &Value,
) -> Result<(), String> {
    let (Some(lp), Some(item)) = (&s.looping, &s.item) else {
        return Ok(());
    };
    let Some(label) = &lp.label else {
        return Ok(());
    };
    if item.state != ItemState::Ready {
        return Ok(());
    }
    let ctx = context_with(s, &item.bindings, renderer, base, fixed)?;
    renderer
        .render("label", label, &ctx)
        .map(|_| ())
        .map_err(|e| format!("label: {e}"))
}
