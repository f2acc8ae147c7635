//! `try_map_blocks`: a kernel that takes a whole block of the input and of the output at
//! once, over blocks in parallel. For kernels written so that the compiler vectorizes
//! their loop (SIMD), which a call per element would prevent.

use super::chunks::{fold_chunks, splits, Target};
use super::elementwise::earliest;
use crate::Error;
use std::fmt::Display;

/// Applies `kernel` to matching blocks of `input` and `out` (same length), on all cores
/// when `target` is [`Target::Parallel`] and the input is long enough: numba's `prange`
/// over blocks, for kernels that process a block in one tight (SIMD-friendly) loop.
///
/// Blocks hold thousands of elements, split as for [`vectorize`](super::vectorize). A
/// kernel reports bad input as `Err((index within its block, error))`; the run then
/// fails with [`Error::Task`] naming the earliest bad element of the whole input (other
/// blocks may have run, so `out` holds unspecified values).
///
/// # Errors
/// [`Error::OutputLength`] when `out` is not as long as `input`; [`Error::Task`] as
/// above; [`Error::ThreadPool`] if the pool cannot start.
///
/// ```
/// use parmemo_parallel::vectorize::{try_map_blocks, Target};
///
/// let input: Vec<f64> = (0..100_000).map(f64::from).collect();
/// let mut out = vec![0.0; input.len()];
/// try_map_blocks(Target::Parallel, &input, &mut out, |block: &[f64], out: &mut [f64]| {
///     for (o, &x) in out.iter_mut().zip(block) {
///         *o = x.sqrt(); // one loop over the block: the compiler may vectorize it
///     }
///     Ok::<(), (usize, String)>(())
/// })?;
/// assert_eq!(out[49], 7.0);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
pub fn try_map_blocks<A, R, E>(
    target: Target,
    input: &[A],
    out: &mut [R],
    kernel: impl Fn(&[A], &mut [R]) -> Result<(), (usize, E)> + Sync + Send,
) -> Result<(), Error>
where
    A: Sync,
    R: Send,
    E: Display + Send,
{
    if input.len() != out.len() {
        return Err(Error::OutputLength {
            expected: input.len(),
            got: out.len(),
        });
    }
    let threads = splits(target.into(), out.len())?;
    let block = |start: usize, out: &mut [R]| {
        let input = &input[start..start + out.len()];
        kernel(input, out)
            .err()
            .map(|(offset, error)| (start + offset, error))
    };
    match fold_chunks(out, 1, 1, threads, block, || None, earliest)? {
        None => Ok(()),
        Some((index, error)) => Err(Error::task(index, error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn blocks_equal_an_elementwise_loop(values in prop::collection::vec(-1e6f64..1e6, 0..40_000)) {
            let mut out = vec![0.0; values.len()];
            try_map_blocks(Target::Parallel, &values, &mut out, |block: &[f64], out: &mut [f64]| {
                for (o, &x) in out.iter_mut().zip(block) {
                    *o = 3.0 * x + 1.0;
                }
                Ok::<(), (usize, String)>(())
            }).unwrap();
            let expected: Vec<f64> = values.iter().map(|&x| 3.0 * x + 1.0).collect();
            prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn the_earliest_bad_element_is_named() {
        let mut values = vec![1.0_f64; 100_000];
        values[77_777] = -1.0;
        values[33_333] = -2.0;
        let mut out = vec![0.0; values.len()];
        let result = try_map_blocks(
            Target::Parallel,
            &values,
            &mut out,
            |block: &[f64], out: &mut [f64]| {
                for (i, (o, &x)) in out.iter_mut().zip(block).enumerate() {
                    if x < 0.0 {
                        return Err((i, format!("negative: {x}")));
                    }
                    *o = x;
                }
                Ok(())
            },
        );
        assert_eq!(result, Err(Error::task(33_333, "negative: -2")));
    }

    #[test]
    fn lengths_must_match() {
        let result = try_map_blocks(
            Target::Sequential,
            &[1, 2],
            &mut [0; 3],
            |_: &[i32], _: &mut [i32]| Ok::<(), (usize, String)>(()),
        );
        assert_eq!(
            result,
            Err(Error::OutputLength {
                expected: 2,
                got: 3
            })
        );
    }
}
