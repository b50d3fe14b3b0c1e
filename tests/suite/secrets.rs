//! Secrets stay out of process lists and trace files, on every path: while an apply with
//! secrets runs (a shell step, a timed shell step, a template, a put with inline content,
//! an `env:` value and a registered output), every process's argv on this machine — which
//! includes the orbsim machines' own processes — is sampled, and none may hold a secret.
//! Trace files (`ORBDEPLOY_TRACE_DIR`) mask secrets, unless `ORBDEPLOY_TRACE_SECRETS=1`
//! keeps them in clear, in 0600 files of a 0700 directory.

use crate::harness;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::World;

const SECRET: &str = "s3cr3t-TOKEN-42";
const FROM_ENV: &str = "env-Pa55-word-77";

/// Every process whose argv holds one of `needles`, sampled every few milliseconds until
/// `stop` is set: `(pid, argv)` once per process. `secret_sources` samples with it too.
pub fn sample(needles: Vec<String>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let hits = Mutex::new(Vec::new());
        let mut rounds = 0u64;
        while !stop.load(Ordering::SeqCst) {
            rounds += 1;
            let Ok(dir) = std::fs::read_dir("/proc") else {
                break;
            };
            for entry in dir.flatten() {
                let name = entry.file_name();
                if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                let argv = String::from_utf8_lossy(&raw).replace('\0', " ");
                if needles.iter().any(|n| argv.contains(n.as_str())) {
                    let hit = format!("{}: {argv}", name.to_string_lossy());
                    let mut h = hits.lock().unwrap();
                    if !h.contains(&hit) {
                        h.push(hit);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(rounds > 10, "the sampler ran only {rounds} rounds");
        hits.into_inner().unwrap()
    })
}

/// Every output of `run` — its stdout and stderr, the files `files` of `w`'s directory,
/// and each trace file in `trace` — checked to hold none of `needles` (`what` names them
/// in the message). How many outputs were read.
pub fn assert_in_no_output(
    w: &World,
    run: &harness::Run,
    (files, trace): (&[&str], &std::path::Path),
    needles: &[String],
    what: &str,
) -> usize {
    let mut outputs = vec![
        ("stdout".to_string(), run.stdout.clone()),
        ("stderr".to_string(), run.stderr.clone()),
    ];
    for f in files {
        outputs.push((f.to_string(), std::fs::read_to_string(w.path(f)).expect(f)));
    }
    for e in std::fs::read_dir(trace).expect("trace files").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("trace file");
        outputs.push((e.path().display().to_string(), text));
    }
    for (name, text) in &outputs {
        for n in needles {
            assert!(!text.contains(n.as_str()), "{name} holds {what}:\n{text}");
        }
    }
    outputs.len()
}

/// A deploy that puts the secrets everywhere a step can carry them. Each step lasts a
/// moment so that the sampler sees its processes.
fn deploy(w: &World, machine: &str) -> String {
    w.write("t.j2", "token={{ token }}\n");
    w.write(
        "ops.yaml",
        "- name: shell with the secret\n  shell: \"echo {{ token }} > /tmp/t1; sleep 0.5\"\n\
         - name: timed shell with the secret\n  shell: \"echo {{ token }} {{ env('ORBD_TEST_PASS') }} > /tmp/t2; sleep 0.5\"\n  timeout: 60\n\
         - name: template\n  template: { src: t.j2, dest: /tmp/t3 }\n\
         - name: put content\n  put: { content: \"{{ token }}\\n\", dest: /tmp/t4 }\n\
         - name: env value\n  shell: \"sleep 0.5; test \\\"$TOK\\\" = {{ token }}\"\n  env: { TOK: \"{{ token }}\" }\n\
         - name: read it back\n  shell: \"cat /tmp/t1\"\n  register: back\n\
         - name: use what was read\n  shell: \"test '{{ back.stdout }}' = '{{ token }}'; sleep 0.5\"\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!(
            "vars: {{ token: {SECRET} }}\nsecrets: [token]\nmachines:\n  {machine}: {{}}\noperations: ops.yaml\n"
        ),
    );
    inv.to_string_lossy().into_owned()
}

