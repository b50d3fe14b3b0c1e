//! A scenario file of `orbdeploy test` (docs/scenarios.md) as written, strict as every
//! other file: unknown keys and wrong types are exit 2 with the file, line and column.
//! What it means — the machines of each phase — is made in `crate::scenario`.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use super::inventory::{with_machine_settings, RawSettings, Vars};
use super::operations::OperationsRef;
use crate::error::ConfigError;
use crate::read_log::ReadLog;
use crate::yaml::Spanned;

with_machine_settings! {
/// One platform a scenario is tested on: an image, machine settings and variables.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Its name in the output, the JUnit cases and the machine names (letters, digits, `-`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `DISTRO[:VERSION]` for `orbctl create`.
    #[schemars(with = "String")]
    pub image: Spanned<String>,
    /// `orbctl create --arch`.
    #[schemars(with = "Option<String>")]
    pub arch: Option<Spanned<String>>,
    /// The machine's default user.
    #[schemars(with = "Option<String>")]
    pub user: Option<Spanned<String>>,
    /// Groups the machine is in, for `hosts:` patterns of the operations.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub groups: Vec<Spanned<String>>,
    /// Variables of this platform's machine (over the scenario's `vars`).
    #[serde(default)]
    pub vars: Vars,
}
}

/// A scenario file: what to test, on which platforms.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Its name (default: the file's name without `.yaml`).
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// The platforms, each tested on a throwaway machine of its own, in parallel.
    #[serde(default)]
    #[schemars(with = "Vec<Platform>")]
    pub platforms: Vec<Spanned<Platform>>,
    /// Steps run once per platform while its template is made (packages a test needs).
    #[serde(default)]
    #[schemars(with = "Option<OperationsRef>")]
    pub prepare: Option<OperationsRef>,
    /// What is tested: an operations file, files and steps (a `role:` call with its
    /// `vars`), or `{steps, handlers}`; relative to this file.
    #[serde(default)]
    #[schemars(with = "Option<OperationsRef>")]
    pub converge: Option<OperationsRef>,
    /// Instead of `converge`: an inventory whose operations are tested, on machines with
    /// the variables and groups of the machines `limit` selects.
    #[schemars(with = "Option<String>")]
    pub inventory: Option<Spanned<String>>,
    /// With `inventory`: machine names, groups or globs (as `--limit`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub limit: Vec<Spanned<String>>,
    /// Steps that check the converged machine: they must succeed and change nothing.
    #[serde(default)]
    #[schemars(with = "Option<OperationsRef>")]
    pub verify: Option<OperationsRef>,
    /// Variables of every phase (under a platform's).
    #[serde(default)]
    pub vars: Vars,
    /// Only converge the steps with one of these tags (as `--tags`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tags: Vec<Spanned<String>>,
}

/// A scenario file read and checked for what the types cannot say.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// What was written.
    pub file: ScenarioFile,
    /// The text of `prepare` as data (what a platform's template is keyed by, with the files
    /// its steps read).
    pub prepare_value: serde_json::Value,
}

/// Read one scenario file (noting it in `log`).
pub fn load(path: &Path, log: &ReadLog) -> Result<Scenario, ConfigError> {
    let text = crate::yaml::read_text(path, log)?;
    let file: ScenarioFile = crate::yaml::parse_str(&text, path)?;
    let doc: serde_json::Value = crate::yaml::parse_str(&text, path)?;
    let name = match &file.name {
        Some(n) => {
            check_name(&n.value).map_err(|m| at(path, n, format!("name: {m}")))?;
            n.value.clone()
        }
        None => {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let stem = stem.unwrap_or_default();
            check_name(&stem).map_err(|m| {
                ConfigError::in_file(
                    path,
                    format!("the file's name makes the scenario's name: {m}; give it a `name:`"),
                )
            })?;
            stem
        }
    };
    check(path, &file)?;
    let prepare_value = doc.get("prepare").cloned().unwrap_or_default();
    Ok(Scenario {
        path: path.to_path_buf(),
        name,
        file,
        prepare_value,
    })
}

/// What a scenario needs beyond its types: platforms with names of their own, and one thing
/// to converge.
fn check(path: &Path, file: &ScenarioFile) -> Result<(), ConfigError> {
    if file.platforms.is_empty() {
        return Err(ConfigError::in_file(
            path,
            "`platforms` is missing or empty: expected at least one platform (`- name: debian`, `image: debian:bookworm`)",
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for p in &file.platforms {
        let n = &p.value.name;
        check_name(&n.value).map_err(|m| at(path, n, format!("platform name: {m}")))?;
        if seen.contains(&n.value.as_str()) {
            return Err(at(
                path,
                n,
                format!("platform `{}` is named twice", n.value),
            ));
        }
        seen.push(&n.value);
        crate::orb::images::parse(&p.value.image.value)
            .map_err(|e| at(path, &p.value.image, format!("image: {e}")))?;
    }
    match (&file.converge, &file.inventory) {
        (Some(_), Some(inv)) => Err(at(
            path,
            inv,
            "`converge` and `inventory` are both given: expected one of them",
        )),
        (None, None) => Err(ConfigError::in_file(
            path,
            "nothing to converge: expected `converge` (an operations file, or steps such as `- role: NAME`) or `inventory` with `limit`",
        )),
        (Some(_), None) => match file.limit.first() {
            Some(l) => Err(at(path, l, "`limit` needs `inventory`")),
            None => Ok(()),
        },
        (None, Some(inv)) if file.limit.is_empty() => Err(at(
            path,
            inv,
            "`inventory` needs `limit`: the machines whose variables and groups the test machines take",
        )),
        (None, Some(_)) => Ok(()),
    }
}

/// Scenario and platform names become parts of machine names.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 20
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid name: expected 1 to 20 letters, digits and `-`, starting with a letter or digit"
        ))
    }
}

fn at<T>(path: &Path, s: &Spanned<T>, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(path, s.referenced.line(), s.referenced.column(), msg)
}
