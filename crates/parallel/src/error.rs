use std::any::Any;
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// Everything that can go wrong in `parmemo-parallel`. Serializable, so that a cached
/// function may store a run's failure (`#[cache(MEMORY, errors = true)]`) and a worker
/// may report one.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// `n_jobs(0)` was asked for.
    #[error("n_jobs = {n_jobs} means no worker at all: use -1 for all cores, -2 for all but one, or a positive count")]
    InvalidNJobs {
        /// The value given.
        n_jobs: i32,
    },
    /// `timeout(Duration::ZERO)` was asked for: no task could ever finish in time, so
    /// this is almost always a bug (a unit mistake, an unset value). Reported before any
    /// task runs, on every backend.
    #[error("a timeout of zero lets no task finish: give each task the time it needs (or set no timeout)")]
    InvalidTimeout,
    /// `batch_size(BatchSize::Fixed(0))` was asked for.
    #[error(
        "a batch of 0 tasks runs nothing: use BatchSize::Fixed(n) with n > 0, or BatchSize::Auto"
    )]
    InvalidBatchSize,
    /// A task panicked or returned an error; the first one observed is reported and the
    /// tasks not yet started are cancelled.
    #[error("task {index} failed: {message}")]
    Task {
        /// Position of the task in the input.
        index: usize,
        /// The panic message, or the task's error rendered with `Display`.
        message: String,
        /// The task's own error value, when it returned one (`try_map`/`try_run`; from a
        /// worker process or an MPI rank it crossed back serialized): see
        /// [`Error::task_error`].
        #[serde(skip)]
        error: TaskError,
    },
    /// A task ran longer than the `timeout` given to the builder.
    #[error("task {index} ran past its timeout (on processes its worker was killed; a thread cannot be, it runs on): raise `timeout` if the task needs longer")]
    Timeout {
        /// Position of the task in the input.
        index: usize,
    },
    /// A task ran longer than the `timeout` on the ranks of an MPI job (or waited that
    /// long for a rank, every rank being held by a task past its own timeout). A rank
    /// cannot be stopped: it runs the task to its end before it takes another, and if
    /// the program ends first, the job is aborted.
    #[error("task {index} ran past its timeout {}: an MPI rank cannot be stopped, so it runs the task to its end before it takes another (if the program ends first, the job is aborted); raise `timeout` if the task needs longer", place(*.rank, .host.as_deref()))]
    RankTimeout {
        /// Position of the task in the input.
        index: usize,
        /// The rank that ran it; `None` when it waited for a rank the whole time.
        rank: Option<u32>,
        /// That rank's host (its processor name).
        host: Option<String>,
    },
    /// The worker process running a task died (a signal, `abort`, `exit`): the pool has
    /// replaced it. When it died in a batch of several tasks, they were rerun one at a
    /// time to find the one that kills a worker, which `index` names.
    #[error(
        "the worker process running task {index} died ({cause}); the pool has started a new one"
    )]
    WorkerDied {
        /// Position of the task in the input.
        index: usize,
        /// The worker's exit status or signal.
        cause: String,
    },
    /// The context of `map_with` could not be encoded for worker processes or MPI
    /// ranks. Reported before any task runs.
    #[error("the context given to map_with cannot be sent to the workers: {message}; make every part of it serializable (or use Backend::Threads, where it is borrowed)")]
    Context {
        /// What the codec said.
        message: String,
    },
    /// No worker process could be started.
    #[error("no worker process could be started: {message}")]
    WorkerStart {
        /// What went wrong.
        message: String,
    },
    /// The function given to the process or MPI backend lies where another process of
    /// this program would not find it: in a shared library loaded after the program
    /// started (`dlopen`), or in no loaded object at all (code generated at run time).
    /// Refused before any task is sent. Functions of the executable and of the libraries
    /// it links (`std` of a `-C prefer-dynamic` build, `dylib` crates) can be sent.
    #[error("the function given to worker processes cannot be found there: {object} {reason}; pass a function of the program or of a library it links, or use Backend::Threads")]
    FunctionNotReachable {
        /// The object that holds the function (its path), or where the function is.
        object: String,
        /// Why another process would not find it.
        reason: String,
    },
    /// The operating system refused to start the threads of a pool.
    #[error("could not start a pool of {threads} threads ({message}): lower n_jobs or raise the process's thread limit")]
    ThreadPool {
        /// The number of threads asked for.
        threads: usize,
        /// What the pool builder said.
        message: String,
    },
    /// An input of `vectorize` is not as long as the others.
    #[error("argument {argument} has {got} elements but the others have {expected}: pass slices of one length, or a scalar to broadcast")]
    LengthMismatch {
        /// Position of the argument (0-based) in the kernel's parameters.
        argument: usize,
        /// The length of the earlier slice arguments.
        expected: usize,
        /// The length of this one.
        got: usize,
    },
    /// An output buffer had the wrong length.
    #[error("the output buffer holds {got} values but {expected} are produced: allocate exactly that many")]
    OutputLength {
        /// The length the output must have.
        expected: usize,
        /// The length it had.
        got: usize,
    },
    /// The output of `guvectorize` (`rows * out_len` values) is larger than memory can
    /// hold, or than `usize` counts.
    #[error("{rows} rows of {out_len} outputs each are more values than memory can hold: check out_len, or split the data")]
    OutputTooLarge {
        /// The number of rows.
        rows: usize,
        /// The outputs per row asked for.
        out_len: usize,
    },
    /// Two inputs of a `guvectorize` kernel hold different numbers of rows.
    #[error("input {argument} holds {got} rows but the first holds {expected}: give every input one row per output row")]
    RowCountMismatch {
        /// Position of the input (0-based).
        argument: usize,
        /// The rows of the first input.
        expected: usize,
        /// The rows of this one.
        got: usize,
    },
    /// `guvectorize` was given a row length of 0.
    #[error("row_len is 0: give the number of values in one row (> 0)")]
    ZeroRowLen,
    /// The axis given to `guvectorize`'s `apply_axis` is not one of the array's.
    #[error("axis {axis} is not an axis of a {dims}-d array: use Axis(0) for each column, Axis(1) for each row")]
    InvalidAxis {
        /// The axis given.
        axis: usize,
        /// The array's number of dimensions.
        dims: usize,
    },
    /// The buffer given to `guvectorize` is not a whole number of rows.
    #[error("{len} values do not split into rows of {row_len}: the buffer length must be a multiple of row_len")]
    RaggedRows {
        /// Length of the flat buffer.
        len: usize,
        /// The row length given.
        row_len: usize,
    },
}

