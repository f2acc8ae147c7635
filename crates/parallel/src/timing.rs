//! Whether a `Parallel` was given a timeout of its own, in its type.
//!
//! A thread cannot be stopped from outside, so a run can return at its deadline while a
//! task still runs only if that task owns everything it uses: a task that borrows from
//! the caller must finish before the caller's frame may end. The builder records
//! [`Parallel::timeout`](crate::Parallel::timeout) in its type so that the compiler asks
//! for owned (`'static`) tasks exactly when the call must be able to return early.

/// A [`Parallel`](crate::Parallel) without a timeout of its own (the default): its
/// in-process runs may borrow from the caller.
///
/// ```
/// use parmemo_parallel::{Parallel, Threads, Untimed};
/// let p: Parallel<Threads, Untimed> = Parallel::new();
/// let data = vec![1, 2, 3];
/// assert_eq!(p.map(|i: usize| data[i] * 2, 0..3)?, [2, 4, 6]); // borrows `data`
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Untimed;

/// A [`Parallel`](crate::Parallel) with a [`timeout`](crate::Parallel::timeout): its
/// runs return [`Error::Timeout`](crate::Error::Timeout) at the deadline whatever the
/// task does, so in-process tasks and their results must own their data (`'static`).
///
/// ```
/// use parmemo_parallel::{Error, Parallel, Threads, Timed};
/// use std::time::Duration;
/// let p: Parallel<Threads, Timed> = Parallel::new().timeout(Duration::from_millis(250));
/// let never_ends = |x: u64| loop {
///     if x == 0 {
///         break x;
///     }
///     std::thread::park();
/// };
/// // Returns at the deadline; task 1 is left parked, out of reach.
/// assert_eq!(p.map(never_ends, [0, 1]), Err(Error::Timeout { index: 1 }));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timed;
