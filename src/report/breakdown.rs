//! `--timings`: the "Where the time went" block at the end of the human output, built
//! from the report's timings ([`super::timings`]): the phases summed over every machine,
//! how much of the machines' time was spent waiting on the transport, on the machines'
//! own commands and in orbdeploy itself, and the slowest machines and steps.
//!
//! Machines run side by side, so their times are summed, not the run's wall time: the
//! shares say where a machine's time goes, whatever the parallelism. A step's time here
//! is the sum of its phases (kept to the microsecond, where `duration_ms` is whole
//! milliseconds and most steps of a re-apply take less than one).

use super::human::count;
use super::timings::{HostTimings, Millis, StepTimings};
use super::{Report, StepResult};

/// How many of the slowest machines are listed.
const MACHINES: usize = 3;
/// How many of the slowest steps are listed.
const STEPS: usize = 5;

/// A time as the block shows it: `12.3ms` under a second, `1.23s` from there.
pub fn span(t: Millis) -> String {
    if t.micros() < 1_000_000 {
        format!("{:.1}ms", t.ms())
    } else {
        format!("{:.2}s", t.ms() / 1000.0)
    }
}

/// A byte count: `512 B`, `1.5 KiB`, `2.0 MiB`.
fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// `part` as a whole percentage of `whole` (0 when `whole` is).
fn percent(part: Millis, whole: Millis) -> String {
    if whole.micros() == 0 {
        return "0%".into();
    }
    format!("{:.0}%", part.ms() * 100.0 / whole.ms())
}

/// A machine's time split three ways: waiting on the transport, the machine's own
/// commands (`None`: not measured), orbdeploy itself (the rest).
fn three_ways(t: &HostTimings, total: Millis) -> (Millis, Option<Millis>, Millis) {
    let own = t.machine_ms;
    let spent = t.transport_ms + own.unwrap_or_default();
    let rest = Millis::from_micros(total.micros().saturating_sub(spent.micros()));
    (t.transport_ms, own, rest)
}

/// What came before the steps, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Before {
    /// From the reporter's start to the first machine's first step (locks, machine
    /// actions).
    pub steps_ms: u64,
    /// Connecting to the ssh machines (masters, logins, sessions, facts), which comes
    /// before the reporter starts; `None` without ssh machines.
    pub connecting_ms: Option<u64>,
}

/// The block, or a line saying no machine ran its steps.
pub fn render(report: &Report, before: Before) -> String {
    let ran: Vec<(&str, Millis, &HostTimings)> = report
        .machines
        .iter()
        .filter_map(|m| {
            let t = m.result.timings.as_ref()?;
            let total = Millis::from_micros(m.result.duration_ms.saturating_mul(1000));
            Some((m.result.machine.as_str(), total, t))
        })
        .collect();
    let mut out = String::from("\nWhere the time went:\n");
    if let Some(ms) = before.connecting_ms {
        out.push_str(&format!(
            "  connecting to the ssh machines (masters, logins, sessions, facts): {}\n",
            span(Millis::from_micros(ms.saturating_mul(1000)))
        ));
    }
    let before = Millis::from_micros(before.steps_ms.saturating_mul(1000));
    if ran.is_empty() {
        out.push_str(&format!(
            "  no machine ran its steps; before the steps (locks, machine actions): {}\n",
            span(before)
        ));
        return out;
    }
    let mut sum = HostTimings::default();
    ran.iter().for_each(|(_, _, t)| sum.add(t));
    let total: Millis = ran.iter().map(|(_, d, _)| *d).sum();
    out.push_str(&phases_line(&sum, total, ran.len()));
    out.push_str(&waiting_line(&sum, total));
    out.push_str(&format!(
        "  before the steps (locks, machine actions): {}\n",
        span(before)
    ));
    out.push_str(&slowest_machines(&ran));
    out.push_str(&slowest_steps(report));
    out
}

/// The phases summed over every machine, with what is left (orbdeploy's bookkeeping).
fn phases_line(sum: &HostTimings, total: Millis, machines: usize) -> String {
    let counted = sum.render_ms
        + sum.probe_ms
        + sum.transfer_ms
        + sum.apply_ms
        + sum.handler_ms
        + sum.session_ms;
    let other = Millis::from_micros(total.micros().saturating_sub(counted.micros()));
    let of = match machines {
        1 => String::new(),
        n => format!(" (summed over {n} machines)"),
    };
    format!(
        "  phases{of}: render {}, probe {}, transfer {} ({}), apply {}, handlers {}, sessions {}, other {}\n",
        span(sum.render_ms),
        span(sum.probe_ms),
        span(sum.transfer_ms),
        bytes(sum.transfer_bytes),
        span(sum.apply_ms),
        span(sum.handler_ms),
        span(sum.session_ms),
        span(other),
    )
}

