//! What reading facts cost each step. One request reads the facts of a window of steps
//! ([`super::window`]); its cost is shared by a rule, and booked to each step in the
//! [`Ledger`] until the step takes it:
//!
//! - The batch's **probe** time (everything the read did but render the steps it took
//!   ahead: the scan questions, the batch's plan, the request, parsing the reply) and
//!   what the transport spent on it (the [`Meter`]'s difference) are split **evenly**
//!   across the steps whose facts it read ([`crate::remote::meter::split`]; the parts
//!   add up exactly). An even split is the honest rule here: the cost of a batch is
//!   almost all fixed (one round trip, one `sha256sum`, one awk), and the reply does not
//!   say what each probe cost on the machine.
//! - Rendering a later step ahead is that step's **render** time.
//! - When a change discards facts read ahead (they are stale) or a new read replaces
//!   them, what was booked to those steps is **orphaned**, and goes to the step during
//!   which that happened ([`Ledger::take_orphaned`]): a first apply whose every step
//!   changes pays one round trip per step, and its steps' probe times say so. The probe
//!   times of a machine's steps thus add up to what reading facts took; only what was
//!   booked to steps that never ran (after a failure, Ctrl-C) is left out.

use std::collections::HashMap;
use std::time::Duration;

use crate::remote::meter::{self, Meter};

/// What reading facts cost one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCost {
    /// Rendering the step ahead of its turn.
    pub render: Duration,
    /// Its share of the batch.
    pub probe: Duration,
    /// What the transport spent on that share.
    pub wire: Meter,
}

impl ReadCost {
    /// Add `o`.
    pub fn add(&mut self, o: &ReadCost) {
        self.render += o.render;
        self.probe += o.probe;
        self.wire.add(&o.wire);
    }
}

/// What reading facts cost, booked to steps by index until they take it.
#[derive(Debug, Default)]
pub struct Ledger {
    booked: HashMap<usize, ReadCost>,
    orphaned: ReadCost,
}

impl Ledger {
    /// Book one batch: `steps` are the steps whose facts it read, each with what rendering
    /// it ahead took (zero for the step that asked, rendered by the run); `probe` and
    /// `wire` are the batch's own cost, split evenly across them. The first step gets a
    /// rounding remainder first.
    pub fn book(&mut self, steps: &[(usize, Duration)], probe: Duration, wire: &Meter) {
        let probes = meter::split(probe, steps.len());
        let wires = wire.split(steps.len());
        for (((index, render), probe), wire) in steps.iter().zip(probes).zip(wires) {
            self.booked.entry(*index).or_default().add(&ReadCost {
                render: *render,
                probe,
                wire,
            });
        }
    }

    /// What was booked to the step with this index (zero when nothing was), no longer
    /// booked.
    pub fn take(&mut self, index: usize) -> ReadCost {
        self.booked.remove(&index).unwrap_or_default()
    }

    /// The facts read ahead are dropped: what was booked to their steps is orphaned.
    pub fn discard(&mut self) {
        for (_, cost) in self.booked.drain() {
            self.orphaned.add(&cost);
        }
    }

    /// What was orphaned since the last call.
    pub fn take_orphaned(&mut self) -> ReadCost {
        std::mem::take(&mut self.orphaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// A batch of 4 steps read in 1 ms (0.6 ms of it on the machine): each step is booked
    /// a quarter, with its own render time; the shares add up to the batch.
    #[test]
    fn a_batch_is_shared_evenly_by_the_steps_it_read() {
        let mut l = Ledger::default();
        let mut wire = Meter::default();
        wire.count_request(us(1000), Some(us(600)));
        let steps = [(3, us(0)), (4, us(20)), (5, us(30)), (7, us(10))];
        l.book(&steps, us(1002), &wire);
        let costs: Vec<ReadCost> = [3, 4, 5, 7].map(|i| l.take(i)).to_vec();
        assert_eq!(costs[0].probe, Duration::from_nanos(250_500));
        assert!(costs.iter().all(|c| c.probe == costs[0].probe));
        assert_eq!(costs[1].render, us(20));
        let mut sum = ReadCost::default();
        costs.iter().for_each(|c| sum.add(c));
        assert_eq!((sum.probe, sum.render), (us(1002), us(60)));
        assert_eq!((sum.wire.request, sum.wire.machine), (us(1000), us(600)));
        assert_eq!(sum.wire.requests, 1);
        // Taken once: a second take finds nothing.
        assert_eq!(l.take(4), ReadCost::default());
        assert_eq!(l.take_orphaned(), ReadCost::default());
    }

    /// A change after the first step drops the others' facts: their shares go to the step
    /// that changed, so the machine's probe times still add up to the batch.
    #[test]
    fn shares_of_discarded_facts_go_to_the_step_that_discarded_them() {
        let mut l = Ledger::default();
        l.book(
            &[(0, us(0)), (1, us(5)), (2, us(5))],
            us(900),
            &Meter::default(),
        );
        let first = l.take(0);
        assert_eq!(first.probe, us(300));
        l.discard();
        let orphaned = l.take_orphaned();
        assert_eq!((orphaned.probe, orphaned.render), (us(600), us(10)));
        assert_eq!(l.take(1), ReadCost::default());
        assert_eq!(l.take_orphaned(), ReadCost::default());
    }

    #[test]
    fn a_batch_of_one_step_is_all_that_step_s() {
        let mut l = Ledger::default();
        l.book(&[(9, us(0))], us(1234), &Meter::default());
        assert_eq!(l.take(9).probe, us(1234));
        l.book(&[], us(50), &Meter::default());
        assert_eq!(l.take_orphaned(), ReadCost::default());
    }
}
