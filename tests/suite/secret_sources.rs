//! Secrets from where teams keep them (docs/secrets.md): age-encrypted vars files opened
//! with an age key or an ssh key, deployed on orbsim machines; each value is in the
//! machine's file and in no output, report, trace file or process's argv (sampled from
//! `/proc/*/cmdline`, which shows the orbsim machines' processes too).

use crate::harness::{sshbed, World};
use crate::secrets::{assert_in_no_output, sample};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const DB_PASSWORD: &str = "Sealed-pw-9QX4";
const API_KEY: &str = "api-K3Y-7781zz";

/// The plaintext of the encrypted vars file.
fn sealed_yaml() -> String {
    format!("db_password: {DB_PASSWORD}\napi:\n  key: {API_KEY}\n  port: 8443\n")
}

/// `plain` encrypted for `recipients` (lines of a `.age-recipients` file), written at `at`.
fn seal(at: &Path, plain: &str, recipients: &str) {
    let r = orbdeploy::secrets::recipients::parse_text(recipients).expect("recipients");
    let sealed = orbdeploy::secrets::age_file::encrypt(plain.as_bytes(), &r).expect("encrypt");
    std::fs::write(at, sealed).expect("write the encrypted file");
}

/// A fresh age key: its identity file and its public key.
#[allow(deprecated)]
fn age_key(w: &World, name: &str) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let path = w.write(name, format!("{}\n", id.to_string().expose_secret()));
    (path, id.to_public().to_string())
}

/// An inventory with a plain and an encrypted vars file, and steps that put the secret
/// values in a template, a shell step and a command's output.
fn project(w: &World, machine: &str) -> PathBuf {
    w.write(
        "plain.yaml",
        "greeting: hello\ndb_password: overridden-by-the-sealed-file\n",
    );
    w.write(
        "app.conf.j2",
        "greeting={{ greeting }}\npassword={{ db_password }}\nkey={{ api.key }}:{{ api.port }}\n",
    );
    w.write(
        "ops.yaml",
        "- name: config\n  template: { src: app.conf.j2, dest: /tmp/app.conf }\n\
         - name: shell with the secret\n  shell: \"echo {{ db_password }} > /tmp/pw; sleep 0.5\"\n\
         - name: print it\n  shell: \"cat /tmp/pw; echo {{ api.key }}; sleep 0.3\"\n",
    );
    w.write(
        "inv.yaml",
        format!(
            "vars_files: [plain.yaml, secrets/vars.yaml.age]\nmachines:\n  {machine}: {{}}\noperations: ops.yaml\n"
        ),
    )
}

/// Apply `args` with every process sampled and every output kept; asserts the run
/// succeeded and that no output holds a secret. Returns the run's stdout and stderr.
fn apply_without_a_trace(w: &mut World, args: &[&str]) -> String {
    let trace = w.path("trace");
    w.env
        .push(("ORBDEPLOY_TRACE_DIR".into(), trace.display().to_string()));
    let stop = Arc::new(AtomicBool::new(false));
    let needles = vec![DB_PASSWORD.to_string(), API_KEY.to_string()];
    let sampler = sample(needles.clone(), stop.clone());
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--report",
        "r.json",
        "--junit",
        "r.xml",
        "--report-html",
        "r.html",
        "--diff",
        "--output",
        "json",
    ]);
    let run = w.orbdeploy(&all);
    stop.store(true, Ordering::SeqCst);
    let hits = sampler.join();
    run.assert_code(0);
    let hits = hits.expect("sampler");
    assert!(hits.is_empty(), "a secret in a process's argv: {hits:#?}");
    let files = ["r.json", "r.xml", "r.html"];
    assert_in_no_output(w, &run, (&files, &trace), &needles, "a secret");
    assert!(
        run.stdout.contains("***"),
        "the printed secret is masked:\n{}",
        run.stdout
    );
    format!("{}{}", run.stdout, run.stderr)
}

fn machine_has_the_values(w: &World, m: &str) {
    let conf = w.sh(m, Some("root"), "cat /tmp/app.conf");
    conf.assert_code(0);
    assert_eq!(
        conf.stdout,
        format!("greeting=hello\npassword={DB_PASSWORD}\nkey={API_KEY}:8443\n")
    );
}

