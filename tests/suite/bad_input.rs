//! The bad-input catalogue: every case is a mistake a user can make in an inventory, an
//! operations file, a template or on the command line. Each must end with exit code 2 and
//! one clear message (naming file, line and column where there is one), never a panic, and
//! — checked with the recording fake orbctl — without a single orbctl call that could
//! change anything (only `list`, `info` and `status` are allowed).

use crate::fake;

use fake::Fake;

pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) inventory: Vec<u8>,
    pub(crate) files: Vec<(&'static str, Vec<u8>)>,
    args: Vec<&'static str>,
    pub(crate) expect: &'static str,
}

fn inv(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

const M: &str = "machines:\n  m1: {}\n";

fn with_ops(ops: &str) -> (Vec<u8>, Vec<(&'static str, Vec<u8>)>) {
    (
        inv(&format!("{M}operations: ops.yaml\n")),
        vec![("ops.yaml", ops.as_bytes().to_vec())],
    )
}

fn case(name: &'static str, inventory: Vec<u8>, expect: &'static str) -> Case {
    Case {
        name,
        inventory,
        files: vec![],
        args: vec![],
        expect,
    }
}

fn ops_case(name: &'static str, ops: &str, expect: &'static str) -> Case {
    let (inventory, files) = with_ops(ops);
    Case {
        name,
        inventory,
        files,
        args: vec![],
        expect,
    }
}

pub(crate) fn catalogue() -> Vec<Case> {
    let mut deep = String::from("vars:\n  x: ");
    deep.push_str(&"[".repeat(20_000));
    let mut big = format!("{M}vars:\n");
    while big.len() < 50 * 1024 * 1024 {
        big.push_str(
            "  # padding padding padding padding padding padding padding padding padding\n",
        );
    }
    let mut garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    garbage[10] = 0;
    let mut cases = vec![
        case("yaml syntax", inv("machines: [m1, m2\n"), "inv.yaml:"),
        case(
            "bad indentation",
            inv("machines:\n  m1: {}\n    m2: {}\n"),
            "inv.yaml:3:",
        ),
        case(
            "mapping value where none can start",
            inv("machines:\n  m1: {}\nvars:\n  a: b: c\n"),
            "inv.yaml:4:7: mapping values are not allowed in this context\n 4 |   a: b: c\n   |       ^\n hint: ",
        ),
        case(
            "tab indentation",
            inv("machines:\n\tm1: {}\n"),
            "hint: YAML does not allow tabs for indentation",
        ),
        case("wrong type", inv("machines: 5\n"), "inv.yaml:1:"),
        case(
            "unknown top-level key",
            inv("machine:\n  m1: {}\n"),
            "inv.yaml:1:1: unknown field `machine`",
        ),
        case(
            "unknown machine key",
            inv("machines:\n  m1: { imag: debian }\n"),
            "inv.yaml:2:9: unknown field `imag`",
        ),
        case(
            "duplicate key",
            inv("vars: {a: 1}\nvars: {b: 2}\nmachines: {m1: {}}\n"),
            "duplicate",
        ),
        case(
            "duplicate machine",
            inv("machines:\n  m1: {}\n  m1: {}\n"),
            "inv.yaml:3:",
        ),
        case(
            "invalid machine name",
            inv("machines:\n  bad_name!: {}\n"),
            "inv.yaml:2:3:",
        ),
        case(
            "reserved machine name",
            inv("machines:\n  default: {}\n"),
            "inv.yaml:2:3:",
        ),
        case(
            "unknown state",
            inv("machines:\n  m1: { state: paused }\n"),
            "inv.yaml:2:",
        ),
        case(
            "yaml 1.1 boolean",
            inv("defaults: { create: yes }\nmachines: {m1: {}}\n"),
            "inv.yaml:1:",
        ),
        case("empty file", inv(""), "inv.yaml"),
        case(
            "not utf-8",
            b"machines:\n  m1: {}\nvars: { a: \"\xff\xfe\" }\n".to_vec(),
            "inv.yaml",
        ),
        case("binary garbage", garbage, "inv.yaml"),
        case("50 MB file", big.into_bytes(), "inv.yaml"),
        case(
            "image with two versions",
            inv("defaults: { image: 'debian:bookworm:extra' }\nmachines: { m1: {} }\n"),
            "inv.yaml:1:20: image `debian:bookworm:extra` is not DISTRO or DISTRO:VERSION",
        ),
        case(
            "image of an unknown version",
            inv("machines:\n  m1: { image: 'ubuntu:19.04' }\n"),
            "inv.yaml:2:16: unknown version `19.04` of ubuntu",
        ),
        case(
            "memory without a unit",
            inv("machines:\n  m1: { memory: 4096 }\n"),
            "inv.yaml:2:17: invalid memory `4096`",
        ),
        case(
            "mount of a missing directory",
            inv("groups:\n  g: { mounts: [./no-such-dir] }\nmachines:\n  m1: { groups: [g] }\n"),
            "inv.yaml:2:17: mount `./no-such-dir`:",
        ),
        case("deeply nested", deep.into_bytes(), "inv.yaml"),
        case(
            "invalid variable name",
            inv("vars: { 1x: 1 }\nmachines: {m1: {}}\n"),
            "inv.yaml:1:",
        ),
        case(
            "built-in redefined",
            inv("vars: { machine: x }\nmachines: {m1: {}}\n"),
            "inv.yaml:1:",
        ),
        case(
            "missing operations file",
            inv(&format!("{M}operations: nope.yaml\n")),
            "nope.yaml",
        ),
        Case {
            args: vec!["--var", "novalue"],
            ..case("--var without =", inv(M), "--var")
        },
        Case {
            args: vec!["--limit", "nosuch"],
            ..case("--limit unknown", inv(M), "--limit")
        },
        Case {
            args: vec!["--limit", "m2"],
            ..case(
                "--limit close to a machine",
                inv(M),
                "--limit: `m2` is neither a machine nor a group of this inventory; did you mean `m1`?",
            )
        },
        Case {
            args: vec!["--limit", "zz-*"],
            ..case(
                "--limit that selects no machine",
                inv(M),
                "--limit `zz-*` selects no machine: the inventory has machine `m1`; give --allow-empty",
            )
        },
        Case {
            args: vec!["--tags", "nosuch"],
            ..ops_case(
                "--tags that selects no step",
                "- shell: a\n  tags: [web]\n",
                "--tags `nosuch` selects no step on the machines: the steps' tags are `web`; give --allow-empty",
            )
        },
        case(
            "an inventory with no machines",
            inv("machines: {}\n"),
            "the inventory selects no machine: the inventory has no machines; give --allow-empty",
        ),
        Case {
            args: vec!["--parallel", "0"],
            ..case("--parallel 0", inv(M), "--parallel")
        },
        case(
            "serial 0",
            inv(&format!("{M}serial: 0\n")),
            "inv.yaml:3:9: invalid batch size `0`: expected a whole number of machines from 1, or a percentage from 1% to 100% such as \"25%\"",
        ),
        case(
            "serial negative",
            inv(&format!("{M}serial: -2\n")),
            "inv.yaml:3:9: invalid batch size `-2`",
        ),
        case(
            "serial 0%",
            inv(&format!("{M}serial: \"0%\"\n")),
            "inv.yaml:3:9: invalid batch size `0%`",
        ),
        case(
            "serial 150%",
            inv(&format!("{M}serial: \"150%\"\n")),
            "inv.yaml:3:9: invalid batch size `150%`",
        ),
        case(
            "serial a word",
            inv(&format!("{M}serial: half\n")),
            "inv.yaml:3:9: invalid batch size `half`",
        ),
        case(
            "serial a bad size in a list",
            inv(&format!("{M}serial: [1, \"5\", 0]\n")),
            "inv.yaml:3:18: invalid batch size `0`",
        ),
        case(
            "serial an empty list",
            inv(&format!("{M}serial: []\n")),
            "inv.yaml:3:9: serial: an empty list has no batch size",
        ),
        case(
            "max_fail_percentage above 100",
            inv(&format!("{M}serial: 1\nmax_fail_percentage: 101\n")),
            "inv.yaml:4:22: max_fail_percentage must be a whole number from 0 to 100, not 101",
        ),
        case(
            "max_fail_percentage negative",
            inv(&format!("{M}max_fail_percentage: -1\n")),
            "inv.yaml:3:22: max_fail_percentage must be a whole number from 0 to 100, not -1",
        ),
        case(
            "max_fail_percentage a string",
            inv(&format!("{M}max_fail_percentage: \"10%\"\n")),
            "inv.yaml:3:22: ",
        ),
        Case {
            args: vec!["--serial", "0"],
            ..case(
                "--serial 0",
                inv(M),
                "--serial `0`: invalid batch size `0`: expected a whole number of machines from 1",
            )
        },
        Case {
            args: vec!["--serial", "1,x"],
            ..case("--serial with a word", inv(M), "--serial `1,x`: invalid batch size `x`")
        },
        Case {
            args: vec!["--max-fail-percentage", "120"],
            ..case(
                "--max-fail-percentage 120",
                inv(M),
                "--max-fail-percentage `120`: expected a whole number from 0 to 100",
            )
        },
        ops_case(
            "unknown operation key",
            "- shel: echo\n",
            "ops.yaml:1:3: unknown field `shel`",
        ),
        ops_case(
            "Ansible's lineinfile",
            "- lineinfile: { path: /x, line: a }\n",
            "ops.yaml:1:3: unknown field `lineinfile`: that is Ansible's name; in orbdeploy, use `line`",
        ),
        ops_case(
            "Ansible's blockinfile",
            "- blockinfile: { path: /x, block: a }\n",
            "in orbdeploy, use `block`",
        ),
        ops_case(
            "Ansible's copy",
            "- copy: { src: a, dest: /x }\n",
            "in orbdeploy, use `put`",
        ),
        ops_case(
            "Ansible's apt",
            "- apt: { name: nginx }\n",
            "in orbdeploy, use `packages`",
        ),
        ops_case(
            "Ansible's package",
            "- package: { name: nginx }\n",
            "in orbdeploy, use `packages`",
        ),
        ops_case(
            "Ansible's systemd",
            "- systemd: { name: nginx, state: started }\n",
            "in orbdeploy, use `service`",
        ),
        ops_case(
            "Ansible's get_url",
            "- get_url: { url: \"https://h/x\", dest: /x }\n",
            "in orbdeploy, use `download`",
        ),
        ops_case(
            "Ansible's wait_for",
            "- wait_for: { port: 80 }\n",
            "in orbdeploy, use `wait`",
        ),
        ops_case(
            "Ansible's synchronize",
            "- synchronize: { src: d, dest: /x }\n",
            "in orbdeploy, use `sync`",
        ),
        ops_case(
            "Ansible's fully qualified name",
            "- ansible.builtin.lineinfile: { path: /x, line: a }\n",
            "in orbdeploy, use `line`",
        ),
        ops_case(
            "Ansible's sudo",
            "- shell: a\n  sudo: true\n",
            "ops.yaml:2:3: unknown field `sudo`: that is Ansible's name; in orbdeploy, use `become: true`",
        ),
        ops_case(
            "Ansible's become_user",
            "- shell: a\n  become_user: app\n",
            "in orbdeploy, use `user: NAME`",
        ),
        ops_case(
            "Ansible's with_items",
            "- shell: \"echo {{ item }}\"\n  with_items: [a, b]\n",
            "in orbdeploy, use `loop:` with a list",
        ),
        ops_case(
            "Ansible's tasks",
            "tasks:\n  - shell: a\n",
            "in orbdeploy, use `steps`",
        ),
        ops_case(
            "two operations",
            "- shell: a\n  command: [b]\n",
            "ops.yaml:1:3: a step has exactly one operation",
        ),
        ops_case(
            "no operation",
            "- name: nothing\n",
            "ops.yaml:1:3: a step needs one operation",
        ),
        ops_case(
            "mode as a number",
            "- put: { content: a, dest: /x, mode: 755 }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "invalid mode",
            "- put: { content: a, dest: /x, mode: \"999\" }\n",
            "invalid mode \"999\"",
        ),
        ops_case(
            "mode too long",
            "- file: { path: /x, mode: \"12345\" }\n",
            "invalid mode",
        ),
        ops_case(
            "put src and content",
            "- put: { src: a, content: b, dest: /x }\n",
            "not both",
        ),
        ops_case(
            "put missing src",
            "- put: { src: nope.bin, dest: /x }\n",
            "nope.bin",
        ),
        ops_case(
            "template missing src",
            "- template: { src: nope.j2, dest: /x }\n",
            "nope.j2",
        ),
        ops_case(
            "undefined template variable",
            "- put: { content: \"{{ nope }}\", dest: /x }\n",
            "undefined variable `nope`",
        ),
        Case {
            files: vec![("ops.yaml", b"- put: { content: \"{{ prot }}\", dest: /x }\n".to_vec())],
            ..case(
                "undefined template variable close to a defined one",
                inv(&format!("{M}vars: {{ port: 80 }}\noperations: ops.yaml\n")),
                "undefined variable `prot`; did you mean `port`?",
            )
        },
        ops_case(
            "when: \"yes\"",
            "- shell: a\n  when: \"yes\"\n",
            "when: undefined variable `yes`: a `when:` is an expression; write `true`",
        ),
        ops_case(
            "when on an undefined variable",
            "- shell: a\n  when: is_prod\n",
            "when: undefined variable `is_prod`: define it under `vars:`, or test it with `is_prod is defined`",
        ),
        Case {
            files: vec![("ops.yaml", b"- shell: a\n  when: is_prod\n".to_vec())],
            ..case(
                "when on an undefined variable close to a defined one",
                inv(&format!("{M}vars: {{ is_production: true }}\noperations: ops.yaml\n")),
                "when: undefined variable `is_prod`; did you mean `is_production`?",
            )
        },
        ops_case(
            "loop over a string of words",
            "- shell: \"echo {{ item }}\"\n  loop: \"bin notes tmp\"\n",
            "loop: `bin notes tmp` is a string, not a list: write a YAML list, e.g. `loop: [bin, notes, tmp]`",
        ),
        ops_case(
            "loop over a bare variable name",
            "- shell: \"echo {{ item }}\"\n  loop: dirs\n",
            "to loop over the variable, write `loop: \"{{ dirs }}\"`",
        ),
        ops_case(
            "template syntax",
            "- put: { content: \"{{ x \", dest: /x }\n",
            "ops.yaml:1:3:",
        ),
        ops_case(
            "when syntax",
            "- shell: a\n  when: \"x ==\"\n",
            "error: ops.yaml:1:3: step `shell a`: when:",
        ),
        ops_case(
            "when with a block end (minijinja panicked on it)",
            "- shell: a\n  when: \"}}x\"\n",
            "ops.yaml:1:3: step `shell a`: when: `}}` in the expression",
        ),
        ops_case(
            "unknown handler",
            "steps:\n  - shell: a\n    notify: nope\n",
            "no handler named `nope`",
        ),
        ops_case(
            "handler without name",
            "steps: []\nhandlers:\n  - shell: a\n",
            "a handler needs a `name:`",
        ),
        ops_case(
            "duplicate handlers",
            "steps: []\nhandlers:\n  - { name: h, shell: a }\n  - { name: h, shell: b }\n",
            "a second handler named `h`",
        ),
        ops_case(
            "unknown group in hosts",
            "- shell: a\n  hosts: nogroup\n",
            "hosts:",
        ),
        ops_case(
            "reserved register name",
            "- shell: a\n  register: machine\n",
            "register:",
        ),
        ops_case(
            "invalid env name",
            "- shell: a\n  env: { A-B: 1 }\n",
            "env:",
        ),
        ops_case(
            "become and user",
            "- shell: a\n  become: true\n  user: dev\n",
            "not both",
        ),
        ops_case(
            "creates on put",
            "- put: { content: a, dest: /x }\n  creates: /y\n",
            "`creates` applies to shell and command steps only",
        ),
        ops_case(
            "relative dest",
            "- put: { content: a, dest: relative.txt }\n",
            "not an absolute path",
        ),
        ops_case(
            "empty package list",
            "- packages: { names: [] }\n",
            "`names` is empty",
        ),
        ops_case(
            "line without line",
            "- line: { path: /x }\n",
            "needs `line`",
        ),
        ops_case(
            "service without state",
            "- service: { name: x }\n",
            "give `state` and/or `enabled`",
        ),
        ops_case(
            "bad timeout",
            "- shell: a\n  timeout: \"5 minutes\"\n",
            "invalid duration",
        ),
        ops_case(
            "too many retries",
            "- shell: a\n  retries: 1000\n",
            "retries: at most 100",
        ),
        ops_case(
            "tags of the wrong type",
            "- shell: a\n  tags: { a: 1 }\n",
            "ops.yaml:2:",
        ),
        ops_case(
            "unset env() variable",
            "- shell: \"echo {{ env('ORBD_NOPE_XYZ') }}\"\n",
            "ORBD_NOPE_XYZ",
        ),
        ops_case(
            "unknown key in put",
            "- put: { content: a, dest: /x, mod: \"0644\" }\n",
            "unknown field `mod`",
        ),
        ops_case("empty command", "- command: []\n", "the command is empty"),
        ops_case(
            "unbalanced quote in command",
            "- command: \"echo 'x\"\n",
            "cannot split the command",
        ),
        ops_case(
            "newline in a line",
            "- line: { path: /x, line: \"a\\nb\" }\n",
            "must be one line",
        ),
        ops_case("operations not a list", "steps: 5\n", "ops.yaml:1:"),
        ops_case(
            "link without path",
            "- link: { target: /x }\n",
            "missing field `path`",
        ),
        ops_case(
            "link force of the wrong type",
            "- link: { path: /x, target: /y, force: 3 }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "link with an empty target (a relative one is kept as written)",
            "- link: { path: /srv/current, target: \"\" }\n",
            "`target` is empty",
        ),
        ops_case(
            "link with a relative path",
            "- link: { path: current, target: releases/1 }\n",
            "not an absolute path",
        ),
        ops_case(
            "block without path",
            "- block: { block: x }\n",
            "missing field `path`",
        ),
        ops_case(
            "block of the wrong type",
            "- block: { path: /x, block: [a, b] }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "block marker without {mark}",
            "- block: { path: /x, block: a, marker: \"# managed\" }\n",
            "`marker` needs `{mark}`",
        ),
        ops_case(
            "block insert_after that does not compile",
            "- block: { path: /x, block: a, insert_after: \"[a\" }\n",
            "is not a valid regular expression",
        ),
        ops_case(
            "replace without regexp",
            "- replace: { path: /x }\n",
            "missing field `regexp`",
        ),
        ops_case(
            "replace count of the wrong type",
            "- replace: { path: /x, regexp: a, count: many }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "replace regexp that does not compile",
            "- replace: { path: /x, regexp: \"(a\" }\n",
            "unclosed group",
        ),
        ops_case(
            "replace with a group the regexp lacks",
            "- replace: { path: /x, regexp: \"(a)\", replace: \"$2\" }\n",
            "a group the regexp does not have",
        ),
        ops_case(
            "wait for nothing",
            "- wait: { timeout: 5 }\n",
            "give exactly one of `port`, `path` and `command`",
        ),
        ops_case(
            "wait port of the wrong type",
            "- wait: { port: [80] }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "wait port out of range",
            "- wait: { port: 70000 }\n",
            "a port is a number from 1 to 65535",
        ),
        ops_case(
            "wait for an unknown state",
            "- wait: { path: /x, state: up }\n",
            "unknown variant `up`",
        ),
        ops_case(
            "assert without that",
            "- assert: { message: x }\n",
            "missing field `that`",
        ),
        ops_case(
            "assert that of the wrong type",
            "- assert: { that: { a: 1 } }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "assert expression that does not compile",
            "- assert: { that: [\"port > 1\", \"port ==\"] }\n",
            "that: `port ==`",
        ),
        ops_case(
            "group without name",
            "- group: { gid: 5 }\n",
            "missing field `name`",
        ),
        ops_case(
            "group system of the wrong type",
            "- group: { name: devs, system: 1 }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "group gid not a number",
            "- group: { name: devs, gid: abc }\n",
            "a gid is a whole number",
        ),
        ops_case(
            "service daemon_reload of the wrong type",
            "- service: { name: web, state: started, daemon_reload: sometimes }\n",
            "ops.yaml:1:",
        ),
        // sync, git and download.
        ops_case(
            "sync without dest",
            "- sync: { src: d }\n",
            "missing field `dest`",
        ),
        ops_case(
            "sync delete not a boolean",
            "- sync: { src: d, dest: /x, delete: \"yes\" }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "sync from a missing directory",
            "- sync: { src: nothing, dest: /x }\n",
            "is not a directory",
        ),
        ops_case(
            "sync with a bad exclude",
            "- sync: { src: ., dest: /x, exclude: [\"a[\"] }\n",
            "exclude: a pattern is not a valid glob",
        ),
        ops_case(
            "git without repo",
            "- git: { dest: /x }\n",
            "missing field `repo`",
        ),
        ops_case(
            "git depth not a number",
            "- git: { repo: r, dest: /x, depth: many }\n",
            "ops.yaml:1:",
        ),
        ops_case(
            "git with a bad version",
            "- git: { repo: r, dest: /x, version: \"a b\" }\n",
            "`version` is not a branch, tag or commit name",
        ),
        ops_case(
            "download without url",
            "- download: { dest: /x }\n",
            "missing field `url`",
        ),
        ops_case(
            "download of an ftp URL",
            "- download: { url: \"ftp://h/x\", dest: /x }\n",
            "only http, https and file URLs can be downloaded",
        ),
        ops_case(
            "download with a short sha256",
            "- download: { url: \"https://h/x\", dest: /x, sha256: abc }\n",
            "`sha256` must be 64 hexadecimal digits",
        ),
        // Loops, includes and roles (issue 15).
        files_case(
            "include cycle",
            &[
                ("ops.yaml", "- include: a.yaml\n"),
                ("a.yaml", "- include: b.yaml\n"),
                ("b.yaml", "- include: a.yaml\n"),
            ],
            "include cycle: a.yaml → b.yaml → a.yaml",
        ),
        ops_case(
            "missing include file",
            "- include: nope.yaml\n",
            "ops.yaml:1:3: include: nope.yaml does not exist",
        ),
        ops_case(
            "missing role",
            "- role: nginx\n",
            "ops.yaml:1:3: role `nginx` not found",
        ),
        files_case(
            "role arg of the wrong type",
            &[
                ("ops.yaml", "- role: web\n  vars: { port: \"80\" }\n"),
                ("roles/web/role.yaml", ROLE_ARGS),
                ("roles/web/steps.yaml", "- shell: \"echo {{ port }}\"\n"),
            ],
            "role `web`: vars: `port` must be an int, not a string (\"80\")",
        ),
        files_case(
            "role arg missing",
            &[
                ("ops.yaml", "- role: web\n"),
                ("roles/web/role.yaml", ROLE_ARGS),
                ("roles/web/steps.yaml", "- shell: \"echo {{ port }}\"\n"),
            ],
            "role `web`: vars: `port` is required",
        ),
        files_case(
            "role arg unknown",
            &[
                ("ops.yaml", "- role: web\n  vars: { port: 80, prot: 1 }\n"),
                ("roles/web/role.yaml", ROLE_ARGS),
                ("roles/web/steps.yaml", "- shell: \"echo {{ port }}\"\n"),
            ],
            "`prot` is not an argument of the role; did you mean `port`?",
        ),
        Case {
            files: vec![(
                "ops.yaml",
                b"- shell: \"echo {{ item }}\"\n  loop: \"{{ port }}\"\n".to_vec(),
            )],
            ..case(
                "loop over a variable that is not a list",
                inv(&format!("{M}vars: {{ port: 80 }}\noperations: ops.yaml\n")),
                "loop: `port` is a number (80), not a list",
            )
        },
        ops_case(
            "loop that is not a list",
            "- shell: \"echo {{ item }}\"\n  loop: 5\n",
            "loop: expected a list, or a template that yields one; found a number (5)",
        ),
        ops_case(
            "invalid loop_var",
            "- shell: \"echo {{ item }}\"\n  loop: [a]\n  loop_var: 1x\n",
            "loop_var: `1x` is not a name a variable can have",
        ),
        Case {
            files: vec![("ops.yaml", b"- shell: a\n  when: port\n".to_vec())],
            ..case(
                "when that is not a boolean",
                inv(&format!("{M}vars: {{ port: 80 }}\noperations: ops.yaml\n")),
                "when: `port` is a number (80), not true or false",
            )
        },
        ops_case(
            "changed_when of the wrong type",
            "- shell: a\n  changed_when: 1\n",
            "ops.yaml:2:3: expected true, false, an expression, or a list of expressions, found integer `1`",
        ),
        ops_case(
            "failed_when a mapping",
            "- shell: a\n  failed_when: { rc: 1 }\n",
            "ops.yaml:2:16: `failed_when`: expected true, false, an expression, or a list of expressions, found a mapping",
        ),
        ops_case(
            "changed_when an empty list",
            "- shell: a\n  changed_when: []\n",
            "ops.yaml:1:3: step `shell a`: changed_when: an empty list; write true, false, an expression, or a list of expressions",
        ),
        ops_case(
            "changed_when syntax",
            "- shell: a\n  changed_when: \"result.rc ==\"\n",
            "error: ops.yaml:1:3: step `shell a`: changed_when:",
        ),
        ops_case(
            "failed_when syntax in a list",
            "- shell: a\n  failed_when: [result.rc == 1, \"result.stdout in\"]\n",
            "error: ops.yaml:1:3: step `shell a`: failed_when:",
        ),
        ops_case(
            "changed_when that is not a boolean",
            "- shell: a\n  changed_when: result.stdout\n",
            "ops.yaml:1:3: step `shell a`: on machine `m1`: changed_when: `result.stdout` is a string (\"\"), not true or false",
        ),
        ops_case(
            "failed_when on an undefined name",
            "- shell: a\n  failed_when: resutl.rc > 1\n",
            "ops.yaml:1:3: step `shell a`: on machine `m1`: failed_when: undefined variable `resutl`; did you mean `result`?",
        ),
        ops_case(
            "changed_when on an include",
            "- include: more.yaml\n  changed_when: false\n",
            "ops.yaml:1:3: `changed_when` does not apply to `include:`",
        ),
        case(
            "unknown ssh key",
            inv("machines:\n  m1: {}\n  s1: { ssh: { hots: h } }\n"),
            "inv.yaml:3:16: unknown field `hots`; did you mean `host`?",
        ),
        case(
            "ssh port out of range",
            inv("machines:\n  s1: { ssh: { port: 70000 } }\n"),
            "inv.yaml:2:22: ssh: port must be from 1 to 65535, not 70000",
        ),
        case(
            "ssh port that is not a number",
            inv("machines:\n  s1:\n    ssh:\n      port: ssh\n"),
            "inv.yaml:4:13: `port`: expected a whole number, found `ssh`",
        ),
        case(
            "host_key off",
            inv("defaults: { ssh: { host_key: off } }\nmachines:\n  m1: {}\n"),
            "inv.yaml:1:30: ssh: host_key `off` is not allowed: orbdeploy never turns host key checking off",
        ),
        case(
            "unknown host_key",
            inv("machines:\n  s1: { ssh: { host_key: ask } }\n"),
            "ssh: unknown host_key `ask`: expected `strict` (the default) or `accept-new`",
        ),
        case(
            "StrictHostKeyChecking in ssh options",
            inv("machines:\n  s1: { ssh: { options: { stricthostkeychecking: \"NO\" } } }\n"),
            "inv.yaml:2:27: ssh option `stricthostkeychecking` is not allowed",
        ),
        case(
            "PermitLocalCommand in ssh options",
            inv("groups:\n  g: { ssh: { options: { PermitLocalCommand: yes } } }\nmachines:\n  m1: {}\n"),
            "ssh option `PermitLocalCommand` is not allowed: it would let ssh run commands on this computer",
        ),
        case(
            "ssh option the transport owns",
            inv("machines:\n  s1: { ssh: { options: { ControlMaster: auto } } }\n"),
            "ssh option `ControlMaster` is not allowed: it belongs to the transport",
        ),
        case(
            "ProxyCommand with jump",
            inv("groups:\n  g: { ssh: { jump: bastion } }\nmachines:\n  s1: { groups: [g], ssh: { options: { ProxyCommand: nc %h %p } } }\n"),
            "inv.yaml:4:40: ssh option `ProxyCommand` (machine s1) cannot be used with `jump` (group g)",
        ),
        case(
            "known_hosts file that keeps nothing",
            inv("machines:\n  s1: { ssh: { options: { UserKnownHostsFile: /dev/null } } }\n"),
            "a known_hosts file that keeps nothing turns host key checking off",
        ),
        case(
            "ssh options that are not a mapping",
            inv("machines:\n  s1: { ssh: { options: [Compression=yes] } }\n"),
            "inv.yaml:2:25:",
        ),
        case(
            "ssh host that starts with a dash",
            inv("machines:\n  s1: { ssh: { host: -oProxyCommand=sh } }\n"),
            "ssh: host `-oProxyCommand=sh` starts with `-`, which ssh would read as an option",
        ),
        case(
            "ssh host as a default",
            inv("defaults: { ssh: { host: 192.0.2.1 } }\nmachines:\n  m1: {}\n"),
            "inv.yaml:1:26: ssh: `host` cannot be a default",
        ),
        case(
            "ssh identity of the wrong type",
            inv("machines:\n  s1: { ssh: { identity: { file: k } } }\n"),
            "inv.yaml:2:26: `identity`: expected a string",
        ),
        case(
            "ssh identity that does not exist",
            inv("machines:\n  s1: { ssh: { identity: keys/none } }\n"),
            "inv.yaml:2:26: ssh: identity:",
        ),
        case(
            "ssh connect_timeout of zero",
            inv("machines:\n  s1: { ssh: { connect_timeout: 0 } }\n"),
            "ssh: connect_timeout must be at least 1 second",
        ),
        case(
            "image on an ssh machine",
            inv("machines:\n  s1: { image: debian, ssh: { host: h } }\n"),
            "inv.yaml:2:16: `image` is an OrbStack machine setting, and machine `s1` is an ssh machine",
        ),
        case(
            "state absent on an ssh machine",
            inv("machines:\n  s1:\n    state: absent\n    ssh: { host: h }\n"),
            "inv.yaml:3:12: `state` is an OrbStack machine setting",
        ),
        case(
            "machine setting from a group on an ssh machine",
            inv("groups:\n  big: { cpus: 8 }\n  cloud: { ssh: { user: deploy } }\nmachines:\n  s1: { groups: [big, cloud] }\n"),
            "inv.yaml:2:16: group `big` sets `cpus` for machine `s1`, which is an ssh machine",
        ),
        case(
            "derived transport group listed",
            inv("machines:\n  m1: { groups: [transport_ssh] }\n"),
            "`transport_ssh` is a group orbdeploy derives itself",
        ),
        files_case(
            "duplicate handler through an include",
            &[
                (
                    "ops.yaml",
                    "steps:\n  - include: more.yaml\nhandlers:\n  - { name: h, shell: a }\n",
                ),
                ("more.yaml", "steps: []\nhandlers:\n  - { name: h, shell: b }\n"),
            ],
            "a second handler named `h` (the first is at more.yaml:3:5, via ops.yaml:2:5 include more.yaml)",
        ),
        files_case(
            "error deep inside a role",
            &[
                ("ops.yaml", "- role: web\n"),
                ("roles/web/steps.yaml", "- include: tasks/main.yaml\n"),
                ("roles/web/tasks/main.yaml", "- shell: a\n- shel: b\n"),
            ],
            "roles/web/tasks/main.yaml:2:3: unknown field `shel`",
        ),
        // try / rescue / always (issue 34).
        ops_case(
            "rescue without try",
            "- name: g\n  rescue: [{ shell: a }]\n",
            "ops.yaml:1:3: `rescue:` needs a `try:` on the same step",
        ),
        ops_case(
            "always without try",
            "- { always: [{ shell: a }] }\n",
            "ops.yaml:1:3: `always:` needs a `try:` on the same step",
        ),
        ops_case(
            "try with an operation",
            "- { name: g, try: [{ shell: a }], shell: b }\n",
            "ops.yaml:1:3: `try:` takes the place of an operation; this step also has `shell`",
        ),
        ops_case(
            "try with include",
            "- { try: [{ shell: a }], include: x.yaml }\n",
            "ops.yaml:1:3: `try:` takes the place of an operation; this step also has `include`",
        ),
        ops_case(
            "empty try",
            "- { try: [] }\n",
            "ops.yaml:1:3: `try:` is an empty list: give it at least one step\n",
        ),
        ops_case(
            "try not a list",
            "- { try: { shell: a } }\n",
            "ops.yaml:1:10: `try`: expected a list, found a mapping",
        ),
        ops_case(
            "rescue not a list",
            "- { try: [{ shell: a }], rescue: echo }\n",
            "ops.yaml:1:34: `rescue`: expected a list, found `echo`",
        ),
        ops_case(
            "loop on a try group",
            "- { try: [{ shell: a }], loop: [1, 2] }\n",
            "ops.yaml:1:3: `loop` does not apply to `try:` (it takes `name`, `vars`, `hosts`, `tags`, `when`, `become`, `user`)",
        ),
        ops_case(
            "mistake inside rescue",
            "- try: [{ shell: a }]\n  rescue:\n    - { shel: b }\n",
            "ops.yaml:3:9: unknown field `shel`",
        ),
        ops_case(
            "when of a try group not a condition",
            "- { try: [{ shell: a }], when: '{{' }\n",
            "ops.yaml:1:3: when: unexpected end of input",
        ),
        ops_case(
            "handler that is a try group",
            "steps: []\nhandlers:\n  - { name: h, try: [{ shell: a }] }\n",
            "ops.yaml:3:5: a handler cannot be a `try:` group",
        ),
        case(
            "become_password on an OrbStack machine",
            inv("machines:\n  m1: { become_password: pw }\n"),
            "inv.yaml:2:26: `become_password` means nothing on an OrbStack machine, and it is given to machine `m1`",
        ),
        case(
            "become_password of a group of OrbStack machines",
            inv("groups:\n  g: { become_password: pw }\nmachines:\n  m1: { groups: [g] }\n"),
            "inv.yaml:2:25: `become_password` means nothing on an OrbStack machine, and group `g` gives it to machine `m1`",
        ),
        case(
            "become_password with an undefined variable",
            inv("machines:\n  s1: { ssh: {}, become_password: \"{{ sudo_pw }}\" }\n"),
            "inv.yaml:2:35: become_password of machine `s1`: undefined variable `sudo_pw`",
        ),
        case(
            "become_password that renders empty",
            inv("vars: { pw: '' }\ndefaults: { become_password: \"{{ pw }}\" }\nmachines:\n  s1: { ssh: {} }\n"),
            "inv.yaml:2:30: become_password (from defaults) of machine `s1`: it is empty; sudo would be given no password",
        ),
    ];
    cases.extend(sealed_cases());
    cases
}

/// Test keys (never used for anything else): one the files are encrypted for, one not.
const KEY_A: (&str, &str) = (
    "AGE-SECRET-KEY-1N6QDZ778DQ07NJK9YGG3FNEM0MA0PD26KG4KASQYZYM238860T7S4AVFCZ",
    "age1gh3qmp0wcvgpjl92hqfp5xvpwgfy66gsp7qq6m8d4ku04s9nupgsrh2qwl",
);
const KEY_B: &str = "AGE-SECRET-KEY-18ART4AQCP4DZY4YL3CG5N4LPS6YVJ6CKA9U63USZXL0KA0WQXMLQ8U8H3K";

/// Encrypted vars files that cannot be opened (docs/secrets.md).
fn sealed_cases() -> Vec<Case> {
    let r = orbdeploy::secrets::recipients::parse_text(KEY_A.1).expect("recipient");
    let sealed = orbdeploy::secrets::age_file::encrypt(b"token: t\n", &r).expect("encrypt");
    let with_sealed = |name, args: Vec<&'static str>, expect| Case {
        files: vec![
            ("v.yaml.age", sealed.clone()),
            ("a.txt", format!("{}\n", KEY_A.0).into_bytes()),
            ("b.txt", format!("{KEY_B}\n").into_bytes()),
        ],
        args,
        ..case(name, inv(&format!("vars_files: [v.yaml.age]\n{M}")), expect)
    };
    vec![
        Case {
            files: vec![("plain.yaml", b"a: 1\n".to_vec())],
            ..case(
                "vars_files names no file",
                inv(&format!("{M}vars_files: [plain.yaml, nope.yaml]\n")),
                "inv.yaml:3:26: vars_files: `nope.yaml` is not a file",
            )
        },
        with_sealed(
            "an identity file that is missing",
            vec!["--identity", "nope.txt"],
            "--identity: identity file nope.txt: cannot read it: no such file",
        ),
        with_sealed(
            "an identity file that holds no identity",
            vec!["--identity", "inv.yaml"],
            "--identity: identity file inv.yaml: not an age identity file",
        ),
        with_sealed(
            "an encrypted file for someone else",
            vec!["--identity", "b.txt"],
            "v.yaml.age: cannot decrypt it: it is not encrypted for any of the identities tried (tried b.txt)",
        ),
        Case {
            files: vec![(
                "v.yaml.age",
                b"-----BEGIN AGE ENCRYPTED FILE-----\nnot base64!\n-----END AGE ENCRYPTED FILE-----\n".to_vec(),
            )],
            args: vec!["--identity", "inv.yaml"],
            ..case(
                "a corrupted encrypted file",
                inv(&format!("vars_files: [v.yaml.age]\n{M}")),
                "v.yaml.age: not a readable age file (corrupted?)",
            )
        },
    ]
}

/// A role argument schema for the role cases.
const ROLE_ARGS: &str = "args:\n  port: { type: int, required: true }\n";

/// A case with the operations in several files (`ops.yaml` first).
fn files_case(name: &'static str, files: &[(&'static str, &str)], expect: &'static str) -> Case {
    Case {
        files: files
            .iter()
            .map(|(n, t)| (*n, t.as_bytes().to_vec()))
            .collect(),
        ..case(name, inv(&format!("{M}operations: ops.yaml\n")), expect)
    }
}

