//! The fast estimators must equal the naive sort of all pair averages, to the bit (the
//! sign of a zero included: comparisons go through `to_bits`).

use parmemo_stats::reference::{hodges_lehmann_naive, walsh_median_naive};
use parmemo_stats::{hodges_lehmann, walsh_median};
use proptest::prelude::*;

#[path = "../src/test_data.rs"]
mod test_data;

/// Samples that stress the selection: few distinct values (heavy ties), wide ranges of
/// magnitude, both signs.
fn sample_f64() -> impl Strategy<Value = Vec<f64>> {
    let tied = prop::collection::vec((-3_i32..=3).prop_map(f64::from), 1..300);
    let plain = prop::collection::vec(-1.0e3_f64..1.0e3, 1..300);
    let magnitudes = prop::collection::vec(
        (any::<bool>(), -300_i32..300, 1.0_f64..2.0)
            .prop_map(|(neg, exp, m)| if neg { -m } else { m } * 10_f64.powi(exp)),
        1..300,
    );
    let extremes = prop::collection::vec(
        prop::sample::select(vec![
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            -5e-324,
            0.0,
            -0.0,
            1.0,
        ]),
        1..100,
    );
    prop_oneof![tied, plain, magnitudes, extremes]
}

/// A result as its bits, so that `-0.0` and `+0.0` differ.
fn bits64(
    result: Result<f64, parmemo_stats::StatsError>,
) -> Result<u64, parmemo_stats::StatsError> {
    result.map(f64::to_bits)
}

fn bits32(
    result: Result<f32, parmemo_stats::StatsError>,
) -> Result<u32, parmemo_stats::StatsError> {
    result.map(f32::to_bits)
}

fn sample_f32() -> impl Strategy<Value = Vec<f32>> {
    let tied = prop::collection::vec((-2_i16..=2).prop_map(f32::from), 1..300);
    let plain = prop::collection::vec(-1.0e3_f32..1.0e3, 1..300);
    let magnitudes = prop::collection::vec(
        (any::<bool>(), -37_i32..38, 1.0_f32..2.0)
            .prop_map(|(neg, exp, m)| if neg { -m } else { m } * 10_f32.powi(exp)),
        1..300,
    );
    let extremes = prop::collection::vec(
        prop::sample::select(vec![
            f32::MAX,
            -f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            0.0,
            -0.0,
            1.0,
        ]),
        1..100,
    );
    // Magnitudes spread over 2^-30..2: the least and greatest of a sample are on either
    // side of the ratio (2^28) up to which short samples average in f32 arithmetic.
    let binary_ratios = prop::collection::vec(
        (any::<bool>(), -30_i32..2, 1.0_f32..2.0)
            .prop_map(|(neg, exp, m)| if neg { -m } else { m } * 2_f32.powi(exp)),
        1..200,
    );
    prop_oneof![tied, plain, magnitudes, extremes, binary_ratios]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn walsh_median_f64_equals_naive(sample in sample_f64()) {
        prop_assert_eq!(bits64(walsh_median(&sample)), bits64(walsh_median_naive(&sample)));
    }

    #[test]
    fn hodges_lehmann_f64_equals_naive(sample in sample_f64()) {
        prop_assert_eq!(bits64(hodges_lehmann(&sample)), bits64(hodges_lehmann_naive(&sample)));
    }

    #[test]
    fn walsh_median_f32_equals_naive(sample in sample_f32()) {
        prop_assert_eq!(bits32(walsh_median(&sample)), bits32(walsh_median_naive(&sample)));
    }

    #[test]
    fn hodges_lehmann_f32_equals_naive(sample in sample_f32()) {
        prop_assert_eq!(bits32(hodges_lehmann(&sample)), bits32(hodges_lehmann_naive(&sample)));
    }

    #[test]
    fn order_of_the_sample_does_not_matter(
        (sample, shuffled) in sample_f64().prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle()))
    ) {
        prop_assert_eq!(bits64(walsh_median(&sample)), bits64(walsh_median(&shuffled)));
        prop_assert_eq!(bits64(walsh_median_naive(&sample)), bits64(walsh_median_naive(&shuffled)));
    }

    #[test]
    fn shifting_the_sample_shifts_the_estimate(sample in prop::collection::vec(-100_i32..100, 2..200), shift in -50_i32..50) {
        // Integers and halves are exact in f64, so equality is exact here.
        let base: Vec<f64> = sample.iter().map(|&v| f64::from(v)).collect();
        let moved: Vec<f64> = sample.iter().map(|&v| f64::from(v + shift)).collect();
        prop_assert_eq!(walsh_median(&moved)?, walsh_median(&base)? + f64::from(shift));
    }
}

#[test]
fn a_zero_median_is_positive_zero_whatever_the_order() {
    for sample in [
        vec![-0.0_f64, 0.0, -0.0, 0.0],
        vec![0.0, -0.0, 0.0, -0.0],
        vec![-1.0, -0.0, 0.0, 1.0],
        vec![1.0, 0.0, -0.0, -1.0],
    ] {
        assert_eq!(
            walsh_median(&sample).map(f64::to_bits),
            Ok(0.0_f64.to_bits()),
            "{sample:?}"
        );
        assert_eq!(
            hodges_lehmann(&sample).map(f64::to_bits),
            Ok(0.0_f64.to_bits()),
            "{sample:?}"
        );
    }
}

#[test]
fn larger_samples_than_the_properties_cover() {
    for n in [1_000_usize, 2_001] {
        let sample = test_data::uniform_f32(n, n as u64);
        assert_eq!(walsh_median(&sample), walsh_median_naive(&sample));
        assert_eq!(hodges_lehmann(&sample), hodges_lehmann_naive(&sample));
    }
}

/// Rows as the batched estimators see them: every short length, in shapes that move the
/// pivots of the short route's counted rounds around (skew, clusters, ties, a gap), each
/// estimate equal to the naive sort's.
#[test]
#[allow(clippy::cast_possible_truncation)] // samples of f64 draws, rounded to f32
fn short_f32_samples_of_many_shapes_equal_the_naive() {
    let shapes: [fn(f64, f64) -> f32; 6] = [
        |u, _| u as f32,
        |u, v| ((u + v) * 50.0) as f32,
        |u, _| (-(1.0 - u).ln() * 3.0) as f32,
        |u, v| {
            if v < 0.3 {
                u as f32 * 0.01
            } else {
                100.0 + u as f32
            }
        },
        |u, _| (u * 8.0).round() as f32 / 8.0,
        |u, v| if v < 0.5 { -(u as f32) } else { 1e4 * u as f32 },
    ];
    for n in (2..=160).step_by(3).chain([100, 128, 129, 160]) {
        for (index, shape) in (0..3).flat_map(|_| shapes.iter()).enumerate() {
            let mut draws = test_data::draws((n * 100 + index) as u64)
                .map(|draw| (draw >> 11) as f64 / (1_u64 << 53) as f64);
            let sample: Vec<f32> = (0..n)
                .map(|_| shape(draws.next().unwrap_or(0.5), draws.next().unwrap_or(0.5)))
                .collect();
            assert_eq!(
                bits32(walsh_median(&sample)),
                bits32(walsh_median_naive(&sample)),
                "walsh, n = {n}, shape {}",
                index % shapes.len()
            );
            assert_eq!(
                bits32(hodges_lehmann(&sample)),
                bits32(hodges_lehmann_naive(&sample)),
                "hodges-lehmann, n = {n}, shape {}",
                index % shapes.len()
            );
        }
    }
}
