//! Where a run meets a saved plan ([`crate::saved_plan`], which holds the logic): before
//! loading, the plan is opened and gives its inventory and flags; after checking, the
//! input files are compared; before a machine's first change, its facts are read again
//! in a dry pass; and after a `plan --out`, the plan is written.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use crate::error::{Outcome, RunEnd};
use crate::facts::Facts;
use crate::plan::machines::MachineStep;
use crate::plan::MachinePlan;
use crate::report::{HostResult, HostStatus, Report, Sender, StepStatus};
use crate::saved_plan::{self, check, write, PlanFile, SavedRun, Seen, Use};
use crate::steps::Step;

use super::step::Shared;
use super::watch::StepWatch;
use super::{host, Config, Loaded, Ready};

/// The reason every step of a refused machine carries.
pub const REFUSED: &str = "refused by the saved plan";

/// The run's configuration with the saved plan's inventory and flags, and the plan
/// (`apply --plan`), opened and verified; refused (exit 5) when it is stale by version,
/// when it was changed, when it has unknown steps and `--allow-unknown` is not given, or
/// when the command line names another inventory or other flags.
pub fn prepare(config: &Config) -> Result<(Config, Option<PlanFile>)> {
    let mut config = config.clone();
    let Use::Apply {
        path,
        allow_unknown,
    } = &config.saved_plan
    else {
        return Ok((config, None));
    };
    let plan = saved_plan::open(path)?;
    let refuse = |why: String| Outcome::PlanRefused(format!("{}: {why}", path.display()));
    let unknown = plan.unknown_steps();
    if !allow_unknown && !unknown.is_empty() {
        return Err(refuse(format!(
            "the plan has {} unknown step(s) ({}{}); give --allow-unknown to run them as they decide then",
            unknown.len(),
            unknown[..unknown.len().min(3)].join("; "),
            if unknown.len() > 3 { "; …" } else { "" }
        ))
        .into());
    }
    let planned = std::path::PathBuf::from(&plan.inventory);
    if config.inventory.as_os_str().is_empty() {
        config.inventory = planned;
    } else if planned.is_file() && !same_file(&config.inventory, &planned) {
        // (A plan's inventory not found from here, the plan made in another directory,
        // leaves the choice to the inventory given: its hash is checked with the inputs.)
        return Err(refuse(format!(
            "the plan was made for the inventory {}, not {}",
            plan.inventory,
            config.inventory.display()
        ))
        .into());
    }
    let sel = &plan.selection;
    take_or_match(&mut config.limit, &sel.limit, "--limit").map_err(refuse)?;
    take_or_match(&mut config.tags, &sel.tags, "--tags").map_err(refuse)?;
    let mut roles: Vec<String> = config
        .roles_path
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    take_or_match(&mut roles, &sel.roles_path, "--roles-path").map_err(refuse)?;
    config.roles_path = roles.into_iter().map(Into::into).collect();
    Ok((config, Some(plan)))
}

/// The same file, by resolved path.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// A flag not given takes the plan's values; one given must have them.
fn take_or_match(now: &mut Vec<String>, planned: &[String], flag: &str) -> Result<(), String> {
    if now.is_empty() {
        *now = planned.to_vec();
        return Ok(());
    }
    if now != planned {
        return Err(format!(
            "{flag} differs: the plan was made with [{}], this apply has [{}]",
            planned.join(", "),
            now.join(", ")
        ));
    }
    Ok(())
}

/// The run's saved-plan state, once the inputs are loaded and checked: for `apply
/// --plan`, refused (exit 5) when an input file or a `--var` differs from the plan's.
pub fn start(
    config: &Config,
    loaded: &Loaded,
    selected: &[String],
    opened: Option<PlanFile>,
) -> Result<Option<SavedRun>> {
    let masker = super::masker(loaded);
    // Taken now, after the load and the check read every file, the same moment for the
    // plan and for the apply.
    let inputs = check::inputs_now(&loaded.renderer.read_log().snapshot(), &config.inventory);
    let saved = match (&config.saved_plan, opened) {
        (Use::Write(_), _) => SavedRun::recording(masker, inputs),
        (Use::Apply { path, .. }, Some(plan)) => {
            let saved = SavedRun::applying(plan, masker, inputs);
            if let Err(why) = check_inputs(config, &saved, selected) {
                return Err(Outcome::PlanRefused(format!(
                    "{}: the plan is stale: {why}; make a new plan",
                    path.display()
                ))
                .into());
            }
            saved
        }
        _ => return Ok(None),
    };
    Ok(Some(saved))
}

/// The input files and the `--var`s of this run against the plan's, and every machine
/// of the plan still selected (a discovered machine may be gone). A machine selected now
/// that the plan does not have is refused alone, in phase 1.
fn check_inputs(config: &Config, saved: &SavedRun, selected: &[String]) -> Result<(), String> {
    let Some(plan) = saved.plan() else {
        return Ok(());
    };
    check::inputs(plan, saved.inputs())?;
    check::vars(&plan.selection.vars, &selection(config, saved).vars)?;
    if let Some(gone) = plan
        .machines
        .iter()
        .find(|m| !selected.contains(&m.machine))
    {
        return Err(format!(
            "machine `{}` is in the plan but not selected now (`orbctl list` no longer shows it)",
            gone.machine
        ));
    }
    Ok(())
}

