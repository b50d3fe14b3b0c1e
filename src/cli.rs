//! The command line (the only module that knows clap), in two stages: clap parses the
//! raw flags into the `*Args` types, then each command's flags are resolved into the
//! plain configuration the command runs with ([`ApplyArgs::config`], [`PlanArgs::config`]):
//! checks clap cannot express (the form of `--var`) and what depends on the terminal and
//! the environment (progress bars, colour) are decided there, once, so nothing past this
//! module sees a flag. (The smaller commands under [`crate::commands`] read their `*Args`
//! themselves; this module depends on none of them.)

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::ConfigError;
use crate::inventory::shard::Shard;
use crate::plan::rerun::Request;
use crate::remote::Transport;
use crate::run;

/// What `--version` prints after the name: the version and the git commit it was built
/// from (`unknown` outside a git checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ORBDEPLOY_COMMIT"),
    ")"
);

/// `--parallel`'s default: at 100 ssh hosts on a 2-core controller, 25 and 50 were equally
/// fast, 10 and 100 slower (BENCHMARKS.md, "A fleet"); 25 of the two holds fewer
/// connections, processes and memory at once.
pub const DEFAULT_PARALLEL: u16 = 25;

/// Deploy runner for OrbStack Linux machines.
#[derive(Debug, Parser)]
#[command(name = "orbdeploy", version = VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// The orbctl binary to use.
    #[arg(
        long,
        global = true,
        env = "ORBDEPLOY_ORBCTL",
        default_value = "orbctl",
        value_name = "PATH"
    )]
    pub orbctl: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the machines of an inventory with their groups and variables.
    Inventory(InventoryArgs),
    /// Inspect OrbStack machines.
    #[command(subcommand)]
    Machines(MachinesCommand),
    /// Bring the machines to the declared state: create/start them, then apply the operations.
    Apply(ApplyArgs),
    /// Show what `apply` would do, changing nothing (= apply --dry-run).
    Plan(PlanArgs),
    /// Run one command on every selected machine, in parallel.
    Exec(ExecArgs),
    /// Test a role or a deploy on throwaway machines: per scenario and platform, create
    /// (a clone of a prepared template), converge, idempotence, verify, destroy
    /// (docs/scenarios.md).
    Test(TestArgs),
    /// Encrypt, decrypt, edit and re-encrypt age-encrypted vars files.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Write a small, commented starting point (inventory, operations with a handler, a
    /// template, a role) into DIR, and say what to run next.
    Init {
        /// Where to write it (made when missing); no existing file is overwritten.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print the JSON Schema of the inventory, an operations file or a scenario (for editors:
    /// completion and validation; docs/schema/ keeps the same text).
    Schema {
        /// Which file's schema.
        document: SchemaDocument,
    },
    /// The ssh connections that outlive runs (`persist`).
    #[command(subcommand)]
    Ssh(SshCommand),
    /// Work with `--report` documents.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: CompletionShell,
    },
}

/// `orbdeploy inventory`.
#[derive(Debug, clap::Args)]
pub struct InventoryArgs {
    /// The inventory file.
    pub inventory: PathBuf,
    /// Show every variable of every machine and where its value comes from.
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON document instead of text.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,
    /// Connect to the ssh machines and show the facts they report (distro, version, arch,
    /// ip4, login user), or why they cannot be reached. Changes nothing on them.
    #[arg(long)]
    pub probe: bool,
    /// Set a variable (highest precedence); repeatable.
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// Only these machines, groups or globs; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub limit: Vec<String>,
    /// Also look for roles in this directory (after `roles/` beside the inventory);
    /// repeatable. `--explain` shows what includes and roles add.
    #[arg(long = "roles-path", value_name = "DIR")]
    pub roles_path: Vec<PathBuf>,
}

/// Output format on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines and a summary table for people.
    Human,
    /// JSON lines (one event per line), nothing else on stdout.
    Json,
}

/// When to draw progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// On a terminal, unless `CI` is set.
    Auto,
    /// Whenever stderr is a terminal.
    Always,
    /// Never; one plain line per finished step.
    Never,
}

