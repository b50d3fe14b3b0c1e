//! Machine reconcile, the first phase of every `apply`: make each selected machine exist in
//! its declared state (create, start, stop, delete), and report what cannot be fixed.
//!
//! [`plan`] is pure: it compares the inventory with one `orbctl list` and says what to do.
//! [`execute`] does it (at most [`MAX_PARALLEL_CREATES`] creates at a time); with
//! `--dry-run` nothing is executed and the plan is the answer.

use std::sync::Mutex;

use crate::inventory::Host;
use crate::load::inventory::DesiredState;
use crate::orb::{CreateSpec, Lifecycle, Machine, Orb, OrbError};

/// Creates are heavy on OrbStack (image unpacking, setup): no more than this many at once.
pub const MAX_PARALLEL_CREATES: usize = 2;

/// What reconcile does to one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing: it is as declared.
    Keep,
    /// Create it (missing, `create: true`).
    Create(CreateSpec),
    /// Start it (stopped, `state: running`).
    Start,
    /// Stop it (running, `state: stopped`).
    Stop,
    /// Delete it (exists, `state: absent`).
    Delete,
    /// Missing and `create` is off: the machine is unavailable (exit 3).
    Missing,
    /// Exists but differs in a way orbdeploy cannot change (image or arch).
    Drift(String),
}

impl Action {
    /// The words used in reports: what was done / what would be done.
    pub fn verb(&self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (Action::Keep, _) => "ok",
            (Action::Create(_), false) => "created",
            (Action::Create(_), true) => "would create",
            (Action::Start, false) => "started",
            (Action::Start, true) => "would start",
            (Action::Stop, false) => "stopped",
            (Action::Stop, true) => "would stop",
            (Action::Delete, false) => "deleted",
            (Action::Delete, true) => "would delete",
            (Action::Missing, _) => "missing",
            (Action::Drift(_), _) => "drift",
        }
    }
}

/// The plan for one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Machine name.
    pub machine: String,
    /// What to do.
    pub action: Action,
    /// The exact orbctl argv it takes (empty for Keep/Missing/Drift).
    pub argv: Vec<String>,
}