fn selection(config: &Config, saved: &SavedRun) -> saved_plan::model::Selection {
    write::selection(
        saved,
        &config.limit,
        &config.tags,
        &config.roles_path,
        &config.vars,
    )
}

/// The saved plan watches every step: `plan --out` keeps what each dry pass decided
/// (with the salted hashes of its facts), `apply --plan` holds a change it did not plan.
impl StepWatch for SavedRun {
    fn hold(&self, machine: &str, handler: bool, step: &Step) -> Option<&'static str> {
        self.verdict(machine, handler, step.index, &step.name)
            .hold()
    }

    fn wants_facts(&self) -> bool {
        true
    }

    fn decided(
        &self,
        machine: &str,
        handler: bool,
        step: &Step,
        status: StepStatus,
        facts: Option<Facts>,
    ) {
        let seen = Seen {
            handler,
            index: step.index,
            name: step.name.clone(),
            status,
            facts: facts.map(|f| self.facts_hash(&f)),
        };
        self.record(machine, seen);
    }
}

/// `apply --plan`: a machine whose action is not the planned one is refused (and takes
/// no action).
pub(super) fn hold_actions(
    saved: &SavedRun,
    actions: &mut Vec<MachineStep>,
    ready: &mut BTreeMap<String, Ready>,
) {
    actions.retain(
        |a| match saved.check_action(&a.machine, super::action_kind(a), &a.argv) {
            Ok(()) => true,
            Err(why) => {
                ready.insert(a.machine.clone(), Ready::Refused(why));
                false
            }
        },
    );
}

/// `apply --plan`: read `machine`'s facts again in a dry pass (nothing changes) and
/// compare them with the plan's. A refused machine's steps are reported as skipped and
/// the machine as failed, naming what differs; `None` when it may go on.
pub fn refused_before_run(
    saved: &SavedRun,
    (reach, trace, password): (
        crate::remote::Reach<'_>,
        &crate::remote::Tracer,
        Option<&str>,
    ),
    shared: &Shared<'_>,
    dry: &Config,
    machine: &MachinePlan<'_>,
) -> Option<HostResult> {
    let planned = saved.plan()?.machine(&machine.name)?;
    // A machine the plan changes nothing on needs no check: every step is held anyway.
    if !planned.steps.iter().any(|s| s.acts()) {
        return None;
    }
    // A failure in the dry pass must not stop the other machines (`--fail-fast`).
    let stop_none = AtomicBool::new(false);
    let quiet = Shared {
        renderer: shared.renderer,
        events: Sender::discarding(),
        config: dry,
        stop_all: &stop_none,
        hostvars: shared.hostvars,
        watch: shared.watch,
    };
    // Its own connection (an ssh machine's: one more master for the dry pass).
    let mut remote = crate::remote::connect(reach, &machine.name, dry.transport, trace);
    if let Some(password) = password {
        remote.set_become_password(password);
    }
    let pass = host::run(&quiet, machine, remote.as_mut());
    if crate::interrupt::requested() {
        // The run itself reports the interruption.
        let _ = saved.take_seen(&machine.name);
        return None;
    }
    let why = match (pass.status, saved.check_machine(&machine.name)) {
        (HostStatus::Failed | HostStatus::Unreachable | HostStatus::Interrupted, _) => {
            let _ = saved.take_seen(&machine.name);
            format!("its facts could not be read again ({})", pass.status.word())
        }
        (_, Ok(())) => return None,
        (_, Err(why)) => why,
    };
    Some(refused(&shared.events, machine, &why))
}

/// The result of a machine refused before any change: every step skipped.
pub fn refused(events: &Sender, machine: &MachinePlan<'_>, why: &str) -> HostResult {
    let counts = host::not_run(
        events,
        &machine.name,
        &machine.steps,
        StepStatus::Skipped,
        REFUSED,
    );
    HostResult {
        machine: machine.name.clone(),
        status: HostStatus::Failed,
        counts,
        duration_ms: 0,
        error: Some(format!("{REFUSED}: {why}")),
        timings: None,
        batch: None,
    }
}

/// The configuration of the dry pass before a machine's changes: a plan, showing
/// nothing extra.
pub fn dry_config(config: &Config) -> Config {
    let mut dry = config.clone();
    dry.mode.dry_run = true;
    dry.mode.show_calls = false;
    dry.mode.exit_on_changes = false;
    dry.diff = false;
    dry
}

/// `plan --out`: write the plan, when the plan ended without a failure.
pub fn finish(
    config: &Config,
    saved: Option<&SavedRun>,
    report: &Report,
    end: RunEnd,
) -> Result<()> {
    let (Some(saved), Use::Write(path)) = (saved, &config.saved_plan) else {
        return Ok(());
    };
    if !matches!(end, RunEnd::Success | RunEnd::ChangesPending) {
        eprintln!(
            "orbdeploy: no plan written to {}: the plan ended with exit {} ({})",
            path.display(),
            end.exit_code(),
            end.word()
        );
        return Ok(());
    }
    let selection = selection(config, saved);
    let plan = write::build(saved, &config.inventory, selection, saved.inputs(), report);
    write::write(path, &plan)
}
