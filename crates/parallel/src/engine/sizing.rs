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

/// A round trip to a worker process costs tens of microseconds: batches aim at tens of
/// milliseconds (joblib's loky aims at 0.2 s to 2 s).
#[cfg(feature = "processes")]
pub(crate) const PROCESS_TARGET: BatchTarget = BatchTarget {
    min: Duration::from_millis(20),
    max: Duration::from_millis(200),
};

const LARGEST_BATCH: usize = 1 << 20;
/// The most a batch may grow after one far-too-short batch.
const MAX_GROWTH: usize = 16;

pub(crate) struct BatchSizer {
    fixed: Option<usize>,
    size: usize,
    target: BatchTarget,
    workers: usize,
    learn_from_stale: bool,
}

impl BatchSizer {
    /// A sizer; `learn_from_stale` lets batches dispatched before the last change still
    /// grow the size (see [`record`](Self::record)): right for runs that consume their
    /// whole input anyway, wrong for streams, where it would pull far ahead of the
    /// consumer.
    pub(crate) fn new(
        batch: BatchSize,
        target: BatchTarget,
        workers: usize,
        learn_from_stale: bool,
    ) -> Self {
        BatchSizer {
            fixed: match batch {
                BatchSize::Auto => None,
                BatchSize::Fixed(n) => Some(n.max(1)),
            },
            size: 1,
            target,
            workers: workers.max(1),
            learn_from_stale,
        }
    }

    /// The size of the next batch, given the run's total number of tasks when known.
    ///
    /// Each worker gets at least four batches of a known input, so that the end of the
    /// run balances; batch durations are held near the target anyway, so the cap is on
    /// the total, not on what remains (which would end the run in a long tail of ever
    /// smaller batches, each a round trip).
    pub(crate) fn next_size(&self, total: Option<usize>) -> usize {
        if let Some(fixed) = self.fixed {
            return fixed;
        }
        match total {
            Some(total) => self.size.min((total / (4 * self.workers)).max(1)),
            None => self.size,
        }
    }

    /// How many tasks would take `goal`, if `len` took `elapsed`.
    fn size_taking(goal: Duration, len: usize, elapsed: Duration) -> usize {
        let took = elapsed.as_secs_f64().max(1e-9);
        let ideal = (len as f64 * goal.as_secs_f64() / took).min(LARGEST_BATCH as f64);
        // Non-negative and capped just above, so the cast neither wraps nor truncates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ideal = ideal as usize;
        ideal
    }

    /// Learns from a finished batch of `len` tasks that took `elapsed`.
    ///
    /// joblib ignores batches shorter than the current size (dispatched before the last
    /// change). Their per-task time is still informative, though, and ignoring it makes
    /// the ramp-up take one round trip per wave of in-flight batches. So, when the sizer
    /// may learn from them, a short batch that ran far below the target still lets the
    /// size grow from the current one.
    pub(crate) fn record(&mut self, len: usize, elapsed: Duration) {
        if self.fixed.is_some() || len == 0 {
            return;
        }
        let far_below = elapsed * 16 < self.target.min;
        if len < self.size && !(far_below && self.learn_from_stale) {
            return;
        }
        if elapsed < self.target.min {
            let ideal = Self::size_taking(self.target.min, len, elapsed);
            let growth = if far_below { MAX_GROWTH } else { 2 };
            let base = self.size.max(len);
            self.size = (growth * base).min(ideal).clamp(1, LARGEST_BATCH);
        } else if elapsed > self.target.max && len >= 2 {
            let ideal = Self::size_taking(self.target.min, len, elapsed);
            self.size = (2 * ideal).max(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto() -> BatchSizer {
        BatchSizer::new(BatchSize::Auto, THREAD_TARGET, 2, true)
    }

    #[test]
    fn far_too_short_batches_grow_sixteenfold() {
        let mut sizer = auto();
        sizer.record(1, Duration::from_micros(1));
        assert_eq!(sizer.next_size(None), 16);
        sizer.record(16, Duration::from_micros(1));
        assert_eq!(sizer.next_size(None), 256);
    }

    #[test]
    fn nearly_long_enough_batches_double() {
        let mut sizer = auto();
        sizer.size = 10;
        // 10 tasks in 0.5 ms: within 16x of the 2 ms target, ideal 40.
        sizer.record(10, Duration::from_micros(500));
        assert_eq!(sizer.next_size(None), 20);
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
    fn a_known_input_is_spread_over_workers() {
        let mut sizer = auto();
        sizer.size = 1000;
        assert_eq!(sizer.next_size(Some(200)), 25);
        assert_eq!(sizer.next_size(Some(1)), 1);
        assert_eq!(sizer.next_size(Some(1_000_000)), 1000);
    }

    #[test]
    fn short_batches_that_were_far_too_fast_still_teach() {
        let mut sizer = auto();
        sizer.record(1, Duration::from_micros(1));
        assert_eq!(sizer.next_size(None), 16);
        // Dispatched before that change, still one task, still far too fast.
        sizer.record(1, Duration::from_micros(1));
        assert_eq!(sizer.next_size(None), 256);
        // A short batch near the target says nothing new.
        sizer.record(1, Duration::from_millis(1));
        assert_eq!(sizer.next_size(None), 256);
    }

    #[test]
    fn streams_do_not_learn_from_stale_batches() {
        let mut sizer = BatchSizer::new(BatchSize::Auto, THREAD_TARGET, 2, false);
        sizer.record(1, Duration::from_micros(1));
        assert_eq!(sizer.next_size(None), 16);
        sizer.record(1, Duration::from_micros(1));
        assert_eq!(
            sizer.next_size(None),
            16,
            "a stale batch must not pull further ahead"
        );
    }

    #[test]
    fn fixed_sizes_do_not_move() {
        let mut sizer = BatchSizer::new(BatchSize::Fixed(0), THREAD_TARGET, 2, true);
        sizer.record(1, Duration::from_secs(5));
        assert_eq!(sizer.next_size(Some(10)), 1);
    }
}
