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

/// The warning for a `max_fail_percentage` that has nothing to stop: without `serial`
/// (inventory or `--serial`) every machine is in the one batch, and the percentage is
/// checked between batches (docs/batches.md). Ansible's would end the play mid-way; a
/// user who expects that should hear it before the run, not find it in the results.
pub(super) fn unused_max_fail(config: &Config, inv: &Inventory) -> Option<String> {
    if config.serial.is_some() || inv.serial.is_some() {
        return None;
    }
    let at = match config.max_fail_percentage {
        Some(_) => "--max-fail-percentage".to_string(),
        None => inv.max_fail_at.clone()?,
    };
    Some(format!(
        "{at}: warning: max_fail_percentage has nothing to stop without serial: every machine is in one batch, and the percentage is checked between batches (docs/batches.md)"
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn rolling(dry_run: bool, fail_fast: bool, p: u8) -> Rolling {
        Rolling {
            serial: Serial::parse("2").ok(),
            max_fail_percentage: p,
            fail_fast,
            dry_run,
        }
    }

    fn result(machine: &str, status: HostStatus) -> HostResult {
        HostResult {
            machine: machine.into(),
            status,
            counts: Default::default(),
            duration_ms: 0,
            error: None,
            timings: None,
            batch: Some(1),
        }
    }

    #[test]
    fn batches_are_made_in_order_and_numbered_only_with_serial() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let r = rolling(false, false, 0);
        let b = r.batches(&names);
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[1].number, b[1].of, b[1].line()),
            (2, 2, "batch 2/2: c".into())
        );
        assert_eq!(r.number(&b[1]), Some(2));
        let all = Rolling {
            serial: None,
            ..rolling(false, false, 0)
        };
        let one = all.batches(&names);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].machines, names);
        assert_eq!(all.number(&one[0]), None);
    }

    #[test]
    fn failed_and_unreachable_machines_count_and_a_plan_never_stops() {
        let batch = &rolling(false, false, 0).batches(&["a".into(), "b".into()])[0];
        let half = [
            result("a", HostStatus::Changed),
            result("b", HostStatus::Unreachable),
        ];
        let why = rolling(false, false, 0).stop_after(batch, &half);
        assert_eq!(
            why.as_deref(),
            Some("1 of 2 machines of batch 1/1 failed, more than `max_fail_percentage: 0` allows")
        );
        assert_eq!(rolling(false, false, 50).stop_after(batch, &half), None);
        assert_eq!(rolling(true, false, 0).stop_after(batch, &half), None);
        let why = rolling(false, true, 50).stop_after(batch, &half);
        assert_eq!(
            why.as_deref(),
            Some("1 of 2 machines of batch 1/1 failed (--fail-fast)")
        );
        let fine = [
            result("a", HostStatus::Ok),
            result("b", HostStatus::Changed),
        ];
        assert_eq!(rolling(false, true, 0).stop_after(batch, &fine), None);
    }
}
