//! `apply --rerun-failed REPORT.json`: narrow a plan to the machines that failed or were
//! unreachable in an earlier run's `--report` document, and (with `--from-failed-step`)
//! say where each one resumes.
//!
//! The report is read before the inventory, so a bad one is exit 2 before anything else.
//! It must be of the same inventory: the same file (its absolute path), or a file with the
//! same bytes (its SHA-256: the same inventory checked out elsewhere, as in another CI job).
//! A report written before version 3 does not say, and is refused.
//!
//! Where a machine resumes ([`Resume`]):
//! - By default it starts from its first step: every step checks before it changes, so
//!   what the failed run finished is `ok` now.
//! - With `--from-failed-step` the steps before the first failed one are skipped (reported
//!   as skipped, with the reason) — except those that `register:` a value, which run again
//!   since later steps may read what they register and the report does not keep it. A
//!   failed item of a loop resumes at the loop's first item; a step inside an include's
//!   loop resumes at the first step of that loop, whose items are all run again. A failed
//!   handler resumes after the last step. An unreachable machine starts from the beginning.
//! - In both cases the handlers that steps which changed something in the failed run had
//!   notified, and that did not run then (a failure stops its machine before its
//!   handlers), are run at the machine's end as if notified again.
//!
//! Report rows are matched to steps by their position and checked by name and kind; when
//! the operations moved a step, `--from-failed-step` is refused (exit 2) and the default
//! only warns that the owed handlers cannot be told.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::Plan;
use crate::error::ConfigError;
use crate::inventory::Inventory;
use crate::report::{
    inventory_identity, HostStatus, Report, ReportMachine, StepResult, StepStatus, REPORT_VERSION,
};
use crate::steps::{Playbook, Step};

/// What `--rerun-failed` and `--from-failed-step` ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The `--report` document of the run to take the failed machines from.
    pub report: PathBuf,
    /// Start each machine at its failed step rather than at its first.
    pub from_failed_step: bool,
}

/// Where one machine's steps resume, kept on its [`super::MachinePlan`]; the default
/// runs everything, as a plain apply does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// Steps at positions before this one are skipped, unless they register a value.
    pub from: usize,
    /// Handlers (positions among the handlers) to run at the machine's end even when no
    /// step notifies them again.
    pub owed: BTreeSet<usize>,
}

/// Why a step a resumed machine skips was not run, as the reports say it.
pub const SKIPPED: &str = "before the failed step (--from-failed-step)";

impl Resume {
    /// Whether `step` (not a handler) is skipped.
    pub fn skips(&self, step: &Step) -> bool {
        step.index < self.from && step.spec.register.is_none()
    }
}

/// The failed machines of a report, checked against the inventory it must be of.
#[derive(Debug)]
pub struct Rerun {
    report: PathBuf,
    from_failed_step: bool,
    machines: Vec<ReportMachine>,
}

/// Read `request.report` and check it is a report of `inventory`: exit 2 (a
/// [`ConfigError`] naming the file) when it cannot be read, is not a report of version 3
/// or later, is a plan's, or is of another inventory.
pub fn read(request: &Request, inventory: &Path) -> Result<Rerun, ConfigError> {
    let path = &request.report;
    let bad = |m: String| ConfigError::in_file(path, format!("--rerun-failed: {m}"));
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the report: {e}")))?;
    let value: Json = serde_json::from_str(&text).map_err(|e| {
        ConfigError::at(
            path,
            e.line() as u64,
            e.column() as u64,
            format!("--rerun-failed: not a JSON document: {e}"),
        )
    })?;
    check_header(&value).map_err(bad)?;
    let doc: Report = serde_json::from_value(value).map_err(|e| {
        bad(format!(
            "not a report as docs/report-schema.json describes it: {e}"
        ))
    })?;
    if doc.mode.is_plan() {
        return Err(bad(format!(
            "this is the report of a {}, which changes nothing: --rerun-failed takes the report of an apply",
            doc.mode.word()
        )));
    }
    same_inventory(&doc, inventory).map_err(bad)?;
    let machines = doc
        .machines
        .into_iter()
        .filter(|m| {
            // A machine a failed rolling batch kept from starting has everything to do.
            matches!(
                m.result.status,
                HostStatus::Failed | HostStatus::Unreachable | HostStatus::NotStarted
            )
        })
        .collect();
    Ok(Rerun {
        report: path.clone(),
        from_failed_step: request.from_failed_step,
        machines,
    })
}

