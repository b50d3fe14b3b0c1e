//! The operations YAML: steps and handlers, strict like the inventory.
//!
//! An operations file is either a sequence of steps, or a mapping
//! `{ steps: [...], handlers: [...] }`. The inventory's `operations:` key takes a file
//! name, a sequence mixing file names and inline steps, or the mapping form inline.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::spanned_map::SpannedMap;
use crate::ops::{Mode, Presence};
use crate::yaml::Spanned;

/// One step as written: exactly one operation key plus common keys (DESIGN.md "Operations").
///
/// All operation keys are optional fields here so that serde reports unknown keys with
/// their position; `crate::steps` then checks that exactly one operation is given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The step's display name.
    pub name: Option<String>,
    /// Group, machine or glob patterns selecting the machines (default `all`).
    #[serde(default)]
    pub hosts: OneOrMany,
    /// An expression over variables; the step is skipped when it is false.
    pub when: Option<Spanned<String>>,
    /// Tags for `--tags`.
    #[serde(default)]
    pub tags: OneOrMany,
    /// Run as root.
    #[serde(rename = "become")]
    pub become_root: Option<bool>,
    /// Run as this user (a string), or the `user` operation (a mapping).
    pub user: Option<UserField>,
    /// Working directory for shell and command.
    pub workdir: Option<String>,
    /// Environment for shell and command.
    #[serde(default)]
    pub env: SpannedMap<Scalar>,
    /// Seconds (or `"30s"`, `"5m"`, `"1h"`) before the step's processes are killed.
    pub timeout: Option<Seconds>,
    /// Extra attempts after a failure.
    pub retries: Option<u32>,
    /// Seconds between attempts (default 1).
    pub delay: Option<Seconds>,
    /// A failure of this step does not stop the machine's run.
    pub ignore_errors: Option<bool>,
    /// shell/command: skip when this path exists on the machine.
    pub creates: Option<String>,
    /// shell/command: skip when this command succeeds on the machine.
    pub unless: Option<String>,
    /// Handlers to run (once, at the end) when this step changes something.
    #[serde(default)]
    pub notify: OneOrMany,
    /// Save the result (stdout, stderr, rc, changed) in this variable for later steps.
    pub register: Option<String>,

    /// Run a script through `sh -c`.
    pub shell: Option<String>,
    /// Run an argv without a shell.
    pub command: Option<CommandSpec>,
    /// Copy a local file or inline content to the machine.
    pub put: Option<PutSpec>,
    /// Copy a file from the machine to this computer.
    pub get: Option<GetSpec>,
    /// Render a local Jinja template to a file on the machine.
    pub template: Option<TemplateSpec>,
    /// A directory exists (or not) with this mode and owner.
    pub directory: Option<DirectorySpec>,
    /// A file is present, absent or touched.
    pub file: Option<FileSpec>,
    /// A line is present in (or absent from) a file.
    pub line: Option<LineSpec>,
    /// Packages installed, removed or at their latest version.
    pub packages: Option<PackagesSpec>,
    /// A system service started, stopped, restarted, enabled.
    pub service: Option<ServiceSpec>,
}

/// `user:` is both a common key (run as) and an operation kind (manage a user).
#[derive(Debug, Clone)]
pub enum UserField {
    /// `user: NAME` — run the step as NAME.
    RunAs(String),
    /// `user: { name: ... }` — the user operation.
    Manage(Box<UserSpec>),
}

