//! The transports (persistent channel and one-shot, over orbctl and over ssh to a real
//! sshd) against a real orbsim machine: same results for commands, stdin, binary output,
//! users, timeouts and file transfers.

use crate::harness;
use crate::harness::sshbed;

use std::time::{Duration, Instant};

use harness::World;
use orbdeploy::orb::Orb;
use orbdeploy::remote::channel::Channel;
use orbdeploy::remote::oneshot::OneShot;
use orbdeploy::remote::{self, Exec, Reach, Remote, Transport, WriteFile};

fn exercise(w: &World, remote: &mut dyn Remote, tag: &str) {
    // stdout and stderr apart, exit status kept.
    let out = remote
        .exec(&Exec::script("echo out; echo err >&2; exit 3"))
        .expect("exec");
    assert_eq!(
        (out.status, out.stdout_text(), out.stderr_text()),
        (3, "out\n".into(), "err\n".into()),
        "{tag}"
    );

    // Users and working directory.
    let out = remote
        .exec(&Exec {
            script: "id -un; pwd".into(),
            user: Some("root".into()),
            workdir: Some("/tmp".into()),
            ..Exec::default()
        })
        .expect("exec as root");
    assert_eq!(out.stdout_text(), "root\n/tmp\n", "{tag}");
    let out = remote.exec(&Exec::script("id -un")).expect("default user");
    assert_eq!(out.stdout_text(), "dev\n", "{tag}");
    let missing_dir = remote
        .exec(&Exec {
            script: "true".into(),
            workdir: Some("/no/such dir".into()),
            ..Exec::default()
        })
        .expect("exec");
    assert_ne!(
        missing_dir.status, 0,
        "{tag}: a missing workdir is an error"
    );

    // Environment values with hostile characters, and stdin bytes.
    let out = remote
        .exec(&Exec {
            script: "printf '%s' \"$V\"; cat".into(),
            env: vec![("V".into(), "a 'b' $c\n;d".into())],
            stdin: b"\x00\x01binary\xff".to_vec(),
            ..Exec::default()
        })
        .expect("env and stdin");
    assert_eq!(
        out.stdout,
        b"a 'b' $c\n;d\x00\x01binary\xff".to_vec(),
        "{tag}"
    );

    // A probe: the probe library is there, the status is kept, stderr comes back (within
    // the text on the channel, apart on the one-shot path).
    let out = remote
        .exec(&Exec {
            script: "__od_kind / -d dir x; __od_stat /no/such x; echo err >&2; (exit 3)".into(),
            probe: true,
            ..Exec::default()
        })
        .expect("probe");
    assert_eq!(out.status, 3, "{tag}");
    let text = format!("{}{}", out.stdout_text(), out.stderr_text());
    assert!(
        text.starts_with(".kind dir\n.stat missing\n") && text.contains("err"),
        "{tag}: {text:?}"
    );

    // A probe with user code in it (`unless:`) runs apart: its `exit` and its syntax
    // errors end only itself (the channel's session count is checked by the caller).
    let isolated = |script: &str| Exec {
        script: script.into(),
        probe: true,
        isolate: true,
        ..Exec::default()
    };
    let out = remote.exec(&isolated("echo .a; exit 4")).expect("probe");
    assert_eq!((out.status, out.stdout_text().trim()), (4, ".a"), "{tag}");
    let out = remote.exec(&isolated("if then fi")).expect("probe");
    assert_ne!(out.status, 0, "{tag}: a syntax error fails the probe");

    // Probes one after the other share nothing: the channel runs them in its agent, which
    // forgets the hashes and answers of the batch before.
    let first = remote
        .exec(&Exec {
            script: format!(
                "__od_sums='{}  /etc/hostname'; __od_memo_line 7 /etc/hostname x {} 5; echo \"$__od_sx_7\"",
                "0".repeat(64),
                "0".repeat(32)
            ),
            probe: true,
            ..Exec::default()
        })
        .expect("probe");
    assert_eq!(first.stdout_text().trim(), "5", "{tag}");
    let next = remote
        .exec(&Exec {
            script: "__od_key=7; __od_lx /etc/hostname no-such-line; __od_known /etc/hostname || echo .fresh".into(),
            probe: true,
            ..Exec::default()
        })
        .expect("probe");
    assert_eq!(next.stdout_text(), ".exists 1\n.exact 0\n.fresh\n", "{tag}");

    // Scripts of every size (the channel reads long ones differently from short ones).
    for len in [10usize, 1000, 1100, 1530, 1540, 70_000, 200_000] {
        let out = remote
            .exec(&Exec::script(format!("# {}\necho {len}", "x".repeat(len))))
            .expect("long script");
        assert_eq!(out.stdout_text(), format!("{len}\n"), "{tag}");
    }

    // Binary output, byte for byte.
    let out = remote
        .exec(&Exec::script("head -c 300000 /dev/urandom | tee /tmp/rnd-$$ | sha256sum | cut -c1-64; cat /tmp/rnd-$$; rm /tmp/rnd-$$"))
        .expect("binary");
    let (sum, body) = out.stdout.split_at(65);
    use sha2::Digest;
    let mine = format!("{:x}", sha2::Sha256::digest(body));
    assert_eq!(String::from_utf8_lossy(&sum[..64]), mine, "{tag}");

    // A timeout kills the request and everything it started; the connection stays usable.
    let started = Instant::now();
    let err = remote
        .exec(&Exec {
            script: format!("sleep 300 & echo $! > /tmp/{tag}-bg; sleep 300"),
            timeout: Some(Duration::from_secs(1)),
            ..Exec::default()
        })
        .expect_err("times out");
    assert!(err.to_string().contains("timed out"), "{tag}: {err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{tag}");
    std::thread::sleep(Duration::from_millis(300));
    let out = remote
        // A zombie is dead too: over ssh the orphans go to the machine's init, which may
        // take its time to reap them.
        .exec(&Exec::script(format!(
            "p=$(cat /tmp/{tag}-bg); if kill -0 $p 2>/dev/null && ! grep -q '^State:.*Z' /proc/$p/status; then echo alive; else echo dead; fi"
        )))
        .expect("usable after timeout");
    assert_eq!(
        out.stdout_text(),
        "dead\n",
        "{tag}: the background child of a timed-out step is killed"
    );

    // Files: atomic write with mode and owner, read back exactly.
    let content: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let dest = format!("/etc/{tag} file's name");
    remote
        .write_file(
            &WriteFile {
                path: dest.clone(),
                user: Some("root".into()),
                mode: 0o640,
                owner: Some("dev".into()),
                group: Some("root".into()),
                len: content.len() as u64,
            },
            &mut content.as_slice(),
        )
        .expect("write_file");
    let stat = w.sh(
        remote.machine(),
        Some("root"),
        &format!("stat -c '%a %U %G' \"{dest}\"; ls -a /etc | grep -c orbdeploy || true"),
    );
    assert_eq!(stat.stdout, "640 dev root\n0\n", "{tag}");
    let mut back = Vec::new();
    let n = remote
        .read_file(&dest, Some("root"), &mut back)
        .expect("read_file");
    assert_eq!(
        (n as usize, back == content),
        (content.len(), true),
        "{tag}"
    );
    let mut back = Vec::new();
    remote
        .read_file(&dest, None, &mut back)
        .expect("default user reads 0640 dev-owned file");
    assert!(back == content, "{tag}");
    let err = remote
        .read_file("/no/such/file", None, &mut Vec::new())
        .expect_err("missing file");
    assert!(err.to_string().contains("/no/such/file"), "{tag}: {err}");
    remote.close();
}

