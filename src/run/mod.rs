//! `orbdeploy apply` and `plan`, in phases: **load** the inventory and steps and plan them
//! (every step rendered for every machine: exit 2 before any machine is touched), start
//! the **reporter**, take the machines' **locks**, **reconcile** the machines (create,
//! start, stop, delete), **queue** the machines that can run their steps, **run** them in
//! parallel, and decide the **outcome**.

pub mod config;
mod connect;
mod groups;
mod host;
mod lock;
mod pipeline;
pub mod pool;
pub mod reconcile;
mod record;
mod rolling;
mod saved;
mod step;
mod timing;
mod verdict;
mod watch;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;

use crate::error::RunEnd;
use crate::inventory::{self, Host, Inventory};
use crate::load::inventory::DesiredState;
use crate::mask::MaskErrors;
use crate::orb::{Machine, Orb};
use crate::plan::machines::{self, Action};
use crate::plan::{self, MachinePlan, Plan};
use crate::read_log::ReadLog;
use crate::remote::{self, Reach, Tracer};
use crate::report::{
    self, ActionKind, ActionStatus, Event, HostResult, HostStatus, MachineAction, Masker, Sender,
    StepStatus, Summary,
};
use crate::saved_plan::{PlanFile, SavedRun};
use crate::steps::{self, Playbook};
use crate::template::Renderer;

use connect::SshMachines;

pub use config::{Config, OnFailure, OutputStyle, RunMode};

/// Run `apply` (or `plan`, by `config.mode`); the end decides the exit code.
pub fn apply(orb: &Orb, config: &Config) -> Result<RunEnd> {
    crate::interrupt::install();
    let started = Instant::now();
    let (config, opened) = saved::prepare(config)?;
    let config = &config;
    // A bad report is exit 2 before anything else is read.
    let rerun = config
        .rerun
        .as_ref()
        .map(|r| plan::rerun::read(r, &config.inventory))
        .transpose()?;
    let mut loaded = load(orb, config)?;
    let end = apply_loaded(orb, config, &mut loaded, (rerun, opened, started));
    // A message may quote a value (a rendered path, a machine's answer): printed masked,
    // as every other output is.
    end.map(|(end, _)| end)
        .map_err(|e| e.context(MaskErrors(masker(&loaded))))
}

/// Apply an inventory made in memory (`orbdeploy test` makes one per phase, with steps
/// positioned in the scenario file), noting in `reads` what was read for it; returns how
/// the run ended and its report. `config.inventory` only names the run in its report.
pub fn apply_inventory(
    orb: &Orb,
    config: &Config,
    inv: Inventory,
    reads: ReadLog,
) -> Result<(RunEnd, Option<report::Report>)> {
    crate::interrupt::install();
    let started = Instant::now();
    let mut loaded = load_steps(orb, config, inv, reads)?;
    let end = apply_loaded(orb, config, &mut loaded, (None, None, started));
    end.map_err(|e| e.context(MaskErrors(masker(&loaded))))
}

