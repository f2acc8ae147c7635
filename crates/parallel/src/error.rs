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
    },
    /// A task ran longer than the `timeout` given to the builder.
    #[error("task {index} ran past its timeout (on processes its worker was killed; a thread cannot be, it runs on): raise `timeout` if the task needs longer")]
    Timeout {
        /// Position of the task in the input.
        index: usize,
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
    /// No worker process could be started.
    #[error("no worker process could be started: {message}")]
    WorkerStart {
        /// What went wrong.
        message: String,
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
    /// `guvectorize` was given a row length of 0.
    #[error("row_len is 0: give the number of values in one row (> 0)")]
    ZeroRowLen,
    /// The buffer given to `guvectorize` is not a whole number of rows.
    #[error("{len} values do not split into rows of {row_len}: the buffer length must be a multiple of row_len")]
    RaggedRows {
        /// Length of the flat buffer.
        len: usize,
        /// The row length given.
        row_len: usize,
    },
}
