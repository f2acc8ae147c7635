//! `guvectorize`: a kernel over each row of a row-major buffer.

use super::chunks::{fold_chunks, splits, Run, Target};
use crate::Error;

/// A row kernel made to work over whole matrices, as numba's `@guvectorize` with the
/// signature `(n)->(m)`. Built by [`guvectorize`].
#[derive(Debug, Clone, Copy)]
pub struct GuVectorize<F> {
    kernel: F,
    target: Target,
    n_jobs: Option<i32>,
}

/// Makes `kernel`, which reads one row and writes its outputs into a buffer, apply to
/// every row of a row-major matrix.
///
/// ```
/// use parmemo_parallel::vectorize::{guvectorize, Target};
/// // Two outputs per row: min and max.
/// let extremes = guvectorize(|row: &[f64], out: &mut [f64]| {
///     out[0] = row.iter().copied().fold(f64::INFINITY, f64::min);
///     out[1] = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
/// })
/// .target(Target::Parallel);
/// let data = [3.0, 1.0, 2.0, /* row 2 */ 9.0, 7.0, 8.0];
/// assert_eq!(extremes.apply(&data, 3, 2)?, [1.0, 3.0, 7.0, 9.0]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
pub fn guvectorize<F>(kernel: F) -> GuVectorize<F> {
    GuVectorize {
        kernel,
        target: Target::Sequential,
        n_jobs: None,
    }
}

fn rows_of(len: usize, row_len: usize) -> Result<usize, Error> {
    if row_len == 0 {
        return Err(Error::ZeroRowLen);
    }
    if !len.is_multiple_of(row_len) {
        return Err(Error::RaggedRows { len, row_len });
    }
    Ok(len / row_len)
}

impl<F> GuVectorize<F> {
    /// Where to run: [`Target::Sequential`] (the default) or [`Target::Parallel`] (rows
    /// split across cores when the matrix holds at least
    /// [`PARALLEL_MIN_LEN`](super::PARALLEL_MIN_LEN) values).
    ///
    /// ```
    /// use parmemo_parallel::vectorize::{guvectorize, Target};
    /// let sums = guvectorize(|r: &[u32], o: &mut [u32]| o[0] = r.iter().sum()).target(Target::Parallel);
    /// assert_eq!(sums.apply(&[1, 2, 3, 4], 2, 1)?, [3, 7]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    #[must_use]
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// How many threads [`Target::Parallel`] uses, as [`Parallel::n_jobs`](crate::Parallel::n_jobs):
    /// `-1` all cores (the default), `n > 0` exactly `n`, `1` the calling thread. Unset,
    /// the enclosing [`Config`](crate::Config) scope's `n_jobs` applies.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::{guvectorize, Target};
    /// let sums = guvectorize(|r: &[u32], o: &mut [u32]| o[0] = r.iter().sum())
    ///     .target(Target::Parallel)
    ///     .n_jobs(1);
    /// assert_eq!(sums.apply(&[1, 2, 3, 4], 2, 1)?, [3, 7]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    #[must_use]
    pub fn n_jobs(mut self, n_jobs: i32) -> Self {
        self.n_jobs = Some(n_jobs);
        self
    }

    fn run(&self) -> Run {
        Run {
            target: self.target,
            n_jobs: self.n_jobs,
        }
    }

    /// The kernel over each `row_len`-long row of `data`, `out_len` outputs per row, in a
    /// new vector (row-major, `rows * out_len` long).
    ///
    /// # Errors
    /// [`Error::ZeroRowLen`], [`Error::RaggedRows`] for a buffer that is not whole rows;
    /// [`Error::ThreadPool`] if the pool cannot start.
    ///
    /// ```
    /// use parmemo_parallel::{vectorize::guvectorize, Error};
    /// let first = guvectorize(|r: &[i8], o: &mut [i8]| o[0] = r[0]);
    /// assert_eq!(first.apply(&[1, 2, 3, 4], 2, 1)?, [1, 3]);
    /// assert_eq!(first.apply(&[1, 2, 3], 2, 1), Err(Error::RaggedRows { len: 3, row_len: 2 }));
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply<T, R>(&self, data: &[T], row_len: usize, out_len: usize) -> Result<Vec<R>, Error>
    where
        F: Fn(&[T], &mut [R]) + Sync,
        T: Sync,
        R: Default + Clone + Send,
    {
        let rows = rows_of(data.len(), row_len)?;
        let mut out = output(rows, out_len)?;
        self.apply_into(data, row_len, &mut out, out_len)?;
        Ok(out)
    }

    /// The kernel over each `row_len`-long row of `data`, writing `out_len` outputs per
    /// row into `out` (row-major), as numba's output argument.
    ///
    /// # Errors
    /// As [`apply`](Self::apply), and [`Error::OutputLength`] unless `out` holds
    /// `rows * out_len` values.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::guvectorize;
    /// let mut means = [0.0; 2];
    /// guvectorize(|r: &[f64], o: &mut [f64]| o[0] = r.iter().sum::<f64>() / r.len() as f64)
    ///     .apply_into(&[1.0, 3.0, 5.0, 7.0], 2, &mut means, 1)?;
    /// assert_eq!(means, [2.0, 6.0]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply_into<T, R>(
        &self,
        data: &[T],
        row_len: usize,
        out: &mut [R],
        out_len: usize,
    ) -> Result<(), Error>
    where
        F: Fn(&[T], &mut [R]) + Sync,
        T: Sync,
        R: Send,
    {
        let rows = rows_of(data.len(), row_len)?;
        let expected = rows
            .checked_mul(out_len)
            .ok_or(Error::OutputTooLarge { rows, out_len })?;
        if out.len() != expected {
            return Err(Error::OutputLength {
                expected,
                got: out.len(),
            });
        }
        if out_len == 0 {
            // Nothing to write, but the kernel may have effects the caller wants.
            let mut nothing: [R; 0] = [];
            for row in data.chunks_exact(row_len) {
                (self.kernel)(row, &mut nothing);
            }
            return Ok(());
        }
        let kernel = &self.kernel;
        fold_chunks(
            out,
            out_len,
            row_len,
            splits(self.run(), data.len())?,
            |first_row, chunk| {
                let inputs = data[first_row * row_len..].chunks_exact(row_len);
                for (row, outputs) in inputs.zip(chunk.chunks_exact_mut(out_len)) {
                    kernel(row, outputs);
                }
            },
            || (),
            |(), ()| (),
        )
    }
}

