//! The plan layer: pure, no orbctl call. From the loaded inventory and steps it decides
//! which steps each machine gets (after `hosts:`, `--limit` and `--tags`, [`mod@select`]),
//! checks that every one of them renders for every machine before anything runs
//! ([`mod@validate`]), and decides the machine actions of phase 1 ([`machines`]).

pub mod list;
pub mod machines;
pub mod rerun;
pub mod select;
pub mod settings;
pub mod validate;

use serde_json::Value as Json;

use crate::inventory::Inventory;
use crate::load::inventory::DesiredState;
use crate::steps::Step;

pub use select::select;
pub use validate::validate;

/// A machine's variables as template values (name → value).
pub use crate::template::TemplateVars;

/// What an `apply` or `plan` will do with its steps: every selected machine with the
/// steps it gets.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The machines `--limit` selected, in inventory order.
    pub machines: Vec<MachinePlan<'a>>,
    /// Every machine's variables, selected or not, by name: `hostvars` in templates.
    pub hostvars: Json,
}

/// One selected machine and its steps.
#[derive(Debug, Clone)]
pub struct MachinePlan<'a> {
    /// The machine.
    pub name: String,
    /// The state the inventory wants it in: only a running machine runs steps.
    pub state: DesiredState,
    /// Its variables, built-ins included.
    pub vars: TemplateVars,
    /// The ones no include, role or loop overrides: built-ins and `--var`.
    pub fixed: TemplateVars,
    /// Its steps in order, after `hosts:` and `--tags`.
    pub steps: Vec<&'a Step>,
    /// The handlers its steps may notify, in the order of the handlers: a handler runs
    /// only where a step notified it.
    pub handlers: Vec<&'a Step>,
    /// Where its steps resume (`apply --rerun-failed`); by default, at the first.
    pub resume: rerun::Resume,
}

