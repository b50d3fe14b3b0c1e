//! The resolved inventory: machines with their groups and variables, checked against what
//! orbctl may accept, before anything runs.
//!
//! Loading ([`load`]) is pure: it reads files and never calls orbctl. What orbctl reports
//! is attached afterwards ([`Inventory::attach`]): discovered machines, the derived groups
//! `orbstack_running`/`orbstack_stopped`/`orbstack_<arch>`/`orbstack_<distro>`, and the
//! built-in variables. Machines with an `ssh:` block (their own or a group's) are reached
//! with the system `ssh` ([`Host::ssh`]); orbctl knows nothing of them, so they take no
//! machine settings and are never attached to `orbctl list`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::ConfigError;
use crate::load::inventory::{
    DesiredState, InventoryFile, MachineSpec, RawSettings, SshSpec, Vars,
};
use crate::load::operations::OperationsRef;
use crate::orb::{images, Machine};
use crate::read_log::ReadLog;
use crate::secrets::Keyring;

mod become_password;
pub mod layers;
mod settings;
pub mod shard;
pub mod ssh;
mod vars_files;
pub use crate::ssh_target::HostFacts;
use crate::yaml::{self, Spanned};
pub use settings::{parse_size, Mount, Setting, Settings};
pub use ssh::SshSetting;

/// Names orbctl refuses for machines (docs/orbctl.md §5.4).
const RESERVED_NAMES: &[&str] = &[
    "default", "vm", "host", "services", "gateway", "k8s", "docker",
];

/// Variables that orbdeploy sets itself for every machine.
pub const BUILT_INS: &[&str] = &[
    "machine", "user", "distro", "version", "arch", "ip4", "groups", "hostvars",
];

/// True when orbctl would accept `name` for a machine: `^[a-zA-Z0-9][a-zA-Z0-9-.]+$`, not reserved.
pub fn valid_machine_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !RESERVED_NAMES.contains(&name)
}

/// Where a machine came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Listed under `machines:`.
    Declared,
    /// Found by `discover:` in `orbctl list`.
    Discovered,
}

/// What the inventory wants a machine to be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Desired {
    /// `DISTRO[:VERSION]` to create it from.
    pub image: Option<String>,
    /// Architecture to create it with.
    pub arch: Option<String>,
    /// Default user to create it with.
    pub user: Option<String>,
    /// Create it when missing.
    pub create: bool,
    /// Running, stopped or absent.
    pub state: DesiredState,
    /// CPU, memory, disk, isolation, mounts, cloud-init (declared machines only).
    pub settings: Settings,
}

/// A variable's value and where it came from (`vars`, `group web`, `machine web-2`,
/// `--var` or `built-in`; for `inventory --explain`).
pub type VarValue = layers::Sourced<Value>;

/// One machine of the inventory.
#[derive(Debug, Clone)]
pub struct Host {
    /// Machine name.
    pub name: String,
    /// Declared or discovered.
    pub origin: Origin,
    /// Groups as listed (precedence order), without `all` and derived groups.
    pub groups: Vec<String>,
    /// Desired machine settings.
    pub desired: Desired,
    /// The machine's own vars (before precedence; see [`Inventory::vars`]).
    pub vars: Vec<(String, Value)>,
    /// What orbctl reports, once attached (`None`: the machine does not exist).
    pub actual: Option<Machine>,
    /// `Some`: reached over ssh (no orbctl lifecycle); `None`: an OrbStack machine.
    pub ssh: Option<crate::ssh_target::SshTarget>,
}

/// The loaded inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The inventory file.
    pub file: PathBuf,
    /// Its directory (relative paths in it are relative to this).
    pub dir: PathBuf,
    /// Machines, declared first (in file order), then discovered (by name).
    pub hosts: Vec<Host>,
    /// Glob of `discover: match`, if any.
    pub discover: Option<globset::GlobMatcher>,
    /// Global vars.
    global_vars: Vec<(String, Value)>,
    /// Group vars by group name.
    group_vars: BTreeMap<String, Vec<(String, Value)>>,
    /// Every group a machine lists or `groups:` declares.
    pub groups: BTreeSet<String>,
    /// Names of secret variables (`secrets:` and every variable of an encrypted file).
    pub secret_vars: Vec<String>,
    /// Every value read from an encrypted vars file (strings and numbers, at any depth).
    sealed_values: Vec<String>,
    /// `--var` values (highest precedence).
    cli_vars: Vec<(String, Value)>,
    /// The operations reference, resolved by the operations loader.
    pub operations: Option<OperationsRef>,
    /// `serial:`: rolling batches (`None`: every machine at once).
    pub serial: Option<crate::serial::Serial>,
    /// `max_fail_percentage:`, checked to be 0 to 100.
    pub max_fail_percentage: Option<u8>,
    /// Where `max_fail_percentage:` is written (`inv.yaml:3:22`), for the warning that it
    /// has nothing to stop without `serial`.
    pub max_fail_at: Option<String>,
    /// Defaults, applied to discovered machines too.
    defaults: Desired,
    /// Things worth a user's attention that are not errors (shown before anything runs).
    pub warnings: Vec<String>,
    /// The resolved ssh settings of each ssh machine with their sources, by machine name.
    ssh_settings: BTreeMap<String, Vec<SshSetting>>,
    /// What each ssh machine reported about itself, once connected, by machine name.
    ssh_facts: BTreeMap<String, Reached>,
    /// The `become_password:` of each ssh machine that has one, by machine name.
    become_passwords: BTreeMap<String, become_password::BecomePassword>,
}

