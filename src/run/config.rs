//! What an `apply` or `plan` is asked to do, resolved from the command line by
//! [`crate::cli`]: plain values, no flag parser's types, so the run can be started (and
//! tested) without a command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::remote::Transport;

/// A whole run's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The inventory file.
    pub inventory: PathBuf,
    /// `--var` values (highest precedence), checked.
    pub vars: Vec<(String, String)>,
    /// `--limit` patterns (empty: every machine).
    pub limit: Vec<String>,
    /// `--tags` (empty: every step).
    pub tags: Vec<String>,
    /// `--persist`: every ssh machine's connection outlives the run by this long.
    pub persist: Option<Duration>,
    /// `--shard K/N`: only the selected machines of this share.
    pub shard: Option<crate::inventory::shard::Shard>,
    /// A selection that leaves no machine (or no step) is accepted (`--allow-empty`).
    pub allow_empty: bool,
    /// Apply or plan, and what a plan shows.
    pub mode: RunMode,
    /// Show a unified diff of each put, template and line change.
    pub diff: bool,
    /// How many machines run their steps at once (at least 1).
    pub parallel: usize,
    /// What a failed step stops.
    pub on_failure: OnFailure,
    /// How the reporter shows the run.
    pub output: OutputStyle,
    /// Write the JSON report here.
    pub report: Option<PathBuf>,
    /// Write the JUnit report here.
    pub junit: Option<PathBuf>,
    /// Write the HTML report here.
    pub report_html: Option<PathBuf>,
    /// End the human output with where the time went (`--timings`).
    pub timings: bool,
    /// How machines are reached.
    pub transport: Transport,
    /// A command step sends the steps after it whose decisions are known in the same
    /// request (pipelined steps); `--no-pipeline` turns it off.
    pub pipeline: bool,
    /// How long to wait for a machine another run holds.
    pub lock_timeout: Duration,
    /// Where roles are looked for after `roles/` beside the inventory (`--roles-path`).
    pub roles_path: Vec<PathBuf>,
    /// Identity files for encrypted vars files, tried first (`--identity`).
    pub identities: Vec<PathBuf>,
    /// Write a saved plan (`plan --out`) or apply one (`apply --plan`).
    pub saved_plan: crate::saved_plan::Use,
    /// Only what failed in an earlier report (`apply --rerun-failed`).
    pub rerun: Option<crate::plan::rerun::Request>,
    /// `--serial`: rolling batches, over the inventory's `serial:`.
    pub serial: Option<crate::serial::Serial>,
    /// `--max-fail-percentage`, over the inventory's `max_fail_percentage:`.
    pub max_fail_percentage: Option<u8>,
    /// The command line, as given (the HTML report shows it, masked).
    pub command_line: Vec<std::ffi::OsString>,
    /// What `pipe()` already ran for this command line (`orbdeploy test` runs several
    /// applies; each command runs once).
    pub lookups_learned: crate::lookups::Learned,
}

/// Apply or plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunMode {
    /// Change nothing: decide and describe (`plan`, `apply --dry-run`).
    pub dry_run: bool,
    /// List the orbctl calls of each step (`plan --show-calls`).
    pub show_calls: bool,
    /// End with exit 4 when changes are pending (`plan --exit-code`).
    pub exit_on_changes: bool,
    /// Print every machine's expanded steps and stop (`plan --list-steps`).
    pub list_steps: bool,
}

impl RunMode {
    /// `plan` or `apply`, as the report names the run.
    pub fn name(self) -> crate::report::Mode {
        if self.dry_run {
            crate::report::Mode::Plan
        } else {
            crate::report::Mode::Apply
        }
    }
}

/// What a failed step stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// The rest of its machine's steps (the default).
    #[default]
    Machine,
    /// Nothing: the machine's remaining steps still run (`--keep-going`).
    Nothing,
    /// Every machine, before its next step (`--fail-fast`).
    Everything,
}

/// How the reporter shows the run, already decided from the flags, the terminal and the
/// environment (`CI`, `NO_COLOR`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputStyle {
    /// JSON lines on stdout, nothing else there.
    pub json: bool,
    /// Progress bars on stderr.
    pub progress: bool,
    /// Colour on stdout.
    pub color: bool,
    /// Nothing on stdout at all: the caller reads the returned report and shows what it
    /// wants of it (`orbdeploy test`).
    pub quiet: bool,
}
