//! The `Parallel` builder: joblib's `Parallel(n_jobs=..., batch_size=..., verbose=...,
//! timeout=...)`, with the backend part of its type.

#[cfg(feature = "processes")]
use crate::backend::remote::{self, Placement, RemoteFn};
#[cfg(feature = "mpi")]
use crate::backend::Mpi;
#[cfg(feature = "processes")]
use crate::backend::Processes;
use crate::backend::{ExecutionBackend, InProcess, Sequential, Threads};
use crate::config::{self, Chosen};
use crate::engine::{
    execute_owned, execute_scoped, execute_streaming, Around, BatchSize, EventSource, Failure,
    OrderedResults, Plan, TaskResult, THREAD_TARGET,
};
use crate::progress::LogSink;
use crate::results::{RunIter, RunUnordered};
use crate::{jobs, Config, Configured, Delayed, Error, Timed, Untimed};
// Named in the docs of the methods that start workers.
#[cfg(doc)]
use crate::init;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use settled::Settled;

/// The backends by name, for [`Parallel::backend`]: `Backend::Threads` (the default),
/// `Backend::Sequential`, `Backend::Processes` (worker processes: crash isolation, hard
/// timeouts) and, with the feature `mpi`, `Backend::Mpi` (the ranks of an MPI job).
///
/// Each name is a value of its own type ([`Threads`], [`Sequential`], [`Processes`],
/// `Mpi`), so the backend is part of a `Parallel`'s type and what it accepts is checked
/// by the compiler: the in-process backends run closures that borrow, out-of-process ones
/// only plain functions of serializable arguments.
///
/// ```
/// use parmemo_parallel::{Backend, Parallel};
/// let p = Parallel::new().backend(Backend::Sequential);
/// assert_eq!(p.effective_n_jobs()?, 1);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug)]
pub struct Backend {
    _not_constructible: (),
}

// The names read as enum variants on purpose: `Backend::Threads`, as joblib's
// `backend="threading"`.
#[allow(non_upper_case_globals)]
impl Backend {
    /// Tasks on the calling thread, one after the other.
    pub const Sequential: Sequential = Sequential;
    /// Tasks on a reusable pool of `n_jobs` threads.
    pub const Threads: Threads = Threads;
    /// Tasks in a reusable pool of `n_jobs` child processes (crash isolation, hard
    /// timeouts); see [`Processes`].
    #[cfg(feature = "processes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "processes")))]
    pub const Processes: Processes = Processes;
    /// Tasks on the ranks of an MPI job (feature `mpi`); see [`Mpi`].
    #[cfg(feature = "mpi")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
    pub const Mpi: Mpi = Mpi;
    /// Tasks on the backend the enclosing [`Config`] scope names (threads without one):
    /// for library code; see [`Configured`].
    pub const Configured: Configured = Configured;
}

/// Runs many independent tasks at once: joblib's `Parallel`, configured by a builder.
///
/// ```
/// use parmemo_parallel::{delayed, Parallel};
///
/// let samples: Vec<Vec<f64>> = (1..=8).map(|n| (0..n).map(f64::from).collect()).collect();
/// // joblib: Parallel(n_jobs=-1)(delayed(mean)(s) for s in samples)
/// let means = Parallel::new()
///     .n_jobs(-1)
///     .run(samples.iter().map(|s| delayed(move || s.iter().sum::<f64>() / s.len() as f64)))?;
/// assert_eq!(means[3], 1.5);
///
/// // One function over many inputs.
/// let lengths = Parallel::new().map(|s: &Vec<f64>| s.len(), &samples)?;
/// assert_eq!(lengths, [1, 2, 3, 4, 5, 6, 7, 8]);
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a Parallel does nothing until one of its run or map methods is called"]
pub struct Parallel<B = Threads, T = Untimed> {
    backend: B,
    /// Whether [`timeout`](Self::timeout) was called, which decides what in-process
    /// tasks must own (see [`Timed`]).
    timing: PhantomData<T>,
    // Unset settings (`None`) come from the enclosing `Config` scope, else the defaults.
    n_jobs: Option<i32>,
    batch_size: Option<BatchSize>,
    timeout: Option<Duration>,
    verbose: Option<u8>,
    log: LogSink,
    /// What each worker process runs before its first task.
    initializer: Option<fn()>,
}

