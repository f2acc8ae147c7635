//! Automatic batch sizing, after joblib's `AutoBatchingMixin`: grow the batch while a
//! batch finishes faster than the target, shrink it when one takes far longer, so that
//! tiny tasks amortize the cost of a dispatch and long ones still balance.

use std::time::Duration;

/// How many tasks go into one batch.
///
/// ```
/// use parmemo_parallel::{BatchSize, Parallel};
/// let squares = Parallel::new().batch_size(BatchSize::Fixed(64)).map(|x: u64| x * x, 0..1000)?;
/// assert_eq!(squares[999], 998_001);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchSize {
    /// Adapt to the measured task duration (the default), as joblib's `"auto"`.
    #[default]
    Auto,
    /// Always this many tasks per batch (0 is read as 1).
    Fixed(usize),
}

/// The batch durations the sizer aims between, for one kind of backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchTarget {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

/// In-process dispatch costs a few microseconds per batch, so a couple of milliseconds
/// per batch keeps that under 1 % while leaving many batches to balance with.
pub(crate) const THREAD_TARGET: BatchTarget = BatchTarget {
    min: Duration::from_millis(2),
    max: Duration::from_millis(20),
};

const LARGEST_BATCH: usize = 1 << 20;

pub(crate) struct BatchSizer {
    fixed: Option<usize>,
    size: usize,
    target: BatchTarget,
    workers: usize,
}

impl BatchSizer {
    pub(crate) fn new(batch: BatchSize, target: BatchTarget, workers: usize) -> Self {
        BatchSizer {
            fixed: match batch {
                BatchSize::Auto => None,
                BatchSize::Fixed(n) => Some(n.max(1)),
            },
            size: 1,
            target,
            workers: workers.max(1),
        }
    }

    /// The size of the next batch, given how many tasks remain when that is known.
    pub(crate) fn next_size(&self, remaining: Option<usize>) -> usize {
        if let Some(fixed) = self.fixed {
            return fixed;
        }
        match remaining {
            // Leave each worker a few batches of what is left, so that the end of the
            // run balances instead of waiting on one long batch.
            Some(left) => self.size.min((left / (2 * self.workers)).max(1)),
            None => self.size,
        }
    }

    /// Learns from a finished batch of `len` tasks that took `elapsed`.
    pub(crate) fn record(&mut self, len: usize, elapsed: Duration) {
        if self.fixed.is_some() || len < self.size {
            // A batch cut short by the end of the input says little about the size.
            return;
        }
        let took = elapsed.as_secs_f64().max(1e-9);
        let min = self.target.min.as_secs_f64();
        if elapsed < self.target.min {
            let ideal = (len as f64 * min / took) as usize;
            self.size = (2 * len).min(ideal.max(1)).clamp(1, LARGEST_BATCH);
        } else if elapsed > self.target.max && len >= 2 {
            let ideal = (len as f64 * min / took) as usize;
            self.size = (2 * ideal).max(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto() -> BatchSizer {
        BatchSizer::new(BatchSize::Auto, THREAD_TARGET, 2)
    }

    #[test]
    fn fast_batches_double() {
        let mut sizer = auto();
        sizer.record(1, Duration::from_micros(1));
        assert_eq!(sizer.next_size(None), 2);
        sizer.record(2, Duration::from_micros(1));
        assert_eq!(sizer.next_size(None), 4);
    }

    #[test]
    fn growth_stops_near_the_target() {
        let mut sizer = auto();
        sizer.size = 1000;
        // 1000 tasks in 1.5 ms: the ideal for 2 ms is 1333, below the doubling.
        sizer.record(1000, Duration::from_micros(1500));
        assert_eq!(sizer.next_size(None), 1333);
    }

    #[test]
    fn slow_batches_shrink() {
        let mut sizer = auto();
        sizer.size = 64;
        sizer.record(64, Duration::from_millis(640));
        assert_eq!(sizer.next_size(None), 1);
    }

    #[test]
    fn the_end_of_the_input_is_spread_over_workers() {
        let mut sizer = auto();
        sizer.size = 1000;
        assert_eq!(sizer.next_size(Some(100)), 25);
        assert_eq!(sizer.next_size(Some(1)), 1);
    }

    #[test]
    fn fixed_sizes_do_not_move() {
        let mut sizer = BatchSizer::new(BatchSize::Fixed(0), THREAD_TARGET, 2);
        sizer.record(1, Duration::from_secs(5));
        assert_eq!(sizer.next_size(Some(10)), 1);
    }
}
