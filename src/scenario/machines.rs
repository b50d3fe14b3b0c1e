//! The machines of a scenario's phases, as inventories made in memory: a platform's
//! template (created from its image, then the `prepare` steps), and the throwaway machines
//! the converge, idempotence and verify phases apply to. Their values keep the positions
//! of the scenario file, so a mistake in a platform or a step is named where it is written.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::inventory::{self, Inventory};
use crate::load::inventory::{DesiredState, InventoryFile, MachineSettings, MachineSpec};
use crate::load::operations::OperationsRef;
use crate::load::scenario::{Platform, Scenario};
use crate::read_log::ReadLog;
use crate::spanned_map::SpannedMap;
use crate::yaml::{Location, Spanned};

/// Every throwaway machine's name starts with this, then the run's id.
pub const PREFIX: &str = "odt-";

/// A template's name: [`PREFIX`], `tpl-`, then the key of what it was made from.
pub const TEMPLATE_PREFIX: &str = "odt-tpl-";

/// A value orbdeploy wrote, at no position of a file.
fn written<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

/// One run's id: this process, and a few random hex digits for two runs of one pid
/// (`--cleanup` reads the pid back to tell a killed run's machines from a live run's).
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("p{}r{:04x}", std::process::id(), nanos & 0xffff)
}

/// The pid of the run that made a throwaway machine, from its name (`None`: not one).
pub fn run_pid(machine: &str) -> Option<u32> {
    let rest = machine.strip_prefix(PREFIX)?.strip_prefix('p')?;
    let (pid, _) = rest.split_once('r')?;
    pid.parse().ok()
}

/// The throwaway machine of `platform` in `scenario` during run `run`.
pub fn machine_name(run: &str, scenario: &str, platform: &str) -> String {
    format!("{PREFIX}{run}-{scenario}-{platform}")
}

/// A machine entry with a platform's image, user, groups and variables; its settings too
/// when `settings` (a template is created with them; a clone has them already).
fn platform_machine(p: &Platform, settings: bool, create: bool) -> MachineSpec {
    let mut m = MachineSpec {
        groups: p.groups.clone(),
        vars: p.vars.clone(),
        image: Some(p.image.clone()),
        arch: p.arch.clone(),
        user: p.user.clone(),
        create: Some(written(create)),
        state: Some(written(DesiredState::Running)),
        ..MachineSpec::default()
    };
    if settings {
        m.cpus = p.cpus.clone();
        m.memory = p.memory.clone();
        m.disk = p.disk.clone();
        m.isolated = p.isolated.clone();
        m.mounts = p.mounts.clone();
        m.isolate_network = p.isolate_network.clone();
        m.forward_ssh_agent = p.forward_ssh_agent.clone();
        m.cloud_init = p.cloud_init.clone();
    }
    m
}

/// An inventory of `machines` at `path`, with `operations`, checked as a file would be.
fn inventory_of(
    path: &Path,
    vars: &crate::load::inventory::Vars,
    machines: Vec<(String, MachineSpec)>,
    operations: Option<OperationsRef>,
    (cli_vars, log): (&[(String, String)], &ReadLog),
) -> Result<Inventory, ConfigError> {
    let file = InventoryFile {
        defaults: MachineSettings::default(),
        vars: vars.clone(),
        machines: SpannedMap(
            machines
                .into_iter()
                .map(|(name, spec)| (written(name), spec))
                .collect(),
        ),
        // `Some` even when empty: a scenario without steps is a run with none.
        operations: Some(operations.unwrap_or_default()),
        ..InventoryFile::default()
    };
    let keys = crate::secrets::Keyring::new(&[]);
    inventory::from_file(path, file, cli_vars, log, &keys)
}

/// The template of `platform`, named `name`: created from the image with the platform's
/// settings, then the scenario's `prepare` steps.
pub fn template(
    s: &Scenario,
    p: &Platform,
    name: &str,
    args: (&[(String, String)], &ReadLog),
) -> Result<Inventory, ConfigError> {
    let machine = (name.to_string(), platform_machine(p, true, true));
    inventory_of(
        &s.path,
        &s.file.vars,
        vec![machine],
        s.file.prepare.clone(),
        args,
    )
}

/// What a phase applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    /// What the scenario tests (`converge`, or the inventory's operations).
    Converge,
    /// The `verify` steps.
    Verify,
}

/// The throwaway machines (name and platform) of a phase, and the steps it applies, as
/// an inventory; `inventory:` scenarios read the machines' variables and groups from it.
pub fn phase(
    s: &Scenario,
    machines: &[(String, &Platform)],
    steps: Steps,
    args: (&[(String, String)], &ReadLog),
) -> Result<Inventory, ConfigError> {
    if let (Steps::Converge, Some(inv)) = (steps, &s.file.inventory) {
        return from_inventory(s, inv, machines, args);
    }
    let list = machines
        .iter()
        .map(|(name, p)| (name.clone(), platform_machine(p, false, false)))
        .collect();
    let ops = match steps {
        Steps::Converge => s.file.converge.clone(),
        Steps::Verify => s.file.verify.clone(),
    };
    inventory_of(&s.path, &s.file.vars, list, ops, args)
}

