//! Whole inventories with `ssh:` blocks, loaded: the merge, the sources, what makes a
//! machine an ssh machine, and the mistakes that stop a load.

use std::path::{Path, PathBuf};

use crate::inventory::{load, Inventory};
use crate::ssh_target::HostKeyPolicy;

fn load_in(dir: &Path, text: &str) -> Result<Inventory, String> {
    let p = dir.join("inv.yaml");
    std::fs::write(&p, text).unwrap();
    load(&p, &[]).map_err(|e| e.to_string().replace(&p.display().to_string(), "inv"))
}

fn load_text(text: &str) -> Result<Inventory, String> {
    let dir = tempfile::tempdir().unwrap();
    load_in(dir.path(), text)
}

/// The issue's example, with the identity files it names made in `home` and written as
/// absolute paths (`~/` is tested on its own, and with `HOME` in tests/ssh_inventory.rs:
/// setting `HOME` here would race with the other tests of the process).
fn issue_example(home: &Path) -> String {
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    for key in ["deploy_ed25519", "mac2-orbstack"] {
        std::fs::write(home.join(".ssh").join(key), "key").unwrap();
    }
    format!(
        "\
defaults:
  ssh: {{ host_key: strict }}
groups:
  cloud:
    ssh: {{ user: deploy, jump: bastion.example.org }}
machines:
  dev-1: {{ groups: [web] }}
  prod-1:
    groups: [web, cloud]
    ssh: {{ host: 203.0.113.10, port: 22, identity: {h}/.ssh/deploy_ed25519 }}
  mac2-box:
    ssh: {{ host: 127.0.0.1, port: 32222, user: box, jump: mac2.local, identity: {h}/.ssh/mac2-orbstack }}
",
        h = home.display()
    )
}

#[test]
fn the_issue_example_merges_defaults_groups_machine() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let inv = load_text(&issue_example(home)).unwrap();
    let dev = &inv.hosts[0];
    assert!(dev.ssh.is_none(), "defaults.ssh makes no ssh machine");
    assert_eq!(inv.host_groups(dev), ["all", "web", "transport_orbctl"]);
    let prod = &inv.hosts[1];
    let t = prod.ssh.as_ref().unwrap();
    assert_eq!(t.host, "203.0.113.10");
    assert_eq!(t.port, Some(22));
    assert_eq!(t.user.as_deref(), Some("deploy"));
    assert_eq!(t.jump.as_deref(), Some("bastion.example.org"));
    let key: PathBuf = home.join(".ssh/deploy_ed25519");
    assert_eq!(t.identity.as_ref(), Some(&key));
    assert_eq!(t.host_key, HostKeyPolicy::Strict);
    assert_eq!(
        inv.host_groups(prod),
        ["all", "web", "cloud", "transport_ssh"]
    );
    let sources: Vec<(&str, &str)> = inv
        .ssh_settings(prod)
        .iter()
        .map(|s| (s.key.as_str(), s.source.as_str()))
        .collect();
    assert_eq!(
        sources,
        [
            ("host", "machine prod-1"),
            ("port", "machine prod-1"),
            ("user", "group cloud"),
            ("identity", "machine prod-1"),
            ("jump", "group cloud"),
            ("host_key", "defaults"),
        ]
    );
    let box_ = inv.hosts[2].ssh.as_ref().unwrap();
    assert_eq!(
        (box_.port, box_.jump.as_deref()),
        (Some(32222), Some("mac2.local"))
    );
    assert!(inv.needs_orbctl(), "dev-1 is an OrbStack machine");
}

#[test]
fn a_group_block_makes_an_ssh_machine_whose_host_is_its_name() {
    let inv = load_text(
        "groups:\n  cloud: { ssh: { user: deploy, options: { Compression: yes } } }\n\
         machines:\n  db.example.org: { groups: [cloud], ssh: { options: { compression: no } } }\n",
    )
    .unwrap();
    let h = &inv.hosts[0];
    let t = h.ssh.as_ref().unwrap();
    assert_eq!(t.host, "db.example.org");
    assert_eq!(t.options, [("compression".to_string(), "no".to_string())]);
    assert_eq!(inv.ssh_settings(h)[0].source, "machine name");
    assert!(
        !inv.needs_orbctl(),
        "only ssh machines: orbctl is not needed"
    );
    assert_eq!(inv.vars(h)["user"].value, "deploy");
}

