//! The transfer kinds end to end against real orbsim machines — `sync`, `git`, `download`
//! — on the persistent channel and on the one-shot path (`--no-channel`): the first apply
//! changes, the second changes nothing (read from the `--report` JSON), `plan` changes
//! nothing (read back from the machine), diffs, failures, hostile names, credentials that
//! never show, and what a no-change re-apply costs in requests. The git repositories and
//! the files are served from the host through `/mnt/mac` (`file://`) and by another
//! orbsim machine (busybox httpd); git itself is installed in the machine with apt.

use crate::harness;

use harness::{summary_count as count, Run, World};
use serde_json::Value;

/// Each step's status by name, in order.
fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["machines"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// One transport: orbdeploy's arguments get `--no-channel` on the one-shot path.
struct Via<'a> {
    w: &'a World,
    channel: bool,
}

impl Via<'_> {
    fn name(&self) -> &'static str {
        if self.channel {
            "channel"
        } else {
            "oneshot"
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if !self.channel {
            all.push("--no-channel".into());
        }
        self.w.orbdeploy(all)
    }

    /// `apply` (or `plan`) with a report; asserts the exit code; the report and stdout.
    fn reported(&self, cmd: &str, inv: &str, label: &str, code: i32) -> (Value, String) {
        let file = format!("{label}-{}.json", self.name());
        let out = self.run(&[cmd, inv, "--report", &file]);
        out.assert_code(code);
        (self.w.report(&file), out.stdout)
    }

    /// Every step of the report has status `want`.
    fn all_are(&self, doc: &Value, want: &str, stdout: &str) {
        for (name, status) in statuses(doc) {
            assert_eq!(status, want, "{}: step `{name}`\n{stdout}", self.name());
        }
    }
}

/// `s` as one word for a shell.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn both(w: &World) -> [Via<'_>; 2] {
    [Via { w, channel: true }, Via { w, channel: false }]
}

fn inventory(w: &World, file: &str, m: &str, ops: &str) -> String {
    w.write(&format!("{file}.ops.yaml"), ops);
    let inv = w.write(
        &format!("{file}.yaml"),
        format!("machines:\n  {m}: {{}}\noperations: {file}.ops.yaml\n"),
    );
    inv.to_string_lossy().into_owned()
}

