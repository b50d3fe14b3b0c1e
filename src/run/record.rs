//! The requests a step's change will make, known before it is made: the step's
//! [`crate::ops::Operation::apply`] runs against a [`Recorder`], which keeps each request
//! (with the bytes of a file it writes) and answers it as a success that printed nothing.
//! Only kinds whose apply reads nothing back ([`crate::ops::Kind::applies_blindly`]) are
//! recorded, so the requests kept are the ones the real apply makes; the pipeline sends
//! them ahead in a chain ([`super::pipeline`]), and the real apply is then answered from it.

use std::io::{Read, Write};

use crate::facts::Facts;
use crate::ops::{Ctx, Rendered};
use crate::remote::{Exec, ExecOutput, Input, Remote, RemoteError};

/// The requests `rendered`'s change makes on a machine with `facts`, its files' bytes at
/// most `budget` in all; `None` when they cannot be known ahead: the kind reads what a
/// request prints, the change would fail, or its bytes are over the budget (they travel
/// alone).
pub fn requests(
    rendered: &Rendered,
    facts: &Facts,
    machine: &str,
    budget: usize,
) -> Option<Vec<Exec>> {
    if !rendered.op.kind().applies_blindly() {
        return None;
    }
    let mut recorder = Recorder {
        machine: machine.to_string(),
        requests: Vec::new(),
        budget,
    };
    let mut ctx = Ctx {
        remote: &mut recorder,
        user: rendered.run_as.clone(),
        timeout: rendered.timeout,
    };
    match rendered.op.apply(&mut ctx, facts) {
        Ok(applied) if applied.output.is_none() && !applied.unchanged => Some(recorder.requests),
        _ => None,
    }
}

/// A machine that keeps the requests made of it and answers each as a success that
/// printed nothing.
struct Recorder {
    machine: String,
    requests: Vec<Exec>,
    /// The bytes of files that may still be kept.
    budget: usize,
}

impl Remote for Recorder {
    fn machine(&self) -> &str {
        &self.machine
    }

    fn exec_stream(
        &mut self,
        req: &Exec,
        input: Option<Input<'_>>,
        sink: Option<&mut dyn Write>,
    ) -> Result<ExecOutput, RemoteError> {
        // A request whose output is streamed (a file read) is read for its output.
        if sink.is_some() {
            return Err(RemoteError::Transfer("not recorded: it reads".into()));
        }
        let len = input.as_ref().map_or(req.stdin.len() as u64, |i| i.len);
        if len > self.budget as u64 {
            return Err(RemoteError::Transfer("not recorded: too large".into()));
        }
        let mut exec = req.clone();
        if let Some(input) = input {
            exec.stdin.clear();
            input.reader.take(len).read_to_end(&mut exec.stdin)?;
            if exec.stdin.len() as u64 != len {
                return Err(RemoteError::Transfer("not recorded: short read".into()));
            }
        }
        self.budget -= exec.stdin.len();
        self.requests.push(exec);
        Ok(ExecOutput::default())
    }

    fn describe(&self, _req: &Exec) -> Vec<String> {
        Vec::new()
    }

    fn close(&mut self) {}
}
