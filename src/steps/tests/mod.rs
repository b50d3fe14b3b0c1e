//! Unit tests of the steps' load and expansion: includes (nesting, `vars:`, `hosts:`,
//! `when:` and `tags:` scoping, loops, cycles), roles (defaults, arguments, handler scope,
//! `files/`, where they are found) and loop expansion (labels, bindings, a loop over a
//! registered value), with the files written into a temporary directory. This module holds
//! what they share: the files, their load, and the template contexts a run builds.

mod group;
mod include;
mod loops;
mod role;

use std::path::Path;

use serde_json::{json, Value as Json};

use super::items::{self, ItemState};
use super::{load_with, LoadOptions, Playbook, Step};
use crate::error::ConfigError;
use crate::inventory::Inventory;
use crate::template::Renderer;

/// Two machines: `web-1` (group `web`, `port: 1`) and `db-1`.
const INVENTORY: &str = "\
vars: { port: 1, k: inventory }
groups: { web: {} }
machines:
  web-1: { groups: [web] }
  db-1: {}
operations: ops.yaml
";

/// A directory holding `inv.yaml` ([`INVENTORY`]) and `files` (path, text).
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(files: &[(&str, &str)]) -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = Tree { dir };
        tree.write("inv.yaml", INVENTORY);
        for (path, text) in files {
            tree.write(path, text);
        }
        tree
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The inventory (with `--var`s) and its operations, loaded with `options`.
    fn load(
        &self,
        cli_vars: &[(&str, &str)],
        options: &LoadOptions,
    ) -> Result<(Inventory, Playbook, Renderer), ConfigError> {
        let vars: Vec<(String, String)> = cli_vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let inv = crate::inventory::load(&self.path().join("inv.yaml"), &vars)?;
        let renderer = Renderer::new();
        let book = load_with(&inv, &renderer, options)?;
        Ok((inv, book, renderer))
    }

    fn loaded(&self) -> (Inventory, Playbook, Renderer) {
        self.load(&[], &LoadOptions::default())
            .unwrap_or_else(|e| panic!("loads: {e}"))
    }

    fn error(&self) -> String {
        match self.load(&[], &LoadOptions::default()) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }
}

fn names(steps: &[Step]) -> Vec<&str> {
    steps.iter().map(|s| s.name.as_str()).collect()
}

/// Machine `machine`'s template context (with `registered` values, when an object) and
/// its fixed layer (built-ins and `--var`), as a run builds them.
fn contexts(
    inv: &Inventory,
    machine: &str,
    registered: &Json,
) -> (minijinja::Value, minijinja::Value) {
    let host = inv
        .hosts
        .iter()
        .find(|h| h.name == machine)
        .expect("machine");
    let all = inv.vars(host);
    let fixed: serde_json::Map<String, Json> = all
        .iter()
        .filter(|(_, v)| v.source == "built-in" || v.source == "--var")
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let mut vars: serde_json::Map<String, Json> =
        all.into_iter().map(|(k, v)| (k, v.value)).collect();
    if let Json::Object(r) = registered {
        vars.extend(r.clone());
    }
    (
        minijinja::Value::from_serialize(&vars),
        minijinja::Value::from_serialize(&fixed),
    )
}

/// Every step of `book`, loops expanded for machine `machine` (with `registered` values).
fn expanded(
    inv: &Inventory,
    book: &Playbook,
    renderer: &Renderer,
    machine: &str,
    registered: &Json,
) -> Vec<Step> {
    let (ctx, fixed) = contexts(inv, machine, registered);
    let steps: Vec<&Step> = book.steps.iter().collect();
    items::expand(&steps, renderer, &ctx, &fixed)
}

/// `text` rendered in the context of each expanded step for machine `machine`, by step
/// name.
fn rendered_in_each(
    inv: &Inventory,
    book: &Playbook,
    renderer: &Renderer,
    machine: &str,
    text: &str,
) -> Vec<(String, String)> {
    let (ctx, fixed) = contexts(inv, machine, &Json::Null);
    expanded(inv, book, renderer, machine, &Json::Null)
        .iter()
        .map(|s| {
            let c = items::step_context(s, renderer, &ctx, &fixed).expect("context");
            let out = renderer.render("test", text, &c).expect("renders");
            (s.name.clone(), out)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
