//! What every step may say besides its operation, as written: its common keys
//! ([`StepSpec`]) and the value shapes they and the operation kinds share (a string or a
//! list, a scalar kept as text, a duration). A leaf of the step model: the loader
//! (`load::operations`), the kinds (`ops`) and the checked steps (`steps`) all read it, and
//! it reads none of them.

use std::fmt;

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::spanned_map::SpannedMap;
use crate::yaml::Spanned;

/// The keys every step may have, whatever its operation (docs/design.md, "The operation-kind contract").
///
/// Read key by key by `load::operations::RawStep`; its JSON Schema (`orbdeploy schema
/// operations`) is derived from these fields, named as a step spells them.
#[derive(Debug, Clone, Default, JsonSchema)]
pub struct StepSpec {
    /// The step's display name.
    pub name: Option<String>,
    /// Group, machine or glob patterns selecting the machines (default `all`).
    pub hosts: OneOrMany,
    /// An expression over variables; the step is skipped when it is false.
    #[schemars(with = "Option<String>")]
    pub when: Option<Spanned<String>>,
    /// Tags for `--tags`.
    pub tags: OneOrMany,
    /// Run as root (`become:`).
    #[schemars(rename = "become")]
    pub become_root: Option<bool>,
    /// Run as this user (`user:` written as a string; a mapping is the user operation).
    pub user: Option<String>,
    /// Working directory for shell and command.
    pub workdir: Option<String>,
    /// Environment for shell and command.
    pub env: SpannedMap<Scalar>,
    /// Seconds (or `"30s"`, `"5m"`, `"1h"`) before the step's processes are killed.
    pub timeout: Option<Seconds>,
    /// Extra attempts after a failure.
    pub retries: Option<u32>,
    /// Seconds between attempts (default 1).
    pub delay: Option<Seconds>,
    /// A failure of this step does not stop the machine's run.
    pub ignore_errors: Option<bool>,
    /// Whether the step counts as a change, decided from its result after it ran.
    pub changed_when: Option<ResultTest>,
    /// Whether the step failed, decided from its result after it ran.
    pub failed_when: Option<ResultTest>,
    /// shell/command: skip when this path exists on the machine.
    pub creates: Option<String>,
    /// shell/command: skip when this command succeeds on the machine.
    pub unless: Option<String>,
    /// Handlers to run (once, at the end) when this step changes something.
    pub notify: OneOrMany,
    /// Save the result (stdout, stderr, rc, changed) in this variable for later steps.
    pub register: Option<String>,
    /// Run the step once per item: a YAML list, or a template string that yields a list.
    #[schemars(rename = "loop", with = "Option<serde_json::Value>")]
    pub loop_items: Option<Spanned<serde_json::Value>>,
    /// The name of the item variable (default `item`).
    #[schemars(with = "Option<String>")]
    pub loop_var: Option<Spanned<String>>,
    /// What output and reports show of each item (default: the item, shortened).
    pub label: Option<String>,
    /// `include: FILE`: the steps (and handlers) of another file, in place of an operation.
    #[schemars(with = "Option<String>")]
    pub include: Option<Spanned<String>>,
    /// `role: NAME`: the steps and handlers of a role, in place of an operation.
    #[schemars(with = "Option<String>")]
    pub role: Option<Spanned<String>>,
    /// The variables an include or a role call gives its steps.
    #[schemars(with = "Option<SpannedMap<serde_json::Value>>")]
    pub vars: Option<Spanned<SpannedMap<serde_json::Value>>>,
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

/// `changed_when:` or `failed_when:` as written: a YAML boolean, one expression, or a
/// list of expressions that must all be true (as Ansible reads a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultTest {
    /// `true` or `false`: the answer whatever the result.
    Fixed(bool),
    /// Expressions over `result`, all of which must be true.
    All(Vec<String>),
}

impl<'de> Deserialize<'de> for ResultTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ResultTest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false, an expression, or a list of expressions")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ResultTest, E> {
                Ok(ResultTest::Fixed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ResultTest, E> {
                Ok(ResultTest::All(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ResultTest, A::Error> {
                let mut out = Vec::new();
                // A boolean in the list is the expression it spells.
                while let Some(e) = seq.next_element::<Scalar>()? {
                    out.push(e.0);
                }
                Ok(ResultTest::All(out))
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

/// Seconds of `90`, `"90s"`, `"5m"` or `"1h"`; `None` for anything else.
pub fn parse_seconds(v: &str) -> Option<u64> {
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

// The schemas of the hand-written deserializers above, beside them: each says what its
// visitor accepts.

impl JsonSchema for OneOrMany {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "OneOrMany".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

impl JsonSchema for ResultTest {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "ResultTest".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A boolean, a Jinja expression over `result`, or a list of expressions that must all hold.",
            "anyOf": [
                { "type": "boolean" },
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string", "minLength": 1 }, "minItems": 1 }
            ]
        })
    }
}

impl JsonSchema for Scalar {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

impl JsonSchema for Seconds {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Seconds".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Seconds: a whole number, or a string with a unit such as \"90s\", \"5m\" or \"1h\".",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+[smh]?\\s*$" }
            ]
        })
    }
}
