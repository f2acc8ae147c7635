//! `guvectorize`: a kernel over each row of a row-major buffer.

use super::chunks::{fold_chunks, splits, Run, Target};
use crate::Error;

/// A row kernel made to work over whole matrices, as numba's `@guvectorize` with the
/// signature `(n)->(m)`. Built by [`guvectorize`].
#[derive(Debug, Clone, Copy)]
pub struct GuVectorize<F> {
    kernel: F,
    run: Run,
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
        run: Run::from(Target::Sequential),
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
        self.run.target = target;
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
        self.run.n_jobs = Some(n_jobs);
        self
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
        check_output(rows, out_len, out.len())?;
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
            splits(self.run, data.len())?,
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

/// Kernels of two inputs, each with its own row length (numba's `(n),(m)->(p)`), and the
/// fallible form.
impl<F> GuVectorize<F> {
    /// The kernel over row `i` of `a` (rows of `a_len`) and row `i` of `b` (rows of
    /// `b_len`) for every `i`, `out_len` outputs per row, in a new vector: a weighted
    /// median, a correlation per pair of rows.
    ///
    /// # Errors
    /// As [`apply`](Self::apply) for each input, and [`Error::RowCountMismatch`] when
    /// they hold different numbers of rows.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::{guvectorize, Target};
    /// // (n),(n)->(): a weighted mean per row.
    /// let weighted = guvectorize(|x: &[f64], w: &[f64], out: &mut [f64]| {
    ///     let total: f64 = w.iter().sum();
    ///     out[0] = x.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() / total;
    /// })
    /// .target(Target::Parallel);
    /// let means = weighted.apply2(&[1.0, 3.0, 10.0, 20.0], 2, &[1.0, 1.0, 3.0, 1.0], 2, 1)?;
    /// assert_eq!(means, [2.0, 12.5]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply2<T, U, R>(
        &self,
        a: &[T],
        a_len: usize,
        b: &[U],
        b_len: usize,
        out_len: usize,
    ) -> Result<Vec<R>, Error>
    where
        F: Fn(&[T], &[U], &mut [R]) + Sync,
        T: Sync,
        U: Sync,
        R: Default + Clone + Send,
    {
        let rows = rows_of(a.len(), a_len)?;
        let mut out = output(rows, out_len)?;
        self.apply2_into(a, a_len, b, b_len, &mut out, out_len)?;
        Ok(out)
    }

