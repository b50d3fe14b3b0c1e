//! One scenario on its platforms: prepare (the template) → create (a clone) → converge →
//! idempotence → verify → destroy. Platforms go through each phase together: templates
//! and clones are made in parallel threads, and each apply runs every platform's machine
//! at once (the apply's own parallelism). A platform that fails a phase skips the phases
//! after it, up to destroy.

use std::time::Instant;

use crate::error::RunEnd;
use crate::load::scenario::{Platform, Scenario};
use crate::orb::{Lifecycle, Machine, Orb};
use crate::read_log::ReadLog;

use super::machines::{self, Steps};
use super::phases::{judge, Phase, PhaseResult, Verdict};
use super::{Checked, Config, Output};

/// One platform's run.
#[derive(Debug, Clone)]
pub struct PlatformRun {
    /// The platform's name.
    pub platform: String,
    /// Its throwaway machine.
    pub machine: String,
    /// Its template.
    pub template: String,
    /// The phases so far.
    pub phases: Vec<PhaseResult>,
    /// The machine is left for the user (`--keep`, `--keep-failed`).
    pub kept: bool,
}

impl PlatformRun {
    /// No phase failed (skipped ones by choice, such as no `verify` steps, pass).
    pub fn passed(&self) -> bool {
        self.phases.iter().all(|p| p.verdict != Verdict::Failed) && !self.interrupted()
    }

    /// Still going: every phase so far passed.
    fn alive(&self) -> bool {
        self.phases.iter().all(|p| p.verdict == Verdict::Passed)
    }

    fn interrupted(&self) -> bool {
        self.phases.iter().any(|p| p.note == INTERRUPTED)
    }

    /// Its machine may exist: its create ran (a failed or interrupted clone may have
    /// left it too).
    fn made(&self) -> bool {
        self.phase(Phase::Create)
            .is_some_and(|p| p.verdict != Verdict::Skipped || p.note == INTERRUPTED)
    }

    /// Wall time of its phases.
    pub fn ms(&self) -> u64 {
        self.phases.iter().map(|p| p.ms).sum()
    }

    /// The result of `phase`, when it was reached.
    pub fn phase(&self, phase: Phase) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| p.phase == phase)
    }
}

const INTERRUPTED: &str = "interrupted";

/// Run one scenario; `out` shows each phase as it ends.
pub fn run(
    orb: &Orb,
    cfg: &Config,
    c: &Checked,
    run_id: &str,
    out: &mut Output,
) -> Vec<PlatformRun> {
    let s = &c.scenario;
    let platforms: Vec<&Platform> = s.file.platforms.iter().map(|p| &p.value).collect();
    let mut runs: Vec<PlatformRun> = platforms
        .iter()
        .zip(&c.templates)
        .map(|(p, t)| PlatformRun {
            platform: p.name.value.clone(),
            machine: machines::machine_name(run_id, &s.name, &p.name.value),
            template: t.clone(),
            phases: Vec::new(),
            kept: false,
        })
        .collect();
    out.scenario(s, &runs);
    let ctx = Ctx {
        orb,
        cfg,
        s,
        platforms: &platforms,
        machines: runs.iter().map(|r| r.machine.clone()).collect(),
        templates: c.templates.clone(),
    };
    prepare(&ctx, &mut runs);
    out.phase(Phase::Prepare, &runs);
    step(&ctx, &mut runs, Phase::Create, create);
    out.phase(Phase::Create, &runs);
    for phase in [Phase::Converge, Phase::Idempotence, Phase::Verify] {
        step(&ctx, &mut runs, phase, apply_phase);
        out.phase(phase, &runs);
    }
    destroy(&ctx, &mut runs);
    out.phase(Phase::Destroy, &runs);
    runs
}

struct Ctx<'a> {
    orb: &'a Orb,
    cfg: &'a Config,
    s: &'a Scenario,
    platforms: &'a [&'a Platform],
    /// Each platform's throwaway machine and template, in platform order.
    machines: Vec<String>,
    templates: Vec<String>,
}

