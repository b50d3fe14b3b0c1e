//! Where a step's time goes, counted while it runs: each phase's wall time from
//! `Instant`s taken where the phase starts and ends, and what the transport spent in it
//! from the connection's [`Meter`] (copied before and after; no system call). The
//! phases are those of [`StepTimings`]; how a batched read is shared is
//! [`crate::facts::cost`]'s.

use std::time::{Duration, Instant};

use crate::facts::cost::ReadCost;
use crate::remote::{Meter, Remote};
use crate::report::{Millis, StepTimings};

/// A step's phases so far.
#[derive(Debug, Clone, Default)]
pub struct Phases {
    /// Local work.
    pub render: Duration,
    /// Reading the machine's state.
    pub probe: Duration,
    /// Moving file contents.
    pub transfer: Duration,
    /// Making the change.
    pub apply: Duration,
    /// What the transport spent in all of them.
    pub wire: Meter,
}

/// The start of a span of a step that may reach the machine.
pub struct Span {
    began: Instant,
    meter: Meter,
}

impl Span {
    /// A span starting now, on `remote`.
    pub fn start(remote: &dyn Remote) -> Span {
        Span {
            began: Instant::now(),
            meter: remote.meter(),
        }
    }

    /// Its wall time so far, and what the transport spent in it.
    pub fn end(&self, remote: &dyn Remote) -> (Duration, Meter) {
        (self.began.elapsed(), remote.meter().since(&self.meter))
    }
}

impl Phases {
    /// Count what reading facts cost the step (its share of a batch, or orphaned shares).
    pub fn read(&mut self, cost: &ReadCost) {
        self.render += cost.render;
        self.probe += cost.probe;
        self.wire.add(&cost.wire);
    }

    /// Count a span of local work that may move a file (deciding, with `--diff` reading
    /// the current file): transfers are the transfer phase, the rest is local.
    pub fn local(&mut self, took: Duration, spent: Meter) {
        self.transfer += spent.transfer;
        self.render += took.saturating_sub(spent.transfer);
        self.wire.add(&spent);
    }

    /// Count the change: `reread` of it was reading the state again before a retry (the
    /// probe phase), its transfers are the transfer phase, the rest is the apply phase.
    pub fn change(&mut self, took: Duration, spent: Meter, reread: Duration) {
        self.probe += reread;
        self.transfer += spent.transfer;
        self.apply += took.saturating_sub(spent.transfer + reread);
        self.wire.add(&spent);
    }

    /// The phases as the reports carry them.
    pub fn timings(&self) -> StepTimings {
        StepTimings {
            render_ms: Millis::of(self.render),
            probe_ms: Millis::of(self.probe),
            transfer_ms: Millis::of(self.transfer),
            transfer_bytes: self.wire.transfer_bytes,
            apply_ms: Millis::of(self.apply),
            transport_ms: Millis::of(self.wire.waiting()),
            machine_ms: self.wire.measured.then(|| Millis::of(self.wire.machine)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn transfers_and_rereads_are_taken_out_of_the_phase_they_happened_in() {
        let mut p = Phases::default();
        let mut read = Meter {
            measured: true,
            ..Meter::default()
        };
        read.count_request(ms(4), Some(ms(1)));
        p.read(&ReadCost {
            render: ms(1),
            probe: ms(5),
            wire: read,
        });
        let mut put = Meter {
            transfer: ms(6),
            transfer_bytes: 100,
            measured: true,
            ..Meter::default()
        };
        put.count_request(ms(6), Some(ms(2)));
        p.change(ms(20), put, ms(3));
        let t = p.timings();
        assert_eq!(t.render_ms, Millis::from_micros(1000));
        assert_eq!(t.probe_ms, Millis::from_micros(8000));
        assert_eq!(t.transfer_ms, Millis::from_micros(6000));
        assert_eq!(t.apply_ms, Millis::from_micros(11_000));
        assert_eq!(t.transfer_bytes, 100);
        // Waiting: 4 - 1 and 6 - 2 ms of requests; the machine: 1 + 2 ms.
        assert_eq!(t.transport_ms, Millis::from_micros(7000));
        assert_eq!(t.machine_ms, Some(Millis::from_micros(3000)));
    }

    #[test]
    fn without_the_machines_own_time_there_is_no_machine_ms() {
        let mut p = Phases::default();
        let mut m = Meter::default();
        m.count_request(ms(9), None);
        p.local(ms(10), m);
        let t = p.timings();
        assert_eq!(t.machine_ms, None);
        assert_eq!(t.transport_ms, Millis::from_micros(9000));
        assert_eq!(t.render_ms, Millis::from_micros(10_000));
    }
}
