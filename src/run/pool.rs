//! The one worker pool: a fixed number of scoped threads taking items from a shared queue.
//! The work waits on processes (orbctl, sessions), not on the CPU, so plain threads are
//! the right tool; `std::thread::scope` lets the work borrow what the caller owns.
//! `apply` runs its machines here, `exec` its command, reconcile its machine actions.

use std::sync::{Condvar, Mutex, PoisonError};

/// Do `work` on every item on at most `workers` threads; the results in the order of the
/// items. A panic in `work` is the caller's, once every thread has stopped.
pub fn map<T, R, F>(items: Vec<T>, workers: usize, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let total = items.len();
    if total == 0 {
        return Vec::new();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers.clamp(1, total))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        // A poisoned queue only means another worker panicked; that
                        // panic is raised below, once every worker has stopped.
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                        let Some((i, item)) = next else { break };
                        mine.push((i, work(item)));
                    }
                    mine
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// At most `max` holders at once, among the workers of a pool (reconcile: creates are
/// heavy on OrbStack, so only a few run together while starts and stops go on).
pub struct Throttle {
    max: usize,
    held: Mutex<usize>,
    freed: Condvar,
}

impl Throttle {
    /// A limit of `max` (at least 1).
    pub fn new(max: usize) -> Throttle {
        Throttle {
            max: max.max(1),
            held: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Run `f` once fewer than `max` others are running under this limit.
    pub fn hold<R>(&self, f: impl FnOnce() -> R) -> R {
        {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            while *held >= self.max {
                held = self
                    .freed
                    .wait(held)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            *held += 1;
        }
        // Released even when `f` panics, so the other workers do not wait forever.
        let _release = Release(self);
        f()
    }
}

struct Release<'l>(&'l Throttle);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let mut held = self.0.held.lock().unwrap_or_else(PoisonError::into_inner);
        *held -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn results_come_in_item_order_with_at_most_n_at_once() {
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = map((0..20).collect(), 3, |i: u64| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5 * (i % 3)));
            now.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert!(map(Vec::<u8>::new(), 4, |i| i).is_empty());
    }

    #[test]
    fn a_limit_holds_back_the_others() {
        let limit = Throttle::new(2);
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        map((0..8).collect(), 8, |_: u8| {
            limit.hold(|| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
                now.fetch_sub(1, Ordering::SeqCst);
            })
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
