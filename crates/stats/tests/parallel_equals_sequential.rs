//! The row-wise and slice kernels run in parallel; each value must equal what the
//! single-sample function gives, on inputs large enough to take the parallel path.

use parmemo_stats::{hodges_lehmann, wald, walsh_median, walsh_median_rows, Normal, StatsError};

#[path = "../src/test_data.rs"]
mod test_data;

/// Values around zero, both signs.
fn values(n: usize, seed: u64) -> Vec<f64> {
    test_data::uniform_f64(n, seed)
        .into_iter()
        .map(|value| value - 0.45)
        .collect()
}

#[test]
fn p_values_equal_one_z_test_per_row() {
    let data = values(2_000 * 50, 1);
    let p = wald::p_values(&data, 50, 0.0, 1.0).unwrap();
    let one_by_one: Vec<f64> = data
        .chunks(50)
        .map(|row| wald::z_test(row, 0.0, 1.0).unwrap())
        .collect();
    assert_eq!(p, one_by_one);
}

#[test]
fn p_values_name_the_first_bad_value_in_parallel_too() {
    let mut data = values(2_000 * 50, 2);
    data[77_777] = f64::INFINITY;
    data[90_000] = f64::NAN;
    assert!(matches!(
        wald::p_values(&data, 50, 0.0, 1.0),
        Err(StatsError::NonFinite { index: 77_777, .. })
    ));
}

#[test]
fn pdf_slice_equals_the_scalar_density() {
    let normal = Normal::new(0.3, 1.7).unwrap();
    let points: Vec<f64> = values(100_000, 3).iter().map(|v| 10.0 * v).collect();
    let parallel = normal.pdf_slice(&points).unwrap();
    let scalar: Vec<f64> = points.iter().map(|&x| normal.pdf(x)).collect();
    assert_eq!(parallel, scalar);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    // The SIMD kernel against the textbook formula with libm's `exp`, over the tails
    // (where the density underflows through the subnormals) and any mean and sigma.
    #[test]
    fn pdf_slice_is_within_three_ulps_of_the_textbook_density(
        mu in -50.0f64..50.0,
        sigma in 1e-3f64..1e3,
        spread in 1.0f64..60.0,
        seed in 0u64..1_000,
    ) {
        let normal = Normal::new(mu, sigma).unwrap();
        let points: Vec<f64> = values(20_000, seed).iter().map(|v| mu + spread * sigma * v).collect();
        let densities = normal.pdf_slice(&points).unwrap();
        // z and the scale computed as `Normal` does: far in the tails a one-ulp change
        // of z moves the density by z^2 ulps, which would hide what is tested here.
        let (inv_sigma, scale) = (1.0 / sigma, 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt()));
        for (&x, &ours) in points.iter().zip(&densities) {
            let z = (x - mu) * inv_sigma;
            let textbook = scale * (-0.5 * z * z).exp();
            let ulps = ours.to_bits().abs_diff(textbook.to_bits());
            proptest::prop_assert!(ulps <= 3, "pdf({x}) = {ours:e}, textbook {textbook:e}");
        }
    }
}

#[test]
fn pdf_slice_names_the_first_non_finite_point() {
    let mut points = values(100_000, 4);
    points[60_001] = f64::NEG_INFINITY;
    points[99_000] = f64::NAN;
    assert_eq!(
        Normal::standard().pdf_slice(&points),
        Err(StatsError::NonFinite {
            index: 60_001,
            value: f64::NEG_INFINITY
        })
    );
}

#[test]
fn walsh_rows_equal_single_samples_for_f64_too() {
    let data = values(400 * 75, 5);
    let rows = walsh_median_rows(&data, 75).unwrap();
    for (row, estimate) in data.chunks(75).zip(&rows) {
        assert_eq!(walsh_median(row).unwrap(), *estimate);
    }
    let hl = parmemo_stats::hodges_lehmann_rows(&data, 75).unwrap();
    assert_eq!(hl[17], hodges_lehmann(&data[17 * 75..18 * 75]).unwrap());
}
