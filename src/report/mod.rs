//! Results and the reporter. Workers send [`Event`]s; one reporter thread owns the
//! terminal (human lines or progress bars, or JSON lines with `--output json`) and builds
//! the final [`Report`] for `--report`, `--junit` and `--report-html`. Every event passes
//! through the [`Masker`] first, so no secret reaches any output.

mod breakdown;
pub mod html;
mod human;
pub mod junit;
mod live;
mod mask;
pub mod merge;
mod status;
mod summary;
mod timings;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ops::Kind;

pub use mask::{Mask, Masker};
pub use status::{
    ActionKind, ActionStatus, Closing, Column, Counts, HostStatus, HostTraits, JunitAs, Mode,
    StepStatus, Traits,
};
pub use timings::{HostTimings, Millis, StepTimings};

/// Version of the `--report` document; bumped when fields are added (2: a step's `timings`,
/// and its `item` and `origin`, optional so that readers of version 1 documents still parse
/// them; 3: `inventory_path` and `inventory_sha256`, which `apply --rerun-failed` checks;
/// 4: rolling batches, a machine's `batch` and the machine status `not_started`).
pub const REPORT_VERSION: u32 = 4;

/// Details of a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureInfo {
    /// What went wrong and what to do.
    pub message: String,
    /// The exact script that failed, when there is one.
    pub command: Option<String>,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// Last lines of its stdout.
    pub stdout_tail: String,
    /// Last lines of its stderr.
    pub stderr_tail: String,
}

/// One step on one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    /// The machine.
    pub machine: String,
    /// Position in the operations (handlers after the steps).
    pub index: usize,
    /// Display name.
    pub name: String,
    /// Operation kind.
    pub kind: Kind,
    /// True for a handler.
    pub handler: bool,
    /// Outcome.
    pub status: StepStatus,
    /// What changed / would change, in words.
    pub changes: Vec<String>,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// Unified diff (`--diff`).
    pub diff: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// When it started, in milliseconds since the run started (the `run_started` event).
    /// Stamped by [`Sender::send`], which knows the run's clock; 0 when read from a report
    /// written before it existed.
    #[serde(default)]
    pub start_ms: u64,
    /// Attempts made (more than 1 with `retries`).
    pub attempts: u32,
    /// The failure, when it failed.
    pub failure: Option<FailureInfo>,
    /// orbctl calls apply would make (`plan --show-calls`).
    pub calls: Vec<String>,
    /// Where its time went; `None` for a step that never reached its machine (unreachable,
    /// or in a plan one that would be created or started first).
    #[serde(default)]
    pub timings: Option<StepTimings>,
    /// The item of a loop this row is (absent for a step without a loop, and in reports
    /// written before version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<ItemInfo>>,
    /// Where the step was written (absent in reports written before version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Box<StepOrigin>>,
}

impl StepResult {
    /// The row of a step with nothing recorded yet but how it ended.
    pub fn new(machine: &str, index: usize, name: &str, kind: Kind, status: StepStatus) -> Self {
        StepResult {
            machine: machine.to_string(),
            index,
            name: name.to_string(),
            kind,
            handler: false,
            status,
            changes: Vec::new(),
            reason: None,
            diff: None,
            duration_ms: 0,
            start_ms: 0,
            attempts: 0,
            failure: None,
            calls: Vec::new(),
            timings: None,
            item: None,
            origin: None,
        }
    }
}

/// The item of a loop a step row is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemInfo {
    /// What the row's name shows of it (`label:`, or the item shortened).
    pub label: String,
    /// Position among the loop's items, from 0 (absent: the item of an include's loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// How many items the loop has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

/// Where a step was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOrigin {
    /// The file, as messages name it.
    pub file: String,
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
    /// The role the step belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The include and role calls that led to it, outermost first (`file:line:column
    /// include FILE` or `... role NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_chain: Vec<String>,
}

/// The machine phase (create / start / stop / delete) for one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineAction {
    /// The machine.
    pub machine: String,
    /// What was (or would be) done.
    pub action: ActionKind,
    /// How it ended.
    pub status: ActionStatus,
    /// Details (errors, drift, adoption).
    pub message: Option<String>,
    /// The orbctl argv (shown by plan --show-calls).
    pub argv: Vec<String>,
}