/// What happened to one machine.
#[derive(Debug, Clone)]
pub struct Outcome {
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

/// Decide what to do for each host, from the inventory with `orbctl list` attached.
pub fn plan(orb: &Orb, hosts: &[&Host]) -> Vec<Step> {
    hosts
        .iter()
        .map(|h| {
            let action = decide(h);
            let argv = match &action {
                Action::Create(spec) => orb.create_argv(spec),
                Action::Start => orb.lifecycle_argv(Lifecycle::Start, &h.name),
                Action::Stop => orb.lifecycle_argv(Lifecycle::Stop, &h.name),
                Action::Delete => orb.lifecycle_argv(Lifecycle::Delete, &h.name),
                Action::Keep | Action::Missing | Action::Drift(_) => Vec::new(),
            };
            Step {
                machine: h.name.clone(),
                action,
                argv,
            }
        })
        .collect()
}

fn decide(h: &Host) -> Action {
    let want = &h.desired;
    let Some(actual) = &h.actual else {
        return match want.state {
            DesiredState::Absent => Action::Keep,
            _ if want.create => Action::Create(CreateSpec {
                name: h.name.clone(),
                image: want.image.clone().unwrap_or_else(|| "debian".to_string()),
                arch: want.arch.clone(),
                user: want.user.clone(),
                cloud_init: None,
            }),
            _ => Action::Missing,
        };
    };
    if want.state == DesiredState::Absent {
        return Action::Delete;
    }
    if let Some(drift) = drift(h, actual) {
        return Action::Drift(drift);
    }
    match (want.state, actual.is_running()) {
        (DesiredState::Running, false) => Action::Start,
        (DesiredState::Stopped, true) => Action::Stop,
        _ => Action::Keep,
    }
}

/// Differences orbdeploy cannot fix without deleting the machine.
fn drift(h: &Host, m: &Machine) -> Option<String> {
    let want = &h.desired;
    if let Some(image) = &want.image {
        let mut parts = image.splitn(2, ':');
        let word = parts.next().unwrap_or_default();
        let distro = image_distro(word);
        if !m.image.distro.is_empty() && m.image.distro != distro {
            return Some(format!(
                "is {} {} but the inventory wants image `{image}`; delete and re-create it to change the image",
                m.image.distro, m.image.version
            ));
        }
        if let Some(version) = parts.next() {
            let version = codename(word, version);
            if !m.image.version.is_empty() && m.image.version != version {
                return Some(format!(
                    "runs version `{}` but the inventory wants `{image}`; delete and re-create it to change the version",
                    m.image.version
                ));
            }
        }
    }
    if let Some(arch) = &want.arch {
        if !m.image.arch.is_empty() && &m.image.arch != arch {
            return Some(format!(
                "is {} but the inventory wants arch `{arch}`; delete and re-create it to change the architecture",
                m.image.arch
            ));
        }
    }
    if let Some(user) = &want.user {
        let actual = &m.config.default_username;
        if !actual.is_empty() && actual != user {
            return Some(format!(
                "has default user `{actual}` but the inventory wants `{user}`; the default user is chosen at creation"
            ));
        }
    }
    None
}

/// The image name orbctl reports for a CLI distro word (reference §6).
fn image_distro(word: &str) -> &str {
    match word {
        "alma" => "almalinux",
        "arch" => "archlinux",
        "rocky" => "rockylinux",
        "void" => "voidlinux",
        other => other,
    }
}

/// Numeric versions orbctl maps to codenames (reference §6).
fn codename<'a>(word: &str, version: &'a str) -> &'a str {
    match (word, version) {
        ("debian", "10") => "buster",
        ("debian", "11") => "bullseye",
        ("debian", "12") => "bookworm",
        ("debian", "13") => "trixie",
        ("debian", "14") => "forky",
        ("ubuntu", "20.04") => "focal",
        ("ubuntu", "22.04") => "jammy",
        ("ubuntu", "24.04") => "noble",
        ("ubuntu", "24.10") => "oracular",
        ("ubuntu", "25.04") => "plucky",
        ("devuan", "4") => "chimaera",
        ("devuan", "5") => "daedalus",
        (_, v) => v,
    }
}

/// Carry out a plan. Machines that end up running are read back with `info` (for `ip4`).
pub fn execute(orb: &Orb, steps: &[Step], dry_run: bool) -> Vec<Outcome> {
    execute_with(orb, steps, dry_run, true)
}

/// [`execute`], reading machines that were already as declared back with `info` only when
/// `read_kept` is set (apply skips it unless a step needs `ip4`: one orbctl call per
/// machine saved on every re-apply).
pub fn execute_with(orb: &Orb, steps: &[Step], dry_run: bool, read_kept: bool) -> Vec<Outcome> {
    let creates_running = Mutex::new(0usize);
    let cv = std::sync::Condvar::new();
    let results: Vec<Mutex<Option<Outcome>>> = steps.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for (step, slot) in steps.iter().zip(&results) {
            let (creates_running, cv) = (&creates_running, &cv);
            scope.spawn(move || {
                let is_create = matches!(step.action, Action::Create(_));
                if is_create && !dry_run {
                    let mut n = creates_running.lock().unwrap_or_else(|e| e.into_inner());
                    while *n >= MAX_PARALLEL_CREATES {
                        n = cv.wait(n).unwrap_or_else(|e| e.into_inner());
                    }
                    *n += 1;
                }
                let outcome = execute_one(orb, step, dry_run, read_kept);
                if is_create && !dry_run {
                    let mut n = creates_running.lock().unwrap_or_else(|e| e.into_inner());
                    *n -= 1;
                    cv.notify_one();
                }
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            });
        }
    });
    results
        .into_iter()
        .zip(steps)
        .map(|(slot, step)| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| Outcome {
                machine: step.machine.clone(),
                action: step.action.clone(),
                machine_after: None,
                error: Some("internal error: reconcile worker ended without a result".into()),
                unavailable: false,
                note: None,
            })
        })
        .collect()
}