/// What an ssh machine reported once reached.
#[derive(Debug, Clone, Default)]
struct Reached {
    facts: HostFacts,
    /// The user ssh logged in as: `user` when the inventory leaves it to ssh.
    login_user: String,
}

/// Load and check an inventory file. `cli_vars` are the `--var K=V` pairs. For a command
/// that keeps no list of the files it read.
/// Encrypted vars files are opened with the default identities ([`Keyring::new`]).
pub fn load(path: &Path, cli_vars: &[(String, String)]) -> Result<Inventory, ConfigError> {
    load_noting(path, cli_vars, &ReadLog::default(), &Keyring::new(&[]))
}

/// orbctl reads a cloud-init file at create time; a saved plan still names it as an input.
fn note_cloud_init(hosts: &[Host], log: &ReadLog) {
    // Once per file, however many machines name it (the defaults' is every machine's).
    let files: std::collections::BTreeSet<&PathBuf> = hosts
        .iter()
        .filter_map(|h| h.desired.settings.cloud_init.as_ref())
        .map(|c| &c.value)
        .collect();
    for path in files {
        if let Ok(bytes) = std::fs::read(path) {
            log.note(path, &bytes);
        }
    }
}

/// [`load`], noting the inventory, its vars files and the cloud-init files it names in
/// the run's `log`, and opening encrypted vars files with `keys`.
pub fn load_noting(
    path: &Path,
    cli_vars: &[(String, String)],
    log: &ReadLog,
    keys: &Keyring,
) -> Result<Inventory, ConfigError> {
    let file: InventoryFile = yaml::parse_file(path, log)?;
    from_file(path, file, cli_vars, log, keys)
}

/// An inventory from what was written at `path` (parsed already, or made in memory by
/// `orbdeploy test` with the positions of its scenario file), checked as [`load_noting`]
/// checks a file.
pub fn from_file(
    path: &Path,
    file: InventoryFile,
    cli_vars: &[(String, String)],
    log: &ReadLog,
    keys: &Keyring,
) -> Result<Inventory, ConfigError> {
    let dir = inventory_dir(path);
    let at = |s: &Spanned<String>, msg: String| {
        ConfigError::at(path, s.referenced.line(), s.referenced.column(), msg)
    };

    let mut warnings = Vec::new();
    let defaults = checked_defaults(path, &file, &mut warnings)?;

    let mut files = vars_files::VarsFiles {
        inventory: path,
        dir: &dir,
        log,
        keys,
        secret_names: Vec::new(),
        secret_values: Vec::new(),
    };
    let global_vars = files.layer(&file.vars_files, &file.vars)?;
    let mut groups = BTreeSet::new();
    let mut group_vars = BTreeMap::new();
    for (name, spec) in file.groups.iter() {
        check_group_name(&name.value).map_err(|m| at(name, m))?;
        groups.insert(name.value.clone());
        group_vars.insert(
            name.value.clone(),
            files.layer(&spec.vars_files, &spec.vars)?,
        );
    }
    check_ssh_blocks(path, &dir, &file)?;

    let mut hosts = Vec::new();
    let mut ssh_settings = BTreeMap::new();
    for (name, spec) in file.machines.iter() {
        if !valid_machine_name(&name.value) {
            return Err(at(name, invalid_name_message(&name.value)));
        }
        for g in &spec.groups {
            check_group_name(&g.value).map_err(|m| at(g, m))?;
            groups.insert(g.value.clone());
        }
        if let Some(layers) = ssh_layers(path, &dir, &file, &name.value, spec) {
            no_lifecycle(path, &file, &name.value, spec)?;
            let (target, shown) = ssh::resolve(&name.value, &layers)?;
            let mut host = ssh_host(path, &name.value, spec, target)?;
            host.vars = files.layer(&spec.vars_files, &spec.vars)?;
            hosts.push(host);
            ssh_settings.insert(name.value.clone(), shown);
        } else {
            let mut host = declared_host(path, &name.value, spec, &defaults, &mut warnings)?;
            host.vars = files.layer(&spec.vars_files, &spec.vars)?;
            host.desired.settings = machine_settings(path, &file, &name.value, spec)?;
            check_cloud_init(path, spec, &file.defaults, &host.desired)?;
            hosts.push(host);
        }
    }

    let become_passwords = become_password::of_machines(path, &file, &hosts)?;
    let discover = discover_glob(path, &file)?;
    let secret_vars = secret_names(&file, files.secret_names);
    let sealed_values = files.secret_values;
    note_cloud_init(&hosts, log);
    let (max_fail_percentage, max_fail_at) = max_fail(path, &file)?;

    let cli_vars = cli_vars
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();

    Ok(Inventory {
        file: path.to_path_buf(),
        dir,
        hosts,
        discover,
        global_vars,
        group_vars,
        groups,
        secret_vars,
        sealed_values,
        cli_vars,
        operations: file.operations,
        serial: file.serial.map(|s| s.value),
        max_fail_percentage,
        max_fail_at,
        defaults,
        warnings,
        ssh_settings,
        ssh_facts: BTreeMap::new(),
        become_passwords,
    })
}

