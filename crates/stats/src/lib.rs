//! Exact, fast robust statistics: the showcase kernels of parmemo's tutorial.
//!
//! # Brief overview
//!
//! * [`walsh_median`] and [`hodges_lehmann`] estimate a location robustly from the
//!   medians of pairwise averages. They are exact (the same value a sort of all
//!   `n^2 / 2` averages gives, to the bit) in O(n log n) time and O(n) memory, for
//!   `f32` and `f64` (the [`Float`] trait).
//! * [`wald`] tests many means at once (one z test per row of a matrix), and
//!   [`correction`] adjusts the resulting p-values for multiple testing (Bonferroni,
//!   Holm, Benjamini-Hochberg).
//! * [`Normal`] evaluates the normal density, log-density and CDF.
//! * [`walsh_median_rows`] and [`hodges_lehmann_rows`] run them over every row of a
//!   matrix, rows in parallel (through `parmemo-parallel`'s `guvectorize`).
//! * [`reference`](mod@reference) holds the naive versions the fast ones are tested against.
//!
//! Bad input (empty samples, NaN, infinities, impossible shapes or parameters) is a
//! [`StatsError`] that says what was wrong and where, never a panic or a silent number.
//!
//! # Example
//!
//! ```
//! use parmemo_stats::{correction, wald, walsh_median, Normal};
//!
//! let sample = [0.12_f64, -0.3, 0.55, 0.41, 0.07, 0.9, -0.05];
//! let location = walsh_median(&sample)?;
//! assert!(location > 0.0 && location < 0.5);
//!
//! // Three rows of three values: one z test per row, then Holm's correction.
//! let rows = [0.1, -0.2, 0.0, 2.1, 1.9, 2.4, -0.3, 0.2, 0.1];
//! let p = wald::p_values(&rows, 3, 0.0, 1.0)?;
//! let adjusted = correction::holm(&p)?;
//! assert!(adjusted[1] < 0.05 && adjusted[0] > 0.05);
//!
//! let density = Normal::new(0.0, 1.0)?.pdf_slice(&[-1.0, 0.0, 1.0])?;
//! assert_eq!(density[0], density[2]);
//! # Ok::<(), parmemo_stats::StatsError>(())
//! ```
#![warn(missing_docs)]

pub use error::{Name, StatsError};
pub use float::Float;
pub use normal::Normal;
pub use walsh::{hodges_lehmann, hodges_lehmann_rows, reference, walsh_median, walsh_median_rows};

pub mod correction;
mod erfc;
mod error;
mod exp;
mod float;
mod normal;
mod output;
mod small_sort;
#[cfg(test)]
mod test_data;
mod validate;
pub mod wald;
mod walsh;
