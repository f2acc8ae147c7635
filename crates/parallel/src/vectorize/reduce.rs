//! A parallel reduction in whole chunks: numba's `prange` with a reduction variable.

use super::chunks::{splits, Target};
use crate::engine::install;
use crate::Error;
use rayon::prelude::*;

/// Elements per chunk of [`reduce`]: large enough that the per-chunk call and combine
/// vanish next to the loop inside, small enough to balance two to many cores.
const REDUCE_CHUNK: usize = 8_192;

/// Reduces `data` by folding each chunk with `fold_chunk` and combining the partial
/// results with `combine` (associative; `identity` is its neutral value).
///
/// With [`Target::Sequential`] or a short input, `fold_chunk` sees the whole slice once.
/// In parallel it runs on all cores, or on the `n_jobs` of the enclosing
/// [`Config`](crate::Config) scope.
///
/// # Errors
/// [`Error::ThreadPool`] if the pool cannot be started; [`Error::InvalidNJobs`] for a
/// scope's `n_jobs(0)`.
///
/// ```
/// use parmemo_parallel::vectorize::{reduce, Target};
/// let data: Vec<f64> = (1..=100_000).map(f64::from).collect();
/// let sum = reduce(&data, Target::Parallel, || 0.0, |c| c.iter().sum::<f64>(), |a, b| a + b)?;
/// assert_eq!(sum, 5_000_050_000.0);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
pub fn reduce<T, S>(
    data: &[T],
    target: Target,
    identity: impl Fn() -> S + Sync + Send,
    fold_chunk: impl Fn(&[T]) -> S + Sync + Send,
    combine: impl Fn(S, S) -> S + Sync + Send,
) -> Result<S, Error>
where
    T: Sync,
    S: Send,
{
    let Some(threads) = splits(target.into(), data.len())? else {
        return Ok(fold_chunk(data));
    };
    install(threads, || {
        data.par_chunks(REDUCE_CHUNK)
            .map(&fold_chunk)
            .reduce(&identity, &combine)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_targets_agree_on_an_exact_sum() {
        let data: Vec<u64> = (0..200_000).collect();
        for target in [Target::Sequential, Target::Parallel] {
            let sum = reduce(&data, target, || 0, |c| c.iter().sum::<u64>(), |a, b| a + b);
            assert_eq!(sum, Ok(199_999 * 200_000 / 2));
        }
    }

    #[test]
    fn empty_input_folds_once() {
        let sum = reduce(
            &[] as &[u8],
            Target::Parallel,
            || 7,
            <[u8]>::len,
            |a, b| a + b,
        );
        assert_eq!(sum, Ok(0));
    }
}
