//! What users see of loops, includes and roles, pinned by snapshots
//! (`tests/suite/snapshots/suite__loops_output__*.snap`), through the recording fake orbctl (no root):
//! the human output of an apply with a loop (an item per row, `when` per item, a role's
//! steps as `ROLE : NAME`), and `plan --list-steps`.

use crate::snap;

use snap::Project;

const ONE: &[(&str, &str)] = &[("devbox", "running")];

#[test]
fn apply_with_a_loop_shows_a_row_per_item() {
    let p = Project::new(ONE, "machines:\n  devbox: {}\n");
    p.write(
        "ops.yaml",
        r#"steps:
  - name: site configs
    put: { content: "{{ site.name }}\n", dest: "{{ root }}/{{ site.name }}.conf" }
    loop: [{ name: blog, on: true }, { name: shop, on: false }, { name: wiki, on: true }]
    loop_var: site
    label: "{{ site.name }}"
    when: site.on
    notify: reload
  - include: more.yaml
    vars: { greeting: hello }
  - role: app
handlers:
  - { name: reload, shell: "true" }
"#,
    );
    p.write(
        "more.yaml",
        "- name: greeting\n  put: { content: \"{{ greeting }}\\n\", dest: \"{{ root }}/greeting\" }\n",
    );
    p.write("roles/app/defaults.yaml", "port: 80\n");
    p.write(
        "roles/app/steps.yaml",
        "- name: config\n  template: { src: app.conf.j2, dest: \"{{ root }}/app.conf\" }\n",
    );
    p.write("roles/app/templates/app.conf.j2", "port={{ port }}\n");
    let run = p.run(&["apply", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("apply_loop", run.text()));
    assert_eq!(p.read("work/app.conf"), "port=80\n");
    let list = p.run(&["plan", "--list-steps", "inv.yaml"]);
    p.settings()
        .bind(|| insta::assert_snapshot!("list_steps", list.text()));
    assert_eq!(p.changing_calls(), Vec::<String>::new());
}
