//! The operations YAML: steps and handlers, strict like the inventory.
//!
//! An operations file is either a sequence of steps, or a mapping
//! `{ steps: [...], handlers: [...] }`. The inventory's `operations:` key takes a file
//! name, a sequence mixing file names and inline steps, or the mapping form inline.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::yaml::Spanned;

/// One step as written (placeholder: the operations work replaces this with the full schema).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The step's display name.
    #[serde(default)]
    pub name: Option<String>,
    /// A shell command.
    #[serde(default)]
    pub shell: Option<String>,
}

/// Steps and handlers from one source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationsDoc {
    /// Steps in order.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// Handlers, run once per machine at the end when notified.
    #[serde(default)]
    pub handlers: Vec<StepSpec>,
}

/// One entry of the inventory's `operations:` list.
#[derive(Debug, Clone)]
pub enum OpsEntry {
    /// A file, relative to the inventory's directory.
    File(Spanned<String>),
    /// A step written inline.
    Step(Box<StepSpec>),
}

/// The inventory's `operations:` value.
#[derive(Debug, Clone, Default)]
pub struct OperationsRef {
    /// Files and inline steps, in order.
    pub entries: Vec<OpsEntry>,
    /// Inline handlers (mapping form only).
    pub handlers: Vec<StepSpec>,
}

/// A sequence element: a spanned file name or an inline step.
enum RawEntry {
    File(Spanned<String>),
    Step(Box<StepSpec>),
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Spanned<StringOrStep> keeps the position of file names for "no such file" errors.
        let spanned = Spanned::<StringOrStep>::deserialize(d)?;
        Ok(match spanned.value {
            StringOrStep::Str(s) => {
                RawEntry::File(Spanned::new(s, spanned.referenced, spanned.defined))
            }
            StringOrStep::Step(step) => RawEntry::Step(step),
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
