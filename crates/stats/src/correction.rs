//! Multiple-testing corrections: adjusted p-values, as statsmodels' `multipletests`.
//!
//! Each function takes raw p-values and returns adjusted ones in the same (input)
//! order, capped at 1; reject H0 number `i` at level alpha when `adjusted[i] <= alpha`.

use crate::{validate, StatsError};

/// Bonferroni: `min(1, m p)`. Controls the family-wise error rate under any dependence.
///
/// # Errors
/// [`StatsError::Empty`] for no p-values, [`StatsError::PValueOutOfRange`] with the
/// index of the first value outside `[0, 1]` (or NaN).
///
/// ```
/// use parmemo_stats::correction::bonferroni;
/// assert_eq!(bonferroni(&[0.01, 0.2, 0.5])?, vec![0.03, 0.6000000000000001, 1.0]);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn bonferroni(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    validate::p_values(p)?;
    let m = p.len() as f64;
    Ok(p.iter().map(|&v| (v * m).min(1.0)).collect())
}

/// Holm's step-down method: with p sorted ascending, `max_{j <= i} min(1, (m - j) p_(j))`.
/// Controls the family-wise error rate like Bonferroni and is never less powerful.
///
/// # Errors
/// As [`bonferroni`].
///
/// ```
/// use parmemo_stats::correction::holm;
/// let adjusted = holm(&[0.01, 0.04, 0.03])?;
/// assert_eq!(adjusted, vec![0.03, 0.06, 0.06]);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn holm(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    validate::p_values(p)?;
    let m = p.len();
    let order = ascending_order(p);
    let mut adjusted = vec![0.0; m];
    let mut running_max = 0.0_f64;
    for (position, &index) in order.iter().enumerate() {
        let raw = ((m - position) as f64 * p[index]).min(1.0);
        running_max = running_max.max(raw);
        adjusted[index] = running_max;
    }
    Ok(adjusted)
}

/// Benjamini-Hochberg: with p sorted ascending, `min_{j >= i} min(1, m p_(j) / (j + 1))`.
/// Controls the false discovery rate for independent or positively dependent tests.
///
/// # Errors
/// As [`bonferroni`].
///
/// ```
/// use parmemo_stats::correction::benjamini_hochberg;
/// let adjusted = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.5])?;
/// assert_eq!(adjusted, vec![0.04, 0.05333333333333334, 0.05333333333333334, 0.5]);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
pub fn benjamini_hochberg(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    validate::p_values(p)?;
    let m = p.len();
    let order = ascending_order(p);
    let mut adjusted = vec![0.0; m];
    let mut running_min = 1.0_f64;
    for (position, &index) in order.iter().enumerate().rev() {
        let raw = p[index] * m as f64 / (position + 1) as f64;
        running_min = running_min.min(raw);
        adjusted[index] = running_min;
    }
    Ok(adjusted)
}

/// Indices that sort `p` ascending; stable, so tied p-values keep their input order
/// (as numpy's `argsort(kind="mergesort")` in statsmodels).
fn ascending_order(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{actual:?} != {expected:?}");
        }
    }

    // Ten p-values from Benjamini & Hochberg (1995), table 1 (the first ten of fifteen),
    // adjusted by hand as statsmodels does with m = 10.
    const BH_1995: [f64; 10] = [
        0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
    ];

    #[test]
    fn bonferroni_scales_and_caps() {
        assert_close(
            &bonferroni(&BH_1995).unwrap()[..4],
            &[0.001, 0.004, 0.019, 0.095],
        );
        assert_eq!(bonferroni(&BH_1995).unwrap()[9], 1.0);
    }

    #[test]
    fn holm_hand_worked() {
        // (10 - j) p_(j): 0.001, 0.0036, 0.0152, 0.0665, 0.1206, 0.139, 0.1192 -> max
        // keeps 0.139, 0.1032 -> 0.139, 0.0918 -> 0.139, 0.324.
        let expected = [
            0.001, 0.0036, 0.0152, 0.0665, 0.1206, 0.139, 0.139, 0.139, 0.139, 0.324,
        ];
        assert_close(&holm(&BH_1995).unwrap(), &expected);
    }

    #[test]
    fn benjamini_hochberg_hand_worked() {
        // 10 p_(j) / (j + 1), then a running minimum from the top.
        let raw: Vec<f64> = BH_1995
            .iter()
            .enumerate()
            .map(|(j, p)| p * 10.0 / (j + 1) as f64)
            .collect();
        let mut expected = raw.clone();
        for j in (0..9).rev() {
            expected[j] = expected[j].min(expected[j + 1]);
        }
        assert_close(&benjamini_hochberg(&BH_1995).unwrap(), &expected);
        // The paper's conclusion on all fifteen at q = 0.05: four discoveries.
        let all_fifteen: Vec<f64> = BH_1995
            .iter()
            .copied()
            .chain([0.4262, 0.5719, 0.6528, 0.7590, 1.0])
            .collect();
        let discoveries = benjamini_hochberg(&all_fifteen)
            .unwrap()
            .iter()
            .filter(|&&q| q <= 0.05)
            .count();
        assert_eq!(discoveries, 4);
    }

    #[test]
    fn input_order_is_kept() {
        let shuffled = [0.0298, 0.0001, 0.3240, 0.0095];
        let sorted = [0.0001, 0.0095, 0.0298, 0.3240];
        let from_shuffled = holm(&shuffled).unwrap();
        let from_sorted = holm(&sorted).unwrap();
        assert_eq!(from_shuffled[1], from_sorted[0]);
        assert_eq!(from_shuffled[0], from_sorted[2]);
    }

    #[test]
    fn adjusted_values_are_monotone_in_raw_order() {
        let p = [0.5, 0.01, 0.02, 0.02, 0.9, 0.001, 0.04];
        for adjust in [bonferroni, holm, benjamini_hochberg] {
            let adjusted = adjust(&p).unwrap();
            let order = ascending_order(&p);
            for pair in order.windows(2) {
                assert!(adjusted[pair[0]] <= adjusted[pair[1]]);
            }
            assert!(adjusted
                .iter()
                .zip(&p)
                .all(|(a, raw)| a >= raw && *a <= 1.0));
        }
    }

    #[test]
    fn invalid_p_values_are_rejected() {
        for adjust in [bonferroni, holm, benjamini_hochberg] {
            assert_eq!(adjust(&[]), Err(StatsError::Empty { what: "p-values" }));
            assert_eq!(
                adjust(&[0.1, -0.2]),
                Err(StatsError::PValueOutOfRange {
                    index: 1,
                    value: -0.2
                })
            );
        }
    }
}