/// The directory relative paths in the inventory at `path` are relative to.
fn inventory_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `max_fail_percentage:`, checked, and where it is written (`inv.yaml:3:22`).
fn max_fail(
    path: &Path,
    file: &InventoryFile,
) -> Result<(Option<u8>, Option<String>), ConfigError> {
    let Some(m) = file.max_fail_percentage.as_ref() else {
        return Ok((None, None));
    };
    let at = format!(
        "{}:{}:{}",
        path.display(),
        m.referenced.line(),
        m.referenced.column()
    );
    Ok((Some(checked_percentage(path, m)?), Some(at)))
}

/// `max_fail_percentage:` from 0 to 100.
fn checked_percentage(path: &Path, m: &Spanned<i64>) -> Result<u8, ConfigError> {
    u8::try_from(m.value)
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| {
            ConfigError::at(
                path,
                m.referenced.line(),
                m.referenced.column(),
                format!(
                    "max_fail_percentage must be a whole number from 0 to 100, not {}",
                    m.value
                ),
            )
        })
}

/// The glob of `discover: match`, compiled.
fn discover_glob(
    path: &Path,
    file: &InventoryFile,
) -> Result<Option<globset::GlobMatcher>, ConfigError> {
    let Some(d) = &file.discover else {
        return Ok(None);
    };
    let glob = globset::Glob::new(&d.pattern.value).map_err(|e| {
        ConfigError::at(
            path,
            d.pattern.referenced.line(),
            d.pattern.referenced.column(),
            format!("invalid glob `{}`: {}", d.pattern.value, e.kind()),
        )
    })?;
    Ok(Some(glob.compile_matcher()))
}

