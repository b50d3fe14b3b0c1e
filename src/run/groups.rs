//! The `try:` groups of one machine's run. The steps are a flat list, each carrying the
//! groups around it and the list (`try`, `rescue`, `always`) it is in
//! ([`crate::steps::GroupLevel`]); this keeps, per open group, which of its lists had a
//! failure, and answers the runner's three questions: may this step run, is a failure of
//! it rescued, and did a group just end failed with nothing around it to take the
//! failure (then it is the machine's).
//!
//! A failure is kept inside its innermost group until that group ends (its last step on
//! this machine is behind), because the group's `always:` must still run: only then does
//! a group that failed pass the failure to the list of the group around it.

use std::collections::BTreeSet;

use crate::steps::{GroupLevel, Section, Step};

/// One group the run is inside.
#[derive(Debug)]
struct Open {
    id: usize,
    /// The item of an include's loop this run of the group belongs to.
    round: usize,
    /// The list of this group the latest step was in (where an inner group sits).
    at: Section,
    try_failed: bool,
    rescue_failed: bool,
    always_failed: bool,
}

impl Open {
    fn mark(&mut self, section: Section) {
        match section {
            Section::Try => self.try_failed = true,
            Section::Rescue => self.rescue_failed = true,
            Section::Always => self.always_failed = true,
        }
    }

    /// The group as a whole failed: its `try` with nothing to rescue it, or its `rescue`,
    /// or its `always`.
    fn failed(&self, rescuable: bool) -> bool {
        (self.try_failed && !rescuable) || self.rescue_failed || self.always_failed
    }
}

/// The groups of one machine's run.
#[derive(Debug, Default)]
pub struct Groups {
    open: Vec<Open>,
    /// Groups with a `rescue:` step on this machine (after `hosts:` and `--tags`).
    rescuable: BTreeSet<usize>,
}

impl Groups {
    /// The groups of a machine whose steps are `steps`.
    pub fn new(steps: &[&Step]) -> Groups {
        let rescuable = steps
            .iter()
            .flat_map(|s| &s.scope.groups)
            .filter(|l| l.section == Section::Rescue)
            .map(|l| l.id)
            .collect();
        Groups {
            open: Vec::new(),
            rescuable,
        }
    }

    /// Before `step`: end the groups it is not in, enter those it is. True when a group
    /// that ended failed had no group around it: the failure is now the machine's.
    pub fn enter(&mut self, step: &Step) -> bool {
        let path = &step.scope.groups;
        let round = |l: &GroupLevel| match l.looped {
            true => step.item.as_ref().map_or(0, |i| i.round),
            false => 0,
        };
        let same = self
            .open
            .iter()
            .zip(path)
            .take_while(|(o, l)| o.id == l.id && o.round == round(l))
            .count();
        let escaped = self.end_to(same);
        for l in &path[same..] {
            self.open.push(Open {
                id: l.id,
                round: round(l),
                at: l.section,
                try_failed: false,
                rescue_failed: false,
                always_failed: false,
            });
        }
        for (o, l) in self.open.iter_mut().zip(path) {
            o.at = l.section;
        }
        escaped
    }

    /// After the last step: end every group (see [`Groups::enter`]).
    pub fn end_all(&mut self) -> bool {
        self.end_to(0)
    }

    /// End the innermost groups until `keep` are left; a group that failed passes its
    /// failure to the list of the group around it. True when it passed it to none.
    fn end_to(&mut self, keep: usize) -> bool {
        let mut escaped = false;
        while self.open.len() > keep {
            let Some(done) = self.open.pop() else { break };
            if !done.failed(self.rescuable.contains(&done.id)) {
                continue;
            }
            match self.open.last_mut() {
                Some(outer) => {
                    let at = outer.at;
                    outer.mark(at);
                }
                None => escaped = true,
            }
        }
        escaped
    }

    /// Why `step` does not run, from what happened in its groups so far (`None`: it
    /// runs, as far as the groups go).
    pub fn skip(&self, step: &Step) -> Option<String> {
        for (o, l) in self.open.iter().zip(&step.scope.groups) {
            let why = match l.section {
                Section::Try if o.try_failed => {
                    format!("a step of `{}` failed", l.list(Section::Try))
                }
                Section::Rescue if !o.try_failed => {
                    format!("runs only if `{}` fails", l.list(Section::Try))
                }
                Section::Rescue if o.rescue_failed => {
                    format!("a step of `{}` failed", l.list(Section::Rescue))
                }
                Section::Always if o.always_failed => {
                    format!("a step of `{}` failed", l.list(Section::Always))
                }
                _ => continue,
            };
            return Some(why);
        }
        None
    }

    /// A failure of `step` is rescued: it is in the `try:` of a group (or of a group
    /// around that one) with a `rescue:` on this machine.
    pub fn rescues(&self, step: &Step) -> bool {
        step.scope
            .groups
            .iter()
            .any(|l| l.section == Section::Try && self.rescuable.contains(&l.id))
    }

    /// `step` failed: its innermost group notes it. False when it is in no group (the
    /// failure is the machine's at once).
    pub fn fail(&mut self, step: &Step) -> bool {
        let Some(l) = step.scope.groups.last() else {
            return false;
        };
        match self.open.last_mut() {
            Some(o) if o.id == l.id => {
                o.mark(l.section);
                true
            }
            // Not reached: `enter` opened the step's groups before it ran.
            _ => false,
        }
    }
}
