//! Why a step failed, in the words and figures the failure block of the report shows.

use crate::remote::{ExecOutput, RemoteError};

/// Whose failure it is: decides whether `ignore_errors` may excuse it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailureKind {
    /// The step itself failed (a command exited non-zero, a check did not hold).
    #[default]
    Step,
    /// The step ran past its time limit and was killed.
    TimedOut,
    /// The connection or the machine is gone: no step can run there, so `ignore_errors`
    /// does not apply.
    Unreachable,
}

/// Why a step failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong and, where we know it, what to do.
    pub message: String,
    /// The exact script that failed.
    pub command: Option<String>,
    /// Its exit status.
    pub status: Option<i32>,
    /// Its stdout, last lines.
    pub stdout_tail: String,
    /// Its stderr, last lines.
    pub stderr_tail: String,
    /// Whose failure it is.
    pub kind: FailureKind,
    /// The command's full output (shell/command), for `register`.
    pub output: Option<Box<ExecOutput>>,
}

impl Failure {
    /// A failure with a message only.
    pub fn msg(message: impl std::fmt::Display) -> Failure {
        Failure {
            message: message.to_string(),
            ..Failure::default()
        }
    }

    /// A command that exited non-zero.
    pub fn from_output(what: &str, script: &str, out: &ExecOutput) -> Failure {
        Failure {
            message: format!("{what} failed with exit code {}", out.status),
            command: Some(script.to_string()),
            status: Some(out.status),
            stdout_tail: crate::process::tail_lines(&out.stdout, 10),
            stderr_tail: crate::process::tail_lines(&out.stderr, 10),
            output: Some(Box::new(out.clone())),
            ..Failure::default()
        }
    }
}

impl From<RemoteError> for Failure {
    fn from(e: RemoteError) -> Failure {
        let kind = match e {
            RemoteError::Timeout(_) => FailureKind::TimedOut,
            RemoteError::Disconnected { .. } | RemoteError::Orb(_) | RemoteError::Interrupted => {
                FailureKind::Unreachable
            }
            _ => FailureKind::Step,
        };
        Failure {
            message: e.to_string(),
            kind,
            ..Failure::default()
        }
    }
}
