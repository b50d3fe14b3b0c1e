//! The inventory YAML as written (DESIGN.md "Inventory (YAML)"), strict: every struct
//! denies unknown keys, and enumerations are typed so a typo is an error, not a default.

use serde::Deserialize;

use super::operations::OperationsRef;
use super::spanned_map::SpannedMap;
use crate::yaml::Spanned;

/// Variables: name → any YAML value, with the position of each name.
pub type Vars = SpannedMap<serde_json::Value>;

/// The desired state of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Exists and runs (the default).
    Running,
    /// Exists and is stopped.
    Stopped,
    /// Does not exist.
    Absent,
}

/// Settings every machine takes unless it overrides them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSettings {
    /// `DISTRO[:VERSION]` for `orbctl create`.
    pub image: Option<Spanned<String>>,
    /// `orbctl create --arch`.
    pub arch: Option<Spanned<String>>,
    /// Default user when created; operations run as this user unless told otherwise.
    pub user: Option<Spanned<String>>,
    /// Create the machine when it is missing.
    pub create: Option<bool>,
    /// `running | stopped | absent`.
    pub state: Option<DesiredState>,
}

/// One machine entry. It repeats `MachineSettings`' fields rather than flattening them in:
/// serde's `flatten` does not work with `deny_unknown_fields`, and strictness matters more.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    /// Groups this machine is in, in precedence order (later wins).
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// Machine variables.
    #[serde(default)]
    pub vars: Vars,
    /// `DISTRO[:VERSION]`.
    pub image: Option<Spanned<String>>,
    /// Architecture.
    pub arch: Option<Spanned<String>>,
    /// Default user.
    pub user: Option<Spanned<String>>,
    /// Create when missing.
    pub create: Option<bool>,
    /// Desired state.
    pub state: Option<DesiredState>,
}

/// One group entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group variables.
    #[serde(default)]
    pub vars: Vars,
}

/// Take machines that `orbctl list` shows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discover {
    /// Glob on the machine name, e.g. `ci-*`.
    #[serde(rename = "match")]
    pub pattern: Spanned<String>,
}

/// The whole inventory file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// Defaults for every machine.
    #[serde(default)]
    pub defaults: MachineSettings,
    /// Global variables.
    #[serde(default)]
    pub vars: Vars,
    /// Names of variables whose values are secrets (masked as `***` in every output).
    #[serde(default)]
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
    pub operations: Option<OperationsRef>,
}