/// The names under `secrets:`, then those of encrypted vars files' variables.
fn secret_names(file: &InventoryFile, sealed: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = file.secrets.iter().map(|s| s.value.clone()).collect();
    for name in sealed {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// What `defaults` asks of every OrbStack machine, checked (ssh machines take none of it).
fn checked_defaults(
    path: &Path,
    file: &InventoryFile,
    warnings: &mut Vec<String>,
) -> Result<Desired, ConfigError> {
    let at = |s: &Spanned<String>, msg: String| {
        ConfigError::at(path, s.referenced.line(), s.referenced.column(), msg)
    };
    let d = &file.defaults;
    for image in d.image.iter() {
        check_image(image).map_err(|m| at(image, m))?;
    }
    for arch in d.arch.iter() {
        if let Some(w) = check_arch(arch).map_err(|m| at(arch, m))? {
            warnings.push(warning_at(path, arch, w));
        }
    }
    Ok(Desired {
        image: d.image.as_ref().map(|s| s.value.clone()),
        arch: d.arch.as_ref().map(|s| s.value.clone()),
        user: d.user.as_ref().map(|s| s.value.clone()),
        create: d.create.as_ref().is_some_and(|c| c.value),
        state: d.state.as_ref().map_or(DesiredState::Running, |s| s.value),
        // Discovered machines take no settings: orbdeploy changes only machines it declares.
        settings: Settings::default(),
    })
}

fn declared_host(
    path: &Path,
    name: &str,
    spec: &MachineSpec,
    defaults: &Desired,
    warnings: &mut Vec<String>,
) -> Result<Host, ConfigError> {
    let at = |s: &Spanned<String>, msg: String| {
        ConfigError::at(path, s.referenced.line(), s.referenced.column(), msg)
    };
    if let Some(image) = &spec.image {
        check_image(image).map_err(|m| at(image, m))?;
    }
    if let Some(arch) = &spec.arch {
        if let Some(w) = check_arch(arch).map_err(|m| at(arch, m))? {
            warnings.push(warning_at(path, arch, w));
        }
    }
    Ok(Host {
        name: name.to_string(),
        origin: Origin::Declared,
        groups: spec.groups.iter().map(|g| g.value.clone()).collect(),
        desired: Desired {
            image: spec
                .image
                .as_ref()
                .map(|s| s.value.clone())
                .or_else(|| defaults.image.clone()),
            arch: spec
                .arch
                .as_ref()
                .map(|s| s.value.clone())
                .or_else(|| defaults.arch.clone()),
            user: spec
                .user
                .as_ref()
                .map(|s| s.value.clone())
                .or_else(|| defaults.user.clone()),
            create: spec.create.as_ref().map_or(defaults.create, |c| c.value),
            state: spec.state.as_ref().map_or(defaults.state, |s| s.value),
            settings: Settings::default(),
        },
        vars: checked_vars(path, &spec.vars)?,
        actual: None,
        ssh: None,
    })
}

/// A declared machine's settings: defaults, then its groups in the order it lists them,
/// then its own.
fn machine_settings(
    path: &Path,
    file: &InventoryFile,
    name: &str,
    spec: &MachineSpec,
) -> Result<Settings, ConfigError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let block = |raw| settings::Block {
        file: path,
        dir,
        raw,
    };
    let groups = spec.groups.iter().map(|g| {
        let group = file.groups.iter().find(|(n, _)| n.value == g.value);
        (
            g.value.as_str(),
            group.map(|(_, g)| block(g.machine_settings())),
        )
    });
    let layers = layers::of_machine(
        Some(layers::Layer::new(
            "defaults",
            block(file.defaults.machine_settings()),
        )),
        groups,
        name,
        Some(block(spec.machine_settings())),
    );
    settings::resolve(&layers)
}

/// Every `ssh:` block of defaults and groups is checked once, whether or not a machine
/// uses it (machine blocks are checked when their machine is resolved).
fn check_ssh_blocks(path: &Path, dir: &Path, file: &InventoryFile) -> Result<(), ConfigError> {
    let blocks = std::iter::once(("defaults".to_string(), file.defaults.ssh.as_ref())).chain(
        file.groups
            .iter()
            .map(|(n, g)| (format!("group {}", n.value), g.ssh.as_ref())),
    );
    for (source, spec) in blocks {
        if let Some(spec) = spec {
            ssh::check(&layers::Layer::new(
                source,
                ssh::Block {
                    file: path,
                    dir,
                    spec,
                },
            ))?;
        }
    }
    Ok(())
}

/// The `ssh:` layers of a machine (defaults, its groups in the order it lists them, its
/// own), or `None` for an OrbStack machine. A machine is an ssh machine when it or one of
/// its groups has an `ssh:` block; `defaults.ssh` applies to ssh machines but makes none,
/// so adding `host_key` there leaves every OrbStack machine as it was.
fn ssh_layers<'a>(
    path: &'a Path,
    dir: &'a Path,
    file: &'a InventoryFile,
    name: &str,
    spec: &'a MachineSpec,
) -> Option<Vec<ssh::Layer<'a>>> {
    let block = |spec| ssh::Block {
        file: path,
        dir,
        spec,
    };
    let groups: Vec<(&str, Option<&SshSpec>)> = spec
        .groups
        .iter()
        .map(|g| {
            let group = file.groups.iter().find(|(n, _)| n.value == g.value);
            (
                g.value.as_str(),
                group.and_then(|(_, group)| group.ssh.as_ref()),
            )
        })
        .collect();
    if spec.ssh.is_none() && groups.iter().all(|(_, ssh)| ssh.is_none()) {
        return None;
    }
    let defaults = file.defaults.ssh.as_ref().map(block);
    Some(layers::of_machine(
        defaults.map(|d| layers::Layer::new("defaults", d)),
        groups.into_iter().map(|(g, ssh)| (g, ssh.map(block))),
        name,
        spec.ssh.as_ref().map(block),
    ))
}

/// An ssh machine is not OrbStack's: orbdeploy neither creates, starts, stops nor deletes
/// it, and has no settings to give it. Its own entry and its groups may write none of
/// those keys (defaults' simply do not apply to it); `create: false` and `state: running`
/// ask for nothing and pass.
fn no_lifecycle(
    path: &Path,
    file: &InventoryFile,
    name: &str,
    spec: &MachineSpec,
) -> Result<(), ConfigError> {
    let mut written = settings_written(&spec.machine_settings());
    let own = [
        ("image", spec.image.as_ref().map(|s| &s.referenced)),
        ("arch", spec.arch.as_ref().map(|s| &s.referenced)),
        ("user", spec.user.as_ref().map(|s| &s.referenced)),
        (
            "create",
            spec.create
                .as_ref()
                .filter(|c| c.value)
                .map(|s| &s.referenced),
        ),
        (
            "state",
            spec.state
                .as_ref()
                .filter(|s| s.value != DesiredState::Running)
                .map(|s| &s.referenced),
        ),
    ];
    written.splice(0..0, own.into_iter().filter_map(|(k, l)| Some((k, *l?))));
    if let Some((key, at)) = written.first() {
        return Err(ConfigError::at(
            path,
            at.line(),
            at.column(),
            lifecycle_message(key, name, None),
        ));
    }
    for g in &spec.groups {
        let Some((_, group)) = file.groups.iter().find(|(n, _)| n.value == g.value) else {
            continue;
        };
        if let Some((key, at)) = settings_written(&group.machine_settings()).first() {
            return Err(ConfigError::at(
                path,
                at.line(),
                at.column(),
                lifecycle_message(key, name, Some(&g.value)),
            ));
        }
    }
    Ok(())
}

