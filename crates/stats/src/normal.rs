//! The normal distribution: density, log-density and CDF, for one point or a slice.
//!
//! The tutorial's kernel wrote `exp(+power)` with `power = (x - mu)^2 / (2 sigma^2)`:
//! a density that grows without bound away from the mean. Here it is `exp(-power)`.

use crate::exp::exp_nonpositive;
use crate::{validate, StatsError};
use core::f64::consts::{PI, SQRT_2};
use parmemo_parallel::vectorize::{try_map_blocks, Target};

/// A normal distribution with mean `mu` and standard deviation `sigma`.
///
/// The constants of the density are computed once at construction, so evaluating it
/// over many points costs one `exp` and a few multiplications each.
///
/// ```
/// use parmemo_stats::Normal;
/// let standard = Normal::new(0.0, 1.0)?;
/// assert!((standard.pdf(0.0) - 0.398_942_280_401_432_7).abs() < 1e-15);
/// assert_eq!(standard.cdf(0.0), 0.5);
/// # Ok::<(), parmemo_stats::StatsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normal {
    mu: f64,
    sigma: f64,
    /// What `x - mu` is multiplied by before `inv_sigma`: 1, or for a subnormal `sigma`
    /// (whose reciprocal overflows) 2^64, with `inv_sigma` the reciprocal of
    /// `sigma * 2^64`. Powers of two scale exactly, so `z` is right either way.
    pre_scale: f64,
    inv_sigma: f64,
    density_scale: f64,
    log_density_offset: f64,
}

impl Normal {
    /// The distribution N(`mu`, `sigma`^2).
    ///
    /// # Errors
    /// [`StatsError::NonFiniteParameter`] for a non-finite `mu`,
    /// [`StatsError::InvalidSigma`] unless `sigma` is finite and > 0, and at least about
    /// 2.2e-309 (below, the peak density exceeds `f64`). A subnormal `sigma` above that
    /// is computed exactly as a normal one (with sigma scaled by 2^64), never NaN.
    ///
    /// ```
    /// use parmemo_stats::{Normal, StatsError};
    /// assert!(Normal::new(1.0, 2.0).is_ok());
    /// assert_eq!(Normal::new(0.0, -1.0), Err(StatsError::InvalidSigma { sigma: -1.0 }));
    /// ```
    pub fn new(mu: f64, sigma: f64) -> Result<Self, StatsError> {
        validate::finite_parameter("mu", mu)?;
        validate::sigma(sigma)?;
        let log_sigma_sqrt_2pi = sigma.ln() + 0.5 * (2.0 * PI).ln();
        // A subnormal sigma has a reciprocal that overflows and loses precision in any
        // product: work with sigma * 2^64 instead, and scale back exactly.
        let pre_scale = if sigma < f64::MIN_POSITIVE {
            SUBNORMAL_SCALE
        } else {
            1.0
        };
        let scaled = sigma * pre_scale;
        let density_scale = (1.0 / (scaled * (2.0 * PI).sqrt())) * pre_scale;
        if density_scale.is_infinite() {
            // The peak density is beyond f64: every density near the mean would be
            // infinite and those far from it NaN (infinity times zero).
            return Err(StatsError::InvalidSigma { sigma });
        }
        Ok(Normal {
            mu,
            sigma,
            pre_scale,
            inv_sigma: 1.0 / scaled,
            density_scale,
            log_density_offset: -log_sigma_sqrt_2pi,
        })
    }

    /// The standard normal N(0, 1).
    ///
    /// ```
    /// use parmemo_stats::Normal;
    /// assert_eq!(Normal::standard().mean(), 0.0);
    /// ```
    #[must_use]
    pub fn standard() -> Self {
        Normal {
            mu: 0.0,
            sigma: 1.0,
            pre_scale: 1.0,
            inv_sigma: 1.0,
            density_scale: 1.0 / (2.0 * PI).sqrt(),
            log_density_offset: -0.5 * (2.0 * PI).ln(),
        }
    }

    /// The mean `mu`.
    ///
    /// ```
    /// # use parmemo_stats::Normal;
    /// assert_eq!(Normal::new(3.0, 1.0)?.mean(), 3.0);
    /// # Ok::<(), parmemo_stats::StatsError>(())
    /// ```
    #[must_use]
    pub fn mean(&self) -> f64 {
        self.mu
    }

    /// The standard deviation `sigma`.
    ///
    /// ```
    /// # use parmemo_stats::Normal;
    /// assert_eq!(Normal::new(3.0, 2.0)?.std_dev(), 2.0);
    /// # Ok::<(), parmemo_stats::StatsError>(())
    /// ```
    #[must_use]
    pub fn std_dev(&self) -> f64 {
        self.sigma
    }