/// The run, once its inputs are loaded.
fn apply_loaded(
    orb: &Orb,
    config: &Config,
    loaded: &mut Loaded,
    (rerun, opened, started): (Option<plan::rerun::Rerun>, Option<PlanFile>, Instant),
) -> Result<(RunEnd, Option<report::Report>)> {
    let selection = (config.limit.as_slice(), config.shard);
    let mut plan = plan::select(&loaded.inv, &loaded.book, selection, &config.tags)?;
    if !config.allow_empty {
        plan::select::ensure_some(&loaded.inv, &loaded.book, &plan, selection, &config.tags)?;
    }
    if let Some(r) = &rerun {
        r.narrow(&mut plan, &loaded.inv, &loaded.book)?;
    }
    // ssh machines are checked once their facts are known (plan/validate.rs).
    let is_ssh = |name: &str| loaded.inv.ssh_target(name).is_some();
    plan::validate::validate_where(&plan, &loaded.book, &loaded.renderer, &|n| !is_ssh(n))?;
    if config.mode.list_steps {
        // Names and loop labels are rendered: written masked, as every output is.
        let mut list = Vec::new();
        plan::list::list_steps(&plan, &loaded.book, &loaded.renderer, &mut list)?;
        let list = masker(loaded).text(&String::from_utf8_lossy(&list));
        std::io::Write::write_all(&mut std::io::stdout().lock(), list.as_bytes())?;
        return Ok((RunEnd::Success, None));
    }
    if let Some(warning) = crate::process::limits::raise_open_files(plan.machines.len()) {
        eprintln!("{warning}");
    }
    let transport = (config.transport, &loaded.trace);
    let mut ssh = connect::connect_all(&loaded.inv, &plan, transport, config.parallel);
    // What the ssh machines reported is attached once; the variables are made anew.
    ssh.attach_facts(&mut loaded.inv);
    let plan = plan.with_vars(&loaded.inv);
    let connected = ssh.connected();
    plan::validate::validate_where(&plan, &loaded.book, &loaded.renderer, &|n| {
        connected.iter().any(|c| c == n)
    })?;
    // Every step was rendered for every machine: each `pipe()` the run needs has run.
    loaded.renderer.seal_lookups();
    let saved = saved::start(config, loaded, &plan.names(), opened)?;
    let saved = saved.as_ref();
    let (events, reporter) = start_reporter(config, loaded, &plan, &ssh);
    let (mut ready, _locks) = lock_machines(orb, config, &loaded.inv, &plan);
    ssh_ready(&loaded.inv, &mut ssh, &mut ready);
    let parts = (
        &mut loaded.inv,
        &loaded.book,
        (&loaded.renderer, &loaded.trace),
    );
    let machines = (&mut ready, &mut ssh);
    let tally = run_batches(orb, config, parts, plan, machines, &events, saved);
    let results = tally.results;
    let refused = tally.refused + saved.map_or(0, SavedRun::refused);
    let ended = Ended {
        unavailable: tally.unavailable,
        refused,
        planned_actions: tally.planned_actions,
    };
    let end = outcome(config, &results, ended);
    let (counts, machines) = report::totals(&results);
    events.send(Event::Summary(Summary {
        mode: config.mode.name(),
        exit_code: end.exit_code(),
        interrupted: end == RunEnd::Interrupted,
        counts,
        machines,
        duration_ms: report::ms(started.elapsed()),
    }));
    // The reporter ends once every sender is gone.
    drop(events);
    let report = reporter.finish()?;
    saved::finish(config, saved, &report, end)?;
    Ok((end, Some(report)))
}

/// Phase 1 and phase 2 of every batch in turn (without `serial`, one batch of every
/// machine), and the machines of the batches a failed one keeps from starting.
fn run_batches<'a>(
    orb: &Orb,
    config: &Config,
    (inv, book, reached): (&mut Inventory, &'a Playbook, (&Renderer, &Tracer)),
    mut plan: Plan<'a>,
    (ready, ssh): (&mut BTreeMap<String, Ready>, &mut SshMachines),
    events: &Sender,
    saved: Option<&SavedRun>,
) -> Tally {
    let rolling = rolling::Rolling::of(config, inv);
    let phase1 = Phase1 {
        orb,
        config,
        events,
    };
    let mut tally = Tally::default();
    let mut stop: Option<String> = None;
    for batch in rolling.batches(&plan.names()) {
        if let Some(why) = &stop {
            let results = rolling::not_started(events, &plan, &batch, why);
            tally.results.extend(results);
            continue;
        }
        rolling.announce(events, &batch);
        let names = &batch.machines;
        let mut actions = machine_actions(orb, inv, &plan, names, ready);
        if let Some(saved) = saved {
            saved::hold_actions(saved, &mut actions, ready);
        }
        let (planned, after) = phase1.carry_out(inv, book, actions, ready);
        tally.planned_actions += planned;
        // What phase 1 learnt (new machines, addresses) is attached once; templates see it.
        inv.attach_after(after);
        plan = plan.with_vars(inv);
        let number = rolling.number(&batch);
        let queued = queue(&plan, names, ready, events, number);
        tally.unavailable += queued.unavailable;
        tally.refused += queued.refused;
        let mut results = queued.done;
        let jobs = (queued.jobs, &mut *ssh, number);
        results.extend(run_machines(
            orb, config, reached, &plan, jobs, events, saved,
        ));
        stop = rolling.stop_after(&batch, &results);
        if stop.is_none() && crate::interrupt::requested() {
            stop = Some("the run was interrupted".into());
        }
        tally.results.extend(results);
    }
    tally
}