/// `schema` and `version`, checked before the rest so that an older or foreign document
/// is named as such rather than by its first missing field.
fn check_header(value: &Json) -> Result<(), String> {
    let schema = value.get("schema").and_then(Json::as_str);
    if schema != Some("orbdeploy-report") {
        return Err("not an orbdeploy report (its `schema` is not `orbdeploy-report`)".into());
    }
    let version = value.get("version").and_then(Json::as_u64).unwrap_or(0);
    if version < 3 {
        return Err(format!(
            "report version {version} does not say which inventory it is of (version 3 does): write it again with `orbdeploy apply --report`"
        ));
    }
    if version > u64::from(REPORT_VERSION) {
        return Err(format!(
            "report version {version} was written by a newer orbdeploy (this one reads up to version {REPORT_VERSION})"
        ));
    }
    Ok(())
}

/// The report is of `inventory` when it names the same file, or a file with the same
/// bytes.
fn same_inventory(doc: &Report, inventory: &Path) -> Result<(), String> {
    let Some((path, sum)) = inventory_identity(inventory) else {
        // The inventory's own error (exit 2, naming it) comes when it is loaded.
        return Ok(());
    };
    let same_path = doc.inventory_path.as_deref() == Some(path.as_str());
    let same_bytes = doc.inventory_sha256.as_deref() == Some(sum.as_str());
    if same_path || same_bytes {
        return Ok(());
    }
    let theirs = doc.inventory_path.as_deref().unwrap_or(&doc.inventory);
    Err(format!(
        "the report is of another inventory: {theirs} (sha256 {}), not {path} (sha256 {}); pass the inventory the report was written for",
        short(doc.inventory_sha256.as_deref().unwrap_or("unknown")),
        short(&sum)
    ))
}

/// The first 12 hex digits of a hash, as messages show it.
fn short(sum: &str) -> &str {
    sum.get(..12).unwrap_or(sum)
}

impl Rerun {
    /// Keep only the machines of `plan` that failed in the report (and that `--limit`
    /// selected), each with where it resumes, and say on stderr what is re-run. A failed
    /// machine the inventory no longer has is exit 2.
    pub fn narrow<'a>(
        &self,
        plan: &mut Plan<'a>,
        inv: &Inventory,
        book: &'a Playbook,
    ) -> Result<(), ConfigError> {
        let report = self.report.display();
        if let Some(gone) = self
            .machines
            .iter()
            .find(|f| !inv.hosts.iter().any(|h| h.name == f.result.machine))
        {
            return Err(ConfigError::in_file(
                &self.report,
                format!(
                    "--rerun-failed: machine `{}` {} in the report but is not in the inventory any more",
                    gone.result.machine,
                    match gone.result.status {
                        HostStatus::Failed => "failed",
                        HostStatus::NotStarted => "was not started",
                        _ => "was unreachable",
                    }
                ),
            ));
        }
        plan.machines
            .retain(|m| self.machines.iter().any(|f| f.result.machine == m.name));
        for m in &mut plan.machines {
            let Some(failed) = self.machines.iter().find(|f| f.result.machine == m.name) else {
                continue;
            };
            m.resume = self.resume(failed, book)?;
            for i in &m.resume.owed {
                if !m.handlers.iter().any(|h| h.index == *i) {
                    if let Some(h) = book.handlers.get(*i) {
                        m.handlers.push(h);
                    }
                }
            }
            m.handlers.sort_by_key(|h| h.index);
        }
        let names = plan.names();
        if self.machines.is_empty() {
            eprintln!(
                "orbdeploy: {report}: no machine failed or was unreachable: nothing to re-run"
            );
        } else if names.is_empty() {
            eprintln!(
                "orbdeploy: --limit selects none of the {} machines that failed in {report}: nothing to re-run",
                self.machines.len()
            );
        } else {
            eprintln!(
                "orbdeploy: re-running what failed in {report}: {}",
                names.join(", ")
            );
        }
        Ok(())
    }

    /// Where `failed` resumes (see the module's documentation).
    fn resume(&self, failed: &ReportMachine, book: &Playbook) -> Result<Resume, ConfigError> {
        let mut owed = BTreeSet::new();
        let mut handlers_ran = BTreeSet::new();
        for row in &failed.steps {
            if row.handler {
                if matches!(row.status, StepStatus::Ok | StepStatus::Changed) {
                    handlers_ran.insert(row.index);
                }
                continue;
            }
            if row.status != StepStatus::Changed {
                continue;
            }
            match step_of(book, row) {
                Ok(step) => owed.extend(step.notifies.iter().copied()),
                Err(moved) if self.from_failed_step => return Err(self.moved(failed, &moved)),
                Err(moved) => {
                    eprintln!(
                        "orbdeploy: warning: {}: machine `{}`: {moved}; handlers its changes notified run only if notified again",
                        self.report.display(),
                        failed.result.machine
                    );
                    owed.clear();
                    break;
                }
            }
        }
        owed.retain(|h| !handlers_ran.contains(h));
        let from = match failed.steps.iter().find(|r| r.status == StepStatus::Failed) {
            Some(row) if self.from_failed_step && failed.result.status == HostStatus::Failed => {
                if row.handler {
                    step_of(book, row).map_err(|m| self.moved(failed, &m))?;
                    book.steps.len()
                } else {
                    let step = step_of(book, row).map_err(|m| self.moved(failed, &m))?;
                    loop_start(book, step)
                }
            }
            _ => 0,
        };
        Ok(Resume { from, owed })
    }

    /// The error for a report row the operations no longer have where it was.
    fn moved(&self, failed: &ReportMachine, what: &str) -> ConfigError {
        ConfigError::in_file(
            &self.report,
            format!(
                "--from-failed-step: machine `{}`: {what}: the operations changed since the report; re-run without --from-failed-step (every step checks first)",
                failed.result.machine
            ),
        )
    }
}