impl Parallel<Threads> {
    /// A builder on threads with `n_jobs = -1` (all cores; joblib's own default is one
    /// job, which is [`Backend::Sequential`] here), automatic batching, no timeout, silent.
    ///
    /// ```
    /// let p = parmemo_parallel::Parallel::new();
    /// assert_eq!(p.effective_n_jobs()?, parmemo_parallel::available_cores());
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn new() -> Self {
        Parallel {
            backend: Threads,
            timing: PhantomData,
            n_jobs: None,
            batch_size: None,
            timeout: None,
            verbose: None,
            log: LogSink::Stderr,
            initializer: None,
        }
    }
}

// By hand: a derive would ask the timing marker to be `Clone` in generic code.
impl<B: Clone, T> Clone for Parallel<B, T> {
    fn clone(&self) -> Self {
        Parallel {
            backend: self.backend.clone(),
            timing: PhantomData,
            n_jobs: self.n_jobs,
            batch_size: self.batch_size,
            timeout: self.timeout,
            verbose: self.verbose,
            log: self.log.clone(),
            initializer: self.initializer,
        }
    }
}

impl Default for Parallel<Threads> {
    fn default() -> Self {
        Parallel::new()
    }
}

impl<B: ExecutionBackend, T> Parallel<B, T> {
    /// Runs on `backend` instead, keeping the other settings.
    ///
    /// ```
    /// use parmemo_parallel::{Backend, Parallel};
    /// let p = Parallel::new().n_jobs(3).backend(Backend::Sequential);
    /// assert_eq!(p.map(|x: u8| x + 1, [1, 2])?, [2, 3]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn backend<C: ExecutionBackend>(self, backend: C) -> Parallel<C, T> {
        Parallel {
            backend,
            timing: PhantomData,
            n_jobs: self.n_jobs,
            batch_size: self.batch_size,
            timeout: self.timeout,
            verbose: self.verbose,
            log: self.log,
            initializer: self.initializer,
        }
    }

    /// How many workers, as joblib: `-1` all cores, `-2` all but one (and so on, at least
    /// one), `n > 0` exactly `n`. `0` makes every run fail with [`Error::InvalidNJobs`].
    ///
    /// ```
    /// use parmemo_parallel::{Error, Parallel};
    /// assert_eq!(Parallel::new().n_jobs(3).effective_n_jobs(), Ok(3));
    /// assert_eq!(Parallel::new().n_jobs(0).effective_n_jobs(), Err(Error::InvalidNJobs { n_jobs: 0 }));
    /// ```
    pub fn n_jobs(mut self, n_jobs: i32) -> Self {
        self.n_jobs = Some(n_jobs);
        self
    }

    /// How many tasks go to a worker at once: [`BatchSize::Auto`] (the default) adapts so
    /// that tiny tasks cost little, [`BatchSize::Fixed`] sets it; `Fixed(0)` makes every
    /// run fail with [`Error::InvalidBatchSize`].
    ///
    /// ```
    /// use parmemo_parallel::{BatchSize, Parallel};
    /// let p = Parallel::new().batch_size(BatchSize::Fixed(100));
    /// assert_eq!(p.map(|x: u32| x % 7, 0..1000)?.len(), 1000);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn batch_size(mut self, batch_size: BatchSize) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// Progress reports, as joblib's `verbose`: 0 silent; from 1, lines such as
    /// `[Parallel(n_jobs=2)]: Done  40 out of 100 | elapsed:   0.3s remaining:   0.4s`
    /// (`Done  40 tasks      | elapsed: ...` when the number of tasks is not known) at
    /// doubling task counts, at every finished batch from 10 on, and a closing
    /// `Done N out of N | elapsed: ... finished` line. They go to stderr (or to
    /// [`log_to`](Self::log_to)); with the `progress` feature,
    #[cfg_attr(
        feature = "progress",
        doc = "[`progress_bar`](Self::progress_bar) draws a bar instead."
    )]
    #[cfg_attr(not(feature = "progress"), doc = "`progress_bar` draws a bar instead.")]
    ///
    /// ```
    /// let p = parmemo_parallel::Parallel::new().verbose(1);
    /// # let p = p.log_to(std::io::sink());
    /// assert_eq!(p.map(|x: i32| -x, [1])?, [-1]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = Some(verbose);
        self
    }

    /// Draws an indicatif progress bar with elapsed time and an estimate of what remains
    /// (feature `progress`): on stderr when it is a terminal; a log file or a batch job's
    /// output gets joblib's progress lines instead. The bar ends with joblib's closing
    /// line. Asking for it is enough: without [`verbose`](Self::verbose), it reports as
    /// `verbose(1)` would (a higher level set before or after is kept). Only the
    /// `Parallel`s that ask for it draw one, so a crate enabling the feature changes no
    /// other crate's output.
    ///
    /// ```
    /// let p = parmemo_parallel::Parallel::new().progress_bar();
    /// # let p = p.log_to(std::io::sink());
    /// assert_eq!(p.map(|x: u8| x, [1])?, [1]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    #[cfg(feature = "progress")]
    #[cfg_attr(docsrs, doc(cfg(feature = "progress")))]
    pub fn progress_bar(mut self) -> Self {
        self.log = LogSink::Bar;
        // A bar asked for and nothing drawn was the surprise: the bar implies a level.
        self.verbose = Some(self.verbose.unwrap_or(0).max(1));
        self
    }

    /// Sends the [`verbose`](Self::verbose) lines to `writer` instead of stderr (a log
    /// file, a buffer in a test).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let p = parmemo_parallel::Parallel::new().verbose(1).log_to(Vec::new());
    /// p.map(|x: u8| x, [1, 2, 3])?;
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn log_to(mut self, writer: impl Write + Send + 'static) -> Self {
        self.log = LogSink::Writer(Arc::new(Mutex::new(writer)));
        self
    }

    /// Bounds each task's run time: a task running past `timeout` fails the run with
    /// [`Error::Timeout`] naming it, at the deadline, whatever the task does; the tasks
    /// not started are cancelled. A zero timeout makes every run fail with
    /// [`Error::InvalidTimeout`] before any task runs.
    ///
    /// Worker processes and MPI ranks past the deadline are killed and replaced. A
    /// thread cannot be stopped from outside: on [`Threads`] and [`Sequential`] the task
    /// is left running, out of reach, in a pool that no later run uses, and its result is
    /// dropped. So that the call can return while it runs, the builder becomes
    /// `Parallel<_, `[`Timed`]`>`, whose `run`/`map` take tasks that own their data
    /// (`'static`, as the streams always do); sequential runs then use one helper thread.
    /// A timeout that comes from a [`Config`] scope instead applies to runs whose tasks
    /// may borrow: those report the task at the deadline (a warning on stderr) but return
    /// only once it ends.
    ///
    /// ```
    /// use parmemo_parallel::{Error, Parallel};
    /// use std::time::Duration;
    /// let p = Parallel::new().timeout(Duration::from_millis(250));
    /// let slow = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    /// assert_eq!(p.map(slow, [0, 1_000]), Err(Error::Timeout { index: 1 }));
    /// ```
    pub fn timeout(self, timeout: Duration) -> Parallel<B, Timed> {
        Parallel {
            backend: self.backend,
            timing: PhantomData,
            n_jobs: self.n_jobs,
            batch_size: self.batch_size,
            timeout: Some(timeout),
            verbose: self.verbose,
            log: self.log,
            initializer: self.initializer,
        }
    }

    /// The number of workers a run would use now: `n_jobs` resolved against the
    /// available cores, 1 on [`Sequential`], and inside a task of another run the size of
    /// the pool running it (nested runs share the outer budget instead of adding threads).
    ///
    /// # Errors
    /// [`Error::InvalidNJobs`] for `n_jobs(0)`.
    ///
    /// ```
    /// use parmemo_parallel::Parallel;
    /// assert_eq!(Parallel::new().n_jobs(-1).effective_n_jobs()?, parmemo_parallel::available_cores());
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn effective_n_jobs(&self) -> Result<usize, Error> {
        let n_jobs = self.n_jobs.or(config::current().n_jobs).unwrap_or(-1);
        let requested = jobs::resolve(n_jobs, jobs::available_cores())?;
        Ok(self.backend.effective_n_jobs(requested))
    }

    fn plan(&self) -> Result<Plan, Error> {
        let scope = config::current();
        let timeout = self.timeout.or(scope.timeout);
        let batch = self.batch_size.or(scope.batch_size).unwrap_or_default();
        // Checked before any task runs, by every backend (each run starts with a plan).
        if timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidTimeout);
        }
        if batch == BatchSize::Fixed(0) {
            return Err(Error::InvalidBatchSize);
        }
        let workers = self.effective_n_jobs()?;
        Ok(Plan {
            scope: (scope != Config::default())
                .then(|| Around::new(move |body| config::within(scope, body))),
            workers,
            batch,
            target: THREAD_TARGET,
            timeout,
            verbose: self.verbose.or(scope.verbose).unwrap_or(0),
            log: self.log.clone(),
            settled: false,
        })
    }
}

