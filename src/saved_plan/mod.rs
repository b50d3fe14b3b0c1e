//! Saved plans: `plan --out PLAN.json` writes what a plan found, and `apply --plan
//! PLAN.json` applies exactly that, refusing when the inputs or a machine's facts have
//! moved since. The document is [`model`] (docs/plan-file.md, docs/plan-schema.json);
//! [`digest`] holds its hashes, [`mod@open`] reads it back, [`mod@write`] makes it, [`check`]
//! compares a run with it and [`guard`] is what a run keeps while it goes; [`show`]
//! prints one for people.

pub mod check;
pub mod digest;
pub mod guard;
pub mod model;
pub mod open;
pub mod show;
pub mod write;

use std::path::PathBuf;

pub use guard::{SavedRun, Seen, Verdict};
pub use model::PlanFile;
pub use open::open;

/// What a run does with a saved plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Use {
    /// Nothing.
    #[default]
    None,
    /// `plan --out PATH`: write one.
    Write(PathBuf),
    /// `apply --plan PATH [--allow-unknown]`: apply one.
    Apply {
        /// The plan file.
        path: PathBuf,
        /// Run the steps the plan could not decide.
        allow_unknown: bool,
    },
}
