//! Carrying out the machine actions of [`crate::plan::machines`]: at most
//! [`MAX_PARALLEL_CREATES`] creates at a time, a create that timed out but left a running
//! machine adopted (otherwise cleaned up); with `--dry-run` nothing is executed and the plan
//! is the answer. ssh machines never reach this module: the plan gives them no machine
//! step, so no orbctl call is made for them.

use crate::orb::{CreateSpec, Lifecycle, Machine, Orb, OrbError};
use crate::plan::machines::{Action, MachineStep};

use super::pool::{self, Throttle};

/// Creates are heavy on OrbStack (image unpacking, setup): no more than this many at once.
pub const MAX_PARALLEL_CREATES: usize = 2;

/// What happened to one machine.
#[derive(Debug, Clone)]
pub struct MachineOutcome {
    /// Machine name.
    pub machine: String,
    /// What was planned.
    pub action: Action,
    /// The machine afterwards (`None` when it does not exist or is unreachable).
    pub machine_after: Option<Machine>,
    /// Why the machine cannot be used, when it cannot.
    pub error: Option<String>,
    /// The error means orbctl, OrbStack or the machine is unavailable (exit 3) rather than
    /// a failure of the action (exit 1); decided from the typed orbctl error, not its words.
    pub unavailable: bool,
    /// A note for the report (e.g. adopted after a create timeout).
    pub note: Option<String>,
}

/// Carry out a plan. Machines that end up running are read back with `info` (for `ip4`).
pub fn execute(orb: &Orb, steps: &[MachineStep], dry_run: bool) -> Vec<MachineOutcome> {
    execute_with(orb, steps, dry_run, true)
}

/// [`execute`], reading machines that were already as declared back with `info` only when
/// `read_kept` is set (apply skips it unless a step needs `ip4`: one orbctl call per
/// machine saved on every re-apply). Every machine's action runs at once, creates at most
/// [`MAX_PARALLEL_CREATES`] at a time.
pub fn execute_with(
    orb: &Orb,
    steps: &[MachineStep],
    dry_run: bool,
    read_kept: bool,
) -> Vec<MachineOutcome> {
    let creates = Throttle::new(MAX_PARALLEL_CREATES);
    pool::map(steps.iter().collect(), steps.len(), |step: &MachineStep| {
        if matches!(step.action, Action::Create(_)) && !dry_run {
            creates.hold(|| execute_one(orb, step, dry_run, read_kept))
        } else {
            execute_one(orb, step, dry_run, read_kept)
        }
    })
}

fn execute_one(orb: &Orb, step: &MachineStep, dry_run: bool, read_kept: bool) -> MachineOutcome {
    let mut out = MachineOutcome {
        machine: step.machine.clone(),
        action: step.action.clone(),
        machine_after: None,
        error: None,
        unavailable: false,
        note: None,
    };
    let name = &step.machine;
    if !dry_run {
        if let Err(e) = apply_settings(orb, step) {
            out.error = Some(e.message);
            out.unavailable = e.unavailable;
            return out;
        }
    }
    let done = match (&step.action, dry_run) {
        (Action::Missing, _) => Err(Failed::from(OrbError::MachineNotFound {
            name: name.clone(),
        })),
        (Action::Drift(why), _) => Err(Failed::other(format!("machine `{name}` {why}"))),
        (_, true) | (Action::Keep, false) => Ok(()),
        (Action::Create(spec), false) => create_or_adopt(orb, spec).map(|note| out.note = note),
        (Action::Start, false) => orb
            .lifecycle_call(Lifecycle::Start, name)
            .map_err(Failed::from),
        (Action::Stop, false) => orb
            .lifecycle_call(Lifecycle::Stop, name)
            .map_err(Failed::from),
        (Action::Delete, false) => orb
            .lifecycle_call(Lifecycle::Delete, name)
            .map_err(Failed::from),
    };
    if let Err(e) = done {
        out.error = Some(e.message);
        out.unavailable = e.unavailable;
        return out;
    }
    // After a delete, or before a create that a dry run did not make, there is nothing to read.
    let gone = match step.action {
        Action::Delete => !dry_run,
        Action::Create(_) => dry_run,
        Action::Keep => !read_kept,
        _ => false,
    };
    if !gone {
        match orb.info(name) {
            Ok(m) => out.machine_after = Some(m),
            Err(OrbError::MachineNotFound { .. }) => {}
            Err(e) => {
                let e = Failed::from(e);
                out.error = Some(e.message);
                out.unavailable = e.unavailable;
            }
        }
    }
    out
}

/// `config set` every changed setting before the machine's action (a start then applies
/// those that wait for one), and restart a running machine when a change needs it and the
/// inventory allows it (plan/settings.rs decided which).
fn apply_settings(orb: &Orb, step: &MachineStep) -> Result<(), Failed> {
    for c in &step.settings.changes {
        orb.config_set(&c.key, &c.to).map_err(Failed::from)?;
    }
    if step.settings.restart {
        orb.lifecycle_call(Lifecycle::Restart, &step.machine)
            .map_err(Failed::from)?;
    }
    Ok(())
}

/// Why a machine action failed, and whether that means "unavailable".
struct Failed {
    message: String,
    unavailable: bool,
}

impl Failed {
    fn other(message: String) -> Self {
        Failed {
            message,
            unavailable: false,
        }
    }
}

impl From<OrbError> for Failed {
    fn from(e: OrbError) -> Self {
        Failed {
            unavailable: e.exit_code() == crate::exit::UNAVAILABLE,
            message: e.to_string(),
        }
    }
}

/// Create a machine; when the create fails or times out but the machine exists and runs,
/// adopt it (OrbStack often finishes the setup anyway, docs/orbctl.md §8), with a note saying
/// so; when it exists but does not run, delete it so the next apply starts clean.
fn create_or_adopt(orb: &Orb, spec: &CreateSpec) -> Result<Option<String>, Failed> {
    let err = match orb.create(spec) {
        Ok(()) => return Ok(None),
        Err(
            e @ (OrbError::InvalidName { .. }
            | OrbError::Missing { .. }
            | OrbError::NotRunning { .. }
            | OrbError::CannotRun { .. }
            | OrbError::ImageServiceUnavailable { .. }),
        ) => return Err(Failed::from(e)),
        Err(e) => e,
    };
    match orb.info(&spec.name) {
        Ok(m) if m.is_running() => Ok(Some(format!(
            "adopted: create reported `{err}` but the machine is running"
        ))),
        Ok(_) => {
            let cleanup = orb.lifecycle_call(Lifecycle::Delete, &spec.name);
            Err(Failed::other(format!(
                "create failed ({err}); the half-made machine was {}",
                if cleanup.is_ok() {
                    "deleted"
                } else {
                    "left behind: delete it with `orbctl delete -f NAME`"
                }
            )))
        }
        Err(_) => Err(Failed::other(format!("create failed: {err}"))),
    }
}