impl<B: InProcess> Parallel<B, Untimed> {
    /// Runs every task and returns their results in input order.
    ///
    /// `tasks` is consumed lazily, a few batches ahead of the workers, so it can be a
    /// generator of any length. Tasks may borrow from the caller.
    ///
    /// # Errors
    /// [`Error::Task`] for the first task observed to panic (the tasks not started are
    /// cancelled and the call returns once the running ones finish);
    /// [`Error::Timeout`] for a task past the [`timeout`](Self::timeout);
    /// [`Error::InvalidNJobs`], [`Error::ThreadPool`] for a run that cannot start.
    ///
    /// ```
    /// use parmemo_parallel::{delayed, Parallel};
    /// let words = ["joblib", "numba", "rayon"];
    /// let lengths = Parallel::new().run(words.iter().map(|w| delayed(move || w.len())))?;
    /// assert_eq!(lengths, [6, 5, 5]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn run<I, F, R>(&self, tasks: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.collect_ordered(tasks.into_iter(), &|task: Delayed<F>| Ok(task.call()))
    }

    /// [`run`](Self::run) for tasks that return `Result`: the first `Err` observed fails
    /// the run as [`Error::Task`] with the error's `Display` text and the error itself
    /// ([`Error::task_error`]).
    ///
    /// # Errors
    /// As [`run`](Self::run), and [`Error::Task`] for a task that returned `Err`.
    ///
    /// ```
    /// use parmemo_parallel::{delayed, Error, Parallel};
    /// let texts = ["1", "2", "x"];
    /// let parsed = Parallel::new().try_run(texts.iter().map(|t| delayed(move || t.parse::<i32>())));
    /// assert!(matches!(parsed, Err(Error::Task { index: 2, .. })));
    /// ```
    pub fn try_run<I, F, R, E>(&self, tasks: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> Result<R, E> + Send,
        R: Send,
        E: Display + Send + Sync + 'static,
    {
        self.collect_ordered(tasks.into_iter(), &|task: Delayed<F>| {
            task.call().map_err(Failure::typed)
        })
    }

    /// Calls `f` on every item and returns the results in input order.
    ///
    /// A plain `fn(A) -> R` with serializable `A` and `R` runs unchanged on every
    /// backend; on the in-process ones any `Fn(A) -> R + Sync` closure works too.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    ///
    /// ```
    /// let cubes = parmemo_parallel::Parallel::new().map(|x: u64| x.pow(3), 0..5)?;
    /// assert_eq!(cubes, [0, 1, 8, 27, 64]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn map<A, R, F, I>(&self, f: F, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send,
        R: Send,
        F: Fn(A) -> R + Sync,
    {
        self.collect_ordered(items.into_iter(), &|item: A| Ok(f(item)))
    }

    /// [`map`](Self::map) for a function that returns `Result`: the first `Err` fails the
    /// run as [`Error::Task`], which gives the error value back
    /// ([`Error::task_error`]).
    ///
    /// # Errors
    /// As [`try_run`](Self::try_run).
    ///
    /// ```
    /// use parmemo_parallel::{Error, Parallel};
    /// let half = |x: u32| if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) };
    /// assert_eq!(Parallel::new().try_map(half, [2, 4]), Ok(vec![1, 2]));
    /// assert_eq!(
    ///     Parallel::new().try_map(half, [2, 3]),
    ///     Err(Error::task(1, "3 is odd"))
    /// );
    /// ```
    pub fn try_map<A, R, E, F, I>(&self, f: F, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send,
        R: Send,
        E: Display + Send + Sync + 'static,
        F: Fn(A) -> Result<R, E> + Sync,
    {
        self.collect_ordered(items.into_iter(), &|item: A| {
            f(item).map_err(Failure::typed)
        })
    }
}

/// The runs of a builder with a [`timeout`](Parallel::timeout): they return at the
/// deadline, so their tasks own their data.
impl<B: InProcess> Parallel<B, Timed> {
    /// [`run`](Parallel::run) under a timeout: returns [`Error::Timeout`] at the deadline
    /// while the task past it is left running, out of reach; tasks and results own
    /// their data (`'static`) for that reason.
    ///
    /// # Errors
    /// As the untimed [`run`](Parallel::run).
    ///
    /// ```
    /// use parmemo_parallel::{delayed, Error, Parallel};
    /// use std::time::Duration;
    /// let p = Parallel::new().timeout(Duration::from_millis(250));
    /// let tasks = [0_u64, 5_000].map(|ms| delayed(move || std::thread::sleep(Duration::from_millis(ms))));
    /// assert_eq!(p.run(tasks), Err(Error::Timeout { index: 1 })); // at once, not in 5 s
    /// ```
    pub fn run<I, F, R>(&self, tasks: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.collect_owned(tasks.into_iter(), |task: Delayed<F>| Ok(task.call()))
    }

    /// [`try_run`](Parallel::try_run) under a timeout, as [`run`](Self::run).
    ///
    /// # Errors
    /// As the untimed [`try_run`](Parallel::try_run).
    pub fn try_run<I, F, R, E>(&self, tasks: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        F: FnOnce() -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: Display + Send + Sync + 'static,
    {
        self.collect_owned(tasks.into_iter(), |task: Delayed<F>| {
            task.call().map_err(Failure::typed)
        })
    }

    /// [`map`](Parallel::map) under a timeout, as [`run`](Self::run): `f`, the items and
    /// the results own their data.
    ///
    /// # Errors
    /// As the untimed [`map`](Parallel::map).
    ///
    /// ```
    /// use parmemo_parallel::Parallel;
    /// use std::time::Duration;
    /// let p = Parallel::new().timeout(Duration::from_secs(5));
    /// assert_eq!(p.map(|x: u64| x + 1, vec![1, 2])?, [2, 3]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn map<A, R, F, I>(&self, f: F, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        self.collect_owned(items.into_iter(), move |item: A| Ok(f(item)))
    }

    /// [`try_map`](Parallel::try_map) under a timeout, as [`map`](Self::map).
    ///
    /// # Errors
    /// As the untimed [`try_map`](Parallel::try_map).
    pub fn try_map<A, R, E, F, I>(&self, f: F, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        R: Send + 'static,
        E: Display + Send + Sync + 'static,
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.collect_owned(items.into_iter(), move |item: A| {
            f(item).map_err(Failure::typed)
        })
    }
}

/// The streams, and the two ways of collecting a run, with or without a timeout.
impl<B: InProcess, T> Parallel<B, T> {
    /// Runs the tasks and yields their results in input order as they become available
    /// (joblib's `return_as="generator"`): the first results can be used while later
    /// tasks still run. The input is pulled only as the workers need more.
    ///
    /// Tasks and results must own their data (`'static`), since they outlive this call.
    ///
    /// # Errors
    /// [`Error::InvalidNJobs`], [`Error::ThreadPool`] if the run cannot start; task
    /// failures are yielded by the iterator.
    ///
    /// ```
    /// use parmemo_parallel::{delayed, Parallel};
    /// let squares = Parallel::new().run_iter((0..5_u64).map(|x| delayed(move || x * x)))?;
    /// let squares: Result<Vec<u64>, _> = squares.collect();
    /// assert_eq!(squares?, [0, 1, 4, 9, 16]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn run_iter<I, F, R>(&self, tasks: I) -> Result<RunIter<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        I::IntoIter: 'static,
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Ok(RunIter::new(self.stream(tasks, false)?))
    }

    /// Runs the tasks and yields `(index, result)` pairs in the order tasks complete
    /// (joblib's `return_as="generator_unordered"`).
    ///
    /// # Errors
    /// As [`run_iter`](Self::run_iter).
    ///
    /// ```
    /// use parmemo_parallel::{delayed, Parallel};
    /// let mut done: Vec<(usize, u64)> = Parallel::new()
    ///     .run_unordered((0..4_u64).map(|x| delayed(move || x + 10)))?
    ///     .collect::<Result<_, _>>()?;
    /// done.sort();
    /// assert_eq!(done, [(0, 10), (1, 11), (2, 12), (3, 13)]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn run_unordered<I, F, R>(&self, tasks: I) -> Result<RunUnordered<R>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        I::IntoIter: 'static,
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Ok(RunUnordered::new(self.stream(tasks, true)?))
    }

    /// The run behind both streams: `'static` tasks whose completions are pulled by an
    /// iterator the caller keeps.
    fn stream<I, F, R>(&self, tasks: I, per_task: bool) -> Result<Box<dyn EventSource<R>>, Error>
    where
        I: IntoIterator<Item = Delayed<F>>,
        I::IntoIter: 'static,
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        execute_streaming(
            self.backend.is_threaded(),
            per_task,
            &self.plan()?,
            Box::new(tasks.into_iter()),
            |task: Delayed<F>| Ok(task.call()),
        )
    }

    fn collect_ordered<J, R>(
        &self,
        jobs: impl Iterator<Item = J>,
        runner: &(impl Fn(J) -> TaskResult<R> + Sync),
    ) -> Result<Vec<R>, Error>
    where
        J: Send,
        R: Send,
    {
        let mut collected = OrderedResults::new();
        execute_scoped(
            self.backend.is_threaded(),
            &self.plan()?,
            jobs,
            runner,
            |event| collected.take(event),
        )?;
        collected.finish()
    }

    /// Collects a run of tasks that own their data: it returns at a timeout, leaving the
    /// task past it running out of reach.
    fn collect_owned<J, R>(
        &self,
        jobs: impl Iterator<Item = J>,
        runner: impl Fn(J) -> TaskResult<R> + Send + Sync + 'static,
    ) -> Result<Vec<R>, Error>
    where
        J: Send + 'static,
        R: Send + 'static,
    {
        let mut collected = OrderedResults::new();
        execute_owned(&self.plan()?, jobs, runner, |event| collected.take(event))?;
        collected.finish()
    }
}

