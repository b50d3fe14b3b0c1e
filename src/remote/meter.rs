//! What a connection has spent, counted where the work happens (the channel's sessions,
//! the one-shot path's `orbctl` processes, the file transfers): cumulative counters that
//! the run copies before and after a phase of a step ([`Remote::meter`]) and subtracts.
//! Counting costs an `Instant::now()` at points that already exist, no system call.
//!
//! [`Remote::meter`]: super::Remote::meter

use std::time::{Duration, Instant};

/// Cumulative counters of one connection (all its sessions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meter {
    /// Requests made (one per script run; with `--no-channel` also one per `push`/`pull`).
    pub requests: u64,
    /// Opening and closing sessions: `orbctl run`, the login shell, the agent's handshake,
    /// and waiting for the agents to quit.
    pub sessions: Duration,
    /// Requests in flight: from the first byte sent to the last byte of the reply read
    /// (with `--no-channel`, the life of the `orbctl run`, `push` or `pull` process).
    pub request: Duration,
    /// The part of [`Meter::request`] the machine spent running the scripts, as the
    /// channel sees it: from the agent's line saying a request started (`p ID PID`, or
    /// `t ID` for a probe batch) to its line saying it ended (`r …`, `@@end …`). Both lines
    /// travel the same way, so the transport's latency cancels out.
    pub machine: Duration,
    /// The transport tells the machine's own time apart ([`Meter::machine`] means
    /// something); the one-shot path cannot, its `orbctl run` holds the command.
    pub measured: bool,
    /// Time inside file transfers (`write_file`, `read_file`), their requests included.
    pub transfer: Duration,
    /// Bytes of file content written to or read from the machine.
    pub transfer_bytes: u64,
}

impl Meter {
    /// Count a file transfer that began at `started`, and its bytes when it succeeded
    /// (every transport measures its `write_file`/`read_file` this way).
    pub fn count_transfer<T>(
        &mut self,
        started: Instant,
        done: &Result<T, super::RemoteError>,
        bytes: impl FnOnce(&T) -> u64,
    ) {
        self.transfer += started.elapsed();
        if let Ok(v) = done {
            self.transfer_bytes += bytes(v);
        }
    }

    /// What was spent between `earlier` (a copy of this meter taken before) and now.
    pub fn since(&self, earlier: &Meter) -> Meter {
        Meter {
            requests: self.requests.saturating_sub(earlier.requests),
            sessions: self.sessions.saturating_sub(earlier.sessions),
            request: self.request.saturating_sub(earlier.request),
            machine: self.machine.saturating_sub(earlier.machine),
            measured: self.measured,
            transfer: self.transfer.saturating_sub(earlier.transfer),
            transfer_bytes: self.transfer_bytes.saturating_sub(earlier.transfer_bytes),
        }
    }

    /// Add what `o` spent.
    pub fn add(&mut self, o: &Meter) {
        self.requests += o.requests;
        self.sessions += o.sessions;
        self.request += o.request;
        self.machine += o.machine;
        self.measured |= o.measured;
        self.transfer += o.transfer;
        self.transfer_bytes += o.transfer_bytes;
    }

    /// Time spent waiting on the transport: sessions, plus requests less the machine's
    /// own part of them (all of them when that is not measured).
    pub fn waiting(&self) -> Duration {
        self.sessions + self.request.saturating_sub(self.machine)
    }

    /// Count one request that took `took`, of which the machine ran it for `ran` (when the
    /// transport saw it).
    pub fn count_request(&mut self, took: Duration, ran: Option<Duration>) {
        self.requests += 1;
        self.request += took;
        // The two clocks are read at different points; the machine's part never exceeds
        // the whole.
        self.machine += ran.unwrap_or_default().min(took);
    }

