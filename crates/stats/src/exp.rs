//! `exp` for the normal density's exponent (never positive), written so that a loop of it
//! compiles to SIMD: no calls, no branches, no table. `f64::exp` is a call into libm,
//! which keeps every loop around it scalar.
//!
//! The classic reduction: `x = k ln 2 + r` with `|r| <= ln 2 / 2`, `e^r` by its Taylor
//! series to degree 13 (truncation below 4e-18 relative), then `2^k` put into the
//! exponent bits. Measured against `f64::exp` over the whole domain: within 1 ulp for
//! normal results (the property test allows 2). Subnormal results are scaled in two
//! steps, so that they are rounded once, as libm rounds them.

use core::f64::consts::LOG2_E;

/// `ln 2` split so that `k * LN2_HI` is exact for every `k` in range.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5 * 2^52`: adding it to a float below 2^51 in magnitude rounds it to an integer,
/// which then sits in the low bits of the sum's representation.
const ROUNDING_SHIFT: f64 = 6_755_399_441_055_744.0;
/// Below this every result is 0 (`exp(-745.2)` is under half the smallest subnormal).
const FLOOR: f64 = -746.0;
/// Results whose exponent is below this are scaled in two steps.
const TWO_STEP: f64 = -1000.0;
const TWO_TO_MINUS_1000: f64 = 9.332_636_185_032_189e-302;

/// `e^x` for `x <= 0` (also `-inf`, giving 0, and NaN, giving NaN).
#[inline(always)]
#[allow(clippy::inline_always)] // it must inline into the SIMD loops that use it
pub(crate) fn exp_nonpositive(x: f64) -> f64 {
    debug_assert!(x <= 0.0 || x.is_nan(), "exp_nonpositive({x})");
    // `max` returns the other operand for NaN; NaN is put back at the end.
    let clamped = x.max(FLOOR);
    let shifted = clamped * LOG2_E + ROUNDING_SHIFT;
    let whole = shifted - ROUNDING_SHIFT;
    let rest = (clamped - whole * LN2_HI) - whole * LN2_LO;
    let mut series = 1.0 / 6_227_020_800.0;
    for coefficient in TAYLOR {
        series = series * rest + coefficient;
    }
    // For a subnormal result, 2^k itself is not a normal float: scale by 2^(k + 1000)
    // (exact), then by 2^-1000 (the one rounding).
    let two_step = whole < TWO_STEP;
    let exponent_source = if two_step {
        shifted - TWO_STEP
    } else {
        shifted
    };
    // The low bits of `exponent_source` hold k (or k + 1000) in two's complement: add
    // the bias and move them into the exponent field; the high bits shift out.
    let scale = f64::from_bits(exponent_source.to_bits().wrapping_add(1023) << 52);
    let post = if two_step { TWO_TO_MINUS_1000 } else { 1.0 };
    let result = series * scale * post;
    if x.is_nan() {
        x
    } else {
        result
    }
}

/// 1/12! down to 1/0!: Horner's coefficients after the leading 1/13!.
const TAYLOR: [f64; 13] = [
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The distance in representable doubles between two non-negative finite values.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    proptest! {
        #[test]
        fn within_two_ulps_of_libm(x in -760.0f64..=0.0) {
            let (ours, libm) = (exp_nonpositive(x), x.exp());
            prop_assert!(ulps(ours, libm) <= 2, "exp({x}): {ours:e} vs {libm:e}");
        }

        #[test]
        fn within_two_ulps_near_zero_and_in_the_subnormal_range(
            x in prop_oneof![-1e-6f64..=0.0, -746.0f64..-700.0],
        ) {
            let (ours, libm) = (exp_nonpositive(x), x.exp());
            prop_assert!(ulps(ours, libm) <= 2, "exp({x}): {ours:e} vs {libm:e}");
        }
    }

    #[test]
    fn edges() {
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-1e300), 0.0);
        assert!(exp_nonpositive(f64::NAN).is_nan());
        assert_eq!(exp_nonpositive(-1.0), (-1.0f64).exp());
        // The smallest subnormal and the last value above it.
        assert_eq!(exp_nonpositive(-745.0), (-745.0f64).exp());
        assert_eq!(exp_nonpositive(-745.2), 0.0);
    }
}