/// The input of a case as the snapshot shows it: each file's text when short and
/// readable, else its size.
fn shown(c: &Case) -> String {
    let mut files = vec![("inv.yaml", &c.inventory)];
    files.extend(c.files.iter().map(|(n, b)| (*n, b)));
    let mut out = String::new();
    for (name, bytes) in files {
        match std::str::from_utf8(bytes) {
            Ok(t) if t.len() <= 300 && !t.contains('\0') => {
                out.push_str(&format!("--- {name}\n{t}"));
                if !t.ends_with('\n') {
                    out.push('\n');
                }
            }
            // age pads its header with a random stanza: the size says nothing.
            _ if name.ends_with(".age") => out.push_str(&format!("--- {name}: age ciphertext\n")),
            _ => out.push_str(&format!("--- {name}: {} bytes\n", bytes.len())),
        }
    }
    out
}

#[test]
fn every_bad_input_exits_2_with_one_message_and_touches_nothing() {
    let cases = catalogue();
    assert!(cases.len() >= 40, "the catalogue has {} cases", cases.len());
    let mut failures = Vec::new();
    let mut catalogue_text = String::new();
    for c in cases {
        let fake = Fake::new(&[("m1", "running")]);
        std::fs::write(fake.dir.path().join("inv.yaml"), &c.inventory).unwrap();
        for (name, bytes) in &c.files {
            let path = fake.dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let mut seen: Vec<(String, String)> = Vec::new();
        for sub in ["plan", "apply"] {
            let mut cmd = fake.cmd();
            cmd.env("NO_COLOR", "1")
                .arg(sub)
                .arg("inv.yaml")
                .args(&c.args);
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let code = out.status.code().unwrap_or(-1);
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let changing: Vec<String> = fake
                .calls()
                .into_iter()
                .filter(|c| {
                    !(c.starts_with("list") || c.starts_with("info") || c.starts_with("status"))
                })
                .collect();
            let clap_usage = c.args.contains(&"--parallel");
            // One message: a syntax error shows its source line, a caret and a hint
            // under it, each indented; nothing else follows the `error:` line.
            let one_message = clap_usage
                || lines.len() == 1
                || (lines.first().is_some_and(|l| l.starts_with("error: "))
                    && lines[1..].iter().all(|l| l.starts_with(' ')));
            if code != 2
                || !stderr.contains(c.expect)
                || !one_message
                || stderr.contains("panicked")
                || !changing.is_empty()
                || (!clap_usage && !stdout.is_empty())
            {
                failures.push(format!(
                    "{sub} / {}: exit {code}, expected `{}`\n  stderr: {stderr}\n  stdout: {stdout}\n  changing calls: {changing:?}",
                    c.name, c.expect
                ));
            }
            seen.push((sub.to_string(), stderr));
        }
        // The snapshot holds each case's input and its whole message; plan and apply
        // say the same, and where they do not (clap names the subcommand) both are kept.
        catalogue_text.push_str(&format!("=== {}\n{}", c.name, shown(&c)));
        let args = if c.args.is_empty() {
            String::new()
        } else {
            format!(" {}", c.args.join(" "))
        };
        if seen[0].1 == seen[1].1 {
            catalogue_text.push_str(&format!(
                "$ orbdeploy plan|apply inv.yaml{args}\n{}\n",
                seen[0].1
            ));
        } else {
            for (sub, stderr) in &seen {
                catalogue_text.push_str(&format!("$ orbdeploy {sub} inv.yaml{args}\n{stderr}\n"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    insta::with_settings!({ omit_expression => true }, {
        insta::assert_snapshot!("bad_input_catalogue", catalogue_text);
    });
}

/// A bad scenario of `orbdeploy test`: the scenario file `s.yaml`, other files beside it,
/// extra arguments, and what the message must say.
struct ScenarioCase {
    name: &'static str,
    scenario: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    expect: &'static str,
}

fn scenario_cases() -> Vec<ScenarioCase> {
    let c = |name, scenario, expect| ScenarioCase {
        name,
        scenario,
        files: &[],
        args: &[],
        expect,
    };
    vec![
        c("scenario: unknown key", "platfroms: []\n", "s.yaml:1:1: unknown field `platfroms`"),
        c("scenario: yaml syntax", "platforms: [\n", "s.yaml:"),
        c("scenario: no platforms", "converge: []\n", "s.yaml: `platforms` is missing or empty"),
        c(
            "scenario: platform without an image",
            "platforms:\n  - name: debian\nconverge: []\n",
            "s.yaml:2:5: missing field `image`",
        ),
        c(
            "scenario: platform with an unknown key",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\", cpu: 2 }\nconverge: []\n",
            "s.yaml:2:",
        ),
        c(
            "scenario: platform setting of the wrong type",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\", cpus: two }\nconverge: []\n",
            "s.yaml:2:",
        ),
        c(
            "scenario: platform named twice",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\n  - { name: debian, image: \"debian:trixie\" }\nconverge: []\n",
            "s.yaml:3:13: platform `debian` is named twice",
        ),
        c(
            "scenario: platform name with a space",
            "platforms:\n  - { name: \"deb ian\", image: \"debian:bookworm\" }\nconverge: []\n",
            "s.yaml:2:13: platform name: `deb ian` is not a valid name",
        ),
        c(
            "scenario: unknown image",
            "platforms:\n  - { name: debian, image: \"nosuchos:1\" }\nconverge: []\n",
            "s.yaml:2:28: image: unknown distro `nosuchos`",
        ),
        c(
            "scenario: bad memory setting",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\", memory: 4X }\nconverge: []\n",
            "s.yaml:2:",
        ),
        c(
            "scenario: nothing to converge",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\n",
            "s.yaml: nothing to converge",
        ),
        c(
            "scenario: converge and inventory",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: []\ninventory: inv.yaml\nlimit: [web]\n",
            "s.yaml:4:12: `converge` and `inventory` are both given",
        ),
        c(
            "scenario: limit without inventory",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: []\nlimit: [web]\n",
            "s.yaml:4:9: `limit` needs `inventory`",
        ),
        c(
            "scenario: inventory without limit",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\ninventory: inv.yaml\n",
            "s.yaml:3:12: `inventory` needs `limit`",
        ),
        c(
            "scenario: missing inventory",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\ninventory: nope.yaml\nlimit: [web]\n",
            "s.yaml:3:12: inventory nope.yaml does not exist",
        ),
        ScenarioCase {
            files: &[("inv.yaml", "machines:\n  web-1: { groups: [web] }\noperations: []\n")],
            ..c(
                "scenario: limit that selects nothing",
                "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\ninventory: inv.yaml\nlimit: [db]\n",
                "s.yaml:4:9: limit: ",
            )
        },
        c(
            "scenario: missing operations file",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: nope.yaml\n",
            "operations file nope.yaml does not exist",
        ),
        c(
            "scenario: unknown role",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge:\n  - role: nosuch\n",
            "s.yaml:4:5:",
        ),
        c(
            "scenario: a verify step with an unknown key",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: []\nverify:\n  - assert: { that: \"1 == 1\", mesage: x }\n",
            "s.yaml:5:",
        ),
        c(
            "scenario: a prepare step of the wrong type",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: []\nprepare: 3\n",
            "s.yaml:4:1: expected a file name, a list of file names and steps",
        ),
        c(
            "scenario: vars that are a list",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: []\nvars: [a]\n",
            "s.yaml:4:",
        ),
        c(
            "scenario: an undefined variable in a converge step",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge:\n  - put: { content: \"{{ nope }}\\n\", dest: /tmp/x }\n",
            "s.yaml:4:5: step `put /tmp/x`: on machine `odt-debian`: content: line 1: undefined variable `nope`",
        ),
        c(
            "scenario: a verify step whose when is not a boolean",
            "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: []\nverify:\n  - command: \"true\"\n    when: \"'yes'\"\n",
            "s.yaml:5:5:",
        ),
        ScenarioCase {
            args: &["--scenario", "nosuch"],
            ..c(
                "scenario: --scenario that names none",
                "platforms:\n  - { name: debian, image: \"debian:bookworm\" }\nconverge: []\n",
                "--scenario `nosuch`: no scenario of that name",
            )
        },
    ]
}

#[test]
fn every_bad_scenario_exits_2_with_one_message_and_touches_nothing() {
    let mut failures = Vec::new();
    let mut text = String::new();
    for c in scenario_cases() {
        let fake = Fake::new(&[]);
        std::fs::write(fake.dir.path().join("s.yaml"), c.scenario).unwrap();
        for (name, body) in c.files {
            std::fs::write(fake.dir.path().join(name), body).unwrap();
        }
        let out = fake
            .cmd()
            .env("NO_COLOR", "1")
            .arg("test")
            .arg("s.yaml")
            .args(c.args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let code = out.status.code().unwrap_or(-1);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let one_message = lines.len() == 1
            || (lines.first().is_some_and(|l| l.starts_with("error: "))
                && lines[1..].iter().all(|l| l.starts_with(' ')));
        let calls = fake.calls();
        if code != 2
            || !stderr.contains(c.expect)
            || !one_message
            || !stdout.is_empty()
            || !calls.is_empty()
        {
            failures.push(format!(
                "{}: exit {code}, expected `{}`\n  stderr: {stderr}\n  stdout: {stdout}\n  calls: {calls:?}",
                c.name, c.expect
            ));
        }
        text.push_str(&format!("=== {}\n--- s.yaml\n{}", c.name, c.scenario));
        for (name, body) in c.files {
            text.push_str(&format!("--- {name}\n{body}"));
        }
        let args = c.args.join(" ");
        text.push_str(&format!("$ orbdeploy test s.yaml {args}\n{stderr}\n"));
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    insta::with_settings!({ omit_expression => true }, {
        insta::assert_snapshot!("bad_scenario_catalogue", text);
    });
}