    /// [`apply2`](Self::apply2) writing into `out` (row-major, `rows * out_len`).
    ///
    /// # Errors
    /// As [`apply2`](Self::apply2), and [`Error::OutputLength`] for an `out` of another
    /// length.
    ///
    /// ```
    /// use parmemo_parallel::vectorize::guvectorize;
    /// let mut dots = [0; 2];
    /// guvectorize(|x: &[i32], y: &[i32], o: &mut [i32]| o[0] = x.iter().zip(y).map(|(a, b)| a * b).sum())
    ///     .apply2_into(&[1, 2, 3, 4], 2, &[5, 6, 7, 8], 2, &mut dots, 1)?;
    /// assert_eq!(dots, [17, 53]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply2_into<T, U, R>(
        &self,
        a: &[T],
        a_len: usize,
        b: &[U],
        b_len: usize,
        out: &mut [R],
        out_len: usize,
    ) -> Result<(), Error>
    where
        F: Fn(&[T], &[U], &mut [R]) + Sync,
        T: Sync,
        U: Sync,
        R: Send,
    {
        let rows = rows_of(a.len(), a_len)?;
        let b_rows = rows_of(b.len(), b_len)?;
        if b_rows != rows {
            return Err(Error::RowCountMismatch {
                argument: 1,
                expected: rows,
                got: b_rows,
            });
        }
        check_output(rows, out_len, out.len())?;
        let kernel = &self.kernel;
        if out_len == 0 {
            let mut nothing: [R; 0] = [];
            for (x, y) in a.chunks_exact(a_len).zip(b.chunks_exact(b_len)) {
                kernel(x, y, &mut nothing);
            }
            return Ok(());
        }
        fold_chunks(
            out,
            out_len,
            a_len + b_len,
            splits(self.run, a.len() + b.len())?,
            |first_row, chunk| {
                let xs = a[first_row * a_len..].chunks_exact(a_len);
                let ys = b[first_row * b_len..].chunks_exact(b_len);
                for ((x, y), outputs) in xs.zip(ys).zip(chunk.chunks_exact_mut(out_len)) {
                    kernel(x, y, outputs);
                }
            },
            || (),
            |(), ()| (),
        )
    }

    /// [`apply`](Self::apply) for a kernel that can fail on a row: the failing row with
    /// the lowest index is returned as [`Error::Task`] naming it (rows after it may have
    /// been computed on other threads; nothing of a failed call is returned).
    ///
    /// # Errors
    /// As [`apply`](Self::apply), and [`Error::Task`] for a failing row.
    ///
    /// ```
    /// use parmemo_parallel::{vectorize::guvectorize, Error};
    /// let mean = guvectorize(|r: &[f64], o: &mut [f64]| {
    ///     if r.iter().any(|x| x.is_nan()) {
    ///         return Err("a NaN in the row");
    ///     }
    ///     o[0] = r.iter().sum::<f64>() / r.len() as f64;
    ///     Ok(())
    /// });
    /// assert_eq!(mean.try_apply(&[1.0, 3.0, 2.0, 4.0], 2, 1)?, [2.0, 3.0]);
    /// assert_eq!(mean.try_apply(&[1.0, 3.0, f64::NAN, 4.0], 2, 1), Err(Error::task(1, "a NaN in the row")));
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn try_apply<T, R, E>(
        &self,
        data: &[T],
        row_len: usize,
        out_len: usize,
    ) -> Result<Vec<R>, Error>
    where
        F: Fn(&[T], &mut [R]) -> Result<(), E> + Sync,
        T: Sync,
        R: Default + Clone + Send,
        E: std::fmt::Display + Send,
    {
        let rows = rows_of(data.len(), row_len)?;
        let mut out = output(rows, out_len)?;
        let kernel = &self.kernel;
        let failure = fold_chunks(
            &mut out,
            out_len.max(1),
            row_len,
            if out_len == 0 {
                None
            } else {
                splits(self.run, data.len())?
            },
            |first_row, chunk| {
                let inputs = data[first_row * row_len..].chunks_exact(row_len);
                if out_len == 0 {
                    let mut nothing: [R; 0] = [];
                    for (offset, row) in inputs.enumerate() {
                        if let Err(error) = kernel(row, &mut nothing) {
                            return Some((first_row + offset, error));
                        }
                    }
                    return None;
                }
                for (offset, (row, outputs)) in
                    inputs.zip(chunk.chunks_exact_mut(out_len)).enumerate()
                {
                    if let Err(error) = kernel(row, outputs) {
                        return Some((first_row + offset, error));
                    }
                }
                None
            },
            || None,
            super::elementwise::earliest,
        )?;
        match failure {
            None => Ok(out),
            Some((row, error)) => Err(Error::task(row, error.to_string())),
        }
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

    /// The kernel over each lane of a 2-d array along `axis`, as numpy's `axis=`:
    /// `Axis(1)` gives it each row (as [`apply_array`](Self::apply_array)), `Axis(0)`
    /// each column. One row of `out_len` outputs per lane, in a `(lanes, out_len)` array.
    /// Columns of a standard-layout array are copied into rows first (one pass).
    ///
    /// # Errors
    /// [`Error::InvalidAxis`] for an axis other than 0 or 1; as [`apply`](Self::apply).
    ///
    /// ```
    /// use ndarray::{array, Axis};
    /// use parmemo_parallel::{vectorize::guvectorize, Error};
    /// let data = array![[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]];
    /// let sum = guvectorize(|lane: &[f64], o: &mut [f64]| o[0] = lane.iter().sum());
    /// assert_eq!(sum.apply_axis(&data, Axis(1), 1)?, array![[6.0], [60.0]]); // each row
    /// assert_eq!(sum.apply_axis(&data, Axis(0), 1)?, array![[11.0], [22.0], [33.0]]); // each column
    /// assert_eq!(sum.apply_axis(&data, Axis(2), 1), Err(Error::InvalidAxis { axis: 2, dims: 2 }));
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn apply_axis<S, T, R>(
        &self,
        data: &ndarray::ArrayBase<S, ndarray::Ix2>,
        axis: ndarray::Axis,
        out_len: usize,
    ) -> Result<ndarray::Array2<R>, Error>
    where
        S: ndarray::Data<Elem = T>,
        F: Fn(&[T], &mut [R]) + Sync,
        T: Clone + Sync,
        R: Default + Clone + Send,
    {
        match axis.index() {
            1 => self.apply_array(data, out_len),
            0 => self.apply_array(&data.t(), out_len),
            other => Err(Error::InvalidAxis {
                axis: other,
                dims: 2,
            }),
        }
    }
}