/// Flags shared by `apply` and `plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The inventory file (with `apply --plan`, the plan's when not given; with
    /// `plan --show`, none).
    #[arg(required_unless_present = "saved_plan")]
    pub inventory: Option<PathBuf>,
    /// Show a unified diff for put, template and line changes.
    #[arg(long)]
    pub diff: bool,
    /// Only these machines, groups or globs; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub limit: Vec<String>,
    /// Only steps with one of these tags (comma-separated or repeated); handlers always qualify.
    #[arg(long, value_name = "TAG", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Only the selected machines of share K of N (1 <= K <= N); a machine's share comes
    /// from its name alone (docs/fleet.md), for splitting a fleet across CI jobs.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Keep each ssh machine's connection this long after the run (`90s`, `10m`), for
    /// later runs to reuse without logging in (as `persist:` in its `ssh:` block).
    #[arg(long, value_name = "DURATION", value_parser = parse_persist)]
    pub persist: Option<Duration>,
    /// A `--limit`, `--tags`, `--shard` or inventory that selects no machine (or no step)
    /// is not an error (exit 2) but a run that does nothing (exit 0).
    #[arg(long)]
    pub allow_empty: bool,
    /// Set a variable (highest precedence); repeatable.
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// How many machines at once. The default suits about 100 ssh hosts (measured in
    /// BENCHMARKS.md, "A fleet"); fewer machines run all at once.
    #[arg(long, default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Rolling batches, over the inventory's `serial:`: a number of machines, a percentage
    /// (`25%`) or growing sizes (`1,5,25%`, the last repeating); each batch is created,
    /// started and applied before the next (docs/batches.md).
    #[arg(long, value_name = "SIZES")]
    pub serial: Option<String>,
    /// With batches: the share of a batch's machines (0 to 100) that may fail before the
    /// later batches are not started; over the inventory's `max_fail_percentage:` (default 0).
    #[arg(long, value_name = "PERCENT")]
    pub max_fail_percentage: Option<String>,
    /// A failed step does not stop its machine: the remaining steps still run.
    #[arg(long, conflicts_with = "fail_fast")]
    pub keep_going: bool,
    /// The first failure anywhere stops every machine before its next step.
    #[arg(long)]
    pub fail_fast: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Write the JSON report (docs/report-schema.json) to this file.
    #[arg(long, value_name = "PATH.json")]
    pub report: Option<PathBuf>,
    /// Write a JUnit XML report to this file.
    #[arg(long, value_name = "PATH.xml")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report (timeline, tables, failures) to this file.
    #[arg(long, value_name = "PATH.html")]
    pub report_html: Option<PathBuf>,
    /// Progress bars.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// End the human output with where the time went: phases, the transport's share, the
    /// slowest machines and steps.
    #[arg(long)]
    pub timings: bool,
    /// Use one `orbctl run` per command and `orbctl push`/`pull` per file instead of the
    /// persistent channel.
    #[arg(long)]
    pub no_channel: bool,
    /// Seconds to wait for a machine another orbdeploy run is applying to.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub lock_timeout: u64,
    /// Also look for roles in this directory (after `roles/` beside the inventory, before
    /// `ORBDEPLOY_ROLES_PATH`); repeatable.
    #[arg(long = "roles-path", value_name = "DIR")]
    pub roles_path: Vec<PathBuf>,
    /// An age identity file or ssh private key for encrypted vars files, tried before
    /// `ORBDEPLOY_AGE_IDENTITY` and ~/.ssh/id_ed25519, ~/.ssh/id_rsa; repeatable.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

/// `orbdeploy apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// Shared flags.
    #[command(flatten)]
    pub run: RunArgs,
    /// Change nothing: show what would change (same as `plan`).
    #[arg(long, conflicts_with = "saved_plan")]
    pub dry_run: bool,
    /// Apply exactly this saved plan (`plan --out`), refused (exit 5) when it is stale.
    #[arg(
        long = "plan",
        id = "saved_plan",
        value_name = "PLAN.json",
        conflicts_with = "shard"
    )]
    pub saved_plan: Option<PathBuf>,
    /// With `--plan`: also run the steps the plan could not decide (unknown).
    #[arg(long, requires = "saved_plan")]
    pub allow_unknown: bool,
    /// Only the machines that failed, were unreachable or were not started in this `--report` document (of
    /// the same inventory), from their first step.
    #[arg(long, value_name = "REPORT.json", conflicts_with = "saved_plan")]
    pub rerun_failed: Option<PathBuf>,
    /// With --rerun-failed: start each failed machine at the step that failed.
    #[arg(long, requires = "rerun_failed")]
    pub from_failed_step: bool,
    /// Send each step's request on its own instead of pipelining the steps after a command
    /// into one request (for debugging; the results are the same).
    #[arg(long)]
    pub no_pipeline: bool,
}

