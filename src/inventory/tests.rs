use super::*;
use crate::orb::{Image, MachineConfig};

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("inventory.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn load_text(text: &str) -> Result<Inventory, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), text);
    load(&p, &[]).map_err(|e| e.to_string().replace(&p.display().to_string(), "inv"))
}

fn machine(name: &str, state: &str) -> Machine {
    Machine {
        id: "01K2G8TY5GM9C3CN95KCB4ZG8B".into(),
        name: name.into(),
        image: Image {
            distro: "debian".into(),
            version: "bookworm".into(),
            arch: "amd64".into(),
            variant: "default".into(),
        },
        config: MachineConfig {
            isolated: false,
            default_username: "dev".into(),
        },
        builtin: false,
        state: state.into(),
        ip4: None,
    }
}

const SAMPLE: &str = "\
defaults: { image: debian:bookworm, create: true }
vars: { env: dev, http_port: 80 }
groups:
  web: { vars: { http_port: 8080, tier: front } }
  db: { vars: { tier: back } }
machines:
  web-1: { groups: [web] }
  web-2: { groups: [web, db], vars: { http_port: 8081 } }
  db-1: { groups: [db], image: debian:trixie }
";

#[test]
fn precedence_is_global_then_groups_in_order_then_machine_then_cli() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), SAMPLE);
    let inv = load(&p, &[("env".into(), "prod".into())]).unwrap();
    let web2 = &inv.hosts[1];
    let vars = inv.vars(web2);
    assert_eq!(vars["http_port"].value, 8081);
    assert_eq!(vars["http_port"].source, "machine web-2");
    assert_eq!(vars["tier"].value, "back");
    assert_eq!(vars["tier"].source, "group db");
    assert_eq!(vars["env"].value, "prod");
    assert_eq!(vars["env"].source, "--var");
    assert_eq!(vars["machine"].value, "web-2");
    assert_eq!(vars["machine"].source, "built-in");
    let web1 = inv.vars(&inv.hosts[0]);
    assert_eq!(web1["http_port"].source, "group web");
    assert_eq!(inv.hosts[2].desired.image.as_deref(), Some("debian:trixie"));
    assert!(inv.hosts[0].desired.create);
}

#[test]
fn invalid_machine_names_point_at_the_name() {
    assert_eq!(
        load_text("machines:\n  web_1: {}\n").unwrap_err(),
        "inv:2:3: invalid machine name `web_1`: expected at least 2 characters, letters, digits, `-` and `.`, starting with a letter or digit"
    );
    assert_eq!(
        load_text("machines:\n  ok-1: {}\n  docker: {}\n").unwrap_err(),
        "inv:3:3: invalid machine name `docker`: it is reserved by OrbStack"
    );
}

#[test]
fn unknown_keys_and_bad_values_are_errors_with_positions() {
    assert_eq!(
        load_text("machines:\n  web-1: { group: [web] }\n").unwrap_err(),
        "inv:2:12: unknown field `group`; did you mean `groups`? Expected one of `groups`, `vars`, `vars_files`, `become_password`, `image`, `arch`, `user`, `create`, `state`, `ssh`, `cpus`, `memory`, `disk`, `isolated`, `mounts`, `isolate_network`, `forward_ssh_agent`, `cloud_init`, `restart_for_settings`"
    );
    assert!(load_text("defaults: { state: paused }\n")
        .unwrap_err()
        .starts_with("inv:1:20: unknown variant `paused`"));
    assert_eq!(
        load_text("defaults: { image: debain:12 }\n").unwrap_err(),
        "inv:1:20: unknown distro `debain` in image `debain:12`: expected one of alma, alpine, arch, centos, debian, devuan, fedora, gentoo, kali, nixos, openeuler, opensuse, oracle, rocky, ubuntu, void"
    );
    assert_eq!(
        load_text("vars: { machine: x }\n").unwrap_err(),
        "inv:1:9: `machine` is a built-in variable set by orbdeploy and cannot be defined"
    );
    assert_eq!(
        load_text("machines:\n  a1: { groups: [all] }\n").unwrap_err(),
        "inv:2:18: `all` is a group orbdeploy derives itself and cannot be declared or listed"
    );
}

