//! `orbdeploy test`: scenarios on throwaway machines (docs/scenarios.md). Each scenario
//! file names platforms and what to converge; each platform's machine is cloned from a
//! template (the image, its settings and the `prepare` steps, kept as a stopped machine),
//! then converged, converged again (which must change nothing), verified and deleted. The
//! applies are `run::apply_inventory` in this process, with inventories made in memory.

pub mod cleanup;
pub mod machines;
pub mod output;
pub mod phases;
pub mod sequence;
pub mod template;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::error::{ConfigError, Outcome, RunEnd};
use crate::load::scenario::{self, Scenario};
use crate::orb::Orb;
use crate::read_log::ReadLog;
use crate::run;

use output::{Output, ScenarioRun};

/// What `orbdeploy test` is asked to do, resolved from its flags.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Scenario files, or directories whose `tests/*.yaml` (else `*.yaml`) are taken.
    pub paths: Vec<PathBuf>,
    /// Only the scenarios of these names (`--scenario`).
    pub names: Vec<String>,
    /// Keep every throwaway machine.
    pub keep: bool,
    /// Keep the throwaway machines of the platforms that failed.
    pub keep_failed: bool,
    /// Make every template again.
    pub rebuild: bool,
    /// Remove the leftovers of killed runs and the templates no scenario names, and stop.
    pub cleanup: bool,
    /// `--var` values (highest precedence).
    pub vars: Vec<(String, String)>,
    /// `--roles-path` directories.
    pub roles_path: Vec<PathBuf>,
    /// `--junit`: one case per scenario, platform and phase.
    pub junit: Option<PathBuf>,
    /// `--report`: the converge runs' JSON reports.
    pub report: Option<PathBuf>,
    /// `--report-html`: the converge runs' HTML reports.
    pub report_html: Option<PathBuf>,
    /// The command line (the HTML report shows it).
    pub command_line: Vec<OsString>,
    /// What `pipe()` ran for this `orbdeploy test`: its checks and every phase's run share
    /// it, so a command runs once.
    pub lookups_learned: crate::lookups::Learned,
    /// This run's id (in every throwaway machine's name).
    pub run_id: String,
    /// More than one scenario: the report files get the scenario's name (set by the run).
    pub several: bool,
}

/// A scenario checked before any machine is touched, with each platform's template name.
pub struct Checked {
    /// The scenario.
    pub scenario: Scenario,
    /// Each platform's template, in platform order.
    pub templates: Vec<String>,
}

impl Config {
    /// Where roles are looked for: `roles/` beside the scenario (the loader's own), beside
    /// the scenario's directory (`tests/` of a project), the directory holding the role
    /// whose `tests/` the scenario is in, then `--roles-path`.
    pub fn roles_path(&self, s: &Scenario) -> Vec<PathBuf> {
        let dir = machines::dir_of(&s.path);
        let up = if dir == Path::new(".") {
            PathBuf::from("..")
        } else {
            machines::dir_of(&dir)
        };
        let mut out = vec![match up == Path::new(".") {
            true => PathBuf::from("roles"),
            false => up.join("roles"),
        }];
        if up.join("steps.yaml").is_file() {
            out.push(machines::dir_of(&up));
        }
        out.extend(self.roles_path.iter().cloned());
        out
    }

    /// The configuration of one apply of a scenario's phase; `report_of` names the scenario
    /// whose converge run writes `--report` and `--report-html`.
    pub fn run_config(
        &self,
        s: &Scenario,
        tags: Vec<String>,
        report_of: Option<&Scenario>,
    ) -> run::Config {
        let named = |p: &Option<PathBuf>| {
            let s = report_of?;
            p.as_ref().map(|p| self.report_path(p, &s.name))
        };
        run::Config {
            inventory: s.path.clone(),
            vars: self.vars.clone(),
            limit: Vec::new(),
            tags,
            persist: None,
            shard: None,
            allow_empty: true,
            mode: run::RunMode::default(),
            diff: false,
            parallel: 8,
            on_failure: run::OnFailure::Machine,
            output: run::OutputStyle {
                quiet: true,
                ..run::OutputStyle::default()
            },
            report: named(&self.report),
            junit: None,
            report_html: named(&self.report_html),
            timings: false,
            transport: crate::remote::Transport::Channel,
            pipeline: true,
            lock_timeout: Duration::from_secs(300),
            roles_path: self.roles_path(s),
            identities: Vec::new(),
            saved_plan: crate::saved_plan::Use::None,
            rerun: None,
            serial: None,
            max_fail_percentage: None,
            command_line: self.command_line.clone(),
            lookups_learned: self.lookups_learned.clone(),
        }
    }

    /// `report.json` as given for one scenario; `report.NAME.json` when there are several.
    fn report_path(&self, path: &Path, scenario: &str) -> PathBuf {
        if !self.several {
            return path.to_path_buf();
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let ext = path.extension().map(|s| s.to_string_lossy().into_owned());
        let name = match ext {
            Some(ext) => format!("{}.{scenario}.{ext}", stem.unwrap_or_default()),
            None => format!("{}.{scenario}", stem.unwrap_or_default()),
        };
        path.with_file_name(name)
    }
}

/// The scenario files `paths` name: files as given; for a directory, its `tests/*.yaml`,
/// else its own `*.yaml`; no path is `.`.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    let here = [PathBuf::from(".")];
    let paths = if paths.is_empty() { &here[..] } else { paths };
    let mut files = Vec::new();
    for p in paths {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        // `tests/x.yaml`, not `./tests/x.yaml`, in messages about the directory here.
        let base = if p == Path::new(".") {
            PathBuf::new()
        } else {
            p.clone()
        };
        let dir = if p.join("tests").is_dir() {
            base.join("tests")
        } else {
            p.clone()
        };
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| {
                ConfigError::in_file(
                    &dir,
                    format!("cannot read directory: {}", crate::yaml::io_reason(&e)),
                )
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml") && f.is_file())
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(ConfigError::in_file(
                &dir,
                "no scenario files here: expected tests/*.yaml (or name the files)",
            ));
        }
        files.extend(found);
    }
    Ok(files)
}