/// `orbdeploy plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Shared flags.
    #[command(flatten)]
    pub run: RunArgs,
    /// List the exact orbctl calls apply would make.
    #[arg(long)]
    pub show_calls: bool,
    /// Exit 4 when changes are pending, 0 when nothing would change.
    #[arg(long)]
    pub exit_code: bool,
    /// Print every machine's steps (loops, includes and roles resolved) with the file and
    /// line each comes from, and touch no machine.
    #[arg(long, conflicts_with_all = ["show_calls", "exit_code"])]
    pub list_steps: bool,
    /// Also write the plan to this file, for `apply --plan` (docs/plan-file.md).
    #[arg(long, value_name = "PLAN.json", conflicts_with_all = ["list_steps", "shard"])]
    pub out: Option<PathBuf>,
    /// Print a saved plan and touch no machine.
    #[arg(long = "show", id = "saved_plan", value_name = "PLAN.json",
          conflicts_with_all = ["inventory", "out", "list_steps", "show_calls", "exit_code"])]
    pub saved_plan: Option<PathBuf>,
}

/// `orbdeploy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Scenario files, or directories whose `tests/*.yaml` are the scenarios (default: the
    /// `tests/*.yaml` here).
    #[arg(value_name = "SCENARIO.yaml")]
    pub scenarios: Vec<PathBuf>,
    /// Only the scenario of this name; repeatable.
    #[arg(long = "scenario", value_name = "NAME")]
    pub names: Vec<String>,
    /// Keep every throwaway machine (and say how to reach it).
    #[arg(long, conflicts_with = "keep_failed")]
    pub keep: bool,
    /// Keep the throwaway machines of the platforms that failed.
    #[arg(long)]
    pub keep_failed: bool,
    /// Make every platform's template again, even when one of the same inputs exists.
    #[arg(long)]
    pub rebuild: bool,
    /// Delete the throwaway machines of runs that were killed, and the templates no scenario
    /// names any more; run nothing.
    #[arg(long, conflicts_with_all = ["keep", "keep_failed", "rebuild"])]
    pub cleanup: bool,
    /// Set a variable (highest precedence); repeatable.
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    /// Also look for roles in this directory; repeatable.
    #[arg(long = "roles-path", value_name = "DIR")]
    pub roles_path: Vec<PathBuf>,
    /// Write a JUnit XML report: one test case per scenario, platform and phase.
    #[arg(long, value_name = "PATH.xml")]
    pub junit: Option<PathBuf>,
    /// Write the converge run's JSON report to this file (`PATH.SCENARIO.json` with
    /// several scenarios).
    #[arg(long, value_name = "PATH.json")]
    pub report: Option<PathBuf>,
    /// Write the converge run's HTML report to this file (named as `--report`).
    #[arg(long, value_name = "PATH.html")]
    pub report_html: Option<PathBuf>,
}

impl TestArgs {
    /// The test run these flags ask for.
    pub fn config(&self) -> Result<crate::scenario::Config, ConfigError> {
        Ok(crate::scenario::Config {
            paths: self.scenarios.clone(),
            names: self.names.clone(),
            keep: self.keep,
            keep_failed: self.keep_failed,
            rebuild: self.rebuild,
            cleanup: self.cleanup,
            vars: parse_vars(&self.vars)?,
            roles_path: self.roles_path.clone(),
            junit: self.junit.clone(),
            report: self.report.clone(),
            report_html: self.report_html.clone(),
            command_line: std::env::args_os().collect(),
            ..crate::scenario::Config::default()
        })
    }
}

