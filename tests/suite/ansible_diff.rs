//! Ansible's semantics, tested against Ansible: every case of `tests/ansible-diff/cases.yaml`
//! is an initial file state, an Ansible task and the orbdeploy step that the README says is
//! its equivalent. ansible-core (pinned, from PyPI, into a venv under `target/` that later
//! runs reuse) runs all the tasks with the local connection on files in this test's
//! directory; orbdeploy applies all the steps to one orbsim machine, on the same paths
//! there. Each side runs twice. The test compares, per case, the files afterwards (content
//! bytes, mode, link target, existence; after each run) and the changed/ok/failed status of
//! both runs. A case is `same` (they must agree) or a `decision` (they must differ, and its
//! `why` must be written, word for word, in "Decisions a user may not expect", in docs/operations.md).
//! docs/ansible-compat.md describes the table and how to add a case.

use crate::harness::{self, World};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The ansible-core the cases were checked with: the newest that runs on Debian 12's
/// Python 3.11 (2.20 needs 3.12).
const ANSIBLE_CORE: &str = "2.19.15";

/// The case table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    /// Variables both sides see (the play's `vars`, the inventory's `vars`).
    vars: BTreeMap<String, serde_json::Value>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Also the directory of the case's files and the name of its task and step.
    id: String,
    /// The Ansible integration test the case comes from:
    /// `test/integration/targets/<source>/tasks/main.yml` in ansible/ansible.
    source: String,
    /// sh, run as root in the case's (empty) directory on both sides before the first run.
    #[serde(default)]
    setup: String,
    /// The Ansible task (module and arguments), YAML; `@D@` is the case's directory.
    ansible: String,
    /// The orbdeploy step's operation, YAML; `@D@` as above.
    orbdeploy: String,
    /// `same` or `decision`.
    verdict: Verdict,
    /// For a decision: the reason, as the README writes it.
    #[serde(default)]
    why: Option<String>,
    /// Set when the case agrees only once another change lands (its text says which): the
    /// first run's status may then differ as `ok` (Ansible) against `changed` (orbdeploy).
    #[serde(default)]
    pending: Option<String>,
    /// orbdeploy refuses the step when it loads it (exit 2, nothing run): it is not in the
    /// apply but in a `plan` of its own, and counts as failed in both runs.
    #[serde(default)]
    refused: bool,
}

#[derive(Debug, Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Same,
    Decision,
}

/// What one side made of one case: the statuses of the two runs and the case directory's
/// manifest after each.
#[derive(Debug, Default, Clone, PartialEq)]
struct Outcome {
    status: [String; 2],
    files: [Vec<String>; 2],
}

fn table_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ansible-diff/cases.yaml")
}

fn load_table() -> Table {
    let path = table_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The venv with the pinned ansible-core, made (or remade) when it lacks that version.
fn ansible_venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ansible-core-{ANSIBLE_CORE}"));
    let python = venv.join("bin/python3");
    let has_version = || {
        Command::new(&python)
            .args([
                "-c",
                "import ansible.release; print(ansible.release.__version__)",
            ])
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == ANSIBLE_CORE
            })
    };
    if has_version() {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is needed for the Ansible comparison (scripts/setup.sh installs it): {e}"
            )
        });
    assert!(
        made.status.success(),
        "python3 -m venv failed (python3-venv missing? scripts/setup.sh installs it): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("ansible-core=={ANSIBLE_CORE}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run the venv's pip: {e}"));
    if !pip.status.success() || !has_version() {
        let _ = std::fs::remove_dir_all(&venv);
        panic!(
            "installing ansible-core {ANSIBLE_CORE} from PyPI failed: {}",
            String::from_utf8_lossy(&pip.stderr)
        );
    }
    venv
}

/// Every case's directory, its files and links, one line each, the same on both sides:
/// `PATH file MODE HEX`, `PATH dir MODE`, `PATH link TARGET`.
const MANIFEST: &str = r#"find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
  if [ -L "$p" ]; then printf '%s link %s\n' "$p" "$(readlink "$p")"
  elif [ -d "$p" ]; then printf '%s dir %s\n' "$p" "$(stat -c %a "$p")"
  elif [ -f "$p" ]; then printf '%s file %s %s\n' "$p" "$(stat -c %a "$p")" "$(od -An -v -tx1 "$p" | tr -d ' \n')"
  else printf '%s other\n' "$p"; fi
done
"#;

