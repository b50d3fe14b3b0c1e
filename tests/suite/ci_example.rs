//! The CI workflow of docs/ci.md, run: its copy in `examples/ci/` is parsed (through the
//! crate's YAML module) and its steps are run in order, in a temporary copy of
//! `examples/ci/` (the user's repository), with bash, against orbsim on this machine — so
//! the documentation cannot rot. `run:` steps run as written; `uses:` steps are mapped to
//! the local equivalents docs/ci.md lists, and an action this file does not know fails
//! the test. The workflows (this one and `.github/workflows/release.yml`) are also checked
//! for what GitHub would refuse or what would break on a runner: unknown keys, a step
//! without exactly one of `uses`/`run`, an expression naming what does not exist, and shell
//! that `bash -n` or shellcheck rejects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value as Json;

const WORKFLOW: &str = "examples/ci/.github/workflows/orbstack.yml";
const RELEASE: &str = ".github/workflows/release.yml";
/// The example split across a matrix with `--shard` and `report merge` (docs/ci.md).
const SHARDS: &str = "examples/ci/.github/workflows/orbstack-shards.yml";
/// A role tested with `orbdeploy test` (docs/ci.md; tests/suite/scenarios.rs runs its scenario).
const ROLE_TEST: &str = "examples/ci/.github/workflows/orbstack-test.yml";
/// The example's machine (examples/ci/deploy/inventory.yaml).
const MACHINE: &str = "ci-demo-web";
/// A step may take this long (`cargo install` compiles orbdeploy and orbsim).
const STEP_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// A workflow file, as far as these workflows use GitHub's syntax; any other key is an
/// error, so that a change this test does not understand fails it.
// Parsed so that an unknown key fails; not every field is read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workflow {
    name: String,
    on: Json,
    #[serde(default)]
    permissions: Option<Json>,
    #[serde(default)]
    defaults: Option<Json>,
    jobs: BTreeMap<String, Job>,
}

// Parsed so that an unknown key fails; not every field is read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Job {
    #[serde(default)]
    name: Option<String>,
    runs_on: String,
    #[serde(default)]
    needs: Option<String>,
    #[serde(default)]
    permissions: Option<Json>,
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default, rename = "if")]
    condition: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    steps: Vec<Step>,
}

// Parsed so that an unknown key fails; not every field is read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Strategy {
    #[serde(default)]
    fail_fast: Option<bool>,
    matrix: Matrix,
}

// Parsed so that an unknown key fails; not every field is read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Matrix {
    include: Vec<BTreeMap<String, Json>>,
}

// Parsed so that an unknown key fails; not every field is read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uses: Option<String>,
    #[serde(default)]
    with: BTreeMap<String, Json>,
    #[serde(default)]
    run: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default, rename = "if")]
    condition: Option<String>,
}

impl Step {
    fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.uses.clone())
            .unwrap_or_else(|| "(unnamed step)".into())
    }
}

/// The repository this test was built from.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(rel: &str) -> Workflow {
    load_path(&repo().join(rel))
}

fn load_path(path: &Path) -> Workflow {
    orbdeploy::yaml::parse_file(path, &Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The actions the workflows may use, each with the `with:` keys it is given here.
const KNOWN_ACTIONS: &[(&str, &[&str])] = &[
    ("actions/checkout@v4", &["repository", "ref", "path"]),
    ("dtolnay/rust-toolchain@stable", &["targets"]),
    (
        "actions/upload-artifact@v4",
        &["name", "path", "if-no-files-found"],
    ),
    ("actions/download-artifact@v4", &["path", "merge-multiple"]),
];

/// Every `${{ ... }}` in `text`, trimmed.
fn expressions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let Some(len) = rest[start..].find("}}") else {
            out.push(rest[start..].to_string());
            break;
        };
        out.push(rest[start + 3..start + len].trim().to_string());
        rest = &rest[start + len + 2..];
    }
    out
}

/// What is wrong with one expression of `job`: it names a matrix key some entry lacks,
/// or a context these workflows do not use.
fn check_expression(expr: &str, job: &Job, workflow_env: &[&str]) -> Option<String> {
    if let Some(key) = expr.strip_prefix("matrix.") {
        let include = job.strategy.as_ref().map(|s| &s.matrix.include);
        let missing = include.is_none_or(|inc| inc.iter().any(|e| !e.contains_key(key)));
        return missing.then(|| format!("`{expr}`: not every matrix entry has `{key}`"));
    }
    if let Some(key) = expr.strip_prefix("env.") {
        let known = job.env.contains_key(key) || workflow_env.contains(&key);
        return (!known).then(|| format!("`{expr}`: no such env"));
    }
    let known = ["github.token", "github.repository", "always()"];
    (!known.contains(&expr)).then(|| format!("`{expr}`: an expression this check does not know"))
}