/// Apply with every process sampled; returns the argv hits and the run's output.
fn apply_sampled(w: &World, inv: &str, transport: &[&str]) -> (Vec<String>, String) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample(vec![SECRET.into(), FROM_ENV.into()], stop.clone());
    let mut args = vec!["apply", inv];
    args.extend_from_slice(transport);
    let run = w.orbdeploy(&args);
    stop.store(true, Ordering::SeqCst);
    let hits = sampler.join().expect("sampler");
    run.assert_code(0);
    (hits, format!("{}{}", run.stdout, run.stderr))
}

fn trace_files(dir: &std::path::Path) -> Vec<(String, String, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("trace dir exists").flatten() {
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        let text = std::fs::read_to_string(e.path()).unwrap();
        out.push((e.file_name().to_string_lossy().into_owned(), text, mode));
    }
    assert!(!out.is_empty(), "no trace file in {}", dir.display());
    out
}

fn world(test: &str) -> (World, String, String) {
    let mut w = World::new(test);
    let m = w.name("s");
    w.create(&m);
    w.env.push(("ORBD_TEST_PASS".into(), FROM_ENV.into()));
    let inv = deploy(&w, &m);
    (w, m, inv)
}

#[test]
fn no_secret_in_any_argv_or_trace_file_on_either_transport() {
    let (mut w, m, inv) = world("secretargv");
    for (n, transport) in [&[][..], &["--no-channel"][..]].into_iter().enumerate() {
        let trace = w.path(&format!("trace{n}/deep"));
        w.env.retain(|(k, _)| k != "ORBDEPLOY_TRACE_DIR");
        w.env
            .push(("ORBDEPLOY_TRACE_DIR".into(), trace.display().to_string()));
        w.sh(&m, Some("root"), "rm -f /tmp/t1 /tmp/t2 /tmp/t3 /tmp/t4")
            .assert_code(0);
        let (hits, output) = apply_sampled(&w, &inv, transport);
        assert!(hits.is_empty(), "{transport:?}: secrets in argv: {hits:#?}");
        assert!(
            !output.contains(SECRET) && !output.contains(FROM_ENV),
            "{output}"
        );
        // The steps did their work with the secrets.
        let t2 = w.sh(&m, None, "cat /tmp/t2");
        assert_eq!(t2.stdout, format!("{SECRET} {FROM_ENV}\n"), "{transport:?}");
        let dir_mode = std::fs::metadata(&trace).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            dir_mode, 0o700,
            "{transport:?}: the trace directory it made"
        );
        let files = trace_files(&trace);
        for (name, text, mode) in &files {
            assert_eq!(*mode, 0o600, "{transport:?}: {name}");
            assert!(
                !text.contains(SECRET) && !text.contains(FROM_ENV),
                "{transport:?}: {name} holds a secret:\n{text}"
            );
        }
        assert!(
            files
                .iter()
                .any(|(_, t, _)| t.contains("echo *** > /tmp/t1")),
            "{transport:?}: the shell step's trace shows the masked secret"
        );
    }
}

#[test]
fn trace_secrets_in_clear_only_in_the_trace_files() {
    let (mut w, _m, inv) = world("secretclear");
    let trace = w.path("trace");
    w.env
        .push(("ORBDEPLOY_TRACE_DIR".into(), trace.display().to_string()));
    w.env.push(("ORBDEPLOY_TRACE_SECRETS".into(), "1".into()));
    let (hits, output) = apply_sampled(&w, &inv, &["--no-channel"]);
    assert!(hits.is_empty(), "secrets in argv: {hits:#?}");
    assert!(!output.contains(SECRET), "{output}");
    assert_eq!(
        output
            .matches("ORBDEPLOY_TRACE_SECRETS=1: the trace files in")
            .count(),
        1,
        "warned once: {output}"
    );
    let files = trace_files(&trace);
    assert!(files.iter().all(|(_, _, mode)| *mode == 0o600));
    assert!(
        files.iter().any(|(_, t, _)| t.contains(SECRET)),
        "the clear trace keeps the secret for a replay"
    );
}
