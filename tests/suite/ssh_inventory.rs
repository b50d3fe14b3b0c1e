//! ssh machines in the inventory, seen from the command line with the recording fake
//! orbctl: what `inventory` and `inventory --explain` show (snapshots), that an inventory of
//! ssh machines only never calls orbctl, and that `machines` refuses ssh machines. The
//! connection itself is the ssh transport's and is tested against a real sshd elsewhere.

use crate::fake;

use fake::Fake;

/// The issue's example with a variable and an option, and the identity files it names
/// made in a home directory of the test's own.
fn issue_example(fake: &Fake) -> std::path::PathBuf {
    let home = fake.dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    for key in ["deploy_ed25519", "mac2-orbstack"] {
        std::fs::write(home.join(".ssh").join(key), "not a real key").unwrap();
    }
    fake.write(
        "inv.yaml",
        "\
defaults:
  ssh: { host_key: strict }
groups:
  cloud:
    ssh: { user: deploy, jump: bastion.example.org, connect_timeout: 10s }
vars: { env: prod }
machines:
  dev-1: { groups: [web] }
  prod-1:
    groups: [web, cloud]
    ssh: { host: 203.0.113.10, port: 22, identity: ~/.ssh/deploy_ed25519, options: { Compression: yes } }
  mac2-box:                                 # machine \"box\" on another Mac
    ssh: { host: 127.0.0.1, port: 32222, user: box, jump: mac2.local, identity: ~/.ssh/mac2-orbstack }
",
    );
    home
}

/// Run orbdeploy with `HOME` set; stdout with the temporary directory replaced.
fn run(fake: &Fake, home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = fake
        .cmd()
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    let tmp = fake.dir.path().display().to_string();
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp, "[TMP]");
    (
        out.status.code().unwrap_or(-1),
        clean(&out.stdout),
        clean(&out.stderr),
    )
}

