//! The estimators over every row of a matrix, rows in parallel (numba's `guvectorize`).

use super::median_of_checked;
use super::select::Pairs;
use crate::{validate, Float, StatsError};
use parmemo_parallel::vectorize::{guvectorize, Target};

/// [`walsh_median`](crate::walsh_median) of each `row_len`-long row of the row-major
/// `data`, rows spread over all cores: one estimate per row, in row order. Each equals
/// what `walsh_median` gives for that row alone.
///
/// # Errors
/// [`StatsError::ZeroRowLen`], [`StatsError::Empty`], [`StatsError::RaggedRows`] for a
/// shape that is not whole rows; [`StatsError::TooFew`] for rows of one value;
/// [`StatsError::NonFinite`] with the index in `data` of the first NaN or infinity.
///
/// ```
/// use parmemo_stats::walsh_median_rows;
/// let data = [1.0_f32, 2.0, 3.0, 4.0, /* row 2 */ 10.0, 20.0, 30.0, 40.0];
/// assert_eq!(walsh_median_rows(&data, 4)?, [2.5, 25.0]);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn walsh_median_rows<T: Float + Default>(
    data: &[T],
    row_len: usize,
) -> Result<Vec<T>, StatsError> {
    rows_of(data, row_len, Pairs::Distinct, "walsh_median")
}

/// [`hodges_lehmann`](crate::hodges_lehmann) of each `row_len`-long row of the
/// row-major `data`, rows spread over all cores.
///
/// # Errors
/// As [`walsh_median_rows`], except that rows of one value are allowed.
///
/// ```
/// use parmemo_stats::hodges_lehmann_rows;
/// let data = [1.0_f64, 2.0, 3.0, /* row 2 */ 5.0, 5.0, 8.0];
/// assert_eq!(hodges_lehmann_rows(&data, 3)?, [2.0, 5.75]);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn hodges_lehmann_rows<T: Float + Default>(
    data: &[T],
    row_len: usize,
) -> Result<Vec<T>, StatsError> {
    rows_of(data, row_len, Pairs::WithSelf, "hodges_lehmann")
}

fn rows_of<T: Float + Default>(
    data: &[T],
    row_len: usize,
    pairs: Pairs,
    what: &'static str,
) -> Result<Vec<T>, StatsError> {
    validate::row_count(data.len(), row_len)?;
    if pairs.count(row_len) == 0 {
        return Err(StatsError::TooFew {
            what,
            needed: 2,
            got: row_len,
        });
    }
    // Checked once for the whole buffer, so the row kernel cannot fail.
    validate::all_finite(data)?;
    let medians = guvectorize(|row: &[T], out: &mut [T]| out[0] = median_of_checked(row, pairs))
        .target(Target::Parallel)
        .apply(data, row_len, 1)?;
    Ok(medians)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{hodges_lehmann, walsh_median};

    #[test]
    fn rows_equal_the_single_sample_estimators() {
        let data: Vec<f32> = (0..30_000_u32)
            .map(|i| ((i * 7919) % 1013) as f32 / 7.0)
            .collect();
        let rows = walsh_median_rows(&data, 100).unwrap();
        let single: Vec<f32> = data.chunks(100).map(|r| walsh_median(r).unwrap()).collect();
        assert_eq!(rows, single);
        let rows = hodges_lehmann_rows(&data, 60).unwrap();
        let single: Vec<f32> = data
            .chunks(60)
            .map(|r| hodges_lehmann(r).unwrap())
            .collect();
        assert_eq!(rows, single);
    }

    #[test]
    fn bad_shapes_and_values_are_errors() {
        assert_eq!(
            walsh_median_rows(&[1.0_f64; 6], 0),
            Err(StatsError::ZeroRowLen)
        );
        assert_eq!(
            walsh_median_rows(&[1.0_f64; 6], 4),
            Err(StatsError::RaggedRows { len: 6, row_len: 4 })
        );
        assert!(matches!(
            walsh_median_rows(&[1.0_f64; 6], 1),
            Err(StatsError::TooFew {
                needed: 2,
                got: 1,
                ..
            })
        ));
        assert_eq!(hodges_lehmann_rows(&[1.0_f64, 3.0], 1), Ok(vec![1.0, 3.0]));
        let mut data = vec![0.5_f32; 40];
        data[33] = f32::NAN;
        assert!(matches!(
            walsh_median_rows(&data, 10),
            Err(StatsError::NonFinite { index: 33, .. })
        ));
    }
}
