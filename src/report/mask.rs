//! Secrets become `***` in every record, before any output sees it. Each record masks its
//! own string fields, destructured without `..`: a new field does not compile until it is
//! masked here or said to be a word of ours. Words of ours (a kind, an action, a status,
//! the mode) are left as they are: they cannot hold a user's value, and hiding one would
//! tell nothing. Masking cannot fail, so no record is ever sent unmasked.

use super::{
    Event, FailureInfo, HostResult, ItemInfo, MachineAction, Report, ReportMachine, StepOrigin,
    StepResult, Summary,
};
pub use crate::mask::{Mask, Masker};

impl Mask for Event {
    fn mask(&mut self, m: &Masker) {
        match self {
            Event::RunStarted {
                mode: _,
                machines,
                steps: _,
            } => machines.mask(m),
            Event::Batch(b) => b.machines.mask(m),
            Event::Machine(a) => a.mask(m),
            Event::HostStarted { machine, steps: _ } => machine.mask(m),
            Event::StepStarted { machine, name } => {
                machine.mask(m);
                name.mask(m);
            }
            Event::Step(s) => s.mask(m),
            Event::Host(h) => h.mask(m),
            Event::Summary(s) => s.mask(m),
        }
    }
}

impl Mask for StepResult {
    fn mask(&mut self, m: &Masker) {
        let StepResult {
            machine,
            index: _,
            name,
            kind: _,
            handler: _,
            status: _,
            changes,
            reason,
            diff,
            duration_ms: _,
            start_ms: _,
            attempts: _,
            failure,
            calls,
            timings: _,
            item,
            origin,
        } = self;
        machine.mask(m);
        name.mask(m);
        changes.mask(m);
        reason.mask(m);
        diff.mask(m);
        failure.mask(m);
        calls.mask(m);
        item.mask(m);
        origin.mask(m);
    }
}

impl Mask for FailureInfo {
    fn mask(&mut self, m: &Masker) {
        let FailureInfo {
            message,
            command,
            exit_code: _,
            stdout_tail,
            stderr_tail,
        } = self;
        message.mask(m);
        command.mask(m);
        stdout_tail.mask(m);
        stderr_tail.mask(m);
    }
}

impl Mask for ItemInfo {
    fn mask(&mut self, m: &Masker) {
        let ItemInfo {
            label,
            index: _,
            count: _,
        } = self;
        label.mask(m);
    }
}

impl Mask for StepOrigin {
    fn mask(&mut self, m: &Masker) {
        let StepOrigin {
            file,
            line: _,
            column: _,
            role,
            include_chain,
        } = self;
        file.mask(m);
        role.mask(m);
        include_chain.mask(m);
    }
}

impl Mask for MachineAction {
    fn mask(&mut self, m: &Masker) {
        let MachineAction {
            machine,
            action: _,
            status: _,
            message,
            argv,
        } = self;
        machine.mask(m);
        message.mask(m);
        argv.mask(m);
    }
}

impl Mask for HostResult {
    fn mask(&mut self, m: &Masker) {
        let HostResult {
            machine,
            status: _,
            counts: _,
            duration_ms: _,
            error,
            timings: _,
            batch: _,
        } = self;
        machine.mask(m);
        error.mask(m);
    }
}

impl Mask for Summary {
    fn mask(&mut self, _: &Masker) {
        // Every field is a number or a word of ours (the machines are counted by status).
        let Summary {
            mode: _,
            exit_code: _,
            interrupted: _,
            counts: _,
            machines: _,
            duration_ms: _,
        } = self;
    }
}

impl Mask for ReportMachine {
    fn mask(&mut self, m: &Masker) {
        let ReportMachine { result, steps } = self;
        result.mask(m);
        steps.mask(m);
    }
}

