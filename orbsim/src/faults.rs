//! Fault injection through `ORBSIM_FAULTS` (comma-separated), to test how a client
//! handles what real OrbStack does when things go wrong.

use std::time::Duration;

/// The faults in force for this invocation.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// `create-slow=SECONDS`: create takes this much longer.
    pub create_slow: Option<Duration>,
    /// `create-timeout`: create makes the machine, then fails like OrbStack's setup timeout.
    pub create_timeout: bool,
    /// `run-fail-after=N`: the N+1-th `run` of this state home dies like a killed session.
    pub run_fail_after: Option<u64>,
    /// `not-running`: every command fails as when OrbStack is down.
    pub not_running: bool,
    /// `latency=MS`: added to every call, to model real orbctl's per-call cost.
    pub latency: Option<Duration>,
}

impl Faults {
    /// Read `ORBSIM_FAULTS`; unknown entries are reported on stderr and ignored.
    pub fn from_env() -> Faults {
        std::env::var("ORBSIM_FAULTS")
            .map(|s| Faults::parse(&s))
            .unwrap_or_default()
    }

    /// Parse the comma-separated list.
    pub fn parse(spec: &str) -> Faults {
        let mut f = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let number = value.parse::<f64>().ok().filter(|n| *n >= 0.0);
            match (key, number) {
                ("create-slow", Some(s)) => f.create_slow = Some(Duration::from_secs_f64(s)),
                ("create-timeout", _) => f.create_timeout = true,
                ("run-fail-after", Some(n)) => f.run_fail_after = Some(n as u64),
                ("not-running", _) => f.not_running = true,
                ("latency", Some(ms)) => f.latency = Some(Duration::from_secs_f64(ms / 1000.0)),
                _ => eprintln!("orbsim: ignoring unknown ORBSIM_FAULTS entry `{item}`"),
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault() {
        let f = Faults::parse(
            "create-slow=1.5, create-timeout,run-fail-after=3,not-running,latency=20",
        );
        assert_eq!(f.create_slow, Some(Duration::from_millis(1500)));
        assert!(f.create_timeout && f.not_running);
        assert_eq!(f.run_fail_after, Some(3));
        assert_eq!(f.latency, Some(Duration::from_millis(20)));
    }
}