#[test]
fn an_age_encrypted_vars_file_deploys_and_its_values_are_nowhere_else() {
    let mut w = World::new("sealedage");
    let m = w.name("a");
    w.create(&m);
    let (identity, public) = age_key(&w, "keys/me.txt");
    let (_, teammate) = age_key(&w, "keys/teammate.txt");
    std::fs::create_dir_all(w.path("secrets")).expect("mkdir");
    seal(
        &w.path("secrets/vars.yaml.age"),
        &sealed_yaml(),
        &format!("# me\n{public}\n# a teammate\n{teammate}\n"),
    );
    let inv = project(&w, &m);
    let inv = inv.display().to_string();
    let id = identity.display().to_string();
    apply_without_a_trace(&mut w, &[&inv, "--identity", &id]);
    machine_has_the_values(&w, &m);
    // The environment names the identity as well as the flag does; nothing changes now.
    w.env.push(("ORBDEPLOY_AGE_IDENTITY".into(), id.clone()));
    let again = w.orbdeploy(["apply", &inv]);
    again.assert_code(0);
    assert!(!again.stdout.contains(DB_PASSWORD));
}

#[test]
fn an_ssh_ed25519_key_in_home_opens_the_file_without_any_flag() {
    let mut w = World::new("sealedssh");
    let m = w.name("s");
    w.create(&m);
    let home = w.path("home");
    std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
    let key = home.join(".ssh/id_ed25519");
    sshbed::keygen(&key);
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    std::fs::create_dir_all(w.path("secrets")).expect("mkdir");
    seal(&w.path("secrets/vars.yaml.age"), &sealed_yaml(), &public);
    let inv = project(&w, &m).display().to_string();
    w.env.push(("HOME".into(), home.display().to_string()));
    apply_without_a_trace(&mut w, &[&inv]);
    machine_has_the_values(&w, &m);
}

const PIPED: &str = "Piped-S3cret-11";

