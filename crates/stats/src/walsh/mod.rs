//! The median of Walsh averages and the Hodges-Lehmann estimator, exact in O(n log n).

mod band;
pub(crate) mod keep;
mod rows;
mod select;
pub(crate) mod short;

pub mod reference;

pub use rows::{hodges_lehmann_rows, walsh_median_rows};

use crate::{validate, Float, StatsError};
use select::{median_of_pairs, Pairs};

/// The median of the Walsh averages `(x_i + x_j) / 2` over all pairs `i < j`.
///
/// With an even number of averages it is the mean of the two middle ones, as
/// `numpy.median`. Each average is the correctly rounded midpoint of the two values
/// (no overflow for huge values), and the answer is exactly the value a naive sort of
/// all `n (n - 1) / 2` averages would give, not an approximation of it. A zero median is
/// `+0.0`, whatever the order of the input (zeros of both signs tie in any sort).
///
/// Time is O(n log n) expected and memory O(n): the averages of the sorted sample form
/// a matrix sorted along its rows and columns, and a rank is selected in it without
/// materialising it (Monahan 1984; the algorithm is described in `walsh/README.md`).
/// Samples of up to 160 values take a faster route through the averages themselves
/// (at most 51 KB of them), with the same answer.
///
/// The tutorial this crate retells computes this with a loop that picks element
/// `n / 2` (or the mean of `(n - 1) / 2` and `n / 2` for even `n`) of the sorted
/// averages: it tests the parity of `n`, the sample size, where it should use the
/// number of averages `n (n - 1) / 2`, so it returns a low quantile, not the median.
/// [`reference::walsh_median_tutorial`] reproduces that loop for comparison.
///
/// # Errors
/// [`StatsError::Empty`] for an empty sample, [`StatsError::TooFew`] for a single
/// value (no pair exists), [`StatsError::NonFinite`] with the index of the first NaN or
/// infinite value.
///
/// ```
/// use parmemo_stats::walsh_median;
/// // Averages: 1.5, 2, 2.5, 2.5, 3, 3.5 -> median 2.5
/// assert_eq!(walsh_median(&[1.0_f64, 2.0, 3.0, 4.0])?, 2.5);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn walsh_median<T: Float>(sample: &[T]) -> Result<T, StatsError> {
    median_of_pair_averages(sample, Pairs::Distinct, "walsh_median")
}

/// The Hodges-Lehmann location estimator: the median of `(x_i + x_j) / 2` over
/// `i <= j`, each value paired with itself as well as with the others.
///
/// This is the textbook estimator, and what the tutorial's numpy version computes with
/// `triu_indices` (which keeps the diagonal). Same exactness, time and memory as
/// [`walsh_median`].
///
/// # Errors
/// [`StatsError::Empty`] for an empty sample, [`StatsError::NonFinite`] with the index
/// of the first NaN or infinite value.
///
/// ```
/// use parmemo_stats::hodges_lehmann;
/// // Averages: 1, 1.5, 2, 2, 2.5, 3 -> median 2
/// assert_eq!(hodges_lehmann(&[1.0_f32, 2.0, 3.0])?, 2.0);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn hodges_lehmann<T: Float>(sample: &[T]) -> Result<T, StatsError> {
    median_of_pair_averages(sample, Pairs::WithSelf, "hodges_lehmann")
}

fn median_of_pair_averages<T: Float>(
    sample: &[T],
    pairs: Pairs,
    what: &'static str,
) -> Result<T, StatsError> {
    validate::non_empty(sample, "sample")?;
    validate::all_finite(sample)?;
    if pairs.count(sample.len()) == 0 {
        return Err(StatsError::TooFew {
            what,
            needed: 2,
            got: sample.len(),
        });
    }
    Ok(median_of_checked(sample, pairs))
}

/// The median of the pair averages of a sample already checked: finite, with a pair.
fn median_of_checked<T: Float>(sample: &[T], pairs: Pairs) -> T {
    median_of_pairs(&T::sorted_finite(sample), pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases_by_hand() {
        assert_eq!(walsh_median(&[3.0_f64, 1.0]), Ok(2.0));
        assert_eq!(walsh_median(&[1.0_f64, 2.0, 4.0]), Ok(2.5));
        assert_eq!(hodges_lehmann(&[5.0_f32]), Ok(5.0));
        // 1, 1.5, 2, 2, 2.5 | 3, 5.5, 6, 6.5, 10
        assert_eq!(hodges_lehmann(&[1.0_f64, 2.0, 3.0, 10.0]), Ok(2.75));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(
            walsh_median::<f64>(&[]),
            Err(StatsError::Empty { what: "sample" })
        );
        assert_eq!(
            walsh_median(&[1.0_f32]),
            Err(StatsError::TooFew {
                what: "walsh_median",
                needed: 2,
                got: 1
            })
        );
        assert!(matches!(
            hodges_lehmann(&[0.0, 1.0, f64::NEG_INFINITY]),
            Err(StatsError::NonFinite { index: 2, .. })
        ));
    }

    #[test]
    fn all_ties_terminate_with_the_tied_value() {
        let sample = vec![0.25_f64; 3000];
        assert_eq!(walsh_median(&sample), Ok(0.25));
        assert_eq!(hodges_lehmann(&sample), Ok(0.25));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let sample = [f64::MAX, f64::MAX, -f64::MAX, f64::MAX];
        assert_eq!(
            walsh_median(&sample),
            reference::walsh_median_naive(&sample)
        );
        assert!(walsh_median(&sample).is_ok_and(f64::is_finite));
    }

    #[test]
    fn large_samples_match_the_reference() {
        let sample = crate::test_data::uniform_f64(1500, 7);
        assert_eq!(
            walsh_median(&sample),
            reference::walsh_median_naive(&sample)
        );
        assert_eq!(
            hodges_lehmann(&sample),
            reference::hodges_lehmann_naive(&sample)
        );
    }
}
