//! The words of a run's records, each defined once: how a step ended ([`StepStatus`]),
//! with everything a reporter needs to know of a status in one table ([`StepStatus::traits`]),
//! the counts of steps per status ([`Counts`]), what phase 1 did to a machine
//! ([`ActionKind`], [`ActionStatus`]), how a machine's run ended ([`HostStatus`], with
//! its own one-row table, [`HostStatus::traits`]) and whether a run changes anything
//! ([`Mode`]).
//!
//! A new status is one variant and one row of the table: the summary table's columns, the
//! closing line, the colours, the HTML badges, JUnit and `register:` read the row.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a step ended (or, in a plan, would end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Already as declared.
    Ok,
    /// Changed something.
    Changed,
    /// A command ran: what it changed, if anything, is not known.
    Ran,
    /// Failed.
    Failed,
    /// Failed, but `ignore_errors` let the machine go on.
    Ignored,
    /// Failed inside a `try:` group whose `rescue:` then ran (the group can still fail,
    /// if the rescue fails).
    Rescued,
    /// Not run: `when` false, `creates`/`unless`, an earlier failure, or an interruption.
    Skipped,
    /// Plan: would change.
    WillChange,
    /// Plan: a command that would run.
    WillRun,
    /// Plan: cannot be known (the machine is stopped or missing).
    Unknown,
}

/// What a JUnit report makes of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JunitAs {
    /// A passed test case (with the step's output).
    Passed,
    /// A failure (an error when its machine was unreachable).
    Failure,
    /// A skipped test case.
    Skipped,
    /// A passed test case whose output is the failure a `rescue:` handled.
    Rescued,
}

/// Where a status stands in the summary table of one mode: its column (from 0) and the
/// column's heading, and whether the closing line names its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Position among the table's count columns.
    pub at: usize,
    /// The column's heading.
    pub heading: &'static str,
    /// The closing line's rule for it.
    pub closing: Closing,
}

/// Whether the closing line (`done: 2 machines, 3 changed, 0 failed …`) names a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// Never.
    Never,
    /// Always, also when it is 0.
    Always,
    /// Only when it is not 0.
    NonZero,
}

/// Everything the reporters need to know of one status.
#[derive(Debug, Clone, Copy)]
pub struct Traits {
    /// The word people read.
    pub word: &'static str,
    /// Its ANSI colour code in the terminal.
    pub ansi: &'static str,
    /// The HTML report's class (bars, badges, rows).
    pub html_class: &'static str,
    /// The HTML report's icon: a status is never shown by colour alone.
    pub icon: &'static str,
    /// The HTML header lists it even at 0, in a plan / in an apply.
    pub html_usual: (bool, bool),
    /// Its column in the summary table of a plan / of an apply.
    pub column: (Option<Column>, Option<Column>),
    /// What JUnit makes of it.
    pub junit: JunitAs,
    /// It changes the machine or would (the machine's status is "changed").
    pub changes: bool,
    /// It notifies the step's handlers.
    pub notifies: bool,
    /// A plan with it has changes pending (`plan --exit-code`).
    pub pending: bool,
    /// `register:`'s `changed`, `failed` and `skipped`.
    pub registers: (bool, bool, bool),
}

use Closing::{Always, Never, NonZero};

/// What [`StepStatus::Ok`] means to the reporters.
const OK: Traits = Traits {
    word: "ok",
    ansi: "32",
    html_class: "ok",
    icon: "✓",
    html_usual: (true, true),
    column: (col(0, "NO CHANGE", Never), col(0, "OK", Never)),
    junit: JunitAs::Passed,
    changes: false,
    notifies: false,
    pending: false,
    registers: (false, false, false),
};

/// What [`StepStatus::Changed`] means to the reporters.
const CHANGED: Traits = Traits {
    word: "changed",
    ansi: "33",
    html_class: "ch",
    icon: "●",
    html_usual: (false, true),
    column: (None, col(1, "CHANGED", Always)),
    junit: JunitAs::Passed,
    changes: true,
    notifies: true,
    pending: false,
    registers: (true, false, false),
};

