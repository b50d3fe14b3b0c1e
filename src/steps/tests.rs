//! Unit tests of the steps' load and expansion: includes (nesting, `vars:`, `hosts:`,
//! `when:` and `tags:` scoping, loops, cycles), roles (defaults, arguments, handler scope,
//! `files/`, where they are found) and loop expansion (labels, bindings, a loop over a
//! registered value), with the files written into a temporary directory.

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

// ---- includes ----

#[test]
fn nested_includes_take_the_place_of_their_entries_and_keep_the_chain() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "- { name: a, shell: 'true' }\n- include: inc/one.yaml\n- { name: z, shell: 'true' }\n",
        ),
        (
            "inc/one.yaml",
            "- { name: b, shell: 'true' }\n- include: two.yaml\n",
        ),
        ("inc/two.yaml", "- { name: c, shell: 'true' }\n"),
    ]);
    let (_, book, _) = tree.loaded();
    assert_eq!(names(&book.steps), ["a", "b", "c", "z"]);
    let indexes: Vec<usize> = book.steps.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
    let c = &book.steps[2];
    assert!(c.origin.ends_with("inc/two.yaml:1:3"), "{}", c.origin);
    let chain: Vec<&str> = c.source.chain.iter().map(|l| l.what.as_str()).collect();
    assert_eq!(chain, ["include inc/one.yaml", "include two.yaml"]);
    assert!(c.source.chain[0].at.ends_with("ops.yaml:2:3"));
    assert!(c.source.chain[1].at.ends_with("inc/one.yaml:2:3"));
    assert!(book.steps[0].source.chain.is_empty());
}

#[test]
fn include_vars_sit_above_machine_variables_inner_over_outer_and_below_var() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "- { name: a, shell: 'true' }\n- { include: one.yaml, vars: { port: 2 } }\n",
        ),
        (
            "one.yaml",
            "- { name: b, shell: 'true' }\n- { include: two.yaml, vars: { port: 3, from_below: 'p{{ port }}' } }\n",
        ),
        ("two.yaml", "- { name: c, shell: 'true' }\n"),
    ]);
    let (inv, book, renderer) = tree.loaded();
    assert_eq!(
        rendered_in_each(&inv, &book, &renderer, "db-1", "{{ port }}"),
        pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
    // A `vars:` template is rendered with the layers below the calls' (the machine's).
    assert_eq!(
        rendered_in_each(
            &inv,
            &book,
            &renderer,
            "db-1",
            "{{ from_below | default('-') }}"
        ),
        pairs(&[("a", "-"), ("b", "-"), ("c", "p1")])
    );
    let (inv, book, renderer) = tree
        .load(&[("port", "9")], &LoadOptions::default())
        .unwrap();
    assert_eq!(
        rendered_in_each(&inv, &book, &renderer, "db-1", "{{ port }}"),
        pairs(&[("a", "9"), ("b", "9"), ("c", "9")])
    );
}

#[test]
fn an_include_narrows_hosts_adds_tags_and_ands_its_when() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "- { include: inc.yaml, hosts: web, tags: [base], when: port == 1 }\n- { name: other, shell: 'true' }\n",
        ),
        (
            "inc.yaml",
            "- { name: both, shell: 'true', hosts: [web-1, db-1], when: k == 'inventory' }\n",
        ),
    ]);
    let (_, book, _) = tree.loaded();
    let [both, other] = &book.steps[..] else {
        panic!("{:?}", names(&book.steps))
    };
    // The plan intersects the step's own `hosts:` with each call's.
    assert_eq!(both.spec.hosts.0, ["web-1", "db-1"]);
    assert_eq!(both.scope.hosts, [vec!["web".to_string()]]);
    assert!(other.scope.hosts.is_empty());
    assert_eq!(both.spec.tags.0, ["base"]);
    assert!(other.spec.tags.0.is_empty());
    let whens: Vec<&str> = book.steps[0].whens().map(|w| w.value.as_str()).collect();
    assert_eq!(whens, ["port == 1", "k == 'inventory'"], "outermost first");
}

