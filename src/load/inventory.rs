//! The inventory YAML as written (docs/design.md, "Inventory and operations files"), strict: every struct
//! denies unknown keys, and enumerations are typed so a typo is an error, not a default.

use schemars::JsonSchema;
use serde::Deserialize;

use super::operations::OperationsRef;
use crate::serial::Serial;
use crate::spanned_map::SpannedMap;
use crate::spec::{Scalar, Seconds};
use crate::yaml::Spanned;

/// Variables: name → any YAML value, with the position of each name.
pub type Vars = SpannedMap<serde_json::Value>;

/// The desired state of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Exists and runs (the default).
    Running,
    /// Exists and is stopped.
    Stopped,
    /// Does not exist.
    Absent,
}

/// Declares a struct with the given fields plus the machine settings of OrbStack 2.1/2.2
/// (docs/orbctl.md §11.2), which defaults, groups and machines all take. A macro, because
/// serde's `flatten` does not work with `deny_unknown_fields`, and strictness matters more.
///
/// `lifecycle;` first also adds the keys that say what machine to make and in what state
/// (`image` … `state`, and `ssh`), which defaults and machines take and groups do not.
macro_rules! with_machine_settings {
    (lifecycle; $(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        with_machine_settings! {
            $(#[$meta])*
            pub struct $name {
                $($(#[$fmeta])* pub $field: $ty,)*
                /// `DISTRO[:VERSION]` for `orbctl create`.
                #[schemars(with = "Option<String>")]
                pub image: Option<Spanned<String>>,
                /// `orbctl create --arch`.
                #[schemars(with = "Option<String>")]
                pub arch: Option<Spanned<String>>,
                /// The user a created machine gets; steps run as this user unless told otherwise.
                #[schemars(with = "Option<String>")]
                pub user: Option<Spanned<String>>,
                /// Create the machine when it is missing.
                #[schemars(with = "Option<bool>")]
                pub create: Option<Spanned<bool>>,
                /// `running | stopped | absent`.
                #[schemars(with = "Option<DesiredState>")]
                pub state: Option<Spanned<DesiredState>>,
                /// ssh settings; in a machine entry they make it an ssh machine, in `defaults`
                /// every ssh machine takes them (they make none).
                #[serde(default, deserialize_with = "empty_ssh_block")]
                pub ssh: Option<SshSpec>,
            }
        }
    };
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// CPU cores (`create --cpus`, `machine.NAME.cpu`).
            #[schemars(with = "Option<u64>")]
            pub cpus: Option<Spanned<u64>>,
            /// Memory, e.g. `"4G"` or `"512M"` (`create --memory`, `machine.NAME.memory_mib`).
            #[schemars(with = "Option<String>")]
            pub memory: Option<Spanned<String>>,
            /// Disk size, e.g. `"64G"` (`create --disk`, `machine.NAME.disk_bytes`).
            #[schemars(with = "Option<String>")]
            pub disk: Option<Spanned<String>>,
            /// No access to the Mac's files (`create --isolated`); fixed at creation.
            #[schemars(with = "Option<bool>")]
            pub isolated: Option<Spanned<bool>>,
            /// `SRC[:DEST]` bind mounts (`create --mount`, `machine.NAME.mounts`).
            #[schemars(with = "Option<Vec<String>>")]
            pub mounts: Option<Spanned<Vec<Spanned<String>>>>,
            /// No network route to the Mac or other machines (`create --isolate-network`).
            #[schemars(with = "Option<bool>")]
            pub isolate_network: Option<Spanned<bool>>,
            /// The Mac's ssh agent inside the machine (`create --forward-ssh-agent`).
            #[schemars(with = "Option<bool>")]
            pub forward_ssh_agent: Option<Spanned<bool>>,
            /// A cloud-init user-data file passed to `create -c`.
            #[schemars(with = "Option<String>")]
            pub cloud_init: Option<Spanned<String>>,
            /// Restart the machine when a changed setting needs it (default false: reported).
            #[schemars(with = "Option<bool>")]
            pub restart_for_settings: Option<Spanned<bool>>,
        }

        impl $name {
            /// The machine settings of this entry, apart from its other keys.
            pub fn machine_settings(&self) -> RawSettings {
                RawSettings {
                    cpus: self.cpus.clone(),
                    memory: self.memory.clone(),
                    disk: self.disk.clone(),
                    isolated: self.isolated.clone(),
                    mounts: self.mounts.clone(),
                    isolate_network: self.isolate_network.clone(),
                    forward_ssh_agent: self.forward_ssh_agent.clone(),
                    cloud_init: self.cloud_init.clone(),
                    restart_for_settings: self.restart_for_settings.clone(),
                }
            }
        }
    };
}

/// Scenario platforms (`load/scenario.rs`) take the same machine settings.
pub(crate) use with_machine_settings;

/// The machine settings of one entry (defaults, a group or a machine) as written.
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    /// See [`MachineSpec::cpus`].
    pub cpus: Option<Spanned<u64>>,
    /// See [`MachineSpec::memory`].
    pub memory: Option<Spanned<String>>,
    /// See [`MachineSpec::disk`].
    pub disk: Option<Spanned<String>>,
    /// See [`MachineSpec::isolated`].
    pub isolated: Option<Spanned<bool>>,
    /// See [`MachineSpec::mounts`].
    pub mounts: Option<Spanned<Vec<Spanned<String>>>>,
    /// See [`MachineSpec::isolate_network`].
    pub isolate_network: Option<Spanned<bool>>,
    /// See [`MachineSpec::forward_ssh_agent`].
    pub forward_ssh_agent: Option<Spanned<bool>>,
    /// See [`MachineSpec::cloud_init`].
    pub cloud_init: Option<Spanned<String>>,
    /// See [`MachineSpec::restart_for_settings`].
    pub restart_for_settings: Option<Spanned<bool>>,
}

with_machine_settings! {
lifecycle;
/// Settings every machine takes unless it overrides them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineSettings {
    /// The password sudo asks for when a step has `become` on an ssh machine whose sudo is
    /// not `NOPASSWD` (a template, usually rendering a secret); not for OrbStack machines.
    #[schemars(with = "Option<String>")]
    pub become_password: Option<Spanned<String>>,
}
}