#[test]
fn discovery_adds_matching_machines_and_derived_groups() {
    let mut inv = load_text("discover: { match: \"ci-*\" }\nmachines:\n  web-1: {}\n").unwrap();
    inv.attach(&[
        machine("ci-b", "stopped"),
        machine("ci-a", "running"),
        machine("other", "running"),
        machine("web-1", "running"),
    ]);
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["web-1", "ci-a", "ci-b"]);
    assert_eq!(inv.hosts[1].origin, Origin::Discovered);
    assert_eq!(
        inv.host_groups(&inv.hosts[2]),
        [
            "all",
            "orbstack_stopped",
            "orbstack_amd64",
            "orbstack_debian",
            "transport_orbctl"
        ]
    );
    let sel: Vec<&str> = inv
        .select("orbstack_running")
        .unwrap()
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(sel, ["web-1", "ci-a"]);
}

#[test]
fn select_understands_names_groups_and_globs_and_rejects_typos() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), SAMPLE);
    let inv = load(&p, &[]).unwrap();
    let names = |pat: &str| -> Vec<String> {
        inv.select(pat)
            .unwrap()
            .iter()
            .map(|h| h.name.clone())
            .collect()
    };
    assert_eq!(names("web"), ["web-1", "web-2"]);
    assert_eq!(names("db-1"), ["db-1"]);
    assert_eq!(names("web-*"), ["web-1", "web-2"]);
    assert_eq!(names("all").len(), 3);
    assert_eq!(
        inv.select("wbe").unwrap_err(),
        "`wbe` is neither a machine nor a group of this inventory; did you mean `web`?"
    );
    assert_eq!(
        inv.select("zzz").unwrap_err(),
        "`zzz` is neither a machine nor a group of this inventory (it has machines `web-1`, `web-2`, `db-1`)"
    );
}

#[test]
fn names_follow_orbctl_rules() {
    assert!(valid_machine_name("ab"));
    assert!(valid_machine_name("web-1.local"));
    assert!(!valid_machine_name("a"));
    assert!(!valid_machine_name("-ab"));
    assert!(!valid_machine_name("a_b"));
    assert!(!valid_machine_name("k8s"));
}

#[test]
fn machine_settings_merge_defaults_groups_machine_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("user-data"), "#cloud-config\n").unwrap();
    let p = write(
        dir.path(),
        "defaults: { cpus: 2, memory: 2G, restart_for_settings: true }\n\
         groups:\n  big: { cpus: 8, disk: 64G, isolated: true }\n  net: { isolate_network: true }\n\
         machines:\n  web-1: { groups: [big, net], memory: 512M, mounts: [src, 'src:/code'], cloud_init: user-data }\n",
    );
    let inv = load(&p, &[]).unwrap();
    let s = &inv.hosts[0].desired.settings;
    let src = std::fs::canonicalize(dir.path().join("src")).unwrap();
    assert_eq!(
        s.cpus,
        Some(Setting {
            value: 8,
            source: "group big".into()
        })
    );
    assert_eq!(
        s.memory_mib,
        Some(Setting {
            value: 512,
            source: "machine web-1".into()
        })
    );
    assert_eq!(s.disk_bytes.as_ref().map(|d| d.value), Some(64 << 30));
    assert_eq!(s.isolated.as_ref().map(|d| d.value), Some(true));
    assert_eq!(
        s.isolate_network.as_ref().map(|d| d.source.as_str()),
        Some("group net")
    );
    assert!(s.restart_for_settings);
    let mounts = &s.mounts.as_ref().unwrap().value;
    assert_eq!(mounts[0].arg(), src.display().to_string());
    assert_eq!(mounts[1].arg(), format!("{}:/code", src.display()));
    assert_eq!(
        s.cloud_init.as_ref().map(|c| c.value.clone()),
        Some(dir.path().join("user-data"))
    );
}