/// `orbdeploy exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The inventory file.
    pub inventory: PathBuf,
    /// Only these machines, groups or globs; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub limit: Vec<String>,
    /// Only the selected machines of share K of N (1 <= K <= N), as for `apply`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Keep each ssh machine's connection this long after the run, as for `apply`.
    #[arg(long, value_name = "DURATION", value_parser = parse_persist)]
    pub persist: Option<Duration>,
    /// A `--limit`, `--shard` or inventory that selects no machine is not an error
    /// (exit 2) but a run that does nothing (exit 0).
    #[arg(long)]
    pub allow_empty: bool,
    /// Run as this user (default: the machine's default user).
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Working directory on the machine.
    #[arg(long, short = 'w', default_value = "/")]
    pub workdir: String,
    /// Kill the command after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// How many machines at once.
    #[arg(long, default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// Use one `orbctl run` per machine instead of the persistent channel.
    #[arg(long)]
    pub no_channel: bool,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl RunArgs {
    /// The run these flags ask for, in `mode`, with a saved plan or none.
    fn config(
        &self,
        mode: run::RunMode,
        saved_plan: crate::saved_plan::Use,
    ) -> Result<run::Config, ConfigError> {
        let json = self.output == OutputFormat::Json;
        Ok(run::Config {
            // Empty only with `apply --plan`, which takes the plan's.
            inventory: self.inventory.clone().unwrap_or_default(),
            saved_plan,
            vars: parse_vars(&self.vars)?,
            limit: self.limit.clone(),
            tags: self.tags.clone(),
            shard: self.shard,
            persist: self.persist,
            allow_empty: self.allow_empty,
            mode,
            diff: self.diff,
            parallel: usize::from(self.parallel),
            on_failure: match (self.keep_going, self.fail_fast) {
                (true, _) => run::OnFailure::Nothing,
                (false, true) => run::OnFailure::Everything,
                (false, false) => run::OnFailure::Machine,
            },
            output: run::OutputStyle {
                json,
                progress: !json && progress_wanted(self.progress),
                color: !json
                    && std::env::var_os("NO_COLOR").is_none()
                    && std::io::stdout().is_terminal(),
                quiet: false,
            },
            report: self.report.clone(),
            junit: self.junit.clone(),
            report_html: self.report_html.clone(),
            timings: self.timings,
            transport: transport(self.no_channel),
            pipeline: true,
            lock_timeout: Duration::from_secs(self.lock_timeout),
            roles_path: self.roles_path.clone(),
            identities: self.identity.clone(),
            rerun: None,
            serial: self.serial.as_deref().map(parse_serial).transpose()?,
            max_fail_percentage: self
                .max_fail_percentage
                .as_deref()
                .map(parse_percentage)
                .transpose()?,
            command_line: std::env::args_os().collect(),
            lookups_learned: Default::default(),
        })
    }
}

impl ApplyArgs {
    /// The run `apply` (or `apply --dry-run`) asks for.
    pub fn config(&self) -> Result<run::Config, ConfigError> {
        let saved = match &self.saved_plan {
            Some(path) => crate::saved_plan::Use::Apply {
                path: path.clone(),
                allow_unknown: self.allow_unknown,
            },
            None => crate::saved_plan::Use::None,
        };
        let mode = run::RunMode {
            dry_run: self.dry_run,
            ..run::RunMode::default()
        };
        let mut config = self.run.config(mode, saved)?;
        config.pipeline = !self.no_pipeline;
        config.rerun = self.rerun_failed.clone().map(|report| Request {
            report,
            from_failed_step: self.from_failed_step,
        });
        Ok(config)
    }
}

impl PlanArgs {
    /// The run `plan` asks for.
    pub fn config(&self) -> Result<run::Config, ConfigError> {
        let saved = match &self.out {
            Some(path) => crate::saved_plan::Use::Write(path.clone()),
            None => crate::saved_plan::Use::None,
        };
        let mode = run::RunMode {
            dry_run: true,
            show_calls: self.show_calls,
            exit_on_changes: self.exit_code,
            list_steps: self.list_steps,
        };
        self.run.config(mode, saved)
    }
}

/// Progress bars are drawn only on a terminal, and by default not in CI.
fn progress_wanted(progress: Progress) -> bool {
    let tty = std::io::stderr().is_terminal();
    match progress {
        Progress::Never => false,
        Progress::Always => tty,
        Progress::Auto => tty && std::env::var_os("CI").is_none(),
    }
}