/// What an apply reads before it plans: the inventory with `orbctl list` attached, the
/// steps, and the renderer that checked them (which keeps the run's read log); and the
/// run's trace. Everything a run keeps is here, none of it in the process: two runs in
/// one process do not see each other.
struct Loaded {
    inv: Inventory,
    book: Playbook,
    renderer: Renderer,
    trace: Tracer,
}

/// Read and check the inventory and the steps (exit 2 on any mistake in them).
fn load(orb: &Orb, config: &Config) -> Result<Loaded> {
    let reads = ReadLog::default();
    let keys = crate::secrets::Keyring::new(&config.identities);
    let inv = inventory::load_noting(&config.inventory, &config.vars, &reads, &keys)?;
    load_steps(orb, config, inv, reads)
}

/// The rest of [`load`], once the inventory is read: the steps, checked.
fn load_steps(orb: &Orb, config: &Config, mut inv: Inventory, reads: ReadLog) -> Result<Loaded> {
    if let Some(keep) = config.persist {
        inv.persist_ssh(keep);
    }
    inv.print_warnings();
    if let Some(w) = rolling::unused_max_fail(config, &inv) {
        eprintln!("{w}");
    }
    let renderer = Renderer::with_inputs(reads, &config.lookups_learned);
    let options = steps::LoadOptions {
        roles_path: config.roles_path.clone(),
    };
    let book = steps::load_with(&inv, &renderer, &options)?;
    // Before any machine is reached: a `pipe()` in one runs now, with the steps' checks.
    inv.render_become_passwords(&renderer)?;
    // An inventory of ssh machines only has nothing to ask orbctl (which may be absent).
    if inv.needs_orbctl() {
        inv.attach(&orb.list()?);
    }
    // Derived groups such as `orbstack_running` are known only now.
    steps::check_hosts(&book, &inv)?;
    // The inventory's secrets are known now; rendering may add more (`set_secrets`).
    let trace = Tracer::from_env(masker_of(&inv, &renderer));
    Ok(Loaded {
        inv,
        book,
        renderer,
        trace,
    })
}

/// Start the reporter, masking every secret: the inventory's and every value that
/// rendering the plan read with `env()`.
fn start_reporter(
    config: &Config,
    loaded: &Loaded,
    plan: &Plan<'_>,
    ssh: &SshMachines,
) -> (Sender, report::Reporter) {
    let masker = masker(loaded);
    // Trace files get the same masking as every other output, from now on with what
    // rendering the plan read with `env()` too.
    loaded.trace.set_secrets(&masker);
    let output = config.output;
    let (events, reporter) = report::start(
        report::Options {
            quiet: output.quiet,
            json: output.json,
            progress: output.progress,
            color: output.color,
            mode: config.mode.name(),
            inventory: config.inventory.display().to_string(),
            report: config.report.clone(),
            junit: config.junit.clone(),
            html: config.report_html.clone(),
            show_calls: config.mode.show_calls,
            timings: config.timings,
            connecting_ms: (!ssh.targets.is_empty()).then(|| report::ms(ssh.took)),
            command_line: config.command_line.clone(),
            inventory_identity: inventory_identity(config, loaded),
        },
        masker,
    );
    events.send(Event::RunStarted {
        mode: config.mode.name(),
        machines: plan.names(),
        steps: loaded.book.steps.len(),
    });
    (events, reporter)
}