/// The API of the out-of-process backends, the same on each; each type's own
/// `placement` says where its runs go. Written once for both concrete types: an impl
/// generic over the two would clash with the closure-taking methods of
/// `impl<B: InProcess>`, which the compiler cannot tell apart from it.
#[cfg(feature = "processes")]
macro_rules! out_of_process_api {
    ($backend:ty) => {
        impl<T> Parallel<$backend, T> {
            /// Calls `f` on every item in other processes — worker processes on
            /// [`Backend::Processes`](Backend::Processes), MPI ranks on `Backend::Mpi` — and
            /// returns the results in input order. `f` is a plain function (a closure without
            /// captures coerces to one); arguments and results travel serialized.
            ///
            /// # Errors
            /// [`Error::Task`] for a task that panicked (the worker survives);
            /// [`Error::WorkerDied`] when a worker process died (a signal, `abort`, `exit`) and
            /// [`Error::Timeout`] when it ran past the timeout and was killed, in both cases
            /// replaced by a new one (on MPI ranks, which cannot be stopped,
            /// [`Error::RankTimeout`], naming the rank and its host); [`Error::WorkerStart`] when no worker could start (the
            /// program does not call [`init`] first, or an MPI rank runs another
            /// executable); [`Error::InvalidNJobs`].
            ///
            /// ```no_run
            /// use parmemo_parallel::{Backend, Parallel};
            ///
            /// fn cube(x: u64) -> u64 {
            ///     x * x * x
            /// }
            ///
            /// fn main() -> Result<(), parmemo_parallel::Error> {
            ///     parmemo_parallel::init();
            ///     let cubes = Parallel::new().backend(Backend::Processes).map(cube, 0..1000)?;
            ///     assert_eq!(cubes[10], 1000);
            ///     Ok(())
            /// }
            /// ```
            pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Vec<R>, Error>
            where
                I: IntoIterator<Item = A>,
                A: Serialize + DeserializeOwned + 'static,
                R: Serialize + DeserializeOwned + Send + 'static,
            {
                remote::collect(self.placement()?, items.into_iter(), RemoteFn::map(f))
            }

            /// [`map`](Self::map) for a function that returns `Result`: the first `Err` fails
            /// the run as [`Error::Task`] with the error's `Display` text and the error value
            /// itself, which crosses back serialized ([`Error::task_error`]). An error type
            /// that cannot derive serde's traits (`std::io::Error`) maps to one that can, a
            /// `String` at least.
            ///
            /// # Errors
            /// As [`map`](Self::map).
            ///
            /// ```no_run
            /// use parmemo_parallel::{Backend, Parallel};
            /// use serde::{Deserialize, Serialize};
            ///
            /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
            /// struct Rejected {
            ///     sample: u32,
            /// }
            ///
            /// impl std::fmt::Display for Rejected {
            ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            ///         write!(f, "sample {} failed quality control", self.sample)
            ///     }
            /// }
            ///
            /// fn check(sample: u32) -> Result<u32, Rejected> {
            ///     if sample == 7 { Err(Rejected { sample }) } else { Ok(sample) }
            /// }
            ///
            /// fn main() {
            ///     parmemo_parallel::init();
            ///     let run = Parallel::new().backend(Backend::Processes).try_map(check, 0..10);
            ///     let error = run.unwrap_err();
            ///     assert_eq!(error.task_error::<Rejected>(), Some(&Rejected { sample: 7 }));
            /// }
            /// ```
            pub fn try_map<A, R, E, I>(
                &self,
                f: fn(A) -> Result<R, E>,
                items: I,
            ) -> Result<Vec<R>, Error>
            where
                I: IntoIterator<Item = A>,
                A: Serialize + DeserializeOwned + 'static,
                R: Serialize + DeserializeOwned + Send + 'static,
                E: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
            {
                remote::collect(self.placement()?, items.into_iter(), RemoteFn::try_map(f))
            }

            /// [`map`](Self::map) with the results in input order as they become available, as
            /// [`Parallel::run_iter`] on threads. Arguments are pulled only as workers need more.
            ///
            /// # Errors
            /// [`Error::InvalidNJobs`], [`Error::WorkerStart`] if the run cannot start; task
            /// failures are yielded by the iterator.
            ///
            /// ```no_run
            /// use parmemo_parallel::{Backend, Parallel};
            ///
            /// fn slow_square(x: u64) -> u64 {
            ///     std::thread::sleep(std::time::Duration::from_millis(10));
            ///     x * x
            /// }
            ///
            /// fn main() -> Result<(), parmemo_parallel::Error> {
            ///     parmemo_parallel::init();
            ///     let p = Parallel::new().backend(Backend::Processes);
            ///     for square in p.run_iter(slow_square, 0..100)? {
            ///         println!("{}", square?); // in input order, as soon as ready
            ///     }
            ///     Ok(())
            /// }
            /// ```
            pub fn run_iter<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<RunIter<R>, Error>
            where
                I: IntoIterator<Item = A>,
                I::IntoIter: 'static,
                A: Serialize + DeserializeOwned + 'static,
                R: Serialize + DeserializeOwned + Send + 'static,
            {
                Ok(RunIter::new(remote::stream(
                    self.placement()?,
                    Box::new(items.into_iter()),
                    RemoteFn::map(f),
                    false,
                )?))
            }

            /// [`map`](Self::map) yielding `(index, result)` pairs as tasks complete, as
            /// [`Parallel::run_unordered`] on threads.
            ///
            /// # Errors
            /// As [`run_iter`](Self::run_iter).
            ///
            /// ```no_run
            /// use parmemo_parallel::{Backend, Parallel};
            ///
            /// fn slow_square(x: u64) -> u64 {
            ///     std::thread::sleep(std::time::Duration::from_millis(x % 7));
            ///     x * x
            /// }
            ///
            /// fn main() -> Result<(), parmemo_parallel::Error> {
            ///     parmemo_parallel::init();
            ///     let p = Parallel::new().backend(Backend::Processes);
            ///     for done in p.run_unordered(slow_square, 0..100)? {
            ///         let (index, square) = done?; // each task as it ends
            ///         println!("{index}: {square}");
            ///     }
            ///     Ok(())
            /// }
            /// ```
            pub fn run_unordered<A, R, I>(
                &self,
                f: fn(A) -> R,
                items: I,
            ) -> Result<RunUnordered<R>, Error>
            where
                I: IntoIterator<Item = A>,
                I::IntoIter: 'static,
                A: Serialize + DeserializeOwned + 'static,
                R: Serialize + DeserializeOwned + Send + 'static,
            {
                Ok(RunUnordered::new(remote::stream(
                    self.placement()?,
                    Box::new(items.into_iter()),
                    RemoteFn::map(f),
                    true,
                )?))
            }
        }
    };
}

