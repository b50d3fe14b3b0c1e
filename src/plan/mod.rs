//! The plan layer: pure, no orbctl call. From the loaded inventory and steps it decides
//! which steps each machine gets (after `hosts:`, `--limit` and `--tags`, [`mod@select`]),
//! checks that every one of them renders for every machine before anything runs
//! ([`mod@validate`]), and decides the machine actions of phase 1 ([`machines`]).

pub mod machines;
pub mod select;
pub mod validate;

use serde_json::Value as Json;

use crate::inventory::Inventory;
use crate::load::inventory::DesiredState;
use crate::steps::Step;

pub use select::select;
pub use validate::validate;

/// A machine's variables as template values (name → value).
pub type Vars = serde_json::Map<String, Json>;

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
    pub vars: Vars,
    /// Its steps in order, after `hosts:` and `--tags`.
    pub steps: Vec<&'a Step>,
    /// The handlers its steps may notify, in the order of the handlers: a handler runs
    /// only where a step notified it.
    pub handlers: Vec<&'a Step>,
}

impl Plan<'_> {
    /// Take in what phase 1 learnt about the machines (created machines, addresses,
    /// attached to `inv`): templates see it in `machine`'s variables and in `hostvars`.
    pub fn refresh_vars(&mut self, inv: &Inventory) {
        for m in &mut self.machines {
            if let Some(h) = inv.hosts.iter().find(|h| h.name == m.name) {
                m.vars = select::vars(inv, h);
            }
        }
        self.hostvars = select::hostvars(inv);
    }

    /// The names of the selected machines, in order.
    pub fn names(&self) -> Vec<String> {
        self.machines.iter().map(|m| m.name.clone()).collect()
    }
}