#[test]
fn an_include_cycle_is_an_error_naming_the_chain() {
    let tree = Tree::new(&[
        ("ops.yaml", "- include: a.yaml\n"),
        ("a.yaml", "- include: b.yaml\n"),
        (
            "b.yaml",
            "- { name: x, shell: 'true' }\n- include: a.yaml\n",
        ),
    ]);
    let err = tree.error();
    let p = |f: &str| tree.path().join(f).display().to_string();
    let cycle = format!(
        "include cycle: {} → {} → {}",
        p("a.yaml"),
        p("b.yaml"),
        p("a.yaml")
    );
    assert!(err.contains(&cycle), "{err}");
}

#[test]
fn an_error_in_an_included_file_names_its_place_and_the_way_there() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "- { name: a, shell: 'true' }\n- include: bad.yaml\n",
        ),
        (
            "bad.yaml",
            "- { name: ok, shell: 'true' }\n- { name: two, shell: x, file: { path: /x } }\n",
        ),
    ]);
    let err = tree.error();
    assert!(err.contains("bad.yaml:2:3"), "{err}");
    assert!(err.contains("exactly one operation"), "{err}");
    assert!(
        err.contains("(via ") && err.contains("ops.yaml:2:3 include bad.yaml"),
        "{err}"
    );
}

#[test]
fn a_looping_include_repeats_its_steps_in_order_for_each_item() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "- { include: inc.yaml, loop: [x, y], loop_var: site }\n- { name: after, shell: 'true' }\n",
        ),
        (
            "inc.yaml",
            "- { name: one, shell: 'echo {{ site }}' }\n- { name: two, shell: 'true', loop: [1, 2] }\n",
        ),
    ]);
    let (inv, book, renderer) = tree.loaded();
    let got = rendered_in_each(&inv, &book, &renderer, "db-1", "{{ site | default('-') }}");
    assert_eq!(
        got,
        pairs(&[
            ("one [x]", "x"),
            ("two [x] [1]", "x"),
            ("two [x] [2]", "x"),
            ("one [y]", "y"),
            ("two [y] [1]", "y"),
            ("two [y] [2]", "y"),
            ("after", "-"),
        ])
    );
}

#[test]
fn a_looping_include_inside_a_looping_include_is_an_error() {
    let tree = Tree::new(&[
        ("ops.yaml", "- { include: a.yaml, loop: [1, 2] }\n"),
        ("a.yaml", "- { include: b.yaml, loop: [3] }\n"),
        ("b.yaml", "- { name: x, shell: 'true' }\n"),
    ]);
    let err = tree.error();
    assert!(err.contains("loop"), "{err}");
}

#[test]
fn included_handlers_join_the_runs_and_a_name_twice_in_one_scope_is_an_error() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "steps:\n  - { name: s, shell: 'true', notify: from inc }\n  - include: inc.yaml\nhandlers:\n  - { name: own, shell: 'true' }\n",
        ),
        (
            "inc.yaml",
            "steps:\n  - { name: t, shell: 'true', notify: own }\nhandlers:\n  - { name: from inc, shell: 'true' }\n",
        ),
    ]);
    let (_, book, _) = tree.loaded();
    let handler_names = names(&book.handlers);
    assert_eq!(handler_names.len(), 2);
    assert_eq!(handler_names[book.steps[0].notifies[0]], "from inc");
    assert_eq!(handler_names[book.steps[1].notifies[0]], "own");

    tree.write(
        "inc.yaml",
        "steps:\n  - { name: t, shell: 'true' }\nhandlers:\n  - { name: own, shell: 'true' }\n",
    );
    let err = tree.error();
    assert!(err.contains("own"), "{err}");
}

// ---- roles ----

