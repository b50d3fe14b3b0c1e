//! Facts: what a probe read from a machine, and the machinery that makes a no-change
//! re-apply cost about one round trip per window of steps: the window of steps read ahead
//! together ([`window`]), their probes batched into one request ([`batch`], [`gather`]),
//! one `sha256sum` for a batch's files ([`sums`]), one awk for its line and package
//! questions ([`scan`]), what scans found kept by content hash ([`memo`]), and the probe
//! library every transport defines ([`probe_lib`]).

pub mod batch;
pub mod gather;
pub mod memo;
pub mod scan;
pub mod sums;
pub mod window;

use std::collections::BTreeMap;

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

/// A probe line: `.KEY VALUE` (the dot keeps facts apart from stray output).
pub fn fact(key: &str, value_expr: &str) -> String {
    format!("printf '.{key} %s\\n' \"{value_expr}\"")
}

/// The probe library (`src/facts/probe_lib.sh`), as sent: shell functions a probe request may
/// call. Every transport defines them for requests with [`crate::remote::Exec::probe`] set:
/// the channel agent once per session, the one-shot path in front of each probe.
pub fn probe_lib() -> &'static str {
    static LIB: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIB.get_or_init(|| compact(include_str!("probe_lib.sh")))
}

/// Shell source as sent to a machine: without its comment lines, blank lines and
/// indentation, which the login shell and `sh` would otherwise copy and scan on every
/// session (half of the agent's 20 KB). Only for orbdeploy's own scripts, none of which has
/// a blank line, a line starting with `#` or leading blanks that matter inside a string.
pub fn compact(source: &str) -> String {
    let mut out = String::with_capacity(source.len() / 2);
    for line in source.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
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

#[cfg(test)]
mod compact_tests {
    use super::*;

    /// The compact library defines what the source defines, with the same values: every
    /// function, the newline in `__od_nl`, the scan's awk program.
    #[test]
    fn compact_library_defines_the_same_things() {
        let names = |lib: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{lib}\nfor f in $(sed -n 's/^ *\\(__od_[a-z0-9_]*\\)() .*/\\1/p' \"$0\"); do command -v \"$f\" >/dev/null || echo \"missing $f\"; done; printf '%s' \"$__od_nl\" | od -An -c; printf '%s' \"$__od_scan_awk\" | awk -f - </dev/null && echo awk-ok"
                ))
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/src/facts/probe_lib.sh"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let source = include_str!("probe_lib.sh");
        assert!(probe_lib().len() < source.len() * 2 / 3);
        let compact = names(probe_lib());
        assert_eq!(compact, names(source));
        assert!(!compact.contains("missing"), "{compact}");
        assert!(
            compact.contains("\\n") && compact.contains("awk-ok"),
            "{compact}"
        );
    }
}
