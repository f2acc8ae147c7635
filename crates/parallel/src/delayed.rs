//! `delayed`: a call packaged to run later, as joblib's `delayed(f)(x)`.

/// A task: a closure that [`Parallel::run`](crate::Parallel::run) calls on a worker.
///
/// Built by [`delayed`]; it only wraps the closure, so that a stream of tasks reads like
/// joblib's `Parallel(...)(delayed(f)(x) for x in xs)`.
#[derive(Debug, Clone, Copy)]
#[must_use = "a delayed task does nothing until it is run"]
pub struct Delayed<F>(F);

/// Packages `task` to be run later by [`Parallel`](crate::Parallel).
///
/// ```
/// use parmemo_parallel::{delayed, Parallel};
/// let samples = vec![vec![1.0, 2.0], vec![3.0, 5.0]];
/// let means: Vec<f64> = Parallel::new()
///     .run(samples.iter().map(|s| delayed(move || s.iter().sum::<f64>() / s.len() as f64)))?;
/// assert_eq!(means, [1.5, 4.0]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
pub fn delayed<F, R>(task: F) -> Delayed<F>
where
    F: FnOnce() -> R,
{
    Delayed(task)
}

impl<F, R> Delayed<F>
where
    F: FnOnce() -> R,
{
    /// Runs the task here and now.
    ///
    /// ```
    /// assert_eq!(parmemo_parallel::delayed(|| 6 * 7).call(), 42);
    /// ```
    pub fn call(self) -> R {
        (self.0)()
    }
}