/// Checks that an output of `got` values holds `rows * out_len`.
fn check_output(rows: usize, out_len: usize, got: usize) -> Result<(), Error> {
    let expected = rows
        .checked_mul(out_len)
        .ok_or(Error::OutputTooLarge { rows, out_len })?;
    if got == expected {
        Ok(())
    } else {
        Err(Error::OutputLength { expected, got })
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

    #[cfg(feature = "ndarray")]
    #[test]
    fn each_axis_gives_the_lanes_numpy_would() {
        use ndarray::{Array2, Axis};
        let data = Array2::from_shape_fn((37, 11), |(i, j)| (i * 11 + j) as f64 * 0.5);
        let spread = guvectorize(|lane: &[f64], out: &mut [f64]| {
            out[0] = lane.iter().copied().fold(f64::MIN, f64::max);
            out[1] = lane.iter().copied().fold(f64::MAX, f64::min);
        })
        .target(Target::Parallel);
        for (axis, lanes) in [(Axis(0), 11), (Axis(1), 37)] {
            let got = spread.apply_axis(&data, axis, 2).unwrap();
            assert_eq!(got.dim(), (lanes, 2));
            for (index, lane) in data.lanes(axis).into_iter().enumerate() {
                let max = lane.iter().copied().fold(f64::MIN, f64::max);
                let min = lane.iter().copied().fold(f64::MAX, f64::min);
                assert_eq!(
                    (got[[index, 0]], got[[index, 1]]),
                    (max, min),
                    "{axis:?} {index}"
                );
            }
        }
        // A view that is already transposed goes through the same path.
        let by_rows = spread.apply_axis(&data.t(), Axis(0), 2).unwrap();
        assert_eq!(by_rows, spread.apply_axis(&data, Axis(1), 2).unwrap());
    }

    #[test]
    fn two_inputs_and_fallible_rows_in_parallel_match_sequential() {
        let x: Vec<f64> = (0..300_000).map(f64::from).collect();
        let w: Vec<f64> = (0..100_000).map(|i| f64::from(i % 7 + 1)).collect();
        let weighted = |x: &[f64], w: &[f64], out: &mut [f64]| {
            out[0] = x.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() / w.iter().sum::<f64>();
            out[1] = x[0];
        };
        let sequential = guvectorize(weighted).apply2(&x, 3, &w, 1, 2).unwrap();
        let parallel = guvectorize(weighted)
            .target(Target::Parallel)
            .apply2(&x, 3, &w, 1, 2)
            .unwrap();
        assert_eq!(sequential, parallel);
        assert_eq!(parallel[2 * 99_999 + 1], 299_997.0);
        assert_eq!(
            guvectorize(weighted).apply2(&x, 3, &w[..10], 1, 2),
            Err(Error::RowCountMismatch {
                argument: 1,
                expected: 100_000,
                got: 10
            })
        );
        let checked = guvectorize(|r: &[u32], o: &mut [u32]| {
            if r.contains(&0) {
                Err(format!("row starting {} has a zero", r[0]))
            } else {
                o[0] = r.iter().sum();
                Ok(())
            }
        })
        .target(Target::Parallel);
        let mut data: Vec<u32> = (1..=200_000).collect();
        assert_eq!(checked.try_apply(&data, 4, 1).map(|v| v.len()), Ok(50_000));
        data[150_001] = 0;
        data[40_000] = 0;
        assert_eq!(
            checked.try_apply(&data, 4, 1),
            Err(Error::task(10_000, "row starting 0 has a zero"))
        );
    }

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