/// The local tree of the sync tests: hostile names, an executable, a link, a nested
/// directory, and paths the excludes leave out.
fn dotfiles(w: &World) {
    w.write("dots/.bashrc", "alias ll='ls -l'\n");
    w.write("dots/it's a \"file\" $x;y", "hostile\n");
    w.write("dots/sub dir/nested.txt", "nested\n");
    w.write("dots/bin/tool", "#!/bin/sh\necho tool\n");
    w.write("dots/cache/x.tmp", "excluded\n");
    w.write("dots/skip/inside", "excluded dir\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        w.path("dots/bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink(".bashrc", w.path("dots/link")).unwrap();
}

const SYNC_STATE: &str = "cd \"$D\" && find . -printf '%y %m %u %p %l\\n' | LC_ALL=C sort; \
     cat .bashrc \"it's a \\\"file\\\" \\$x;y\"";

#[test]
fn sync_converges_deletes_excludes_and_diffs_on_both_transports() {
    let w = World::new("sync");
    let m = w.name("s");
    w.create(&m);
    dotfiles(&w);
    for via in both(&w) {
        let dest = format!("/home/dev/it's {} $d;x", via.name());
        let ops = format!(
            "- name: dotfiles\n  sync: {{ src: dots, dest: \"{dest}\", delete: true, exclude: [\"*.tmp\", skip] }}\n"
        );
        let inv = inventory(&w, &format!("sync-{}", via.name()), &m, &ops);
        let env = format!("D={}", sq(&dest));
        // On the machine: a file to replace, one to delete, one an exclude keeps.
        w.sh(
            &m,
            None,
            &format!("{env}; mkdir -p \"$D\" && cd \"$D\" && echo old > .bashrc && touch extra.txt keep.tmp"),
        )
        .assert_code(0);

        let (plan, _) = via.reported("plan", &inv, "plan", 0);
        via.all_are(&plan, "will_change", "");
        let diff = via.run(&["plan", &inv, "--diff"]);
        diff.assert_code(0);
        assert!(
            diff.stdout.contains("-old") && diff.stdout.contains("+alias ll='ls -l'"),
            "{}",
            diff.stdout
        );
        let before = w.sh(&m, None, &format!("{env}; cd \"$D\" && ls -A"));
        assert_eq!(
            before.stdout, ".bashrc\nextra.txt\nkeep.tmp\n",
            "plan changed the machine"
        );

        let (first, stdout) = via.reported("apply", &inv, "first", 0);
        via.all_are(&first, "changed", &stdout);
        assert!(stdout.contains("delete /home/dev/it's"), "{stdout}");
        let state = w.sh(&m, None, &format!("{env}; {SYNC_STATE}"));
        state.assert_code(0);
        assert_eq!(
            state.stdout,
            "d 755 dev . \n\
             d 755 dev ./bin \n\
             d 755 dev ./cache \n\
             d 755 dev ./sub dir \n\
             f 644 dev ./.bashrc \n\
             f 644 dev ./it's a \"file\" $x;y \n\
             f 644 dev ./keep.tmp \n\
             f 644 dev ./sub dir/nested.txt \n\
             f 755 dev ./bin/tool \n\
             l 777 dev ./link .bashrc\n\
             alias ll='ls -l'\nhostile\n",
            "{}",
            via.name()
        );

        let (second, stdout) = via.reported("apply", &inv, "second", 0);
        assert_eq!(count(&second, "changed"), 0, "{stdout}");
        via.all_are(&second, "ok", &stdout);
        via.run(&["plan", &inv, "--exit-code"]).assert_code(0);
    }
}

/// A path the machine has as a directory where `src` has a file is not replaced without
/// `delete: true`: the step fails and says why; nothing else changed.
#[test]
fn sync_refuses_to_replace_a_directory_without_delete() {
    let w = World::new("syncconf");
    let m = w.name("c");
    w.create(&m);
    w.write("tree/conflict", "a file here\n");
    w.write("tree/other", "x\n");
    w.sh(&m, None, "mkdir -p /tmp/conf/conflict/inside")
        .assert_code(0);
    let inv = inventory(
        &w,
        "conf",
        &m,
        "- name: tree\n  sync: { src: tree, dest: /tmp/conf }\n",
    );
    for via in both(&w) {
        let out = via.run(&["apply", &inv]);
        out.assert_code(1);
        assert!(
            out.stdout.contains(
                "/tmp/conf/conflict is a directory on the machine and not in src; remove it or set `delete: true` to replace it"
            ),
            "{}",
            out.stdout
        );
        let left = w.sh(&m, None, "ls -A /tmp/conf");
        assert_eq!(left.stdout, "conflict\n", "{}", via.name());
    }
}

/// A 2,000-file tree: the first apply is one probe and one request carrying the archive;
/// a no-change re-apply is one probe, counted as requests on the channel
/// (`ORBDEPLOY_TRACE_DIR`) and as orbctl calls on the one-shot path (`ORBSIM_LOG`).
#[test]
fn sync_of_2000_files_reapplies_with_one_probe() {
    let w = World::new("sync2k");
    let m = w.name("k");
    w.create(&m);
    for d in 0..40 {
        for f in 0..50 {
            w.write(
                &format!("big/d{d:02}/f{f:02}.txt"),
                format!("file {d} {f}\n"),
            );
        }
    }
    let inv = inventory(
        &w,
        "big",
        &m,
        "- name: big tree\n  sync: { src: big, dest: /srv/big, delete: true }\n  become: true\n",
    );
    let traced = |label: &str, expect_changed: u64| -> usize {
        let dir = w.path(&format!("trace-{label}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = std::process::Command::new(harness::orbdeploy_bin());
        cmd.args(["apply", &inv, "--report", &format!("{label}.json")])
            .env("ORBSIM_HOME", &w.home)
            .env("ORBDEPLOY_ORBCTL", &w.orbctl)
            .env("ORBDEPLOY_TRACE_DIR", &dir)
            .env("CI", "1")
            .current_dir(w.dir.path());
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            count(&w.report(&format!("{label}.json")), "changed"),
            expect_changed
        );
        std::fs::read_dir(&dir).unwrap().count()
    };
    assert_eq!(traced("first", 1), 2, "first apply: one probe, one archive");
    assert_eq!(traced("again", 0), 1, "re-apply: one probe");
    let files = w.sh(&m, Some("root"), "find /srv/big -type f | wc -l");
    assert_eq!(files.stdout.trim(), "2000");

    // The one-shot path: `orbctl list`, then one `orbctl run` for the probe.
    let log = w.path("calls.jsonl");
    let mut cmd = std::process::Command::new(harness::orbdeploy_bin());
    cmd.args(["apply", &inv, "--no-channel"])
        .env("ORBSIM_HOME", &w.home)
        .env("ORBDEPLOY_ORBCTL", &w.orbctl)
        .env("ORBSIM_LOG", &log)
        .env("CI", "1")
        .current_dir(w.dir.path());
    assert!(cmd.output().unwrap().status.success());
    let calls = std::fs::read_to_string(&log).unwrap();
    let runs = calls.lines().filter(|l| l.contains("\"run\"")).count();
    assert_eq!(runs, 1, "{calls}");

    // The first apply of the tree with --no-channel: its script (every path named) is over
    // 64 KiB, which the one-shot path sends on stdin, so the archive goes as a file.
    let again = inventory(
        &w,
        "big1",
        &m,
        "- name: big tree\n  sync: { src: big, dest: \"/srv/big one-shot\" }\n  become: true\n",
    );
    let via = Via {
        w: &w,
        channel: false,
    };
    let (first, stdout) = via.reported("apply", &again, "big1", 0);
    via.all_are(&first, "changed", &stdout);
    let files = w.sh(
        &m,
        Some("root"),
        "find '/srv/big one-shot' -type f | wc -l; ls -a '/srv/big one-shot' | grep -c orbdeploy",
    );
    assert_eq!(files.stdout, "2000\n0\n");
}

/// A bare repository on the host (owned by the machine's default user, uid 1000, as git
/// refuses to serve a repository someone else owns) with a branch `main` of two commits, an
/// annotated tag `v1` on the first; returns (the machine's URL, the tag's commit).
fn bare_repo(w: &World) -> (String, String) {
    let git = |dir: &std::path::Path, args: &[&str]| -> String {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git on the host");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let work = w.path("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    w.write("work/README", "one\n");
    git(&work, &["add", "README"]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "-a", "v1", "-m", "v1"]);
    let tagged = git(&work, &["rev-parse", "HEAD"]);
    w.write("work/README", "two\n");
    git(&work, &["commit", "-q", "-am", "two"]);
    git(&work, &["clone", "-q", "--bare", ".", "../repo.git"]);
    git(&work, &["remote", "add", "origin", "../repo.git"]);
    open_to_the_machine(w);
    (
        format!("file:///mnt/mac{}", w.path("repo.git").display()),
        tagged,
    )
}

/// The test's directory readable by the machine's users, the repository theirs.
fn open_to_the_machine(w: &World) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let st = std::process::Command::new("chown")
        .args(["-R", "1000:1000"])
        .arg(w.path("repo.git"))
        .status()
        .unwrap();
    assert!(st.success());
}

/// A new commit on `main` in the bare repository, README saying `text`; returns it.
fn push_commit(w: &World, text: &str) -> String {
    w.write("work/README", text);
    let sh = format!(
        "cd '{}' && git -c user.name=t -c user.email=t@t commit -q -am next && chown -R 0:0 ../repo.git && git push -q origin HEAD:main && chown -R 1000:1000 ../repo.git && git rev-parse HEAD",
        w.path("work").display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &sh])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn git_branch_tag_and_commit_on_both_transports() {
    let w = World::new("git");
    let m = w.name("g");
    w.create(&m);
    let (repo, tagged) = bare_repo(&w);
    let head = |dest: &str| -> String {
        let out = w.sh(&m, None, &format!("git -C {} rev-parse HEAD", sq(dest)));
        out.stdout.trim().to_string()
    };

    // Without git on the machine the step says what to add.
    let only = inventory(
        &w,
        "nogit",
        &m,
        &format!("- name: clone\n  git: {{ repo: \"{repo}\", dest: /tmp/nogit }}\n"),
    );
    let out = w.orbdeploy(["apply", &only]);
    out.assert_code(1);
    assert!(
        out.stdout.contains(&format!(
            "git is not installed on {m}; add a `packages: {{ names: [git] }}` step before this one"
        )),
        "{}",
        out.stdout
    );
    let pkgs = inventory(&w, "pkgs", &m, "- packages: { names: [git] }\n");
    w.orbdeploy(["apply", &pkgs]).assert_code(0);

    // git's own lines stay lines, not joined with `; `.
    let missing = inventory(
        &w,
        "norepo",
        &m,
        "- name: clone\n  git: { repo: \"file:///nope/repo.git\", dest: /tmp/norepo }\n",
    );
    let out = w.orbdeploy(["apply", &missing, "--progress", "never"]);
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("Could not read from remote repository.")
            && !out.stdout.contains("; fatal:"),
        "{}",
        out.stdout
    );

    for via in both(&w) {
        let root = format!("/home/dev/it's a $x;y {}", via.name());
        let ops = |force: bool| {
            format!(
                "- name: branch\n  git: {{ repo: \"{repo}\", dest: \"{root}/main\", version: main, force: {force} }}\n\
                 - name: tag\n  git: {{ repo: \"{repo}\", dest: \"{root}/tag\", version: v1 }}\n\
                 - name: commit\n  git: {{ repo: \"{repo}\", dest: \"{root}/sha\", version: \"{tagged}\", depth: 1 }}\n\
                 - name: default branch\n  git: {{ repo: \"{repo}\", dest: \"{root}/head\" }}\n"
            )
        };
        let inv = inventory(&w, &format!("git-{}", via.name()), &m, &ops(false));

        let (plan, _) = via.reported("plan", &inv, "plan", 0);
        via.all_are(&plan, "will_change", "");
        let ls = w.sh(&m, None, &format!("ls -A {} 2>&1 || true", sq(&root)));
        assert!(
            ls.stdout.contains("No such file"),
            "plan changed the machine: {}",
            ls.stdout
        );

        let (first, stdout) = via.reported("apply", &inv, "first", 0);
        via.all_are(&first, "changed", &stdout);
        let tip = head(&format!("{root}/main"));
        assert_eq!(head(&format!("{root}/tag")), tagged);
        assert_eq!(head(&format!("{root}/sha")), tagged);
        assert_eq!(head(&format!("{root}/head")), tip);

        let (second, stdout) = via.reported("apply", &inv, "second", 0);
        via.all_are(&second, "ok", &stdout);

        // A new commit on main: the branch clones follow, the tag and the commit stay.
        let text = format!("three {}\n", via.name());
        let newer = push_commit(&w, &text);
        let (plan, stdout) = via.reported("plan", &inv, "plan-newer", 0);
        let st: Vec<(String, String)> = statuses(&plan);
        assert_eq!(
            st.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
            ["will_change", "ok", "ok", "will_change"],
            "{stdout}"
        );
        assert_eq!(head(&format!("{root}/main")), tip, "plan changed the clone");
        via.reported("apply", &inv, "newer", 0);
        assert_eq!(head(&format!("{root}/main")), newer);
        assert_eq!(head(&format!("{root}/head")), newer);

        // Local modifications are refused, then discarded with force: true.
        w.sh(
            &m,
            None,
            &format!("echo mine >> {}", sq(&format!("{root}/main/README"))),
        )
        .assert_code(0);
        let refused = via.run(&["apply", &inv]);
        refused.assert_code(1);
        assert!(
            refused.stdout.contains(&format!(
                "{root}/main has local modifications (1 file: M README); commit or discard them, or set `force: true` to discard them"
            )),
            "{}",
            refused.stdout
        );
        let forced = inventory(&w, &format!("force-{}", via.name()), &m, &ops(true));
        via.reported("apply", &forced, "forced", 0);
        let readme = w.sh(
            &m,
            None,
            &format!("cat {}", sq(&format!("{root}/main/README"))),
        );
        assert_eq!(readme.stdout, text);
    }
}

