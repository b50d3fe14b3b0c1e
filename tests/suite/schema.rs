//! `orbdeploy schema`: docs/schema/ holds exactly what the command prints (so the published
//! schema cannot drift from the loader's types), every inventory and operations file the
//! repository ships validates against it, and what the loader refuses as an unknown key, a
//! missing key or a wrong type the schema refuses too.

use std::path::{Path, PathBuf};
use std::process::Command;

const DOCUMENTS: [&str; 3] = ["inventory", "operations", "scenario"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn printed(document: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_orbdeploy"))
        .args(["schema", document])
        .output()
        .expect("orbdeploy runs");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn validator(document: &str) -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&printed(document)).expect("JSON");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// A YAML file as the loader reads it (strict booleans, `0755` a string), as JSON.
fn yaml(text: &str, path: &Path) -> Result<serde_json::Value, String> {
    orbdeploy::yaml::parse_str::<serde_json::Value>(text, path).map_err(|e| e.to_string())
}

fn errors(validator: &jsonschema::Validator, value: &serde_json::Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn docs_schema_is_what_the_command_prints() {
    for document in DOCUMENTS {
        let path = repo().join(format!("docs/schema/{document}.json"));
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == printed(document),
            "{} differs from `orbdeploy schema {document}`: run `cargo run -- schema {document} > docs/schema/{document}.json`",
            path.display()
        );
    }
}

/// Which schema a shipped YAML file is written to, by its name: an inventory, an
/// operations file (includes and a role's steps and handlers are operations files too), or
/// neither (a role's `defaults.yaml` is variables, its `role.yaml` its arguments; a CI
/// workflow is GitHub's).
fn document_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    let in_workflows = path.components().any(|c| c.as_os_str() == ".github");
    match name {
        _ if in_workflows => None,
        "defaults.yaml" | "role.yaml" => None,
        "inventory.yaml" => Some("inventory"),
        // A role's or a project's `tests/*.yaml` are `orbdeploy test` scenarios.
        _ if path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "tests") =>
        {
            Some("scenario")
        }
        _ if name.ends_with(".yaml") || name.ends_with(".yml") => Some("operations"),
        _ => None,
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if document_of(&path).is_some() {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_inventory_and_operations_file_validates() {
    let validators = DOCUMENTS.map(|d| (d, validator(d)));
    let mut files = Vec::new();
    for dir in ["fixtures", "examples", "src/commands/init"] {
        yaml_files(&repo().join(dir), &mut files);
    }
    let mut problems = Vec::new();
    let mut counts = [0; 3];
    for path in &files {
        let document = document_of(path).expect("filtered above");
        let (i, (_, validator)) = validators
            .iter()
            .enumerate()
            .find(|(_, (d, _))| *d == document)
            .expect("a validator per document");
        counts[i] += 1;
        let text = std::fs::read_to_string(path).expect("readable");
        match yaml(&text, path) {
            Ok(value) => problems.extend(
                errors(validator, &value)
                    .into_iter()
                    .map(|e| format!("{}: {e}", path.display())),
            ),
            Err(e) => problems.push(e),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // fixtures: demo, devbox, roles (and the webapp role's scenario); examples/ci; init;
    // the README's first deploy.
    assert!(
        counts[0] >= 5 && counts[1] >= 8 && counts[2] >= 1,
        "{counts:?} of {files:#?}"
    );
}

/// The init templates name the published schema on their first line, for editors.
#[test]
fn init_templates_name_their_schema() {
    let mut files = Vec::new();
    yaml_files(&repo().join("src/commands/init"), &mut files);
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let document = document_of(&path).expect("filtered");
        let first = std::fs::read_to_string(&path).expect("readable");
        let first = first.lines().next().unwrap_or_default().to_string();
        let url = orbdeploy::load::schema::url(match document {
            "inventory" => orbdeploy::load::schema::Document::Inventory,
            _ => orbdeploy::load::schema::Document::Operations,
        });
        assert_eq!(
            first,
            format!("# yaml-language-server: $schema={url}"),
            "{}",
            path.display()
        );
    }
}

/// What the loader refuses while reading (the bad-input catalogue's unknown keys — with
/// Ansible's names too —, missing keys and wrong types), the schema refuses as well.
#[test]
fn the_schema_refuses_what_the_loader_refuses_as_written() {
    let (inventory, operations) = (validator("inventory"), validator("operations"));
    let refused_by_reading = ["unknown field", "missing field", "invalid type"];
    let mut checked = 0;
    let mut missed = Vec::new();
    for case in crate::bad_input::catalogue() {
        if !refused_by_reading.iter().any(|r| case.expect.contains(r)) {
            continue;
        }
        let mut valid = true;
        let inv_text = String::from_utf8_lossy(&case.inventory);
        if let Ok(value) = yaml(&inv_text, Path::new("inv.yaml")) {
            valid &= inventory.is_valid(&value);
        }
        for (name, bytes) in &case.files {
            let text = String::from_utf8_lossy(bytes);
            if let Ok(value) = yaml(&text, Path::new(name)) {
                valid &= operations.is_valid(&value);
            }
        }
        checked += 1;
        if valid {
            missed.push(case.name);
        }
    }
    assert!(checked >= 10, "{checked} cases");
    assert!(
        missed.is_empty(),
        "the loader refuses these, the schema accepts them: {missed:#?}"
    );
}

/// The schema is not blind: an unknown key, a misspelt operation, a number for a mode and a
/// step with two operations are each an error, at the right place.
#[test]
fn the_schema_names_what_is_wrong() {
    let inventory = validator("inventory");
    let value = yaml(
        "machines:\n  web-1: { cpu: 2 }\n",
        Path::new("inventory.yaml"),
    )
    .expect("YAML");
    let found = errors(&inventory, &value);
    assert!(
        found
            .iter()
            .any(|e| e.contains("cpu") && e.ends_with("/machines/web-1")),
        "{found:#?}"
    );
    let operations = validator("operations");
    for (text, wanted) in [
        ("- lineinfile: { path: /etc/x, line: a }\n", "lineinfile"),
        (
            "- put: { dest: /x, content: a, mode: 644 }\n",
            "/0/put/mode",
        ),
        ("- shell: a\n  command: b\n", "/0"),
        ("steps: []\nhandler: []\n", "handler"),
    ] {
        let value = yaml(text, Path::new("ops.yaml")).expect("YAML");
        let found = errors(&operations, &value);
        assert!(
            found.iter().any(|e| e.contains(wanted)),
            "{text}: {found:#?}"
        );
    }
}
