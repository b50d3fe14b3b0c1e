//! Includes: nesting and the chain, `vars:`, `hosts:`/`tags:`/`when:` scoping, loops,
//! cycles, handlers.

use super::*;

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