/// What [`StepStatus::Ran`] means to the reporters: a command ran, which may have changed
/// anything, so it notifies its handlers as a change would; but nothing says it changed
/// something, so its machine is not "changed" and a re-apply that only runs commands
/// reads `0 changed`.
const RAN: Traits = Traits {
    word: "ran",
    ansi: "36",
    html_class: "rn",
    icon: "▷",
    html_usual: (false, false),
    column: (None, col(2, "RAN", NonZero)),
    junit: JunitAs::Passed,
    changes: false,
    notifies: true,
    pending: false,
    registers: (true, false, false),
};

/// What [`StepStatus::Failed`] means to the reporters.
const FAILED: Traits = Traits {
    word: "FAILED",
    ansi: "1;31",
    html_class: "fa",
    icon: "✗",
    html_usual: (true, true),
    column: (col(4, "FAILED", NonZero), col(3, "FAILED", Always)),
    junit: JunitAs::Failure,
    changes: false,
    notifies: false,
    pending: false,
    registers: (false, true, false),
};

/// What [`StepStatus::Ignored`] means to the reporters.
const IGNORED: Traits = Traits {
    word: "failed (ignored)",
    ansi: "31",
    html_class: "ig",
    icon: "⚠",
    html_usual: (false, false),
    column: (None, col(5, "IGNORED", Never)),
    junit: JunitAs::Passed,
    changes: false,
    notifies: false,
    pending: false,
    registers: (false, true, false),
};

/// What [`StepStatus::Rescued`] means to the reporters: the failure stays in sight, but
/// it fails neither its machine nor the run.
const RESCUED: Traits = Traits {
    word: "failed (rescued)",
    ansi: "35",
    html_class: "rs",
    icon: "↺",
    html_usual: (false, false),
    column: (None, col(6, "RESCUED", NonZero)),
    junit: JunitAs::Rescued,
    changes: false,
    notifies: false,
    pending: false,
    registers: (false, true, false),
};

/// What [`StepStatus::Skipped`] means to the reporters.
const SKIPPED: Traits = Traits {
    word: "skipped",
    ansi: "2",
    html_class: "sk",
    icon: "↷",
    html_usual: (false, true),
    column: (None, col(4, "SKIPPED", Never)),
    junit: JunitAs::Skipped,
    changes: false,
    notifies: false,
    pending: false,
    registers: (false, false, true),
};

/// What [`StepStatus::WillChange`] means to the reporters.
const WILL_CHANGE: Traits = Traits {
    word: "will change",
    ansi: "33",
    html_class: "wc",
    icon: "◐",
    html_usual: (true, false),
    column: (col(1, "WILL CHANGE", Always), None),
    junit: JunitAs::Passed,
    changes: true,
    notifies: true,
    pending: true,
    registers: (false, false, true),
};

/// What [`StepStatus::WillRun`] means to the reporters.
const WILL_RUN: Traits = Traits {
    word: "will run",
    ansi: "33",
    html_class: "wr",
    icon: "▶",
    html_usual: (true, false),
    column: (col(2, "WILL RUN", Always), None),
    junit: JunitAs::Passed,
    changes: true,
    notifies: true,
    pending: false,
    registers: (false, false, true),
};

/// What [`StepStatus::Unknown`] means to the reporters.
const UNKNOWN: Traits = Traits {
    word: "unknown",
    ansi: "2",
    html_class: "un",
    icon: "?",
    html_usual: (true, false),
    column: (col(3, "UNKNOWN", NonZero), None),
    junit: JunitAs::Skipped,
    changes: false,
    notifies: false,
    pending: true,
    registers: (false, false, true),
};

const fn col(at: usize, heading: &'static str, closing: Closing) -> Option<Column> {
    Some(Column {
        at,
        heading,
        closing,
    })
}