    /// This meter split into `n` equal parts that add up to it exactly ([`split`] for
    /// every counter).
    pub fn split(&self, n: usize) -> Vec<Meter> {
        let requests = split_count(self.requests, n);
        let sessions = split(self.sessions, n);
        let request = split(self.request, n);
        let machine = split(self.machine, n);
        let transfer = split(self.transfer, n);
        let bytes = split_count(self.transfer_bytes, n);
        (0..n)
            .map(|i| Meter {
                requests: requests[i],
                sessions: sessions[i],
                request: request[i],
                machine: machine[i],
                measured: self.measured,
                transfer: transfer[i],
                transfer_bytes: bytes[i],
            })
            .collect()
    }
}

/// The rule by which a batched request's cost is shared: `total` split into `n` parts
/// as equal as nanoseconds allow, the first `total % n` parts one nanosecond longer, so
/// that the parts add up to `total` exactly. No parts for `n == 0`.
pub fn split(total: Duration, n: usize) -> Vec<Duration> {
    let nanos = total.as_nanos().min(u128::from(u64::MAX)) as u64;
    split_count(nanos, n)
        .into_iter()
        .map(Duration::from_nanos)
        .collect()
}

/// `total` split into `n` whole parts that add up to it, the larger ones first.
fn split_count(total: u64, n: usize) -> Vec<u64> {
    let Ok(k) = u64::try_from(n) else {
        return Vec::new();
    };
    if k == 0 {
        return Vec::new();
    }
    let (each, extra) = (total / k, total % k);
    (0..k).map(|i| each + u64::from(i < extra)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_adds_up_to_the_whole_in_parts_at_most_a_nanosecond_apart() {
        for (total, n) in [
            (0u64, 1usize),
            (7, 3),
            (1_000_000, 7),
            (5, 9),
            (u64::MAX, 4),
        ] {
            let parts = split(Duration::from_nanos(total), n);
            assert_eq!(parts.len(), n);
            let sum: u128 = parts.iter().map(|d| d.as_nanos()).sum();
            assert_eq!(sum, u128::from(total), "{total} in {n}");
            let (lo, hi) = (parts.iter().min(), parts.iter().max());
            let gap = hi.unwrap().as_nanos() - lo.unwrap().as_nanos();
            assert!(gap <= 1, "{total} in {n}: {parts:?}");
            // Longer parts first: the step that sent the request gets a remainder first.
            assert!(parts.windows(2).all(|w| w[0] >= w[1]), "{parts:?}");
        }
        assert!(split(Duration::from_secs(1), 0).is_empty());
        assert_eq!(
            split(Duration::from_millis(3), 1),
            [Duration::from_millis(3)]
        );
    }

    #[test]
    fn a_meter_split_keeps_every_counter_whole() {
        let m = Meter {
            requests: 1,
            sessions: Duration::from_millis(30),
            request: Duration::from_micros(2500),
            machine: Duration::from_micros(400),
            measured: true,
            transfer: Duration::ZERO,
            transfer_bytes: 10,
        };
        let parts = m.split(3);
        let mut sum = Meter::default();
        for p in &parts {
            assert!(p.measured);
            sum.add(p);
        }
        assert_eq!(sum, m);
        assert_eq!(parts[0].requests + parts[1].requests + parts[2].requests, 1);
        assert_eq!(parts[0].transfer_bytes, 4);
    }

    #[test]
    fn waiting_is_sessions_and_requests_less_the_machines_part() {
        let mut m = Meter::default();
        m.count_request(Duration::from_millis(10), Some(Duration::from_millis(4)));
        // A machine time read as longer than the request (clock points differ) is capped.
        m.count_request(Duration::from_millis(2), Some(Duration::from_millis(3)));
        m.sessions = Duration::from_millis(20);
        assert_eq!(m.requests, 2);
        assert_eq!(m.machine, Duration::from_millis(6));
        assert_eq!(m.waiting(), Duration::from_millis(26));
        let later = {
            let mut l = m;
            l.count_request(Duration::from_millis(1), None);
            l
        };
        let d = later.since(&m);
        assert_eq!(
            (d.requests, d.request, d.machine),
            (1, Duration::from_millis(1), Duration::ZERO)
        );
    }
}
