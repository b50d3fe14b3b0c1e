//! The saved plan document (`plan --out`), as written and read. Its meaning, field by
//! field, is docs/plan-file.md; its JSON schema is docs/plan-schema.json.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::{ActionKind, ActionStatus, StepStatus};

/// The `schema` field of every saved plan.
pub const SCHEMA: &str = "orbdeploy-plan";

/// Version of the document's format; bumped on any change to its fields or to how its
/// hashes are computed. `apply --plan` refuses any other version.
pub const FORMAT_VERSION: u32 = 1;

/// A saved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`FORMAT_VERSION`] of the orbdeploy that wrote it.
    pub format_version: u32,
    /// The version of the orbdeploy that wrote it.
    pub orbdeploy_version: String,
    /// A random UUID (v4), also the salt of every facts hash in it.
    pub plan_id: String,
    /// When the plan was made, seconds since the Unix epoch.
    pub created_unix: u64,
    /// The inventory file, as given on the command line.
    pub inventory: String,
    /// The flags that chose what the plan covers.
    pub selection: Selection,
    /// Every local file the plan read, with its SHA-256.
    pub inputs: Vec<Input>,
    /// Every selected machine: its action and its steps.
    pub machines: Vec<PlannedMachine>,
    /// `sha256:HEX` of the document without this field ([`super::digest::integrity`]).
    pub integrity: String,
}

/// The flags that chose what the plan covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// `--limit` patterns.
    pub limit: Vec<String>,
    /// `--tags`.
    pub tags: Vec<String>,
    /// `--roles-path` directories, as given.
    pub roles_path: Vec<String>,
    /// `--var` names with a hash of each value (never the value).
    pub vars: Vec<PlannedVar>,
}

/// One `--var`: its name and the salted hash of its value, secrets masked first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedVar {
    /// The variable.
    pub name: String,
    /// `sha256:HEX` of the plan id and the value (a secret's value is `***` first).
    pub value_hash: String,
}

/// A local file the plan read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Relative to the inventory's directory when inside it, else absolute.
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// One machine of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedMachine {
    /// The machine.
    pub machine: String,
    /// Its phase-1 action: `keep`, `settings`, `create`, `start`, `stop`, `delete`, ….
    pub action: ActionKind,
    /// `ok` when nothing is done to the machine itself, `planned` otherwise.
    pub action_status: ActionStatus,
    /// The exact orbctl argv of the action (empty for keep).
    pub argv: Vec<String>,
    /// What the action does, in words (settings, drift).
    pub message: Option<String>,
    /// Its steps and the handlers they notify, in order.
    pub steps: Vec<PlannedStep>,
}

/// One step (or handler) of one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedStep {
    /// Its position among the steps (or the handlers).
    pub index: usize,
    /// Its name (a loop item's carries its label).
    pub name: String,
    /// Its kind (`put`, `shell`, …).
    pub kind: crate::ops::Kind,
    /// A handler.
    pub handler: bool,
    /// What the plan found: `ok`, `skipped`, `will_change`, `will_run` or `unknown`.
    pub status: StepStatus,
    /// What would change, in words (secrets masked).
    pub changes: Vec<String>,
    /// Why it is skipped or unknown.
    pub reason: Option<String>,
    /// `file:line:column` where it was written.
    pub origin: Option<String>,
    /// The facts the decision was made on, as salted hashes; `None` for ok and skipped
    /// steps, and for unknown steps that read none.
    pub facts: Option<FactsHash>,
}

/// What a step's probe read, as salted hashes (secret values masked first): one per
/// fact key, and the probe's exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsHash {
    /// `sha256:HEX` of the probe's exit status.
    pub status: String,
    /// `sha256:HEX` of each fact's values, by key.
    pub keys: BTreeMap<String, String>,
}

impl PlannedStep {
    /// True for a step `apply --plan` changes the machine for (will change, will run).
    pub fn acts(&self) -> bool {
        matches!(self.status, StepStatus::WillChange | StepStatus::WillRun)
    }
}

impl PlanFile {
    /// Every unknown step, as `machine: step`.
    pub fn unknown_steps(&self) -> Vec<String> {
        self.machines
            .iter()
            .flat_map(|m| {
                m.steps
                    .iter()
                    .filter(|s| s.status == StepStatus::Unknown)
                    .map(move |s| format!("{}: {}", m.machine, s.name))
            })
            .collect()
    }

    /// The plan's entry for `machine`.
    pub fn machine(&self, machine: &str) -> Option<&PlannedMachine> {
        self.machines.iter().find(|m| m.machine == machine)
    }
}