/// One machine at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResult {
    /// The machine.
    pub machine: String,
    /// Outcome.
    pub status: HostStatus,
    /// Counts of its steps.
    pub counts: Counts,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Why it is unreachable or was not started, when it is.
    pub error: Option<String>,
    /// Where its time went; `None` for a machine that ran no steps.
    #[serde(default)]
    pub timings: Option<HostTimings>,
    /// Its rolling batch, from 1 (absent without `serial`; version 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
}

/// One rolling batch (`serial`): its machines, and whether it was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInfo {
    /// Its number, from 1.
    pub number: usize,
    /// How many batches the run has.
    pub of: usize,
    /// Its machines, in inventory order.
    pub machines: Vec<String>,
    /// False when an earlier batch's failures (or an interruption) kept it from starting.
    pub started: bool,
}

impl BatchInfo {
    /// `batch 2/3: web-3 web-4`.
    pub fn line(&self) -> String {
        format!(
            "batch {}/{}: {}",
            self.number,
            self.of,
            self.machines.join(" ")
        )
    }
}

/// What the reporter receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run begins.
    RunStarted {
        /// apply or plan.
        mode: Mode,
        /// Selected machines.
        machines: Vec<String>,
        /// Number of steps in the operations.
        steps: usize,
    },
    /// A rolling batch begins (or, `started` false, will not): sent before its machines'
    /// first event.
    Batch(BatchInfo),
    /// A machine action of the first phase.
    Machine(MachineAction),
    /// A machine starts its steps.
    HostStarted {
        /// The machine.
        machine: String,
        /// Steps it will go through.
        steps: usize,
    },
    /// A step starts (drives the progress line of its machine).
    StepStarted {
        /// The machine.
        machine: String,
        /// The step's name.
        name: String,
    },
    /// A step finished.
    Step(StepResult),
    /// A machine finished.
    Host(HostResult),
    /// The last event, also after a failure or Ctrl-C.
    Summary(Summary),
}

/// The totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// apply or plan.
    pub mode: Mode,
    /// Exit code orbdeploy ends with.
    pub exit_code: i32,
    /// Ctrl-C / SIGTERM arrived.
    pub interrupted: bool,
    /// Totals over all machines.
    pub counts: Counts,
    /// Machines per status.
    pub machines: BTreeMap<String, u32>,
    /// Wall time of the whole run in milliseconds.
    pub duration_ms: u64,
}

/// The `--report` document (schema: docs/report-schema.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Always `orbdeploy-report`.
    pub schema: String,
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// orbdeploy's version.
    pub orbdeploy_version: String,
    /// apply or plan.
    pub mode: Mode,
    /// The inventory file.
    pub inventory: String,
    /// The inventory file's absolute path (symbolic links resolved), when it could be
    /// resolved: with [`Report::inventory_sha256`], which inventory the report is of.
    #[serde(default)]
    pub inventory_path: Option<String>,
    /// SHA-256 of the inventory file's bytes when the run started (hex).
    #[serde(default)]
    pub inventory_sha256: Option<String>,
    /// Start time, seconds since the Unix epoch.
    pub started_unix: u64,
    /// Machine actions of the first phase.
    pub machine_actions: Vec<MachineAction>,
    /// The rolling batches, in order (empty without `serial`; version 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<BatchInfo>,
    /// One entry per machine, with its steps.
    pub machines: Vec<ReportMachine>,
    /// The totals.
    pub summary: Summary,
}

impl Report {
    /// A report of a run of `mode` on `inventory` (with its identity, see
    /// [`inventory_identity`]), started at `started_unix`, with nothing in it yet.
    pub fn new(
        mode: Mode,
        inventory: String,
        identity: Option<(String, String)>,
        started_unix: u64,
    ) -> Report {
        Report {
            schema: "orbdeploy-report".into(),
            version: REPORT_VERSION,
            orbdeploy_version: env!("CARGO_PKG_VERSION").into(),
            mode,
            inventory,
            inventory_path: identity.as_ref().map(|i| i.0.clone()),
            inventory_sha256: identity.map(|i| i.1),
            started_unix,
            machine_actions: Vec::new(),
            batches: Vec::new(),
            machines: Vec::new(),
            summary: Summary {
                mode,
                exit_code: 0,
                interrupted: false,
                counts: Counts::default(),
                machines: BTreeMap::new(),
                duration_ms: 0,
            },
        }
    }
}