#[test]
fn channel_and_oneshot_behave_the_same() {
    let w = World::new("transport");
    let m = w.name("t");
    w.create(&m);
    let orb = Orb::new(w.orbctl_wrapper(""));
    let mut ch = Channel::new(&orb, &m);
    exercise(&w, &mut ch, "channel");
    assert_eq!(
        ch.sessions_opened(),
        2,
        "one session per user (default, root)"
    );
    let mut one = OneShot::new(&orb, &m);
    exercise(&w, &mut one, "oneshot");
    // The agent leaves nothing behind on the machine (its directories are in /tmp and
    // /dev/shm).
    let left = w.sh(
        &m,
        Some("root"),
        "ls /tmp /dev/shm | grep -c orbdeploy || true",
    );
    assert_eq!(left.stdout, "0\n");
}

#[test]
fn channel_reopens_a_dead_session_once_and_reports_a_missing_machine() {
    let w = World::new("transport-dead");
    let m = w.name("d");
    w.create(&m);
    let orb = Orb::new(w.orbctl_wrapper(""));
    let mut ch = Channel::new(&orb, &m);
    assert_eq!(
        ch.exec(&Exec::script("echo one")).unwrap().stdout_text(),
        "one\n"
    );
    // Someone kills the session's shell on the machine: the next request reopens.
    w.sh(&m, Some("root"), "pkill -KILL -f orbdeploy-agent || true");
    std::thread::sleep(Duration::from_millis(300));
    let out = ch.exec(&Exec::script("echo two")).expect("reopened");
    assert_eq!(out.stdout_text(), "two\n");
    assert_eq!(ch.sessions_opened(), 2);
    ch.close();

    let mut gone = Channel::new(&orb, &w.name("never-created"));
    let err = gone.exec(&Exec::script("true")).expect_err("no machine");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// The third transport: ssh to a real sshd in an orbsim machine, channel and one-shot,
/// gives the same results; one authentication (the master) per connection, one session
/// per user on the channel, no ssh process once closed.
#[test]
fn ssh_behaves_like_the_other_transports() {
    let w = World::new("transport-ssh");
    let bed = sshbed::SshBed::start(&w, 1);
    let h = &bed.hosts[0];
    assert_eq!(h.user, "dev", "the bed's default user is the machine's");
    let target = h.ssh_target();
    let mut ch = remote::connect(
        Reach::Ssh(&target),
        &h.name,
        Transport::Channel,
        &Default::default(),
    );
    exercise(&w, ch.as_mut(), "ssh-channel");
    drop(ch);
    assert_eq!(bed.auth_count(h), 1, "one master, one login");
    assert_eq!(
        bed.session_count(h),
        2,
        "one session per user (dev, root through sudo)\n{}",
        bed.sshd_log(h)
    );
    let left = bed.wait_no_ssh_processes(Duration::from_secs(5));
    assert!(left.is_empty(), "ssh processes left: {left:?}");

    let mut one = remote::connect(
        Reach::Ssh(&target),
        &h.name,
        Transport::OneShot,
        &Default::default(),
    );
    exercise(&w, one.as_mut(), "ssh-oneshot");
    drop(one);
    assert_eq!(bed.auth_count(h), 2, "one more master, no login per call");
    let left = bed.wait_no_ssh_processes(Duration::from_secs(5));
    assert!(left.is_empty(), "ssh processes left: {left:?}");
    let left = w.sh(
        &h.name,
        Some("root"),
        "ls /tmp /dev/shm | grep -c orbdeploy || true",
    );
    assert_eq!(left.stdout, "0\n");
}