/// Which inventory file the run read: its absolute path, and the hash of the bytes the
/// load read (not read again: the report names the inventory the run used).
fn inventory_identity(config: &Config, loaded: &Loaded) -> Option<(String, String)> {
    let sha = loaded.renderer.read_log().sha(&config.inventory)?;
    let abs = std::fs::canonicalize(&config.inventory).ok()?;
    Some((abs.display().to_string(), sha))
}

/// The masker of every secret: the inventory's and every value that rendering the plan
/// read with `env()`.
fn masker(loaded: &Loaded) -> Masker {
    masker_of(&loaded.inv, &loaded.renderer)
}

/// The masker of the inventory's secrets and what `renderer` read with `env()` so far.
fn masker_of(inv: &Inventory, renderer: &Renderer) -> Masker {
    let mut secrets: Vec<String> = inv
        .hosts
        .iter()
        .flat_map(|h| inv.secret_values(h))
        .collect();
    secrets.extend(renderer.secrets());
    Masker::new(secrets)
}

/// What phase 1 left a machine in, for phase 2.
enum Ready {
    /// Running: run its steps.
    Run,
    /// Declared stopped or absent: no steps.
    Idle,
    /// Plan only: it would be created or started first.
    Later(&'static str),
    /// Cannot be used; `unavailable` when that is exit 3 rather than a failure.
    Unreachable { error: String, unavailable: bool },
    /// `apply --plan`: its action is not the planned one, and why.
    Refused(String),
}

/// Take the lock of every selected machine, in name order (two runs never wait on each
/// other in a circle); a plan changes nothing and takes none. A machine whose lock is
/// not had is unreachable for this run.
fn lock_machines(
    orb: &Orb,
    config: &Config,
    inv: &Inventory,
    plan: &Plan<'_>,
) -> (BTreeMap<String, Ready>, lock::Held) {
    let mut ready = BTreeMap::new();
    let mut locks = lock::Held::default();
    if config.mode.dry_run {
        return (ready, locks);
    }
    let mut names = plan.names();
    names.sort();
    for name in names {
        let mut say = |m: &str| eprintln!("orbdeploy: {m}");
        let what = match inv.ssh_target(&name) {
            Some(target) => lock::Guarded::Ssh(target),
            None => lock::Guarded::Orb { orbctl: orb.bin() },
        };
        match locks.take(what, &name, config.lock_timeout, &mut say) {
            Ok(()) => {}
            Err(e) => {
                let error = e.to_string();
                ready.insert(
                    name,
                    Ready::Unreachable {
                        error,
                        unavailable: false,
                    },
                );
            }
        }
    }
    (ready, locks)
}

/// ssh machines have no lifecycle: one this run holds the lock of is ready when it was
/// reached (its connection waits in `ssh` for phase 2), unavailable (exit 3) when not. A
/// machine whose lock is not had lets its connection go.
fn ssh_ready(inv: &Inventory, ssh: &mut SshMachines, ready: &mut BTreeMap<String, Ready>) {
    for h in inv.hosts.iter().filter(|h| h.ssh.is_some()) {
        if ready.contains_key(&h.name) {
            ssh.remotes.remove(&h.name);
            continue;
        }
        if let Some(error) = ssh.failed.remove(&h.name) {
            let unavailable = true;
            ready.insert(h.name.clone(), Ready::Unreachable { error, unavailable });
        } else if ssh.remotes.contains_key(&h.name) {
            ready.insert(h.name.clone(), Ready::Run);
        }
    }
}

/// What phase 1 does to each selected machine whose lock this run holds, decided from
/// the inventory and `orbctl list` (and one `orbctl config show` when a machine declares
/// settings). ssh machines have none: `ssh_ready` decided theirs.
fn machine_actions(
    orb: &Orb,
    inv: &Inventory,
    plan: &Plan<'_>,
    batch: &[String],
    ready: &BTreeMap<String, Ready>,
) -> Vec<machines::MachineStep> {
    let hosts = phase1_hosts(inv, plan, batch, ready);
    // One `config show` answers every machine's settings, read only when one declares any.
    let config = if hosts
        .iter()
        .any(|h| h.actual.is_some() && h.desired.settings.any())
    {
        orb.config_show()
    } else {
        Ok(Default::default())
    };
    machines::plan(orb, &hosts, &config)
}

/// The machines of the batch that phase 1 may act on: those not already decided (a lock
/// not had, an ssh machine).
fn phase1_hosts<'i>(
    inv: &'i Inventory,
    plan: &Plan<'_>,
    batch: &[String],
    ready: &BTreeMap<String, Ready>,
) -> Vec<&'i Host> {
    plan.machines
        .iter()
        .filter(|m| batch.contains(&m.name) && !ready.contains_key(&m.name))
        .filter_map(|m| inv.hosts.iter().find(|h| h.name == m.name))
        .collect()
}

