//! The few typed errors that decide an exit code ([`crate::exit`]).
//!
//! Everything else travels as `anyhow::Error` with context; `exit_code` walks the
//! chain and picks the code of the first typed error it finds.

use std::fmt;

use crate::exit;

/// An error in what the user wrote: a flag, a YAML file, a template, a missing local file.
/// Always maps to exit code 2, and is always raised before any machine is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `file:line:column` (or just `file`, or nothing) where the problem is.
    pub location: Option<String>,
    /// What was wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error tied to a file position.
    pub fn at(file: &std::path::Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Self {
            location: Some(format!("{}:{}:{}", file.display(), line, column)),
            message: message.into(),
        }
    }

    /// An error about a whole file.
    pub fn in_file(file: &std::path::Path, message: impl Into<String>) -> Self {
        Self {
            location: Some(file.display().to_string()),
            message: message.into(),
        }
    }

    /// An error with no position (a flag, an environment variable).
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            location: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Outcomes that are not bugs but decide the exit code on their own.
#[derive(Debug, thiserror::Error)]
pub enum Outcome {
    /// Something failed, and the message says what (`exec`: on how many machines). Exit 1.
    #[error("{0}")]
    Failed(String),
    /// An `apply` or `plan` ended short of success: its reporter already showed why, so
    /// nothing more is printed. Exits with the code of the end.
    #[error("{}", .0.word())]
    Reported(RunEnd),
    /// A machine a command names is not there, and the message says what to do. Exit 3,
    /// as for any machine that is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// `apply --plan` refused the saved plan before touching any machine, and the
    /// message says why. Exit 5.
    #[error("{0}")]
    PlanRefused(String),
}

/// How an `apply` or `plan` ended: the exit code it ends with, decided once from every
/// machine's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Every step on every selected machine succeeded (or, in a plan, nothing is pending
    /// that `--exit-code` asked about). Exit 0.
    Success,
    /// A step failed, or a machine could not be created, started or used. Exit 1.
    Failed,
    /// orbctl, OrbStack or a machine is unavailable, and nothing else failed. Exit 3.
    Unavailable,
    /// `plan --exit-code` found pending changes. Exit 4.
    ChangesPending,
    /// `apply --plan` refused a machine whose facts differ from the plan's, and nothing
    /// failed elsewhere. Exit 5.
    PlanRefused,
    /// Ctrl-C or SIGTERM arrived. Exit 130.
    Interrupted,
}

impl RunEnd {
    /// The exit code ([`crate::exit`]).
    pub fn exit_code(self) -> i32 {
        match self {
            RunEnd::Success => exit::OK,
            RunEnd::Failed => exit::FAILED,
            RunEnd::Unavailable => exit::UNAVAILABLE,
            RunEnd::ChangesPending => exit::CHANGES_PENDING,
            RunEnd::PlanRefused => exit::PLAN_REFUSED,
            RunEnd::Interrupted => exit::INTERRUPTED,
        }
    }

    /// A word for the end, for messages.
    pub fn word(self) -> &'static str {
        match self {
            RunEnd::Success => "succeeded",
            RunEnd::Failed => "failed",
            RunEnd::Unavailable => "unavailable",
            RunEnd::ChangesPending => "changes are pending",
            RunEnd::PlanRefused => "a machine was refused by the saved plan",
            RunEnd::Interrupted => "interrupted",
        }
    }

    /// `Ok` for a success, else the [`Outcome`] that ends the process with this code.
    pub fn into_result(self) -> Result<(), Outcome> {
        match self {
            RunEnd::Success => Ok(()),
            end => Err(Outcome::Reported(end)),
        }
    }
}

impl Outcome {
    /// True when the reporter of `apply`/`plan` already showed everything: nothing more to
    /// print.
    pub fn already_reported(&self) -> bool {
        matches!(self, Outcome::Reported(_))
    }
}

/// The exit code for an error: the first typed error in the chain decides; anything else is 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() {
            return crate::exit::USAGE;
        }
        if let Some(outcome) = cause.downcast_ref::<Outcome>() {
            return match outcome {
                Outcome::Failed(_) => exit::FAILED,
                Outcome::Unavailable(_) => exit::UNAVAILABLE,
                Outcome::Reported(end) => end.exit_code(),
                Outcome::PlanRefused(_) => exit::PLAN_REFUSED,
            };
        }
        if let Some(orb) = cause.downcast_ref::<crate::orb::OrbError>() {
            return orb.exit_code();
        }
    }
    crate::exit::FAILED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_map_to_2_even_under_context() {
        let err = anyhow::Error::new(ConfigError::plain("bad")).context("loading inventory");
        assert_eq!(exit_code(&err), crate::exit::USAGE);
    }

    #[test]
    fn outcomes_map_to_their_codes() {
        assert_eq!(exit_code(&Outcome::Failed("x".into()).into()), 1);
        let reported = |end| exit_code(&Outcome::Reported(end).into());
        assert_eq!(reported(RunEnd::Failed), 1);
        assert_eq!(reported(RunEnd::Unavailable), 3);
        assert_eq!(reported(RunEnd::ChangesPending), 4);
        assert_eq!(reported(RunEnd::Interrupted), 130);
        assert!(RunEnd::Success.into_result().is_ok());
        assert_eq!(exit_code(&anyhow::anyhow!("other")), 1);
    }

    #[test]
    fn config_error_display_puts_location_first() {
        let e = ConfigError::at(std::path::Path::new("inv.yaml"), 3, 7, "unknown key `imag`");
        assert_eq!(e.to_string(), "inv.yaml:3:7: unknown key `imag`");
    }
}
