//! The floating-point types the estimators accept.

use core::fmt::{Debug, Display};

/// The bits of a float as an unsigned integer in the order of `total_cmp`: positive
/// values get the sign bit set, negative ones all bits flipped.
fn order_key_32(value: f32) -> u32 {
    let bits = value.to_bits();
    if bits >> 31 == 0 {
        bits | 1 << 31
    } else {
        !bits
    }
}

fn from_order_key_32(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 {
        key & !(1 << 31)
    } else {
        !key
    })
}

fn order_key_64(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 0 {
        bits | 1 << 63
    } else {
        !bits
    }
}

fn from_order_key_64(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

mod sealed {
    use super::{from_order_key_32, from_order_key_64, order_key_32, order_key_64};

    /// The crate's own operations on its two float types, kept out of the public API.
    pub trait Sealed: crate::walsh::keep::KeepBetween {
        /// The nearest value of the type (for pivots, where any value will do).
        fn from_f64_rounded(value: f64) -> Self;
        /// `(a + b) * 0.5` in the type's own arithmetic: for `f32`, twice the lanes of
        /// the `f64` route of `plain_midpoint`.
        fn half_sum(a: Self, b: Self) -> Self;
        /// Whether [`half_sum`](Self::half_sum) equals `plain_midpoint` for every pair of
        /// values of the sorted, finite `sample`.
        fn half_sum_is_midpoint(sorted: &[Self]) -> bool;
        /// The finite `values`, sorted ascending (zeros of both signs in either order).
        fn sorted_finite(values: &[Self]) -> Vec<Self>;
    }
    impl Sealed for f32 {
        fn from_f64_rounded(value: f64) -> f32 {
            // Rounding to the nearest f32 is the point.
            #[allow(clippy::cast_possible_truncation)]
            let rounded = value as f32;
            rounded
        }
        fn sorted_finite(values: &[f32]) -> Vec<f32> {
            // As integers: the comparisons of a sort are then single instructions, and
            // a row of up to 128 is sorted in AVX2 registers (`small_sort.rs`). The keys'
            // vector becomes the result's (same layout: collected in place).
            let mut keys: Vec<u32> = values.iter().map(|v| order_key_32(*v)).collect();
            crate::small_sort::sort_keys(&mut keys);
            keys.into_iter().map(from_order_key_32).collect()
        }
        #[inline]
        fn half_sum(a: f32, b: f32) -> f32 {
            (a + b) * 0.5
        }
        /// `plain_midpoint` rounds the `f64` sum `S` of two `f32`s to half; `half_sum`
        /// rounds `S` to `f32`, then halves. Where `S` is exact in `f64` the two agree:
        /// if `S` is an `f32` both are one rounding of `S / 2`; if not, `|S| >= 2^-125`
        /// (smaller sums of `f32`s are multiples of 2^-149 that `f32` holds), so `S / 2`
        /// is normal, and halving commutes with rounding there. `S` is exact when the
        /// sample's largest magnitude `M` is at most 2^28 times its least non-zero one
        /// `m`: both values are multiples of `ulp(m) > m 2^-24`, and `|S| <= 2M <=
        /// 2^29 m < 2^53 ulp(m)`. And `M <= f32::MAX / 2` keeps `a + b` finite.
        fn half_sum_is_midpoint(sorted: &[f32]) -> bool {
            let largest = match (sorted.first(), sorted.last()) {
                (Some(first), Some(last)) => first.abs().max(last.abs()),
                _ => return true,
            };
            // Sorted: the least non-zero magnitude is next to the zeros (or where they
            // would be), found by two binary searches.
            let negatives = sorted.partition_point(|value| *value < 0.0);
            let non_positives = sorted.partition_point(|value| *value <= 0.0);
            let least = sorted[..negatives]
                .last()
                .map_or(f32::INFINITY, |value| value.abs())
                .min(sorted.get(non_positives).copied().unwrap_or(f32::INFINITY));
            largest <= f32::MAX / 2.0
                && (least == f32::INFINITY || largest <= least * 268_435_456.0)
        }
    }
    impl Sealed for f64 {
        fn from_f64_rounded(value: f64) -> f64 {
            value
        }
        fn sorted_finite(values: &[f64]) -> Vec<f64> {
            // As integers: the comparisons of a sort are then single instructions, and
            // the standard library's small-sort networks apply. The keys' vector becomes
            // the result's (same layout: collected in place).
            let mut keys: Vec<u64> = values.iter().map(|v| order_key_64(*v)).collect();
            keys.sort_unstable();
            keys.into_iter().map(from_order_key_64).collect()
        }
        #[inline]
        fn half_sum(a: f64, b: f64) -> f64 {
            (a + b) * 0.5
        }
        /// `(a + b) * 0.5` and `(a + b) / 2.0` are the same rounding of the same value.
        fn half_sum_is_midpoint(sorted: &[f64]) -> bool {
            let within = |value: Option<&f64>| value.is_none_or(|v| v.abs() <= f64::MAX / 2.0);
            within(sorted.first()) && within(sorted.last())
        }
    }
}

/// A floating-point sample type: `f32` or `f64`.
///
/// Sealed: the estimators' exactness argument relies on IEEE-754 rounding, which only
/// these two types are known to provide.
///
/// ```
/// use parmemo_stats::Float;
/// assert_eq!(Float::midpoint(1.0_f32, 2.0), 1.5);
/// assert_eq!(Float::midpoint(f64::MAX, f64::MAX), f64::MAX); // no overflow
/// ```
pub trait Float:
    sealed::Sealed + Copy + PartialOrd + Send + Sync + Debug + Display + 'static
{
    /// `(a + b) / 2`, rounded, without overflow.
    ///
    /// It is a rounding of a function that increases in both arguments, through
    /// operations that each round monotonically, so it is itself non-decreasing in both:
    /// the property the sorted-matrix selection of [`walsh_median`](crate::walsh_median)
    /// depends on. For `f64` it is the correctly rounded midpoint; `f32` computes it in
    /// `f64` and rounds once more, which can differ from a correct rounding only on rare
    /// double-rounding ties and is just as monotone.
    #[must_use]
    fn midpoint(a: Self, b: Self) -> Self;
    /// The same value as [`midpoint`](Self::midpoint) whenever both `|a|` and `|b|` are at
    /// most [`PLAIN_MIDPOINT_LIMIT`](Self::PLAIN_MIDPOINT_LIMIT), with no branch: the form
    /// the compiler can vectorize.
    #[must_use]
    fn plain_midpoint(a: Self, b: Self) -> Self;
    /// The largest magnitude for which [`plain_midpoint`](Self::plain_midpoint) cannot
    /// overflow.
    const PLAIN_MIDPOINT_LIMIT: Self;
    /// Positive zero.
    const ZERO: Self;
    /// The value, with a negative zero made positive: a median whose middle values are
    /// zeros of either sign is `+0.0` whatever the order of the input.
    #[must_use]
    #[inline]
    fn positive_zero(self) -> Self {
        if self == Self::ZERO {
            Self::ZERO
        } else {
            self
        }
    }
    /// The absolute value.
    #[must_use]
    fn abs(self) -> Self;
    /// `true` unless the value is NaN or infinite.
    fn is_finite(self) -> bool;
    /// The value widened to `f64` (exactly, for both types).
    fn to_f64(self) -> f64;
    /// The total order of IEEE-754 (`-0.0 < +0.0`).
    fn total_cmp(&self, other: &Self) -> core::cmp::Ordering;
    /// The order of finite values by plain comparison (`-0.0` ties with `+0.0`), cheaper
    /// than [`total_cmp`](Self::total_cmp) in sorts; never called with NaN, which would
    /// tie with everything.
    #[inline]
    fn cmp_finite(&self, other: &Self) -> core::cmp::Ordering {
        self.partial_cmp(other)
            .unwrap_or(core::cmp::Ordering::Equal)
    }
}

impl Float for f64 {
    const PLAIN_MIDPOINT_LIMIT: f64 = f64::MAX / 2.0;
    const ZERO: f64 = 0.0;

    #[inline]
    fn midpoint(a: f64, b: f64) -> f64 {
        if a.abs() <= Self::PLAIN_MIDPOINT_LIMIT && b.abs() <= Self::PLAIN_MIDPOINT_LIMIT {
            // a + b cannot overflow; when the sum is tiny it is exact, so the halving
            // rounds once: correctly rounded either way.
            Self::plain_midpoint(a, b)
        } else {
            // |a| or |b| is huge: halving it is exact, and a tiny partner's rounding
            // is far below half an ulp of the result.
            a / 2.0 + b / 2.0
        }
    }
    // `f64::midpoint` is exactly what this must not be: it branches on magnitudes.
    #[allow(clippy::manual_midpoint)]
    #[inline]
    fn plain_midpoint(a: f64, b: f64) -> f64 {
        (a + b) / 2.0
    }
    #[inline]
    fn abs(self) -> f64 {
        f64::abs(self)
    }
    #[inline]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn total_cmp(&self, other: &f64) -> core::cmp::Ordering {
        f64::total_cmp(self, other)
    }
}