impl Plan<'_> {
    /// The same selection with its variables made from `inv` as it is now: what the run
    /// learnt since the selection (ssh facts, machines phase 1 created or started) is
    /// attached to the inventory, once each, and templates see it in the machine's
    /// variables and in `hostvars`.
    pub fn with_vars(mut self, inv: &Inventory) -> Self {
        for m in &mut self.machines {
            if let Some(h) = inv.hosts.iter().find(|h| h.name == m.name) {
                m.vars = select::vars(inv, h);
                m.fixed = select::fixed(inv, h);
            }
        }
        self.hostvars = select::hostvars(inv);
        self
    }

    /// The names of the selected machines, in order.
    pub fn names(&self) -> Vec<String> {
        self.machines.iter().map(|m| m.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::Playbook;
    use crate::template::Renderer;

    /// An inventory and its steps, loaded from text as `apply` loads them.
    fn load(inventory: &str, ops: &str) -> (tempfile::TempDir, Inventory, Playbook, Renderer) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ops.yaml"), ops).unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(&path, inventory).unwrap();
        let inv = crate::inventory::load(&path, &[]).unwrap();
        let renderer = Renderer::new();
        let book = crate::steps::load(&inv, &renderer).unwrap();
        (dir, inv, book, renderer)
    }

    const INVENTORY: &str = "\
vars: { port: 80 }
groups: { web: {} }
machines:
  web-1: { groups: [web], vars: { port: 81 } }
  web-2: { groups: [web] }
  db-1: { state: stopped }
operations: ops.yaml
";

    const OPS: &str = "\
steps:
  - { name: everywhere, shell: 'true', tags: [base] }
  - { name: web only, shell: 'echo {{ port }}', hosts: [web], notify: reload }
  - { name: always, shell: 'true', tags: [always] }
  - { name: web-2 only, shell: 'true', hosts: ['web-2'], tags: [app], notify: restart }
handlers:
  - { name: restart, shell: 'true' }
  - { name: reload, shell: 'true' }
  - { name: never notified, shell: 'true' }
";

    fn names(steps: &[&Step]) -> Vec<String> {
        steps.iter().map(|s| s.name.clone()).collect()
    }

    #[test]
    fn each_machine_gets_its_steps_and_the_handlers_they_may_notify() {
        let (_dir, inv, book, _) = load(INVENTORY, OPS);
        let plan = select(&inv, &book, (&[], None), &[]).unwrap();
        assert_eq!(plan.names(), ["web-1", "web-2", "db-1"]);
        let [web1, web2, db1] = &plan.machines[..] else {
            panic!("{:?}", plan.names())
        };
        assert_eq!(names(&web1.steps), ["everywhere", "web only", "always"]);
        assert_eq!(names(&web1.handlers), ["reload"]);
        assert_eq!(
            names(&web2.steps),
            ["everywhere", "web only", "always", "web-2 only"]
        );
        // In the order of the handlers, not of the notifying steps.
        assert_eq!(names(&web2.handlers), ["restart", "reload"]);
        assert_eq!(names(&db1.steps), ["everywhere", "always"]);
        assert!(db1.handlers.is_empty());
        assert_eq!(db1.state, DesiredState::Stopped);
        assert_eq!(web1.vars["port"], 81);
        assert_eq!(plan.hostvars["web-2"]["port"], 80);
    }

    #[test]
    fn limit_and_tags_narrow_the_plan() {
        let (_dir, inv, book, _) = load(INVENTORY, OPS);
        let plan = select(&inv, &book, (&["web-*".into()], None), &["app".into()]).unwrap();
        assert_eq!(plan.names(), ["web-1", "web-2"]);
        assert_eq!(names(&plan.machines[0].steps), ["always"]);
        assert!(plan.machines[0].handlers.is_empty());
        assert_eq!(names(&plan.machines[1].steps), ["always", "web-2 only"]);
        assert_eq!(names(&plan.machines[1].handlers), ["restart"]);
        // Machines that are not selected are still in `hostvars`.
        let only = select(&inv, &book, (&["db-1".into()], None), &[]).unwrap();
        assert_eq!(only.names(), ["db-1"]);
        assert_eq!(only.hostvars["web-1"]["port"], 81);
        let err = select(&inv, &book, (&["nope".into()], None), &[]).unwrap_err();
        assert!(err.to_string().starts_with("--limit: `nope`"), "{err}");
    }

    #[test]
    fn shards_split_the_selected_machines() {
        use crate::inventory::shard::Shard;
        let (_dir, inv, book, _) = load(INVENTORY, OPS);
        for count in 1..=4 {
            let mut all: Vec<String> = (1..=count)
                .flat_map(|index| {
                    let shard = Some(Shard { index, count });
                    select(&inv, &book, (&[], shard), &[]).unwrap().names()
                })
                .collect();
            all.sort();
            assert_eq!(all, ["db-1", "web-1", "web-2"], "{count} shards");
        }
        // The shard is taken of what --limit selected.
        let shard = Some(Shard { index: 1, count: 1 });
        let web = select(&inv, &book, (&["web-*".into()], shard), &[]).unwrap();
        assert_eq!(web.names(), ["web-1", "web-2"]);
    }

    #[test]
    fn validation_renders_every_step_of_every_running_machine() {
        let ops = "\
steps:
  - { name: greet, shell: 'echo {{ greeting }}', hosts: [web-2, db-1] }
  - { name: uses a registered value, shell: 'echo {{ out.stdout }}', register: out }
";
        let (_dir, inv, book, renderer) = load(INVENTORY, ops);
        let plan = select(&inv, &book, (&[], None), &[]).unwrap();
        let err = validate(&plan, &book, &renderer).unwrap_err();
        assert!(err.location.is_some_and(|l| l.ends_with("ops.yaml:2:5")));
        assert!(
            err.message
                .starts_with("step `greet`: on machine `web-2`: shell: "),
            "{}",
            err.message
        );
        // db-1 is declared stopped: it runs no step, so nothing of it is checked.
        let stopped = select(&inv, &book, (&["db-1".into(), "web-1".into()], None), &[]).unwrap();
        validate(&stopped, &book, &renderer).unwrap();
    }
}
