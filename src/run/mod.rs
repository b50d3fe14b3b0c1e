//! `orbdeploy apply` and `plan`: load and check everything (exit 2 before any machine is
//! touched), reconcile the machines, then run every machine's steps in parallel and report.

mod host;
mod lock;
pub mod reconcile;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value as Json;

use crate::cli::{parse_var, OutputFormat, Progress, RunArgs};
use crate::error::{ConfigError, Outcome};
use crate::exit;
use crate::inventory::{self, Host, Inventory};
use crate::load::inventory::DesiredState;
use crate::orb::Orb;
use crate::plan::machines::{self, Action};
use crate::remote::channel::Channel;
use crate::remote::oneshot::OneShot;
use crate::remote::Remote;
use crate::report::{
    self, Event, HostResult, HostStatus, MachineAction, Masker, StepStatus, Summary,
};
use crate::steps::{self, Playbook, Step};
use crate::template::Renderer;

pub use lock::{acquire as lock_machine, MachineLock};

/// What kind of run.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Change nothing.
    pub dry_run: bool,
    /// List orbctl calls.
    pub show_calls: bool,
    /// Exit 4 when changes are pending (plan --exit-code).
    pub exit_on_changes: bool,
}

/// The steps of `book` that apply to `host` (by `hosts:` and `--tags`), in order.
fn steps_for<'a>(
    book: &'a Playbook,
    selected: &[BTreeSet<String>],
    tags: &[String],
    host: &str,
) -> Vec<&'a Step> {
    book.steps
        .iter()
        .zip(selected)
        .filter(|(_, hosts)| hosts.contains(host))
        .filter(|(s, _)| {
            tags.is_empty()
                || s.spec
                    .tags
                    .0
                    .iter()
                    .any(|t| t == "always" || tags.contains(t))
        })
        .map(|(s, _)| s)
        .collect()
}

fn step_hosts(inv: &Inventory, step: &Step) -> BTreeSet<String> {
    let patterns: Vec<String> = if step.spec.hosts.0.is_empty() {
        vec!["all".into()]
    } else {
        step.spec.hosts.0.clone()
    };
    let mut out = BTreeSet::new();
    for p in patterns {
        if p == "all" {
            out.extend(inv.hosts.iter().map(|h| h.name.clone()));
        } else if let Ok(hs) = inv.select(&p) {
            out.extend(hs.into_iter().map(|h| h.name.clone()));
        }
    }
    out
}

fn host_vars_json(inv: &Inventory, h: &Host) -> serde_json::Map<String, Json> {
    host::vars_json(&inv.vars(h))
}

/// Render every step for every machine with placeholders for registered values, so an
/// undefined variable, a bad expression or a missing local file stops the run before any
/// machine is touched.
fn validate(
    inv: &Inventory,
    hosts: &[&Host],
    book: &Playbook,
    selected: &[BTreeSet<String>],
    tags: &[String],
    renderer: &Renderer,
) -> Result<(), ConfigError> {
    let placeholder = serde_json::json!({
        "stdout": "", "stderr": "", "stdout_lines": [], "rc": 0,
        "changed": false, "failed": false, "skipped": false,
    });
    let registers: Vec<String> = book
        .steps
        .iter()
        .chain(&book.handlers)
        .filter_map(|s| s.spec.register.clone())
        .collect();
    let hostvars = all_hostvars(inv);
    for h in hosts {
        if h.desired.state != DesiredState::Running {
            continue;
        }
        let mut vars = host_vars_json(inv, h);
        for r in &registers {
            vars.insert(r.clone(), placeholder.clone());
        }
        vars.insert("hostvars".into(), hostvars.clone());
        let ctx = minijinja::Value::from_serialize(&vars);
        let mut steps = steps_for(book, selected, tags, &h.name);
        // A handler runs only where a step notifies it.
        let notified: BTreeSet<&String> = steps.iter().flat_map(|s| &s.spec.notify.0).collect();
        steps.extend(
            book.handlers
                .iter()
                .filter(|hd| notified.contains(&hd.name)),
        );
        for step in steps {
            let on = |e: String| steps::at(step, format!("on machine `{}`: {e}", h.name));
            if let Some(w) = &step.spec.when {
                renderer
                    .truthy(&w.value, &ctx)
                    .map_err(|e| on(format!("when: {e}")))?;
            }
            crate::ops::render(step, renderer, &ctx).map_err(on)?;
        }
    }
    Ok(())
}

fn all_hostvars(inv: &Inventory) -> Json {
    let mut m = serde_json::Map::new();
    for h in &inv.hosts {
        m.insert(h.name.clone(), Json::Object(host_vars_json(inv, h)));
    }
    Json::Object(m)
}

fn progress_wanted(args: &RunArgs) -> bool {
    let tty = std::io::stderr().is_terminal();
    match args.progress {
        Progress::Never => false,
        Progress::Always => tty,
        Progress::Auto => tty && std::env::var_os("CI").is_none(),
    }
}