impl Float for f32 {
    /// Two `f32` never overflow in `f64`.
    const PLAIN_MIDPOINT_LIMIT: f32 = f32::MAX;
    const ZERO: f32 = 0.0;

    #[inline]
    fn midpoint(a: f32, b: f32) -> f32 {
        Self::plain_midpoint(a, b)
    }
    #[inline]
    fn plain_midpoint(a: f32, b: f32) -> f32 {
        // f64 cannot overflow here and halving in f64 is exact; every step rounds
        // monotonically. The final narrowing is the point of the computation.
        #[allow(clippy::cast_possible_truncation, clippy::manual_midpoint)]
        let midpoint = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
        midpoint
    }
    #[inline]
    fn abs(self) -> f32 {
        f32::abs(self)
    }
    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn total_cmp(&self, other: &f32) -> core::cmp::Ordering {
        f32::total_cmp(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::Float;

    #[test]
    fn midpoint_agrees_with_std_where_std_is_correctly_rounded() {
        let values = [
            0.0,
            -0.0,
            1.0,
            -3.5,
            1e-310,
            5e-324,
            f64::MAX,
            -f64::MAX,
            1e308,
            7.25e-300,
        ];
        for a in values {
            for b in values {
                assert_eq!(Float::midpoint(a, b), f64::midpoint(a, b), "{a} {b}");
            }
        }
    }

    #[test]
    fn half_sum_equals_the_midpoint_wherever_the_sample_allows_it() {
        use super::sealed::Sealed;
        let mut draws = crate::test_data::draws(3);
        let mut checked = 0;
        for _ in 0..400 {
            // Eight values of random sign, mantissa and exponent within 2^-31..2^1.
            let mut sample: Vec<f32> = (&mut draws)
                .take(8)
                .map(|draw| {
                    let bits = (draw >> 32) as u32;
                    let exponent = 96 + (bits % 33);
                    f32::from_bits((bits & 0x8000_0000) | exponent << 23 | (bits >> 7 & 0x7F_FFFF))
                })
                .collect();
            sample.sort_unstable_by(f32::total_cmp);
            if !<f32 as Sealed>::half_sum_is_midpoint(&sample) {
                continue;
            }
            checked += 1;
            for &a in &sample {
                for &b in &sample {
                    let half_sum = <f32 as Sealed>::half_sum(a, b);
                    assert_eq!(
                        half_sum.to_bits(),
                        Float::plain_midpoint(a, b).to_bits(),
                        "{a} {b}"
                    );
                }
            }
        }
        assert!(checked > 50, "only {checked} samples within the ratio");
        assert!(!<f32 as Sealed>::half_sum_is_midpoint(&[1e-30, 1.0]));
        assert!(<f32 as Sealed>::half_sum_is_midpoint(&[0.0, 1e-30, 2e-30]));
        assert!(!<f32 as Sealed>::half_sum_is_midpoint(&[0.0, f32::MAX]));
        // The least magnitude next to the zeros, on either side of them.
        assert!(!<f32 as Sealed>::half_sum_is_midpoint(&[
            -1e-30, -0.0, 0.0, 1.0
        ]));
        assert!(!<f32 as Sealed>::half_sum_is_midpoint(&[
            -1.0, 0.0, 1e-30, 1.0
        ]));
        assert!(<f32 as Sealed>::half_sum_is_midpoint(&[
            -4.0, -1e-3, 0.0, -0.0, 1e-2
        ]));
        assert!(<f32 as Sealed>::half_sum_is_midpoint(&[-0.0, 0.0]));
    }

    #[test]
    fn f32_midpoint_does_not_overflow() {
        assert_eq!(Float::midpoint(f32::MAX, f32::MAX), f32::MAX);
        assert_eq!(Float::midpoint(-f32::MAX, f32::MAX), 0.0);
    }
}