/// The user's inventory whose operations `inventory:` names, with its machines replaced by
/// the throwaway ones: each takes the groups and variables of the first machine `limit`
/// selects, and the platform's image.
fn from_inventory(
    s: &Scenario,
    rel: &Spanned<String>,
    machines: &[(String, &Platform)],
    (cli_vars, log): (&[(String, String)], &ReadLog),
) -> Result<Inventory, ConfigError> {
    let path = inventory_path(s, rel)?;
    let mut file: InventoryFile = crate::yaml::parse_file(&path, log)?;
    let source = selected_machine(s, &path, &file, cli_vars)?;
    let mut list = Vec::new();
    for (name, p) in machines {
        let mut spec = platform_machine(p, false, false);
        spec.groups = source.groups.clone();
        spec.groups.extend(p.groups.iter().cloned());
        spec.vars = source.vars.clone();
        override_vars(&mut spec.vars, &p.vars);
        spec.vars_files = source.vars_files.clone();
        list.push((written(name.clone()), spec));
    }
    // The scenario's variables over the inventory's global ones (a platform's are the
    // machine's, over both).
    override_vars(&mut file.vars, &s.file.vars);
    file.machines = SpannedMap(list);
    file.defaults = MachineSettings::default();
    file.discover = None;
    file.serial = None;
    file.max_fail_percentage = None;
    let keys = crate::secrets::Keyring::new(&[]);
    inventory::from_file(&path, file, cli_vars, log, &keys)
}

/// `over`'s variables in place of `vars`' of the same names, after them.
fn override_vars(vars: &mut crate::load::inventory::Vars, over: &crate::load::inventory::Vars) {
    for (k, v) in over.iter() {
        vars.0.retain(|(old, _)| old.value != k.value);
        vars.0.push((k.clone(), v.clone()));
    }
}

/// The inventory a scenario names, relative to the scenario's directory.
pub fn inventory_path(s: &Scenario, rel: &Spanned<String>) -> Result<PathBuf, ConfigError> {
    let dir = dir_of(&s.path);
    // `inv.yaml`, not `./inv.yaml`, in messages about a file beside the scenario.
    let path = match dir == Path::new(".") {
        true => PathBuf::from(&rel.value),
        false => dir.join(&rel.value),
    };
    if path.is_file() {
        return Ok(path);
    }
    Err(ConfigError::at(
        &s.path,
        rel.referenced.line(),
        rel.referenced.column(),
        format!("inventory {} does not exist", path.display()),
    ))
}

/// The machine entry of the inventory whose groups and variables the test machines take:
/// the first one `limit` selects.
fn selected_machine(
    s: &Scenario,
    path: &Path,
    file: &InventoryFile,
    cli_vars: &[(String, String)],
) -> Result<MachineSpec, ConfigError> {
    let keys = crate::secrets::Keyring::new(&[]);
    let inv = inventory::from_file(path, file.clone(), cli_vars, &ReadLog::default(), &keys)?;
    for pattern in &s.file.limit {
        let at = |m: String| {
            ConfigError::at(
                &s.path,
                pattern.referenced.line(),
                pattern.referenced.column(),
                format!("limit: {m}"),
            )
        };
        let hosts = inv.select(&pattern.value).map_err(at)?;
        if let Some(h) = hosts.first() {
            if let Some(spec) = file.machines.get(&h.name) {
                return Ok(spec.clone());
            }
        }
    }
    let msg = format!(
        "limit selects no machine declared in {}: expected a machine name, group or glob of it",
        path.display()
    );
    Err(match s.file.limit.first() {
        Some(l) => ConfigError::at(&s.path, l.referenced.line(), l.referenced.column(), msg),
        None => ConfigError::in_file(&s.path, msg),
    })
}

/// A file's directory (`.` for a bare name).
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throwaway_machine_names_its_run_s_pid_and_a_template_none() {
        let run = run_id();
        let name = machine_name(&run, "default", "debian");
        assert!(name.starts_with("odt-p"), "{name}");
        assert_eq!(run_pid(&name), Some(std::process::id()));
        assert_eq!(run_pid("odt-tpl-0123456789abcdef"), None);
        assert_eq!(run_pid("odt-pxr1-a-b"), None);
        assert_eq!(run_pid("web-1"), None);
    }

    #[test]
    fn a_file_s_directory_is_never_empty() {
        assert_eq!(dir_of(Path::new("s.yaml")), PathBuf::from("."));
        assert_eq!(dir_of(Path::new("tests/s.yaml")), PathBuf::from("tests"));
    }
}