impl StepStatus {
    /// Every status, in the order the JSON counts list them.
    pub const ALL: [StepStatus; 10] = [
        StepStatus::Ok,
        StepStatus::Changed,
        StepStatus::Ran,
        StepStatus::Failed,
        StepStatus::Ignored,
        StepStatus::Rescued,
        StepStatus::Skipped,
        StepStatus::WillChange,
        StepStatus::WillRun,
        StepStatus::Unknown,
    ];

    /// Every status, in the order the HTML report lists them.
    pub const SHOWN: [StepStatus; 10] = [
        StepStatus::Ok,
        StepStatus::Changed,
        StepStatus::Ran,
        StepStatus::WillChange,
        StepStatus::WillRun,
        StepStatus::Unknown,
        StepStatus::Failed,
        StepStatus::Rescued,
        StepStatus::Ignored,
        StepStatus::Skipped,
    ];

    /// The one table of what each status means to the reporters (a row per status, below).
    pub const fn traits(self) -> Traits {
        match self {
            StepStatus::Ok => OK,
            StepStatus::Changed => CHANGED,
            StepStatus::Ran => RAN,
            StepStatus::Failed => FAILED,
            StepStatus::Ignored => IGNORED,
            StepStatus::Rescued => RESCUED,
            StepStatus::Skipped => SKIPPED,
            StepStatus::WillChange => WILL_CHANGE,
            StepStatus::WillRun => WILL_RUN,
            StepStatus::Unknown => UNKNOWN,
        }
    }

    /// The word shown to people.
    pub fn word(self) -> &'static str {
        self.traits().word
    }

    /// The key of its count in JSON (the same as its serde name).
    pub fn key(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Changed => "changed",
            StepStatus::Ran => "ran",
            StepStatus::Failed => "failed",
            StepStatus::Ignored => "ignored",
            StepStatus::Rescued => "rescued",
            StepStatus::Skipped => "skipped",
            StepStatus::WillChange => "will_change",
            StepStatus::WillRun => "will_run",
            StepStatus::Unknown => "unknown",
        }
    }

    /// It changes the machine, or a plan says it would.
    pub fn changes(self) -> bool {
        self.traits().changes
    }

    /// Its column in the summary table of a plan (`plan`) or of an apply.
    pub fn column(self, plan: bool) -> Option<Column> {
        let (p, a) = self.traits().column;
        if plan {
            p
        } else {
            a
        }
    }

    /// The statuses of a mode's summary table, in column order.
    pub fn columns(plan: bool) -> Vec<(StepStatus, Column)> {
        let mut cols: Vec<(StepStatus, Column)> = StepStatus::ALL
            .into_iter()
            .filter_map(|s| s.column(plan).map(|c| (s, c)))
            .collect();
        cols.sort_by_key(|(_, c)| c.at);
        cols
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many steps ended with each status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts([u32; StepStatus::ALL.len()]);

impl Counts {
    /// Count one step.
    pub fn add(&mut self, s: StepStatus) {
        self.0[s.index()] += 1;
    }

    /// How many steps ended with `s`.
    pub fn get(&self, s: StepStatus) -> u32 {
        self.0[s.index()]
    }

    /// How many steps ended with any status for which `pick` holds.
    pub fn sum(&self, pick: impl Fn(Traits) -> bool) -> u32 {
        StepStatus::ALL
            .into_iter()
            .filter(|s| pick(s.traits()))
            .map(|s| self.get(s))
            .sum()
    }

    /// Add another machine's counts.
    pub fn merge(&mut self, o: &Counts) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b;
        }
    }
}

/// Every status is a key, in [`StepStatus::ALL`]'s order, also at 0.
impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(Some(StepStatus::ALL.len()))?;
        for s in StepStatus::ALL {
            map.serialize_entry(s.key(), &self.get(s))?;
        }
        map.end()
    }
}