/// The manifest split by case (the first path component).
fn split_manifest(text: &str, root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut by_case: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Link targets name the root, which is another directory on every run.
    let text = text.replace(&root.display().to_string(), "@ROOT@");
    for line in text.lines() {
        let rest = line.strip_prefix("./").unwrap_or(line);
        let case = rest
            .split(['/', ' '])
            .next()
            .unwrap_or_default()
            .to_string();
        by_case.entry(case).or_default().push(rest.to_string());
    }
    by_case
}

/// A manifest line made readable: the hex of a file's bytes shown as an escaped string.
fn readable(line: &str) -> String {
    let mut parts = line.splitn(4, ' ');
    let (p, kind, mode, hex) = (parts.next(), parts.next(), parts.next(), parts.next());
    match (p, kind, mode, hex) {
        (Some(p), Some("file"), Some(mode), Some(hex)) => {
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect();
            format!("{p} file {mode} {:?}", String::from_utf8_lossy(&bytes))
        }
        (Some(p), Some("file"), Some(mode), None) => format!("{p} file {mode} \"\""),
        _ => line.to_string(),
    }
}

fn indent(text: &str, by: usize) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

/// One sh script that makes every case's directory and runs its setup in it.
fn setup_script(table: &Table, root: &Path) -> String {
    let mut s = format!(
        "set -e\numask 022\nrm -rf '{0}'\nmkdir -p '{0}'\n",
        root.display()
    );
    for c in &table.cases {
        let dir = root.join(&c.id);
        s.push_str(&format!(
            "mkdir '{d}'\n(cd '{d}' && {{ :\n{setup}\n}})\n",
            d = dir.display(),
            setup = c.setup.replace("@D@", &dir.display().to_string())
        ));
    }
    s
}

/// How many inventory names for this computer share the cases: with the `free` strategy
/// each goes through the tasks on its own, running its cases and skipping the others, so
/// the module runs of different cases overlap.
const LANES: usize = 4;

fn playbook(table: &Table, root: &Path, results: &Path) -> String {
    let vars = serde_json::to_string(&table.vars).expect("vars are JSON");
    let mut s = format!(
        "- hosts: all\n  connection: local\n  gather_facts: false\n  strategy: free\n  vars: {vars}\n  tasks:\n"
    );
    let mut dump = Vec::new();
    for (i, c) in table.cases.iter().enumerate() {
        let task = c
            .ansible
            .replace("@D@", &root.join(&c.id).display().to_string());
        let lane = i % LANES;
        s.push_str(&format!("    - name: {}\n{}", c.id, indent(&task, 6)));
        s.push_str(&format!(
            "      register: r{i}\n      ignore_errors: true\n      when: inventory_hostname == 'lane{lane}'\n"
        ));
        let r = format!("hostvars['lane{lane}'].r{i}");
        dump.push(format!(
            "'{}': {{'changed': {r}.changed | default(false), 'failed': {r}.failed | default(false), 'msg': {r}.msg | default('') | string}}",
            c.id
        ));
    }
    s.push_str(&format!(
        "- hosts: lane0\n  connection: local\n  gather_facts: false\n  tasks:\n    - name: results\n      copy:\n        dest: {}\n        content: \"{{{{ {{{}}} | to_json }}}}\"\n",
        results.display(),
        dump.join(", ")
    ));
    s
}

/// The inventory of the lanes (`-i lane0,lane1,...`).
fn lanes() -> String {
    (0..LANES).map(|l| format!("lane{l},")).collect()
}

fn operations(table: &Table, root: &Path) -> String {
    let mut s = String::new();
    for c in table.cases.iter().filter(|c| !c.refused) {
        let step = c
            .orbdeploy
            .replace("@D@", &root.join(&c.id).display().to_string());
        s.push_str(&format!(
            "- name: {}\n{}  become: true\n  ignore_errors: true\n",
            c.id,
            indent(&step, 2)
        ));
    }
    s
}

fn sh_local(script: &str, dir: &Path) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    assert!(
        out.status.success(),
        "local sh failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where ansible-core's outcomes of the table are recorded (docs/ansible-compat.md,
/// "Ansible's recorded outcomes").
fn recording_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ansible-diff/ansible-outcomes.json")
}

/// The recording: everything Ansible's side depends on (its version, the variables, each
/// case's setup and task) beside what ansible-core made of it, one entry per case so that a
/// change to the table shows in a diff of this file too.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Recording {
    about: String,
    ansible_core: String,
    vars: BTreeMap<String, serde_json::Value>,
    cases: BTreeMap<String, RecordedCase>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct RecordedCase {
    setup: String,
    ansible: String,
    status: [String; 2],
    files: [Vec<String>; 2],
}