#[test]
fn explain_shows_every_ssh_setting_with_its_source_and_facts_known_after_connect() {
    let fake = Fake::new(&[("dev-1", "running")]);
    let home = issue_example(&fake);
    let (code, stdout, stderr) = run(&fake, &home, &["inventory", "inv.yaml", "--explain"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    insta::assert_snapshot!("ssh_inventory_explain", stdout);
    // orbctl is asked about the OrbStack machine only.
    assert_eq!(fake.calls(), ["list -f json", "info dev-1 -f json"]);
}

#[test]
fn listing_and_json_show_the_transport() {
    let fake = Fake::new(&[("dev-1", "running"), ("prod-1", "running")]);
    let home = issue_example(&fake);
    let (code, stdout, _) = run(&fake, &home, &["inventory", "inv.yaml"]);
    assert_eq!(code, 0);
    // An OrbStack machine that shares an ssh machine's name is not attached to it.
    insta::assert_snapshot!("ssh_inventory_listing", stdout);
    let (code, stdout, _) = run(&fake, &home, &["inventory", "inv.yaml", "--json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let prod = &doc["machines"][1];
    assert_eq!(prod["transport"], "ssh");
    assert_eq!(prod["state"], serde_json::Value::Null);
    assert_eq!(prod["ssh"]["host"], "203.0.113.10");
    assert_eq!(prod["ssh"]["user"], "deploy");
    assert_eq!(prod["ssh_sources"]["user"], "group cloud");
    assert_eq!(prod["ssh"]["options"]["Compression"], "yes");
    assert_eq!(prod["ssh"]["connect_timeout_s"], 10);
    assert_eq!(prod["ssh"]["host_key"], "strict");
    assert_eq!(doc["machines"][0]["transport"], "orbctl");
    assert_eq!(doc["machines"][0]["state"], "running");
}

#[test]
fn an_inventory_of_ssh_machines_only_never_calls_orbctl() {
    let fake = Fake::new(&[]);
    let home = fake.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    fake.write(
        "inv.yaml",
        "groups:\n  cloud: { ssh: { user: deploy } }\nmachines:\n  db.example.org: { groups: [cloud] }\n  h2: { ssh: { host: 192.0.2.7 } }\noperations:\n  - shell: \"true\"\n",
    );
    let (code, stdout, stderr) = run(&fake, &home, &["inventory", "inv.yaml", "--explain"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert!(
        stdout.contains("host     = db.example.org  (machine name)"),
        "{stdout}"
    );
    // A plan reaches the hosts over ssh (their facts decide the steps); these do not
    // exist: exit 3 for each, still without a call to orbctl.
    let (code, stdout, stderr) = run(&fake, &home, &["plan", "inv.yaml"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("db.example.org: unreachable, 1 step not run — ssh: "),
        "{stdout}"
    );
    assert_eq!(fake.calls(), Vec::<String>::new());
}

#[test]
fn machines_commands_refuse_ssh_machines_before_calling_orbctl() {
    let fake = Fake::new(&[("dev-1", "stopped")]);
    let home = issue_example(&fake);
    for args in [
        &[
            "machines",
            "start",
            "--inventory",
            "inv.yaml",
            "dev-1",
            "prod-1",
        ][..],
        &["machines", "stop", "--inventory", "inv.yaml", "prod-1"],
        &["machines", "restart", "--inventory", "inv.yaml", "prod-1"],
        &["machines", "delete", "--inventory", "inv.yaml", "prod-1"],
        &["machines", "create", "--inventory", "inv.yaml", "prod-1"],
    ] {
        let (code, stdout, stderr) = run(&fake, &home, args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("`prod-1`: it is an ssh machine of inv.yaml (host 203.0.113.10)"),
            "{args:?}: {stderr}"
        );
        assert_eq!(fake.calls(), Vec::<String>::new(), "{args:?}");
    }
    let (_, _, stderr) = run(
        &fake,
        &home,
        &["machines", "delete", "--inventory", "inv.yaml", "prod-1"],
    );
    insta::assert_snapshot!("ssh_inventory_machines_refused", stderr);
    // OrbStack machines of the same inventory are managed as before.
    let (code, stdout, _) = run(
        &fake,
        &home,
        &["machines", "start", "--inventory", "inv.yaml", "dev-1"],
    );
    assert_eq!((code, stdout.as_str()), (0, "dev-1: started\n"));
    assert_eq!(fake.calls(), ["start dev-1"]);
}

#[test]
fn the_ssh_doc_names_every_refused_ssh_option() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ssh.md")).unwrap();
    let section = doc
        .split("## SSH machines in the inventory")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/ssh.md has an \"SSH machines in the inventory\" section");
    let missing: Vec<&str> = orbdeploy::inventory::ssh::denied_options()
        .filter(|k| !section.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/ssh.md's SSH machines in the inventory section: {missing:?}"
    );
}

#[test]
fn a_mixed_plan_gives_ssh_machines_no_machine_action_and_asks_orbctl_about_orbstack_only() {
    let fake = Fake::new(&[("dev-1", "stopped")]);
    let home = fake.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    fake.write(
        "inv.yaml",
        &format!("{UNREACHABLE}machines:\n  dev-1: {{}}\n  prod-1: {{ groups: [cloud], ssh: {{ host: 127.0.0.1 }} }}\n  prod-2: {{ groups: [cloud], ssh: {{ host: 127.0.0.1 }} }}\noperations:\n  - shell: \"true\"\n"),
    );
    let (_, stdout, stderr) = run(&fake, &home, &["plan", "inv.yaml", "--output", "json"]);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let machine_actions: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "machine")
        .map(|e| {
            (
                e["machine"].as_str().unwrap_or(""),
                e["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(machine_actions, [("dev-1", "start")], "{stdout}{stderr}");
    // Every machine is in the run; the ssh machines' steps are reported (whatever the
    // transport found), never as waiting for a machine action.
    for m in ["prod-1", "prod-2"] {
        let step = events
            .iter()
            .find(|e| e["event"] == "step" && e["machine"] == m)
            .unwrap_or_else(|| panic!("{m}: {stdout}"));
        assert_ne!(step["reason"], "the machine would be started first", "{m}");
    }
    // The plan reads the stopped OrbStack machine back; nothing about the ssh machines.
    assert_eq!(fake.calls(), ["list -f json", "info dev-1 -f json"]);
}

#[test]
fn ssh_machines_only_plan_asks_orbctl_nothing_whatever_the_hosts_say() {
    let fake = Fake::new(&[]);
    let home = fake.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    fake.write(
        "inv.yaml",
        &format!("{UNREACHABLE}machines:\n  localhost: {{ groups: [cloud] }}\n  h2: {{ ssh: {{ host: 127.0.0.1 }} }}\noperations:\n  - shell: \"true\"\n"),
    );
    let (code, stdout, stderr) = run(&fake, &home, &["inventory", "inv.yaml", "--explain"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert!(stdout.contains("= localhost  (machine name)"), "{stdout}");
    // The hosts cannot be reached (port 1): what a plan finds on them is the transport's
    // to test; here, only that it asks orbctl nothing.
    let (_, stdout, stderr) = run(&fake, &home, &["plan", "inv.yaml"]);
    assert!(stdout.contains("localhost"), "{stdout}{stderr}");
    assert_eq!(fake.calls(), Vec::<String>::new());
}

/// ssh settings that make every connection fail at once, without a name to look up: a
/// group for ssh machines whose port nothing listens on.
const UNREACHABLE: &str =
    "groups:\n  cloud: { ssh: { user: deploy, port: 1, connect_timeout: 5 } }\n";

#[test]
fn explain_and_json_name_where_become_password_and_the_batches_come_from_never_the_password() {
    let fake = Fake::new(&[]);
    let home = fake.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    fake.write(
        "inv.yaml",
        "serial: [1, \"50%\"]\nmax_fail_percentage: 20\ngroups:\n  db: { become_password: \"hunter2-in-clear\" }\nmachines:\n  db-1: { groups: [db], ssh: { host: 192.0.2.7 } }\n  web-1: { ssh: { host: 192.0.2.8 } }\n",
    );
    let (code, stdout, stderr) = run(&fake, &home, &["inventory", "inv.yaml", "--explain"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let db = stdout.split("web-1").next().unwrap_or_default();
    assert!(
        db.contains("  become_password: set, given to sudo when it asks  (group db)\n"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("become_password").count(), 1, "{stdout}");
    assert!(
        stdout.contains("\nserial: 1, 50%  (inventory; --serial overrides it)\nmax_fail_percentage: 20  (inventory; --max-fail-percentage overrides it)\n"),
        "{stdout}"
    );
    let (code, stdout, _) = run(&fake, &home, &["inventory", "inv.yaml", "--json"]);
    assert_eq!(code, 0);
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["serial"], "1, 50%");
    assert_eq!(doc["max_fail_percentage"], 20);
    assert_eq!(doc["machines"][0]["become_password_from"], "group db");
    assert_eq!(
        doc["machines"][1]["become_password_from"],
        serde_json::Value::Null
    );
}