/// Load and check every scenario `cfg` names (exit 2 on any mistake, before any machine).
pub fn load_all(cfg: &Config) -> Result<Vec<Checked>, ConfigError> {
    let mut out = Vec::new();
    for path in find(&cfg.paths)? {
        let s = scenario::load(&path, &ReadLog::default())?;
        if !cfg.names.is_empty() && !cfg.names.contains(&s.name) {
            continue;
        }
        if let Some(other) = out.iter().find(|c: &&Checked| c.scenario.name == s.name) {
            return Err(ConfigError::in_file(
                &path,
                format!(
                    "scenario `{}` is also {}: give one a `name:`",
                    s.name,
                    other.scenario.path.display()
                ),
            ));
        }
        let roles = cfg.roles_path(&s);
        let templates = s
            .file
            .platforms
            .iter()
            .map(|p| template::check(&s, &p.value, (&cfg.vars, &cfg.lookups_learned), &roles))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Checked {
            scenario: s,
            templates,
        });
    }
    for name in &cfg.names {
        if !out.iter().any(|c| c.scenario.name == *name) {
            return Err(ConfigError::plain(format!(
                "--scenario `{name}`: no scenario of that name"
            )));
        }
    }
    Ok(out)
}

/// `orbdeploy test`.
pub fn test(orb: &Orb, cfg: &Config) -> Result<()> {
    crate::interrupt::install();
    if cfg.cleanup {
        return cleanup::cleanup(orb, cfg);
    }
    let checked = load_all(cfg)?;
    let mut cfg = cfg.clone();
    cfg.run_id = machines::run_id();
    cfg.several = checked.len() > 1;
    let mut out = Output::default();
    let mut all = Vec::new();
    for c in &checked {
        if crate::interrupt::requested() {
            break;
        }
        let platforms = sequence::run(orb, &cfg, c, &cfg.run_id, &mut out);
        all.push(ScenarioRun {
            name: c.scenario.name.clone(),
            platforms,
        });
    }
    let kept = all.iter().flat_map(|s| &s.platforms).any(|r| r.kept);
    let kept_inventory = if kept {
        kept_inventory(&cfg.run_id)
    } else {
        None
    };
    out.summary(&all, kept_inventory.as_deref());
    if let Some(path) = &cfg.junit {
        crate::report::write_atomic(path, output::junit(&all).as_bytes())?;
    }
    if crate::interrupt::requested() {
        return Err(Outcome::Reported(RunEnd::Interrupted).into());
    }
    let bad_input = all
        .iter()
        .flat_map(|s| &s.platforms)
        .flat_map(|r| &r.phases)
        .any(|p| p.bad_input);
    if bad_input {
        return Err(ConfigError::plain(
            "a scenario's steps cannot be applied as written (the phase that failed says where)",
        )
        .into());
    }
    let passed = all.iter().flat_map(|s| &s.platforms).all(|r| r.passed());
    if passed {
        Ok(())
    } else {
        Err(Outcome::Reported(RunEnd::Failed).into())
    }
}

/// An inventory that discovers this run's kept machines, for `orbdeploy exec` (in the
/// temporary directory: it names machines, nothing of the project).
fn kept_inventory(run_id: &str) -> Option<PathBuf> {
    let path = std::env::temp_dir().join(format!("orbdeploy-test-{run_id}.yaml"));
    let text = format!(
        "# The machines `orbdeploy test` kept (run {run_id}).\ndiscover:\n  match: \"{}{run_id}-*\"\n",
        machines::PREFIX
    );
    crate::report::write_atomic(&path, text.as_bytes()).ok()?;
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_get_the_scenario_s_name_only_when_there_are_several() {
        let mut cfg = Config::default();
        let path = Path::new("out/report.json");
        assert_eq!(
            cfg.report_path(path, "default"),
            PathBuf::from("out/report.json")
        );
        cfg.several = true;
        assert_eq!(
            cfg.report_path(path, "default"),
            PathBuf::from("out/report.default.json")
        );
        assert_eq!(
            cfg.report_path(Path::new("report"), "web"),
            PathBuf::from("report.web")
        );
    }

    #[test]
    fn a_directory_s_tests_are_its_scenarios_and_a_directory_without_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tests = dir.path().join("tests");
        std::fs::create_dir_all(&tests).expect("mkdir");
        for f in ["b.yaml", "a.yml", "notes.txt"] {
            std::fs::write(tests.join(f), "x: 1\n").expect("write");
        }
        let found = find(&[dir.path().to_path_buf()]).expect("found");
        assert_eq!(found, vec![tests.join("a.yml"), tests.join("b.yaml")]);
        let empty = tempfile::tempdir().expect("tempdir");
        let err = find(&[empty.path().to_path_buf()]).expect_err("nothing there");
        assert!(err.to_string().contains("no scenario files here"), "{err}");
    }
}
