//! rayon thread pools, built once per size and reused: building one costs tens of
//! microseconds per thread, far more than a small `Parallel` call.

use crate::Error;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

static POOLS: LazyLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = LazyLock::new(Mutex::default);

/// The pool of `threads` threads, built on first use.
pub(crate) fn pool(threads: usize) -> Result<Arc<ThreadPool>, Error> {
    // A panic while holding the lock cannot leave the map half-written.
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = pools.get(&threads) {
        return Ok(Arc::clone(pool));
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("parmemo-{threads}-{i}"))
        .build()
        .map_err(|err| Error::ThreadPool {
            threads,
            message: err.to_string(),
        })?;
    let pool = Arc::new(pool);
    pools.insert(threads, Arc::clone(&pool));
    Ok(pool)
}

/// Takes `pool` out of the registry, if it is still the pool of `threads` threads: a task
/// that cannot be stopped (past its timeout, or of a dropped stream) holds one of its
/// threads, and later runs must not queue behind it. They get a new pool; the old one's
/// threads end as their tasks do.
pub(crate) fn retire(threads: usize, pool: &Arc<ThreadPool>) {
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if pools
        .get(&threads)
        .is_some_and(|kept| Arc::ptr_eq(kept, pool))
    {
        pools.remove(&threads);
    }
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
    fn pools_are_reused() {
        let a = pool(3).unwrap();
        let b = pool(3).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.current_num_threads(), 3);
    }
}