#[test]
fn bad_machine_settings_are_errors_at_their_position() {
    let cases = [
        ("machines:\n  w1: { cpus: 0 }\n", "inv:2:15: cpus must be from 1 to 1024, not 0"),
        ("machines:\n  w1: { memory: 4 }\n", "inv:2:17: invalid memory `4`: expected a whole number with a unit M, G or T, such as \"512M\" or \"4G\""),
        ("machines:\n  w1: { memory: 64M }\n", "inv:2:17: memory `64M` is below 128M"),
        ("machines:\n  w1: { disk: 512M }\n", "inv:2:15: disk `512M` is below 1G"),
        ("machines:\n  w1: { mounts: [/nonexistent-orbdeploy] }\n", "inv:2:18: mount `/nonexistent-orbdeploy`: /nonexistent-orbdeploy does not exist"),
        ("machines:\n  w1: { mounts: ['/tmp:rel'] }\n", "inv:2:18: mount `/tmp:rel`: DEST must be an absolute path without `:` or `,`"),
        ("defaults: { cloud_init: missing.yaml }\nmachines: { w1: {} }\n", "inv:1:25: cloud_init: "),
        ("machines:\n  w1: { isolated: yes }\n", "inv:2:19: "),
    ];
    for (text, want) in cases {
        let got = load_text(text).unwrap_err();
        assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn cloud_init_needs_a_cloud_image_and_images_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ud"), "#cloud-config\n").unwrap();
    let p = write(
        dir.path(),
        "machines:\n  w1: { image: arch, cloud_init: ud }\n",
    );
    let e = load(&p, &[]).unwrap_err().to_string();
    assert!(e.ends_with(":2:34: cloud_init: OrbStack supports cloud-init only for cloud images, and `arch` is not one"), "{e}");
    assert_eq!(
        load_text("defaults: { image: 'debian:bookworm:extra' }\n").unwrap_err(),
        "inv:1:20: image `debian:bookworm:extra` is not DISTRO or DISTRO:VERSION (for example `debian` or `ubuntu:24.04`)"
    );
    assert!(load_text("defaults: { image: 'ubuntu:19.04' }\n")
        .unwrap_err()
        .starts_with("inv:1:20: unknown version `19.04` of ubuntu: expected one of `focal`"));
}

/// A machine's own `become_password:` wins over its groups' (the last listed), which win
/// over the defaults'; an OrbStack machine takes none, and a template renders with the
/// machine's variables, its value joining the secrets.
#[test]
fn become_password_precedence_and_rendering() {
    let text = "\
vars: { pw: from-vars }
defaults: { become_password: d-pw }
groups:
  a: { ssh: {}, become_password: a-pw }
  b: { become_password: \"{{ pw }}-b\" }
machines:
  own: { groups: [a, b], ssh: {}, become_password: own-pw }
  grouped: { groups: [b, a] }
  last: { groups: [a, b] }
  plain: { ssh: {} }
  orb: {}
";
    let mut inv = load_text(text).unwrap();
    assert_eq!(inv.become_password("own"), None, "rendered only when asked");
    inv.render_become_passwords(&crate::template::Renderer::new())
        .unwrap();
    let got: Vec<Option<&str>> = ["own", "grouped", "last", "plain", "orb"]
        .iter()
        .map(|m| inv.become_password(m))
        .collect();
    assert_eq!(
        got,
        [
            Some("own-pw"),
            Some("a-pw"),
            Some("from-vars-b"),
            Some("d-pw"),
            None
        ]
    );
    let plain = inv.hosts.iter().find(|h| h.name == "plain").unwrap();
    assert!(inv.secret_values(plain).contains(&"d-pw".to_string()));
    // Its Debug never shows it.
    let shown = format!("{:?}", inv.become_passwords.get("own").unwrap());
    assert!(!shown.contains("own-pw"), "{shown}");
}
