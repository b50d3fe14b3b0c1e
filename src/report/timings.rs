//! Where the time went, as the reports carry it (report version 2): a step's phases
//! ([`StepTimings`], the same for a handler and, later, for one item of a loop), and a
//! machine's totals ([`HostTimings`]). Times are milliseconds kept to the microsecond
//! ([`Millis`]).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in milliseconds, kept to the microsecond: a JSON number with at most three
/// decimals (`12.345`). Sub-millisecond shares of a batched request would all read 0 as
/// whole milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis {
    micros: u64,
}

impl Millis {
    /// `d`, to the microsecond (rounded down).
    pub fn of(d: Duration) -> Millis {
        Millis {
            micros: d.as_micros().min(u128::from(u64::MAX)) as u64,
        }
    }

    /// This many microseconds.
    pub fn from_micros(micros: u64) -> Millis {
        Millis { micros }
    }

    /// Microseconds.
    pub fn micros(self) -> u64 {
        self.micros
    }

    /// Milliseconds, with decimals.
    pub fn ms(self) -> f64 {
        self.micros as f64 / 1000.0
    }
}

impl std::ops::Add for Millis {
    type Output = Millis;
    fn add(self, o: Millis) -> Millis {
        Millis {
            micros: self.micros.saturating_add(o.micros),
        }
    }
}

impl std::ops::AddAssign for Millis {
    fn add_assign(&mut self, o: Millis) {
        *self = *self + o;
    }
}

impl std::iter::Sum for Millis {
    fn sum<I: Iterator<Item = Millis>>(iter: I) -> Millis {
        iter.fold(Millis::default(), |a, b| a + b)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.ms())
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let ms = f64::deserialize(d)?;
        if !ms.is_finite() || ms < 0.0 {
            return Err(serde::de::Error::custom(format!(
                "not a duration in milliseconds: {ms}"
            )));
        }
        Ok(Millis {
            micros: (ms * 1000.0).round() as u64,
        })
    }
}

/// Where one step's time went (or one handler's; a loop's item can carry the same). The
/// phases add up to about the step's `duration_ms` (what is left is orbdeploy's own
/// bookkeeping); `transport_ms` and `machine_ms` split the same time another way: what
/// the step spent waiting on the transport, and what the machine spent running its
/// scripts and probes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTimings {
    /// Local work: rendering (`when:`, templates, reading and hashing local files,
    /// also for steps rendered ahead of their turn), deciding and computing the diff.
    pub render_ms: Millis,
    /// Reading the machine's state: the step's share of the batched request that read it
    /// (shared evenly by the steps it read for), and the reads before each retry.
    pub probe_ms: Millis,
    /// Moving file contents (put, template, get, a diff's read of the current file).
    pub transfer_ms: Millis,
    /// Bytes of file content moved.
    pub transfer_bytes: u64,
    /// Making the change (or running the command), retries and their `delay:` included,
    /// transfers not.
    pub apply_ms: Millis,
    /// Waiting on the transport (orbctl or ssh): sessions opened, and requests less the
    /// machine's own part of them.
    pub transport_ms: Millis,
    /// The machine running the step's scripts and probes, as the channel measures it;
    /// `None` with `--no-channel`, where `orbctl run` holds the command and the two
    /// cannot be told apart (`transport_ms` then holds both).
    pub machine_ms: Option<Millis>,
}

impl StepTimings {
    /// Add `o` (a machine's totals, or a loop's step over its items).
    pub fn add(&mut self, o: &StepTimings) {
        self.render_ms += o.render_ms;
        self.probe_ms += o.probe_ms;
        self.transfer_ms += o.transfer_ms;
        self.transfer_bytes += o.transfer_bytes;
        self.apply_ms += o.apply_ms;
        self.transport_ms += o.transport_ms;
        self.machine_ms = match (self.machine_ms, o.machine_ms) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
        };
    }

    /// The phases with their names, in the order they happen (transfer bytes aside).
    pub fn phases(&self) -> [(&'static str, Millis); 4] {
        [
            ("render", self.render_ms),
            ("probe", self.probe_ms),
            ("transfer", self.transfer_ms),
            ("apply", self.apply_ms),
        ]
    }
}

/// Where one machine's time went: the phases of its steps summed, its handlers, its
/// sessions outside any step, and the whole machine's time split between the transport
/// and the machine itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTimings {
    /// Its steps' `render_ms`, summed (handlers are in `handler_ms`).
    pub render_ms: Millis,
    /// Its steps' `probe_ms`, summed.
    pub probe_ms: Millis,
    /// Its steps' `transfer_ms`, summed.
    pub transfer_ms: Millis,
    /// Its steps' `transfer_bytes`, summed.
    pub transfer_bytes: u64,
    /// Its steps' `apply_ms`, summed.
    pub apply_ms: Millis,
    /// Its handlers' wall time (each handler's row has its own phases).
    pub handler_ms: Millis,
    /// Opening sessions before the first step (several users at once) and closing them
    /// after the last; a session a step opened is in that step's time.
    pub session_ms: Millis,
    /// The whole machine's waiting on the transport: every session opened and closed,
    /// every request less the machine's own part of it.
    pub transport_ms: Millis,
    /// The whole machine's own time running scripts and probes (`None` with
    /// `--no-channel`).
    pub machine_ms: Option<Millis>,
    /// Requests made (round trips; with `--no-channel` every `orbctl` call).
    pub requests: u64,
}

impl HostTimings {
    /// Count one step's phases.
    pub fn add_step(&mut self, s: &StepTimings) {
        self.render_ms += s.render_ms;
        self.probe_ms += s.probe_ms;
        self.transfer_ms += s.transfer_ms;
        self.transfer_bytes += s.transfer_bytes;
        self.apply_ms += s.apply_ms;
    }

    /// Add another machine's totals (the run's, in the `--timings` block).
    pub fn add(&mut self, o: &HostTimings) {
        self.render_ms += o.render_ms;
        self.probe_ms += o.probe_ms;
        self.transfer_ms += o.transfer_ms;
        self.transfer_bytes += o.transfer_bytes;
        self.apply_ms += o.apply_ms;
        self.handler_ms += o.handler_ms;
        self.session_ms += o.session_ms;
        self.transport_ms += o.transport_ms;
        self.machine_ms = match (self.machine_ms, o.machine_ms) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
        };
        self.requests += o.requests;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_are_written_as_milliseconds_with_up_to_three_decimals() {
        let t = StepTimings {
            render_ms: Millis::of(Duration::from_nanos(51_999)),
            probe_ms: Millis::from_micros(12_000),
            transfer_bytes: 5,
            machine_ms: None,
            ..StepTimings::default()
        };
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["render_ms"], serde_json::json!(0.051));
        assert_eq!(json["probe_ms"].to_string(), "12.0");
        assert_eq!(json["machine_ms"], serde_json::Value::Null);
        let back: StepTimings = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_str::<Millis>("-1").is_err());
    }
}
