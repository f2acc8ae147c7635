//! Input checks shared by every estimator: one place that decides what "bad input" is.

use crate::{Float, StatsError};

/// Fails with the index of the first NaN or infinite value.
pub(crate) fn all_finite<T: Float>(values: &[T]) -> Result<(), StatsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFinite {
            index,
            value: values[index].to_f64(),
        }),
        None => Ok(()),
    }
}

/// Fails on an empty slice.
pub(crate) fn non_empty<T>(values: &[T], what: &'static str) -> Result<(), StatsError> {
    if values.is_empty() {
        Err(StatsError::Empty { what })
    } else {
        Ok(())
    }
}

/// Checks that `len` values make whole rows of `row_len` and returns the row count.
pub(crate) fn row_count(len: usize, row_len: usize) -> Result<usize, StatsError> {
    if row_len == 0 {
        return Err(StatsError::ZeroRowLen);
    }
    if len == 0 {
        return Err(StatsError::Empty { what: "matrix" });
    }
    if !len.is_multiple_of(row_len) {
        return Err(StatsError::RaggedRows { len, row_len });
    }
    Ok(len / row_len)
}

/// Fails unless `sigma` is a finite, strictly positive standard deviation.
pub(crate) fn sigma(sigma: f64) -> Result<(), StatsError> {
    if sigma.is_finite() && sigma > 0.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidSigma { sigma })
    }
}

/// Fails unless a named parameter is finite.
pub(crate) fn finite_parameter(name: &'static str, value: f64) -> Result<(), StatsError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StatsError::NonFiniteParameter { name, value })
    }
}

/// Fails with the index of the first p-value outside `[0, 1]` (NaN included).
pub(crate) fn p_values(p: &[f64]) -> Result<(), StatsError> {
    non_empty(p, "p-values")?;
    match p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        Some(index) => Err(StatsError::PValueOutOfRange {
            index,
            value: p[index],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_finite_is_reported() {
        let err = all_finite(&[1.0_f32, f32::NAN, f32::INFINITY]).unwrap_err();
        assert!(matches!(err, StatsError::NonFinite { index: 1, value } if value.is_nan()));
    }

    #[test]
    fn rows_must_be_whole() {
        assert_eq!(row_count(10, 5), Ok(2));
        assert_eq!(row_count(10, 0), Err(StatsError::ZeroRowLen));
        assert_eq!(
            row_count(10, 3),
            Err(StatsError::RaggedRows {
                len: 10,
                row_len: 3
            })
        );
        assert_eq!(row_count(0, 3), Err(StatsError::Empty { what: "matrix" }));
    }

    #[test]
    fn sigma_must_be_positive_and_finite() {
        assert!(sigma(1.0).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(sigma(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn p_values_must_be_probabilities() {
        assert!(p_values(&[0.0, 0.5, 1.0]).is_ok());
        assert_eq!(
            p_values(&[0.1, 1.5]),
            Err(StatsError::PValueOutOfRange {
                index: 1,
                value: 1.5
            })
        );
        assert!(matches!(
            p_values(&[f64::NAN]),
            Err(StatsError::PValueOutOfRange { index: 0, .. })
        ));
        assert_eq!(p_values(&[]), Err(StatsError::Empty { what: "p-values" }));
    }
}