with_machine_settings! {
lifecycle;
/// One machine entry: its groups and variables, and every key of `MachineSettings` (the
/// macro adds them: serde's `flatten` does not work with `deny_unknown_fields`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(description = "One machine: its groups, variables, and every key `defaults` takes.")]
pub struct MachineSpec {
    /// Groups this machine is in, in precedence order (later wins).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub groups: Vec<Spanned<String>>,
    /// Machine variables.
    #[serde(default)]
    pub vars: Vars,
    /// Files of machine variables (plain YAML, or age-encrypted `*.age`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub vars_files: Vec<Spanned<String>>,
    /// The password sudo asks for when a step has `become` on an ssh machine whose sudo is
    /// not `NOPASSWD` (a template, usually rendering a secret); not for OrbStack machines.
    #[schemars(with = "Option<String>")]
    pub become_password: Option<Spanned<String>>,
}
}

with_machine_settings! {
/// One group entry: variables, and machine settings for its declared machines.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group variables.
    #[serde(default)]
    pub vars: Vars,
    /// Files of group variables (plain YAML, or age-encrypted `*.age`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub vars_files: Vec<Spanned<String>>,
    /// ssh settings for its machines; a machine that lists the group is an ssh machine.
    #[serde(default, deserialize_with = "empty_ssh_block")]
    pub ssh: Option<SshSpec>,
    /// The password sudo asks for when a step has `become` on an ssh machine whose sudo is
    /// not `NOPASSWD` (a template, usually rendering a secret); not for OrbStack machines.
    #[schemars(with = "Option<String>")]
    pub become_password: Option<Spanned<String>>,
}
}

/// `ssh:` with nothing after it is an empty block (an ssh machine with every default), not
/// no block: whoever writes the key means ssh.
fn empty_ssh_block<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SshSpec>, D::Error> {
    Ok(Some(Option::<SshSpec>::deserialize(d)?.unwrap_or_default()))
}

/// An `ssh:` block as written (docs/ssh.md); the checks and the merge from
/// defaults to groups to the machine are in `inventory/ssh.rs`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshSpec {
    /// Address or name (a `Host` of `~/.ssh/config` works too); default: the machine name.
    #[schemars(with = "Option<String>")]
    pub host: Option<Spanned<String>>,
    /// TCP port, 1 to 65535.
    #[schemars(with = "Option<u64>")]
    pub port: Option<Spanned<u64>>,
    /// Login user.
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// Private key file; `~/` is the home directory, relative paths are the inventory's.
    #[schemars(with = "Option<String>")]
    pub identity: Option<Spanned<String>>,
    /// ProxyJump: `[user@]host[:port]`, several separated by `,`, or `none`.
    #[schemars(with = "Option<String>")]
    pub jump: Option<Spanned<String>>,
    /// An ssh config file (`ssh -F`).
    #[schemars(with = "Option<String>")]
    pub config: Option<Spanned<String>>,
    /// `strict` (the default) or `accept-new`; never off.
    #[schemars(with = "Option<String>")]
    pub host_key: Option<Spanned<String>>,
    /// How long a connection may take to be set up.
    #[schemars(with = "Option<Seconds>")]
    pub connect_timeout: Option<Spanned<Seconds>>,
    /// Keep the connection (the ssh master) this long after the run, for later runs.
    #[schemars(with = "Option<Seconds>")]
    pub persist: Option<Spanned<Seconds>>,
    /// Extra `-o KEY=VALUE` pairs, checked against a deny-list.
    #[serde(default)]
    #[schemars(with = "SpannedMap<Scalar>")]
    pub options: SpannedMap<Spanned<Scalar>>,
}

/// Take machines that `orbctl list` shows.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Discover {
    /// Glob on the machine name, e.g. `ci-*`.
    #[serde(rename = "match")]
    #[schemars(with = "String")]
    pub pattern: Spanned<String>,
}

/// The whole inventory file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// Defaults for every machine.
    #[serde(default)]
    pub defaults: MachineSettings,
    /// Global variables.
    #[serde(default)]
    pub vars: Vars,
    /// Files of global variables (plain YAML, or age-encrypted `*.age`, whose every value
    /// is a secret); the inline `vars:` of the same level win over them.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub vars_files: Vec<Spanned<String>>,
    /// Names of variables whose values are secrets (masked as `***` in every output).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub secrets: Vec<Spanned<String>>,
    /// Groups that carry variables.
    #[serde(default)]
    pub groups: SpannedMap<GroupSpec>,
    /// Declared machines.
    #[serde(default)]
    pub machines: SpannedMap<MachineSpec>,
    /// Discovery of existing machines.
    pub discover: Option<Discover>,
    /// The operations: a file, files and inline steps, or `{steps, handlers}`.
    #[serde(default)]
    #[schemars(with = "OperationsRef")]
    pub operations: Option<OperationsRef>,
    /// Rolling batches: a size, a percentage or a list of sizes (docs/batches.md).
    #[schemars(with = "Option<Serial>")]
    pub serial: Option<Spanned<Serial>>,
    /// With `serial`, the share of a batch's machines that may fail before the batches
    /// after it are not started (0 to 100; default 0).
    #[schemars(with = "Option<u8>", range(max = 100))]
    pub max_fail_percentage: Option<Spanned<i64>>,
}
