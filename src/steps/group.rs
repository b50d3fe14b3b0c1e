//! `try:` groups at load time: a step with `try:` (and perhaps `rescue:` and `always:`)
//! puts the steps of its lists in its place, each inside a [`Scope`] that adds the
//! group's `hosts:`, `when:`, `tags:`, `vars:`, `become:`/`user:`, the group and the
//! list it is in ([`GroupLevel`]), and `NAME / try / ` before its name. The run decides
//! from the groups of each step whether it runs (`run/groups.rs`).

use std::sync::Arc;

use super::include::{call_error, only_keys, vars_of, Loader, Place};
use super::{Call, GroupLevel, Scope, Section};
use crate::error::ConfigError;
use crate::load::operations::{RawStep, Sections};
use crate::yaml::Spanned;

/// The keys a `try:` group takes (besides `try`, `rescue` and `always`).
const GROUP_KEYS: [&str; 7] = ["name", "vars", "hosts", "tags", "when", "become", "user"];

/// A step with `try:`: the steps of its three lists in place of it.
pub(super) fn call(
    loader: &mut Loader<'_>,
    mut s: Spanned<RawStep>,
    place: &Place,
    handler: bool,
) -> Result<(), ConfigError> {
    let sections = std::mem::take(&mut s.value.sections);
    refuse(&s, place, &sections, handler)?;
    let spec = &s.value.spec;
    let title = spec.name.clone().unwrap_or_default();
    let mut scope = loader.child_scope(&s, place, &format!("try {title}"), None)?;
    let vars = vars_of(spec, place)?;
    for (k, v) in &vars {
        scope.vars.insert(k.clone(), v.clone());
    }
    if !vars.is_empty() {
        loader.record_call(Call {
            at: format!(
                "{}{}",
                super::include::position(&place.file, &s),
                super::via(&place.chain)
            ),
            what: format!("try {}", scope.named(&title))
                .trim_end()
                .to_string(),
            vars,
            defaults: Default::default(),
        });
    }
    if spec.become_root.is_some() || spec.user.is_some() {
        scope.become_root = spec.become_root;
        scope.run_as = spec.user.clone();
    }
    let id = loader.next_id();
    for (section, list) in [
        (Section::Try, sections.try_steps),
        (Section::Rescue, sections.rescue),
        (Section::Always, sections.always),
    ] {
        let Some(list) = list else { continue };
        let inner = Place {
            scope: Arc::new(inside(&scope, id, section, &title)),
            ..place.clone()
        };
        for entry in list {
            loader.entry(entry, &inner, false)?;
        }
    }
    Ok(())
}

/// What a group may not be: without `try:`, a handler, beside an operation, an include
/// or a role, with a key a group does not take, with an empty list.
fn refuse(
    s: &Spanned<RawStep>,
    place: &Place,
    sections: &Sections,
    handler: bool,
) -> Result<(), ConfigError> {
    let fail = |msg: &str| Err(call_error(s, place, msg));
    if sections.try_steps.is_none() {
        let key = match sections.rescue.is_some() {
            true => "rescue",
            false => "always",
        };
        return fail(&format!(
            "`{key}:` needs a `try:` on the same step (the steps to try first)"
        ));
    }
    if handler {
        return fail("a handler cannot be a `try:` group");
    }
    let spec = &s.value.spec;
    for (key, given) in [
        ("include", spec.include.is_some()),
        ("role", spec.role.is_some()),
    ] {
        if given {
            return fail(&format!(
                "`try:` takes the place of an operation; this step also has `{key}`"
            ));
        }
    }
    only_keys(s, place, "try", &GROUP_KEYS)?;
    if spec.become_root == Some(true) && spec.user.is_some() {
        return fail("give either `become: true` or `user:`, not both");
    }
    for (key, list) in [
        ("try", &sections.try_steps),
        ("rescue", &sections.rescue),
        ("always", &sections.always),
    ] {
        if list.as_ref().is_some_and(Vec::is_empty) {
            let or = if key == "try" {
                ""
            } else {
                ", or leave it out"
            };
            return fail(&format!(
                "`{key}:` is an empty list: give it at least one step{or}"
            ));
        }
    }
    Ok(())
}

/// The scope of one list of group `id` (named `title`, perhaps empty).
fn inside(scope: &Scope, id: usize, section: Section, title: &str) -> Scope {
    let mut inner = scope.clone();
    let here = match title.is_empty() {
        true => section.word().to_string(),
        false => format!("{title} / {}", section.word()),
    };
    inner.groups.push(GroupLevel {
        id,
        section,
        looped: scope.outer_loop.is_some(),
        title: scope.named(title),
    });
    inner.prefix.push_str(&format!("{here} / "));
    inner
}