/// What phase 1 needs of the run.
struct Phase1<'r> {
    orb: &'r Orb,
    config: &'r Config,
    events: &'r Sender,
}

impl Phase1<'_> {
    /// Bring every machine of `actions` to its declared state and report each action;
    /// `ready` says what each is left in for phase 2. Returns how many actions a plan
    /// would take (pending changes too), and what each machine is afterwards (by name),
    /// for the inventory.
    fn carry_out(
        &self,
        inv: &Inventory,
        book: &Playbook,
        actions: Vec<machines::MachineStep>,
        ready: &mut BTreeMap<String, Ready>,
    ) -> (usize, BTreeMap<String, Machine>) {
        let dry_run = self.config.mode.dry_run;
        let outcomes = if crate::interrupt::requested() {
            Vec::new()
        } else {
            let need_ip4 = book.mentions(inv, &["ip4", "hostvars"]);
            reconcile::execute_with(self.orb, &actions, dry_run, need_ip4)
        };
        let mut after: BTreeMap<String, Machine> = BTreeMap::new();
        let mut planned = 0;
        for (act, out) in actions.iter().zip(outcomes) {
            let event = machine_event(act, &out, dry_run);
            planned += usize::from(event.status == ActionStatus::Planned);
            self.events.send(Event::Machine(event));
            let desired = inv
                .hosts
                .iter()
                .find(|h| h.name == act.machine)
                .map_or(DesiredState::Running, |h| h.desired.state);
            let r = left_in(out.error, out.unavailable, desired, &act.action, dry_run);
            if let Some(m) = out.machine_after {
                after.insert(act.machine.clone(), m);
            }
            ready.insert(act.machine.clone(), r);
        }
        (planned, after)
    }
}

/// What a machine action leaves its machine in for phase 2.
fn left_in(
    error: Option<String>,
    unavailable: bool,
    desired: DesiredState,
    action: &Action,
    dry_run: bool,
) -> Ready {
    match (error, desired, action, dry_run) {
        (Some(error), ..) => Ready::Unreachable { error, unavailable },
        (None, DesiredState::Stopped | DesiredState::Absent, ..) => Ready::Idle,
        (None, _, Action::Create(_), true) => Ready::Later("the machine would be created first"),
        (None, _, Action::Start, true) => Ready::Later("the machine would be started first"),
        (None, ..) => Ready::Run,
    }
}

/// The report line of one machine action.
fn machine_event(
    act: &machines::MachineStep,
    out: &reconcile::MachineOutcome,
    dry_run: bool,
) -> MachineAction {
    let settings = &act.settings;
    let status = match (&out.error, dry_run, &act.action) {
        (Some(_), _, _) => ActionStatus::Failed,
        (None, _, Action::Keep) if settings.changes.is_empty() => ActionStatus::Ok,
        (None, true, _) => ActionStatus::Planned,
        (None, false, _) => ActionStatus::Done,
    };
    let message = match &act.action {
        Action::Drift(d) => Some(format!("machine `{}` {d}", act.machine)),
        _ => out
            .error
            .clone()
            .or_else(|| out.note.clone())
            .or_else(|| settings_text(settings)),
    };
    MachineAction {
        machine: act.machine.clone(),
        action: action_kind(act),
        status,
        message,
        argv: act.argv.clone(),
    }
}

