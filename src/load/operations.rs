//! The operations YAML: steps and handlers, strict like the inventory.
//!
//! An operations file is either a sequence of steps, or a mapping
//! `{ steps: [...], handlers: [...] }`. The inventory's `operations:` key takes a file
//! name, a sequence mixing file names and inline steps, or the mapping form inline.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::ops::{Kind, OpSpec, SpecSeed};
pub use crate::spec::{OneOrMany, ResultTest, Scalar, Seconds, StepSpec};
use crate::yaml::Spanned;

/// The common keys, in the order an unknown key's message lists them (the operation keys
/// follow, from [`Kind::ALL`]).
const COMMON_KEYS: [&str; 27] = [
    "name",
    "hosts",
    "when",
    "tags",
    "become",
    "user",
    "workdir",
    "env",
    "timeout",
    "retries",
    "delay",
    "ignore_errors",
    "changed_when",
    "failed_when",
    "creates",
    "unless",
    "notify",
    "register",
    "loop",
    "loop_var",
    "label",
    "include",
    "role",
    "vars",
    "try",
    "rescue",
    "always",
];

/// The keys of a `try:` group's lists (docs/groups.md), the last of the common keys.
pub const GROUP_KEYS: [&str; 3] = ["try", "rescue", "always"];

/// The common keys, as the step reader takes them.
pub fn common_keys() -> &'static [&'static str] {
    &COMMON_KEYS
}

/// Every key a step may have: the common keys, then each operation's (`user` is both).
fn step_keys() -> &'static [&'static str] {
    static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let ops = Kind::ALL.iter().map(|k| k.as_str());
        let mut keys = COMMON_KEYS.to_vec();
        keys.extend(ops.filter(|k| !COMMON_KEYS.contains(k)));
        keys
    });
    &KEYS
}

/// One step as written: its common keys and every operation key it has, in the order of
/// [`Kind::ALL`] (`crate::steps` checks that there is exactly one).
///
/// Read key by key like a `#[serde(deny_unknown_fields)]` struct, so that an unknown key,
/// a duplicate or a value of the wrong type is reported where it is written.
#[derive(Debug, Clone, Default)]
pub struct RawStep {
    /// The common keys.
    pub spec: StepSpec,
    /// The operations given (a key with a null value gives none).
    pub ops: Vec<OpSpec>,
    /// `try:`, `rescue:` and `always:`: the sections of a group (`crate::steps` checks
    /// them).
    pub sections: Sections,
}

/// The step lists of a `try:` group, as written (`None`: the key is not given).
#[derive(Debug, Clone, Default)]
pub struct Sections {
    /// `try:`: the steps tried in order until one fails.
    pub try_steps: Option<Vec<Spanned<RawStep>>>,
    /// `rescue:`: the steps run when a step of `try` failed.
    pub rescue: Option<Vec<Spanned<RawStep>>>,
    /// `always:`: the steps run after `try` (and `rescue`), whatever happened.
    pub always: Option<Vec<Spanned<RawStep>>>,
}

impl Sections {
    /// Any of the three keys is given.
    pub fn any(&self) -> bool {
        self.try_steps.is_some() || self.rescue.is_some() || self.always.is_some()
    }
}