/// A role `web` under `base` with steps, handlers, defaults and an argument schema.
fn web_role(tree: &Tree, base: &str) {
    tree.write(
        &format!("{base}/web/steps.yaml"),
        "- { name: config, shell: 'echo {{ listen }}', notify: restart }\n- { name: launcher, put: { src: run.sh, dest: /x } }\n",
    );
    tree.write(
        &format!("{base}/web/handlers.yaml"),
        "- { name: restart, shell: 'true' }\n",
    );
    tree.write(
        &format!("{base}/web/defaults.yaml"),
        "k: default\nonly_default: d\n",
    );
    tree.write(
        &format!("{base}/web/role.yaml"),
        "args:\n  listen: { type: int, default: 80 }\n  level: { type: string, choices: [info, debug] }\n",
    );
    tree.write(&format!("{base}/web/files/run.sh"), "#!/bin/sh\n");
}

#[test]
fn a_roles_steps_are_named_after_it_and_its_defaults_are_the_lowest_layer() {
    let tree = Tree::new(&[("ops.yaml", "- { role: web, vars: { level: debug } }\n")]);
    web_role(&tree, "roles");
    let (inv, book, renderer) = tree.loaded();
    assert_eq!(names(&book.steps), ["web : config", "web : launcher"]);
    assert_eq!(book.steps[0].source.role.as_deref(), Some("web"));
    // `k` is an inventory variable: it wins over the role's default.
    assert_eq!(
        rendered_in_each(
            &inv,
            &book,
            &renderer,
            "db-1",
            "{{ k }} {{ only_default }} {{ listen }} {{ level }}"
        ),
        pairs(&[
            ("web : config", "inventory d 80 debug"),
            ("web : launcher", "inventory d 80 debug"),
        ])
    );
    // The role's `files/` is looked in first for a relative src.
    let launcher = &book.steps[1];
    assert_eq!(
        launcher.local_file("run.sh"),
        tree.path().join("roles/web/files/run.sh")
    );
}

#[test]
fn a_role_step_notifies_its_own_handler_before_the_runs() {
    let tree = Tree::new(&[(
        "ops.yaml",
        "steps:\n  - role: web\n  - { name: mine, shell: 'true', notify: restart }\nhandlers:\n  - { name: restart, shell: 'true' }\n",
    )]);
    web_role(&tree, "roles");
    let (_, book, _) = tree.loaded();
    let handler_names = names(&book.handlers);
    assert_eq!(handler_names.len(), 2);
    let config = book
        .steps
        .iter()
        .find(|s| s.name == "web : config")
        .unwrap();
    let mine = book.steps.iter().find(|s| s.name == "mine").unwrap();
    assert_eq!(handler_names[config.notifies[0]], "web : restart");
    assert_eq!(handler_names[mine.notifies[0]], "restart");
}

#[test]
fn role_arguments_are_checked_against_the_schema() {
    for (vars, expect) in [
        ("{ listen: nope }", "listen"),
        ("{ level: loud }", "level"),
        ("{ unknown: 1 }", "unknown"),
    ] {
        let tree = Tree::new(&[("ops.yaml", &format!("- {{ role: web, vars: {vars} }}\n"))]);
        web_role(&tree, "roles");
        let err = tree.error();
        assert!(err.contains(expect) && err.contains("web"), "{vars}: {err}");
    }
}

#[test]
fn roles_are_found_beside_the_inventory_first_then_on_roles_path() {
    let tree = Tree::new(&[("ops.yaml", "- role: web\n")]);
    let err = tree.error();
    assert!(err.contains("role `web` not found"), "{err}");

    web_role(&tree, "elsewhere");
    let options = LoadOptions {
        roles_path: vec![tree.path().join("elsewhere")],
    };
    let (_, book, _) = tree.load(&[], &options).unwrap();
    assert_eq!(
        book.steps[0].scope.role.as_ref().unwrap().dir,
        tree.path().join("elsewhere/web")
    );

    // One beside the inventory wins.
    web_role(&tree, "roles");
    tree.write(
        "roles/web/steps.yaml",
        "- { name: beside, shell: 'true' }\n",
    );
    let (_, book, _) = tree.load(&[], &options).unwrap();
    assert_eq!(names(&book.steps), ["web : beside"]);
}