/// Waiting on the transport, on the machines' own commands, in orbdeploy.
fn waiting_line(sum: &HostTimings, total: Millis) -> String {
    let (wait, own, rest) = three_ways(sum, total);
    match own {
        Some(own) => format!(
            "  waiting: on the transport (orbctl, ssh) {} ({}), on the machines' own commands {} ({}), in orbdeploy {} ({})\n",
            span(wait),
            percent(wait, total),
            span(own),
            percent(own, total),
            span(rest),
            percent(rest, total),
        ),
        None => format!(
            "  waiting: on the transport (orbctl run, with the commands: --no-channel cannot tell them apart) {} ({}), in orbdeploy {} ({})\n",
            span(wait),
            percent(wait, total),
            span(rest),
            percent(rest, total),
        ),
    }
}

/// The slowest machines, each with its split and its request count.
fn slowest_machines(ran: &[(&str, Millis, &HostTimings)]) -> String {
    let mut list = ran.to_vec();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut out = String::from("  slowest machines:\n");
    for (name, total, t) in list.into_iter().take(MACHINES) {
        let (wait, own, _) = three_ways(t, total);
        let own = own.map_or(String::new(), |o| {
            format!(", machine {}", percent(o, total))
        });
        out.push_str(&format!(
            "    {:>8}  {name}  (transport {}{own}; {})\n",
            span(total),
            percent(wait, total),
            count(usize::try_from(t.requests).unwrap_or(usize::MAX), "request")
        ));
    }
    out
}

/// A step's time: the sum of its phases.
fn step_time(t: &StepTimings) -> Millis {
    t.phases().iter().map(|(_, m)| *m).sum()
}