/// A missing key is 0 (a report of an older version); an unknown one is an error.
impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Counts, D::Error> {
        let map = BTreeMap::<StepStatus, u32>::deserialize(de)?;
        let mut c = Counts::default();
        for (s, n) in map {
            c.0[s.index()] = n;
        }
        Ok(c)
    }
}

/// How a machine's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// Every step ok.
    Ok,
    /// Something changed (or would change).
    Changed,
    /// A step failed.
    Failed,
    /// The machine could not be reached or made to exist.
    Unreachable,
    /// Interrupted before it finished.
    Interrupted,
    /// Its rolling batch never began: an earlier batch failed (`max_fail_percentage`).
    NotStarted,
}

/// Everything the reporters need to know of one machine status.
#[derive(Debug, Clone, Copy)]
pub struct HostTraits {
    /// The word people read (the summary table, the machine's line).
    pub word: &'static str,
    /// The key in JSON: its serde name, and its key in the summary's `machines`.
    pub key: &'static str,
    /// The HTML report's class and icon (never colour alone).
    pub html: (&'static str, &'static str),
    /// It makes the run fail (exit 1 unless something decides otherwise, the closing
    /// line's FAILED).
    pub fails: bool,
    /// Its steps never reached it: it is shown as one line with its reason, which the
    /// closing line counts (`3 machines (1 not started)`), and JUnit gives it a case of
    /// its own, named so and counted as this.
    pub never_ran: Option<(&'static str, JunitAs)>,
}

const fn host(
    word: &'static str,
    key: &'static str,
    html: (&'static str, &'static str),
    fails: bool,
    never_ran: Option<(&'static str, JunitAs)>,
) -> HostTraits {
    HostTraits {
        word,
        key,
        html,
        fails,
        never_ran,
    }
}

impl HostStatus {
    /// Every machine status, in the order the JSON summary lists them.
    pub const ALL: [HostStatus; 6] = [
        HostStatus::Ok,
        HostStatus::Changed,
        HostStatus::Failed,
        HostStatus::Unreachable,
        HostStatus::Interrupted,
        HostStatus::NotStarted,
    ];

    /// The one table of what each machine status means to the reporters, a row each.
    pub const fn traits(self) -> HostTraits {
        match self {
            HostStatus::Ok => host("ok", "ok", ("ok", "✓"), false, None),
            HostStatus::Changed => host("changed", "changed", ("ch", "●"), false, None),
            HostStatus::Failed => host("failed", "failed", ("fa", "✗"), true, None),
            HostStatus::Unreachable => host(
                "unreachable",
                "unreachable",
                ("fa", "⊘"),
                true,
                Some(("is reachable", JunitAs::Failure)),
            ),
            HostStatus::Interrupted => host("interrupted", "interrupted", ("sk", "■"), false, None),
            HostStatus::NotStarted => host(
                "not started",
                "not_started",
                ("ns", "○"),
                true,
                Some(("was started", JunitAs::Skipped)),
            ),
        }
    }

    /// The word people read.
    pub fn word(self) -> &'static str {
        self.traits().word
    }

    /// The key in JSON (the same as its serde name).
    pub fn key(self) -> &'static str {
        self.traits().key
    }
}

/// Whether a run changes machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `orbdeploy apply`.
    Apply,
    /// `orbdeploy plan`: reads only.
    Plan,
}

impl Mode {
    /// The word in output and JSON.
    pub fn word(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::Plan => "plan",
        }
    }

    /// A plan.
    pub fn is_plan(self) -> bool {
        self == Mode::Plan
    }
}

/// What phase 1 does to a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Nothing: it is as declared.
    Keep,
    /// Its settings change (`config set`), perhaps with a restart.
    Settings,
    /// Created.
    Create,
    /// Started.
    Start,
    /// Stopped.
    Stop,
    /// Deleted.
    Delete,
    /// Missing, and `create` is off.
    Missing,
    /// Differs in a way orbdeploy does not change.
    Drift,
}