#[test]
fn pipe_runs_each_command_once_its_output_is_a_secret_and_file_reads_beside_the_step() {
    let mut w = World::new("lookups");
    let m = w.name("p");
    w.create(&m);
    let count = w.path("count");
    // Where a password manager would keep it (the command line does not hold it).
    let vault = w.write("vault.txt", format!("{PIPED}\n"));
    let cmd = format!(
        "sh -c 'echo run >> {}; cat {}'",
        count.display(),
        vault.display()
    );
    w.write("ops/files/motd.txt", "hello from a file\n");
    w.write(
        "ops/templates/t.j2",
        "pw={{ pipe(cmd) }}\n{{ file('../files/motd.txt') }}",
    );
    w.write(
        "ops/more.yaml",
        "- name: a lookup in an include's vars\n  shell: \"echo {{ v }} > /tmp/v\"\n",
    );
    w.write(
        "ops/main.yaml",
        "- name: template\n  template: { src: templates/t.j2, dest: /tmp/t }\n\
         - name: shell\n  shell: \"echo {{ pipe(cmd) }} > /tmp/s; sleep 0.5\"\n\
         - name: put a file's text\n  put: { content: \"{{ file('files/motd.txt') }}\", dest: /tmp/motd }\n\
         - include: more.yaml\n  vars: { v: \"{{ pipe(cmd) }}\" }\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!("vars:\n  cmd: \"{cmd}\"\nmachines:\n  {m}: {{}}\noperations: ops/main.yaml\n"),
    );
    let trace = w.path("trace");
    w.env
        .push(("ORBDEPLOY_TRACE_DIR".into(), trace.display().to_string()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample(vec![PIPED.into()], stop.clone());
    let run = w.orbdeploy([
        "apply",
        &inv.display().to_string(),
        "--diff",
        "--report",
        "r.json",
    ]);
    stop.store(true, Ordering::SeqCst);
    let hits = sampler.join();
    run.assert_code(0);
    let hits = hits.expect("sampler");
    assert!(hits.is_empty(), "the piped secret in an argv: {hits:#?}");
    assert_eq!(std::fs::read_to_string(&count).expect("count"), "run\n");
    for text in [
        run.stdout.clone(),
        run.stderr.clone(),
        std::fs::read_to_string(w.path("r.json")).expect("report"),
    ] {
        assert!(!text.contains(PIPED), "{text}");
    }
    for e in std::fs::read_dir(&trace).expect("trace").flatten() {
        assert!(!std::fs::read_to_string(e.path())
            .expect("trace")
            .contains(PIPED));
    }
    let t = w.sh(&m, Some("root"), "cat /tmp/t /tmp/s /tmp/motd /tmp/v");
    t.assert_code(0);
    assert_eq!(
        t.stdout,
        format!("pw={PIPED}\nhello from a file\n{PIPED}\nhello from a file\n{PIPED}\n")
    );
}

#[test]
fn a_failing_pipe_is_exit_2_with_its_stderr_and_touches_no_machine() {
    let w = World::new("pipefail");
    let m = w.name("never");
    w.write(
        "ops.yaml",
        "- shell: \"echo {{ pipe(\\\"sh -c 'echo vault is sealed >&2; exit 4'\\\") }}\"\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!("defaults: {{ image: debian:bookworm, create: true }}\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let run = w.orbdeploy(["apply", &inv.display().to_string()]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("pipe(`sh -c 'echo vault is sealed >&2; exit 4'`) failed (exit code 4): vault is sealed"),
        "{}",
        run.stderr
    );
    assert_eq!(w.state(&m), None, "the machine was created");
}

/// A fake `$EDITOR`: notes the path it was given in `edited-path`, then runs `action` on
/// it (`$1`). The note is renamed into place: a test that waits for it to exist and then
/// sends Ctrl-C must not find it empty (a fresh-clone CI run once signalled the editor
/// between its `>` creating the file and `echo` writing to it).
fn fake_editor(w: &World, action: &str) -> String {
    let log = w.path("edited-path");
    let script = w.write(
        "editor.sh",
        format!(
            "#!/bin/sh\necho \"$1\" > '{log}.new'\nmv '{log}.new' '{log}'\n{action}\n",
            log = log.display()
        ),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    script.display().to_string()
}

/// Nothing is left in the runtime directory `edit` used, nor at the path the editor saw.
fn no_plaintext_left(w: &World) {
    let seen = std::fs::read_to_string(w.path("edited-path")).expect("the editor ran");
    let seen = Path::new(seen.trim());
    assert!(seen.starts_with(w.path("runtime")), "{}", seen.display());
    assert!(
        !seen.exists(),
        "the plaintext is still at {}",
        seen.display()
    );
    let left: Vec<_> = std::fs::read_dir(w.path("runtime"))
        .expect("runtime")
        .collect();
    assert!(left.is_empty(), "left in the runtime directory: {left:?}");
}

/// A project with a `.age-recipients` file of one age key and that key as the identity.
fn secrets_world(test: &str) -> (World, String) {
    let mut w = World::new(test);
    let (id, public) = age_key(&w, "me.txt");
    w.write("secrets/.age-recipients", format!("# me\n{public}\n"));
    w.write("secrets/vars.yaml", "token: v1-Sealed\n");
    std::fs::create_dir_all(w.path("runtime")).expect("mkdir");
    w.env.push((
        "XDG_RUNTIME_DIR".into(),
        w.path("runtime").display().to_string(),
    ));
    w.env
        .push(("ORBDEPLOY_AGE_IDENTITY".into(), id.display().to_string()));
    (w, "secrets/vars.yaml.age".to_string())
}

#[test]
fn secrets_encrypt_decrypt_edit_and_rekey() {
    let (mut w, sealed) = secrets_world("secretscmd");
    w.orbdeploy(["secrets", "encrypt", "secrets/vars.yaml"])
        .assert_code(0);
    let text = std::fs::read_to_string(w.path(&sealed)).expect("encrypted");
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert!(!text.contains("v1-Sealed"));
    let shown = w.orbdeploy(["secrets", "decrypt", &sealed]);
    shown.assert_code(0);
    assert_eq!(shown.stdout, "token: v1-Sealed\n");

    let editor = fake_editor(&w, "sed -i 's/v1-Sealed/v2-Sealed/' \"$1\"");
    w.env.push(("EDITOR".into(), editor));
    w.orbdeploy(["secrets", "edit", &sealed]).assert_code(0);
    no_plaintext_left(&w);
    let shown = w.orbdeploy(["secrets", "decrypt", &sealed]);
    assert_eq!(shown.stdout, "token: v2-Sealed\n");

    // A teammate joins: after a rekey their key opens the file too.
    let (theirs, public) = age_key(&w, "teammate.txt");
    let mut recipients = std::fs::read_to_string(w.path("secrets/.age-recipients")).unwrap();
    recipients.push_str(&format!("{public}\n"));
    w.write("secrets/.age-recipients", recipients);
    let theirs = theirs.display().to_string();
    // Their key alone, not mine from the environment.
    w.env.retain(|(k, _)| k != "ORBDEPLOY_AGE_IDENTITY");
    w.orbdeploy(["secrets", "decrypt", &sealed, "--identity", &theirs])
        .assert_code(2);
    let mine = w.path("me.txt").display().to_string();
    w.orbdeploy(["secrets", "rekey", &sealed, "--identity", &mine])
        .assert_code(0);
    let shown = w.orbdeploy(["secrets", "decrypt", &sealed, "--identity", &theirs]);
    shown.assert_code(0);
    assert_eq!(shown.stdout, "token: v2-Sealed\n");
}

#[test]
fn a_failing_editor_or_ctrl_c_leaves_the_file_and_no_plaintext() {
    let (mut w, sealed) = secrets_world("secretsedit");
    w.orbdeploy(["secrets", "encrypt", "secrets/vars.yaml"])
        .assert_code(0);
    let before = std::fs::read(w.path(&sealed)).expect("encrypted");

    let editor = fake_editor(&w, "echo changed > \"$1\"; exit 3");
    w.env.push(("EDITOR".into(), editor));
    let run = w.orbdeploy(["secrets", "edit", &sealed]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("ended with exit code 3"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(w.path(&sealed)).unwrap(), before);
    no_plaintext_left(&w);

    // Ctrl-C reaches the terminal's process group: orbdeploy and its editor.
    std::fs::remove_file(w.path("edited-path")).expect("rm");
    let editor = fake_editor(&w, "sleep 30");
    let mut cmd = std::process::Command::new(crate::harness::orbdeploy_bin());
    cmd.args(["secrets", "edit", &sealed])
        .current_dir(w.dir.path())
        .env("EDITOR", editor)
        .env("XDG_RUNTIME_DIR", w.path("runtime"))
        .env("ORBDEPLOY_AGE_IDENTITY", w.path("me.txt"))
        .stdin(std::process::Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("orbdeploy");
    let pid = child.id() as i32;
    crate::harness::wait_for("the editor", std::time::Duration::from_secs(30), || {
        w.path("edited-path").exists()
    });
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let status = child.wait().expect("orbdeploy");
    assert_eq!(status.code(), Some(130));
    assert_eq!(std::fs::read(w.path(&sealed)).unwrap(), before);
    no_plaintext_left(&w);
}

#[test]
fn a_bad_recipients_line_or_key_is_exit_2_at_its_line_and_writes_nothing() {
    let (w, sealed) = secrets_world("recipbad");
    let good = std::fs::read_to_string(w.path("secrets/.age-recipients")).expect("recipients");
    w.write(
        "secrets/.age-recipients",
        format!("{good}ssh-ed25519 AAAA-not-a-key me@laptop\n"),
    );
    let run = w.orbdeploy(["secrets", "encrypt", "secrets/vars.yaml"]);
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        "error: secrets/.age-recipients:3:1: not a valid ssh public key: expected an age public key (age1…) or an ssh public key (ssh-ed25519 …, ssh-rsa …)\n"
    );
    assert!(!w.path(&sealed).exists());
    let run = w.orbdeploy([
        "secrets",
        "encrypt",
        "secrets/vars.yaml",
        "--recipient",
        "age1x",
    ]);
    run.assert_code(2);
    assert!(
        run.stderr
            .starts_with("error: --recipient: not a recipient"),
        "{}",
        run.stderr
    );
    assert!(!w.path(&sealed).exists());
}