#[cfg(feature = "processes")]
out_of_process_api!(Processes);
#[cfg(feature = "mpi")]
out_of_process_api!(Mpi);

/// Runs `$items` on the backend the scope chose: in process through `$collect` (a run
/// that owns its tasks and returns at a timeout) with `$runner`, out of process as
/// `$method($args.., $items)` itself.
macro_rules! on_chosen_backend {
    ($self:ident, $method:ident($($arg:ident),*), $items:ident, $collect:ident, $runner:expr) => {
        match Configured::chosen() {
            Chosen::Sequential => $self
                .clone()
                .backend(Sequential)
                .$collect($items.into_iter(), $runner),
            Chosen::Threads => $self
                .clone()
                .backend(Threads)
                .$collect($items.into_iter(), $runner),
            #[cfg(feature = "processes")]
            Chosen::Processes => $self.clone().backend(Processes).$method($($arg,)* $items),
            #[cfg(feature = "mpi")]
            Chosen::Mpi => $self.clone().backend(Mpi).$method($($arg,)* $items),
        }
    };
}

/// Runs the stream `$method` of `$f` over `$items` on the backend the scope chose: in
/// process as `delayed` tasks, out of process as the plain function itself.
macro_rules! stream_on_chosen_backend {
    ($self:ident, $method:ident, $f:ident, $items:ident) => {{
        // `I` is the caller's item iterator type.
        let tasks = move |items: I| {
            items
                .into_iter()
                .map(move |item| crate::delayed(move || $f(item)))
        };
        match Configured::chosen() {
            Chosen::Sequential => $self.clone().backend(Sequential).$method(tasks($items)),
            Chosen::Threads => $self.clone().backend(Threads).$method(tasks($items)),
            #[cfg(feature = "processes")]
            Chosen::Processes => $self.clone().backend(Processes).$method($f, $items),
            #[cfg(feature = "mpi")]
            Chosen::Mpi => $self.clone().backend(Mpi).$method($f, $items),
        }
    }};
}