/// The step (or handler) a report row is of, when the operations still have it there:
/// the same position, kind and name (an item's row is named `NAME [label]`).
fn step_of<'b>(book: &'b Playbook, row: &StepResult) -> Result<&'b Step, String> {
    let (list, what) = if row.handler {
        (&book.handlers, "handler")
    } else {
        (&book.steps, "step")
    };
    let n = row.index + 1;
    let Some(step) = list.get(row.index) else {
        return Err(format!(
            "{what} {n} (`{}`) of the report is not in the operations any more",
            row.name
        ));
    };
    let named = row.name == step.name || row.name.starts_with(&format!("{} [", step.name));
    if named && step.kind() == row.kind {
        Ok(step)
    } else {
        Err(format!(
            "{what} {n} was `{}` ({}) in the report and is `{}` ({}) now",
            row.name,
            row.kind.as_str(),
            step.name,
            step.kind().as_str()
        ))
    }
}

/// Where a failed step resumes: at itself (every item of its own loop runs), inside an
/// include's loop at that loop's first step, and inside a `try:` group at the first step
/// of the outermost group around it (a group runs whole: its `rescue:` runs only after a
/// failure in its `try:` of the same run).
fn loop_start(book: &Playbook, step: &Step) -> usize {
    let first = |same: &dyn Fn(&Step) -> bool| {
        book.steps
            .iter()
            .filter(|s| same(s))
            .map(|s| s.index)
            .min()
            .unwrap_or(step.index)
    };
    let mut from = step.index;
    if let Some((group, _)) = &step.scope.outer_loop {
        from = from.min(first(&|s| {
            s.scope.outer_loop.as_ref().map(|(g, _)| g) == Some(group)
        }));
    }
    if let Some(outer) = step.scope.groups.first() {
        from = from.min(first(&|s| {
            s.scope.groups.first().map(|l| l.id) == Some(outer.id)
        }));
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Kind;
    use crate::report::Mode;

    fn header(v: &str) -> Result<(), String> {
        check_header(&serde_json::from_str(v).unwrap())
    }

    #[test]
    fn only_reports_of_version_3_or_later_are_read() {
        assert!(header(r#"{"schema":"orbdeploy-report","version":3}"#).is_ok());
        let old = header(r#"{"schema":"orbdeploy-report","version":2}"#).unwrap_err();
        assert!(old.contains("does not say which inventory"), "{old}");
        let newer = header(r#"{"schema":"orbdeploy-report","version":99}"#).unwrap_err();
        assert!(newer.contains("newer orbdeploy"), "{newer}");
        let other = header(r#"{"schema":"junit","version":3}"#).unwrap_err();
        assert!(other.contains("not an orbdeploy report"), "{other}");
    }

    /// Operations loaded from text as `apply` loads them.
    fn book(ops: &str, inc: &str) -> (tempfile::TempDir, Playbook) {
        let (dir, _, book) = loaded(ops, inc);
        (dir, book)
    }

    fn loaded(ops: &str, inc: &str) -> (tempfile::TempDir, Inventory, Playbook) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ops.yaml"), ops).unwrap();
        std::fs::write(dir.path().join("inc.yaml"), inc).unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(
            &path,
            "machines: { m1: {}, m2: {} }\noperations: ops.yaml\n",
        )
        .unwrap();
        let inv = crate::inventory::load(&path, &[]).unwrap();
        let book = crate::steps::load(&inv, &crate::template::Renderer::new()).unwrap();
        (dir, inv, book)
    }

    #[test]
    fn the_plan_keeps_the_failed_machines_with_their_owed_handlers() {
        let (_dir, inv, book) = loaded(OPS, INC);
        let mut r = rerun(false);
        let mut m2 = failed(
            HostStatus::Failed,
            vec![row(0, "conf", Kind::Put, false, StepStatus::Changed)],
        );
        m2.result.machine = "m2".into();
        r.machines.push(m2);
        let mut plan = crate::plan::select(&inv, &book, (&[], None), &[]).unwrap();
        r.narrow(&mut plan, &inv, &book).unwrap();
        assert_eq!(plan.names(), ["m2"]);
        let handlers: Vec<&str> = plan.machines[0]
            .handlers
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(handlers, ["reload"]);
        // --limit selecting none of them: an empty plan, not an error.
        let mut limited = crate::plan::select(&inv, &book, (&["m1".into()], None), &[]).unwrap();
        r.narrow(&mut limited, &inv, &book).unwrap();
        assert!(limited.names().is_empty());
        // A failed machine the inventory no longer has is exit 2.
        r.machines[0].result.machine = "gone".into();
        let mut plan = crate::plan::select(&inv, &book, (&[], None), &[]).unwrap();
        let err = r.narrow(&mut plan, &inv, &book).unwrap_err().to_string();
        assert_eq!(err, "r.json: --rerun-failed: machine `gone` failed in the report but is not in the inventory any more");
    }

    const OPS: &str = "\
steps:
  - { name: conf, put: { content: x, dest: /etc/x }, notify: reload }
  - { name: greet, shell: 'echo hi', register: hi }
  - { name: users, shell: 'true', loop: [a, b, c] }
  - { include: inc.yaml, loop: [p, q] }
  - { name: last, shell: 'true' }
handlers:
  - { name: restart, shell: 'true' }
  - { name: reload, shell: 'true' }
";
    const INC: &str = "- { name: one, shell: 'true' }\n- { name: two, shell: 'true' }\n";

    fn row(index: usize, name: &str, kind: Kind, handler: bool, status: StepStatus) -> StepResult {
        let mut r = StepResult::new("m", index, name, kind, status);
        r.handler = handler;
        r
    }

    fn rerun(from_failed_step: bool) -> Rerun {
        Rerun {
            report: "r.json".into(),
            from_failed_step,
            machines: Vec::new(),
        }
    }

    fn failed(status: HostStatus, steps: Vec<StepResult>) -> ReportMachine {
        ReportMachine {
            result: crate::report::HostResult {
                machine: "m".into(),
                status,
                counts: Default::default(),
                duration_ms: 0,
                error: None,
                timings: None,
                batch: None,
            },
            steps,
        }
    }

    #[test]
    fn a_machine_resumes_at_its_failed_step_with_the_handlers_it_owes() {
        let (_dir, book) = book(OPS, INC);
        let names: Vec<&str> = book.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["conf", "greet", "users", "one", "two", "last"]);
        let conf = || row(0, "conf", Kind::Put, false, StepStatus::Changed);
        // A failed item of a loop: from the loop's first item.
        let item = failed(
            HostStatus::Failed,
            vec![
                conf(),
                row(2, "users [b]", Kind::Shell, false, StepStatus::Failed),
            ],
        );
        let r = rerun(true).resume(&item, &book).unwrap();
        assert_eq!(
            r,
            Resume {
                from: 2,
                owed: BTreeSet::from([1])
            }
        );
        assert!(r.skips(&book.steps[0]));
        assert!(!r.skips(&book.steps[1]), "a registering step runs again");
        assert!(!r.skips(&book.steps[2]));
        // The default: from the first step, the handler still owed.
        assert_eq!(rerun(false).resume(&item, &book).unwrap().from, 0);
        // The second step of an include's loop: from the loop's first step.
        let inc = failed(
            HostStatus::Failed,
            vec![row(4, "two [p]", Kind::Shell, false, StepStatus::Failed)],
        );
        assert_eq!(rerun(true).resume(&inc, &book).unwrap().from, 3);
        // A failed handler: after the last step; a handler that ran is not owed again.
        let handler = failed(
            HostStatus::Failed,
            vec![
                conf(),
                row(0, "restart", Kind::Shell, true, StepStatus::Changed),
                row(1, "reload", Kind::Shell, true, StepStatus::Failed),
            ],
        );
        let r = rerun(true).resume(&handler, &book).unwrap();
        assert_eq!(
            r,
            Resume {
                from: 6,
                owed: BTreeSet::from([1])
            }
        );
        // Inside a try group: from the first step of the outermost group.
        let ops = "\
- { name: before, shell: 'true' }
- name: g
  try:
    - { name: t, shell: 'true' }
    - { name: inner, try: [{ name: u, shell: 'true' }] }
  rescue: [{ name: r, shell: 'false' }]
";
        let (_gdir, grouped) = self::book(ops, INC);
        let rescue = failed(
            HostStatus::Failed,
            vec![row(
                3,
                "g / rescue / r",
                Kind::Shell,
                false,
                StepStatus::Failed,
            )],
        );
        assert_eq!(rerun(true).resume(&rescue, &grouped).unwrap().from, 1);
        let inner = failed(
            HostStatus::Failed,
            vec![row(
                2,
                "g / try / inner / try / u",
                Kind::Shell,
                false,
                StepStatus::Failed,
            )],
        );
        assert_eq!(rerun(true).resume(&inner, &grouped).unwrap().from, 1);
        // Unreachable: from the first step.
        let gone = failed(
            HostStatus::Unreachable,
            vec![row(0, "conf", Kind::Put, false, StepStatus::Failed)],
        );
        assert_eq!(rerun(true).resume(&gone, &book).unwrap(), Resume::default());
    }

    #[test]
    fn a_step_the_operations_moved_is_refused_with_from_failed_step() {
        let (_dir, book) = book(OPS, INC);
        let moved = failed(
            HostStatus::Failed,
            vec![row(5, "deploy", Kind::Shell, false, StepStatus::Failed)],
        );
        let err = rerun(true).resume(&moved, &book).unwrap_err().to_string();
        assert_eq!(
            err,
            "r.json: --from-failed-step: machine `m`: step 6 was `deploy` (shell) in the report and is `last` (shell) now: the operations changed since the report; re-run without --from-failed-step (every step checks first)"
        );
        // Without it, every step runs: only the owed handlers cannot be told.
        let changed = failed(
            HostStatus::Failed,
            vec![row(0, "other", Kind::Put, false, StepStatus::Changed)],
        );
        assert_eq!(
            rerun(false).resume(&changed, &book).unwrap(),
            Resume::default()
        );
    }

    #[test]
    fn a_report_of_another_inventory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(&a, "machines: {}\n").unwrap();
        std::fs::write(&b, "machines: { x: {} }\n").unwrap();
        let (path, sum) = inventory_identity(&a).unwrap();
        let doc = |p: &str, s: &str| {
            let mut r = Report::new(Mode::Apply, "a.yaml".into(), None, 0);
            r.inventory_path = Some(p.into());
            r.inventory_sha256 = Some(s.into());
            r
        };
        // The same file, edited since (the fix may be in it): accepted.
        assert!(same_inventory(&doc(&path, "0"), &a).is_ok());
        // The same bytes elsewhere (another checkout): accepted.
        assert!(same_inventory(&doc("/elsewhere/a.yaml", &sum), &a).is_ok());
        let err = same_inventory(&doc(&path, &sum), &b).unwrap_err();
        assert!(
            err.starts_with("the report is of another inventory: "),
            "{err}"
        );
        assert!(err.contains(&path) && err.contains("b.yaml"), "{err}");
    }
}
