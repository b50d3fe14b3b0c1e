//! Rolling batches (`serial`, docs/batches.md): the selected machines split into batches
//! in inventory order, each brought up and applied before the next begins, and the rule
//! that stops the batches after one whose failures exceed `max_fail_percentage`. The
//! machines of the batches not run are reported as not started.

use crate::inventory::Inventory;
use crate::plan::Plan;
use crate::report::{BatchInfo, Event, HostResult, HostStatus, Sender, StepStatus};
use crate::serial::{self, Serial};

use super::config::{Config, OnFailure};
use super::host;

/// How a run goes through its machines: all at once, or in rolling batches.
pub(super) struct Rolling {
    /// The batch sizes (`None`: one batch of every machine, not announced).
    serial: Option<Serial>,
    /// The share of a batch's machines that may fail before the later batches stop.
    max_fail_percentage: u8,
    /// `--fail-fast`: any failure stops the later batches too.
    fail_fast: bool,
    /// A plan shows every batch and stops none: it changes nothing, and its point is to
    /// see every machine.
    dry_run: bool,
}

impl Rolling {
    /// The command line's `--serial` and `--max-fail-percentage` over the inventory's.
    pub(super) fn of(config: &Config, inv: &Inventory) -> Rolling {
        Rolling {
            serial: config.serial.clone().or_else(|| inv.serial.clone()),
            max_fail_percentage: config
                .max_fail_percentage
                .or(inv.max_fail_percentage)
                .unwrap_or(0),
            fail_fast: config.on_failure == OnFailure::Everything,
            dry_run: config.mode.dry_run,
        }
    }

    /// The batches of `machines` (in order); without `serial`, one of them all.
    pub(super) fn batches(&self, machines: &[String]) -> Vec<BatchInfo> {
        let groups = match &self.serial {
            Some(s) => s.split(machines),
            None => vec![machines.to_vec()],
        };
        let of = groups.len();
        groups
            .into_iter()
            .enumerate()
            .map(|(i, machines)| BatchInfo {
                number: i + 1,
                of,
                machines,
                started: true,
            })
            .collect()
    }

    /// The batch number a machine's result carries (`None` without `serial`).
    pub(super) fn number(&self, batch: &BatchInfo) -> Option<usize> {
        self.serial.as_ref().map(|_| batch.number)
    }

    /// Say that `batch` begins (nothing is said without `serial`).
    pub(super) fn announce(&self, events: &Sender, batch: &BatchInfo) {
        if self.serial.is_some() {
            events.send(Event::Batch(batch.clone()));
        }
    }

    /// Why the batches after `batch` are not started, given its machines' `results`;
    /// `None` when they go on.
    pub(super) fn stop_after(&self, batch: &BatchInfo, results: &[HostResult]) -> Option<String> {
        if self.serial.is_none() || self.dry_run {
            return None;
        }
        let failed = results.iter().filter(|r| r.status.traits().fails).count();
        let size = batch.machines.len();
        let at = format!("batch {}/{}", batch.number, batch.of);
        let p = self.max_fail_percentage;
        if serial::stops(failed, size, p) {
            Some(format!(
                "{failed} of {size} machines of {at} failed, more than `max_fail_percentage: {p}` allows"
            ))
        } else if self.fail_fast && failed > 0 {
            Some(format!(
                "{failed} of {size} machines of {at} failed (--fail-fast)"
            ))
        } else {
            None
        }
    }
}

/// Report `batch` as not started, and each of its machines, with its steps as skipped,
/// for `why`.
pub(super) fn not_started(
    events: &Sender,
    plan: &Plan<'_>,
    batch: &BatchInfo,
    why: &str,
) -> Vec<HostResult> {
    events.send(Event::Batch(BatchInfo {
        started: false,
        ..batch.clone()
    }));
    let reason = format!("not started: {why}");
    let mut results = Vec::new();
    for m in plan
        .machines
        .iter()
        .filter(|m| batch.machines.contains(&m.name))
    {
        let counts = host::not_run(events, &m.name, &m.steps, StepStatus::Skipped, &reason);
        let result = HostResult {
            machine: m.name.clone(),
            status: HostStatus::NotStarted,
            counts,
            duration_ms: 0,
            error: Some(why.to_string()),
            timings: None,
            batch: Some(batch.number),
        };
        events.send(Event::Host(result.clone()));
        results.push(result);
    }
    results
}