/// Credentials in a repository URL never show: not in the terminal, not in the report,
/// not in `--show-calls`.
#[test]
fn git_and_download_mask_credentials() {
    let w = World::new("mask");
    let m = w.name("m");
    w.create(&m);
    w.sh(&m, Some("root"), "mkdir -p /opt/x").assert_code(0);
    let inv = inventory(
        &w,
        "mask",
        &m,
        "- name: fetch\n  download: { url: \"http://bob:s3cr3t@127.0.0.1:9/tool\", dest: /opt/x/tool }\n  become: true\n  ignore_errors: true\n\
         - name: clone\n  git: { repo: \"https://bob:s3cr3t@127.0.0.1:9/r.git\", dest: /tmp/r }\n",
    );
    for via in both(&w) {
        let out = via.run(&["apply", &inv, "--report", "mask.json"]);
        let text = std::fs::read_to_string(w.path("mask.json")).unwrap();
        for shown in [&out.stdout, &out.stderr, &text] {
            assert!(!shown.contains("s3cr3t"), "{}: {shown}", via.name());
        }
        assert!(
            out.stdout.contains("http://***@127.0.0.1:9/tool"),
            "{}",
            out.stdout
        );
        let calls = via.run(&["plan", &inv, "--show-calls"]);
        assert!(!calls.stdout.contains("s3cr3t"), "{}", calls.stdout);
    }
}

