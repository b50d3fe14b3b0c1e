//! The JSON Schema of the inventory and of an operations file (`orbdeploy schema`,
//! docs/schema/), derived from the very types the loader deserializes, so that the schema
//! and the loader cannot disagree: serde's renames, defaults and `deny_unknown_fields` are
//! read by schemars, and each hand-written deserializer states its schema beside it.
//!
//! Editors use it for completion and validation, with the first line of a file:
//! `# yaml-language-server: $schema=<url>` ([`url`] gives the published one).

use schemars::generate::SchemaSettings;

use super::inventory::InventoryFile;
use super::operations::OperationsFile;
use super::scenario::ScenarioFile;

/// Which file a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// The inventory (`inventory.yaml`).
    Inventory,
    /// An operations file: the inventory's `operations:` file, an include, a role's
    /// `steps.yaml` or `handlers.yaml`.
    Operations,
    /// A scenario of `orbdeploy test` (`tests/*.yaml`).
    Scenario,
}

impl Document {
    /// Every document.
    pub const ALL: [Document; 3] = [
        Document::Inventory,
        Document::Operations,
        Document::Scenario,
    ];

    /// Its name on the command line and in docs/schema/NAME.json.
    pub fn name(self) -> &'static str {
        match self {
            Document::Inventory => "inventory",
            Document::Operations => "operations",
            Document::Scenario => "scenario",
        }
    }
}

/// Where the schema is published: docs/schema/NAME.json of the repository's `main`.
pub fn url(doc: Document) -> String {
    let repo = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    let raw = repo.replacen(
        "https://github.com/",
        "https://raw.githubusercontent.com/",
        1,
    );
    format!("{raw}/main/docs/schema/{}.json", doc.name())
}

/// The schema as a JSON value (draft 2020-12).
pub fn schema(doc: Document) -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let (mut schema, title) = match doc {
        Document::Inventory => (
            generator.into_root_schema_for::<InventoryFile>(),
            "orbdeploy inventory",
        ),
        Document::Operations => (
            generator.into_root_schema_for::<OperationsFile>(),
            "orbdeploy operations file",
        ),
        Document::Scenario => (
            generator.into_root_schema_for::<ScenarioFile>(),
            "orbdeploy test scenario",
        ),
    };
    schema.insert("$id".into(), url(doc).into());
    schema.insert("title".into(), title.into());
    schema.to_value()
}

/// The schema as the text `orbdeploy schema` prints and docs/schema/ keeps.
pub fn text(doc: Document) -> String {
    // A Value always serializes: its keys are strings.
    let mut out = serde_json::to_string_pretty(&sorted(schema(doc))).unwrap_or_default();
    out.push('\n');
    out
}

/// `value` with every object's keys in sorted order. serde_json keeps a map's insertion
/// order when any crate of the build enables its `preserve_order` feature (a test build's
/// dev-dependencies do) and sorts it otherwise; sorting here makes the text one and the
/// same from every build.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Kind;
    use crate::spec::StepSpec;
    use schemars::JsonSchema;

    /// The property names of `T`'s own schema.
    fn properties<T: JsonSchema>() -> Vec<String> {
        let mut generator = SchemaSettings::draft2020_12().into_generator();
        let schema = T::json_schema(&mut generator);
        schema
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The common keys of the schema are the keys the step reader takes (its
    /// `COMMON_KEYS`): a key added to one and not the other fails here.
    #[test]
    fn a_step_s_schema_keys_are_the_keys_the_loader_reads() {
        let mut common = properties::<StepSpec>();
        common.extend(crate::load::operations::GROUP_KEYS.map(String::from));
        common.sort();
        let mut read = crate::load::operations::common_keys().to_vec();
        read.sort();
        assert_eq!(common, read);
        let step = properties::<crate::load::operations::RawStep>();
        for kind in Kind::ALL {
            assert!(step.contains(&kind.as_str().to_string()), "{kind}");
        }
        for key in crate::load::operations::GROUP_KEYS {
            assert!(step.contains(&key.to_string()), "{key}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_everywhere_the_loader_refuses_them() {
        for doc in Document::ALL {
            let text = text(doc);
            assert!(text.contains("\"additionalProperties\": false"), "{text}");
        }
        let inv = schema(Document::Inventory);
        let defs = inv["$defs"].as_object().expect("definitions");
        for name in ["MachineSpec", "GroupSpec", "SshSpec", "Discover", "Step"] {
            assert_eq!(
                defs[name]["additionalProperties"],
                serde_json::Value::Bool(false),
                "{name}"
            );
        }
        assert_eq!(inv["additionalProperties"], serde_json::Value::Bool(false));
    }

    #[test]
    fn the_url_is_the_repository_s_docs_schema() {
        assert_eq!(
            url(Document::Inventory),
            "https://raw.githubusercontent.com/orbdeploy/orbdeploy/main/docs/schema/inventory.json"
        );
    }
}