/// Where an MPI task overran, in words.
fn place(rank: Option<u32>, host: Option<&str>) -> String {
    match (rank, host) {
        (Some(rank), Some(host)) => format!("on rank {rank} (host {host})"),
        (Some(rank), None) => format!("on rank {rank}"),
        _ => "waiting for a rank (each was held by a task past its own timeout)".to_owned(),
    }
}

impl Error {
    /// Whether a task ran past its timeout, on any backend ([`Error::Timeout`], or
    /// [`Error::RankTimeout`] on MPI ranks); its index with it.
    ///
    /// ```
    /// use parmemo_parallel::Error;
    /// assert_eq!(Error::Timeout { index: 3 }.timed_out(), Some(3));
    /// let on_rank = Error::RankTimeout { index: 5, rank: Some(2), host: Some("node7".into()) };
    /// assert_eq!(on_rank.timed_out(), Some(5));
    /// assert!(on_rank.to_string().contains("rank 2 (host node7)"));
    /// assert_eq!(Error::InvalidTimeout.timed_out(), None);
    /// ```
    #[must_use]
    pub fn timed_out(&self) -> Option<usize> {
        match self {
            Error::Timeout { index } | Error::RankTimeout { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// A task failure without an error value of its own: a panic, or a failure reported
    /// from another process.
    ///
    /// ```
    /// use parmemo_parallel::{Error, Parallel};
    /// let half = |x: u32| if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) };
    /// assert_eq!(Parallel::new().try_map(half, [2, 3]), Err(Error::task(1, "3 is odd")));
    /// ```
    pub fn task(index: usize, message: impl Into<String>) -> Self {
        Error::Task {
            index,
            message: message.into(),
            error: TaskError::default(),
        }
    }

    /// The error value a failing task returned, if this is [`Error::Task`] from
    /// `try_map`/`try_run` (on any backend) and the value is an `E`: the caller's own
    /// error, not only its message.
    ///
    /// ```
    /// use parmemo_parallel::Parallel;
    /// use std::num::ParseIntError;
    /// let parsed = Parallel::new().try_map(|t: &str| t.parse::<u8>(), ["1", "x"]);
    /// let error = parsed.unwrap_err();
    /// assert!(error.task_error::<ParseIntError>().is_some());
    /// assert!(error.task_error::<std::fmt::Error>().is_none());
    /// ```
    #[must_use]
    pub fn task_error<E: Any>(&self) -> Option<&E> {
        match self {
            Error::Task { error, .. } => error.downcast_ref(),
            _ => None,
        }
    }
}

/// A failing task's own error value, kept beside its message in [`Error::Task`]. Two
/// errors compare by index and message alone; the value does not serialize (it is known
/// only in the process that produced it).
#[derive(Clone, Default)]
pub struct TaskError(Option<Arc<dyn Any + Send + Sync>>);

impl TaskError {
    pub(crate) fn new<E: Any + Send + Sync>(error: E) -> Self {
        TaskError(Some(Arc::new(error)))
    }

    /// The value, if there is one and it is an `E`.
    ///
    /// ```
    /// let none = parmemo_parallel::TaskError::default();
    /// assert!(none.downcast_ref::<String>().is_none());
    /// ```
    #[must_use]
    pub fn downcast_ref<E: Any>(&self) -> Option<&E> {
        self.0.as_deref().and_then(|error| error.downcast_ref())
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "TaskError(..)"
        } else {
            "TaskError(none)"
        })
    }
}

impl PartialEq for TaskError {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TaskError {}