/// A key of a step.
enum StepKey {
    /// A common key (or `user`, which may also be the user operation).
    Common(&'static str),
    /// An operation's key.
    Op(Kind),
}

/// Reads a key of a step; an unknown one is an error at its position.
struct StepKeySeed;

impl<'de> DeserializeSeed<'de> for StepKeySeed {
    type Value = StepKey;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<StepKey, D::Error> {
        // As serde's derive reads field names: the error is raised while the key is read,
        // so it carries the key's position.
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for StepKeySeed {
    type Value = StepKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<StepKey, E> {
        if let Some(key) = COMMON_KEYS.iter().find(|k| **k == v) {
            return Ok(StepKey::Common(key));
        }
        Kind::from_key(v)
            .map(StepKey::Op)
            .ok_or_else(|| E::unknown_field(v, step_keys()))
    }
}

/// Reads an optional value with `seed`: null is `None`, as for an `Option` field.
struct OptionSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

impl RawStep {
    /// Read the value of the common key `key` into its field (`user` may be the operation).
    fn set<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let s = &mut self.spec;
        match key {
            "name" => s.name = map.next_value()?,
            "hosts" => s.hosts = map.next_value()?,
            "when" => s.when = map.next_value()?,
            "tags" => s.tags = map.next_value()?,
            "become" => s.become_root = map.next_value()?,
            "user" => match map.next_value::<Option<UserField>>()? {
                Some(UserField::RunAs(u)) => s.user = Some(u),
                Some(UserField::Manage(op)) => self.ops.push(op),
                None => {}
            },
            "workdir" => s.workdir = map.next_value()?,
            "env" => s.env = map.next_value()?,
            "timeout" => s.timeout = map.next_value()?,
            "retries" => s.retries = map.next_value()?,
            "delay" => s.delay = map.next_value()?,
            "ignore_errors" => s.ignore_errors = map.next_value()?,
            "changed_when" => s.changed_when = map.next_value()?,
            "failed_when" => s.failed_when = map.next_value()?,
            "creates" => s.creates = map.next_value()?,
            "unless" => s.unless = map.next_value()?,
            "notify" => s.notify = map.next_value()?,
            "register" => s.register = map.next_value()?,
            "loop" => s.loop_items = map.next_value()?,
            "loop_var" => s.loop_var = map.next_value()?,
            "label" => s.label = map.next_value()?,
            "include" => s.include = map.next_value()?,
            "role" => s.role = map.next_value()?,
            "vars" => s.vars = map.next_value()?,
            "try" => self.sections.try_steps = map.next_value()?,
            "rescue" => self.sections.rescue = map.next_value()?,
            "always" => self.sections.always = map.next_value()?,
            // Not reached: `StepKeySeed` gives only `COMMON_KEYS` here (a test reads each).
            other => return Err(de::Error::unknown_field(other, step_keys())),
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("struct StepSpec")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawStep, A::Error> {
                let mut step = RawStep::default();
                let mut seen: Vec<&'static str> = Vec::new();
                while let Some(key) = map.next_key_seed(StepKeySeed)? {
                    let name = match key {
                        StepKey::Common(k) => k,
                        StepKey::Op(kind) => kind.as_str(),
                    };
                    if seen.contains(&name) {
                        return Err(de::Error::duplicate_field(name));
                    }
                    seen.push(name);
                    match key {
                        StepKey::Common(k) => step.set(k, &mut map)?,
                        StepKey::Op(kind) => {
                            step.ops
                                .extend(map.next_value_seed(OptionSeed(SpecSeed(kind)))?);
                        }
                    }
                }
                // Messages list a step's operations in the order of the kinds.
                step.ops.sort_by_key(|op| op.kind() as usize);
                Ok(step)
            }
        }
        // A struct for the parser too: it reads a mapping's keys as field names.
        d.deserialize_struct("StepSpec", step_keys(), V)
    }
}

/// `user:` is both a common key (run as) and an operation kind (manage a user).
enum UserField {
    /// `user: NAME` — run the step as NAME.
    RunAs(String),
    /// `user: { name: ... }` — the user operation.
    Manage(OpSpec),
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
                SpecSeed(Kind::User)
                    .deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(UserField::Manage)
            }
        }
        d.deserialize_any(V)
    }
}

/// Steps and handlers from one source.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationsDoc {
    /// Steps in order.
    #[serde(default)]
    #[schemars(with = "Vec<RawStep>")]
    pub steps: Vec<Spanned<RawStep>>,
    /// Handlers, run once per machine at the end when notified.
    #[serde(default)]
    #[schemars(with = "Vec<RawStep>")]
    pub handlers: Vec<Spanned<RawStep>>,
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
                while let Some(step) = seq.next_element::<Spanned<RawStep>>()? {
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
    Step(Box<Spanned<RawStep>>),
}

/// The inventory's `operations:` value.
#[derive(Debug, Clone, Default)]
pub struct OperationsRef {
    /// Files and inline steps, in order.
    pub entries: Vec<OpsEntry>,
    /// Inline handlers (mapping form only).
    pub handlers: Vec<Spanned<RawStep>>,
}