impl Recording {
    fn of(table: &Table, outcomes: &BTreeMap<String, Outcome>) -> Recording {
        let cases = table
            .cases
            .iter()
            .map(|c| {
                let o = outcomes[&c.id].clone();
                let case = RecordedCase {
                    setup: c.setup.clone(),
                    ansible: c.ansible.clone(),
                    status: o.status,
                    files: o.files,
                };
                (c.id.clone(), case)
            })
            .collect();
        Recording {
            about: "ansible-core's outcomes of cases.yaml, written by tests/suite/ansible_diff.rs; see docs/ansible-compat.md".into(),
            ansible_core: ANSIBLE_CORE.into(),
            vars: table.vars.clone(),
            cases,
        }
    }

    /// Whether it was recorded from these inputs: same version, variables, cases, and each
    /// case's setup and task.
    fn is_of(&self, table: &Table) -> bool {
        self.ansible_core == ANSIBLE_CORE
            && self.vars == table.vars
            && self.cases.len() == table.cases.len()
            && table.cases.iter().all(|c| {
                self.cases
                    .get(&c.id)
                    .is_some_and(|r| r.setup == c.setup && r.ansible == c.ansible)
            })
    }

    fn outcomes(&self) -> BTreeMap<String, Outcome> {
        let outcome = |r: &RecordedCase| Outcome {
            status: r.status.clone(),
            files: r.files.clone(),
        };
        self.cases
            .iter()
            .map(|(k, r)| (k.clone(), outcome(r)))
            .collect()
    }