/// `bash -n` and shellcheck on a `run:` script (expressions replaced by a word).
fn check_shell(script: &str) -> Option<String> {
    let mut text = script.to_string();
    for e in expressions(script) {
        text = text.replace(&format!("${{{{ {e} }}}}"), "EXPR");
    }
    let mut errors = String::new();
    for (cmd, args) in [
        ("bash", vec!["-n"]),
        ("shellcheck", vec!["-s", "bash", "-"]),
    ] {
        let mut child = Command::new(cmd)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd} (scripts/setup.sh installs it): {e}"));
        use std::io::Write;
        let _ = child.stdin.take().map(|mut i| i.write_all(text.as_bytes()));
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            errors.push_str(&String::from_utf8_lossy(&out.stdout));
            errors.push_str(&String::from_utf8_lossy(&out.stderr));
        }
    }
    (!errors.is_empty()).then_some(errors)
}

/// Everything wrong with a workflow, in words.
fn lint(path: &Path) -> Vec<String> {
    let w = load_path(path);
    let mut problems = Vec::new();
    if w.name.is_empty() || w.on.is_null() {
        problems.push("a workflow needs a name and `on:`".to_string());
    }
    for (id, job) in &w.jobs {
        if let Some(n) = &job.needs {
            if !w.jobs.contains_key(n) {
                problems.push(format!("job {id}: needs `{n}`, which is not a job"));
            }
        }
        let mut texts = vec![job.runs_on.clone(), job.name.clone().unwrap_or_default()];
        texts.extend(job.env.values().cloned());
        texts.extend(job.condition.iter().map(|c| format!("${{{{ {c} }}}}")));
        for step in &job.steps {
            let at = format!("job {id}, step `{}`", step.label());
            match (&step.uses, &step.run) {
                (Some(uses), None) => match KNOWN_ACTIONS.iter().find(|(a, _)| a == uses) {
                    None => problems.push(format!("{at}: unknown action `{uses}`")),
                    Some((_, keys)) => {
                        for k in step.with.keys().filter(|k| !keys.contains(&k.as_str())) {
                            problems.push(format!("{at}: `{uses}` takes no `with: {k}` here"));
                        }
                    }
                },
                (None, Some(run)) => {
                    if let Some(e) = check_shell(run) {
                        problems.push(format!("{at}: shell:\n{e}"));
                    }
                    if run.contains("${{") {
                        problems.push(format!(
                            "{at}: an expression inside `run:` (pass it through `env:`)"
                        ));
                    }
                }
                _ => problems.push(format!("{at}: needs exactly one of `uses` and `run`")),
            }
            texts.extend(step.run.clone());
            texts.extend(step.env.values().cloned());
            texts.extend(step.with.values().map(|v| v.to_string()));
            texts.extend(step.condition.iter().map(|c| format!("${{{{ {c} }}}}")));
        }
        for e in texts.iter().flat_map(|t| expressions(t)) {
            if let Some(p) = check_expression(&e, job, &[]) {
                problems.push(format!("job {id}: {p}"));
            }
        }
    }
    problems
}

#[test]
fn workflows_are_well_formed() {
    for rel in [RELEASE, WORKFLOW, SHARDS, ROLE_TEST] {
        let problems = lint(&repo().join(rel));
        assert!(problems.is_empty(), "{rel}:\n{}", problems.join("\n"));
    }
    // The release workflow builds the binaries the README promises, on tags.
    let release = load(RELEASE);
    assert!(release.on["push"]["tags"].is_array(), "{:?}", release.on);
    let targets: Vec<String> = release.jobs["build"]
        .strategy
        .as_ref()
        .map(|s| &s.matrix.include)
        .into_iter()
        .flatten()
        .map(|e| e["target"].as_str().unwrap_or_default().to_string())
        .collect();
    for t in [
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
        "x86_64-unknown-linux-gnu",
    ] {
        assert!(targets.iter().any(|x| x == t), "{t} not built: {targets:?}");
    }
}

#[test]
fn the_lint_finds_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        r#"name: bad
on: { push: { tags: ["v*"] } }
jobs:
  a:
    runs-on: ${{ matrix.os }}
    needs: nowhere
    strategy: { matrix: { include: [{ target: x }] } }
    steps:
      - uses: someone/else@v1
      - uses: actions/checkout@v4
        with: { fetch-depth: 0 }
      - run: echo ${{ github.sha }}
      - run: "if then fi"
      - { uses: actions/checkout@v4, run: "true" }