#[test]
fn download_over_http_and_file_urls_on_both_transports() {
    use sha2::Digest;
    let w = World::new("download");
    let (srv, m) = (w.name("srv"), w.name("cl"));
    w.create(&srv);
    w.create(&m);
    let tool = "#!/bin/sh\necho tool v1\n";
    let tool_sha = format!("{:x}", sha2::Sha256::digest(tool.as_bytes()));
    let payload_sha = format!("{:x}", sha2::Sha256::digest(b"payload\n"));
    w.sh(
        &srv,
        Some("root"),
        &format!("mkdir -p /srv/www && printf '%s' '{tool}' > /srv/www/tool.sh && (setsid busybox httpd -f -p 8080 -h /srv/www </dev/null >/dev/null 2>&1 &)"),
    )
    .assert_code(0);
    let info = w.orbctl(["info", &srv, "-f", "json"]);
    let ip: Value = serde_json::from_str(&info.stdout).unwrap();
    let ip = ip["ip4"].as_str().unwrap().to_string();
    w.write("payload.txt", "payload\n");
    open_dir(&w);
    let file_url = format!("file:///mnt/mac{}", w.path("payload.txt").display());

    for via in both(&w) {
        let dir = format!("/opt/dl {}", via.name());
        let dest = format!("{dir}/it's a $x;y tool");
        if !via.channel {
            // No curl: busybox wget fetches instead.
            w.sh(&m, Some("root"), "mv /usr/bin/curl /usr/bin/curl.off")
                .assert_code(0);
        }
        let ops = format!(
            "- name: dir\n  directory: {{ path: \"{dir}\" }}\n  become: true\n\
             - name: tool\n  download: {{ url: \"http://{ip}:8080/tool.sh\", dest: \"{dest}\", sha256: {tool_sha}, mode: \"0755\", timeout: 30 }}\n  become: true\n\
             - name: payload\n  download: {{ url: \"{file_url}\", dest: \"{dir}/payload.txt\" }}\n  become: true\n"
        );
        let inv = inventory(&w, &format!("dl-{}", via.name()), &m, &ops);
        let (plan, _) = via.reported("plan", &inv, "plan", 0);
        via.all_are(&plan, "will_change", "");
        let (first, stdout) = via.reported("apply", &inv, "first", 0);
        via.all_are(&first, "changed", &stdout);
        let state = w.sh(
            &m,
            None,
            &format!("cd \"{dir}\" && stat -c '%a %U %n' * && sha256sum * | cut -c1-64 && ls -A | grep -c orbdeploy || true"),
        );
        assert_eq!(
            state.stdout,
            format!(
                "755 root it's a $x;y tool\n644 root payload.txt\n{tool_sha}\n{payload_sha}\n0\n"
            ),
            "{}",
            via.name()
        );
        let (second, stdout) = via.reported("apply", &inv, "second", 0);
        via.all_are(&second, "ok", &stdout);

        // A wrong sha256 fails with both hashes and leaves dest as it was.
        let wrong = "0".repeat(64);
        let bad = inventory(
            &w,
            &format!("bad-{}", via.name()),
            &m,
            &format!("- name: tool\n  download: {{ url: \"http://{ip}:8080/tool.sh\", dest: \"{dir}/payload.txt\", sha256: \"{wrong}\" }}\n  become: true\n"),
        );
        let out = via.run(&["apply", &bad]);
        out.assert_code(1);
        assert!(
            out.stdout.contains(&format!(
                "expected {wrong}, got {tool_sha}; {dir}/payload.txt was left as it was"
            )),
            "{}",
            out.stdout
        );
        let kept = w.sh(
            &m,
            None,
            &format!("cat \"{dir}/payload.txt\"; ls -A \"{dir}\" | grep -c orbdeploy || true"),
        );
        assert_eq!(kept.stdout, "payload\n0\n");
        if !via.channel {
            w.sh(&m, Some("root"), "mv /usr/bin/curl.off /usr/bin/curl")
                .assert_code(0);
        }
    }
}

