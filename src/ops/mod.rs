//! Operation kinds, one file each. Every kind follows the same four stages:
//! **probe** (a read-only script whose output are the facts), **decide** (unchanged /
//! change / run, from the facts alone), **apply** (the commands or transfers that make the
//! change) and **describe** (what will change, and a diff under `--diff`).
//!
//! Probes of consecutive steps are batched into one round trip by the runner, so a step
//! must never depend on anything but its own facts to decide.

mod attrs;
mod directory;
mod failure;
mod file;
mod get;
mod line;
mod packages;
mod put;
mod render;
mod service;
mod shell;
mod user;
mod values;

use std::time::Duration;

use crate::facts::{scan, Facts};
use crate::remote::{Exec, ExecOutput, Remote};
pub use attrs::Attrs;
pub use failure::{Failure, FailureKind};
pub use values::{Mode, Presence};

pub use render::{render, Rendered};

/// A step's operation with every value rendered for one machine.
#[derive(Debug, Clone)]
pub enum Op {
    /// `shell` and `command`.
    Shell(shell::Shell),
    /// `put` and `template`.
    Put(put::Put),
    /// `get`.
    Get(get::Get),
    /// `directory`.
    Directory(directory::Directory),
    /// `file`.
    File(file::File),
    /// `line`.
    Line(line::Line),
    /// `packages`.
    Packages(packages::Packages),
    /// `user` (as an operation).
    User(user::User),
    /// `service`.
    Service(service::Service),
}

/// What a step would do, decided from its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Already in the declared state.
    Unchanged,
    /// Would change; the list says what, in the user's words.
    Change(Vec<String>),
    /// A command whose effect cannot be known: it runs every time.
    Run,
    /// `creates:` / `unless:` say it has been done already.
    Skip(String),
}

/// The result of applying a step.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The command's output (shell/command), for `register` and the report.
    pub output: Option<ExecOutput>,
}

/// Everything an operation needs to apply itself.
pub struct Ctx<'a> {
    /// The machine.
    pub remote: &'a mut dyn Remote,
    /// Run as this user (`None` = the machine's default user).
    pub user: Option<String>,
    /// The step's timeout.
    pub timeout: Option<Duration>,
}

impl Ctx<'_> {
    /// An `Exec` for `script` as this step's user, with its timeout.
    pub fn exec(&self, script: String) -> Exec {
        Exec {
            script,
            user: self.user.clone(),
            timeout: self.timeout,
            ..Exec::default()
        }
    }

    /// Run an internal script that must succeed.
    pub fn run(&mut self, what: &str, script: String) -> Result<ExecOutput, Failure> {
        let req = self.exec(script);
        let out = self.remote.exec(&req)?;
        if out.status != 0 {
            let mut f = Failure::from_output(what, &req.script, &out);
            if let Some(hint) = permission_hint(&out, self.user.as_deref()) {
                f.message.push_str(&format!(": {hint}"));
            }
            return Err(f);
        }
        Ok(out)
    }
}

fn permission_hint(out: &ExecOutput, user: Option<&str>) -> Option<&'static str> {
    let err = String::from_utf8_lossy(&out.stderr);
    let denied = err.contains("Permission denied") || err.contains("Operation not permitted");
    (denied && user != Some("root"))
        .then_some("permission denied; add `become: true` to run it as root")
}

impl Op {
    /// The user the operation must run as regardless of the step (packages, users and
    /// services need root on every distribution).
    pub fn needs_root(&self) -> bool {
        matches!(self, Op::Packages(_) | Op::User(_) | Op::Service(_))
    }

    /// True for shell/command (their effect is unknown, they run every time).
    pub fn is_command(&self) -> bool {
        matches!(self, Op::Shell(_))
    }

    /// The read-only script whose output decides the step (`None`: nothing to read).
    pub fn probe(&self) -> Option<String> {
        match self {
            Op::Shell(o) => o.probe(),
            Op::Put(o) => Some(o.probe()),
            Op::Get(o) => Some(o.probe()),
            Op::Directory(o) => Some(o.probe()),
            Op::File(o) => Some(o.probe()),
            Op::Line(o) => Some(o.probe()),
            Op::Packages(o) => Some(o.probe()),
            Op::User(o) => Some(o.probe()),
            Op::Service(o) => Some(o.probe()),
        }
    }

    /// Whether the probe carries user code (a `shell` step's `unless:`), which the channel
    /// must run apart from its agent ([`crate::remote::Exec::isolate`]).
    pub fn probe_has_user_code(&self) -> bool {
        matches!(self, Op::Shell(o) if o.unless.is_some())
    }

    /// The file whose SHA-256 the probe asks for (shared by a batch, see [`sums`]).
    pub fn hashes(&self) -> Option<&str> {
        match self {
            Op::Put(o) => Some(&o.dest),
            _ => None,
        }
    }

    /// What the probe asks the batch's scan (see [`scan`]).
    pub fn scan(&self) -> Option<scan::Item> {
        match self {
            Op::Line(o) if o.regexp.is_none() => scan::Item::line(&o.path, &o.line),
            Op::Packages(o) => Some(scan::Item::Dpkg {
                names: o.names.clone(),
            }),
            _ => None,
        }
    }

    /// Decide from the facts.
    pub fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        match self {
            Op::Shell(o) => Ok(o.decide(facts)),
            Op::Put(o) => o.decide(facts),
            Op::Get(o) => o.decide(facts),
            Op::Directory(o) => o.decide(facts),
            Op::File(o) => o.decide(facts),
            Op::Line(o) => o.decide(facts),
            Op::Packages(o) => o.decide(facts),
            Op::User(o) => o.decide(facts),
            Op::Service(o) => o.decide(facts),
        }
    }

    /// A unified diff of the change (put, template, line), for `--diff`.
    pub fn diff(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Option<String> {
        match self {
            Op::Put(o) => o.diff(ctx, facts),
            Op::Line(o) => o.diff(ctx),
            _ => None,
        }
    }

    /// Make the change.
    pub fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        match self {
            Op::Shell(o) => o.apply(ctx),
            Op::Put(o) => o.apply(ctx, facts).map(|_| Applied::default()),
            Op::Get(o) => o.apply(ctx).map(|_| Applied::default()),
            Op::Directory(o) => o.apply(ctx, facts).map(|_| Applied::default()),
            Op::File(o) => o.apply(ctx, facts).map(|_| Applied::default()),
            Op::Line(o) => o.apply(ctx).map(|_| Applied::default()),
            Op::Packages(o) => o.apply(ctx, facts).map(|_| Applied::default()),
            Op::User(o) => o.apply(ctx, facts).map(|_| Applied::default()),
            Op::Service(o) => o.apply(ctx, facts).map(|_| Applied::default()),
        }
    }
}

/// A unified diff between two texts, or a note when either is not text.
pub fn text_diff(path: &str, old: &[u8], new: &[u8]) -> String {
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(a), Ok(b)) => similar::TextDiff::from_lines(a, b)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("{path} (on the machine)"),
                &format!("{path} (declared)"),
            )
            .to_string(),
        _ => format!(
            "binary content differs ({} bytes on the machine, {} bytes declared)\n",
            old.len(),
            new.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_unified() {
        let d = text_diff("/etc/x", b"a\nb\n", b"a\nc\n");
        assert!(d.contains("-b\n+c\n"), "{d}");
        assert!(text_diff("/x", b"\xff", b"a").starts_with("binary"));
    }
}
