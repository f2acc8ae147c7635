//! rayon thread pools, built once per size and reused: building one costs tens of
//! microseconds per thread, far more than a small `Parallel` call.

use crate::Error;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

static POOLS: LazyLock<Mutex<Kept>> = LazyLock::new(Mutex::default);

/// How many pool sizes are kept between runs: a program that asks for many sizes in turn
/// keeps the most recent few, not a pool per size it ever used.
const KEPT_SIZES: usize = 4;

/// Pools larger than this many times the cores are built for their run and not kept:
/// `n_jobs(2000)` is honoured, but its 2 000 threads end with the run.
const KEPT_OVERSUBSCRIPTION: usize = 4;

/// The kept pools, most recently used last.
#[derive(Default)]
struct Kept {
    pools: Vec<(usize, Arc<ThreadPool>)>,
}

/// The pool of `threads` threads, built on first use and kept for later runs (unless
/// far larger than the machine).
pub(crate) fn pool(threads: usize) -> Result<Arc<ThreadPool>, Error> {
    // A panic while holding the lock cannot leave the list half-written.
    let mut kept = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(at) = kept.pools.iter().position(|(size, _)| *size == threads) {
        let entry = kept.pools.remove(at);
        let pool = Arc::clone(&entry.1);
        kept.pools.push(entry);
        return Ok(pool);
    }
    let pool = Arc::new(build(threads)?);
    if threads <= KEPT_OVERSUBSCRIPTION * crate::available_cores() {
        if kept.pools.len() == KEPT_SIZES {
            // The least recently used goes; its threads end once its runs are done.
            kept.pools.remove(0);
        }
        kept.pools.push((threads, Arc::clone(&pool)));
    }
    Ok(pool)
}

/// Pools lent to one run at a time: runs whose tasks own their data (streams, runs
/// under a timeout) may leave a task running that nobody waits for, and no other run may
/// queue behind it. Such a run borrows a pool of its own here and gives it back only if
/// it ended with no task left running; otherwise the pool is dropped, and its threads end
/// as their tasks do.
static SPARE: LazyLock<Mutex<Vec<SizedPool>>> = LazyLock::new(Mutex::default);

/// A pool and its number of threads.
type SizedPool = (usize, Arc<ThreadPool>);

/// A pool of `threads` threads for one run alone: a spare one, or a new one.
pub(crate) fn lend(threads: usize) -> Result<Arc<ThreadPool>, Error> {
    let mut spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(at) = spare.iter().rposition(|(size, _)| *size == threads) {
        return Ok(spare.remove(at).1);
    }
    drop(spare);
    build(threads).map(Arc::new)
}

/// Takes back a lent pool whose run ended with none of its tasks running, for the next
/// run of its size (a few are kept, none far larger than the machine).
pub(crate) fn give_back(threads: usize, pool: Arc<ThreadPool>) {
    if threads > KEPT_OVERSUBSCRIPTION * crate::available_cores() {
        return;
    }
    let mut spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
    if spare.len() == KEPT_SIZES {
        spare.remove(0);
    }
    spare.push((threads, pool));
}

fn build(threads: usize) -> Result<ThreadPool, Error> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("parmemo-{threads}-{i}"))
        .build()
        .map_err(|err| Error::ThreadPool {
            threads,
            message: err.to_string(),
        })
}

/// Drops every kept and spare pool: their threads end once the runs using them are done.
pub(crate) fn shutdown() {
    POOLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pools
        .clear();
    SPARE.lock().unwrap_or_else(PoisonError::into_inner).clear();
}

/// How many pools are kept now, for tests.
#[cfg(test)]
fn kept_sizes() -> Vec<usize> {
    POOLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pools
        .iter()
        .map(|(size, _)| *size)
        .collect()
}

/// Whether the calling thread is a worker of some rayon pool: then a nested run must
/// use that pool instead of adding threads, and must not block it while waiting.
pub(crate) fn inside_worker() -> bool {
    rayon::current_thread_index().is_some()
}

/// Runs `f` in the pool of `threads` threads, or in the current pool when already
/// inside one (nested calls share the outer budget instead of oversubscribing).
pub(crate) fn install<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, Error> {
    if inside_worker() {
        Ok(f())
    } else {
        Ok(pool(threads)?.install(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_reused_and_only_a_few_sizes_are_kept() {
        let a = pool(3).unwrap();
        let b = pool(3).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.current_num_threads(), 3);
        for size in 1..=12 {
            pool(size).unwrap();
        }
        let kept = kept_sizes();
        assert!(kept.len() <= KEPT_SIZES, "{kept:?}");
        let huge = KEPT_OVERSUBSCRIPTION * crate::available_cores() + 1;
        assert_eq!(pool(huge).unwrap().current_num_threads(), huge);
        assert!(
            !kept_sizes().contains(&huge),
            "an oversized pool is not kept"
        );
    }

    #[test]
    fn a_lent_pool_serves_one_run_and_comes_back_only_when_given() {
        let lent = lend(5).unwrap();
        let other = lend(5).unwrap();
        assert!(
            !Arc::ptr_eq(&lent, &other),
            "two runs never share a lent pool"
        );
        let address = Arc::as_ptr(&lent);
        give_back(5, lent);
        assert_eq!(
            Arc::as_ptr(&lend(5).unwrap()),
            address,
            "given back, lent again"
        );
        drop(other); // abandoned: not kept
        let huge = KEPT_OVERSUBSCRIPTION * crate::available_cores() + 1;
        give_back(huge, lend(huge).unwrap());
        assert!(!SPARE.lock().unwrap().iter().any(|(size, _)| *size == huge));
    }
}
