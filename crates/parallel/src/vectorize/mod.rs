//! numba's parallel helpers: `@vectorize`, `@guvectorize` and `prange` loops.
//!
//! * [`vectorize()`] turns a scalar kernel into one over slices, elementwise, with
//!   scalars broadcast ([`Arg`]); the output goes into a new `Vec` or a caller's buffer.
//! * [`guvectorize`] applies a kernel `Fn(&[T], &mut [R])` to each row of a row-major
//!   buffer, writing `out_len` values per row.
//! * [`reduce`] is a parallel loop with a reduction over a slice, in chunks, so that
//!   the inner loop stays a plain loop the compiler can vectorize.
//! * [`try_map_blocks`] is the elementwise map with the same idea: the kernel gets a
//!   whole block of the input and of the output, for loops written to be vectorized.
//!
//! Each takes a [`Target`], as numba's `target=`: [`Target::Sequential`] (numba's
//! `"cpu"`) or [`Target::Parallel`]. Parallel work runs on the pool of all cores (or, inside
//! a [`Parallel`](crate::Parallel) task, on the pool running it) and only above
//! [`PARALLEL_MIN_LEN`] elements: below that, waking the pool costs more than the work.
//!
//! # `prange`
//!
//! A numba loop `for i in prange(n): total += f(x[i])` is a rayon parallel iterator
//! with a reduction, which needs no helper of ours:
//!
//! ```
//! use rayon::prelude::*;
//! let x: Vec<f64> = (0..1000).map(f64::from).collect();
//! let total: f64 = x.par_iter().map(|v| v * v).sum();
//! assert_eq!(total, 332_833_500.0);
//! ```
//!
//! What rayon lacks is a reduction that hands each worker a whole chunk, so that the
//! per-element code is an ordinary loop (several accumulators, SIMD) rather than one
//! closure call per element: that is [`reduce`].
//!
//! ```
//! use parmemo_parallel::vectorize::{reduce, Target};
//! let x: Vec<f64> = (0..100_000).map(f64::from).collect();
//! let (lo, hi) = reduce(
//!     &x,
//!     Target::Parallel,
//!     || (f64::INFINITY, f64::NEG_INFINITY),
//!     |chunk| chunk.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v))),
//!     |a, b| (a.0.min(b.0), a.1.max(b.1)),
//! )?;
//! assert_eq!((lo, hi), (0.0, 99_999.0));
//! # Ok::<(), parmemo_parallel::Error>(())
//! ```

mod blocks;
mod chunks;
mod elementwise;
mod reduce;
mod rows;

pub use blocks::try_map_blocks;
pub use chunks::{Target, PARALLEL_MIN_LEN};
pub use elementwise::{vectorize, Arg, Vectorize};
pub use reduce::reduce;
pub use rows::{guvectorize, GuVectorize};
