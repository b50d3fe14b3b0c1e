//! Every distro word of orbctl, its versions and errors; the 2026 create faults and the
//! stopped-service hang; `NAME.orb.local` inside machines.

mod sim;

use std::time::{Duration, Instant};

use sim::Sim;

/// (word, image name, default version, variant) as orbctl reports them (docs/orbctl.md §6).
const WORDS: &[(&str, &str, &str, &str)] = &[
    ("alma", "almalinux", "9", "default"),
    ("alpine", "alpine", "3.22", "default"),
    ("arch", "archlinux", "current", "default"),
    ("centos", "centos", "9-Stream", "default"),
    ("debian", "debian", "bookworm", "default"),
    ("devuan", "devuan", "daedalus", "default"),
    ("fedora", "fedora", "42", "default"),
    ("gentoo", "gentoo", "current", "openrc"),
    ("kali", "kali", "current", "default"),
    ("nixos", "nixos", "25.05", "default"),
    ("openeuler", "openeuler", "25.03", "default"),
    ("opensuse", "opensuse", "15.6", "default"),
    ("oracle", "oracle", "9", "default"),
    ("rocky", "rockylinux", "9", "default"),
    ("ubuntu", "ubuntu", "plucky", "default"),
    ("void", "voidlinux", "current", "default"),
];