    /// The density at `x`. Follows IEEE arithmetic: 0 at the infinities, NaN for NaN.
    /// The slice methods reject non-finite points instead.
    ///
    /// The exponential is the crate's own (`exp.rs`), within 2 ulp of libm's and written
    /// so that the slice methods run it in SIMD; they give the same values, bit for bit.
    ///
    /// ```
    /// # use parmemo_stats::Normal;
    /// let n = Normal::new(1.0, 2.0)?;
    /// assert!((n.pdf(3.0) - 0.120_985_362_259_571_7).abs() < 1e-15);
    /// # Ok::<(), parmemo_stats::StatsError>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn pdf(&self, x: f64) -> f64 {
        density(
            x,
            self.mu,
            self.pre_scale,
            self.inv_sigma,
            self.density_scale,
        )
    }

    /// `(x - mu) / sigma`.
    #[inline]
    fn standardized(&self, x: f64) -> f64 {
        ((x - self.mu) * self.pre_scale) * self.inv_sigma
    }

    /// The natural logarithm of the density at `x`; finite far into the tails where
    /// [`pdf`](Self::pdf) underflows to 0.
    ///
    /// ```
    /// # use parmemo_stats::Normal;
    /// let n = Normal::standard();
    /// assert_eq!(n.pdf(40.0), 0.0);
    /// assert!((n.logpdf(40.0) + 800.918_938_533_204_7).abs() < 1e-9);
    /// ```
    #[inline]
    #[must_use]
    pub fn logpdf(&self, x: f64) -> f64 {
        let z = self.standardized(x);
        self.log_density_offset - 0.5 * z * z
    }

    /// The cumulative distribution function `P(X <= x) = erfc(-(x - mu) / (sigma sqrt 2)) / 2`,
    /// accurate in both tails.
    ///
    /// ```
    /// # use parmemo_stats::Normal;
    /// let n = Normal::standard();
    /// assert!((n.cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-15);
    /// assert!(n.cdf(-30.0) > 0.0); // erfc keeps the tail that 1 + erf would lose
    /// ```
    #[inline]
    #[must_use]
    pub fn cdf(&self, x: f64) -> f64 {
        0.5 * crate::erfc::erfc(-self.standardized(x) / SQRT_2)
    }

    /// The density at every point of `points`, in a new vector, computed on all cores
    /// for long slices (numba's `@vectorize(target="parallel")`). Each value equals
    /// [`pdf`](Self::pdf) at that point.
    ///
    /// # Errors
    /// [`StatsError::NonFinite`] with the index of the first NaN or infinite point.
    ///
    /// ```
    /// # use parmemo_stats::Normal;
    /// let n = Normal::standard();
    /// let densities = n.pdf_slice(&[-1.0, 0.0, 1.0])?;
    /// assert_eq!(densities[0], densities[2]);
    /// # Ok::<(), parmemo_stats::StatsError>(())
    /// ```
    pub fn pdf_slice(&self, points: &[f64]) -> Result<Vec<f64>, StatsError> {
        let mut out = crate::output::untouched_zeros(points.len());
        self.pdf_into(points, &mut out)?;
        Ok(out)
    }

    /// The density at every point of `points`, written into `out` (same length), on all
    /// cores for long slices.
    ///
    /// # Errors
    /// [`StatsError::OutputLength`] when `out` is not as long as `points`;
    /// [`StatsError::NonFinite`] with the index of the first NaN or infinite point (then
    /// `out` holds unspecified values).
    ///
    /// ```
    /// # use parmemo_stats::Normal;
    /// let mut out = [0.0; 2];
    /// Normal::standard().pdf_into(&[0.0, 0.0], &mut out)?;
    /// assert_eq!(out[0], out[1]);
    /// # Ok::<(), parmemo_stats::StatsError>(())
    /// ```
    pub fn pdf_into(&self, points: &[f64], out: &mut [f64]) -> Result<(), StatsError> {
        if out.len() != points.len() {
            return Err(StatsError::OutputLength {
                expected: points.len(),
                got: out.len(),
            });
        }
        let parameters = [self.mu, self.pre_scale, self.inv_sigma, self.density_scale];
        let kernel = |block: &[f64], out: &mut [f64]| {
            if densities(block, out, parameters) {
                Ok(())
            } else {
                // Rare: find the first bad point, for the error.
                let offset = block.iter().position(|x| !x.is_finite()).unwrap_or(0);
                Err((offset, "non-finite point"))
            }
        };
        match try_map_blocks(Target::Parallel, points, out, kernel) {
            Ok(()) => Ok(()),
            Err(parmemo_parallel::Error::Task { index, .. }) => Err(StatsError::NonFinite {
                index,
                value: points[index],
            }),
            Err(other) => Err(other.into()),
        }
    }
}