impl<'de> Deserialize<'de> for UserField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UserField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a user name to run as, or a mapping for the user operation")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UserField, E> {
                Ok(UserField::RunAs(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<UserField, A::Error> {
                let spec = UserSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(UserField::Manage(Box::new(spec)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string or a list of strings (`hosts`, `tags`, `notify`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar written as a string, number or boolean, kept as its text (env values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration in seconds: a whole number, or a string with a unit (`"90s"`, `"5m"`, `"1h"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of seconds, or a string such as \"90s\", \"5m\" or \"1h\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                Ok(Seconds(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                u64::try_from(v)
                    .map(Seconds)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                parse_seconds(v).map(Seconds).ok_or_else(|| {
                    E::custom(format!(
                        "invalid duration `{v}`, expected a number of seconds or a string such as \"90s\", \"5m\" or \"1h\""
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `command:` — an argv list, or a string split like a shell would (no expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec(pub Vec<String>);

impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let words = OneOrMany::deserialize(d)?.0;
        let argv = if words.len() == 1 {
            shell_words::split(&words[0])
                .map_err(|e| de::Error::custom(format!("cannot split the command: {e}")))?
        } else {
            words
        };
        if argv.is_empty() {
            return Err(de::Error::custom("the command is empty"));
        }
        Ok(CommandSpec(argv))
    }
}

/// `put:` — a local file (`src`) or inline `content` to `dest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSpec {
    /// Local file, relative to the operations file.
    pub src: Option<String>,
    /// Inline content (a template string).
    pub content: Option<String>,
    /// Absolute path on the machine.
    pub dest: String,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

/// `get:` — a file from the machine to a local path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetSpec {
    /// Absolute path on the machine.
    pub src: String,
    /// Local destination, relative to the current directory.
    pub dest: String,
}

/// `template:` — a local Jinja template rendered per machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// Local template file, relative to the operations file.
    pub src: String,
    /// Absolute path on the machine.
    pub dest: String,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

/// `directory:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySpec {
    /// Absolute path.
    pub path: String,
    /// present (with parents) or absent (recursively).
    #[serde(default)]
    pub state: Presence,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

/// What `file:` makes true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// Exists (created empty when missing).
    #[default]
    Present,
    /// Does not exist.
    Absent,
    /// Exists, and its modification time is now (always a change).
    Touch,
}

/// `file:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Absolute path.
    pub path: String,
    /// present, absent or touch.
    #[serde(default)]
    pub state: FileState,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

/// `line:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// Absolute path of the file.
    pub path: String,
    /// The whole line (without newline). Required for `present`.
    pub line: Option<String>,
    /// present or absent.
    #[serde(default)]
    pub state: Presence,
    /// An extended regular expression: lines matching it are replaced by `line`
    /// (present) or removed (absent).
    pub regexp: Option<String>,
    /// Create the file when it is missing (default true for present).
    pub create: Option<bool>,
}

/// What `packages:` makes true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    /// Installed, any version.
    #[default]
    Present,
    /// Not installed.
    Absent,
    /// Installed at the newest version the package manager knows.
    Latest,
}

/// `packages:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagesSpec {
    /// Package names.
    pub names: Vec<String>,
    /// Refresh the package index before installing (only when something is missing).
    #[serde(default)]
    pub update: bool,
    /// present, absent or latest.
    #[serde(default)]
    pub state: PackageState,
}

/// `user:` as an operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Login name.
    pub name: String,
    /// present or absent.
    #[serde(default)]
    pub state: Presence,
    /// Login shell.
    pub shell: Option<String>,
    /// Supplementary groups the user must be in (others are left alone).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Home directory.
    pub home: Option<String>,
}

/// What `service:` makes true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Running.
    Started,
    /// Not running.
    Stopped,
    /// Restarted on every apply (always a change).
    Restarted,
}

/// `service:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Service name.
    pub name: String,
    /// started, stopped or restarted.
    pub state: Option<ServiceState>,
    /// Started at boot.
    pub enabled: Option<bool>,
}

/// Steps and handlers from one source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationsDoc {
    /// Steps in order.
    #[serde(default)]
    pub steps: Vec<Spanned<StepSpec>>,
    /// Handlers, run once per machine at the end when notified.
    #[serde(default)]
    pub handlers: Vec<Spanned<StepSpec>>,
}

/// An operations file: a sequence of steps, or `{ steps: [...], handlers: [...] }`.
#[derive(Debug, Clone, Default)]
pub struct OperationsFile(pub OperationsDoc);