/// The transport `--no-channel` asks for.
pub fn transport(no_channel: bool) -> Transport {
    if no_channel {
        Transport::OneShot
    } else {
        Transport::Channel
    }
}

/// `orbdeploy secrets ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SecretsCommand {
    /// Encrypt FILE (plain YAML) into FILE.age for the recipients; FILE is left as it is.
    Encrypt(Encrypt),
    /// Print the plaintext of an encrypted FILE on stdout (never to a file).
    Decrypt(Opened),
    /// Open the plaintext of FILE in $EDITOR, then encrypt it again (a new FILE when it
    /// does not exist yet). The plaintext lives in a private directory while the editor runs.
    Edit(Rewrite),
    /// Encrypt FILE again for the recipients as they are now (after one was added or removed).
    Rekey(Rewrite),
}

/// Where recipients come from.
#[derive(Debug, clap::Args)]
pub struct Recipients {
    /// Encrypt for this age public key or ssh public key instead of the `.age-recipients`
    /// file beside FILE; repeatable.
    #[arg(long = "recipient", value_name = "KEY")]
    pub recipient: Vec<String>,
}

/// `secrets encrypt`.
#[derive(Debug, clap::Args)]
pub struct Encrypt {
    /// The plaintext file.
    pub file: PathBuf,
    /// Recipients.
    #[command(flatten)]
    pub recipients: Recipients,
}

/// A command that reads an encrypted file.
#[derive(Debug, clap::Args)]
pub struct Opened {
    /// The encrypted file.
    pub file: PathBuf,
    /// An age identity file or ssh private key, tried before `ORBDEPLOY_AGE_IDENTITY` and
    /// ~/.ssh/id_ed25519, ~/.ssh/id_rsa; repeatable.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

/// A command that reads and writes an encrypted file.
#[derive(Debug, clap::Args)]
pub struct Rewrite {
    /// The encrypted file.
    #[command(flatten)]
    pub opened: Opened,
    /// Recipients.
    #[command(flatten)]
    pub recipients: Recipients,
}

/// `orbdeploy machines ...`.
#[derive(Debug, Subcommand)]
pub enum MachinesCommand {
    /// List every machine.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one machine.
    Info {
        /// Machine name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a machine.
    Create {
        /// Machine name.
        name: String,
        /// `DISTRO[:VERSION]`.
        #[arg(long, default_value = "debian:bookworm")]
        image: String,
        /// Architecture (`arm64`, `amd64`).
        #[arg(long)]
        arch: Option<String>,
        /// Default user.
        #[arg(long)]
        user: Option<String>,
        /// cloud-init user data file.
        #[arg(long, value_name = "FILE")]
        cloud_init: Option<PathBuf>,
        /// Succeed without doing anything when the machine exists.
        #[arg(long)]
        if_missing: bool,
        /// Refuse names that are ssh machines of this inventory (orbctl cannot manage them).
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
    },
    /// Start machines.
    Start {
        /// Machine names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Refuse names that are ssh machines of this inventory (orbctl cannot manage them).
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
    },
    /// Stop machines (names are required: orbdeploy never stops all of OrbStack).
    Stop {
        /// Machine names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Pass `-f` to orbctl stop.
        #[arg(long, short = 'f')]
        force: bool,
        /// Refuse names that are ssh machines of this inventory (orbctl cannot manage them).
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
    },
    /// Restart machines.
    Restart {
        /// Machine names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Refuse names that are ssh machines of this inventory (orbctl cannot manage them).
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
    },
    /// Delete machines, by name only, without a prompt.
    Delete {
        /// Machine names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Refuse names that are ssh machines of this inventory (orbctl cannot manage them).
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
    },
    /// Clone a machine (the clone is left stopped).
    Clone {
        /// Existing machine.
        from: String,
        /// New machine name.
        to: String,
    },
}

/// `orbdeploy ssh ...`.
#[derive(Debug, Subcommand)]
pub enum SshCommand {
    /// End every ssh connection that `persist` kept open for this user.
    Close,
}

/// `orbdeploy report ...`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the `--report` documents of a run's shards (`--shard K/N`) into one run's
    /// report, and end with the exit code the whole run has.
    Merge(ReportMergeArgs),
}

/// `orbdeploy report merge`.
#[derive(Debug, clap::Args)]
pub struct ReportMergeArgs {
    /// The shards' JSON reports (of one inventory, no machine in two).
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Write the merged JSON report to this file.
    #[arg(long, value_name = "PATH.json")]
    pub out: Option<PathBuf>,
    /// Write a JUnit XML report of the merged run to this file.
    #[arg(long, value_name = "PATH.xml")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report of the merged run to this file.
    #[arg(long, value_name = "PATH.html")]
    pub report_html: Option<PathBuf>,
}

/// Shells for `completions`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompletionShell {
    /// bash
    Bash,
    /// zsh
    Zsh,
    /// fish
    Fish,
}