/// The densities of a block, and whether every point was finite (an infinite point has
/// a density, 0, but is still bad input here). One loop with no call in it, compiled for
/// the widest SIMD the processor has, chosen at run time: the same operations in the
/// same order on every target (Rust never fuses a multiply and an add on its own), so
/// the values equal [`Normal::pdf`]'s bit for bit.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "aarch64+neon"
))]
fn densities(points: &[f64], out: &mut [f64], parameters: [f64; 4]) -> bool {
    let [mu, pre_scale, inv_sigma, scale] = parameters;
    let mut finite = true;
    if pre_scale == 1.0 {
        // The common case, without the multiply by one: the same values (multiplying by
        // one is exact), a shorter loop.
        for (value, &x) in out.iter_mut().zip(points) {
            finite &= x.is_finite();
            *value = density(x, mu, 1.0, inv_sigma, scale);
        }
    } else {
        for (value, &x) in out.iter_mut().zip(points) {
            finite &= x.is_finite();
            *value = density(x, mu, pre_scale, inv_sigma, scale);
        }
    }
    finite
}

/// The one formula of the density, for [`Normal::pdf`] and the SIMD blocks alike.
#[inline(always)]
#[allow(clippy::inline_always)] // it must inline into the SIMD loop of `densities`
fn density(x: f64, mu: f64, pre_scale: f64, inv_sigma: f64, scale: f64) -> f64 {
    let z = ((x - mu) * pre_scale) * inv_sigma;
    scale * exp_nonpositive(-0.5 * z * z)
}

/// 2^64: brings any subnormal sigma into the normal range, exactly.
const SUBNORMAL_SCALE: f64 = 18_446_744_073_709_551_616.0;

impl Default for Normal {
    fn default() -> Self {
        Normal::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnormal_sigma_gives_right_values_never_nan() {
        for sigma in [5e-309, 3e-309, f64::MIN_POSITIVE / 2.0] {
            let n = Normal::new(1.0, sigma).unwrap();
            let peak = n.pdf(1.0);
            assert!(!peak.is_nan(), "sigma {sigma}");
            // The peak, 1 / (sigma sqrt(2 pi)), computed with sigma scaled up.
            let expected = (1.0 / (sigma * SUBNORMAL_SCALE * (2.0 * PI).sqrt())) * SUBNORMAL_SCALE;
            assert_eq!(peak, expected, "sigma {sigma}");
            assert_eq!(n.cdf(1.0), 0.5);
            assert!(n.logpdf(1.0).is_finite());
            assert_eq!(n.pdf(2.0), 0.0, "far in the tail");
            assert_eq!(n.cdf(2.0), 1.0);
            let slice = n.pdf_slice(&[1.0, 2.0, 0.0]).unwrap();
            assert_eq!(slice, [peak, 0.0, 0.0]);
        }
        let n = Normal::new(0.0, 5e-309).unwrap();
        assert!((n.pdf(0.0) / 7.978_845_608_028_654e307 - 1.0).abs() < 1e-15);
        // One sigma out, a subnormal distance: exp(-1/2) of the peak.
        let one_sigma = n.pdf(5e-309) / n.pdf(0.0);
        assert!((one_sigma - (-0.5_f64).exp()).abs() < 1e-12, "{one_sigma}");
        for beyond in [2e-309, 1e-310, 5e-324] {
            assert_eq!(
                Normal::new(0.0, beyond),
                Err(StatsError::InvalidSigma { sigma: beyond }),
                "the peak density overflows"
            );
        }
    }

    #[test]
    fn logpdf_is_the_log_of_pdf() {
        let n = Normal::new(-2.0, 0.5).unwrap();
        for x in [-4.0, -2.0, -1.1, 0.0, 3.0] {
            assert!((n.logpdf(x) - n.pdf(x).ln()).abs() < 1e-12);
        }
    }

    #[test]
    fn density_decays_away_from_the_mean() {
        let n = Normal::new(1.0, 1.0).unwrap();
        assert!(n.pdf(1.0) > n.pdf(2.0));
        assert!(n.pdf(2.0) > n.pdf(5.0));
        assert_eq!(n.pdf(f64::INFINITY), 0.0);
    }

    #[test]
    fn cdf_is_symmetric_and_bounded() {
        let n = Normal::new(0.5, 3.0).unwrap();
        for d in [0.1, 1.0, 7.5, 40.0] {
            let total = n.cdf(0.5 + d) + n.cdf(0.5 - d);
            assert!((total - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn slices_reject_non_finite_points_and_bad_buffers() {
        let n = Normal::standard();
        assert!(matches!(
            n.pdf_slice(&[0.0, f64::NAN]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert_eq!(
            n.pdf_into(&[0.0, 1.0], &mut [0.0]),
            Err(StatsError::OutputLength {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn standard_equals_new_zero_one() {
        assert_eq!(Normal::standard(), Normal::new(0.0, 1.0).unwrap());
    }
}
