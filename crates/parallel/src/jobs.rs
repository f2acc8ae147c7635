//! How many workers `n_jobs` means on this machine.

use crate::Error;
use std::num::NonZeroUsize;

/// The number of cores this process may use: cgroup and affinity aware (what
/// `std::thread::available_parallelism` reports), and at least 1.
///
/// ```
/// assert!(parmemo_parallel::available_cores() >= 1);
/// ```
#[must_use]
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Resolves joblib's `n_jobs` against `cores`: `-1` all cores, `-2` all but one (and so
/// on, never below 1), `n > 0` exactly `n`; `0` is an error.
pub(crate) fn resolve(n_jobs: i32, cores: usize) -> Result<usize, Error> {
    match n_jobs {
        0 => Err(Error::InvalidNJobs { n_jobs }),
        n if n > 0 => Ok(n.unsigned_abs() as usize),
        n => {
            let spared = n.unsigned_abs() as usize - 1;
            Ok(cores.saturating_sub(spared).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joblib_semantics() {
        assert_eq!(resolve(-1, 8), Ok(8));
        assert_eq!(resolve(-2, 8), Ok(7));
        assert_eq!(resolve(-8, 8), Ok(1));
        assert_eq!(resolve(-20, 8), Ok(1));
        assert_eq!(resolve(3, 8), Ok(3));
        assert_eq!(resolve(16, 8), Ok(16));
        assert_eq!(resolve(0, 8), Err(Error::InvalidNJobs { n_jobs: 0 }));
        assert_eq!(resolve(i32::MIN, 2), Ok(1));
    }
}
