//! Machine actions, the first phase of every `apply`: what each selected machine needs to
//! be in its declared state (create, start, stop, delete), and what cannot be fixed
//! (missing with `create` off, drift). Pure: it compares the inventory with one
//! `orbctl list`; [`crate::run::reconcile`] carries the actions out.

use crate::inventory::Host;
use crate::load::inventory::DesiredState;
use crate::orb::{images, CreateSpec, Lifecycle, Machine, Orb, OrbError};
use crate::plan::settings::{self, ConfigValues, SettingsPlan};

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
pub struct MachineStep {
    /// Machine name.
    pub machine: String,
    /// What to do.
    pub action: Action,
    /// The exact orbctl argv it takes (empty for Keep/Missing/Drift).
    pub argv: Vec<String>,
    /// Settings of an existing machine to change first (`config set`), and whether to
    /// restart it afterwards.
    pub settings: SettingsPlan,
}

/// Decide what to do for each host, from the inventory with `orbctl list` attached and,
/// when a declared machine has settings, what `orbctl config show` said (`Err`: why it
/// could not be read). ssh machines get no step at all: orbctl knows nothing of them, and
/// orbdeploy never creates, starts, stops or deletes them.
pub fn plan(
    orb: &Orb,
    hosts: &[&Host],
    config: &Result<ConfigValues, OrbError>,
) -> Vec<MachineStep> {
    hosts
        .iter()
        .filter(|h| h.ssh.is_none())
        .map(|h| {
            let mut settings = settings_of(h, config);
            let action = match (decide(h), settings.drift.take()) {
                // Nothing is changed on a machine in drift: a person decides first.
                (Action::Keep | Action::Start | Action::Stop, Some(drift)) => {
                    settings = SettingsPlan::default();
                    Action::Drift(drift)
                }
                (action @ (Action::Keep | Action::Start | Action::Stop), None) => action,
                (action, _) => {
                    settings = SettingsPlan::default();
                    action
                }
            };
            let argv = match &action {
                Action::Create(spec) => orb.create_argv(spec),
                Action::Start => orb.lifecycle_argv(Lifecycle::Start, &h.name),
                Action::Stop => orb.lifecycle_argv(Lifecycle::Stop, &h.name),
                Action::Delete => orb.lifecycle_argv(Lifecycle::Delete, &h.name),
                Action::Keep | Action::Missing | Action::Drift(_) => Vec::new(),
            };
            MachineStep {
                machine: h.name.clone(),
                action,
                argv,
                settings,
            }
        })
        .collect()
}

/// The settings an existing machine needs (with `drift` when a person must act).
fn settings_of(h: &Host, config: &Result<ConfigValues, OrbError>) -> SettingsPlan {
    let (Some(actual), true) = (&h.actual, h.desired.settings.any()) else {
        return SettingsPlan::default();
    };
    match config {
        Ok(current) => {
            let running = actual.is_running() && h.desired.state == DesiredState::Running;
            settings::plan(h, current, running)
        }
        Err(e) => SettingsPlan {
            drift: Some(format!("has settings that could not be read: {e}")),
            ..SettingsPlan::default()
        },
    }
}

/// What `orbctl create` gets for a missing machine: its image and every declared setting.
fn create_spec(h: &Host) -> CreateSpec {
    let want = &h.desired;
    let s = &want.settings;
    let on = |f: &Option<crate::inventory::Setting<bool>>| f.as_ref().is_some_and(|f| f.value);
    CreateSpec {
        name: h.name.clone(),
        image: want.image.clone().unwrap_or_else(|| "debian".to_string()),
        arch: want.arch.clone(),
        user: want.user.clone(),
        cloud_init: s.cloud_init.as_ref().map(|c| c.value.clone()),
        cpus: s.cpus.as_ref().map(|c| c.value),
        memory_mib: s.memory_mib.as_ref().map(|m| m.value),
        disk_bytes: s.disk_bytes.as_ref().map(|d| d.value),
        isolated: on(&s.isolated),
        isolate_network: on(&s.isolate_network),
        forward_ssh_agent: on(&s.forward_ssh_agent),
        mounts: s
            .mounts
            .iter()
            .flat_map(|m| m.value.iter().map(|m| m.arg()))
            .collect(),
    }
}

fn decide(h: &Host) -> Action {
    let want = &h.desired;
    let Some(actual) = &h.actual else {
        return match want.state {
            DesiredState::Absent => Action::Keep,
            _ if want.create => Action::Create(create_spec(h)),
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
    // The image was checked at load time; the table gives the name and codename `list`
    // reports for it (`rocky` → `rockylinux`, `debian:12` → `bookworm`).
    if let Some((image, wanted)) = want
        .image
        .as_ref()
        .and_then(|i| Some((i, images::parse(i).ok()?)))
    {
        if !m.image.distro.is_empty() && m.image.distro != wanted.distro.image {
            return Some(format!(
                "is {} {} but the inventory wants image `{image}`; delete and re-create it to change the image",
                m.image.distro, m.image.version
            ));
        }
        if image.contains(':') {
            let version = wanted.version.as_str();
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
                settings: Default::default(),
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
            ssh: None,
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
    fn ssh_machines_get_no_machine_step() {
        let orb = Orb::new(std::path::PathBuf::from("/nonexistent/orbctl"));
        let orbstack = host(DesiredState::Running, true, None);
        let mut ssh = host(DesiredState::Running, false, None);
        ssh.name = "prod-1".into();
        ssh.ssh = Some(crate::ssh_target::SshTarget {
            host: "203.0.113.10".into(),
            port: None,
            user: None,
            identity: None,
            jump: None,
            config: None,
            host_key: Default::default(),
            connect_timeout: None,
            options: vec![],
            persist: None,
        });
        let steps = plan(&orb, &[&ssh, &orbstack], &Ok(Default::default()));
        let names: Vec<&str> = steps.iter().map(|s| s.machine.as_str()).collect();
        assert_eq!(names, ["web-1"]);
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