/// The test's directory readable by the machine's users (through /mnt/mac).
fn open_dir(w: &World) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Copy `from` (a directory) to `to`, file modes kept.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The devbox example (`fixtures/devbox/`) converges on a fresh machine, and its no-change
/// re-apply is one request per user its steps run as (root and the developer) on the
/// channel, one `orbctl run` per step that reads facts without it (BENCHMARKS.md).
#[test]
fn devbox_fixture_converges_and_reapplies_with_no_change() {
    let w = World::new("devbox");
    let m = w.name("box");
    let (repo, _) = bare_repo(&w);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/devbox");
    let dir = w.path("devbox");
    copy_tree(&fixture, &dir);
    let inv = dir.join("inventory.yaml");
    let text = std::fs::read_to_string(&inv)
        .unwrap()
        .replace("  devbox: {}", &format!("  {m}: {{}}"));
    std::fs::write(&inv, text).unwrap();
    let inv = inv.to_string_lossy().into_owned();
    let vars = [
        "--var".to_string(),
        format!("project_repo={repo}"),
        "--var".to_string(),
        "project_version=main".to_string(),
    ];
    let apply = |label: &str, env: &[(&str, std::path::PathBuf)], extra: &[&str]| -> Value {
        let mut cmd = std::process::Command::new(harness::orbdeploy_bin());
        cmd.args(["apply", &inv, "--report", &format!("{label}.json")])
            .args(&vars)
            .args(extra)
            .env("ORBSIM_HOME", &w.home)
            .env("ORBDEPLOY_ORBCTL", &w.orbctl)
            .env("CI", "1")
            .current_dir(w.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        w.report(&format!("{label}.json"))
    };
    let first = apply("first", &[], &[]);
    assert_eq!(count(&first, "failed"), 0);
    let hello = w.sh(
        &m,
        None,
        "bash -lc devbox-hello; bash -ic 'echo \"$EDITOR\"' 2>/dev/null; git -C ~/src/project rev-list --count HEAD",
    );
    assert_eq!(hello.stdout, format!("hello from {m}\nvi\n2\n"));

    let trace = w.path("trace");
    std::fs::create_dir_all(&trace).unwrap();
    let again = apply("again", &[("ORBDEPLOY_TRACE_DIR", trace.clone())], &[]);
    // The re-apply the inventory promises (issue 34): 0 changed, and every step ok — no
    // command that ran, no wait that counts as a change.
    assert_eq!((count(&again, "changed"), count(&again, "ran")), (0, 0));
    for (name, status) in statuses(&again) {
        assert_eq!(status, "ok", "step `{name}` on the re-apply");
    }
    let requests = std::fs::read_dir(&trace).unwrap().count();
    assert_eq!(requests, 2, "one request per user");

    let log = w.path("devbox-calls.jsonl");
    let oneshot = apply("oneshot", &[("ORBSIM_LOG", log.clone())], &["--no-channel"]);
    assert_eq!(count(&oneshot, "changed"), 0);
    let calls = std::fs::read_to_string(&log).unwrap();
    let runs = calls.lines().filter(|l| l.contains("\"run\"")).count();
    let steps = statuses(&oneshot).len();
    assert_eq!(runs, steps, "one orbctl run per step: {calls}");
    eprintln!("devbox re-apply: {requests} channel requests; --no-channel: {runs} orbctl runs for {steps} steps");
}