fn ip4(s: &Sim, name: &str) -> String {
    s.json(&["info", name, "-f", "json"])["ip4"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no ip4"))
        .to_string()
}

#[test]
fn every_distro_word_is_created_listed_and_shown_like_orbctl() {
    let s = Sim::new();
    for (word, ..) in WORDS {
        // No name: the machine is named after the word, as orbctl does.
        let o = s.orbctl(&["create", word]);
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "create {word}");
    }
    let list = s.json(&["list", "-f", "json"]);
    let records = list.as_array().expect("an array");
    assert_eq!(records.len(), WORDS.len());
    let text = s.orbctl(&["list"]).ok().stdout.clone();
    for ((word, image, version, variant), rec) in WORDS.iter().zip(records) {
        assert_eq!(rec["name"], *word);
        assert_eq!(rec["image"]["distro"], *image, "{word}");
        assert_eq!(rec["image"]["version"], *version, "{word}");
        assert_eq!(rec["image"]["variant"], *variant, "{word}");
        assert_eq!(rec["state"], "running");
        let info = s.json(&["info", word, "-f", "json"]);
        assert_eq!(info["record"], *rec, "info -f json of {word}");
        let shown = s.orbctl(&["info", word]).ok().stdout.clone();
        assert!(
            shown.contains(&format!("\nDistro: {image}\nVersion: {version}\n")),
            "{shown}"
        );
        let row = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(word))
            .unwrap_or_else(|| panic!("no list row for {word}:\n{text}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[1..4], ["running", image, version], "{row}");
        // The one place that says whether the machine is a stand-in.
        let marker = s.sh(
            word,
            "cat /etc/orbsim-image; . /etc/os-release; echo os=$ID",
        );
        let stand_in = if *word == "debian" { "no" } else { "yes" };
        assert!(
            marker.ok().stdout.contains(&format!(
                "distro={image}\nversion={version}\narch=amd64\nroot=debian-bookworm-amd64\nstand_in={stand_in}\n"
            )),
            "{word}: {}",
            marker.stdout
        );
        assert!(
            marker.stdout.ends_with("os=debian\n"),
            "os-release stays Debian's"
        );
    }
}

#[test]
fn versions_and_aliases_resolve_like_the_server() {
    let s = Sim::new();
    let cases = [
        ("ubuntu:22.04", "ubuntu", "jammy"),
        ("ubuntu:noble", "ubuntu", "noble"),
        ("ubuntu:26.04", "ubuntu", "resolute"),
        ("debian:12", "debian", "bookworm"),
        ("devuan:4", "devuan", "chimaera"),
        ("alpine:3.20", "alpine", "3.20"),
        ("fedora:41", "fedora", "41"),
        ("rocky:8", "rockylinux", "8"),
    ];
    for (i, (spec, image, version)) in cases.iter().enumerate() {
        let name = format!("v{i}");
        s.orbctl(&["create", spec, &name]).ok();
        let rec = s.json(&["info", &name, "-f", "json"]);
        assert_eq!(rec["record"]["image"]["distro"], *image, "{spec}");
        assert_eq!(rec["record"]["image"]["version"], *version, "{spec}");
    }
    // -c gives the cloud variant where the distro has one.
    let script = s.path("setup.sh");
    std::fs::write(&script, "#!/bin/sh\ntouch /etc/ran\n").unwrap();
    s.orbctl(&["create", "-c", script.to_str().unwrap(), "ubuntu", "cloud1"])
        .ok();
    let rec = s.json(&["info", "cloud1", "-f", "json"]);
    assert_eq!(rec["record"]["image"]["variant"], "cloud");
    s.sh("cloud1", "test -e /etc/ran").ok();
}

#[test]
fn unknown_distros_versions_and_cloud_init_fail_like_orbctl() {
    let s = Sim::new();
    let o = s.orbctl(&["create", "amazon"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with(
            "Error: invalid distro: amazon\nUsage:\n  orbctl create [flags] DISTRO[:VERSION] [MACHINE_NAME]\n"
        ),
        "{}",
        o.stderr
    );
    // focal is still aliased but gone from the index (real #2152).
    for (spec, text) in [
        ("ubuntu:20.04", "{ubuntu focal amd64 default}"),
        ("ubuntu:focal", "{ubuntu focal amd64 default}"),
        ("fedora:38", "{fedora 38 amd64 default}"),
        ("debian:jessie", "{debian jessie amd64 default}"),
        ("gentoo:2020", "{gentoo 2020 amd64 openrc}"),
    ] {
        let o = s.orbctl(&["create", spec, "bad1"]);
        assert_eq!(
            (o.code, o.stdout.as_str(), o.stderr.clone()),
            (
                1,
                "",
                format!("[-32098] create 'bad1': make rootfs: image not found: {text}\n")
            ),
            "{spec}"
        );
    }
    let script = s.path("user-data");
    std::fs::write(&script, "#cloud-config\n").unwrap();
    let o = s.orbctl(&["create", "-c", script.to_str().unwrap(), "arch", "a1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "[-32098] create 'a1': cloud-init not supported for 'archlinux'\n"
        )
    );
    // orbctl reads the file itself, before it calls the server.
    let o = s.orbctl(&["create", "-c", "missing.yaml", "ubuntu", "a2"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "open missing.yaml: no such file or directory\n")
    );
    let mut strict = Sim::new();
    strict.env.push(("ORBSIM_IMAGES_STRICT".into(), "1".into()));
    let o = strict.orbctl(&["create", "ubuntu", "u1"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "[-32098] create 'u1': image not available in orbsim: ubuntu (ORBSIM_IMAGES_STRICT=1: orbsim provides debian only)\n"
    );
    assert_eq!(s.orbctl(&["list", "-f", "json"]).stdout, "[]\n");
    assert_eq!(strict.orbctl(&["list", "-f", "json"]).stdout, "[]\n");
}

/// Debian suites are real debootstrapped roots; one that cannot be debootstrapped (buster
/// is archived, gone from deb.debian.org) falls back to the stand-in, and says so.
#[test]
fn debian_suites_are_real_roots_and_an_unbuildable_one_is_a_stand_in() {
    let s = Sim::new();
    s.orbctl(&["create", "debian:13", "trixie1"]).ok();
    let o = s.sh(
        "trixie1",
        "grep -E '^(root|stand_in)=' /etc/orbsim-image; cut -d. -f1 /etc/debian_version",
    );
    assert_eq!(
        o.ok().stdout,
        "root=debian-trixie-amd64\nstand_in=no\n13\n",
        "debian:13 must run on a real trixie root"
    );
    let o = s.orbctl(&["create", "debian:10", "buster1"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("debian buster cannot be debootstrapped here")
            && o.stderr
                .contains("runs on the debian bookworm root instead"),
        "{}",
        o.stderr
    );
    let rec = s.json(&["info", "buster1", "-f", "json"]);
    assert_eq!(rec["record"]["image"]["version"], "buster");
    let o = s.sh(
        "buster1",
        "grep -E '^(version|root|stand_in)=' /etc/orbsim-image",
    );
    assert_eq!(
        o.ok().stdout,
        "version=buster\nroot=debian-bookworm-amd64\nstand_in=yes\n"
    );
}

// ---------- 2026 create errors (docs/orbctl.md §11.5) ----------

#[test]
fn every_create_error_fault_prints_orbctls_words_and_leaves_no_machine() {
    let mut s = Sim::new();
    let cases = [
        ("index-timeout", "make rootfs: fetch index: decode index: jsontext: read error: context deadline exceeded"),
        ("rootfs-eof", "make rootfs: download rootfs: stream to file: unexpected EOF"),
        ("image-404", "make rootfs: download metadata: GET download status: 404 Not Found"),
        ("bad-gateway", "make rootfs: download metadata: GET download status: 502 Bad Gateway"),
        ("header-timeout", "make rootfs: download metadata: net/http: timeout awaiting response headers"),
        ("image-not-found", "make rootfs: image not found: {ubuntu jammy amd64 default}"),
        ("no-virt", "vm config get max ipa size: unsupported"),
    ];
    for (kind, text) in cases {
        s.env = vec![(
            "ORBSIM_FAULTS".into(),
            format!("create-error={kind},create-error-after=0.2"),
        )];
        let started = Instant::now();
        let o = s.orbctl(&["create", "ubuntu:22.04", "e1"]);
        assert_eq!(
            (o.code, o.stdout.as_str(), o.stderr.clone()),
            (1, "", format!("[-32098] create 'e1': {text}\n")),
            "{kind}"
        );
        assert!(started.elapsed() >= Duration::from_millis(200), "{kind}");
    }
    s.env.clear();
    assert_eq!(s.orbctl(&["list", "-f", "json"]).stdout, "[]\n");
    // A name or distro error still comes first, as the server checks them before the image.
    s.env = vec![("ORBSIM_FAULTS".into(), "create-error=rootfs-eof".into())];
    let o = s.orbctl(&["create", "ubuntu", "_bad"]);
    assert_eq!(
        o.stderr,
        "[-32098] create '_bad': invalid machine name '_bad'\n"
    );
}

#[test]
fn create_error_times_lets_a_client_retry_into_success() {
    let mut s = Sim::new();
    s.env = vec![(
        "ORBSIM_FAULTS".into(),
        "create-error=rootfs-eof,create-error-times=2".into(),
    )];
    for _ in 0..2 {
        let o = s.orbctl(&["create", "debian", "retry1"]);
        assert_eq!(
            o.stderr,
            "[-32098] create 'retry1': make rootfs: download rootfs: stream to file: unexpected EOF\n"
        );
    }
    s.orbctl(&["create", "debian", "retry1"]).ok();
    s.env.clear();
    assert_eq!(
        s.json(&["info", "retry1", "-f", "json"])["record"]["state"],
        "running"
    );
}

/// Runs `orbctl ARGS` and reports whether it was still running after `wait` (it is killed).
fn blocks(s: &Sim, args: &[&str], wait: Duration) -> bool {
    let mut child = s
        .command("orbctl", args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn orbctl");
    std::thread::sleep(wait);
    let still_running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    still_running
}

#[test]
fn fault_stopped_hang_blocks_list_and_info_while_status_says_stopped() {
    let mut s = Sim::new();
    s.env = vec![("ORBSIM_FAULTS".into(), "stopped-hang".into())];
    let started = Instant::now();
    let o = s.orbctl(&["status"]);
    assert_eq!((o.code, o.stdout.as_str()), (1, "Stopped\n"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "status answers at once"
    );
    let o = s.orbctl(&["stop", "x1"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (0, "OrbStack is not running\n")
    );
    for args in [
        &["list", "-f", "json"][..],
        &["info", "x1"],
        &["start", "x1"],
        &["run", "-m", "x1", "true"],
    ] {
        assert!(
            blocks(&s, args, Duration::from_millis(700)),
            "{args:?} must block until killed"
        );
    }
}

// ---------- NAME.orb.local ----------

#[test]
fn machines_resolve_each_other_as_name_orb_local() {
    let s = Sim::new();
    s.create("dns-a");
    s.create("dns-b");
    s.orbctl(&["create", "--isolated", "debian", "dns-iso"])
        .ok();
    let (a, b) = (ip4(&s, "dns-a"), ip4(&s, "dns-b"));
    let lookup = "getent hosts dns-a.orb.local dns-b.orb.local | awk '{print $1, $2}'";
    let want = format!("{a} dns-a.orb.local\n{b} dns-b.orb.local\n");
    assert_eq!(s.sh("dns-a", lookup).ok().stdout, want);
    assert_eq!(s.sh("dns-b", lookup).ok().stdout, want);
    // Isolated machines still have .orb.local names (docs/orbctl.md §5.3).
    assert_eq!(s.sh("dns-iso", lookup).ok().stdout, want);
    s.sh("dns-a", "busybox httpd -p 8080 -h /etc").ok();
    let o = s.sh(
        "dns-b",
        "busybox wget -q -O- http://dns-a.orb.local:8080/hostname",
    );
    assert_eq!(o.ok().stdout, "dns-a\n");
    // A line of the user's own survives; a stopped machine's name goes away, and comes
    // back with its new start.
    s.orbctl(&[
        "run",
        "-m",
        "dns-a",
        "-u",
        "root",
        "sh",
        "-c",
        "echo '10.9.9.9 mine' >> /etc/hosts",
    ])
    .ok();
    s.orbctl(&["stop", "dns-b"]).ok();
    // (grep, not getent: a name not in /etc/hosts goes on to the host's DNS server, whose
    // answer for .orb.local can take seconds.)
    let o = s.sh(
        "dns-a",
        "grep -c dns-b.orb.local /etc/hosts; getent hosts mine",
    );
    assert_eq!(o.stdout, "0\n10.9.9.9        mine\n", "{}", o.stderr);
    s.orbctl(&["start", "dns-b"]).ok();
    let b = ip4(&s, "dns-b");
    let o = s.sh("dns-a", "getent hosts dns-b.orb.local | awk '{print $1}'");
    assert_eq!(o.ok().stdout, format!("{b}\n"));
    assert_eq!(
        s.sh("dns-b", "getent hosts dns-a.orb.local | awk '{print $1}'")
            .stdout,
        format!("{a}\n")
    );
    s.orbctl(&["rename", "dns-b", "dns-c"]).ok();
    let o = s.sh("dns-a", "getent hosts dns-c.orb.local | awk '{print $1}'");
    assert_eq!(o.ok().stdout, format!("{b}\n"));
}