/// Run `phase` on the platforms still alive (the others get it skipped, saying why).
fn step(
    ctx: &Ctx,
    runs: &mut [PlatformRun],
    phase: Phase,
    work: fn(&Ctx, &[usize], Phase) -> Vec<PhaseResult>,
) {
    let interrupted = crate::interrupt::requested();
    let alive: Vec<usize> = (0..runs.len()).filter(|i| runs[*i].alive()).collect();
    for r in runs.iter_mut().filter(|r| !r.alive()) {
        let why = match r.interrupted() {
            true => INTERRUPTED,
            false => "after a failed phase",
        };
        r.phases.push(PhaseResult::skipped(phase, why));
    }
    if alive.is_empty() {
        return;
    }
    let results = if interrupted {
        alive
            .iter()
            .map(|_| PhaseResult::skipped(phase, INTERRUPTED))
            .collect()
    } else {
        work(ctx, &alive, phase)
    };
    for (i, r) in alive.into_iter().zip(results) {
        runs[i].phases.push(r);
    }
}

/// Each platform's template, made once per name (two platforms of the same inputs share
/// one), in parallel.
fn prepare(ctx: &Ctx, runs: &mut [PlatformRun]) {
    let listed = ctx.orb.list();
    let mut names: Vec<(String, usize)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        if !names.iter().any(|(n, _)| *n == r.template) {
            names.push((r.template.clone(), i));
        }
    }
    let built: Vec<(String, PhaseResult)> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|(name, i)| {
                let listed = &listed;
                let p = ctx.platforms[*i];
                scope.spawn(move || {
                    let r = match listed {
                        Ok(list) => template(ctx, p, name, list),
                        Err(e) => PhaseResult::failed(
                            Phase::Prepare,
                            0,
                            "orbctl list failed",
                            vec![e.to_string()],
                        ),
                    };
                    (name.clone(), r)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for r in runs.iter_mut() {
        let result = built
            .iter()
            .find(|(n, _)| *n == r.template)
            .map(|(_, p)| p.clone());
        r.phases.push(result.unwrap_or_else(|| {
            PhaseResult::failed(
                Phase::Prepare,
                0,
                "the template's thread ended early",
                Vec::new(),
            )
        }));
    }
}

/// A platform's template: the stopped machine `name` when it exists (and `--rebuild` is
/// not given), else made now: created from the image, prepared, stopped.
fn template(ctx: &Ctx, p: &Platform, name: &str, list: &[Machine]) -> PhaseResult {
    let t0 = Instant::now();
    let phase = Phase::Prepare;
    match list.iter().find(|m| m.name == name) {
        Some(m) if m.state == "stopped" && !ctx.cfg.rebuild => {
            return PhaseResult::passed(phase, 0, format!("template {name} (cached)"));
        }
        // A template that runs was left half-made by a killed run; `--rebuild` asks anew.
        Some(_) => {
            if let Err(e) = ctx.orb.lifecycle_call(Lifecycle::Delete, name) {
                return PhaseResult::failed(
                    phase,
                    0,
                    "could not delete the old template",
                    vec![e.to_string()],
                );
            }
        }
        None => {}
    }
    let reads = ReadLog::default();
    let inv = match machines::template(ctx.s, p, name, (&ctx.cfg.vars, &reads)) {
        Ok(inv) => inv,
        Err(e) => return PhaseResult::failed(phase, 0, "bad input", vec![e.to_string()]),
    };
    let config = ctx.cfg.run_config(ctx.s, Vec::new(), None);
    let ended = crate::run::apply_inventory(ctx.orb, &config, inv, reads);
    let ms = crate::report::ms(t0.elapsed());
    let result = match ended {
        _ if crate::interrupt::requested() => PhaseResult::skipped(phase, INTERRUPTED),
        Ok((_, Some(report))) => judge(phase, &report, name, ms, false),
        Ok((end, None)) => PhaseResult::failed(phase, ms, end.word(), Vec::new()),
        Err(e) => PhaseResult::apply_error(phase, ms, &e),
    };
    let stopped = match result.verdict {
        Verdict::Passed => ctx.orb.lifecycle_call(Lifecycle::Stop, name),
        _ => ctx.orb.lifecycle_call(Lifecycle::Delete, name),
    };
    match (result.verdict, stopped) {
        (Verdict::Passed, Ok(())) => {
            let ms = crate::report::ms(t0.elapsed());
            PhaseResult::passed(phase, ms, format!("template {name} made ({})", result.note))
        }
        (Verdict::Passed, Err(e)) => {
            let _ = ctx.orb.lifecycle_call(Lifecycle::Delete, name);
            PhaseResult::failed(
                phase,
                ms,
                "could not stop the template",
                vec![e.to_string()],
            )
        }
        _ => result,
    }
}

/// Clone each platform's template into its throwaway machine and start it, in parallel.
fn create(ctx: &Ctx, alive: &[usize], phase: Phase) -> Vec<PhaseResult> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = alive
            .iter()
            .map(|i| {
                let (name, template) = (&ctx.machines[*i], &ctx.templates[*i]);
                scope.spawn(move || {
                    let t0 = Instant::now();
                    let made = ctx
                        .orb
                        .clone_machine(template, name)
                        .and_then(|()| ctx.orb.lifecycle_call(Lifecycle::Start, name));
                    let ms = crate::report::ms(t0.elapsed());
                    match made {
                        Ok(()) => {
                            PhaseResult::passed(phase, ms, format!("{name} cloned from {template}"))
                        }
                        // Ctrl-C ends the orbctl it waited for: not a failure of the clone.
                        Err(_) if crate::interrupt::requested() => {
                            PhaseResult::skipped(phase, INTERRUPTED)
                        }
                        Err(e) => {
                            PhaseResult::failed(phase, ms, "clone failed", vec![e.to_string()])
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    PhaseResult::failed(phase, 0, "the clone's thread ended early", Vec::new())
                })
            })
            .collect()
    })
}

/// Converge, idempotence or verify: one apply on every platform still alive.
fn apply_phase(ctx: &Ctx, alive: &[usize], phase: Phase) -> Vec<PhaseResult> {
    let steps = match phase {
        Phase::Verify => Steps::Verify,
        _ => Steps::Converge,
    };
    if steps == Steps::Verify && ctx.s.file.verify.is_none() {
        return alive
            .iter()
            .map(|_| PhaseResult::skipped(phase, "no verify steps"))
            .collect();
    }
    let names: Vec<(String, &Platform)> = alive
        .iter()
        .map(|i| (ctx.machines[*i].clone(), ctx.platforms[*i]))
        .collect();
    let t0 = Instant::now();
    let reads = ReadLog::default();
    let ended = machines::phase(ctx.s, &names, steps, (&ctx.cfg.vars, &reads))
        .map_err(anyhow::Error::from)
        .and_then(|inv| {
            let tags = ctx.s.file.tags.iter().map(|t| t.value.clone());
            let tags = if steps == Steps::Converge {
                tags.collect()
            } else {
                Vec::new()
            };
            let reports = (phase == Phase::Converge).then_some(ctx.s);
            let config = ctx.cfg.run_config(ctx.s, tags, reports);
            crate::run::apply_inventory(ctx.orb, &config, inv, reads)
        });
    let ms = crate::report::ms(t0.elapsed());
    let no_changes = phase != Phase::Converge;
    names
        .iter()
        .map(|(name, _)| match &ended {
            // What Ctrl-C cut short (a session ended under a step) is not a failure.
            _ if crate::interrupt::requested() => PhaseResult::skipped(phase, INTERRUPTED),
            Ok((_, Some(report))) => judge(phase, report, name, ms, no_changes),
            Ok((RunEnd::Interrupted, None)) => PhaseResult::skipped(phase, INTERRUPTED),
            Ok((end, None)) => PhaseResult::failed(phase, ms, end.word(), Vec::new()),
            Err(e) => PhaseResult::apply_error(phase, ms, e),
        })
        .collect()
}

/// Delete each throwaway machine that was made, unless it is kept.
fn destroy(ctx: &Ctx, runs: &mut [PlatformRun]) {
    for r in runs.iter_mut() {
        let phase = Phase::Destroy;
        if !r.made() {
            r.phases
                .push(PhaseResult::skipped(phase, "no machine was made"));
            continue;
        }
        let failed = !r.passed() && !r.interrupted();
        if ctx.cfg.keep || (ctx.cfg.keep_failed && failed) {
            r.kept = true;
            r.phases.push(PhaseResult::skipped(phase, "kept"));
            continue;
        }
        let t0 = Instant::now();
        let deleted = ctx.orb.lifecycle_call(Lifecycle::Delete, &r.machine);
        let ms = crate::report::ms(t0.elapsed());
        r.phases.push(match deleted {
            Ok(()) => PhaseResult::passed(phase, ms, format!("{} deleted", r.machine)),
            // Ctrl-C came before the clone was made.
            Err(crate::orb::OrbError::MachineNotFound { .. }) => {
                PhaseResult::passed(phase, ms, "no machine to delete")
            }
            Err(e) => PhaseResult::failed(phase, ms, "delete failed", vec![e.to_string()]),
        });
    }
}