/// Files `schema` describes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaDocument {
    /// The inventory.
    Inventory,
    /// An operations file (also an include, a role's steps.yaml or handlers.yaml).
    Operations,
    /// A scenario of `orbdeploy test`.
    Scenario,
}

impl From<SchemaDocument> for crate::load::schema::Document {
    fn from(doc: SchemaDocument) -> Self {
        match doc {
            SchemaDocument::Inventory => crate::load::schema::Document::Inventory,
            SchemaDocument::Operations => crate::load::schema::Document::Operations,
            SchemaDocument::Scenario => crate::load::schema::Document::Scenario,
        }
    }
}

/// Parse a `--var K=V` value.
pub fn parse_var(raw: &str) -> Result<(String, String), ConfigError> {
    let (k, v) = raw
        .split_once('=')
        .ok_or_else(|| ConfigError::plain(format!("--var `{raw}`: expected NAME=VALUE")))?;
    if !crate::inventory::valid_var_name(k) {
        return Err(ConfigError::plain(format!(
            "--var `{raw}`: invalid variable name `{k}`: expected letters, digits and `_`, not starting with a digit"
        )));
    }
    if crate::inventory::BUILT_INS.contains(&k) {
        return Err(ConfigError::plain(format!(
            "--var `{raw}`: `{k}` is a built-in variable set by orbdeploy and cannot be defined"
        )));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Parse `--serial`.
fn parse_serial(raw: &str) -> Result<crate::serial::Serial, ConfigError> {
    crate::serial::Serial::parse(raw)
        .map_err(|e| ConfigError::plain(format!("--serial `{raw}`: {e}")))
}

/// Parse `--max-fail-percentage`.
fn parse_percentage(raw: &str) -> Result<u8, ConfigError> {
    raw.trim()
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| {
            ConfigError::plain(format!(
                "--max-fail-percentage `{raw}`: expected a whole number from 0 to 100"
            ))
        })
}

/// Parse `--persist`: `90`, `90s`, `5m` or `1h`, at least 1 s.
fn parse_persist(raw: &str) -> Result<Duration, String> {
    match crate::spec::parse_seconds(raw) {
        Some(0) => Err(format!("`{raw}`: at least 1 second")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Err(format!(
            "`{raw}`: expected seconds or a duration such as 90s, 10m or 1h"
        )),
    }
}

/// Parse every `--var K=V` value.
pub fn parse_vars(raw: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    raw.iter().map(|v| parse_var(v)).collect()
}

/// Parse the command line. On `--help`, `--version` or a usage error, clap has printed what
/// it has to say (help to stdout, errors to stderr) and the exit code is returned instead.
pub fn parse() -> Result<Cli, i32> {
    Cli::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            crate::exit::USAGE
        } else {
            crate::exit::OK
        }
    })
}

/// Write the completion script for `shell` to stdout. The script is made in memory first:
/// clap_complete panics when its writer fails, and a closed stdout is an error to end on.
pub fn print_completions(shell: CompletionShell) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "orbdeploy", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_needs_a_name_and_an_equals_sign() {
        assert_eq!(parse_var("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_var("a=").unwrap(), ("a".into(), String::new()));
        assert_eq!(
            parse_var("ab").unwrap_err().to_string(),
            "--var `ab`: expected NAME=VALUE"
        );
        assert!(parse_var("1a=x").is_err());
        assert!(parse_var("machine=x").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
