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
            machines,
            summary,
        } = self;
        inventory.mask(m);
        inventory_path.mask(m);
        machine_actions.mask(m);
        machines.mask(m);
        summary.mask(m);
    }
}