impl<'de> Deserialize<'de> for OperationsFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OperationsFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of steps, or a mapping with `steps` and `handlers`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OperationsFile, A::Error> {
                let mut steps = Vec::new();
                while let Some(step) = seq.next_element::<Spanned<StepSpec>>()? {
                    steps.push(step);
                }
                Ok(OperationsFile(OperationsDoc {
                    steps,
                    handlers: Vec::new(),
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OperationsFile, A::Error> {
                OperationsDoc::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(OperationsFile)
            }
        }
        d.deserialize_any(V)
    }
}

/// One entry of the inventory's `operations:` list.
#[derive(Debug, Clone)]
pub enum OpsEntry {
    /// A file, relative to the inventory's directory.
    File(Spanned<String>),
    /// A step written inline.
    Step(Box<Spanned<StepSpec>>),
}

/// The inventory's `operations:` value.
#[derive(Debug, Clone, Default)]
pub struct OperationsRef {
    /// Files and inline steps, in order.
    pub entries: Vec<OpsEntry>,
    /// Inline handlers (mapping form only).
    pub handlers: Vec<Spanned<StepSpec>>,
}

/// A sequence element: a spanned file name or an inline step.
enum RawEntry {
    File(Spanned<String>),
    Step(Box<Spanned<StepSpec>>),
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Spanned<StringOrStep> keeps the position of file names for "no such file" errors.
        let spanned = Spanned::<StringOrStep>::deserialize(d)?;
        Ok(match spanned.value {
            StringOrStep::Str(s) => {
                RawEntry::File(Spanned::new(s, spanned.referenced, spanned.defined))
            }
            StringOrStep::Step(step) => RawEntry::Step(Box::new(Spanned::new(
                *step,
                spanned.referenced,
                spanned.defined,
            ))),
        })
    }
}

enum StringOrStep {
    Str(String),
    Step(Box<StepSpec>),
}

impl<'de> Deserialize<'de> for StringOrStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file name or a step (a mapping)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrStep, E> {
                Ok(StringOrStep::Str(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StringOrStep, A::Error> {
                let step = StepSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(StringOrStep::Step(Box::new(step)))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for OperationsRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OperationsRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file name, a list of file names and steps, or a mapping with `steps` and `handlers`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OperationsRef, E> {
                // A bare string has no position of its own here; callers report the
                // inventory key's position when the file is missing.
                let loc = serde_saphyr::Location::UNKNOWN;
                Ok(OperationsRef {
                    entries: vec![OpsEntry::File(Spanned::new(v.to_string(), loc, loc))],
                    handlers: Vec::new(),
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OperationsRef, A::Error> {
                let mut entries = Vec::new();
                while let Some(raw) = seq.next_element::<RawEntry>()? {
                    entries.push(match raw {
                        RawEntry::File(f) => OpsEntry::File(f),
                        RawEntry::Step(s) => OpsEntry::Step(s),
                    });
                }
                Ok(OperationsRef {
                    entries,
                    handlers: Vec::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OperationsRef, A::Error> {
                let doc = OperationsDoc::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OperationsRef {
                    entries: doc
                        .steps
                        .into_iter()
                        .map(|s| OpsEntry::Step(Box::new(s)))
                        .collect(),
                    handlers: doc.handlers,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    struct Inv {
        operations: OperationsRef,
    }

    #[test]
    fn operations_ref_accepts_file_list_and_mapping() {
        let one: Inv = crate::yaml::parse_str("operations: deploy.yaml\n", Path::new("i")).unwrap();
        assert!(
            matches!(&one.operations.entries[..], [OpsEntry::File(f)] if f.value == "deploy.yaml")
        );

        let mixed: Inv = crate::yaml::parse_str(
            "operations:\n  - a.yaml\n  - { name: hi, shell: echo hi }\n",
            Path::new("i"),
        )
        .unwrap();
        assert_eq!(mixed.operations.entries.len(), 2);
        assert!(
            matches!(&mixed.operations.entries[0], OpsEntry::File(f) if f.referenced.line() == 2)
        );

        let map: Inv = crate::yaml::parse_str(
            "operations:\n  steps: [{ shell: a }]\n  handlers: [{ name: h, shell: b }]\n",
            Path::new("i"),
        )
        .unwrap();
        assert_eq!(map.operations.entries.len(), 1);
        assert_eq!(map.operations.handlers.len(), 1);
    }

    #[test]
    fn inline_step_errors_keep_their_position() {
        let e = crate::yaml::parse_str::<Inv>("operations:\n  - { shel: x }\n", Path::new("i"))
            .unwrap_err();
        assert!(e.to_string().starts_with("i:2:"), "{e}");
    }
}