    fn load() -> Option<Recording> {
        let text = std::fs::read_to_string(recording_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Written beside and renamed into place, as the product writes its files.
    fn save(&self) {
        let path = recording_path();
        let tmp = path.with_extension("json.new");
        let text = serde_json::to_string_pretty(self).expect("the recording is JSON") + "\n";
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Ansible's outcomes, and a problem to report when the recording was stale in CI.
///
/// ansible-core is pinned, so its outcomes are a function of the recording's inputs: when
/// the recording was made from the table as it is, its outcomes are used and ansible-core
/// does not run (its two runs and its install were most of the suite's CPU). Otherwise, or
/// with `ORBDEPLOY_ANSIBLE_DIFF=live`, ansible-core runs and the recording is rewritten
/// when it was stale; a live run of a current recording must find the same outcomes. In
/// CI (`CI` set) a stale recording is a failure: it means a change to the table whose
/// recording was not committed.
fn ansible_outcomes(
    w: &World,
    table: &Table,
    root: &Path,
) -> (BTreeMap<String, Outcome>, Option<String>) {
    let live = std::env::var("ORBDEPLOY_ANSIBLE_DIFF").is_ok_and(|v| v == "live");
    let recorded = Recording::load().filter(|r| r.is_of(table));
    match recorded {
        Some(r) if !live => {
            eprintln!("Ansible's outcomes from {}", recording_path().display());
            (r.outcomes(), None)
        }
        Some(r) => {
            let out = run_ansible(w, table, root);
            let now = Recording::of(table, &out);
            assert!(
                now == r,
                "ansible-core {ANSIBLE_CORE} no longer gives the recorded outcomes: compare {} with a new recording (delete it and run this test)",
                recording_path().display()
            );
            (out, None)
        }
        None => {
            let out = run_ansible(w, table, root);
            Recording::of(table, &out).save();
            let stale = std::env::var_os("CI").is_some().then(|| {
                format!(
                    "{} was not recorded from tests/ansible-diff/cases.yaml as it is: it is rewritten now; run this test and commit it",
                    recording_path().display()
                )
            });
            (out, stale)
        }
    }
}

/// Both runs of Ansible: statuses and manifests per case.
fn run_ansible(w: &World, table: &Table, root: &Path) -> BTreeMap<String, Outcome> {
    let venv = ansible_venv();
    sh_local(&setup_script(table, root), w.dir.path());
    let results = w.path("ansible-results.json");
    let play = w.write("play.yaml", playbook(table, root, &results));
    let mut out: BTreeMap<String, Outcome> = BTreeMap::new();
    for run in 0..2 {
        let started = std::time::Instant::now();
        let res = Command::new("sh")
            .arg("-c")
            .arg("umask 022 && exec \"$0\" \"$@\"")
            .arg(venv.join("bin/ansible-playbook"))
            .arg("-i")
            .arg(lanes())
            .args(["-c", "local"])
            .arg(&play)
            .env("ANSIBLE_HOME", w.path("ansible-home"))
            .env("ANSIBLE_LOCAL_TEMP", w.path("ansible-home/tmp"))
            .env("ANSIBLE_PYTHON_INTERPRETER", venv.join("bin/python3"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
            .env("ANSIBLE_LOCALHOST_WARNING", "0")
            .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "0")
            .env("PYTHONWARNINGS", "ignore")
            .env("ANSIBLE_PIPELINING", "1")
            .current_dir(w.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ansible-playbook: {e}"));
        eprintln!("ansible run {} took {:?}", run + 1, started.elapsed());
        assert!(
            res.status.success(),
            "ansible-playbook failed:\n{}\n{}",
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        );
        let text = std::fs::read_to_string(&results).expect("Ansible wrote its results");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("results are JSON");
        let files = split_manifest(&sh_local(MANIFEST, root), root);
        for c in &table.cases {
            let r = &doc[&c.id];
            let status = if r["failed"] == true {
                "failed"
            } else if r["changed"] == true {
                "changed"
            } else {
                "ok"
            };
            let o = out.entry(c.id.clone()).or_default();
            o.status[run] = status.to_string();
            o.files[run] = files.get(&c.id).cloned().unwrap_or_default();
        }
    }
    out
}

/// Both applies of orbdeploy on one orbsim machine: statuses and manifests per case.
fn run_orbdeploy(w: &World, table: &Table, root: &Path) -> BTreeMap<String, Outcome> {
    let m = w.name("m");
    w.create(&m);
    w.sh(&m, Some("root"), &setup_script(table, root))
        .assert_code(0);
    w.write("ops.yaml", operations(table, root));
    let vars = serde_json::to_string(&table.vars).expect("vars are JSON");
    let inv = w.write(
        "inv.yaml",
        format!("vars: {vars}\nmachines:\n  {m}: {{}}\noperations: ops.yaml\n"),
    );
    for c in table.cases.iter().filter(|c| c.refused) {
        refused(w, c, root);
    }
    let mut out: BTreeMap<String, Outcome> = BTreeMap::new();
    for run in 0..2 {
        let report = format!("apply-{run}.json");
        let started = std::time::Instant::now();
        let res = w.orbdeploy([
            "apply",
            inv.to_str().expect("utf-8 path"),
            "--keep-going",
            "--report",
            &report,
        ]);
        eprintln!("orbdeploy run {} took {:?}", run + 1, started.elapsed());
        let _ = std::fs::write(
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ansible-diff-apply-{run}.txt")),
            format!("{}\n{}", res.stdout, res.stderr),
        );
        assert!(
            res.code == 0 || res.code == 1,
            "apply: {}\n{}",
            res.stdout,
            res.stderr
        );
        let statuses: BTreeMap<String, String> = harness::step_statuses(&w.report(&report), &m)
            .into_iter()
            .collect();
        let listing = w.sh(
            &m,
            Some("root"),
            &format!("cd '{}' && {MANIFEST}", root.display()),
        );
        listing.assert_code(0);
        let files = split_manifest(&listing.stdout, root);
        for c in &table.cases {
            let status = match statuses.get(&c.id).map(String::as_str) {
                None if c.refused => "failed",
                Some("ignored" | "failed") => "failed",
                Some(s) => s,
                None => panic!("no step {} in the report", c.id),
            };
            let o = out.entry(c.id.clone()).or_default();
            o.status[run] = status.to_string();
            o.files[run] = files.get(&c.id).cloned().unwrap_or_default();
        }
    }
    out
}

/// A `refused` case's step alone: a plan of it is exit 2 and names the step.
fn refused(w: &World, c: &Case, root: &Path) {
    let step = c
        .orbdeploy
        .replace("@D@", &root.join(&c.id).display().to_string());
    w.write(
        &format!("refused-{}.yaml", c.id),
        format!("- name: {}\n{}", c.id, indent(&step, 2)),
    );
    let inv = w.write(
        &format!("refused-{}-inv.yaml", c.id),
        format!(
            "machines:\n  {}: {{}}\noperations: refused-{}.yaml\n",
            w.name("m"),
            c.id
        ),
    );
    let res = w.orbdeploy(["plan", inv.to_str().expect("utf-8 path")]);
    assert!(
        res.code == 2 && res.stderr.contains(&format!("step `{}`", c.id)),
        "case {} is `refused: true`, but a plan of it was not refused at load time: exit {}\n{}",
        c.id,
        res.code,
        res.stderr
    );
}

/// What differs between the two sides, in words (empty when nothing does).
fn differences(c: &Case, a: &Outcome, o: &Outcome) -> Vec<String> {
    let mut d = Vec::new();
    for run in 0..2 {
        let (sa, so) = (&a.status[run], &o.status[run]);
        let pending_ok = c.pending.is_some() && run == 0 && sa == "ok" && so == "changed";
        if sa != so && !pending_ok {
            d.push(format!("run {}: Ansible {sa}, orbdeploy {so}", run + 1));
        }
        if a.files[run] != o.files[run] {
            let show = |f: &[String]| {
                f.iter()
                    .map(|l| format!("      {}", readable(l)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            d.push(format!(
                "files after run {}:\n    Ansible:\n{}\n    orbdeploy:\n{}",
                run + 1,
                show(&a.files[run]),
                show(&o.files[run])
            ));
        }
    }
    d
}

/// README.md and docs/*.md with every run of whitespace made one space: a reason may be
/// wrapped anywhere.
fn decision_texts() -> Vec<(PathBuf, String)> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![base.join("README.md")];
    if let Ok(dir) = std::fs::read_dir(base.join("docs")) {
        files.extend(
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    files
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, flat(&t))))
        .filter(|(_, t)| t.contains("Decisions a user may not expect"))
        .collect()
}

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn orbdeploy_agrees_with_ansible_or_says_why_not() {
    let started = std::time::Instant::now();
    let table = load_table();
    let mut ids = std::collections::BTreeSet::new();
    for c in &table.cases {
        assert!(ids.insert(&c.id), "case {} twice", c.id);
        assert!(
            c.id.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-'),
            "case id {}",
            c.id
        );
        assert_eq!(
            c.why.is_some(),
            c.verdict == Verdict::Decision,
            "case {}: a `why` goes with `verdict: decision` and only there",
            c.id
        );
    }
    assert!(
        table.cases.len() >= 60,
        "{} cases, at least 60 wanted",
        table.cases.len()
    );
    let docs = decision_texts();
    assert!(
        !docs.is_empty(),
        "no README.md or docs/*.md has the section \"Decisions a user may not expect\""
    );

    let w = World::new("ansdiff");
    let root = w.path("cases");
    let (ansible, stale) = ansible_outcomes(&w, &table, &root);
    let orbdeploy = run_orbdeploy(&w, &table, &root);

    let mut problems: Vec<String> = stale.into_iter().collect();
    let (mut same, mut decision) = (0, 0);
    for c in &table.cases {
        let (a, o) = (&ansible[&c.id], &orbdeploy[&c.id]);
        // Whatever the verdict: a second run that changed nothing must not say it did
        // (unless Ansible says so too: `touch` changes a time the manifest does not show).
        if o.status[1] == "changed" && o.files[0] == o.files[1] && a.status[1] != "changed" {
            problems.push(format!(
                "{}: orbdeploy's second run reports a change and changed nothing",
                c.id
            ));
        }
        let d = differences(c, a, o);
        match c.verdict {
            Verdict::Same if d.is_empty() => same += 1,
            Verdict::Same => problems.push(format!(
                "{} ({}): differs from Ansible\n  {}",
                c.id,
                c.source,
                d.join("\n  ")
            )),
            Verdict::Decision if d.is_empty() => problems.push(format!(
                "{} ({}): now the same as Ansible: make it `verdict: same`",
                c.id, c.source
            )),
            Verdict::Decision => {
                decision += 1;
                let why = flat(c.why.as_deref().unwrap_or_default());
                if !docs.iter().any(|(_, t)| t.contains(&why)) {
                    problems.push(format!("{}: its reason is not in the README's \"Decisions a user may not expect\": {why}", c.id));
                }
            }
        }
        if let Some(p) = &c.pending {
            eprintln!(
                "{}: pending ({p}): Ansible {:?}, orbdeploy {:?}",
                c.id, ansible[&c.id].status, orbdeploy[&c.id].status
            );
        }
    }
    eprintln!(
        "{} cases: {same} same, {decision} decisions, {} problems, in {:?}",
        table.cases.len(),
        problems.len(),
        started.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{} of {} cases:\n{}",
        problems.len(),
        table.cases.len(),
        problems.join("\n")
    );
}
