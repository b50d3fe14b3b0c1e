//! Roles: names, defaults, arguments, handler scope, `files/` and `templates/`, where they
//! are found, cycles.

use super::*;

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