/// What phase 1 left a machine in, for phase 2.
enum Ready {
    /// Running: run its steps.
    Run,
    /// Declared stopped or absent: no steps.
    Idle,
    /// Plan only: it would be created or started first.
    Later(&'static str),
    /// Cannot be used.
    Unreachable { error: String, unavailable: bool },
}

/// Run `apply` (or `plan`).
pub fn apply(orb: &Orb, args: &RunArgs, mode: Mode) -> Result<()> {
    crate::interrupt::install();
    let started = Instant::now();
    let vars = args
        .vars
        .iter()
        .map(|v| parse_var(v))
        .collect::<Result<Vec<_>, _>>()?;
    let mut inv = inventory::load(&args.inventory, &vars)?;
    let renderer = Renderer::new();
    let book = steps::load(&inv, &renderer)?;
    let list = orb.list()?;
    inv.attach(&list);
    steps::check_hosts(&book, &inv)?;
    let names: Vec<String> = inv
        .limit(&args.limit)?
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let selected: Vec<BTreeSet<String>> = book.steps.iter().map(|s| step_hosts(&inv, s)).collect();
    {
        let hosts: Vec<&Host> = inv
            .hosts
            .iter()
            .filter(|h| names.contains(&h.name))
            .collect();
        validate(&inv, &hosts, &book, &selected, &args.tags, &renderer)?;
    }
    let mut secrets: Vec<String> = inv
        .hosts
        .iter()
        .flat_map(|h| inv.secret_values(h))
        .collect();
    secrets.extend(renderer.secrets());
    let masker = Masker::new(secrets);

    let mode_name = if mode.dry_run { "plan" } else { "apply" };
    let json = args.output == OutputFormat::Json;
    let (events, reporter) = report::start(
        report::Options {
            json,
            progress: !json && progress_wanted(args),
            color: !json
                && std::env::var_os("NO_COLOR").is_none()
                && std::io::stdout().is_terminal(),
            mode: mode_name.into(),
            inventory: args.inventory.display().to_string(),
            report: args.report.clone(),
            junit: args.junit.clone(),
            html: args.report_html.clone(),
            show_calls: mode.show_calls,
        },
        masker.clone(),
    );
    events.send(Event::RunStarted {
        mode: mode_name.into(),
        machines: names.clone(),
        steps: book.steps.len(),
    });

    // Locks: an apply owns its machines until it ends.
    let mut ready: BTreeMap<String, Ready> = BTreeMap::new();
    let mut _locks: Vec<MachineLock> = Vec::new();
    if !mode.dry_run {
        let mut sorted = names.clone();
        sorted.sort();
        for name in &sorted {
            let mut say = |m: &str| eprintln!("orbdeploy: {m}");
            match lock::acquire(
                orb.bin(),
                name,
                Duration::from_secs(args.lock_timeout),
                &mut say,
            ) {
                Ok(l) => _locks.push(l),
                Err(e) => {
                    ready.insert(
                        name.clone(),
                        Ready::Unreachable {
                            error: e,
                            unavailable: false,
                        },
                    );
                }
            }
        }
    }

    // Phase 1: machines.
    let need_ip4 = book.mentions(&inv, &["ip4", "hostvars"]);
    let hosts: Vec<&Host> = inv
        .hosts
        .iter()
        .filter(|h| names.contains(&h.name) && !ready.contains_key(&h.name))
        .collect();
    let rsteps = machines::plan(orb, &hosts);
    let outcomes = if crate::interrupt::requested() {
        Vec::new()
    } else {
        reconcile::execute_with(orb, &rsteps, mode.dry_run, need_ip4)
    };
    let mut after: BTreeMap<String, crate::orb::Machine> = BTreeMap::new();
    for (st, out) in rsteps.iter().zip(&outcomes) {
        let desired = hosts
            .iter()
            .find(|h| h.name == st.machine)
            .map(|h| h.desired.state)
            .unwrap_or(DesiredState::Running);
        let status = match (&out.error, mode.dry_run, &st.action) {
            (Some(_), _, _) => "failed",
            (None, _, Action::Keep) => "ok",
            (None, true, _) => "planned",
            (None, false, _) => "done",
        };
        let mut message = out.error.clone().or_else(|| out.note.clone());
        if let Action::Drift(d) = &st.action {
            message = Some(format!("machine `{}` {d}", st.machine));
        }
        events.send(Event::Machine(MachineAction {
            machine: st.machine.clone(),
            action: match &st.action {
                Action::Keep => "keep",
                Action::Create(_) => "create",
                Action::Start => "start",
                Action::Stop => "stop",
                Action::Delete => "delete",
                Action::Missing => "missing",
                Action::Drift(_) => "drift",
            }
            .into(),
            status: status.into(),
            message,
            argv: st.argv.clone(),
        }));
        let r = if let Some(e) = &out.error {
            Ready::Unreachable {
                error: e.clone(),
                unavailable: out.unavailable,
            }
        } else if desired != DesiredState::Running {
            Ready::Idle
        } else {
            match (&st.action, mode.dry_run) {
                (Action::Create(_), true) => Ready::Later("the machine would be created first"),
                (Action::Start, true) => Ready::Later("the machine would be started first"),
                _ => Ready::Run,
            }
        };
        if let Some(m) = &out.machine_after {
            after.insert(st.machine.clone(), m.clone());
        }
        ready.insert(st.machine.clone(), r);
    }
    // What phase 1 learnt (new machines, addresses) is visible to templates.
    for h in inv.hosts.iter_mut() {
        if let Some(m) = after.remove(&h.name) {
            h.actual = Some(m);
        }
    }
    let hostvars = all_hostvars(&inv);

    // Phase 2: steps, machines in parallel.
    let stop_all = AtomicBool::new(false);
    let shared = host::Shared {
        renderer: &renderer,
        events: events.clone(),
        dry_run: mode.dry_run,
        diff: args.diff,
        show_calls: mode.show_calls,
        keep_going: args.keep_going,
        fail_fast: args.fail_fast,
        stop_all: &stop_all,
        hostvars,
    };
    let mut results: Vec<HostResult> = Vec::new();
    let mut queue: VecDeque<host::HostJob> = VecDeque::new();
    let mut unavailable = 0;
    for name in &names {
        let Some(h) = inv.hosts.iter().find(|h| &h.name == name) else {
            continue;
        };
        let steps = steps_for(&book, &selected, &args.tags, name);
        match ready.remove(name) {
            Some(Ready::Run) => queue.push_back(host::HostJob {
                machine: name.clone(),
                vars: host_vars_json(&inv, h),
                steps,
                handlers: &book.handlers,
            }),
            Some(Ready::Later(why)) => {
                let counts = host::not_run(&events, name, &steps, StepStatus::Unknown, why);
                results.push(HostResult {
                    machine: name.clone(),
                    status: HostStatus::Changed,
                    counts,
                    duration_ms: 0,
                    error: None,
                });
            }
            Some(Ready::Unreachable {
                error,
                unavailable: u,
            }) => {
                if u {
                    unavailable += 1;
                }
                let counts = host::not_run(&events, name, &steps, StepStatus::Failed, &error);
                results.push(HostResult {
                    machine: name.clone(),
                    status: HostStatus::Unreachable,
                    counts,
                    duration_ms: 0,
                    error: Some(masker.text(&error)),
                });
            }
            Some(Ready::Idle) | None => results.push(HostResult {
                machine: name.clone(),
                status: HostStatus::Ok,
                counts: Default::default(),
                duration_ms: 0,
                error: None,
            }),
        }
    }
    for r in &results {
        events.send(Event::Host(r.clone()));
    }
    let queue = Mutex::new(queue);
    let finished = Mutex::new(Vec::new());
    let workers = usize::from(args.parallel)
        .min(queue.lock().map(|q| q.len()).unwrap_or(1))
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let job = match queue.lock() {
                    Ok(mut q) => q.pop_front(),
                    Err(_) => None,
                };
                let Some(job) = job else { break };
                let mut remote: Box<dyn Remote> = if args.no_channel {
                    Box::new(OneShot::new(orb, &job.machine))
                } else {
                    Box::new(Channel::new(orb, &job.machine))
                };
                let r = host::run(&shared, job, remote.as_mut());
                shared.events.send(Event::Host(r.clone()));
                if let Ok(mut f) = finished.lock() {
                    f.push(r);
                }
            });
        }
    });
    results.extend(finished.into_inner().unwrap_or_default());

    let interrupted = crate::interrupt::requested();
    let (counts, machines) = report::totals(&results);
    let failed_hosts = results
        .iter()
        .filter(|r| matches!(r.status, HostStatus::Failed) || (r.status == HostStatus::Unreachable))
        .count();
    // Commands without `creates`/`unless` always "will run"; they would make every plan of
    // an inventory with commands look unconverged, so only real changes count as pending.
    let pending = counts.will_change + counts.unknown;
    let code = if interrupted {
        exit::INTERRUPTED
    } else if failed_hosts > unavailable {
        exit::FAILED
    } else if unavailable > 0 {
        exit::UNAVAILABLE
    } else if mode.exit_on_changes && pending > 0 {
        exit::CHANGES_PENDING
    } else {
        exit::OK
    };
    events.send(Event::Summary(Summary {
        mode: mode_name.into(),
        exit_code: code,
        interrupted,
        counts,
        machines,
        duration_ms: report::ms(started.elapsed()),
    }));
    drop(shared);
    drop(events);
    reporter.finish()?;
    match code {
        exit::OK => Ok(()),
        exit::INTERRUPTED => Err(Outcome::Interrupted.into()),
        exit::UNAVAILABLE => Err(Outcome::Unavailable(String::new()).into()),
        exit::CHANGES_PENDING => Err(Outcome::ChangesPending.into()),
        _ => Err(Outcome::Failed(String::new()).into()),
    }
}
