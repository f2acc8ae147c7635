//! Splitting an output buffer into chunks for the workers: the one place that decides
//! when parallel work pays.

use crate::backend::install;
use crate::{available_cores, Error};
use rayon::prelude::*;

/// Where a vectorized kernel runs, as numba's `target=`.
///
/// ```
/// use parmemo_parallel::vectorize::{vectorize, Target};
/// let doubled = vectorize(|x: i32| 2 * x).target(Target::Parallel).apply(&[1, 2, 3][..])?;
/// assert_eq!(doubled, [2, 4, 6]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// On the calling thread (numba's `"cpu"`); the default.
    #[default]
    Sequential,
    /// On all cores, when the input is at least [`PARALLEL_MIN_LEN`] elements long.
    Parallel,
}

/// The smallest input, in elements, that [`Target::Parallel`] splits across threads.
///
/// Measured with `cargo bench --bench parallel -- vectorize_threshold` on 2 cores: an
/// elementwise `exp` pays from about 16 000 elements, cheaper kernels later, so smaller
/// inputs run on the calling thread whatever the target.
pub const PARALLEL_MIN_LEN: usize = 16_384;

/// Input elements each parallel chunk holds at least: a few microseconds of work, large
/// next to what handing a chunk to a worker costs.
const CHUNK_MIN_LEN: usize = 4_096;

/// Chunks per thread at most: enough for work stealing to even out uneven chunks,
/// few enough that scheduling them stays invisible.
const CHUNKS_PER_THREAD: usize = 8;

/// Whether work over `len` elements should be split.
pub(crate) fn splits(target: Target, len: usize) -> bool {
    target == Target::Parallel && len >= PARALLEL_MIN_LEN
}

/// Calls `work(first_granule, chunk)` over `out` cut into chunks of whole granules (a
/// granule is one output element, or one row's outputs), in parallel when `parallel`,
/// and combines what the calls return with `combine`.
///
/// `granule_cost` is the number of input elements behind one granule; chunks hold
/// enough granules to cover [`CHUNK_MIN_LEN`] input elements, and there are at most
/// [`CHUNKS_PER_THREAD`] per thread.
pub(crate) fn fold_chunks<R, S>(
    out: &mut [R],
    granule: usize,
    granule_cost: usize,
    parallel: bool,
    work: impl Fn(usize, &mut [R]) -> S + Sync + Send,
    identity: impl Fn() -> S + Sync + Send,
    combine: impl Fn(S, S) -> S + Sync + Send,
) -> Result<S, Error>
where
    R: Send,
    S: Send,
{
    let granule = granule.max(1);
    if !parallel || out.len() <= granule {
        return Ok(work(0, out));
    }
    let granules = out.len() / granule;
    let threads = available_cores();
    let fewest_granules = (CHUNK_MIN_LEN / granule_cost.max(1)).max(1);
    let granules_per_chunk = granules
        .div_ceil(threads * CHUNKS_PER_THREAD)
        .max(fewest_granules);
    install(threads, || {
        out.par_chunks_mut(granule * granules_per_chunk)
            .enumerate()
            .map(|(k, chunk)| work(k * granules_per_chunk, chunk))
            .reduce(&identity, &combine)
    })
}
