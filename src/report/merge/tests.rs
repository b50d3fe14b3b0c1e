use super::*;
use crate::ops::Kind;
use crate::report::{HostResult, HostStatus, Mode, ReportMachine, StepResult, StepStatus};

/// A shard's report: `machines` with one step each of the given status, ended with `end`.
fn shard(machines: &[(&str, StepStatus)], end: RunEnd, duration_ms: u64) -> Report {
    let mut r = Report::new(
        Mode::Apply,
        "inv.yaml".into(),
        Some(("/x/inv.yaml".into(), "ab".repeat(32))),
        1000 + duration_ms,
    );
    for (name, status) in machines {
        let mut counts = Counts::default();
        counts.add(*status);
        let host = if *status == StepStatus::Failed {
            HostStatus::Failed
        } else {
            HostStatus::Ok
        };
        r.summary.counts.merge(&counts);
        *r.summary.machines.entry(host.word().into()).or_insert(0) += 1;
        r.machines.push(ReportMachine {
            result: HostResult {
                machine: name.to_string(),
                status: host,
                counts,
                duration_ms: 5,
                error: None,
                timings: None,
                batch: None,
            },
            steps: vec![StepResult::new(name, 0, "s", Kind::Command, *status)],
        });
    }
    r.summary.exit_code = end.exit_code();
    r.summary.duration_ms = duration_ms;
    r
}

fn named(rs: Vec<Report>) -> Vec<(String, Report)> {
    rs.into_iter()
        .enumerate()
        .map(|(i, r)| (format!("s{}.json", i + 1), r))
        .collect()
}

#[test]
fn totals_add_up_and_the_worst_end_wins() {
    let a = shard(
        &[("m3", StepStatus::Ok), ("m1", StepStatus::Changed)],
        RunEnd::Success,
        40,
    );
    let b = shard(&[("m2", StepStatus::Failed)], RunEnd::Failed, 70);
    let c = shard(&[], RunEnd::Success, 3);
    let m = merge(named(vec![a, b, c])).unwrap();
    let names: Vec<&str> = m
        .machines
        .iter()
        .map(|x| x.result.machine.as_str())
        .collect();
    assert_eq!(names, ["m1", "m2", "m3"]);
    assert_eq!(m.summary.counts.get(StepStatus::Ok), 1);
    assert_eq!(m.summary.counts.get(StepStatus::Changed), 1);
    assert_eq!(m.summary.counts.get(StepStatus::Failed), 1);
    assert_eq!(m.summary.machines["ok"], 2);
    assert_eq!(m.summary.machines["failed"], 1);
    assert_eq!(m.summary.exit_code, 1);
    assert_eq!(m.summary.duration_ms, 70, "the shards ran side by side");
    assert_eq!(m.started_unix, 1003);
    assert_eq!(
        m.inventory_sha256.as_deref(),
        Some("ab".repeat(32).as_str())
    );
}

#[test]
fn the_ends_rank_as_one_run_decides_them() {
    let end = |ends: &[RunEnd]| {
        let rs = ends.iter().map(|e| shard(&[], *e, 1)).collect();
        merge(named(rs)).unwrap().summary.exit_code
    };
    assert_eq!(end(&[RunEnd::Success, RunEnd::Success]), 0);
    assert_eq!(end(&[RunEnd::Unavailable, RunEnd::Failed]), 1);
    assert_eq!(end(&[RunEnd::Unavailable, RunEnd::PlanRefused]), 3);
    assert_eq!(end(&[RunEnd::ChangesPending, RunEnd::PlanRefused]), 5);
    assert_eq!(end(&[RunEnd::Success, RunEnd::ChangesPending]), 4);
    assert_eq!(end(&[RunEnd::Failed, RunEnd::Interrupted]), 130);
}

#[test]
fn shards_of_other_runs_are_refused() {
    let a = shard(&[("m1", StepStatus::Ok)], RunEnd::Success, 1);
    let mut other = shard(&[("m2", StepStatus::Ok)], RunEnd::Success, 1);
    other.inventory_sha256 = Some("cd".repeat(32));
    let err = merge(named(vec![a.clone(), other])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "s1.json and s2.json are not shards of one run: their inventories differ (SHA-256 abababababab and cdcdcdcdcdcd)"
    );
    let mut plan = shard(&[("m2", StepStatus::Ok)], RunEnd::Success, 1);
    plan.mode = Mode::Plan;
    let err = merge(named(vec![a.clone(), plan])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "s1.json and s2.json are not shards of one run: one is of `apply`, the other of `plan`"
    );
    let err = merge(named(vec![a.clone(), a.clone()])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("machine `m1` is in both s1.json and s2.json"),
        "{err}"
    );
}

#[test]
fn reports_that_cannot_be_compared_are_refused() {
    let mut old = shard(&[("m1", StepStatus::Ok)], RunEnd::Success, 1);
    old.inventory_sha256 = None;
    assert!(matches!(
        merge(named(vec![old])).unwrap_err(),
        MergeError::Unusable { .. }
    ));
    let mut v2 = shard(&[], RunEnd::Success, 1);
    v2.version = 2;
    assert_eq!(
        merge(named(vec![v2])).unwrap_err().to_string(),
        format!("s1.json: a report of version 2, this orbdeploy merges version {REPORT_VERSION}")
    );
    let mut odd = shard(&[], RunEnd::Success, 1);
    odd.summary.exit_code = 2;
    assert!(merge(named(vec![odd])).is_err());
    assert_eq!(merge(Vec::new()).unwrap_err(), MergeError::Empty);
}