fn lifecycle_message(key: &str, machine: &str, group: Option<&str>) -> String {
    let hint = match key {
        "user" => "; the login user of an ssh machine is `ssh: { user: ... }`",
        _ => "",
    };
    let whose = match group {
        Some(g) => format!("group `{g}` sets `{key}` for machine `{machine}`, which"),
        None => format!("`{key}` is an OrbStack machine setting, and machine `{machine}`"),
    };
    format!(
        "{whose} is an ssh machine: orbdeploy does not create, start, stop, delete or configure ssh machines{hint}"
    )
}

/// The machine settings an entry writes, in the order of its keys' names, with positions.
fn settings_written(r: &RawSettings) -> Vec<(&'static str, crate::yaml::Location)> {
    fn at<T>(s: &Option<Spanned<T>>) -> Option<crate::yaml::Location> {
        s.as_ref().map(|s| s.referenced)
    }
    let all = [
        ("cpus", at(&r.cpus)),
        ("memory", at(&r.memory)),
        ("disk", at(&r.disk)),
        ("isolated", at(&r.isolated)),
        ("mounts", at(&r.mounts)),
        ("isolate_network", at(&r.isolate_network)),
        ("forward_ssh_agent", at(&r.forward_ssh_agent)),
        ("cloud_init", at(&r.cloud_init)),
        ("restart_for_settings", at(&r.restart_for_settings)),
    ];
    let mut out: Vec<_> = all.into_iter().filter_map(|(k, l)| Some((k, l?))).collect();
    // The first written in the file is the one a message names.
    out.sort_by_key(|(_, l)| (l.line(), l.column()));
    out
}

/// A declared ssh machine: running as far as orbdeploy is concerned, nothing to create.
fn ssh_host(
    path: &Path,
    name: &str,
    spec: &MachineSpec,
    target: crate::ssh_target::SshTarget,
) -> Result<Host, ConfigError> {
    Ok(Host {
        name: name.to_string(),
        origin: Origin::Declared,
        groups: spec.groups.iter().map(|g| g.value.clone()).collect(),
        desired: Desired {
            image: None,
            arch: None,
            user: target.user.clone(),
            create: false,
            state: DesiredState::Running,
            settings: Settings::default(),
        },
        vars: checked_vars(path, &spec.vars)?,
        actual: None,
        ssh: Some(target),
    })
}

/// cloud-init works only on the distros OrbStack builds from cloud images (§6).
fn check_cloud_init(
    path: &Path,
    spec: &MachineSpec,
    defaults: &crate::load::inventory::MachineSettings,
    desired: &Desired,
) -> Result<(), ConfigError> {
    let (Some(_), Some(image)) = (&desired.settings.cloud_init, &desired.image) else {
        return Ok(());
    };
    let Ok(image) = images::parse(image) else {
        return Ok(());
    };
    if image.distro.cloud_init {
        return Ok(());
    }
    let written = spec.cloud_init.as_ref().or(defaults.cloud_init.as_ref());
    let msg = format!(
        "cloud_init: OrbStack supports cloud-init only for cloud images, and `{}` is not one",
        image.distro.word
    );
    Err(match written {
        Some(w) => ConfigError::at(path, w.referenced.line(), w.referenced.column(), msg),
        None => ConfigError::in_file(path, msg),
    })
}

fn checked_vars(path: &Path, vars: &Vars) -> Result<Vec<(String, Value)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in vars.iter() {
        let at = |msg: String| {
            ConfigError::at(path, name.referenced.line(), name.referenced.column(), msg)
        };
        if BUILT_INS.contains(&name.value.as_str()) {
            return Err(at(format!(
                "`{}` is a built-in variable set by orbdeploy and cannot be defined",
                name.value
            )));
        }
        if !valid_var_name(&name.value) {
            return Err(at(format!(
                "invalid variable name `{}`: expected letters, digits and `_`, not starting with a digit",
                name.value
            )));
        }
        out.push((name.value.clone(), value.clone()));
    }
    Ok(out)
}

/// Variable names must work inside templates: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_group_name(name: &str) -> Result<(), String> {
    if name == "all" || name.starts_with("orbstack_") || name.starts_with("transport_") {
        return Err(format!(
            "`{name}` is a group orbdeploy derives itself and cannot be declared or listed"
        ));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "invalid group name `{name}`: expected letters, digits, `_` and `-`"
        ));
    }
    Ok(())
}

fn invalid_name_message(name: &str) -> String {
    if RESERVED_NAMES.contains(&name) {
        format!("invalid machine name `{name}`: it is reserved by OrbStack")
    } else {
        format!(
            "invalid machine name `{name}`: expected at least 2 characters, letters, digits, `-` and `.`, starting with a letter or digit"
        )
    }
}