#[test]
fn a_role_cycle_is_an_error() {
    let tree = Tree::new(&[("ops.yaml", "- role: a\n")]);
    tree.write("roles/a/steps.yaml", "- role: b\n");
    tree.write("roles/b/steps.yaml", "- role: a\n");
    let err = tree.error();
    assert!(err.contains("role cycle: a → b → a"), "{err}");
}

// ---- loops ----

#[test]
fn loop_labels_are_the_item_shortened_or_the_label_template() {
    let tree = Tree::new(&[(
        "ops.yaml",
        "\
- { name: plain, shell: 'true', loop: [blog, { a: 1 }] }
- { name: labelled, shell: 'true', loop: [{ n: shop, p: 1 }], loop_var: s, label: '{{ s.n }}:{{ s.p }}' }
- { name: long, shell: 'true', loop: ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'] }
",
    )]);
    let (inv, book, renderer) = tree.loaded();
    let steps = expanded(&inv, &book, &renderer, "db-1", &Json::Null);
    let steps = names(&steps);
    assert_eq!(
        steps[..3],
        ["plain [blog]", "plain [{\"a\":1}]", "labelled [shop:1]"]
    );
    assert!(
        steps[3].starts_with("long [aaa") && steps[3].len() < 100,
        "{}",
        steps[3]
    );
}

#[test]
fn each_item_carries_its_binding_and_position() {
    let tree = Tree::new(&[(
        "ops.yaml",
        "- { name: s, shell: 'true', loop: [{ n: 1 }, { n: 2 }], loop_var: x }\n- { name: none, shell: 'true', loop: [] }\n",
    )]);
    let (inv, book, renderer) = tree.loaded();
    let steps = expanded(&inv, &book, &renderer, "db-1", &Json::Null);
    let item = steps[1].item.as_ref().unwrap();
    assert_eq!(item.bindings, [("x".to_string(), json!({ "n": 2 }))]);
    assert_eq!(item.pos, Some((1, 2)));
    assert!(item.is_last() && !steps[0].item.as_ref().unwrap().is_last());
    assert_eq!(item.value(), json!({ "n": 2 }));
    assert_eq!(steps[2].item.as_ref().unwrap().state, ItemState::Empty);
    assert_eq!(steps.len(), 3);
}

#[test]
fn a_loop_over_a_registered_value_expands_once_the_value_is_known() {
    let tree = Tree::new(&[(
        "ops.yaml",
        "\
- { name: list, shell: 'ls', register: out }
- { name: each, shell: 'echo {{ item }}', loop: '{{ out.stdout_lines }}' }
- { name: bad, shell: 'true', loop: '{{ out.rc }}' }
",
    )]);
    let (inv, book, renderer) = tree.loaded();
    let registered = json!({ "out": { "stdout_lines": ["a", "b"], "rc": 0 } });
    let steps = expanded(&inv, &book, &renderer, "db-1", &registered);
    assert_eq!(names(&steps), ["list", "each [a]", "each [b]", "bad"]);
    match &steps[3].item.as_ref().unwrap().state {
        ItemState::Broken(why) => assert!(why.contains("not a list"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Before the value is known the loop cannot be had: one row that fails.
    let steps = expanded(&inv, &book, &renderer, "db-1", &Json::Null);
    assert!(matches!(
        steps[1].item.as_ref().unwrap().state,
        ItemState::Broken(_)
    ));
}

#[test]
fn a_steps_context_layers_var_over_items_over_call_vars_over_machine_over_defaults() {
    let tree = Tree::new(&[("ops.yaml", "- { role: web, vars: { k: call } }\n")]);
    // No `role.yaml`: any `vars:` are taken.
    tree.write("roles/web/defaults.yaml", "k: default\nport: 0\n");
    tree.write(
        "roles/web/steps.yaml",
        "- { name: s, shell: 'true', loop: [item], loop_var: k }\n- { name: t, shell: 'true' }\n",
    );
    let (inv, book, renderer) = tree.loaded();
    assert_eq!(
        rendered_in_each(&inv, &book, &renderer, "db-1", "{{ k }} {{ port }}"),
        pairs(&[("web : s [item]", "item 1"), ("web : t", "call 1")])
    );
    let (inv, book, renderer) = tree.load(&[("k", "cli")], &LoadOptions::default()).unwrap();
    assert_eq!(
        rendered_in_each(&inv, &book, &renderer, "db-1", "{{ k }}"),
        pairs(&[("web : s [item]", "cli"), ("web : t", "cli")])
    );
}

#[test]
fn a_role_finds_templates_in_templates_and_may_include_and_notify_across_roles() {
    let tree = Tree::new(&[(
        "ops.yaml",
        "- role: app\n- { name: tell, shell: 'true', notify: 'app : reload' }\n",
    )]);
    tree.write(
        "roles/app/steps.yaml",
        "- { name: conf, template: { src: site.j2, dest: /etc/site } }\n- include: more.yaml\n",
    );
    tree.write("roles/app/templates/site.j2", "{{ port }}\n");
    tree.write(
        "roles/app/more.yaml",
        "- { name: extra, shell: 'true', notify: reload }\n",
    );
    tree.write(
        "roles/app/handlers.yaml",
        "- { name: reload, shell: 'true' }\n",
    );
    let (_, book, _) = tree.loaded();
    assert_eq!(names(&book.steps), ["app : conf", "app : extra", "tell"]);
    assert_eq!(
        book.steps[0].local_file("site.j2"),
        tree.path().join("roles/app/templates/site.j2")
    );
    // An include inside a role belongs to the role: its notify finds the role's handler.
    assert_eq!(names(&book.handlers), ["app : reload"]);
    assert_eq!(book.steps[1].notifies, [0]);
    assert_eq!(book.steps[1].source.role.as_deref(), Some("app"));
    assert_eq!(book.steps[2].notifies, [0], "`ROLE : NAME` from outside");
}

#[test]
fn loop_keys_are_checked_when_the_steps_are_loaded() {
    for (step, expect) in [
        (
            "{ name: s, shell: 'true', label: x }",
            "`label` needs a `loop:`",
        ),
        (
            "{ name: s, shell: 'true', loop_var: x }",
            "`loop_var` needs a `loop:`",
        ),
        (
            "{ name: s, shell: 'true', loop: [1], loop_var: machine }",
            "loop_var: `machine` is not a name",
        ),
        ("{ name: s, shell: 'true', loop: 'a, b' }", "is not a list"),
        ("{ name: s, shell: 'true', loop: 3 }", "expected a list"),
        ("{ name: s, shell: 'true', notify: nobody }", "nobody"),
    ] {
        let tree = Tree::new(&[("ops.yaml", &format!("- {step}\n"))]);
        let err = tree.error();
        assert!(err.contains(expect), "{step}: {err}");
        assert!(err.contains("ops.yaml:1:3"), "{step}: {err}");
    }
}

#[test]
fn an_include_over_an_empty_list_is_one_skipped_row_and_a_role_calls_when_is_anded() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "- { include: inc.yaml, loop: [] }\n- { role: r, when: port == 1 }\n",
        ),
        (
            "inc.yaml",
            "- { name: one, shell: 'true' }\n- { name: two, shell: 'true' }\n",
        ),
        (
            "roles/r/steps.yaml",
            "- { name: s, shell: 'true', when: k != '' }\n",
        ),
    ]);
    let (inv, book, renderer) = tree.loaded();
    let steps = expanded(&inv, &book, &renderer, "db-1", &Json::Null);
    assert_eq!(names(&steps), ["one", "r : s"]);
    assert_eq!(steps[0].item.as_ref().unwrap().state, ItemState::Empty);
    let whens: Vec<&str> = steps[1].whens().map(|w| w.value.as_str()).collect();
    assert_eq!(whens, ["port == 1", "k != ''"]);
}