/// The slowest steps (handlers too), each with the phases it spent time in.
fn slowest_steps(report: &Report) -> String {
    let mut all: Vec<(&StepResult, &StepTimings)> = report
        .machines
        .iter()
        .flat_map(|m| &m.steps)
        .filter_map(|s| Some((s, s.timings.as_ref()?)))
        .collect();
    if all.is_empty() {
        return String::new();
    }
    all.sort_by(|a, b| {
        step_time(b.1)
            .cmp(&step_time(a.1))
            .then(a.0.machine.cmp(&b.0.machine))
            .then(a.0.handler.cmp(&b.0.handler))
            .then(a.0.index.cmp(&b.0.index))
    });
    let mut out = String::from("  slowest steps:\n");
    for (s, t) in all.into_iter().take(STEPS) {
        let phases: Vec<String> = t
            .phases()
            .iter()
            .filter(|(_, m)| m.micros() > 0)
            .map(|(name, m)| format!("{name} {}", span(*m)))
            .collect();
        let handler = if s.handler { "handler " } else { "" };
        out.push_str(&format!(
            "    {:>8}  {}  {handler}{}  ({})\n",
            span(step_time(t)),
            s.machine,
            s.name,
            phases.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Counts, HostResult, HostStatus, ReportMachine, StepStatus, Summary};

    fn ms(n: u64) -> Millis {
        Millis::from_micros(n * 1000)
    }

    fn steps_ms(n: u64) -> Before {
        Before {
            steps_ms: n,
            connecting_ms: None,
        }
    }

    fn step(machine: &str, index: usize, name: &str, probe: u64, apply: u64) -> StepResult {
        StepResult {
            machine: machine.into(),
            index,
            name: name.into(),
            kind: crate::ops::Kind::Shell,
            handler: false,
            status: StepStatus::Ok,
            changes: Vec::new(),
            reason: None,
            diff: None,
            duration_ms: probe + apply,
            start_ms: 0,
            attempts: 0,
            failure: None,
            calls: Vec::new(),
            item: None,
            origin: None,
            timings: Some(StepTimings {
                render_ms: Millis::from_micros(100),
                probe_ms: ms(probe),
                apply_ms: ms(apply),
                transport_ms: ms(probe / 2),
                machine_ms: Some(ms(apply)),
                ..StepTimings::default()
            }),
        }
    }

    fn machine(name: &str, duration_ms: u64, steps: Vec<StepResult>) -> ReportMachine {
        let mut t = HostTimings::default();
        steps
            .iter()
            .filter_map(|s| s.timings.as_ref())
            .for_each(|s| t.add_step(s));
        t.session_ms = ms(10);
        t.transport_ms = ms(duration_ms / 2);
        t.machine_ms = Some(ms(duration_ms / 4));
        t.requests = steps.len() as u64;
        ReportMachine {
            result: HostResult {
                machine: name.into(),
                status: HostStatus::Ok,
                counts: Counts::default(),
                duration_ms,
                error: None,
                timings: Some(t),
                batch: None,
            },
            steps,
        }
    }

    fn report(machines: Vec<ReportMachine>) -> Report {
        Report {
            schema: "orbdeploy-report".into(),
            version: crate::report::REPORT_VERSION,
            orbdeploy_version: "0".into(),
            mode: crate::report::Mode::Apply,
            inventory: "inv.yaml".into(),
            inventory_path: None,
            inventory_sha256: None,
            started_unix: 0,
            machine_actions: Vec::new(),
            batches: Vec::new(),
            machines,
            summary: Summary {
                mode: crate::report::Mode::Apply,
                exit_code: 0,
                interrupted: false,
                counts: Counts::default(),
                machines: Default::default(),
                duration_ms: 0,
            },
        }
    }

    #[test]
    fn the_block_sums_phases_splits_the_time_and_lists_the_slowest() {
        let r = report(vec![
            machine(
                "web",
                400,
                vec![
                    step("web", 0, "config", 3, 0),
                    step("web", 1, "restart", 1, 200),
                ],
            ),
            machine("db", 800, vec![step("db", 0, "migrate", 2, 500)]),
        ]);
        let text = render(&r, steps_ms(42));
        let want = [
            "",
            "Where the time went:",
            "  phases (summed over 2 machines): render 0.3ms, probe 6.0ms, transfer 0.0ms (0 B), apply 700.0ms, handlers 0.0ms, sessions 20.0ms, other 473.7ms",
            "  waiting: on the transport (orbctl, ssh) 600.0ms (50%), on the machines' own commands 300.0ms (25%), in orbdeploy 300.0ms (25%)",
            "  before the steps (locks, machine actions): 42.0ms",
            "  slowest machines:",
            "     800.0ms  db  (transport 50%, machine 25%; 1 request)",
            "     400.0ms  web  (transport 50%, machine 25%; 2 requests)",
            "  slowest steps:",
            "     502.1ms  db  migrate  (render 0.1ms, probe 2.0ms, apply 500.0ms)",
            "     201.1ms  web  restart  (render 0.1ms, probe 1.0ms, apply 200.0ms)",
            "       3.1ms  web  config  (render 0.1ms, probe 3.0ms)",
            "",
        ];
        assert_eq!(text, want.join("\n"));
    }

    #[test]
    fn without_the_channel_the_machines_own_time_is_not_claimed() {
        let mut m = machine("web", 1000, vec![step("web", 0, "config", 3, 0)]);
        if let Some(t) = m.result.timings.as_mut() {
            t.machine_ms = None;
        }
        let text = render(&report(vec![m]), steps_ms(0));
        assert!(
            text.contains(
                "--no-channel cannot tell them apart) 500.0ms (50%), in orbdeploy 500.0ms (50%)"
            ),
            "{text}"
        );
        assert!(
            text.contains("1.00s  web  (transport 50%; 1 request)"),
            "{text}"
        );
    }

    #[test]
    fn a_run_where_no_machine_ran_says_so() {
        let mut m = machine("ghost", 0, Vec::new());
        m.result.timings = None;
        assert_eq!(
            render(&report(vec![m]), steps_ms(1500)),
            "\nWhere the time went:\n  no machine ran its steps; before the steps (locks, machine actions): 1.50s\n"
        );
    }

    #[test]
    fn connecting_to_ssh_machines_comes_first_and_only_when_there_were_some() {
        let before = Before {
            steps_ms: 2,
            connecting_ms: Some(161),
        };
        let m = machine("web", 100, vec![step("web", 0, "config", 3, 0)]);
        let text = render(&report(vec![m]), before);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "  connecting to the ssh machines (masters, logins, sessions, facts): 161.0ms",
            "{text}"
        );
        assert_eq!(
            lines[5], "  before the steps (locks, machine actions): 2.0ms",
            "{text}"
        );
        let mut ghost = machine("ghost", 0, Vec::new());
        ghost.result.timings = None;
        assert_eq!(
            render(&report(vec![ghost]), before),
            "\nWhere the time went:\n  connecting to the ssh machines (masters, logins, sessions, facts): 161.0ms\n  no machine ran its steps; before the steps (locks, machine actions): 2.0ms\n"
        );
        let text = render(&report(vec![]), steps_ms(2));
        assert!(!text.contains("connecting"), "{text}");
    }

    #[test]
    fn spans_and_bytes_read_as_people_write_them() {
        assert_eq!(span(Millis::from_micros(40)), "0.0ms");
        assert_eq!(span(Millis::from_micros(999_949)), "999.9ms");
        assert_eq!(span(Millis::from_micros(1_234_000)), "1.23s");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