/// A machine in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportMachine {
    /// How it ended.
    #[serde(flatten)]
    pub result: HostResult,
    /// Its steps in order.
    pub steps: Vec<StepResult>,
}

/// How to show the run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Nothing on stdout or stderr (the caller shows the returned report).
    pub quiet: bool,
    /// JSON lines on stdout.
    pub json: bool,
    /// Progress bars (already resolved from --progress, the terminal and CI).
    pub progress: bool,
    /// Colour (NO_COLOR unset and a terminal).
    pub color: bool,
    /// apply or plan.
    pub mode: Mode,
    /// The inventory path (for the report).
    pub inventory: String,
    /// `--report PATH`.
    pub report: Option<PathBuf>,
    /// `--junit PATH`.
    pub junit: Option<PathBuf>,
    /// `--report-html PATH`.
    pub html: Option<PathBuf>,
    /// Show the orbctl calls (plan --show-calls).
    pub show_calls: bool,
    /// Show where the time went at the end of the human output (`--timings`).
    pub timings: bool,
    /// How long connecting to the ssh machines took, before the reporter started (`None`
    /// when the run has none).
    pub connecting_ms: Option<u64>,
    /// The command line that started the run (the HTML report shows it, masked).
    pub command_line: Vec<std::ffi::OsString>,
    /// Which inventory file the run read: its absolute path and the SHA-256 of the bytes
    /// loaded (`None` when unknown).
    pub inventory_identity: Option<(String, String)>,
}

/// The sending side given to workers.
#[derive(Clone)]
pub struct Sender {
    tx: mpsc::Sender<(u64, Event)>,
    masker: Masker,
    /// The run's clock: every event is stamped with the milliseconds since [`start`].
    t0: Instant,
}

impl Sender {
    /// A sender whose events go nowhere: for a pass whose results only its caller
    /// reads (the facts check of `apply --plan`).
    pub fn discarding() -> Sender {
        let (tx, _) = mpsc::channel();
        Sender {
            tx,
            masker: Masker::default(),
            t0: Instant::now(),
        }
    }

    /// Tests: a sender whose events (unmasked: no secrets) wait on the receiver returned
    /// with it.
    #[cfg(test)]
    pub(crate) fn collecting() -> (Sender, mpsc::Receiver<(u64, Event)>) {
        let (tx, rx) = mpsc::channel();
        let sender = Sender {
            tx,
            masker: Masker::default(),
            t0: Instant::now(),
        };
        (sender, rx)
    }

    /// Send an event (masked), stamped with the time it was sent. A step result is sent
    /// the moment its step ends, so its start is that time less its duration; stamping
    /// here keeps the workers free of the run's clock.
    pub fn send(&self, event: Event) {
        let at = ms(self.t0.elapsed());
        let mut event = event.masked(&self.masker);
        if let Event::Step(s) = &mut event {
            s.start_ms = at.saturating_sub(s.duration_ms);
        }
        let _ = self.tx.send((at, event));
    }
}

/// The reporter thread's handle.
pub struct Reporter {
    handle: std::thread::JoinHandle<std::io::Result<Report>>,
}

/// Start the reporter.
pub fn start(mut opts: Options, masker: Masker) -> (Sender, Reporter) {
    let (tx, rx) = mpsc::channel::<(u64, Event)>();
    let t0 = Instant::now();
    let command = html::command_line(&opts.command_line, &masker);
    opts.inventory.mask(&masker);
    let mut identity = opts.inventory_identity.take();
    if let Some((path, _)) = identity.as_mut() {
        path.mask(&masker);
    }
    let handle = std::thread::spawn(move || run(opts, rx, command, identity));
    (Sender { tx, masker, t0 }, Reporter { handle })
}

impl Reporter {
    /// Wait for the reporter to drain every event (all senders dropped) and write the
    /// files; returns the report.
    pub fn finish(self) -> anyhow::Result<Report> {
        match self.handle.join() {
            Ok(r) => Ok(r?),
            Err(_) => anyhow::bail!("the reporter thread panicked"),
        }
    }
}

