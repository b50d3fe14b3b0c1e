//! Unit tests of one machine's run ([`super::host::run`]) and of one step
//! ([`super::step::run`]) against a [`FakeMachine`]: the inventory and operations are
//! written into a temporary directory and loaded as `apply` loads them, the machine is a
//! directory of this host (see `remote::fake`), and the tests read what the run reported
//! (its step results) and what the machine was asked to run. No root, no orbctl.

mod groups;
mod host;
mod loops;
mod pipeline;
mod step;
mod verdict;
mod window;

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use crate::inventory::Inventory;
use crate::plan::rerun::Resume;
use crate::remote::fake::FakeMachine;
use crate::report::{Event, HostResult, Sender, StepResult, StepStatus};
use crate::steps::{LoadOptions, Playbook};
use crate::template::Renderer;

use super::config::{Config, OnFailure, OutputStyle, RunMode};
use super::step::Shared;

/// The machine every test's inventory declares.
pub(super) const MACHINE: &str = "m1";

/// A run's configuration with nothing asked for: apply, stop the machine at a failure.
pub(super) fn config() -> Config {
    Config {
        shard: None,
        persist: None,
        allow_empty: false,
        inventory: "inv.yaml".into(),
        vars: Vec::new(),
        limit: Vec::new(),
        tags: Vec::new(),
        mode: RunMode::default(),
        diff: false,
        parallel: 1,
        on_failure: OnFailure::Machine,
        output: OutputStyle::default(),
        report: None,
        junit: None,
        report_html: None,
        timings: false,
        transport: crate::remote::Transport::Channel,
        pipeline: true,
        lock_timeout: std::time::Duration::from_secs(1),
        roles_path: Vec::new(),
        identities: Vec::new(),
        saved_plan: crate::saved_plan::Use::None,
        rerun: None,
        serial: None,
        max_fail_percentage: None,
        command_line: Vec::new(),
        lookups_learned: Default::default(),
    }
}

/// An inventory of one machine (`m1`, whose variable `root` is the fake machine's
/// directory) and its operations `ops`, loaded.
pub(super) struct Loaded {
    _dir: tempfile::TempDir,
    pub inv: Inventory,
    pub book: Playbook,
    pub renderer: Renderer,
}

/// Load `ops` (an operations file) for a machine whose files live under `root`.
pub(super) fn load(root: &std::path::Path, ops: &str) -> Loaded {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ops.yaml"), ops).expect("write ops");
    let inventory = format!(
        "vars: {{ root: {} }}\nmachines:\n  {MACHINE}: {{}}\noperations: ops.yaml\n",
        serde_json::Value::String(root.display().to_string())
    );
    let path = dir.path().join("inv.yaml");
    std::fs::write(&path, inventory).expect("write inventory");
    let inv = crate::inventory::load(&path, &[]).expect("inventory loads");
    let renderer = Renderer::new();
    let book = crate::steps::load_with(&inv, &renderer, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("operations load: {e}"));
    Loaded {
        _dir: dir,
        inv,
        book,
        renderer,
    }
}

/// What one machine's run reported.
pub(super) struct Reported {
    pub host: HostResult,
    pub steps: Vec<StepResult>,
    /// `(name, status)` of each step result, in order.
    pub rows: Vec<(String, StepStatus)>,
}

impl Reported {
    /// The result of the step named `name` (the first one).
    pub fn step(&self, name: &str) -> &StepResult {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step `{name}` in {:?}", self.rows))
    }
}

/// `rows` written compactly: `[("a", Ok), ...]`.
pub(super) fn rows(expected: &[(&str, StepStatus)]) -> Vec<(String, StepStatus)> {
    expected.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

/// Run the one machine's steps and handlers on `fake`, as phase 2 does.
pub(super) fn run_host(loaded: &Loaded, config: &Config, fake: &mut FakeMachine) -> Reported {
    run_host_beside(
        loaded,
        config,
        fake,
        &AtomicBool::new(false),
        Resume::default(),
    )
}

/// [`run_host`] with `stop_all`, the flag `--fail-fast` shares with the other machines,
/// and where the machine resumes (`apply --rerun-failed`).
pub(super) fn run_host_beside(
    loaded: &Loaded,
    config: &Config,
    fake: &mut FakeMachine,
    stop_all: &AtomicBool,
    resume: Resume,
) -> Reported {
    let mut plan = crate::plan::select(&loaded.inv, &loaded.book, (&[], None), &[]).expect("plan");
    plan.machines[0].resume = resume;
    let (events, rx) = Sender::collecting();
    let host = {
        let shared = Shared {
            renderer: &loaded.renderer,
            events,
            config,
            stop_all,
            hostvars: &plan.hostvars,
            watch: None,
        };
        super::host::run(&shared, &plan.machines[0], fake)
    };
    // Ctrl-C played by the fake ends with the test's run.
    crate::interrupt::request_on_this_thread(false);
    let steps = step_results(&rx);
    let rows = steps.iter().map(|s| (s.name.clone(), s.status)).collect();
    Reported { host, steps, rows }
}

/// The step results sent so far (every sender is dropped by then).
fn step_results(rx: &mpsc::Receiver<(u64, Event)>) -> Vec<StepResult> {
    rx.try_iter()
        .filter_map(|(_, e)| match e {
            Event::Step(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Load `ops` for `fake` (a machine the test may have programmed) and run it with
/// `config`.
pub(super) fn apply_on(
    mut fake: FakeMachine,
    ops: &str,
    config: &Config,
) -> (Reported, FakeMachine) {
    let loaded = load(fake.root(), ops);
    let ran = run_host(&loaded, config, &mut fake);
    (ran, fake)
}

/// [`apply_on`] a fresh machine, with the default configuration.
pub(super) fn apply(ops: &str) -> (Reported, FakeMachine) {
    apply_on(FakeMachine::new(MACHINE), ops, &config())
}

/// The content of `rel` under the machine's root ("" when missing).
pub(super) fn read(fake: &FakeMachine, rel: &str) -> String {
    std::fs::read_to_string(fake.root().join(rel)).unwrap_or_default()
}