#[test]
fn later_layers_win_and_options_merge_by_key_in_any_case() {
    let inv = load_text(
        "defaults: { ssh: { host_key: accept-new, connect_timeout: 1m, options: { Compression: yes, TCPKeepAlive: no } } }\n\
         groups:\n  a: { ssh: { user: a, port: 2200 } }\n  b: { ssh: { user: b } }\n\
         machines:\n  m1: { groups: [a, b], ssh: { host: h1, options: { COMPRESSION: no } } }\n",
    )
    .unwrap();
    let t = inv.hosts[0].ssh.clone().unwrap();
    assert_eq!(t.user.as_deref(), Some("b"));
    assert_eq!(t.port, Some(2200));
    assert_eq!(t.host_key, HostKeyPolicy::AcceptNew);
    assert_eq!(t.connect_timeout, Some(std::time::Duration::from_secs(60)));
    assert_eq!(
        t.options,
        [
            ("COMPRESSION".to_string(), "no".to_string()),
            ("TCPKeepAlive".to_string(), "no".to_string())
        ]
    );
}

#[test]
fn lifecycle_and_settings_on_ssh_machines_are_errors_at_their_position() {
    let cases = [
        (
            "machines:\n  m1: { image: debian, ssh: { host: h } }\n",
            "inv:2:16: `image` is an OrbStack machine setting, and machine `m1` is an ssh machine",
        ),
        (
            "machines:\n  m1: { state: absent, ssh: {} }\n",
            "inv:2:16: `state`",
        ),
        (
            "machines:\n  m1: { create: true, ssh: {} }\n",
            "inv:2:17: `create`",
        ),
        (
            "machines:\n  m1: { user: x, ssh: {} }\n",
            "ssh: { user: ... }",
        ),
        (
            "groups:\n  g: { cpus: 2 }\n  s: { ssh: {} }\nmachines:\n  m1: { groups: [g, s] }\n",
            "inv:2:14: group `g` sets `cpus` for machine `m1`",
        ),
    ];
    for (text, want) in cases {
        let e = load_text(text).unwrap_err();
        assert!(e.contains(want), "{text}\n{e}");
    }
    // What asks for nothing passes, and defaults' lifecycle keys do not apply.
    let ok = "defaults: { image: debian, create: true, cpus: 2 }\nmachines:\n  m1: { state: running, create: false, ssh: {} }\n";
    assert!(load_text(ok).unwrap().hosts[0].ssh.is_some());
}

