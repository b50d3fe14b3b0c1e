//! `try:` groups at load time: names, the group keys its steps inherit, includes and
//! roles inside, and what a group may not be.

use super::*;
use crate::steps::Section;

#[test]
fn a_groups_steps_are_named_after_it_and_its_lists() {
    let tree = Tree::new(&[(
        "ops.yaml",
        "\
- name: migrate
  try: [{ name: run migrations, shell: a }]
  rescue: [{ name: restore, shell: b }]
  always: [{ shell: c }]
- try: [{ name: plain, shell: d }]
",
    )]);
    let (_, book, _) = tree.loaded();
    assert_eq!(
        names(&book.steps),
        [
            "migrate / try / run migrations",
            "migrate / rescue / restore",
            "migrate / always / shell c",
            "try / plain",
        ]
    );
    let levels: Vec<(usize, Section)> = book
        .steps
        .iter()
        .map(|s| (s.scope.groups[0].id, s.scope.groups[0].section))
        .collect();
    let (a, b) = (levels[0].0, levels[3].0);
    assert_ne!(a, b, "each group has its own id");
    assert_eq!(
        levels,
        [
            (a, Section::Try),
            (a, Section::Rescue),
            (a, Section::Always),
            (b, Section::Try)
        ]
    );
    assert_eq!(
        book.steps[1].scope.groups[0].list(Section::Try),
        "migrate / try"
    );
    assert_eq!(
        book.steps[3].scope.groups[0].list(Section::Rescue),
        "rescue"
    );
}

#[test]
fn includes_and_roles_inside_and_groups_inside_roles_keep_the_structure_in_names() {
    let tree = Tree::new(&[
        (
            "ops.yaml",
            "\
- name: outer
  try:
    - include: inner.yaml
    - role: web
  rescue:
    - name: nested
      try: [{ name: deep, shell: x }]
",
        ),
        ("inner.yaml", "- { name: from include, shell: i }\n"),
        (
            "roles/web/steps.yaml",
            "- { name: g, try: [{ name: in role, shell: r }] }\n",
        ),
    ]);
    let (_, book, _) = tree.loaded();
    assert_eq!(
        names(&book.steps),
        [
            "outer / try / from include",
            "outer / try / web : g / try / in role",
            "outer / rescue / nested / try / deep",
        ]
    );
    assert_eq!(book.steps[1].scope.groups.len(), 2);
    assert_eq!(
        book.steps[1].scope.groups[1].list(Section::Try),
        "outer / try / web : g / try"
    );
    assert_eq!(
        book.steps[0].source.chain.len(),
        1,
        "the include is in the chain"
    );
}

#[test]
fn the_group_keys_reach_its_steps_and_a_steps_own_win() {
    let tree = Tree::new(&[(
        "ops.yaml",
        "\
- name: g
  hosts: web
  tags: [deploy]
  when: port == 1
  become: true
  vars: { word: hi }
  try:
    - { name: plain, shell: 'echo {{ word }}' }
    - { name: own user, shell: b, user: app, tags: extra }
",
    )]);
    let (inv, book, renderer) = tree.loaded();
    let plain = &book.steps[0];
    assert_eq!(plain.spec.become_root, Some(true));
    assert_eq!(plain.spec.tags.0, ["deploy"]);
    assert_eq!(plain.scope.hosts, [vec!["web".to_string()]]);
    assert_eq!(plain.whens().count(), 1);
    let own = &book.steps[1];
    assert_eq!(
        (own.spec.become_root, own.spec.user.as_deref()),
        (None, Some("app"))
    );
    assert_eq!(own.spec.tags.0, ["extra", "deploy"]);
    assert_eq!(
        rendered_in_each(&inv, &book, &renderer, "web-1", "{{ word }}")[0].1,
        "hi"
    );
}

#[test]
fn what_a_group_may_not_be() {
    let cases = [
        (
            "- { rescue: [{ shell: a }] }\n",
            "ops.yaml:1:3: `rescue:` needs a `try:` on the same step",
        ),
        (
            "- { always: [{ shell: a }] }\n",
            "ops.yaml:1:3: `always:` needs a `try:` on the same step",
        ),
        (
            "- { try: [], rescue: [{ shell: a }] }\n",
            "ops.yaml:1:3: `try:` is an empty list",
        ),
        (
            "- { try: [{ shell: a }], always: [] }\n",
            "ops.yaml:1:3: `always:` is an empty list",
        ),
        (
            "- { try: [{ shell: a }], shell: b }\n",
            "ops.yaml:1:3: `try:` takes the place of an operation; this step also has `shell`",
        ),
        (
            "- { try: [{ shell: a }], include: x.yaml }\n",
            "ops.yaml:1:3: `try:` takes the place of an operation; this step also has `include`",
        ),
        (
            "- { try: [{ shell: a }], loop: [1] }\n",
            "ops.yaml:1:3: `loop` does not apply to `try:`",
        ),
        (
            "- { try: [{ shell: a }], become: true, user: x }\n",
            "ops.yaml:1:3: give either `become: true` or `user:`, not both",
        ),
        (
            "- { try: [{ shel: a }] }\n",
            "ops.yaml:1:13: unknown field `shel`",
        ),
        ("- { try: { shell: a } }\n", "ops.yaml:1:"),
        (
            "steps: []\nhandlers: [{ name: h, try: [{ shell: a }] }]\n",
            "a handler cannot be a `try:` group",
        ),
    ];
    for (ops, want) in cases {
        let tree = Tree::new(&[("ops.yaml", ops), ("l.yaml", "- { try: [{ shell: a }] }\n")]);
        let got = tree.error();
        assert!(got.contains(want), "{ops}: {got}");
    }
}
