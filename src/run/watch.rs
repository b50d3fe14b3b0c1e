//! Features beside the runner see each step through one narrow trait, [`StepWatch`], and
//! the runner knows nothing of them. The saved plan is the one there is
//! ([`super::saved`]): `plan --out` keeps what each step's dry pass decided with the facts
//! it decided on, and `apply --plan` holds a change it did not plan.

use crate::facts::Facts;
use crate::report::StepStatus;
use crate::steps::Step;

/// What a feature beside the runner sees of each step, and may say about it.
pub trait StepWatch: Sync {
    /// Why the step must not change its machine now (it stays as it is and is reported
    /// as skipped with this reason), or `None` when it may.
    fn hold(&self, machine: &str, handler: bool, step: &Step) -> Option<&'static str>;

    /// A dry pass (a plan) decided `status` for the step, on `facts` (`None`: it read
    /// none). The runner hands the facts only when this is `true`.
    fn wants_facts(&self) -> bool;

    /// See [`StepWatch::wants_facts`].
    fn decided(
        &self,
        machine: &str,
        handler: bool,
        step: &Step,
        status: StepStatus,
        facts: Option<Facts>,
    );
}
