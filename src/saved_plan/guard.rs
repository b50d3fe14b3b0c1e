//! What a run with a saved plan keeps while it runs ([`SavedRun`]): the decisions its dry
//! passes made, with the hashes of their facts (written by `plan --out`, compared by
//! `apply --plan`), and the plan being applied, which says what each step may do.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::facts::Facts;
use crate::mask::Masker;
use crate::report::{ActionKind, StepStatus};

use super::check;
use super::digest;
use super::model::{FactsHash, PlanFile};

/// What a dry pass decided for one step of one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// A handler.
    pub handler: bool,
    /// Its position among the steps or handlers.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// What the pass found.
    pub status: StepStatus,
    /// The hashes of the facts it decided on.
    pub facts: Option<FactsHash>,
}

/// What `apply --plan` lets a step do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No saved plan is being applied: the step does what it decides.
    Free,
    /// The plan has the step changing (will change, will run) or unknown: it does what
    /// it decides.
    Planned,
    /// The plan has the step as ok or skipped, or does not have it: it changes nothing.
    Hold,
}

impl Verdict {
    /// Why a step that would now change is left alone, or `None` when it may change.
    /// (What it would change is shown with it, as for any step.)
    pub fn hold(self) -> Option<&'static str> {
        (self == Verdict::Hold).then_some(
            "drift: the saved plan does not change this step, but the machine now differs; \
             not changed (apply --plan makes only the planned changes)",
        )
    }
}

/// A run's saved-plan state: `plan --out` (recording) or `apply --plan` (checking).
pub struct SavedRun {
    /// The plan id: the salt of every facts hash.
    plan_id: String,
    /// Masks secrets before anything is hashed.
    masker: Masker,
    /// The plan being applied (`None`: one is being made).
    applying: Option<PlanFile>,
    /// What dry passes decided, per machine, in order.
    seen: Mutex<BTreeMap<String, Vec<Seen>>>,
    /// Machines refused in phase 2.
    refused: AtomicUsize,
    /// The input files read by the load and check, by plan name, with their hex SHA-256.
    inputs: BTreeMap<String, String>,
}

impl SavedRun {
    /// A run that makes a new plan (`plan --out`) from these input files.
    pub fn recording(masker: Masker, inputs: BTreeMap<String, String>) -> SavedRun {
        SavedRun::new(uuid::Uuid::new_v4().to_string(), masker, None, inputs)
    }

    /// A run that applies `plan` (`apply --plan`), already opened and checked, and has
    /// read these input files.
    pub fn applying(plan: PlanFile, masker: Masker, inputs: BTreeMap<String, String>) -> SavedRun {
        SavedRun::new(plan.plan_id.clone(), masker, Some(plan), inputs)
    }

    fn new(
        plan_id: String,
        masker: Masker,
        applying: Option<PlanFile>,
        inputs: BTreeMap<String, String>,
    ) -> SavedRun {
        SavedRun {
            plan_id,
            masker,
            applying,
            seen: Mutex::new(BTreeMap::new()),
            refused: AtomicUsize::new(0),
            inputs,
        }
    }

    /// The input files this run read, by plan name, with their hex SHA-256.
    pub fn inputs(&self) -> &BTreeMap<String, String> {
        &self.inputs
    }

    /// The plan id.
    pub fn plan_id(&self) -> &str {
        &self.plan_id
    }

    /// The masker.
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// The plan being applied.
    pub fn plan(&self) -> Option<&PlanFile> {
        self.applying.as_ref()
    }

    /// The salted, masked hashes of what a probe read.
    pub fn facts_hash(&self, facts: &Facts) -> FactsHash {
        digest::facts_hash(&self.plan_id, &self.masker, facts)
    }

    /// Keep what a dry pass decided for a step.
    pub fn record(&self, machine: &str, mut seen: Seen) {
        // Names are kept as the plan file has them: masked (a loop label may be a secret).
        seen.name = self.masker.text(&seen.name);
        if let Ok(mut all) = self.seen.lock() {
            all.entry(machine.to_string()).or_default().push(seen);
        }
    }

    /// What a dry pass decided for `machine`, taken out.
    pub fn take_seen(&self, machine: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .ok()
            .and_then(|mut all| all.remove(machine))
            .unwrap_or_default()
    }

    /// What the plan being applied lets this step do.
    pub fn verdict(&self, machine: &str, handler: bool, index: usize, name: &str) -> Verdict {
        let Some(plan) = &self.applying else {
            return Verdict::Free;
        };
        let name = self.masker.text(name);
        let planned = plan.machine(machine).is_some_and(|m| {
            m.steps.iter().any(|s| {
                s.handler == handler
                    && s.index == index
                    && s.name == name
                    && (s.acts() || s.status == StepStatus::Unknown)
            })
        });
        if planned {
            Verdict::Planned
        } else {
            Verdict::Hold
        }
    }

    /// `Err(what differs)` when `machine`'s phase-1 action is not the planned one; a
    /// machine the plan does not have is refused too.
    pub fn check_action(
        &self,
        machine: &str,
        action: ActionKind,
        argv: &[String],
    ) -> Result<(), String> {
        match &self.applying {
            None => Ok(()),
            Some(plan) => check::action(plan, machine, action, argv),
        }
    }

    /// `Err(what differs)` when the dry pass just made on `machine` found other facts or
    /// other decisions than the plan for a step the plan changes; counts the refusal.
    pub fn check_machine(&self, machine: &str) -> Result<(), String> {
        let seen = self.take_seen(machine);
        let Some(plan) = &self.applying else {
            return Ok(());
        };
        let result = check::machine(plan, machine, &seen);
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    /// How many machines phase 2 refused.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}