#[cfg(feature = "ndarray")]
#[cfg_attr(docsrs, doc(cfg(feature = "ndarray")))]
impl<F> GuVectorize<F> {
    /// The kernel over each row of a 2-d `ndarray` array or view, `out_len` outputs per
    /// row, in a new `(rows, out_len)` array. Rows that are not contiguous in memory are copied
    /// first; standard (C) layout is used in place.
    ///
    /// # Errors
    /// As [`apply`](Self::apply).
    ///
    /// ```
    /// use ndarray::array;
    /// use parmemo_parallel::vectorize::guvectorize;
    /// let data = array![[1.0, 2.0], [3.0, 4.0]];
    /// let sums = guvectorize(|r: &[f64], o: &mut [f64]| o[0] = r.iter().sum())
    ///     .apply_array(&data.t(), 1)?; // columns of `data`, as rows
    /// assert_eq!(sums, array![[4.0], [6.0]]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply_array<S, T, R>(
        &self,
        data: &ndarray::ArrayBase<S, ndarray::Ix2>,
        out_len: usize,
    ) -> Result<ndarray::Array2<R>, Error>
    where
        S: ndarray::Data<Elem = T>,
        F: Fn(&[T], &mut [R]) + Sync,
        T: Clone + Sync,
        R: Default + Clone + Send,
    {
        let (rows, row_len) = data.dim();
        let contiguous;
        let flat: &[T] = if let Some(flat) = data.as_slice() {
            flat
        } else {
            contiguous = data.iter().cloned().collect::<Vec<T>>();
            &contiguous
        };
        let out = if row_len == 0 {
            vec![R::default(); rows * out_len]
        } else {
            self.apply(flat, row_len, out_len)?
        };
        ndarray::Array2::from_shape_vec((rows, out_len), out)
            .map_err(|_| Error::OutputTooLarge { rows, out_len })
    }
}

/// A zeroed output of `rows * out_len` values, or an error if that many cannot be
/// counted or allocated (never a panic, never a silently empty result).
fn output<R: Default + Clone>(rows: usize, out_len: usize) -> Result<Vec<R>, Error> {
    let too_large = Error::OutputTooLarge { rows, out_len };
    let len = rows.checked_mul(out_len).ok_or_else(|| too_large.clone())?;
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| too_large)?;
    out.resize(len, R::default());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_too_large_to_count_or_hold_are_errors() {
        let first = guvectorize(|r: &[u8], o: &mut [u8]| o[0] = r[0]);
        assert_eq!(
            first.apply(&[1, 2, 3, 4], 2, usize::MAX),
            Err(Error::OutputTooLarge {
                rows: 2,
                out_len: usize::MAX
            })
        );
        assert_eq!(
            first.apply(&[1, 2], 1, usize::MAX / 4),
            Err(Error::OutputTooLarge {
                rows: 2,
                out_len: usize::MAX / 4
            })
        );
        let mut out = [0_u8; 2];
        assert_eq!(
            first.apply_into(&[1, 2, 3, 4], 2, &mut out, usize::MAX),
            Err(Error::OutputTooLarge {
                rows: 2,
                out_len: usize::MAX
            })
        );
    }

    #[test]
    fn shapes_are_checked() {
        let copy = guvectorize(|r: &[u8], o: &mut [u8]| o.copy_from_slice(r));
        assert_eq!(copy.apply(&[1, 2], 0, 0), Err(Error::ZeroRowLen));
        let mut out = [0; 3];
        assert_eq!(
            copy.apply_into(&[1, 2, 3, 4], 2, &mut out, 2),
            Err(Error::OutputLength {
                expected: 4,
                got: 3
            })
        );
    }

    #[test]
    fn parallel_rows_match_sequential_rows() {
        let data: Vec<u64> = (0..200_000).collect();
        let kernel = |r: &[u64], o: &mut [u64]| {
            o[0] = r.iter().sum();
            o[1] = r[0];
        };
        let seq = guvectorize(kernel).apply(&data, 7 * 7, 2);
        let par = guvectorize(kernel)
            .target(Target::Parallel)
            .apply(&data, 7 * 7, 2);
        assert_eq!(seq, par);
        assert!(seq.is_err(), "200 000 is not a multiple of 49");
        let seq = guvectorize(kernel).apply(&data, 100, 2).unwrap();
        let par = guvectorize(kernel)
            .target(Target::Parallel)
            .apply(&data, 100, 2)
            .unwrap();
        assert_eq!(seq, par);
        assert_eq!(par[2 * 1999 + 1], 199_900);
    }
}