impl ActionKind {
    /// The word in JSON and in a failure (`machine create FAILED`).
    pub fn word(self) -> &'static str {
        match self {
            ActionKind::Keep => "keep",
            ActionKind::Settings => "settings",
            ActionKind::Create => "create",
            ActionKind::Start => "start",
            ActionKind::Stop => "stop",
            ActionKind::Delete => "delete",
            ActionKind::Missing => "missing",
            ActionKind::Drift => "drift",
        }
    }

    /// What was done, as a participle (`created`); a word that has none is itself.
    pub fn done(self) -> &'static str {
        match self {
            ActionKind::Create => "created",
            ActionKind::Start => "started",
            ActionKind::Stop => "stopped",
            ActionKind::Delete => "deleted",
            other => other.word(),
        }
    }

    /// The machine cannot be used as declared, and no call was made (missing, drift).
    pub fn is_condition(self) -> bool {
        matches!(self, ActionKind::Missing | ActionKind::Drift)
    }
}

/// How a machine action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Nothing to do.
    Ok,
    /// Done.
    Done,
    /// Failed (or cannot be done: missing, drift).
    Failed,
    /// Plan: would be done.
    Planned,
}

impl ActionStatus {
    /// The word in JSON.
    pub fn word(self) -> &'static str {
        match self {
            ActionStatus::Ok => "ok",
            ActionStatus::Done => "done",
            ActionStatus::Failed => "failed",
            ActionStatus::Planned => "planned",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_in_every_list_once() {
        for s in StepStatus::ALL {
            assert_eq!(StepStatus::ALL.iter().filter(|x| **x == s).count(), 1);
            assert_eq!(StepStatus::SHOWN.iter().filter(|x| **x == s).count(), 1);
            // The JSON key is the serde name.
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::from(s.key()))
            );
            assert_eq!(
                s.index(),
                StepStatus::ALL.iter().position(|x| *x == s).unwrap_or(99)
            );
        }
    }

    #[test]
    fn each_mode_has_its_columns_in_order_without_gaps() {
        for plan in [true, false] {
            let cols = StepStatus::columns(plan);
            let at: Vec<usize> = cols.iter().map(|(_, c)| c.at).collect();
            assert_eq!(at, (0..cols.len()).collect::<Vec<_>>(), "plan={plan}");
        }
    }

    #[test]
    fn counts_serialize_every_status_and_read_back() {
        let mut c = Counts::default();
        c.add(StepStatus::Changed);
        c.add(StepStatus::Changed);
        c.add(StepStatus::Unknown);
        let text = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"ok":0,"changed":2,"ran":0,"failed":0,"ignored":0,"rescued":0,"skipped":0,"will_change":0,"will_run":0,"unknown":1}"#
        );
        let back: Counts = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, c);
        let partial: Counts = serde_json::from_str(r#"{"failed":3}"#).unwrap_or_default();
        assert_eq!(partial.get(StepStatus::Failed), 3);
        assert!(serde_json::from_str::<Counts>(r#"{"nope":1}"#).is_err());
        assert_eq!(c.sum(|t| t.changes || t.pending), 3);
    }

    #[test]
    fn machine_status_keys_are_serde_names() {
        for s in HostStatus::ALL {
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::from(s.key()))
            );
        }
        assert_eq!(HostStatus::NotStarted.word(), "not started");
    }

    #[test]
    fn action_words() {
        assert_eq!(ActionKind::Create.done(), "created");
        assert_eq!(ActionKind::Settings.done(), "settings");
        assert_eq!(
            serde_json::to_value(ActionKind::Drift).ok(),
            Some(serde_json::Value::from("drift"))
        );
        assert_eq!(
            serde_json::to_value(Mode::Plan).ok(),
            Some(serde_json::Value::from("plan"))
        );
    }
}
