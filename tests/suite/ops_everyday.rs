//! The everyday kinds — `link`, `block`, `replace`, `wait`, `assert`, `group` — and
//! `service`'s `daemon_reload`, end to end against real orbsim machines, on the persistent
//! channel and on the one-shot path: a plan changes nothing and shows the diffs, the first
//! apply changes, the second changes nothing, every kind's failure says what is wrong, and
//! paths carry quotes, spaces, `$` and `;`. A no-change re-apply costs no request more with
//! these steps among the others. Snapshots (no root, the recording fake) pin what a user
//! sees of their diffs and failures.

use crate::harness;

use crate::snap;

use std::collections::HashMap;

use harness::{summary_count as count, World};
use serde_json::Value;

/// What the steps find before the first apply (as root): a file for `replace`, a file with
/// an old block, a regular file to force into a link, a stale link, a full directory, a
/// block without its end, and a group to remove.
const SETUP: &str = r#"set -e
mkdir -p '/srv/e/dir with stuff'
touch '/srv/e/dir with stuff/x'
printf 'port=1\nname=a\nport=2\n' > "/srv/e/it's a \"cfg\" \$x;y"
printf 'keep me\n# BEGIN old\nstale\n# END old\n' > "/srv/e/hosts 'file'"
chmod 0640 "/srv/e/hosts 'file'"
echo plain > /srv/e/forced
ln -s /nowhere /srv/e/stale-link
printf '# BEGIN b\nx\n' > /srv/e/broken
groupadd orbd-old
"#;

/// Every new kind, several ways each, with hostile paths.
const OPS: &str = r##"
- name: current release
  link: { path: "/srv/e/cur $x;'q\"", target: releases/1 }
  become: true
- name: forced link
  link: { path: /srv/e/forced, target: /etc/hostname, force: true }
  become: true
- name: no stale link
  link: { path: /srv/e/stale-link, state: absent }
  become: true
- name: block one
  block: { path: "/srv/e/hosts 'file'", block: "10.0.0.1 a\n10.0.0.2 b", marker: "# {mark} one" }
  become: true
- name: block two
  block: { path: "/srv/e/hosts 'file'", block: "10.0.0.3 c\n", marker: "# {mark} two", insert_before: BOF }
  become: true
- name: no old block
  block: { path: "/srv/e/hosts 'file'", marker: "# {mark} old", state: absent }
  become: true
- name: ports
  replace: { path: "/srv/e/it's a \"cfg\" $x;y", regexp: '^port=\d+$', replace: "port={{ port }}" }
  become: true
  register: rep
- name: first name
  replace: { path: "/srv/e/it's a \"cfg\" $x;y", regexp: '^name=(\w+)$', replace: 'name=${1}-x', count: 1 }
  become: true
- name: the edit went through
  assert: { that: ["not rep.failed", "port == 8080"], message: "ports on {{ machine }}" }
- name: devs group
  group: { name: orbd-devs, gid: 4242 }
- name: no old group
  group: { name: orbd-old, state: absent }
- name: listener
  shell: "setsid nohup sh -c 'sleep 2; exec nc -lk 127.0.0.1 18080' </dev/null >/dev/null 2>&1 &"
  unless: "bash -c 'exec 3<>/dev/tcp/127.0.0.1/18080'"
- name: port open
  wait: { port: "{{ port + 10000 }}", timeout: 30 }
- name: link there
  wait: { path: "/srv/e/cur $x;'q\"", state: present }
- name: link checked
  wait: { command: "test -L /srv/e/forced", timeout: 5 }
"##;

/// One failure of each kind, run with --keep-going.
const BAD: &str = r##"
- name: link over a full directory
  link: { path: /srv/e/dir with stuff, target: /tmp, force: true }
  become: true
- name: link over a file
  link: { path: "/srv/e/it's a \"cfg\" $x;y", target: /tmp }
  become: true
- name: broken block
  block: { path: /srv/e/broken, block: "x", marker: "# {mark} b" }
  become: true
- name: replace in a missing file
  replace: { path: "/srv/e/no such $file", regexp: a }
  become: true
- name: port never opens
  wait: { port: 18099, timeout: 1 }