"#,
    )
    .unwrap();
    let problems = lint(&bad).join("\n");
    for expected in [
        "needs `nowhere`, which is not a job",
        "unknown action `someone/else@v1`",
        "takes no `with: fetch-depth` here",
        "an expression inside `run:`",
        "`github.sha`: an expression this check does not know",
        "step `(unnamed step)`: shell:",
        "needs exactly one of `uses` and `run`",
        "`matrix.os`: not every matrix entry has `os`",
    ] {
        assert!(
            problems.contains(expected),
            "{expected}\nnot in:\n{problems}"
        );
    }
}

#[test]
fn docs_ci_shows_the_example_workflow_as_it_is() {
    let doc = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    for file in [WORKFLOW, SHARDS, ROLE_TEST] {
        let example = std::fs::read_to_string(repo().join(file)).unwrap();
        assert!(
            doc.contains(&format!("```yaml\n{example}```\n")),
            "docs/ci.md must show {file} verbatim in a ```yaml block"
        );
    }
}

/// Where the run happens, and what lets it be cleaned up even when it fails.
struct Runner {
    tmp: tempfile::TempDir,
    /// The user's checkout (a copy of examples/ci).
    work: PathBuf,
    env: BTreeMap<String, String>,
}

impl Runner {
    fn new() -> Runner {
        let tmp = tempfile::Builder::new()
            .prefix("orbdeploy-ci-")
            .tempdir()
            .unwrap();
        let work = tmp.path().join("work");
        let temp = tmp.path().join("runner-temp");
        let shims = tmp.path().join("shims");
        for d in [&work, &temp, &shims] {
            std::fs::create_dir_all(d).unwrap();
        }
        // The suite runs as root: `sudo` is a pass-through (real sudo would also reset the
        // environment this test isolates orbsim with). Through `env`, which takes
        // `NAME=VALUE` words before the command as sudo does.
        let sudo = shims.join("sudo");
        std::fs::write(&sudo, "#!/bin/sh\nexec env \"$@\"\n").unwrap();
        chmod_x(&sudo);
        let path = format!(
            "{}:{}",
            shims.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // `cargo install` in the debug profile, in a target directory that already holds
        // the dependencies (tests/suite/cargo_install.rs): the step runs as written, and
        // compiles only what comes from the clone.
        let cargo = shims.join("cargo");
        std::fs::write(
            &cargo,
            format!(
                "#!/bin/sh\nif [ \"$1\" = install ]; then shift; exec '{0}' install --debug \"$@\"; fi\nexec '{0}' \"$@\"\n",
                crate::cargo_install::cargo()
            ),
        )
        .unwrap();
        chmod_x(&cargo);
        let target = crate::cargo_install::warm_target();
        let env = BTreeMap::from([
            ("PATH".into(), path),
            ("CI".into(), "true".into()),
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("RUNNER_TEMP".into(), temp.display().to_string()),
            (
                "GITHUB_PATH".into(),
                tmp.path().join("github_path").display().to_string(),
            ),
            (
                "GITHUB_ENV".into(),
                tmp.path().join("github_env").display().to_string(),
            ),
            // Machines of this run only, apart from every other test's.
            (
                "ORBSIM_HOME".into(),
                tmp.path().join("orbsim-home").display().to_string(),
            ),
            ("CARGO_TARGET_DIR".into(), target.display().to_string()),
            ("NO_COLOR".into(), "1".into()),
        ]);
        Runner { tmp, work, env }
    }

    /// The local equivalent of a `uses:` step (docs/ci.md, "Run it here").
    fn uses(&mut self, step: &Step, action: &str) -> Result<(), String> {
        match action {
            "actions/checkout@v4" => match step.with.get("repository").and_then(Json::as_str) {
                // The user's repository: the example.
                None => copy_dir(&repo().join("examples/ci"), &self.work),
                // orbdeploy's own: a fresh clone of this repository at its HEAD (`ref:` is
                // the commit under test), a copy of the one tests/suite/install.rs installs.
                Some("orbdeploy/orbdeploy") => {
                    let path = step.with.get("path").and_then(Json::as_str).unwrap_or(".");
                    crate::cargo_install::fresh_clone(&self.work.join(path));
                    Ok(())
                }
                Some(other) => Err(format!("checkout of `{other}`: no local equivalent")),
            },
            // The toolchain that built this test.
            "dtolnay/rust-toolchain@stable" => Command::new("cargo")
                .arg("--version")
                .envs(&self.env)
                .status()
                .map_err(|e| format!("cargo: {e}"))
                .and_then(|s| s.success().then_some(()).ok_or("cargo --version failed".into())),
            other => panic!(
                "{WORKFLOW} uses `{other}`, which tests/suite/ci_example.rs has no local equivalent for: add one here and in docs/ci.md"
            ),
        }
    }

    /// A `run:` step, as the runner runs it (`shell: bash`): a script file, `bash
    /// --noprofile --norc -eo pipefail`, then `$GITHUB_PATH` and `$GITHUB_ENV` read.
    fn run(&mut self, step: &Step, script: &str, n: usize) -> Result<(), String> {
        let file = self.tmp.path().join(format!("step-{n}.sh"));
        std::fs::write(&file, script).unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(&self.work)
            .envs(&self.env)
            .envs(&step.env)
            .stdin(Stdio::null());
        let started = Instant::now();
        let out = wait(cmd)?;
        println!(
            "step `{}`: exit {} in {:.1}s",
            step.label(),
            out.0,
            started.elapsed().as_secs_f64()
        );
        println!("{}", out.1);
        let gh_path = std::fs::read_to_string(&self.env["GITHUB_PATH"]).unwrap_or_default();
        for dir in gh_path.lines().filter(|l| !l.is_empty()) {
            let path = format!("{dir}:{}", self.env["PATH"]);
            self.env.insert("PATH".into(), path);
        }
        let _ = std::fs::write(&self.env["GITHUB_PATH"], "");
        let gh_env = std::fs::read_to_string(&self.env["GITHUB_ENV"]).unwrap_or_default();
        for (k, v) in gh_env.lines().filter_map(|l| l.split_once('=')) {
            self.env.insert(k.into(), v.into());
        }
        match out.0 {
            0 => Ok(()),
            code => Err(format!("exit {code}\n{}", out.1)),
        }
    }
}

impl Drop for Runner {
    /// Delete the example's machine whatever happened (the workflow's last step does it
    /// when it gets there).
    fn drop(&mut self) {
        let orbsim = PathBuf::from(env!("CARGO_BIN_EXE_orbdeploy")).with_file_name("orbsim");
        let _ = Command::new(orbsim)
            .args(["delete", "-f", MACHINE])
            .env("ORBSIM_HOME", &self.env["ORBSIM_HOME"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .map_err(|e| e.to_string())?;
    status.success().then_some(()).ok_or("cp failed".into())
}

/// Run `cmd` in its own process group, killed after [`STEP_TIMEOUT`]: its exit code and
/// its output (stdout, then stderr).
fn wait(mut cmd: Command) -> Result<(i32, String), String> {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start bash: {e}"))?;
    let started = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s.code().unwrap_or(-1);
        }
        if started.elapsed() > STEP_TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            return Err(format!("did not finish within {STEP_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = format!(
        "--- stdout ---\n{}--- stderr ---\n{}",
        std::fs::read_to_string(&o).unwrap_or_default(),
        std::fs::read_to_string(&e).unwrap_or_default()
    );
    Ok((code, text))
}

#[test]
fn the_example_workflow_passes_as_a_script() {
    let w = load(WORKFLOW);
    assert_eq!(w.jobs.len(), 1, "{WORKFLOW}: one job, run as one script");
    let job = w.jobs.values().next().unwrap();
    let mut runner = Runner::new();
    runner.env.extend(job.env.clone());
    let mut failed: Option<String> = None;
    for (n, step) in job.steps.iter().enumerate() {
        match step.condition.as_deref() {
            None if failed.is_some() => continue,
            None | Some("always()") => {}
            Some(other) => panic!("step `{}`: `if: {other}` is not known here", step.label()),
        }
        let result = match (&step.uses, &step.run) {
            (Some(action), None) => runner.uses(step, action),
            (None, Some(script)) => runner.run(step, script, n),
            _ => panic!("step `{}`: needs exactly one of uses and run", step.label()),
        };
        if let Err(e) = result {
            failed.get_or_insert(format!("step `{}` failed: {e}", step.label()));
        }
    }
    if let Some(f) = failed {
        panic!("{f}");
    }
    // The deploy wrote its report, and the last step deleted the machine.
    let report = std::fs::read_to_string(runner.work.join("deploy-report.json"))
        .expect("the deploy step wrote deploy-report.json");
    let doc: Json = serde_json::from_str(&report).unwrap();
    assert_eq!(doc["summary"]["exit_code"], 0);
    assert_eq!(doc["machines"][0]["machine"], MACHINE);
    assert_eq!(doc["machine_actions"][0]["action"], "create", "{report}");
    assert_eq!(
        (
            &doc["summary"]["counts"]["changed"],
            &doc["summary"]["counts"]["ran"]
        ),
        (&Json::from(4), &Json::from(2)),
        "{report}"
    );
    let list =
        Command::new(PathBuf::from(env!("CARGO_BIN_EXE_orbdeploy")).with_file_name("orbsim"))
            .args(["list", "-q"])
            .env("ORBSIM_HOME", &runner.env["ORBSIM_HOME"])
            .output()
            .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "",
        "the machine was deleted"
    );
}
