//! Wald (z) tests of a mean with known standard deviation, one per sample or per row.
//!
//! The tutorial computed `1 - erf(|mean|)`. That is not this test, for two reasons:
//! it drops the `sqrt(n) / sigma` that turns a mean into a z statistic (so its p-value
//! does not shrink as the sample grows), and it drops the `sqrt(2)` of the normal CDF
//! (`P(|Z| > z) = erfc(z / sqrt 2)`). Also, `1 - erf(x)` rounds to exactly 0 once
//! `erf(x)` rounds to 1 (x > 5.9 in f64): every small p-value becomes 0 and a
//! multiple-testing correction can no longer rank them. `erfc` keeps full relative
//! precision down to about 1e-308.

use crate::{validate, StatsError};
use core::f64::consts::SQRT_2;
use parmemo_parallel::vectorize::{guvectorize, Target};

/// The two-sided p-value of H0: mean = `mu0` for a sample with known `sigma`:
/// `erfc(sqrt(n) |mean - mu0| / (sigma sqrt 2))`.
///
/// # Errors
/// [`StatsError::Empty`] for an empty sample, [`StatsError::NonFinite`] with the index of
/// the first NaN or infinite value, [`StatsError::InvalidSigma`] unless `sigma` is finite
/// and > 0, [`StatsError::NonFiniteParameter`] for a non-finite `mu0`.
///
/// ```
/// use parmemo_stats::wald::z_test;
/// // mean 0.196, n = 100, sigma 1: z = 1.96, the classic 5 % two-sided threshold
/// let sample = vec![0.196; 100];
/// let p = z_test(&sample, 0.0, 1.0)?;
/// assert!((p - 0.05).abs() < 1e-4);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn z_test(sample: &[f64], mu0: f64, sigma: f64) -> Result<f64, StatsError> {
    check_parameters(mu0, sigma)?;
    validate::non_empty(sample, "sample")?;
    let mean = finite_mean(sample, 0)?;
    Ok(p_value(mean, sample.len(), mu0, sigma))
}

/// [`z_test`] on each row of a row-major matrix of `data.len() / row_len` rows: one
/// p-value per row, in row order, rows spread over all cores (numba's `prange` loop of
/// the tutorial). Each equals what `z_test` gives for that row alone.
///
/// # Errors
/// [`StatsError::ZeroRowLen`], [`StatsError::Empty`] or [`StatsError::RaggedRows`] for a
/// shape that does not make whole rows; [`StatsError::NonFinite`] with the index in
/// `data` of the first non-finite value; parameter errors as [`z_test`].
///
/// ```
/// use parmemo_stats::wald::p_values;
/// let data = [0.0, 0.0, 5.0, 5.0]; // two rows of two
/// let p = p_values(&data, 2, 0.0, 1.0)?;
/// assert_eq!(p[0], 1.0);
/// assert!(p[1] < 1e-10);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn p_values(
    data: &[f64],
    row_len: usize,
    mu0: f64,
    sigma: f64,
) -> Result<Vec<f64>, StatsError> {
    check_parameters(mu0, sigma)?;
    validate::row_count(data.len(), row_len)?;
    // A row with a non-finite value gets NaN (no p-value is NaN otherwise), and only then
    // is that row looked at again to name the value: no second pass in the common case.
    let p = guvectorize(|row: &[f64], out: &mut [f64]| {
        out[0] = finite_mean(row, 0).map_or(f64::NAN, |mean| p_value(mean, row_len, mu0, sigma));
    })
    .target(Target::Parallel)
    .apply(data, row_len, 1)?;
    if let Some(row) = p.iter().position(|v| v.is_nan()) {
        let start = row * row_len;
        finite_mean(&data[start..start + row_len], start)?;
    }
    Ok(p)
}

fn check_parameters(mu0: f64, sigma: f64) -> Result<(), StatsError> {
    validate::finite_parameter("mu0", mu0)?;
    validate::sigma(sigma)
}

/// The p-value for a mean already computed from `n` values.
#[inline]
pub(crate) fn p_value(mean: f64, n: usize, mu0: f64, sigma: f64) -> f64 {
    let z = (n as f64).sqrt() * (mean - mu0).abs() / sigma;
    crate::erfc::erfc(z / SQRT_2)
}

/// The mean of a non-empty slice, or the error naming its first non-finite value
/// (`offset` places the slice within the caller's buffer).
///
/// Finiteness comes for free from the sum: a sum of finite values is finite unless it
/// overflows, and only then is the slice scanned again.
pub(crate) fn finite_mean(values: &[f64], offset: usize) -> Result<f64, StatsError> {
    let n = values.len() as f64;
    let sum = sum(values);
    if sum.is_finite() {
        return Ok(sum / n);
    }
    validate::all_finite(values).map_err(|err| match err {
        StatsError::NonFinite { index, value } => StatsError::NonFinite {
            index: index + offset,
            value,
        },
        other => other,
    })?;
    // Every value finite but the sum overflowed: scale first.
    Ok(values.iter().map(|v| v / n).sum())
}

/// A sum with eight independent accumulators: the compiler may not reorder float
/// additions itself, and one dependency chain would leave the vector units idle.
#[inline]
pub(crate) fn sum(values: &[f64]) -> f64 {
    let mut lanes = [0.0_f64; 8];
    let chunks = values.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_z_values() {
        // z = sqrt(25) * 0.4 / 2 = 1
        let p = z_test(&[0.4; 25], 0.0, 2.0).unwrap();
        assert!((p - 0.317_310_507_862_914_1).abs() < 1e-15, "{p}");
        assert_eq!(z_test(&[3.0; 4], 3.0, 1.0), Ok(1.0));
    }

    #[test]
    fn tiny_p_values_keep_their_precision() {
        // z = 10 * 1 = 10: p = erfc(10 / sqrt 2) ~ 1.52e-23, where 1 - erf is 0.
        let p = z_test(&[1.0; 100], 0.0, 1.0).unwrap();
        assert!((p / 1.523_970_604_832_118_6e-23 - 1.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn rows_report_the_flat_index() {
        let mut data = vec![0.0; 12];
        data[7] = f64::NAN;
        assert!(matches!(
            p_values(&data, 4, 0.0, 1.0),
            Err(StatsError::NonFinite { index: 7, .. })
        ));
        assert_eq!(
            p_values(&data, 5, 0.0, 1.0),
            Err(StatsError::RaggedRows {
                len: 12,
                row_len: 5
            })
        );
    }

    #[test]
    fn overflowing_sums_still_give_the_mean() {
        let values = [f64::MAX, f64::MAX];
        assert_eq!(finite_mean(&values, 0), Ok(f64::MAX));
    }

    #[test]
    fn bad_parameters() {
        assert_eq!(
            z_test(&[1.0], 0.0, 0.0),
            Err(StatsError::InvalidSigma { sigma: 0.0 })
        );
        assert!(matches!(
            z_test(&[1.0], f64::NAN, 1.0),
            Err(StatsError::NonFiniteParameter { name: "mu0", .. })
        ));
        assert_eq!(
            z_test(&[], 0.0, 1.0),
            Err(StatsError::Empty { what: "sample" })
        );
    }

    #[test]
    fn lane_sum_matches_plain_sum_on_integers() {
        let values: Vec<f64> = (0..1003).map(f64::from).collect();
        assert_eq!(sum(&values), 1002.0 * 1003.0 / 2.0);
    }
}
