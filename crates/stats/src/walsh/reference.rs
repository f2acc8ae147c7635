//! Naive reference implementations: every pair average materialised and sorted.
//!
//! O(n^2) memory and O(n^2 log n) time. They exist to pin the fast estimators down in
//! tests and to measure the speed-up in benchmarks; use [`walsh_median`](crate::walsh_median)
//! and [`hodges_lehmann`](crate::hodges_lehmann) for real work.

use super::select::Pairs;
use crate::{validate, Float, StatsError};

fn sorted_pair_averages<T: Float>(sample: &[T], pairs: Pairs) -> Vec<T> {
    let mut averages = Vec::with_capacity(pairs.count(sample.len()));
    for (i, &a) in sample.iter().enumerate() {
        let partners = match pairs {
            Pairs::Distinct => &sample[i + 1..],
            Pairs::WithSelf => &sample[i..],
        };
        averages.extend(partners.iter().map(|&b| T::midpoint(a, b)));
    }
    averages.sort_unstable_by(T::cmp_finite);
    averages
}

fn checked<T: Float>(sample: &[T], pairs: Pairs, what: &'static str) -> Result<Vec<T>, StatsError> {
    validate::non_empty(sample, "sample")?;
    validate::all_finite(sample)?;
    let averages = sorted_pair_averages(sample, pairs);
    if averages.is_empty() {
        return Err(StatsError::TooFew {
            what,
            needed: 2,
            got: sample.len(),
        });
    }
    Ok(averages)
}

fn median_of_sorted<T: Float>(sorted: &[T]) -> T {
    let count = sorted.len();
    let median = if count % 2 == 1 {
        sorted[count / 2]
    } else {
        T::midpoint(sorted[count / 2 - 1], sorted[count / 2])
    };
    median.positive_zero()
}

/// [`walsh_median`](crate::walsh_median), computed by sorting all `n (n - 1) / 2`
/// averages. Same answer, same errors.
///
/// # Errors
/// As [`walsh_median`](crate::walsh_median).
///
/// ```
/// use parmemo_stats::{walsh_median, reference::walsh_median_naive};
/// let sample = [0.3_f32, 0.9, 0.1, 0.4, 0.7];
/// assert_eq!(walsh_median_naive(&sample), walsh_median(&sample));
/// ```
pub fn walsh_median_naive<T: Float>(sample: &[T]) -> Result<T, StatsError> {
    checked(sample, Pairs::Distinct, "walsh_median").map(|sorted| median_of_sorted(&sorted))
}

/// [`hodges_lehmann`](crate::hodges_lehmann), computed by sorting all `n (n + 1) / 2`
/// averages. Same answer, same errors.
///
/// # Errors
/// As [`hodges_lehmann`](crate::hodges_lehmann).
///
/// ```
/// use parmemo_stats::{hodges_lehmann, reference::hodges_lehmann_naive};
/// let sample = [0.3_f64, 0.9, 0.1, 0.4];
/// assert_eq!(hodges_lehmann_naive(&sample), hodges_lehmann(&sample));
/// ```
pub fn hodges_lehmann_naive<T: Float>(sample: &[T]) -> Result<T, StatsError> {
    checked(sample, Pairs::WithSelf, "hodges_lehmann").map(|sorted| median_of_sorted(&sorted))
}

/// The tutorial's loop, mistake included, kept to show what it returned.
///
/// It sorts the `n (n - 1) / 2` Walsh averages and then picks element `n / 2` (for an
/// even `n`, the mean of elements `(n - 1) / 2` and `n / 2`): it tests the parity of
/// the sample size `n` instead of the number of averages, so for n = 1 000 it returns
/// roughly the 0.1 % quantile of the averages, not their median.
///
/// # Errors
/// As [`walsh_median`](crate::walsh_median).
///
/// ```
/// use parmemo_stats::{walsh_median, reference::walsh_median_tutorial};
/// let sample: Vec<f64> = (0..100).map(f64::from).collect();
/// assert_eq!(walsh_median(&sample)?, 49.5);
/// assert_eq!(walsh_median_tutorial(&sample)?, 7.0); // the 1 % quantile, not the median
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn walsh_median_tutorial<T: Float>(sample: &[T]) -> Result<T, StatsError> {
    let sorted = checked(sample, Pairs::Distinct, "walsh_median")?;
    let n = sample.len();
    Ok(if n.is_multiple_of(2) {
        T::midpoint(sorted[(n - 1) / 2], sorted[n / 2])
    } else {
        sorted[n / 2]
    })
}
