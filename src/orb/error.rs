//! What a failed orbctl call means, read from orbctl's own words (docs/orbctl.md §7 and
//! §11.5): typed errors that decide exit codes, and which failures are worth another try.

/// Typed failures of orbctl calls, classified from real orbctl messages.
#[derive(Debug, thiserror::Error)]
pub enum OrbError {
    /// The orbctl binary could not be started.
    #[error("orbctl not found at `{path}`: install OrbStack (https://orbstack.dev), or pass --orbctl PATH / set ORBDEPLOY_ORBCTL")]
    Missing {
        /// What was tried.
        path: String,
    },
    /// OrbStack itself is not running or cannot start.
    #[error(
        "OrbStack is not running ({detail}): start it with `orbctl start` or open the OrbStack app"
    )]
    NotRunning {
        /// orbctl's own words.
        detail: String,
    },
    /// OrbStack's VM manager cannot run on this computer at all (docs/orbctl.md §11.5).
    #[error("OrbStack cannot run on this host ({detail}): it needs a Mac with virtualisation; hosted macOS CI runners have none (use orbsim there)")]
    CannotRun {
        /// orbctl's own words.
        detail: String,
    },
    /// The machine does not exist.
    #[error("machine `{name}` does not exist: create it with `orbdeploy machines create`, or set `create: true` in the inventory")]
    MachineNotFound {
        /// The machine name.
        name: String,
    },
    /// `create` of a name that exists.
    #[error("machine `{name}` already exists")]
    AlreadyExists {
        /// The machine name.
        name: String,
    },
    /// orbctl refused the machine name.
    #[error("invalid machine name `{name}`: use letters, digits, `-` and `.`, at least 2 characters, not a reserved name")]
    InvalidName {
        /// The machine name.
        name: String,
    },
    /// The call ran past its deadline and was killed with its process group.
    #[error("orbctl did not answer in {seconds} s (`{command}`); is OrbStack running? (`orbctl status`)")]
    Timeout {
        /// The command line.
        command: String,
        /// The deadline.
        seconds: u64,
    },
    /// OrbStack's image service failed every try (docs/orbctl.md §11.5: 404 for every
    /// distro during an outage).
    #[error(
        "OrbStack's image service is unavailable ({tries} tries; last: {detail}): try again later"
    )]
    ImageServiceUnavailable {
        /// How many creates were tried.
        tries: usize,
        /// orbctl's last words.
        detail: String,
    },
    /// Any other failure of an orbctl call.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines of its stderr.
        stderr: String,
    },
}

impl OrbError {
    /// The orbdeploy exit code this error leads to.
    pub fn exit_code(&self) -> i32 {
        match self {
            OrbError::Missing { .. }
            | OrbError::NotRunning { .. }
            | OrbError::CannotRun { .. }
            | OrbError::MachineNotFound { .. }
            | OrbError::Timeout { .. }
            | OrbError::ImageServiceUnavailable { .. } => crate::exit::UNAVAILABLE,
            OrbError::InvalidName { .. } => crate::exit::USAGE,
            OrbError::AlreadyExists { .. } | OrbError::Failed { .. } => crate::exit::FAILED,
        }
    }
}

/// What orbctl's words say about trying the same call again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not worth it: the failure will repeat.
    No,
    /// A passing failure: try again after a pause.
    Soon,
    /// The image service is down: a few tries, then say so.
    Outage,
}

/// Passing failures (docs/orbctl.md §7, §11.5): the machine manager restarting, a server
/// deadline (the image index fetch gives up after 15 s with it), a rootfs download cut
/// short, a mirror's bad gateway or slow headers.
const TRANSIENT: &[&str] = &[
    "machine manager is stopping",
    "context deadline exceeded",
    "download rootfs: stream to file: unexpected EOF",
    "502 Bad Gateway",
    "timeout awaiting response headers",
];

/// The image service answering 404 for the download status of an image that exists.
const OUTAGE: &str = "download metadata: GET download status: 404 Not Found";

/// Whether a failed call with this stderr is worth another try.
pub fn retry(stderr: &str) -> Retry {
    if stderr.contains(OUTAGE) {
        Retry::Outage
    } else if TRANSIENT.iter().any(|t| stderr.contains(t)) {
        Retry::Soon
    } else {
        Retry::No
    }
}

/// The VM manager's panic at boot on a host without nested virtualisation.
pub fn cannot_run(stderr: &str) -> bool {
    stderr.contains("vm config get max ipa size: unsupported")
}

/// The text between `prefix` and the next `'`.
pub fn quoted_after(stderr: &str, prefix: &str) -> Option<String> {
    let rest = stderr.split(prefix).nth(1)?;
    let end = rest.find('\'')?;
    Some(rest[..end].to_string())
}

/// The machine name in `[-32098] machine not found: 'NAME'`.
pub fn machine_not_found(stderr: &str) -> Option<String> {
    let rest = stderr.split("machine not found: '").nth(1)?;
    let end = rest.rfind('\'')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2026_create_errors_are_classified() {
        let create = "[-32098] create 'web-1': make rootfs: ";
        let cases = [
            (
                "fetch index: decode index: jsontext: read error: context deadline exceeded",
                Retry::Soon,
            ),
            (
                "download rootfs: stream to file: unexpected EOF",
                Retry::Soon,
            ),
            (
                "download metadata: GET download status: 404 Not Found",
                Retry::Outage,
            ),
            (
                "download metadata: GET download status: 502 Bad Gateway",
                Retry::Soon,
            ),
            ("net/http: timeout awaiting response headers", Retry::Soon),
            ("image not found: {ubuntu focal arm64 default}", Retry::No),
        ];
        for (text, want) in cases {
            assert_eq!(retry(&format!("{create}{text}")), want, "{text}");
        }
        assert_eq!(retry("[-32098] machine manager is stopping"), Retry::Soon);
        assert_eq!(retry("[-32098] machine not found: 'x'"), Retry::No);
        // A setup interrupted by a stop also says `unexpected EOF` (§7), and is no download.
        assert_eq!(
            retry("[-32098] create 'a': setup: unexpected EOF"),
            Retry::No
        );
        assert!(cannot_run("panic: vm config get max ipa size: unsupported"));
    }

    #[test]
    fn known_messages_are_parsed() {
        assert_eq!(
            quoted_after(
                "[-32098] create 'a1': machine already exists: 'a1'",
                "machine already exists: '"
            ),
            Some("a1".into())
        );
        assert_eq!(
            machine_not_found("[-32098] machine not found: 'web-1'"),
            Some("web-1".to_string())
        );
        assert_eq!(machine_not_found("something else"), None);
    }
}