impl Mask for Report {
    fn mask(&mut self, m: &Masker) {
        let Report {
            schema: _,
            version: _,
            orbdeploy_version: _,
            mode: _,
            inventory,
            inventory_path,
            // A hash of the file, not its text.
            inventory_sha256: _,
            started_unix: _,
            machine_actions,
            batches,
            machines,
            summary,
        } = self;
        inventory.mask(m);
        inventory_path.mask(m);
        machine_actions.mask(m);
        for b in batches {
            b.machines.mask(m);
        }
        machines.mask(m);
        summary.mask(m);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{html, junit};
    use super::*;
    use serde_json::json;

    /// The secret that must never be seen.
    const LONG: &str = "Q7XK9WZ3VJ2MRP4T";

    /// Secrets equal to every tag, status word and report key, and to punctuation the
    /// encoders give a meaning to.
    fn short_secrets() -> Vec<String> {
        let mut words: Vec<String> = [
            "event",
            "run_started",
            "machine",
            "host_started",
            "step_started",
            "step",
            "host",
            "summary",
            "ste",
            "ail",
            "ok",
            "changed",
            "failed",
            "FAILED",
            "skipped",
            "will_change",
            "done",
            "planned",
            "keep",
            "apply",
            "shell",
            "name",
            "status",
            "kind",
            "failure",
            "machines",
            "steps",
            "true",
            "null",
            "\"",
            "{",
            "}",
            "[",
            ":",
            ",",
            "\\",
            "\n",
            "<",
            "&",
        ]
        .map(String::from)
        .to_vec();
        words.push(LONG.into());
        words
    }

    /// `s` with the long secret in it.
    fn with(s: &str) -> String {
        format!("{s} {LONG}:\"\\\n")
    }

    /// One event of each kind, with the long secret in every string a user's value can
    /// reach.
    fn events() -> Vec<Event> {
        let step = json!({
            "event": "step", "machine": with("m"), "index": 0, "name": with("n"),
            "kind": "shell", "handler": false, "status": "failed",
            "changes": [with("c")], "reason": with("r"), "diff": with("d"),
            "duration_ms": 1, "start_ms": 0, "attempts": 1,
            "failure": { "message": with("f"), "command": with("echo"), "exit_code": 3,
                         "stdout_tail": with("o"), "stderr_tail": with("e") },
            "calls": [with("orbctl")], "timings": null,
            "item": { "label": with("i"), "index": 0, "count": 1 },
            "origin": { "file": with("ops.yaml"), "line": 1, "column": 1,
                        "role": with("role"), "include_chain": [with("inc")] }
        });
        let all = json!([
            { "event": "run_started", "mode": "apply", "machines": [with("m")], "steps": 1 },
            { "event": "machine", "machine": with("m"), "action": "keep", "status": "done",
              "message": with("msg"), "argv": [with("a")] },
            { "event": "host_started", "machine": with("m"), "steps": 1 },
            { "event": "step_started", "machine": with("m"), "name": with("n") },
            step,
            { "event": "host", "machine": with("m"), "status": "failed",
              "counts": { "ok": 0, "changed": 0, "failed": 1, "ignored": 0, "skipped": 0,
                          "will_change": 0, "will_run": 0, "unknown": 0 },
              "duration_ms": 1, "error": with("err"), "timings": null },
            { "event": "summary", "mode": "apply", "exit_code": 1, "interrupted": false,
              "counts": { "ok": 0, "changed": 0, "failed": 1, "ignored": 0, "skipped": 0,
                          "will_change": 0, "will_run": 0, "unknown": 0 },
              "machines": { "failed": 1 }, "duration_ms": 1 }
        ]);
        serde_json::from_value(all).expect("the events parse")
    }

    #[test]
    fn every_event_is_masked_whatever_the_other_secrets() {
        let masker = Masker::new(short_secrets());
        let events: Vec<Event> = events().into_iter().map(|e| e.masked(&masker)).collect();
        let mut report = Report {
            schema: "orbdeploy-report".into(),
            version: super::super::REPORT_VERSION,
            orbdeploy_version: "0".into(),
            mode: crate::report::Mode::Apply,
            inventory: with("inv.yaml"),
            inventory_path: Some(with("/inv.yaml")),
            inventory_sha256: None,
            started_unix: 0,
            machine_actions: Vec::new(),
            batches: Vec::new(),
            machines: Vec::new(),
            summary: match events.last() {
                Some(Event::Summary(s)) => s.clone(),
                _ => panic!("the last event is the summary"),
            },
        };
        report.mask(&masker);
        for e in &events {
            // JSON lines: well formed (masked before encoding) and without the secret.
            let line = serde_json::to_string(e).expect("encodes");
            assert!(!line.contains(LONG), "{line}");
            let back: Event = serde_json::from_str(&line).expect("a JSON line parses back");
            assert_eq!(&back, e);
            match e.clone() {
                Event::Machine(a) => report.machine_actions.push(a),
                Event::Step(s) => report.machines.push(super::super::ReportMachine {
                    result: match &events[5] {
                        Event::Host(h) => h.clone(),
                        _ => panic!("the sixth event is the host"),
                    },
                    steps: vec![s],
                }),
                _ => {}
            }
        }
        let page = html::Page {
            command: html::command_line(["orbdeploy", "apply", LONG], &masker),
            clock: html::Clock::default(),
        };
        for (what, text) in [
            (
                "report",
                serde_json::to_string_pretty(&report).expect("encodes"),
            ),
            ("junit", junit::render(&report)),
            ("html", html::render(&report, &page)),
        ] {
            assert!(!text.contains(LONG), "{what}:\n{text}");
            assert!(text.contains("***"), "{what} shows where a secret was");
        }
    }

    #[test]
    fn words_of_ours_stay() {
        let masker = Masker::new(vec!["shell".into(), "apply".into(), "keep".into()]);
        let events: Vec<Event> = events().into_iter().map(|e| e.masked(&masker)).collect();
        let Event::Step(s) = &events[4] else {
            panic!("the fifth event is the step");
        };
        let step = serde_json::to_value(s).expect("encodes");
        assert_eq!(step["kind"], "shell", "a kind is a word of ours");
        let Event::Machine(a) = &events[1] else {
            panic!("the second event is the machine action");
        };
        assert_eq!(serde_json::to_value(a).expect("encodes")["action"], "keep");
    }
}