fn run(
    opts: Options,
    rx: mpsc::Receiver<(u64, Event)>,
    command: String,
    identity: Option<(String, String)>,
) -> std::io::Result<Report> {
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut report = Report::new(opts.mode, opts.inventory.clone(), identity, started_unix);
    let mut steps: BTreeMap<String, Vec<StepResult>> = BTreeMap::new();
    let mut human = (!opts.json && !opts.quiet).then(|| human::Human::new(&opts));
    let mut clock = html::Clock::default();
    // When the first machine started its steps: the end of what came before them.
    let mut steps_began: Option<u64> = None;
    let stdout = std::io::stdout();
    for (at, event) in rx {
        if opts.json && !opts.quiet {
            let mut out = stdout.lock();
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        } else if let Some(h) = human.as_mut() {
            h.event(&event);
        }
        match event {
            Event::HostStarted { .. } => {
                steps_began.get_or_insert(at);
            }
            Event::Batch(b) => report.batches.push(b),
            Event::Machine(a) => {
                clock.phase1_end_ms.insert(a.machine.clone(), at);
                report.machine_actions.push(a);
            }
            Event::Step(s) => steps.entry(s.machine.clone()).or_default().push(s),
            Event::Host(h) => {
                let st = steps.remove(&h.machine).unwrap_or_default();
                report.machines.push(ReportMachine {
                    result: h,
                    steps: st,
                });
            }
            Event::Summary(s) => {
                clock.end_ms = at;
                report.summary = s;
            }
            _ => {}
        }
    }
    report
        .machines
        .sort_by(|a, b| a.result.machine.cmp(&b.result.machine));
    let phase1 = clock.phase1_end_ms.values().max().copied();
    let before_ms = steps_began.or(phase1).unwrap_or(clock.end_ms);
    let page = html::Page { command, clock };
    // Written before the end of the human output, so that it can name them; the summary
    // is shown even when a file could not be written.
    let written = write_files(&opts, &report, &page);
    if let Some(h) = human.as_mut() {
        let names = if written.is_ok() {
            report_files(&opts)
        } else {
            Vec::new()
        };
        h.finish(&report, before_ms, &names);
    }
    written?;
    Ok(report)
}

/// The report files a run writes, as given on the command line, and what each is.
fn report_files(opts: &Options) -> Vec<(String, &'static str)> {
    [
        (&opts.report, "JSON"),
        (&opts.junit, "JUnit"),
        (&opts.html, "HTML"),
    ]
    .into_iter()
    .filter_map(|(path, what)| path.as_ref().map(|p| (p.display().to_string(), what)))
    .collect()
}

/// `--report`, `--junit` and `--report-html`, each renamed into place.
fn write_files(opts: &Options, report: &Report, page: &html::Page) -> std::io::Result<()> {
    if let Some(path) = &opts.report {
        let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
        write_atomic(path, text.as_bytes())?;
    }
    if let Some(path) = &opts.junit {
        write_atomic(path, junit::render(report).as_bytes())?;
    }
    if let Some(path) = &opts.html {
        write_atomic(path, html::render(report, page).as_bytes())?;
    }
    Ok(())
}

/// Totals from per-machine results.
pub fn totals(hosts: &[HostResult]) -> (Counts, BTreeMap<String, u32>) {
    let mut c = Counts::default();
    let mut m = BTreeMap::new();
    for h in hosts {
        c.merge(&h.counts);
        *m.entry(h.status.key().to_string()).or_insert(0) += 1;
    }
    (c, m)
}

/// Write a local file by renaming a temporary file into place.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _guard = crate::interrupt::HardExitGuard::new(&tmp);
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Which inventory file `path` is: its absolute path (symbolic links resolved) and the
/// SHA-256 of its bytes, in hex; `None` when it cannot be read.
pub fn inventory_identity(path: &std::path::Path) -> Option<(String, String)> {
    use sha2::Digest;
    let abs = std::fs::canonicalize(path).ok()?;
    let bytes = std::fs::read(&abs).ok()?;
    let sum = format!("{:x}", sha2::Sha256::digest(bytes));
    Some((abs.display().to_string(), sum))
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}