/// The API every backend can run: plain functions of serializable arguments, on the
/// backend the enclosing [`Config`] scope chooses.
impl<T> Parallel<Configured, T> {
    /// Calls `f` on every item, on the backend the scope chose (threads without a
    /// scope), and returns the results in input order.
    ///
    /// # Errors
    /// As the chosen backend's `map`.
    ///
    /// ```
    /// use parmemo_parallel::{Backend, Config, Parallel};
    /// fn cube(x: u64) -> u64 {
    ///     x * x * x
    /// }
    /// let p = Parallel::new().backend(Backend::Configured);
    /// assert_eq!(p.map(cube, [2, 3])?, [8, 27]);
    /// let one_at_a_time = Config::new().backend(Backend::Sequential).scope(|| p.map(cube, [4]));
    /// assert_eq!(one_at_a_time?, [64]);
    /// # Ok::<(), parmemo_parallel::Error>(())
    /// ```
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        on_chosen_backend!(self, map(f), items, collect_owned, move |item: A| Ok(f(
            item
        )))
    }

    /// [`map`](Self::map) for a function that returns `Result`: the first `Err` fails the
    /// run with the error value itself on every backend ([`Error::task_error`]), which is
    /// why `E` is serializable.
    ///
    /// # Errors
    /// As the chosen backend's `try_map`.
    pub fn try_map<A, R, E, I>(&self, f: fn(A) -> Result<R, E>, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        E: Serialize + DeserializeOwned + Display + Send + Sync + 'static,
    {
        on_chosen_backend!(self, try_map(f), items, collect_owned, move |item: A| {
            f(item).map_err(Failure::typed)
        })
    }

    /// [`map`](Self::map) with the results in input order as they become available.
    ///
    /// # Errors
    /// As the chosen backend's `run_iter`.
    pub fn run_iter<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<RunIter<R>, Error>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        stream_on_chosen_backend!(self, run_iter, f, items)
    }

    /// [`map`](Self::map) yielding `(index, result)` pairs as tasks complete.
    ///
    /// # Errors
    /// As the chosen backend's `run_unordered`.
    pub fn run_unordered<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<RunUnordered<R>, Error>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        stream_on_chosen_backend!(self, run_unordered, f, items)
    }
}