/// What the report calls a machine action.
fn action_kind(act: &machines::MachineStep) -> ActionKind {
    match &act.action {
        Action::Keep if !act.settings.changes.is_empty() => ActionKind::Settings,
        Action::Keep => ActionKind::Keep,
        Action::Create(_) => ActionKind::Create,
        Action::Start => ActionKind::Start,
        Action::Stop => ActionKind::Stop,
        Action::Delete => ActionKind::Delete,
        Action::Missing => ActionKind::Missing,
        Action::Drift(_) => ActionKind::Drift,
    }
}

/// `machine.w1.cpu 2 → 4, machine.w1.mounts (default) → /src (needs a restart); then a
/// restart`: what a machine's settings change does, for its report line.
fn settings_text(settings: &crate::plan::settings::SettingsPlan) -> Option<String> {
    if settings.changes.is_empty() {
        return None;
    }
    let list: Vec<String> = settings
        .changes
        .iter()
        .map(|c| match c.needs_restart {
            true => format!("{} (needs a restart)", c.describe()),
            false => c.describe(),
        })
        .collect();
    let then = if settings.restart {
        "; then a restart"
    } else {
        ""
    };
    Some(format!("{}{then}", list.join(", ")))
}

/// The machines phase 2 runs, and the results of those it cannot.
struct Queue<'p, 'a> {
    /// Machines that run their steps, in order.
    jobs: Vec<&'p MachinePlan<'a>>,
    /// Results of the machines that do not (reported already).
    done: Vec<HostResult>,
    /// How many of those are unavailable (exit 3 rather than 1).
    unavailable: usize,
    /// How many of those `apply --plan` refused (exit 5 rather than 1).
    refused: usize,
}

/// Queue every running machine of the batch (`batch`: their names; `number`: the batch
/// their results carry); report the steps of the others as not run (unknown in a plan
/// when the machine would be created or started first, failed when it cannot be used).
fn queue<'p, 'a>(
    plan: &'p Plan<'a>,
    batch: &[String],
    ready: &mut BTreeMap<String, Ready>,
    events: &Sender,
    number: Option<usize>,
) -> Queue<'p, 'a> {
    let mut q = Queue {
        jobs: Vec::new(),
        done: Vec::new(),
        unavailable: 0,
        refused: 0,
    };
    for m in plan.machines.iter().filter(|m| batch.contains(&m.name)) {
        let (status, counts, error) = match ready.remove(&m.name) {
            Some(Ready::Run) => {
                q.jobs.push(m);
                continue;
            }
            Some(Ready::Later(why)) => {
                let counts = host::not_run(events, &m.name, &m.steps, StepStatus::Unknown, why);
                (HostStatus::Changed, counts, None)
            }
            Some(Ready::Unreachable { error, unavailable }) => {
                q.unavailable += usize::from(unavailable);
                let counts = host::not_run(events, &m.name, &m.steps, StepStatus::Failed, &error);
                (HostStatus::Unreachable, counts, Some(error))
            }
            Some(Ready::Refused(why)) => {
                q.refused += 1;
                let mut refused = saved::refused(events, m, &why);
                refused.batch = number;
                q.done.push(refused);
                continue;
            }
            Some(Ready::Idle) | None => (HostStatus::Ok, Default::default(), None),
        };
        q.done.push(HostResult {
            machine: m.name.clone(),
            status,
            counts,
            duration_ms: 0,
            error,
            timings: None,
            batch: number,
        });
    }
    for r in &q.done {
        events.send(Event::Host(r.clone()));
    }
    q
}

