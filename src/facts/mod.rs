//! Facts: what a probe read from a machine, and the machinery that makes a no-change
//! re-apply cost about one round trip per window of steps: the window of steps read ahead
//! together ([`window`]), their probes batched into one request ([`batch`], [`gather`]),
//! one `sha256sum` for a batch's files ([`sums`]), one awk for its line and package
//! questions ([`scan`]) and what scans found kept by content hash ([`memo`]). Probes are
//! calls into the probe library every transport defines ([`crate::remote::probe_lib`]).

pub mod batch;
pub mod cost;
pub mod gather;
pub mod memo;
pub mod scan;
pub mod sums;
pub mod window;

use std::collections::BTreeMap;

// The probe library is the transports' (they define it); its home is `remote`.
pub use crate::remote::probe_lib::probe_lib;
pub use batch::{Batch, BatchPlan};
pub use window::Window;

/// The facts a probe printed: `key value` lines, and the probe's exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Values by key; a key printed several times keeps every value in order.
    pub values: BTreeMap<String, Vec<String>>,
    /// Lines that were not facts (error messages of the probe's commands).
    pub noise: Vec<String>,
    /// The probe's exit status.
    pub status: i32,
}

impl Facts {
    /// Parse a probe's output.
    pub fn parse(text: &str, status: i32) -> Facts {
        let mut f = Facts {
            status,
            ..Facts::default()
        };
        for line in text.lines() {
            match line.split_once(' ') {
                Some((k, v)) if k.starts_with('.') => f
                    .values
                    .entry(k[1..].to_string())
                    .or_default()
                    .push(v.to_string()),
                None if line.starts_with('.') && line.len() > 1 => f
                    .values
                    .entry(line[1..].to_string())
                    .or_default()
                    .push(String::new()),
                _ if line.is_empty() => {}
                _ => f.noise.push(line.to_string()),
            }
        }
        f
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> &[String] {
        self.values.get(key).map_or(&[], Vec::as_slice)
    }

    /// What the probe said besides facts, for error messages.
    pub fn noise_text(&self) -> String {
        self.noise.join("\n")
    }
}

/// A step rendered for one machine, as reading its facts sees it (the run's rendered
/// operation, [`crate::ops::Rendered`]).
pub trait Probed {
    /// The read-only script whose output are the step's facts (`None`: nothing to read).
    fn probe(&self) -> Option<String>;
    /// The user the step runs as (`None`: the machine's default user).
    fn user(&self) -> Option<&str>;
    /// A command step: its effect is unknown, so no window reads past it.
    fn is_command(&self) -> bool;
    /// The probe carries user code (a `shell` step's `unless:`), run apart on the channel.
    fn has_user_code(&self) -> bool;
    /// The file whose SHA-256 the probe asks for (shared by a batch, [`sums`]).
    fn hashes(&self) -> Option<&str>;
    /// What the probe asks the batch's scan ([`scan`]).
    fn scan(&self) -> Option<scan::Item>;
}

/// A probe line: `.KEY VALUE` (the dot keeps facts apart from stray output).
pub fn fact(key: &str, value_expr: &str) -> String {
    format!("printf '.{key} %s\\n' \"{value_expr}\"")
}

/// Run `script` with the probe library in a local `sh` (tests of probes on this host);
/// panics when sh fails.
#[cfg(test)]
pub(crate) fn run_with_probe_lib(script: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{}{script}", crate::facts::probe_lib()))
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_keys_and_noise() {
        let f = Facts::parse(".stat regular file|644|root|root|0|0|5\n.sha abc\nstat: oops\n.pkg a ii\n.pkg b\n.flag\n", 0);
        assert_eq!(f.get("stat"), Some("regular file|644|root|root|0|0|5"));
        assert_eq!(f.all("pkg"), ["a ii".to_string(), "b".to_string()]);
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.noise, vec!["stat: oops".to_string()]);
    }
}
