//! `become_password:` against a real OpenSSH sshd whose sudo asks the login user for a
//! password (docs/secrets.md, "become with a password"): with the right one, `become`
//! steps run as root; a wrong one is one clear failure of that machine, at once; a host
//! whose sudo asks nothing (`NOPASSWD`) is never given it. In every run the password is in
//! no output, report, JUnit, HTML report or trace file, and in no process's argv, here
//! or on the host (`/proc/*/cmdline` sampled during the run, which shows the orbsim
//! machine's processes too).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{sshbed, Run, World};
use crate::secrets::{assert_in_no_output, sample};
use sshbed::{SshBed, SshHost};

const RIGHT: &str = "Sudo-pw-4QZ81x";
const WRONG: &str = "Wrong-pw-7TT02k";

/// The bed host's login user gets password `RIGHT`, and sudo asks it for one: the bed's
/// `NOPASSWD` rule is replaced by a plain one, and sudo lectures before every prompt (on
/// stderr, where the prompt comes too). The password goes to `chpasswd` on its
/// stdin: in an argv, the other test's sampler would see it.
fn sudo_asks_for_a_password(w: &World, bed: &SshBed, h: &SshHost) {
    use std::io::Write;
    let mut chpasswd = std::process::Command::new(&w.orbctl)
        .env("ORBSIM_HOME", &w.home)
        .args(["run", "-m", &h.name, "-u", "root", "-w", "/", "chpasswd"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("orbctl run chpasswd");
    let mut stdin = chpasswd.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{}:{RIGHT}\n", h.user).as_bytes())
        .expect("write the password");
    drop(stdin);
    assert!(
        chpasswd.wait().expect("chpasswd").success(),
        "chpasswd failed"
    );
    bed.root_sh(
        &h.name,
        &format!(
            "set -e; rm -f /etc/sudoers.d/orbsim-*; \
             printf '%s\\n' 'Defaults lecture=always' '{} ALL=(ALL) ALL' > /etc/sudoers.d/become; \
             chmod 0440 /etc/sudoers.d/become",
            h.user
        ),
    );
}

/// The bed's rule back: sudo asks nothing.
fn sudo_asks_nothing(bed: &SshBed, h: &SshHost) {
    bed.root_sh(
        &h.name,
        &format!(
            "set -e; printf '%s\\n' 'Defaults lecture=always' '{} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/become",
            h.user
        ),
    );
}

/// The `ssh:` block of a bed host.
fn ssh_block(h: &SshHost) -> String {
    format!(
        "{{ host: '{}', port: {}, user: {}, identity: '{}', connect_timeout: 30s, options: {{ UserKnownHostsFile: '{}', GlobalKnownHostsFile: /dev/null }} }}",
        h.ip4,
        h.port,
        h.user,
        h.identity.display(),
        h.known_hosts.display()
    )
}

/// Steps that need root (a file in /root, `id`) and one that prints the password as the
/// login user and fails (its output is shown, masked), ignored.
fn ops(w: &World) {
    w.write(
        "ops.yaml",
        "- name: root's file\n  put: { content: \"written as root\\n\", dest: /root/become-proof, mode: \"0600\" }\n  become: true\n\
         - name: as root\n  shell: \"test $(id -u) = 0; sleep 0.3\"\n  become: true\n\
         - name: print the password\n  shell: \"echo {{ sudo_pw }}; sleep 0.3; exit 3\"\n  ignore_errors: true\n",
    );
}

/// A world whose runs keep trace files (in `trace/`).
fn world(test: &str) -> World {
    let mut w = World::new(test);
    let trace = w.path("trace").display().to_string();
    w.env.push(("ORBDEPLOY_TRACE_DIR".into(), trace));
    w
}

/// Apply `inv.yaml` with every process sampled and every output kept; asserts the exit
/// code and that neither password is anywhere. The run.
fn apply_sampled(w: &World, code: i32) -> Run {
    let trace = w.path("trace");
    let _ = std::fs::remove_dir_all(&trace);
    let stop = Arc::new(AtomicBool::new(false));
    let needles = vec![RIGHT.to_string(), WRONG.to_string()];
    let sampler = sample(needles.clone(), stop.clone());
    let run = w.orbdeploy([
        "apply",
        "inv.yaml",
        "--report",
        "r.json",
        "--junit",
        "r.xml",
        "--report-html",
        "r.html",
    ]);
    stop.store(true, Ordering::SeqCst);
    let hits = sampler.join().expect("sampler");
    run.assert_code(code);
    assert!(hits.is_empty(), "a password in a process's argv: {hits:#?}");
    let files = ["r.json", "r.xml", "r.html"];
    let read = assert_in_no_output(w, &run, (&files, &trace), &needles, "a password");
    assert!(read > 5, "no trace file was written");
    run
}

/// The password is a variable that no `secrets:` lists: as a `become_password:` it is
/// masked all the same. Sessions go by an `ssh -S` client here (`ORBDEPLOY_SSH_MUX=client`),
/// over the master's socket in the other test.
#[test]
fn the_right_password_runs_become_steps_as_root_and_shows_nowhere() {
    let mut w = world("becomepw");
    w.env.push(("ORBDEPLOY_SSH_MUX".into(), "client".into()));
    let bed = SshBed::start(&w, 1);
    let h = &bed.hosts[0];
    sudo_asks_for_a_password(&w, &bed, h);
    ops(&w);
    w.write(
        "inv.yaml",
        format!(
            "vars: {{ sudo_pw: {RIGHT} }}\nmachines:\n  {}: {{ ssh: {}, become_password: \"{{{{ sudo_pw }}}}\" }}\noperations: ops.yaml\n",
            h.name,
            ssh_block(h)
        ),
    );
    let run = apply_sampled(&w, 0);
    // The failed step's output is shown, masked.
    assert!(
        run.stdout.contains("***"),
        "the printed password is masked:\n{}",
        run.stdout
    );
    let proof = bed.root_sh(
        &h.name,
        "stat -c '%U %a' /root/become-proof; cat /root/become-proof",
    );
    assert_eq!(proof, "root 600\nwritten as root\n");
    let left = bed.wait_no_ssh_processes(Duration::from_secs(5));
    assert!(left.is_empty(), "ssh processes left: {left:?}");

    // `exec --user` takes it too.
    let exec = w.orbdeploy(["exec", "inv.yaml", "--user", "root", "--", "id", "-un"]);
    exec.assert_code(0);
    assert!(exec.stdout.contains("\nroot\n"), "{}", exec.stdout);
    assert!(!exec.stdout.contains(RIGHT) && !exec.stderr.contains(RIGHT));

    // The one-shot path has no session to answer sudo with: it says so.
    let one_shot = w.orbdeploy(["apply", "inv.yaml", "--no-channel"]);
    one_shot.assert_code(1);
    assert!(
        one_shot
            .stdout
            .contains("become_password is given over the channel only: run without --no-channel"),
        "{}",
        one_shot.stdout
    );
    assert!(!one_shot.stdout.contains(RIGHT) && !one_shot.stderr.contains(RIGHT));
}

/// `inv.yaml`: the bed host, `become_password:` in `defaults` as `template`; `sudo_pw`
/// (the right password, which a step prints) is a `secrets:` name, since `template` may
/// not use it.
fn defaults_inventory(w: &World, h: &SshHost, template: &str) {
    w.write(
        "inv.yaml",
        format!(
            "vars: {{ sudo_pw: {RIGHT} }}\nsecrets: [sudo_pw]\ndefaults:\n  become_password: \"{template}\"\nmachines:\n  {}: {{ ssh: {} }}\noperations: ops.yaml\n",
            h.name,
            ssh_block(h)
        ),
    );
}

/// A wrong password fails the machine at once with sudo's refusal (no wait for sudo's
/// other tries, nothing written as root). Where sudo asks nothing — its credentials
/// cached by an earlier run (`timestamp_type=global`, so that a new session finds them),
/// or a `NOPASSWD` rule — the same wrong password is never given and the steps run.
#[test]
fn a_wrong_password_fails_at_once_and_cached_or_nopasswd_sudo_never_sees_it() {
    let mut w = world("becomebad");
    w.env.push(("ORBD_SUDO_PW".into(), WRONG.into()));
    let bed = SshBed::start(&w, 1);
    let h = &bed.hosts[0];
    sudo_asks_for_a_password(&w, &bed, h);
    ops(&w);
    let wrong = "{{ env('ORBD_SUDO_PW') }}";
    defaults_inventory(&w, h, wrong);
    let run = apply_sampled(&w, 1);
    let refused = format!(
        "sudo on machine `{}` ({}:{}) refused the become_password to run as root; check the password",
        h.name, h.ip4, h.port
    );
    assert!(run.stdout.contains(&refused), "{}", run.stdout);
    // sudo's PAM delay after a wrong password is about 2 s; sudo's own three tries, or a
    // hang until the session's 120 s limit, would take much longer.
    assert!(
        run.elapsed < Duration::from_secs(60),
        "took {:?}",
        run.elapsed
    );
    let proof = bed.root_sh(
        &h.name,
        "test -e /root/become-proof && echo there || echo absent",
    );
    assert_eq!(proof, "absent\n");
    let left = bed.wait_no_ssh_processes(Duration::from_secs(5));
    assert!(left.is_empty(), "ssh processes left: {left:?}");

    // The right password once, with credentials cached for every session of the user...
    bed.root_sh(
        &h.name,
        &format!(
            "echo 'Defaults:{} timestamp_type=global' >> /etc/sudoers.d/become",
            h.user
        ),
    );
    defaults_inventory(&w, h, "{{ sudo_pw }}");
    apply_sampled(&w, 0);
    // ... then the wrong one: sudo asks nothing, so it is never given.
    bed.root_sh(&h.name, "rm /root/become-proof");
    defaults_inventory(&w, h, wrong);
    apply_sampled(&w, 0);
    let proof = bed.root_sh(&h.name, "stat -c %U /root/become-proof");
    assert_eq!(proof, "root\n");

    // No cached credentials, a NOPASSWD rule: the same.
    sudo_asks_nothing(&bed, h);
    bed.root_sh(&h.name, "rm -rf /run/sudo/ts /root/become-proof");
    apply_sampled(&w, 0);
    let proof = bed.root_sh(&h.name, "stat -c %U /root/become-proof");
    assert_eq!(proof, "root\n");
}