fn check_image(image: &Spanned<String>) -> Result<(), String> {
    images::parse(&image.value)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// An architecture orbctl does not know is an error; one it knows but this host cannot run
/// (docs/orbctl.md §6) is a warning, since the reference's rule may not be the last word.
fn check_arch(arch: &Spanned<String>) -> Result<Option<String>, String> {
    if !images::ARCHES.contains(&arch.value.as_str()) {
        return Err(format!(
            "unknown arch `{}`: expected one of {}",
            arch.value,
            images::ARCHES.join(", ")
        ));
    }
    let runnable = images::runnable_arches(std::env::consts::ARCH);
    Ok((!runnable.contains(&arch.value.as_str())).then(|| {
        format!(
            "arch `{}` may not run on this {} host, which runs {} (docs/orbctl.md §6)",
            arch.value,
            std::env::consts::ARCH,
            runnable.join(" and ")
        )
    }))
}

/// A warning with the position it is about, as errors show it.
fn warning_at(path: &Path, s: &Spanned<String>, msg: String) -> String {
    format!(
        "{}:{}:{}: warning: {msg}",
        path.display(),
        s.referenced.line(),
        s.referenced.column()
    )
}

impl Inventory {
    /// Show the load-time warnings on stderr (before any reporter owns the terminal).
    pub fn print_warnings(&self) {
        for w in &self.warnings {
            eprintln!("{w}");
        }
    }

    /// Attach what `orbctl list` reported: discovered machines join, every host learns
    /// its actual state. `ip4` comes from `info` and is attached by the caller.
    pub fn attach(&mut self, list: &[Machine]) {
        // An OrbStack machine that happens to share an ssh machine's name is another machine.
        for host in self.hosts.iter_mut().filter(|h| h.ssh.is_none()) {
            host.actual = list.iter().find(|m| m.name == host.name).cloned();
        }
        if let Some(glob) = &self.discover {
            let mut found: Vec<&Machine> = list
                .iter()
                .filter(|m| glob.is_match(&m.name) && !self.hosts.iter().any(|h| h.name == m.name))
                .collect();
            found.sort_by(|a, b| a.name.cmp(&b.name));
            for m in found {
                self.hosts.push(Host {
                    name: m.name.clone(),
                    origin: Origin::Discovered,
                    groups: Vec::new(),
                    desired: Desired {
                        // A discovered machine exists already: never create or delete it by default.
                        create: false,
                        ..self.defaults.clone()
                    },
                    vars: Vec::new(),
                    actual: Some(m.clone()),
                    ssh: None,
                });
            }
        }
    }

    /// False when there are machines, every one an ssh machine, and nothing is
    /// discovered: then `orbctl list` has nothing to say, and orbctl is not called at all
    /// (it may not even be installed where the inventory only names ssh hosts). An empty
    /// inventory still asks orbctl, as it always did.
    pub fn needs_orbctl(&self) -> bool {
        self.discover.is_some()
            || self.hosts.is_empty()
            || self.hosts.iter().any(|h| h.ssh.is_none())
    }

    /// The resolved ssh settings of an ssh machine, each with its source (empty for an
    /// OrbStack machine), for `inventory --explain`.
    pub fn ssh_settings(&self, host: &Host) -> &[SshSetting] {
        self.ssh_settings.get(&host.name).map_or(&[], Vec::as_slice)
    }

    /// Record what phase 1 left machines as (a created machine, a started one's address),
    /// by name: their built-ins and derived groups show it from then on.
    pub fn attach_after(&mut self, mut after: BTreeMap<String, Machine>) {
        for h in self.hosts.iter_mut().filter(|h| h.ssh.is_none()) {
            if let Some(m) = after.remove(&h.name) {
                h.actual = Some(m);
            }
        }
    }

    /// Record what an ssh machine reported about itself (distro, version, arch, address)
    /// and the user it logged in as: the built-in variables show them from then on
    /// (`user` is the login user when the inventory names none).
    pub fn attach_facts(&mut self, machine: &str, facts: HostFacts, login_user: &str) {
        let reached = Reached {
            facts,
            login_user: login_user.to_string(),
        };
        self.ssh_facts.insert(machine.to_string(), reached);
    }

    /// How machine `name` is reached over ssh (`None`: an OrbStack machine, or no such
    /// machine).
    pub fn ssh_target(&self, name: &str) -> Option<&crate::ssh_target::SshTarget> {
        self.hosts.iter().find(|h| h.name == name)?.ssh.as_ref()
    }

    /// What an ssh machine reported about itself, once [`Inventory::attach_facts`] was told.
    pub fn facts(&self, host: &Host) -> Option<&HostFacts> {
        self.ssh_facts.get(&host.name).map(|r| &r.facts)
    }

    /// Every group of a host: `all`, its listed groups, the derived `orbstack_*` groups
    /// (OrbStack machines that exist), then `transport_ssh` or `transport_orbctl`.
    pub fn host_groups(&self, host: &Host) -> Vec<String> {
        let mut out = vec!["all".to_string()];
        out.extend(host.groups.iter().cloned());
        if let Some(m) = &host.actual {
            let state = if m.is_running() { "running" } else { "stopped" };
            out.push(format!("orbstack_{state}"));
            if !m.image.arch.is_empty() {
                out.push(format!("orbstack_{}", m.image.arch));
            }
            if !m.image.distro.is_empty() {
                out.push(format!("orbstack_{}", m.image.distro));
            }
        }
        out.push(transport_group(host).to_string());
        out
    }

    /// A host's variables with their sources, after precedence: global vars, group vars
    /// (in the order the machine lists its groups), machine vars, `--var`, then built-ins.
    pub fn vars(&self, host: &Host) -> BTreeMap<String, VarValue> {
        let built_ins = self.built_ins(host);
        let groups = host
            .groups
            .iter()
            .map(|g| (g.as_str(), self.group_vars.get(g)));
        let mut layers = layers::of_machine(
            Some(layers::Layer::new("vars", &self.global_vars)),
            groups,
            &host.name,
            Some(&host.vars),
        );
        layers.push(layers::Layer::new("--var", &self.cli_vars));
        layers.push(layers::Layer::new("built-in", &built_ins));
        let mut vars = layers::Keyed::default();
        for layer in &layers {
            for (k, v) in layer.body.iter() {
                vars.set(k, v.clone(), &layer.source);
            }
        }
        vars.into_entries().into_iter().collect()
    }

    fn built_ins(&self, host: &Host) -> Vec<(String, Value)> {
        if host.ssh.is_some() {
            return self.ssh_built_ins(host);
        }
        let actual = host.actual.as_ref();
        let (distro, version) = match (actual, &host.desired.image) {
            (Some(m), _) => (m.image.distro.clone(), m.image.version.clone()),
            (None, Some(image)) => {
                let mut parts = image.splitn(2, ':');
                (
                    parts.next().unwrap_or_default().to_string(),
                    parts.next().unwrap_or_default().to_string(),
                )
            }
            (None, None) => (String::new(), String::new()),
        };
        let user = actual
            .map(|m| m.config.default_username.clone())
            .filter(|u| !u.is_empty())
            .or_else(|| host.desired.user.clone())
            .unwrap_or_default();
        let arch = actual
            .map(|m| m.image.arch.clone())
            .or_else(|| host.desired.arch.clone())
            .unwrap_or_default();
        let ip4 = actual
            .and_then(|m| m.ip4.clone())
            .map(Value::String)
            .unwrap_or(Value::Null);
        self.built_in_values(host, user, distro, version, arch, ip4)
    }

    /// An ssh machine's built-ins: the login user the inventory names, and what the host
    /// reported about itself once connected (empty strings and a null `ip4` before).
    fn ssh_built_ins(&self, host: &Host) -> Vec<(String, Value)> {
        let reached = self.ssh_facts.get(&host.name).cloned().unwrap_or_default();
        let facts = reached.facts;
        let user = host
            .desired
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or(reached.login_user);
        let ip4 = facts.ip4.map(Value::String).unwrap_or(Value::Null);
        self.built_in_values(host, user, facts.distro, facts.version, facts.arch, ip4)
    }

    fn built_in_values(
        &self,
        host: &Host,
        user: String,
        distro: String,
        version: String,
        arch: String,
        ip4: Value,
    ) -> Vec<(String, Value)> {
        vec![
            ("machine".into(), Value::String(host.name.clone())),
            ("user".into(), Value::String(user)),
            ("distro".into(), Value::String(distro)),
            ("version".into(), Value::String(version)),
            ("arch".into(), Value::String(arch)),
            ("ip4".into(), ip4),
            (
                "groups".into(),
                Value::Array(
                    self.host_groups(host)
                        .into_iter()
                        .map(Value::String)
                        .collect(),
                ),
            ),
        ]
    }

    /// The hosts a pattern selects: a machine name, a group (listed or derived), or a glob
    /// on machine names. A plain word that is neither a machine nor a group is an error,
    /// so a typo does not silently select nothing.
    pub fn select(&self, pattern: &str) -> Result<Vec<&Host>, String> {
        let is_glob = pattern.contains(['*', '?', '[']);
        if is_glob {
            let glob = globset::Glob::new(pattern)
                .map_err(|e| format!("invalid pattern `{pattern}`: {}", e.kind()))?
                .compile_matcher();
            return Ok(self
                .hosts
                .iter()
                .filter(|h| glob.is_match(&h.name))
                .collect());
        }
        if let Some(h) = self.hosts.iter().find(|h| h.name == pattern) {
            return Ok(vec![h]);
        }
        let in_group: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| self.host_groups(h).iter().any(|g| g == pattern))
            .collect();
        if in_group.is_empty() && !self.groups.contains(pattern) && !is_known_derived(pattern) {
            let hint = self
                .closest_name(pattern)
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_else(|| format!(" (it has {})", self.machine_list()));
            return Err(format!(
                "`{pattern}` is neither a machine nor a group of this inventory{hint}"
            ));
        }
        Ok(in_group)
    }

    /// The machine or group name closest to `name`, when it is close enough to be a typo.
    fn closest_name(&self, name: &str) -> Option<&str> {
        let machines = self.hosts.iter().map(|h| h.name.as_str());
        machines
            .chain(self.groups.iter().map(String::as_str))
            .map(|n| (strsim::jaro_winkler(name, n), n))
            // Short names (`m1`, `db`) are close by one edit, which Jaro-Winkler scores low.
            .filter(|(score, n)| *score > 0.8 || strsim::damerau_levenshtein(name, n) == 1)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| n)
    }

    /// Keep every ssh machine's connection `keep` after the run (`--persist`), over what
    /// its `ssh:` block says.
    pub fn persist_ssh(&mut self, keep: std::time::Duration) {
        for target in self.hosts.iter_mut().filter_map(|h| h.ssh.as_mut()) {
            target.persist = Some(keep);
        }
    }

    /// The machines, in a few words: `machines a, b, c` (the first ten), or `no machines`.
    pub fn machine_list(&self) -> String {
        let names: Vec<String> = self
            .hosts
            .iter()
            .take(10)
            .map(|h| format!("`{}`", h.name))
            .collect();
        match self.hosts.len() {
            0 => "no machines".to_string(),
            1 => format!("machine {}", names.join(", ")),
            n if n <= 10 => format!("machines {}", names.join(", ")),
            n => format!("machines {} and {} more", names.join(", "), n - 10),
        }
    }

    /// The error for a selection that leaves no machine: what was selected (by `--limit`,
    /// then `--shard`), what exists, and the flag that accepts it.
    pub fn empty_selection(&self, limit: &[String], shard: Option<shard::Shard>) -> ConfigError {
        let before_shard = self.limit(limit).map_or(0, |hosts| hosts.len());
        if let (Some(shard), 1..) = (shard, before_shard) {
            let of = if limit.is_empty() {
                "the inventory's".to_string()
            } else {
                "the selected".to_string()
            };
            return ConfigError::plain(format!(
                "--shard {shard} holds none of {of} {before_shard} machine(s) (a machine's shard \
                 comes from its name alone); give --allow-empty if nothing to do is fine"
            ));
        }
        let selected = if limit.is_empty() {
            "the inventory selects no machine".to_string()
        } else {
            let shown: Vec<String> = limit.iter().map(|p| format!("`{p}`")).collect();
            format!("--limit {} selects no machine", shown.join(", "))
        };
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        let groups = if groups.is_empty() {
            String::new()
        } else {
            format!(" and groups `{}`", groups.join("`, `"))
        };
        ConfigError::plain(format!(
            "{selected}: the inventory has {}{groups}; give --allow-empty if nothing to do is fine",
            self.machine_list()
        ))
    }

    /// Hosts selected by any of the `--limit` patterns (all hosts when there are none),
    /// in inventory order.
    pub fn limit(&self, patterns: &[String]) -> Result<Vec<&Host>, ConfigError> {
        if patterns.is_empty() {
            return Ok(self.hosts.iter().collect());
        }
        let mut chosen = BTreeSet::new();
        for p in patterns {
            for h in self
                .select(p)
                .map_err(|m| ConfigError::plain(format!("--limit: {m}")))?
            {
                chosen.insert(h.name.clone());
            }
        }
        Ok(self
            .hosts
            .iter()
            .filter(|h| chosen.contains(&h.name))
            .collect())
    }

    /// The values of secret variables for one host (to mask in every output): each whole,
    /// every string and number inside it, and every value read from an encrypted file.
    pub fn secret_values(&self, host: &Host) -> Vec<String> {
        let vars = self.vars(host);
        let mut out = self.sealed_values.clone();
        for v in self.secret_vars.iter().filter_map(|name| vars.get(name)) {
            vars_files::leaves(&v.value, &mut out);
        }
        out.extend(self.become_password(&host.name).map(str::to_string));
        out
    }
}

fn is_known_derived(group: &str) -> bool {
    group == "all" || group.starts_with("orbstack_") || TRANSPORT_GROUPS.contains(&group)
}

/// The derived groups that say how a machine is reached.
const TRANSPORT_GROUPS: &[&str] = &["transport_ssh", "transport_orbctl"];

/// `transport_ssh` for an ssh machine, `transport_orbctl` for an OrbStack machine.
pub fn transport_group(host: &Host) -> &'static str {
    match host.ssh {
        Some(_) => TRANSPORT_GROUPS[0],
        None => TRANSPORT_GROUPS[1],
    }
}

#[cfg(test)]
mod tests;
