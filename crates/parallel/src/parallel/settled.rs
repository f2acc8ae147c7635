//! Settled runs: one outcome per item, whatever became of the others. joblib users have
//! asked for per-task outcomes for years (joblib #367, #1221): a sweep where one task
//! hangs or crashes keeps every other result. A task that panicked or returned `Err` is
//! `Err(Error::Task)`, one past the timeout `Err(Error::Timeout)`, one whose worker
//! process died `Err(Error::WorkerDied)`; the outer `Err` is for the run as a whole
//! (invalid settings, no worker could start).

use super::Parallel;
#[cfg(feature = "processes")]
use crate::backend::remote::{self, RemoteFn};
#[cfg(feature = "mpi")]
use crate::backend::Mpi;
#[cfg(feature = "processes")]
use crate::backend::Processes;
use crate::backend::{InProcess, Sequential, Threads};
use crate::config::Chosen;
use crate::engine::{
    execute_owned, execute_scoped, settle, Failure, Plan, SettledResults, TaskResult,
};
use crate::{Configured, Delayed, Error, Timed, Untimed};
// Named in the docs.
#[cfg(doc)]
use crate::Config;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;

/// One outcome per item, in input order.
pub type Settled<R> = Vec<Result<R, Error>>;

impl<B: InProcess> Parallel<B, Untimed> {
    /// [`map`](Parallel::map) that runs every item whatever becomes of the others, and
    /// returns one outcome per item in input order: `Ok` with its result, or
    /// `Err(Error::Task)` for a task that panicked (`Err(Error::Timeout)` past a timeout
    /// from a [`Config`] scope; the run returns once it ends, since tasks
    /// may borrow).
    ///
    /// # Errors
    /// Only for the run as a whole: [`Error::InvalidNJobs`], [`Error::InvalidTimeout`],
    /// [`Error::InvalidBatchSize`], [`Error::ThreadPool`].
    ///
    /// ```
    /// use parmemo_parallel::{Error, Parallel};
    /// let inverse = |x: i32| {
    ///     assert!(x != 0, "no inverse of zero");
    ///     1.0 / f64::from(x)
    /// };
    /// let settled = Parallel::new().map_settled(inverse, [1, 0, 4])?;
    /// assert_eq!(settled[0], Ok(1.0));
    /// assert!(matches!(&settled[1], Err(Error::Task { index: 1, message, .. }) if message.contains("zero")));
    /// assert_eq!(settled[2], Ok(0.25));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn map_settled<A, R, F, I>(&self, f: F, items: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send,
        R: Send,
        F: Fn(A) -> R + Sync,
    {
        self.collect_settled(items.into_iter(), &|item: A| settle(|| Ok(f(item))))
    }

