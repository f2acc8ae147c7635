//! The floating-point types the estimators accept.

use core::fmt::{Debug, Display};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
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
    fn f32_midpoint_does_not_overflow() {
        assert_eq!(Float::midpoint(f32::MAX, f32::MAX), f32::MAX);
        assert_eq!(Float::midpoint(-f32::MAX, f32::MAX), 0.0);
    }
}
