//! Splitting an output buffer into chunks for the workers: the one place that decides
//! when parallel work pays.

use crate::engine::install;
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
/// Measured with `cargo bench -p parmemo-benches --bench parallel -- vectorize_threshold`
/// on 2 cores: an elementwise `exp` pays from about 16 000 elements, cheaper kernels
/// later, so smaller inputs run on the calling thread whatever the target.
pub const PARALLEL_MIN_LEN: usize = 16_384;

/// Input elements each parallel chunk holds at least: a few microseconds of work, large
/// next to what handing a chunk to a worker costs.
const CHUNK_MIN_LEN: usize = 4_096;

/// Chunks per thread at most: enough for work stealing to even out uneven chunks,
/// few enough that scheduling them stays invisible.
const CHUNKS_PER_THREAD: usize = 8;

/// Where and on how many threads a kernel runs: its target, and the `n_jobs` it was
/// given, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) target: Target,
    pub(crate) n_jobs: Option<i32>,
}

impl From<Target> for Run {
    fn from(target: Target) -> Self {
        Run {
            target,
            n_jobs: None,
        }
    }
}

/// On how many threads work over `len` elements runs: `None` on the calling thread
/// (a sequential target, a short input, or one thread), else the kernel's `n_jobs`, the
/// enclosing [`Config`](crate::Config) scope's, or all cores, in that order.
///
/// # Errors
/// [`Error::InvalidNJobs`] for `n_jobs(0)`.
pub(crate) fn splits(run: Run, len: usize) -> Result<Option<usize>, Error> {
    if run.target != Target::Parallel || len < PARALLEL_MIN_LEN {
        return Ok(None);
    }
    let n_jobs = run.n_jobs.or(crate::config::current().n_jobs).unwrap_or(-1);
    let threads = crate::jobs::resolve(n_jobs, available_cores())?;
    Ok((threads > 1).then_some(threads))
}

/// Calls `work(first_granule, chunk)` over `out` cut into chunks of whole granules (a
/// granule is one output element, or one row's outputs), on `threads` threads (on the
/// calling thread for `None`), and combines what the calls return with `combine`.
///
/// `granule_cost` is the number of input elements behind one granule; chunks hold
/// enough granules to cover [`CHUNK_MIN_LEN`] input elements, and there are at most
/// [`CHUNKS_PER_THREAD`] per thread.
pub(crate) fn fold_chunks<R, S>(
    out: &mut [R],
    granule: usize,
    granule_cost: usize,
    threads: Option<usize>,
    work: impl Fn(usize, &mut [R]) -> S + Sync + Send,
    identity: impl Fn() -> S + Sync + Send,
    combine: impl Fn(S, S) -> S + Sync + Send,
) -> Result<S, Error>
where
    R: Send,
    S: Send,
{
    let granule = granule.max(1);
    let Some(threads) = threads.filter(|_| out.len() > granule) else {
        return Ok(work(0, out));
    };
    let granules = out.len() / granule;
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
