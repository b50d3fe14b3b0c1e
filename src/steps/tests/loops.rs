//! Loop expansion: labels, bindings and positions, a loop over a registered value, the
//! layers of a step's template context, and the loop keys' checks.

use super::*;

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
        (
            "{ name: s, shell: 'true', loop: 'a, b' }",
            "write a YAML list, e.g. `loop: [a, b]`",
        ),
        ("{ name: s, shell: 'true', loop: 3 }", "expected a list"),
        ("{ name: s, shell: 'true', notify: nobody }", "nobody"),
    ] {
        let tree = Tree::new(&[("ops.yaml", &format!("- {step}\n"))]);
        let err = tree.error();
        assert!(err.contains(expect), "{step}: {err}");
        assert!(err.contains("ops.yaml:1:3"), "{step}: {err}");
    }
}