fn execute_one(orb: &Orb, step: &Step, dry_run: bool, read_kept: bool) -> Outcome {
    let mut out = Outcome {
        machine: step.machine.clone(),
        action: step.action.clone(),
        machine_after: None,
        error: None,
        unavailable: false,
        note: None,
    };
    let name = &step.machine;
    let done = match (&step.action, dry_run) {
        (Action::Missing, _) => Err(Failed::from(OrbError::MachineNotFound {
            name: name.clone(),
        })),
        (Action::Drift(why), _) => Err(Failed::other(format!("machine `{name}` {why}"))),
        (_, true) | (Action::Keep, false) => Ok(()),
        (Action::Create(spec), false) => create_or_adopt(orb, spec, &mut out.note),
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

/// Create a machine; when the create fails or times out but the machine exists and runs,
/// adopt it (OrbStack often finishes the setup anyway, reference §8); when it exists but
/// does not run, delete it so the next apply starts clean.
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
            unavailable: e.exit_code() == crate::error::exit::UNAVAILABLE,
            message: e.to_string(),
        }
    }
}

fn create_or_adopt(orb: &Orb, spec: &CreateSpec, note: &mut Option<String>) -> Result<(), Failed> {
    let err = match orb.create(spec) {
        Ok(()) => return Ok(()),
        Err(
            e @ (OrbError::InvalidName { .. }
            | OrbError::Missing { .. }
            | OrbError::NotRunning { .. }),
        ) => return Err(Failed::from(e)),
        Err(e) => e,
    };
    match orb.info(&spec.name) {
        Ok(m) if m.is_running() => {
            *note = Some(format!(
                "adopted: create reported `{err}` but the machine is running"
            ));
            Ok(())
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Desired, Origin};
    use crate::orb::{Image, MachineConfig};

    fn host(state: DesiredState, create: bool, actual: Option<(&str, &str)>) -> Host {
        Host {
            name: "web-1".into(),
            origin: Origin::Declared,
            groups: vec![],
            desired: Desired {
                image: Some("debian:12".into()),
                arch: None,
                user: None,
                create,
                state,
            },
            vars: vec![],
            actual: actual.map(|(state, version)| Machine {
                name: "web-1".into(),
                state: state.into(),
                image: Image {
                    distro: "debian".into(),
                    version: version.into(),
                    arch: "amd64".into(),
                    variant: "default".into(),
                },
                config: MachineConfig::default(),
                ..Machine::default()
            }),
        }
    }

    #[test]
    fn decisions_follow_the_declared_state() {
        assert!(matches!(
            decide(&host(DesiredState::Running, true, None)),
            Action::Create(_)
        ));
        assert_eq!(
            decide(&host(DesiredState::Running, false, None)),
            Action::Missing
        );
        assert_eq!(
            decide(&host(DesiredState::Absent, false, None)),
            Action::Keep
        );
        assert_eq!(
            decide(&host(
                DesiredState::Running,
                false,
                Some(("stopped", "bookworm"))
            )),
            Action::Start
        );
        assert_eq!(
            decide(&host(
                DesiredState::Stopped,
                false,
                Some(("running", "bookworm"))
            )),
            Action::Stop
        );
        assert_eq!(
            decide(&host(
                DesiredState::Absent,
                false,
                Some(("running", "bookworm"))
            )),
            Action::Delete
        );
        assert_eq!(
            decide(&host(
                DesiredState::Running,
                false,
                Some(("running", "bookworm"))
            )),
            Action::Keep
        );
    }

    #[test]
    fn version_drift_is_reported_with_aliases_understood() {
        match decide(&host(DesiredState::Running, false, Some(("running", "trixie")))) {
            Action::Drift(why) => assert_eq!(
                why,
                "runs version `trixie` but the inventory wants `debian:12`; delete and re-create it to change the version"
            ),
            other => panic!("expected drift, got {other:?}"),
        }
    }
}