/// A sequence element: a spanned file name or an inline step.
enum RawEntry {
    File(Spanned<String>),
    Step(Box<Spanned<RawStep>>),
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
    Step(Box<RawStep>),
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
                let step = RawStep::deserialize(de::value::MapAccessDeserializer::new(map))?;
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
                let loc = crate::yaml::Location::UNKNOWN;
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

// The schemas of the hand-written deserializers of this file, each saying what its visitor
// accepts. A step's keys come from `StepSpec` (derived) and the kinds' specs.

/// A step: the common keys of [`StepSpec`] and every operation key, no other key, and
/// exactly one operation (`include:` and `role:` count as one), as `crate::steps` checks.
impl JsonSchema for RawStep {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = StepSpec::json_schema(generator);
        let mut one_of = vec![
            json_schema!({ "required": ["include"] }),
            json_schema!({ "required": ["role"] }),
            json_schema!({ "required": ["try"] }),
        ];
        let steps = generator.subschema_for::<RawStep>().to_value();
        let properties = schema
            .ensure_object()
            .entry("properties")
            .or_insert_with(|| serde_json::json!({}));
        // A group (docs/groups.md): its lists hold steps; `rescue` and `always` need `try`.
        for key in GROUP_KEYS {
            properties[key] = serde_json::json!({ "type": "array", "items": steps, "minItems": 1 });
        }
        for kind in Kind::ALL {
            let key = kind.as_str();
            let spec = kind.spec_schema(generator);
            if *kind == Kind::User {
                // `user:` is also the common key "run as": a string is that, a mapping the
                // operation.
                let run_as = properties
                    .get(key)
                    .cloned()
                    .unwrap_or(serde_json::json!({}));
                properties[key] = serde_json::json!({ "anyOf": [run_as, spec] });
                one_of.push(json_schema!({
                    "required": [key],
                    "properties": { (key): { "type": "object" } }
                }));
            } else {
                properties[key] = spec.to_value();
                one_of.push(json_schema!({ "required": [key] }));
            }
        }
        // The reader requires no common key (each has its default); exactly one operation
        // is what a step must have.
        schema.remove("required");
        schema.insert(
            "description".into(),
            "A step: exactly one operation (or `include:`, `role:`, or a `try:` group) and any common keys.".into(),
        );
        schema.insert("additionalProperties".into(), false.into());
        schema.insert(
            "dependentRequired".into(),
            serde_json::json!({ "rescue": ["try"], "always": ["try"] }),
        );
        schema.insert(
            "oneOf".into(),
            one_of.into_iter().map(Schema::to_value).collect(),
        );
        schema
    }
}

/// A file: a list of steps, or `{ steps, handlers }`.
impl JsonSchema for OperationsFile {
    fn schema_name() -> Cow<'static, str> {
        "OperationsFile".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // `if`/`then` rather than `anyOf`, so that a validator (an editor) names the wrong
        // key inside a step instead of saying that the file matches neither form.
        json_schema!({
            "type": ["array", "object"],
            "if": { "type": "array" },
            "then": { "items": generator.subschema_for::<RawStep>() },
            "else": generator.subschema_for::<OperationsDoc>()
        })
    }
}

/// The inventory's `operations:`: a file name, a list of file names and steps, or
/// `{ steps, handlers }`; or null, which the inventory's `Option` takes as none (said here,
/// not by an `anyOf` around it that would hide which step is wrong).
impl JsonSchema for OperationsRef {
    fn schema_name() -> Cow<'static, str> {
        "OperationsRef".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let step = generator.subschema_for::<RawStep>();
        json_schema!({
            "type": ["string", "array", "object", "null"],
            "if": { "type": "array" },
            "then": {
                "items": {
                    "type": ["string", "object"],
                    "if": { "type": "object" },
                    "then": step
                }
            },
            "else": {
                "if": { "type": "object" },
                "then": generator.subschema_for::<OperationsDoc>()
            }
        })
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

