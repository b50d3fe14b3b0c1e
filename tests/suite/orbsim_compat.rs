//! orbdeploy on a machine that behaves as other OrbStack clients report (docs/orbctl.md
//! §12): a push that sees another `/tmp` than the machine (§12.8, orbsim's `push-tmp-view`
//! fault), with and without the channel; and a mount added to an existing machine, which
//! orbdeploy sets as the whole declared list with `config set`, not `config add` (§12.1).

use crate::harness;

use harness::World;

/// The argv of every orbctl call in orbsim's call log (`ORBSIM_LOG`).
fn calls(w: &World) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(w.path("calls.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("call log line is JSON");
            v["argv"]
                .as_array()
                .expect("argv")
                .iter()
                .skip(1)
                .map(|a| a.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect()
}

/// What is left of orbdeploy's staging directories in the machine.
fn leftovers(w: &World, m: &str) -> String {
    let run = w.sh(
        m,
        Some("root"),
        "ls -A /tmp /etc /var/tmp | grep -e orbdeploy || true",
    );
    run.assert_code(0);
    run.stdout.clone()
}

#[test]
fn puts_work_when_the_push_sees_another_tmp_without_and_with_the_channel() {
    let mut w = World::new("pushview");
    let m = w.name("v");
    w.create(&m);
    w.env.push(("ORBSIM_FAULTS".into(), "push-tmp-view".into()));
    w.env.push((
        "ORBSIM_LOG".into(),
        w.path("calls.jsonl").to_string_lossy().into_owned(),
    ));
    let ops = |n: &str| {
        format!(
            "- put: {{ content: \"a{n}\\n\", dest: /tmp/od-a }}\n\
             - put: {{ content: \"b{n}\\n\", dest: /etc/od-b, mode: \"0640\" }}\n  become: true\n\
             - put: {{ content: \"c{n}\\n\", dest: /var/tmp/od-c }}\n"
        )
    };
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_string_lossy().into_owned();
    let look = "cat /tmp/od-a /etc/od-b /var/tmp/od-c; stat -c '%U %a' /etc/od-b";

    // Without the channel: every file arrives, and no staging directory is left anywhere.
    w.write("ops.yaml", ops("1"));
    w.orbdeploy(["apply", &inv, "--no-channel"]).assert_code(0);
    let got = w.sh(&m, Some("root"), look);
    got.assert_code(0);
    assert_eq!(got.stdout, "a1\nb1\nc1\nroot 640\n");
    assert_eq!(leftovers(&w, &m), "");
    // The pushes went beside each destination, none into /tmp (where this machine's push
    // loses them): the file for /tmp itself went through `run`.
    let pushes: Vec<String> = calls(&w)
        .into_iter()
        .filter(|a| a.first().is_some_and(|c| c == "push"))
        .filter_map(|a| a.last().cloned())
        .collect();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    for (dest, dir) in pushes.iter().zip(["/etc/", "/var/tmp/"]) {
        assert!(
            dest.starts_with(&format!("{dir}.orbdeploy-push.")) && dest.ends_with("/file"),
            "{dest} is not staged in {dir}"
        );
    }

    // With the channel (no push at all): the same, with new contents.
    w.write("ops.yaml", ops("2"));
    let before = calls(&w).len();
    w.orbdeploy(["apply", &inv]).assert_code(0);
    let got = w.sh(&m, Some("root"), look);
    assert_eq!(got.stdout, "a2\nb2\nc2\nroot 640\n");
    assert_eq!(leftovers(&w, &m), "");
    assert!(
        !calls(&w)[before..].iter().any(|a| a[0] == "push"),
        "the channel pushed"
    );
}

#[test]
fn a_mount_added_to_an_existing_machine_is_set_as_the_whole_list() {
    let mut w = World::new("addmount");
    let m = w.name("a");
    let (one, two) = (w.path("one"), w.path("two"));
    for d in [&one, &two] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(
            d.join("f"),
            d.file_name().unwrap().to_string_lossy().as_bytes(),
        )
        .unwrap();
    }
    let (one, two) = (
        std::fs::canonicalize(one).unwrap(),
        std::fs::canonicalize(two).unwrap(),
    );
    let first = format!("{}:/one", one.display());
    let second = format!("{}:/two", two.display());
    w.orbctl(["create", "--mount", &first, "debian:bookworm", &m])
        .assert_code(0);
    w.env.push((
        "ORBSIM_LOG".into(),
        w.path("calls.jsonl").to_string_lossy().into_owned(),
    ));
    w.write("ops.yaml", "- shell: \"true\"\n");
    let inv = w.write(
        "inv.yaml",
        format!(
            "machines:\n  {m}: {{ mounts: ['{first}', '{second}'], restart_for_settings: true }}\noperations: ops.yaml\n"
        ),
    );
    w.orbdeploy(["apply", &inv.to_string_lossy()])
        .assert_code(0);
    let config: Vec<Vec<String>> = calls(&w)
        .into_iter()
        .filter(|a| {
            a.first().is_some_and(|c| c == "config") && a.get(1).is_some_and(|s| s != "show")
        })
        .collect();
    assert_eq!(
        config,
        vec![vec![
            "config".to_string(),
            "set".into(),
            format!("machine.{m}.mounts"),
            format!("{first},{second}"),
        ]],
        "one `config set` of the whole list, no `config add`"
    );
    let inside = w.sh(&m, None, "cat /one/f /two/f");
    inside.assert_code(0);
    assert_eq!(inside.stdout, "onetwo");
}

/// SIGINT or SIGTERM at each delay (ms) into a `--no-channel` run that pushes a 3 MB file
/// beside each destination (the default user's in /var/tmp, root's in /etc): exit 130, each
/// file old or new and whole, and no staging directory left beside either (the removal
/// after a failure or an interrupt, tests/faults.rs checks the same for /tmp).
#[test]
fn an_interrupted_push_leaves_nothing_beside_the_destination() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let w = World::new("pushint");
    let m = w.name("i");
    w.create(&m);
    let size = 3usize << 20;
    w.write("files/big", vec![b'n'; size]);
    w.write(
        "ops.yaml",
        "- put: { src: files/big, dest: /var/tmp/big }\n\
         - put: { src: files/big, dest: /etc/big }\n  become: true\n\
         - shell: \"sleep 30\"\n",
    );
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    let inv = inv.to_string_lossy().into_owned();
    let spawn = || {
        Command::new(harness::orbdeploy_bin())
            .args(["apply", &inv, "--no-channel"])
            .env("ORBSIM_HOME", &w.home)
            .env("ORBDEPLOY_ORBCTL", &w.orbctl)
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .current_dir(w.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("orbdeploy starts")
    };
    let mut caught = 0;
    let delays = [60u64, 100, 140, 180, 240, 320, 450, 700];
    for (i, delay) in delays.iter().enumerate() {
        w.sh(
            &m,
            Some("root"),
            &format!("for f in /var/tmp/big /etc/big; do head -c {size} /dev/zero | tr '\\0' o > $f; done; chown dev /var/tmp/big"),
        )
        .assert_code(0);
        let mut child = spawn();
        std::thread::sleep(Duration::from_millis(*delay));
        let signal = if i % 2 == 0 { "-INT" } else { "-TERM" };
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "orbdeploy did not end"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // A very early signal may land before the handler is installed.
        if status.code().is_none() {
            continue;
        }
        assert_eq!(status.code(), Some(130), "{signal} after {delay} ms");
        caught += 1;
        let check = w.sh(
            &m,
            Some("root"),
            "for f in /var/tmp/big /etc/big; do echo \"$(head -c 1 $f) $(wc -c < $f)\"; done; ls -A /var/tmp /etc | grep -c orbdeploy-push || true",
        );
        let lines: Vec<&str> = check.stdout.lines().collect();
        for l in &lines[..2] {
            assert!(
                *l == format!("o {size}") || *l == format!("n {size}"),
                "a file is old or new and whole after {signal} at {delay} ms: {lines:?}"
            );
        }
        assert_eq!(
            lines[2], "0",
            "a staging directory was left after {signal} at {delay} ms"
        );
    }
    assert!(
        caught + 1 >= delays.len(),
        "only {caught} interruptions reached the handler"
    );
}