    /// [`map_settled`](Self::map_settled) for a function that returns `Result`: an `Err`
    /// is that item's `Err(Error::Task)`, which gives the error value back
    /// ([`Error::task_error`]).
    ///
    /// # Errors
    /// As [`map_settled`](Self::map_settled).
    ///
    /// ```
    /// use parmemo_parallel::Parallel;
    /// let parsed = Parallel::new().try_map_settled(|t: &str| t.parse::<u8>(), ["1", "x", "3"])?;
    /// assert_eq!(parsed[0], Ok(1));
    /// assert!(parsed[1].as_ref().unwrap_err().task_error::<std::num::ParseIntError>().is_some());
    /// assert_eq!(parsed[2], Ok(3));
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn try_map_settled<A, R, E, F, I>(&self, f: F, items: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send,
        R: Send,
        E: Display + Send + Sync + 'static,
        F: Fn(A) -> Result<R, E> + Sync,
    {
        self.collect_settled(items.into_iter(), &|item: A| {
            settle(|| f(item).map_err(Failure::typed))
        })
    }

    /// [`run`](Parallel::run) with one outcome per task, as
    /// [`map_settled`](Self::map_settled).
    ///
    /// # Errors
    /// As [`map_settled`](Self::map_settled).
    ///
    /// ```
    /// use parmemo_parallel::{delayed, Parallel};
    /// let tasks = [3_u32, 0, 5].map(|n| delayed(move || 60 / n));
    /// let settled = Parallel::new().run_settled(tasks)?;
    /// assert_eq!((settled[0].clone(), settled[2].clone()), (Ok(20), Ok(12)));
    /// assert!(settled[1].is_err());
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn run_settled<I, F, R>(&self, tasks: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.collect_settled(tasks.into_iter(), &|task: Delayed<F>| {
            settle(|| Ok(task.call()))
        })
    }

    /// [`run_settled`](Self::run_settled) for tasks that return `Result`.
    ///
    /// # Errors
    /// As [`map_settled`](Self::map_settled).
    pub fn try_run_settled<I, F, R, E>(&self, tasks: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> Result<R, E> + Send,
        R: Send,
        E: Display + Send + Sync + 'static,
    {
        self.collect_settled(tasks.into_iter(), &|task: Delayed<F>| {
            settle(|| task.call().map_err(Failure::typed))
        })
    }
}

/// Settled runs under a [`timeout`](Parallel::timeout): a task past it is that item's
/// `Err(Error::Timeout)`, and the call returns once every other task has ended, without
/// waiting for it. A thread cannot be stopped, so it keeps running out of reach (what it
/// returns is dropped); once such tasks hold every thread, the rest runs on fresh ones.
impl<B: InProcess> Parallel<B, Timed> {
    /// [`map_settled`](Parallel::map_settled) under a timeout.
    ///
    /// # Errors
    /// As the untimed [`map_settled`](Parallel::map_settled).
    ///
    /// ```
    /// use parmemo_parallel::{Error, Parallel};
    /// use std::time::Duration;
    /// let nap = |ms: u64| {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// };
    /// let p = Parallel::new().timeout(Duration::from_millis(300));
    /// let settled = p.map_settled(nap, [1, 5_000, 2])?; // returns in about 0.3 s
    /// assert_eq!(settled, [Ok(1), Err(Error::Timeout { index: 1 }), Ok(2)]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn map_settled<A, R, F, I>(&self, f: F, items: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        self.collect_settled_owned(items.into_iter(), move |item: A| settle(|| Ok(f(item))))
    }

    /// [`try_map_settled`](Parallel::try_map_settled) under a timeout.
    ///
    /// # Errors
    /// As the untimed [`map_settled`](Parallel::map_settled).
    pub fn try_map_settled<A, R, E, F, I>(&self, f: F, items: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
        E: Display + Send + Sync + 'static,
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.collect_settled_owned(items.into_iter(), move |item: A| {
            settle(|| f(item).map_err(Failure::typed))
        })
    }

    /// [`run_settled`](Parallel::run_settled) under a timeout.
    ///
    /// # Errors
    /// As the untimed [`map_settled`](Parallel::map_settled).
    pub fn run_settled<I, F, R>(&self, tasks: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.collect_settled_owned(tasks.into_iter(), |task: Delayed<F>| {
            settle(|| Ok(task.call()))
        })
    }

    /// [`try_run_settled`](Parallel::try_run_settled) under a timeout.
    ///
    /// # Errors
    /// As the untimed [`map_settled`](Parallel::map_settled).
    pub fn try_run_settled<I, F, R, E>(&self, tasks: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: Display + Send + Sync + 'static,
    {
        self.collect_settled_owned(tasks.into_iter(), |task: Delayed<F>| {
            settle(|| task.call().map_err(Failure::typed))
        })
    }
}

impl<B: InProcess, T> Parallel<B, T> {
    /// This builder's plan for a settled run.
    fn settled_plan(&self) -> Result<Plan, Error> {
        let mut plan = self.plan()?;
        plan.settled = true;
        Ok(plan)
    }

    fn collect_settled<J, R>(
        &self,
        jobs: impl Iterator<Item = J>,
        runner: &(impl Fn(J) -> TaskResult<Result<R, Failure>> + Sync),
    ) -> Result<Settled<R>, Error>
    where
        J: Send,
        R: Send,
    {
        let mut collected = SettledResults::new();
        execute_scoped(
            self.backend.is_threaded(),
            &self.settled_plan()?,
            jobs,
            runner,
            |event| collected.take(event),
        )?;
        collected.finish()
    }

    fn collect_settled_owned<J, R>(
        &self,
        jobs: impl Iterator<Item = J>,
        runner: impl Fn(J) -> TaskResult<Result<R, Failure>> + Send + Sync + 'static,
    ) -> Result<Settled<R>, Error>
    where
        J: Send + 'static,
        R: Send + 'static,
    {
        let mut collected = SettledResults::new();
        execute_owned(&self.settled_plan()?, jobs, runner, |event| {
            collected.take(event)
        })?;
        collected.finish()
    }
}

/// The settled API of the out-of-process backends, as `out_of_process_api!` writes the
/// rest of theirs.
#[cfg(feature = "processes")]
macro_rules! settled_out_of_process_api {
    ($backend:ty) => {
        impl<T> Parallel<$backend, T> {
            /// [`map`](Self::map) that runs every item whatever becomes of the others: one
            /// outcome per item in input order. A task that panicked is `Err(Error::Task)`,
            /// one past the timeout `Err(Error::Timeout)` (its worker process was killed;
            /// an MPI rank cannot be, and stays busy until the task returns), one whose
            /// worker process died `Err(Error::WorkerDied)`: the other tasks of its batch
            /// are rerun one at a time for their results. On MPI a lost rank still ends
            /// the job, as MPI does.
            ///
            /// # Errors
            /// Only for the run as a whole: [`Error::WorkerStart`], [`Error::InvalidNJobs`],
            /// [`Error::InvalidTimeout`], [`Error::InvalidBatchSize`],
            /// [`Error::FunctionNotReachable`].
            ///
            /// ```no_run
            /// use parmemo_parallel::{Backend, Error, Parallel};
            /// use std::time::Duration;
            ///
            /// fn fragile(x: u32) -> u32 {
            ///     match x {
            ///         3 => std::process::abort(),
            ///         5 => std::thread::sleep(Duration::from_secs(60)),
            ///         _ => {}
            ///     }
            ///     x * 2
            /// }
            ///
            /// fn main() -> Result<(), Error> {
            ///     parmemo_parallel::init();
            ///     let p = Parallel::new().backend(Backend::Processes).timeout(Duration::from_secs(2));
            ///     let settled = p.map_settled(fragile, 0..8)?;
            ///     assert!(matches!(settled[3], Err(Error::WorkerDied { index: 3, .. })));
            ///     assert_eq!(settled[5], Err(Error::Timeout { index: 5 }));
            ///     assert_eq!(settled[7], Ok(14));
            ///     Ok(())
            /// }
            /// ```
            pub fn map_settled<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Settled<R>, Error>
            where
                I: IntoIterator<Item = A>,
                A: Serialize + DeserializeOwned + 'static,
                R: Serialize + DeserializeOwned + Send + 'static,
            {
                remote::collect_settled(
                    self.placement()?,
                    items.into_iter(),
                    RemoteFn::map_settled(f),
                )
            }

            /// [`map_settled`](Self::map_settled) for a function that returns `Result`: an
            /// `Err` is that item's `Err(Error::Task)`, with the error value itself
            /// ([`Error::task_error`]), which crosses back serialized.
            ///
            /// # Errors
            /// As [`map_settled`](Self::map_settled).
            pub fn try_map_settled<A, R, E, I>(
                &self,
                f: fn(A) -> Result<R, E>,
                items: I,
            ) -> Result<Settled<R>, Error>
            where
                I: IntoIterator<Item = A>,
                A: Serialize + DeserializeOwned + 'static,
                R: Serialize + DeserializeOwned + Send + 'static,
                E: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
            {
                remote::collect_settled(
                    self.placement()?,
                    items.into_iter(),
                    RemoteFn::try_map_settled(f),
                )
            }
        }
    };
}

#[cfg(feature = "processes")]
settled_out_of_process_api!(Processes);
#[cfg(feature = "mpi")]
settled_out_of_process_api!(Mpi);

/// Settled runs on the backend the enclosing [`Config`] scope chooses.
impl<T> Parallel<Configured, T> {
    /// [`map`](Self::map) with one outcome per item, on the backend the scope chose
    /// (threads without a scope): see the chosen backend's `map_settled`. In process,
    /// the run returns at a timeout, as [`Parallel::timeout`]'s runs do.
    ///
    /// # Errors
    /// As the chosen backend's `map_settled`.
    ///
    /// ```
    /// use parmemo_parallel::{Backend, Parallel};
    /// fn halve(x: u32) -> u32 {
    ///     assert!(x % 2 == 0, "{x} is odd");
    ///     x / 2
    /// }
    /// let settled = Parallel::new().backend(Backend::Configured).map_settled(halve, [4, 3])?;
    /// assert_eq!(settled[0], Ok(2));
    /// assert!(settled[1].is_err());
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn map_settled<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        on_chosen_backend!(
            self,
            map_settled(f),
            items,
            collect_settled_owned,
            move |item: A| settle(|| Ok(f(item)))
        )
    }

    /// [`try_map`](Self::try_map) with one outcome per item: see
    /// [`map_settled`](Self::map_settled).
    ///
    /// # Errors
    /// As the chosen backend's `try_map_settled`.
    pub fn try_map_settled<A, R, E, I>(
        &self,
        f: fn(A) -> Result<R, E>,
        items: I,
    ) -> Result<Settled<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        E: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
    {
        on_chosen_backend!(
            self,
            try_map_settled(f),
            items,
            collect_settled_owned,
            move |item: A| settle(|| f(item).map_err(Failure::typed))
        )
    }
}