    /// Every common key is read into its field (a key in `COMMON_KEYS` that `set` does not
    /// know would be refused as unknown).
    #[test]
    fn every_common_key_is_read() {
        let mut yaml = String::new();
        for key in COMMON_KEYS {
            let value = match key {
                "become" | "ignore_errors" | "changed_when" => "true",
                "timeout" | "retries" | "delay" => "3",
                "env" | "vars" => "{ A: 1 }",
                "loop" => "[a, 1]",
                "try" | "rescue" | "always" => "[{ shell: t }]",
                _ => "x",
            };
            yaml.push_str(&format!("{key}: {value}\n"));
        }
        yaml.push_str("shell: s\n");
        let step: RawStep = crate::yaml::parse_str(&yaml, Path::new("i")).unwrap();
        let s = &step.spec;
        let x = Some("x".to_string());
        assert_eq!((&s.name, &s.user, &s.workdir), (&x, &x, &x));
        assert_eq!((&s.creates, &s.unless, &s.register), (&x, &x, &x));
        assert_eq!(s.when.as_ref().map(|w| w.value.as_str()), Some("x"));
        for list in [&s.hosts, &s.tags, &s.notify] {
            assert_eq!(list.0, ["x"]);
        }
        assert_eq!((s.become_root, s.ignore_errors), (Some(true), Some(true)));
        assert_eq!(s.changed_when, Some(ResultTest::Fixed(true)));
        assert_eq!(s.failed_when, Some(ResultTest::All(vec!["x".into()])));
        assert_eq!(
            (s.timeout, s.retries, s.delay),
            (Some(Seconds(3)), Some(3), Some(Seconds(3)))
        );
        assert_eq!(s.env.get("A"), Some(&Scalar("1".into())));
        let (lv, label) = (
            s.loop_var.as_ref().map(|v| v.value.as_str()),
            s.label.as_deref(),
        );
        assert_eq!((lv, label), (Some("x"), Some("x")));
        assert_eq!(
            s.loop_items.as_ref().map(|l| l.value.clone()),
            Some(serde_json::json!(["a", 1]))
        );
        assert_eq!(s.include.as_ref().map(|v| v.value.as_str()), Some("x"));
        assert_eq!(s.role.as_ref().map(|v| v.value.as_str()), Some("x"));
        assert!(s.vars.as_ref().is_some_and(|v| v.value.get("A").is_some()));
        assert!(matches!(&step.ops[..], [OpSpec::Shell(sh)] if sh == "s"));
        let sections = &step.sections;
        for list in [&sections.try_steps, &sections.rescue, &sections.always] {
            assert!(list.as_ref().is_some_and(|l| l.len() == 1));
        }
    }

    /// `user:` runs the step as a user when it is a string and is the user operation when it
    /// is a mapping; an operation key with a null value is no operation; the operations are
    /// in the order of the kinds, whatever the order written.
    #[test]
    fn user_key_and_operation_keys() {
        let parse = |y: &str| -> RawStep { crate::yaml::parse_str(y, Path::new("i")).unwrap() };
        let run_as = parse("user: dev\nshell: a\n");
        assert_eq!(run_as.spec.user.as_deref(), Some("dev"));
        assert_eq!(run_as.ops.len(), 1);
        let op = parse("user: { name: dev }\n");
        assert_eq!(op.spec.user, None);
        assert!(matches!(&op.ops[..], [OpSpec::User(u)] if u.name == "dev"));
        assert!(parse("put: ~\nuser: ~\n").ops.is_empty());
        let kinds: Vec<Kind> =
            parse("service: { name: s, state: started }\nuser: { name: u }\nshell: a\n")
                .ops
                .iter()
                .map(OpSpec::kind)
                .collect();
        assert_eq!(kinds, [Kind::Shell, Kind::User, Kind::Service]);
    }

    #[test]
    fn unknown_step_key_lists_common_then_operation_keys() {
        let e = crate::yaml::parse_str::<RawStep>("shel: x\n", Path::new("i")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("i:1:1: unknown field `shel`; did you mean `shell`? Expected one of `name`, `hosts`"),
            "{msg}"
        );
        // Then every operation key in kind order (`user` is listed once, among the common
        // keys), from the kinds list so that a new kind needs no edit here.
        let ops: Vec<String> = Kind::ALL
            .iter()
            .map(|k| k.as_str())
            .filter(|k| *k != "user")
            .map(|k| format!("`{k}`"))
            .collect();
        assert!(
            msg.ends_with(&format!(
                "`register`, `loop`, `loop_var`, `label`, `include`, `role`, `vars`, `try`, `rescue`, `always`, {}",
                ops.join(", ")
            )),
            "{msg}"
        );
    }

    #[test]
    fn inline_step_errors_keep_their_position() {
        let e = crate::yaml::parse_str::<Inv>("operations:\n  - { shel: x }\n", Path::new("i"))
            .unwrap_err();
        assert!(e.to_string().starts_with("i:2:"), "{e}");
    }
}