- name: a false assertion
  assert: { that: ["port == 8080", "port > 9000"], message: "port too low on {{ machine }}" }
- name: gid taken
  group: { name: orbd-dup, gid: 0 }
"##;

/// Each step's status by name, and the counts, of the report's only machine.
fn statuses(doc: &Value) -> HashMap<String, String> {
    doc["machines"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Assert the status of every step, from `want` (name, status) pairs.
fn expect(st: &HashMap<String, String>, want: &[(&str, &str)], what: &str, out: &str) {
    for (name, status) in want {
        assert_eq!(
            st.get(*name).map(String::as_str),
            Some(*status),
            "{what}: step `{name}`\n{out}"
        );
    }
    assert_eq!(st.len(), want.len(), "{what}: {st:?}");
}

/// What the steps touch, as the machine has it.
fn machine_state(w: &World, m: &str) -> String {
    let out = w.sh(
        m,
        Some("root"),
        r#"cd /srv/e
readlink "cur \$x;'q\"" || echo no-cur
readlink forced || echo forced-not-a-link
test -L stale-link && echo stale-link-there
cat "hosts 'file'"; stat -c %a "hosts 'file'"
cat "it's a \"cfg\" \$x;y"
getent group orbd-devs || echo no-devs
getent group orbd-old >/dev/null && echo old-group-there
ls -a | grep -c orbdeploy || true"#,
    );
    out.assert_code(0);
    out.stdout
}

const BEFORE: &str = "no-cur\nforced-not-a-link\nstale-link-there\n\
keep me\n# BEGIN old\nstale\n# END old\n640\n\
port=1\nname=a\nport=2\n\
no-devs\nold-group-there\n0\n";

const AFTER: &str = "releases/1\n/etc/hostname\n\
# BEGIN two\n10.0.0.3 c\n# END two\nkeep me\n# BEGIN one\n10.0.0.1 a\n10.0.0.2 b\n# END one\n640\n\
port=8080\nname=a-x\nport=8080\n\
orbd-devs:x:4242:\n0\n";

fn converge(channel: bool) {
    let w = World::new(if channel { "every-ch" } else { "every-1s" });
    let m = w.name("e");
    w.create(&m);
    w.sh(&m, Some("root"), SETUP).assert_code(0);
    w.write("ops.yaml", OPS);
    w.write("bad.yaml", BAD);
    let inv = w.write(
        "inv.yaml",
        format!("vars: {{ port: 8080 }}\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let bad = w.write(
        "bad-inv.yaml",
        format!("vars: {{ port: 8080 }}\nmachines:\n  {m}: {{}}\noperations: bad.yaml\n"),
    );
    let (inv, bad) = (inv.to_str().unwrap(), bad.to_str().unwrap());
    let extra: &[&str] = if channel { &[] } else { &["--no-channel"] };
    let args = |more: &[&str]| -> Vec<String> {
        more.iter().chain(extra).map(|s| s.to_string()).collect()
    };

    // plan --diff: what would change, with the diffs; the machine stays as it was.
    let plan = w.orbdeploy(args(&["plan", inv, "--diff", "--report", "plan.json"]));
    plan.assert_code(0);
    for want in [
        "+# BEGIN one",
        "+10.0.0.2 b",
        "+# BEGIN two",
        "-# BEGIN old",
        "-stale",
        "-port=1",
        "+port=8080",
        "+name=a-x",
        "--- /srv/e/hosts 'file' (on the machine)",
    ] {
        assert!(
            plan.stdout.contains(want),
            "plan: no `{want}` in\n{}",
            plan.stdout
        );
    }
    let changes = [
        "current release",
        "forced link",
        "no stale link",
        "block one",
        "block two",
        "no old block",
        "ports",
        "first name",
        "devs group",
        "no old group",
    ];
    let mut want: Vec<(&str, &str)> = changes.iter().map(|n| (*n, "will_change")).collect();
    want.extend([
        // It reads what `ports` registers, which has not run.
        ("the edit went through", "unknown"),
        ("listener", "will_run"),
        ("port open", "will_run"),
        ("link there", "will_run"),
        ("link checked", "will_run"),
    ]);
    expect(
        &statuses(&w.report("plan.json")),
        &want,
        "plan",
        &plan.stdout,
    );
    assert_eq!(
        machine_state(&w, &m),
        BEFORE,
        "the plan changed the machine"
    );

    // First apply: every kind changes what it must.
    let first = w.orbdeploy(args(&["apply", inv, "--report", "first.json"]));
    first.assert_code(0);
    let mut want: Vec<(&str, &str)> = changes.iter().map(|n| (*n, "changed")).collect();
    want.extend([
        ("the edit went through", "ok"),
        ("listener", "ran"),
        // The listener opens after 2 s: the step waited for it, and changed nothing.
        ("port open", "ok"),
        // The links were made by then.
        ("link there", "ok"),
        ("link checked", "ok"),
    ]);
    expect(
        &statuses(&w.report("first.json")),
        &want,
        "first apply",
        &first.stdout,
    );
    assert_eq!(machine_state(&w, &m), AFTER);

    // Second apply: nothing changes; the listener's `unless` finds the port open.
    let second = w.orbdeploy(args(&["apply", inv, "--report", "second.json"]));
    second.assert_code(0);
    let doc = w.report("second.json");
    assert_eq!(
        (count(&doc, "changed"), count(&doc, "failed")),
        (0, 0),
        "{}",
        second.stdout
    );
    let st = statuses(&doc);
    for (name, status) in &st {
        let want = if name == "listener" { "skipped" } else { "ok" };
        assert_eq!(
            status, want,
            "second apply: step `{name}`\n{}",
            second.stdout
        );
    }
    w.orbdeploy(args(&["plan", inv, "--exit-code"]))
        .assert_code(0);
    assert_eq!(machine_state(&w, &m), AFTER);

    failures(
        &w,
        &m,
        &args(&["apply", bad, "--keep-going", "--report", "bad.json"]),
    );
}

/// Each kind's failure says what is wrong; every other step still runs (--keep-going).
fn failures(w: &World, m: &str, args: &[String]) {
    let run = w.orbdeploy(args);
    run.assert_code(1);
    let st = statuses(&w.report("bad.json"));
    assert!(st.values().all(|s| s == "failed"), "{st:?}\n{}", run.stdout);
    assert_eq!(st.len(), 7);
    for want in [
        "/srv/e/dir with stuff is a directory that is not empty; a link never replaces one",
        "/srv/e/it's a \"cfg\" $x;y exists and is a regular file, not a link to /tmp (set `force: true` to replace it)",
        "/srv/e/broken holds `# BEGIN b` at line 1 and `# END b` at no line",
        "/srv/e/no such $file does not exist",
        "gave up after 1s waiting for port 18099 on 127.0.0.1 to open",
        &format!("port too low on {m}: `port > 9000` is false"),
        "changing group orbd-dup failed with exit code 4",
        "GID '0' already exists",
    ] {
        assert!(run.stdout.contains(want), "no `{want}` in\n{}", run.stdout);
    }
    // Nothing was half-done.
    assert_eq!(machine_state(w, m), AFTER);
}

#[test]
fn everyday_kinds_converge_over_the_channel() {
    converge(true);
}

#[test]
fn everyday_kinds_converge_without_the_channel() {
    converge(false);
}

/// A stand-in systemctl (orbsim machines run no systemd), as in `tests/suite/apply.rs`, that
/// also answers `show -p NeedDaemonReload --value UNIT` (yes while `UNIT.stale` exists)
/// and `daemon-reload` (which clears every `.stale`). Every call is logged.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
d=/var/lib/fakesd
echo "$*" >> $d/calls
case $1 in
  daemon-reload) rm -f $d/*.stale; exit 0 ;;
  show) for u; do :; done; if [ -e "$d/$u.stale" ]; then echo yes; else echo no; fi; exit 0 ;;
esac
verb=$1; u=$2
grep -qx "$u" $d/units || { echo "Unit $u.service could not be found." >&2; exit 4; }
case $verb in
  is-active) if [ -e $d/$u.active ]; then echo active; else echo inactive; exit 3; fi ;;
  is-enabled) if [ -e $d/$u.enabled ]; then echo enabled; else echo disabled; exit 1; fi ;;
  cat) echo "[Unit]" ;;
  start) : > $d/$u.active ;;
  stop) rm -f $d/$u.active ;;
  *) exit 1 ;;
esac
"#;

/// `daemon_reload: true` reloads systemd's unit files before the action when systemd says
/// the unit's changed, and only then: on both transports, the second apply changes nothing.
#[test]
fn service_daemon_reload_runs_only_when_units_changed() {
    let w = World::new("reload");
    let m = w.name("r");
    w.create(&m);
    let setup = format!(
        "mkdir -p /run/systemd/system /var/lib/fakesd\n\
         echo web > /var/lib/fakesd/units\n\
         : > /var/lib/fakesd/web.stale\n\
         cat > /usr/local/sbin/systemctl <<'FAKE'\n{FAKE_SYSTEMCTL}FAKE\n\
         chmod 0755 /usr/local/sbin/systemctl"
    );
    w.sh(&m, Some("root"), &setup).assert_code(0);
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations:\n  - {{ name: web, service: {{ name: web, state: started, daemon_reload: true }} }}\n"),
    );
    let inv = inv.to_str().unwrap();
    let calls = |w: &World| {
        w.sh(
            &m,
            Some("root"),
            "grep -v '^is-\\|^cat \\|^show ' /var/lib/fakesd/calls; : > /var/lib/fakesd/calls",
        )
        .stdout
    };
    let apply = |name: &str, extra: &[&str]| {
        let mut a = vec!["apply", inv, "--report", name];
        a.extend(extra);
        let out = w.orbdeploy(a);
        out.assert_code(0);
        (statuses(&w.report(name))["web"].clone(), out.stdout)
    };
    let plan = w.orbdeploy(["plan", inv]);
    assert!(
        plan.stdout
            .contains("reload systemd's unit files (daemon-reload)"),
        "{}",
        plan.stdout
    );
    assert_eq!(calls(&w), "", "the plan ran nothing");
    for (extra, tag) in [(&[][..], "channel"), (&["--no-channel"][..], "one-shot")] {
        let (st, out) = apply("first.json", extra);
        assert_eq!(st, "changed", "{tag}\n{out}");
        let want = if tag == "channel" {
            "daemon-reload\nstart web\n"
        } else {
            "daemon-reload\n"
        };
        assert_eq!(calls(&w), want, "{tag}: reload first, then the action");
        let (st, _) = apply("second.json", extra);
        assert_eq!(st, "ok", "{tag}");
        assert_eq!(calls(&w), "", "{tag}: nothing to reload the second time");
        // A unit file edited again, for the next transport.
        w.sh(&m, Some("root"), ": > /var/lib/fakesd/web.stale")
            .assert_code(0);
    }
}

/// How many requests a no-change re-apply sends over the channel (the trace keeps one file
/// per request).
fn requests(w: &mut World, inv: &std::path::Path, tag: &str) -> usize {
    let dir = w.path(&format!("trace-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    w.env
        .push(("ORBDEPLOY_TRACE_DIR".into(), dir.display().to_string()));
    let report_name = format!("{tag}.json");
    let run = w.orbdeploy([
        "apply",
        inv.to_str().unwrap(),
        "--report",
        report_name.as_str(),
    ]);
    w.env.clear();
    run.assert_code(0);
    let changed = count(&w.report(&report_name), "changed");
    assert_eq!(changed, 0, "{}", run.stdout);
    std::fs::read_dir(&dir).unwrap().count()
}

/// The new kinds' probes go in the read-ahead window like the others': a no-change
/// re-apply of a deploy costs as many requests with them among its steps as without.
#[test]
fn the_new_kinds_add_no_request_to_a_re_apply() {
    let mut w = World::new("batch");
    let m = w.name("b");
    w.create(&m);
    w.sh(
        &m,
        Some("root"),
        "mkdir -p /srv/b && printf 'port=1\\n' > /srv/b/conf && groupadd orbd-b",
    )
    .assert_code(0);
    let base = [
        "- { name: dir, directory: { path: /srv/b }, become: true }",
        "- { name: motd, put: { content: \"hi\\n\", dest: /srv/b/motd }, become: true }",
        "- { name: line, line: { path: /srv/b/conf, line: \"x=1\" }, become: true }",
    ];
    let new = [
        "- { name: link, link: { path: /srv/b/cur, target: motd }, become: true }",
        "- { name: block, block: { path: /srv/b/conf, block: \"a=1\" }, become: true }",
        "- { name: replace, replace: { path: /srv/b/conf, regexp: '^port=\\d+$', replace: port=2 }, become: true }",
        "- { name: group, group: { name: orbd-b } }",
        "- { name: wait, wait: { path: /srv/b/motd }, become: true }",
        "- { name: assert, assert: { that: \"machine != ''\" }, become: true }",
    ];
    let inv = |name: &str, steps: &[&str]| {
        w.write(&format!("{name}.yaml"), steps.join("\n") + "\n");
        w.write(
            &format!("inv-{name}.yaml"),
            format!("machines:\n  {m}: {{}}\noperations: {name}.yaml\n"),
        )
    };
    let before = inv("base", &base);
    // The new steps between the old ones (an assert too), so that a window they broke
    // would show.
    let mixed = [
        new[0], base[0], new[1], new[5], base[1], new[2], base[2], new[3], new[4],
    ];
    let after = inv("mixed", &mixed);
    for p in [&before, &after] {
        w.orbdeploy(["apply", p.to_str().unwrap()]).assert_code(0);
    }
    let b = requests(&mut w, &before, "before");
    let a = requests(&mut w, &after, "after");
    eprintln!("requests of a no-change re-apply: {b} with the old kinds, {a} with the new kinds among them");
    assert_eq!(a, b, "the new steps cost requests of their own");
}

/// What a user sees of the new kinds' diffs and failures, against the recording fake (no
/// root: the fake runs the channel agent on this machine, under the project's `work/`).
mod shown {
    use super::snap::Project;

    const OPS: &str = r##"
- name: hosts block
  block: { path: "{{ root }}/hosts", block: "10.0.0.1 app\n", marker: "# {mark} app" }
- name: port
  replace: { path: "{{ root }}/app.conf", regexp: '^port=(\d+)$', replace: 'port=9${1}' }
- name: current
  link: { path: "{{ root }}/current", target: releases/2 }
- name: port checked
  assert: { that: "port > 1000" }
"##;

    const BAD: &str = r##"
- name: link over a file
  link: { path: "{{ root }}/app.conf", target: releases/2 }
- name: broken block
  block: { path: "{{ root }}/broken", block: "x", marker: "# {mark} b" }
- name: no such file
  replace: { path: "{{ root }}/nope", regexp: a }
- name: never there
  wait: { path: "{{ root }}/never", timeout: 0 }
- name: port too low
  assert: { that: ["port > 1000", "port > 9000"], message: "port {{ port }} is too low" }
"##;

    fn project(ops: &str) -> Project {
        let p = Project::new(
            &[("devbox", "running")],
            "machines:\n  devbox: { vars: { port: 8080 } }\n",
        );
        p.write("ops.yaml", ops);
        p.write("work/hosts", "127.0.0.1 localhost\n");
        p.write("work/app.conf", "name=app\nport=8080\n");
        p.write("work/broken", "# BEGIN b\nx\n");
        p
    }

    #[test]
    fn plan_diff_of_block_replace_and_link() {
        let p = project(OPS);
        let run = p.run(&["plan", "inv.yaml", "--diff"]);
        p.settings()
            .bind(|| insta::assert_snapshot!("everyday_plan_diff", run.text()));
        assert_eq!(p.read("work/app.conf"), "name=app\nport=8080\n");
        assert_eq!(p.run(&["apply", "inv.yaml"]).code, 0);
        assert_eq!(p.read("work/app.conf"), "name=app\nport=98080\n");
        assert_eq!(
            p.read("work/hosts"),
            "127.0.0.1 localhost\n# BEGIN app\n10.0.0.1 app\n# END app\n"
        );
    }

    #[test]
    fn apply_failures_of_the_everyday_kinds() {
        let p = project(BAD);
        let run = p.run(&["apply", "inv.yaml", "--keep-going"]);
        p.settings()
            .bind(|| insta::assert_snapshot!("everyday_failures", run.text()));
    }
}
