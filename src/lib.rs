//! parmemo: parallel map-reduce and persistent memoization for Rust, after Python's
//! joblib and numba.
//!
//! # Brief overview
//!
//! * [`stats`]: the tutorial's showcase kernels, exact and fast (Walsh median /
//!   Hodges-Lehmann, many Wald tests with multiple-testing corrections, the normal
//!   distribution).
//!
//! # Example
//!
//! ```
//! use parmemo::stats::walsh_median;
//! assert_eq!(walsh_median(&[1.0_f64, 2.0, 3.0, 4.0])?, 2.5);
//! # Ok::<(), parmemo::stats::StatsError>(())
//! ```
#![warn(missing_docs)]

pub use parmemo_stats as stats;

/// The names most programs need, in one `use parmemo::prelude::*`.
pub mod prelude {
    pub use parmemo_stats::{hodges_lehmann, walsh_median, Normal, StatsError};
}

/// The README's code blocks, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
