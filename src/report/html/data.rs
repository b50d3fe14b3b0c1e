//! The data block the page's script reads: every step's detail, written once. Keys are
//! one or two letters because at 100 machines × 200 steps they repeat 20,000 times;
//! `report.js` names what each one is. Structs rather than JSON maps, so that the keys
//! come out in one order whatever features serde_json was built with.

use std::collections::BTreeMap;

use serde::Serialize;

use super::escape::clean;
use super::{look, timeline, Clock};
use crate::report::{Report, StepResult};

/// The whole block.
#[derive(Serialize)]
pub(super) struct Data {
    /// Version of this layout.
    v: u32,
    mode: String,
    /// A status class → its icon and word.
    w: BTreeMap<&'static str, [&'static str; 2]>,
    /// The machines, in the order of the timeline's rows.
    m: Vec<Machine>,
}

#[derive(Serialize)]
struct Machine {
    n: String,
    /// Phase 1, when the timeline draws a bar for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<Phase1>,
    s: Vec<Step>,
}

#[derive(Serialize)]
struct Phase1 {
    /// Action and status.
    a: String,
    s: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    /// When phase 1 ended (ms).
    d: u64,
}

/// One step: index, name, kind, status class, start and duration (ms), and only when
/// there is something to say: handler, changes, reason, diff, attempts, failure, calls.
#[derive(Serialize)]
struct Step {
    i: usize,
    n: String,
    k: String,
    s: &'static str,
    t: u64,
    d: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    c: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<Failure>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    o: Vec<String>,
}

/// Message, command, exit code, stdout and stderr tails.
#[derive(Serialize)]
struct Failure {
    m: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    o: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<String>,
}

/// A text of the run, cleaned, or nothing when it is empty.
fn text(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| clean(s))
}

/// The block for a report.
pub(super) fn value(report: &Report, clock: &Clock) -> Data {
    let w = crate::report::StepStatus::SHOWN
        .iter()
        .map(|s| {
            let (class, icon) = look(*s);
            (class, [icon, s.word()])
        })
        .collect();
    let m = report
        .machines
        .iter()
        .map(|m| Machine {
            n: clean(&m.result.machine),
            p: timeline::phase1(report, clock, &m.result.machine).map(|(a, end)| Phase1 {
                a: a.action.word().into(),
                s: a.status.word().into(),
                m: a.message.as_deref().map(clean),
                d: end,
            }),
            s: m.steps.iter().map(step).collect(),
        })
        .collect();
    Data {
        v: 1,
        mode: report.mode.word().into(),
        w,
        m,
    }
}

fn step(s: &StepResult) -> Step {
    Step {
        i: s.index,
        n: clean(&s.name),
        k: clean(s.kind.as_str()),
        s: look(s.status).0,
        t: s.start_ms,
        d: s.duration_ms,
        h: s.handler.then_some(1),
        c: s.changes.iter().map(|c| clean(c)).collect(),
        r: s.reason.as_deref().map(clean),
        x: s.diff.as_deref().map(clean),
        a: (s.attempts > 1).then_some(s.attempts),
        f: s.failure.as_ref().map(|f| Failure {
            m: clean(&f.message),
            c: f.command.as_deref().map(clean),
            e: f.exit_code,
            o: text(&f.stdout_tail),
            r: text(&f.stderr_tail),
        }),
        o: s.calls.iter().map(|c| clean(c)).collect(),
    }
}