#[cfg(feature = "processes")]
impl<T> Parallel<Processes, T> {
    /// Where this builder's runs go, and their plan: the pool of `n_jobs` processes.
    fn placement(&self) -> Result<Placement, Error> {
        Processes::placement(self.plan()?, self.initializer)
    }
}

#[cfg(feature = "mpi")]
impl<T> Parallel<Mpi, T> {
    /// Where this builder's runs go, and their plan: the serving ranks, or local threads
    /// when there are none.
    fn placement(&self) -> Result<Placement, Error> {
        Mpi::placement(self.plan()?)
    }
}

#[cfg(feature = "processes")]
impl<T> Parallel<Processes, T> {
    /// The process ids of this pool's live workers, starting the pool if needed: to
    /// watch them, or to see that a later run reuses them.
    ///
    /// # Errors
    /// [`Error::InvalidNJobs`], [`Error::WorkerStart`].
    pub fn worker_pids(&self) -> Result<Vec<u32>, Error> {
        Processes::worker_pids(self.effective_n_jobs()?, self.initializer)
    }

    /// Runs `setup` once in each worker process before its first task (joblib's and
    /// loky's `initializer`): to set a global, open a connection, load a model. Workers
    /// with another initializer (or none) form another pool. A `setup` that panics makes
    /// the run fail with [`Error::WorkerStart`] naming the panic.
    ///
    /// ```no_run
    /// use parmemo_parallel::{Backend, Parallel};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// static SCALE: AtomicU64 = AtomicU64::new(1);
    ///
    /// fn load_scale() {
    ///     SCALE.store(1000, Ordering::Relaxed); // say, read from a file
    /// }
    ///
    /// fn scaled(x: u64) -> u64 {
    ///     x * SCALE.load(Ordering::Relaxed)
    /// }
    ///
    /// fn main() -> Result<(), parmemo_parallel::Error> {
    ///     parmemo_parallel::init();
    ///     let p = Parallel::new().backend(Backend::Processes).initializer(load_scale);
    ///     assert_eq!(p.map(scaled, [1, 2])?, [1000, 2000]);
    ///     Ok(())
    /// }
    /// ```
    pub fn initializer(mut self, setup: fn()) -> Self {
        self.initializer = Some(setup);
        self
    }
}

// After the macros above, which they use.
mod settled;
mod with;
