//! How long each kind of orbctl call may take before it is killed with its process group.
//!
//! Every call has one: `orbctl list` and `info` are reported to block for as long as the
//! OrbStack service is stopped, and `orbctl start` to never return when OrbStack cannot
//! come up (docs/orbctl.md §11.3). Read-only calls are short, calls that change a machine
//! long. `ORBDEPLOY_ORBCTL_DEADLINES` sets any of them, e.g. `query=30,create=900`.

use std::time::Duration;

/// The environment variable that overrides the defaults.
pub const ENV: &str = "ORBDEPLOY_ORBCTL_DEADLINES";

/// Deadlines per kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `orbctl status`, which answers at once in every state: it decides "not running".
    pub status: Duration,
    /// `list`, `info` and `config get`.
    pub query: Duration,
    /// `start`, `stop`, `restart`, `delete`, `clone`, `rename` and `config set` (the server
    /// itself waits 30 s for a machine to start).
    pub lifecycle: Duration,
    /// `create`: a first create downloads an image (docs/orbctl.md §8 advises 5–10 min).
    pub create: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            status: Duration::from_secs(5),
            query: Duration::from_secs(20),
            lifecycle: Duration::from_secs(120),
            create: Duration::from_secs(600),
        }
    }
}

impl Deadlines {
    /// The defaults with what `ORBDEPLOY_ORBCTL_DEADLINES` says on top.
    pub fn from_env() -> Result<Deadlines, DeadlinesError> {
        match std::env::var(ENV) {
            Ok(text) => Deadlines::parse(&text),
            Err(_) => Ok(Deadlines::default()),
        }
    }

    /// `KIND=SECONDS` pairs, comma-separated, for the kinds `status`, `query`, `lifecycle`
    /// and `create`; whole seconds from 1.
    pub fn parse(text: &str) -> Result<Deadlines, DeadlinesError> {
        let mut d = Deadlines::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |why: &str| {
                DeadlinesError(format!(
                    "{ENV}: `{pair}` {why}: expected KIND=SECONDS pairs such as `query=30,create=900` (kinds: status, query, lifecycle, create)"
                ))
            };
            let (kind, secs) = pair.split_once('=').ok_or_else(|| bad("has no `=`"))?;
            let secs: u64 = secs
                .trim()
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| bad("is not a whole number of seconds from 1"))?;
            let slot = match kind.trim() {
                "status" => &mut d.status,
                "query" => &mut d.query,
                "lifecycle" => &mut d.lifecycle,
                "create" => &mut d.create,
                _ => return Err(bad("names no kind of call")),
            };
            *slot = Duration::from_secs(secs);
        }
        Ok(d)
    }
}

/// `ORBDEPLOY_ORBCTL_DEADLINES` is wrong; the message says how (a usage error, exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeadlinesError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_override_the_defaults_and_mistakes_are_config_errors() {
        let d = Deadlines::parse("query=3, create=900").unwrap();
        assert_eq!(d.query, Duration::from_secs(3));
        assert_eq!(d.create, Duration::from_secs(900));
        assert_eq!(d.status, Deadlines::default().status);
        assert_eq!(Deadlines::parse("").unwrap(), Deadlines::default());
        for bad in ["query", "query=0", "query=5m", "list=3", "query=-1"] {
            let e = Deadlines::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("ORBDEPLOY_ORBCTL_DEADLINES: `"), "{bad}: {e}");
        }
    }
}