/// Phase 2: every queued machine's steps, `config.parallel` machines at a time, each over
/// its own connection (an ssh machine's is the one its facts were read over); each
/// result carries the machine's batch.
fn run_machines(
    orb: &Orb,
    config: &Config,
    (renderer, trace): (&Renderer, &Tracer),
    plan: &Plan<'_>,
    (jobs, ssh, batch): (Vec<&MachinePlan<'_>>, &mut SshMachines, Option<usize>),
    events: &Sender,
    saved: Option<&SavedRun>,
) -> Vec<HostResult> {
    let open: BTreeMap<String, Box<dyn remote::Remote>> = jobs
        .iter()
        .filter_map(|m| ssh.remotes.remove(&m.name).map(|r| (m.name.clone(), r)))
        .collect();
    let open = Mutex::new(open);
    let (targets, passwords) = (&ssh.targets, &ssh.passwords);
    let stop_all = AtomicBool::new(false);
    let shared = step::Shared {
        renderer,
        events: events.clone(),
        config,
        stop_all: &stop_all,
        hostvars: &plan.hostvars,
        watch: saved.map(|s| s as &dyn watch::StepWatch),
    };
    let dry = saved::dry_config(config);
    pool::map(jobs, config.parallel, |machine| {
        let reach = targets
            .get(&machine.name)
            .map_or(Reach::Orb(orb), Reach::Ssh);
        let before = saved.and_then(|s| {
            let password = passwords.get(&machine.name).map(String::as_str);
            saved::refused_before_run(s, (reach, trace, password), &shared, &dry, machine)
        });
        let result = match before {
            Some(refused) => refused,
            None => {
                let taken = open.lock().ok().and_then(|mut o| o.remove(&machine.name));
                let mut remote = taken.unwrap_or_else(|| {
                    let mut r = remote::connect(reach, &machine.name, config.transport, trace);
                    if let Some(password) = passwords.get(&machine.name) {
                        r.set_become_password(password);
                    }
                    r
                });
                host::run(&shared, machine, remote.as_mut())
            }
        };
        let result = HostResult { batch, ..result };
        shared.events.send(Event::Host(result.clone()));
        result
    })
}

/// What the batches add up to, for the run's end.
#[derive(Default)]
struct Tally {
    /// Every machine's result.
    results: Vec<HostResult>,
    /// Machines unavailable (exit 3 rather than 1).
    unavailable: usize,
    /// Machines `apply --plan` refused before phase 2.
    refused: usize,
    /// Machine actions a plan would take.
    planned_actions: usize,
}

/// What the run's end depends on besides each machine's result.
struct Ended {
    /// Machines unavailable (exit 3 rather than 1).
    unavailable: usize,
    /// Machines `apply --plan` refused (exit 5 rather than 1).
    refused: usize,
    /// Machine actions a plan would take (create, start, stop, delete, a settings
    /// change), which are pending changes too.
    planned_actions: usize,
}

/// How the run ends, from every machine's result.
fn outcome(config: &Config, results: &[HostResult], ended: Ended) -> RunEnd {
    let failed = results.iter().filter(|r| r.status.traits().fails).count();
    let (counts, _) = report::totals(results);
    // Commands without `creates`/`unless` always "will run"; they would make every plan of
    // an inventory with commands look unconverged, so only real changes count as pending.
    let pending = counts.sum(|t| t.pending) as usize + ended.planned_actions;
    if crate::interrupt::requested() {
        RunEnd::Interrupted
    } else if failed > ended.unavailable + ended.refused {
        RunEnd::Failed
    } else if ended.unavailable > 0 {
        RunEnd::Unavailable
    } else if ended.refused > 0 {
        RunEnd::PlanRefused
    } else if config.mode.exit_on_changes && pending > 0 {
        RunEnd::ChangesPending
    } else {
        RunEnd::Success
    }
}

#[cfg(test)]
mod tests;