#[test]
fn bad_ssh_values_are_errors_at_their_position() {
    let cases = [
        ("machines:\n  m1: { ssh: { hots: h } }\n", "inv:2:16: unknown field `hots`; did you mean `host`?"),
        ("machines:\n  m1: { ssh: { port: 70000 } }\n", "inv:2:22: ssh: port must be from 1 to 65535, not 70000"),
        ("machines:\n  m1: { ssh: { host_key: off } }\n", "never turns host key checking off"),
        ("machines:\n  m1: { ssh: { host: -oProxyCommand=x } }\n", "starts with `-`"),
        ("defaults: { ssh: { host: h } }\nmachines:\n  m1: {}\n", "inv:1:26: ssh: `host` cannot be a default"),
        ("machines:\n  m1: { ssh: { identity: [a] } }\n", "inv:2:26: `identity`: expected a string, found a list"),
        ("machines:\n  m1: { ssh: { identity: nope } }\n", "ssh: identity:"),
        ("machines:\n  m1: { ssh: { identity: ~bob/key } }\n", "not `~user`"),
        ("machines:\n  m1: { ssh: { connect_timeout: 0 } }\n", "at least 1 second"),
        ("machines:\n  m1: { ssh: { connect_timeout: 5x } }\n", "invalid duration"),
        ("machines:\n  m1: { ssh: { options: { StrictHostKeyChecking: no } } }\n", "inv:2:27: ssh option `StrictHostKeyChecking` is not allowed"),
        ("machines:\n  m1: { ssh: { options: { a: 1, A: 2 } } }\n", "written twice"),
        ("groups:\n  g: { ssh: { options: { ControlPath: x } } }\nmachines: {}\n", "inv:2:26: ssh option `ControlPath` is not allowed: it belongs to the transport"),
        ("groups:\n  g: { ssh: { jump: j } }\nmachines:\n  m1: { groups: [g], ssh: { options: { ProxyCommand: nc %h %p } } }\n", "inv:4:40: ssh option `ProxyCommand` (machine m1) cannot be used with `jump` (group g)"),
        ("machines:\n  m1: { ssh: {} }\n  m2: { groups: [transport_ssh] }\n", "derives itself"),
        // A control character is shown escaped, so the message stays on its line.
        ("machines:\n  m1: { ssh: { user: \"a\\tb\\e[2J\" } }\n", "ssh: user `a\\tb\\u{1b}[2J` contains a space or a control character"),
        ("machines:\n  m1: { ssh: { options: { \"a\\nb\": x } } }\n", "ssh option `a\\nb`: expected an ssh option name"),
        ("machines:\n  m1: { ssh: { options: { SendEnv: \"A\\nB\" } } }\n", "ssh option `SendEnv`: expected a value on one line, found `A\\nB`"),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(text, want)| {
            let e = load_text(text).err().unwrap_or_default();
            (!e.contains(want)).then(|| format!("{text}{e}\n"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // `jump: none` on the machine lifts a group's jump, and ProxyCommand is fine then.
    let ok = "groups:\n  g: { ssh: { jump: j } }\nmachines:\n  m1: { groups: [g], ssh: { jump: none, options: { ProxyCommand: nc %h %p } } }\n";
    assert!(load_text(ok).is_ok());
}

#[test]
fn relative_identity_and_config_are_the_inventorys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "k").unwrap();
    std::fs::write(dir.path().join("ssh_config"), "").unwrap();
    let inv = load_in(
        dir.path(),
        "machines:\n  m1: { ssh: { identity: key, config: ssh_config } }\n",
    )
    .unwrap();
    let t = inv.hosts[0].ssh.as_ref().unwrap();
    assert_eq!(
        t.identity.as_deref(),
        Some(dir.path().join("key").as_path())
    );
    assert_eq!(
        t.config.as_deref(),
        Some(dir.path().join("ssh_config").as_path())
    );
}

#[test]
fn facts_reported_by_the_host_become_its_built_ins() {
    let mut inv = load_text("machines:\n  m1: { ssh: { host: h, user: u } }\n").unwrap();
    let h = inv.hosts[0].clone();
    assert_eq!(inv.vars(&h)["distro"].value, "");
    assert!(inv.vars(&h)["ip4"].value.is_null());
    assert!(inv.facts(&h).is_none());
    inv.attach_facts(
        "m1",
        crate::inventory::HostFacts {
            distro: "debian".into(),
            version: "bookworm".into(),
            arch: "arm64".into(),
            ip4: Some("192.0.2.9".into()),
        },
        "root",
    );
    let vars = inv.vars(&h);
    assert_eq!(vars["distro"].value, "debian");
    assert_eq!(vars["version"].value, "bookworm");
    assert_eq!(vars["arch"].value, "arm64");
    assert_eq!(vars["ip4"].value, "192.0.2.9");
    assert_eq!(vars["user"].value, "u");
    // `orbctl list` knows nothing of ssh machines, even one with the same name.
    inv.attach(&[]);
    assert!(inv.hosts[0].actual.is_none());
}

#[test]
fn an_empty_ssh_key_is_an_ssh_machine_and_transport_groups_select() {
    let inv = load_text("machines:\n  s1:\n    ssh:\n  o1: {}\n").unwrap();
    assert_eq!(
        inv.hosts[0].ssh.as_ref().map(|t| t.host.as_str()),
        Some("s1")
    );
    assert!(inv.hosts[1].ssh.is_none());
    let names = |p: &str| -> Vec<String> {
        inv.select(p)
            .unwrap()
            .iter()
            .map(|h| h.name.clone())
            .collect()
    };
    assert_eq!(names("transport_ssh"), ["s1"]);
    assert_eq!(names("transport_orbctl"), ["o1"]);
    assert!(
        load_text("machines:\n  s1: { ssh: { host: \"ssh://x\" } }\n")
            .unwrap_err()
            .contains("without `/`")
    );
}
