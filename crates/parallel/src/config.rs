//! Scoped configuration, joblib's `parallel_config`: settings that `Parallel`s inside a
//! block take when they do not set their own, so that library code can leave `n_jobs` or
//! the backend to the application.

#[cfg(feature = "processes")]
use crate::backend::Processes;
use crate::backend::{Configured, Sequential, Threads};
use crate::{BatchSize, ExecutionBackend};
use std::any::TypeId;
use std::cell::RefCell;
use std::time::Duration;

/// Settings for every [`Parallel`](crate::Parallel) created inside [`scope`](Self::scope)
/// that does not set its own: joblib's `parallel_config`. Scopes nest (the inner setting
/// wins), and reach the tasks of runs started inside them, on whatever thread of this
/// process they run.
///
/// ```
/// use parmemo_parallel::{Config, Parallel};
///
/// // Library code: no n_jobs of its own.
/// fn library_work() -> usize {
///     Parallel::new().effective_n_jobs().unwrap()
/// }
///
/// assert_eq!(Config::new().n_jobs(1).scope(library_work), 1);
/// assert_eq!(Config::new().n_jobs(3).scope(library_work), 3);
/// // An explicit setting still wins.
/// assert_eq!(Config::new().n_jobs(3).scope(|| Parallel::new().n_jobs(2).effective_n_jobs()), Ok(2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a Config does nothing until its scope runs"]
pub struct Config {
    pub(crate) n_jobs: Option<i32>,
    pub(crate) backend: Option<Chosen>,
    pub(crate) batch_size: Option<BatchSize>,
    pub(crate) verbose: Option<u8>,
    pub(crate) timeout: Option<Duration>,
}

/// The backend a scope names, for `Backend::Configured`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chosen {
    Sequential,
    Threads,
    #[cfg(feature = "processes")]
    Processes,
    #[cfg(feature = "mpi")]
    Mpi,
}

thread_local! {
    /// The effective settings of the scopes this thread is inside, innermost last.
    static SCOPES: RefCell<Vec<Config>> = const { RefCell::new(Vec::new()) };
}

impl Config {
    /// No settings: everything as if no scope were active.
    ///
    /// ```
    /// assert_eq!(parmemo_parallel::Config::new(), parmemo_parallel::Config::default());
    /// ```
    pub fn new() -> Self {
        Config::default()
    }

    /// `n_jobs` for the `Parallel`s that do not set it (joblib's semantics: `-1` all
    /// cores, `1` one at a time).
    ///
    /// ```
    /// use parmemo_parallel::{Config, Parallel};
    /// assert_eq!(Config::new().n_jobs(1).scope(|| Parallel::new().effective_n_jobs()), Ok(1));
    /// ```
    pub fn n_jobs(mut self, n_jobs: i32) -> Self {
        self.n_jobs = Some(n_jobs);
        self
    }

    /// The backend of `Parallel::new().backend(Backend::Configured)` inside the scope:
    /// `Backend::Threads`, `Backend::Sequential`, `Backend::Processes` or `Backend::Mpi`.
    /// Other backends are not affected: a `Parallel` that names its backend keeps it.
    ///
    /// ```
    /// use parmemo_parallel::{Backend, Config, Parallel};
    /// fn double(x: u64) -> u64 {
    ///     2 * x
    /// }
    /// let configured = Parallel::new().backend(Backend::Configured);
    /// let doubled = Config::new()
    ///     .backend(Backend::Sequential)
    ///     .scope(|| configured.map(double, [1, 2]));
    /// assert_eq!(doubled, Ok(vec![2, 4]));
    /// ```
    pub fn backend<B: ExecutionBackend>(mut self, _backend: B) -> Self {
        let of = TypeId::of::<B>();
        self.backend = if of == TypeId::of::<Sequential>() {
            Some(Chosen::Sequential)
        } else if let Some(processes) = processes_choice(of) {
            Some(processes)
        } else if let Some(mpi) = mpi_choice(of) {
            Some(mpi)
        } else if of == TypeId::of::<Threads>() {
            Some(Chosen::Threads)
        } else {
            // `Backend::Configured` itself: leave the choice to the enclosing scope.
            None
        };
        self
    }

    /// The batch size for the `Parallel`s that do not set it.
    ///
    /// ```
    /// use parmemo_parallel::{BatchSize, Config, Parallel};
    /// let n = Config::new().batch_size(BatchSize::Fixed(8)).scope(|| Parallel::new().map(|x: u8| x, 0..100));
    /// assert_eq!(n.map(|v| v.len()), Ok(100));
    /// ```
    pub fn batch_size(mut self, batch_size: BatchSize) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// The progress level for the `Parallel`s that do not set it.
    ///
    /// ```
    /// let config = parmemo_parallel::Config::new().verbose(0);
    /// # let _ = config;
    /// ```
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = Some(verbose);
        self
    }

    /// The per-task timeout for the `Parallel`s that do not set one.
    ///
    /// ```
    /// use parmemo_parallel::{Config, Error, Parallel};
    /// use std::time::Duration;
    /// let run = Config::new().timeout(Duration::ZERO).scope(|| Parallel::new().map(|x: u8| x, [1]));
    /// assert_eq!(run, Err(Error::InvalidTimeout));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs `body` with these settings in force (over those of enclosing scopes), and
    /// returns what it returns. The settings end with the call, a panic included.
    ///
    /// ```
    /// use parmemo_parallel::{Config, Parallel};
    /// let outer = Config::new().n_jobs(3).scope(|| {
    ///     let inner = Config::new().n_jobs(1).scope(|| Parallel::new().effective_n_jobs());
    ///     (Parallel::new().effective_n_jobs(), inner)
    /// });
    /// assert_eq!(outer, (Ok(3), Ok(1)));
    /// ```
    pub fn scope<R>(self, body: impl FnOnce() -> R) -> R {
        within(current().overridden_by(self), body)
    }

    fn overridden_by(self, inner: Config) -> Config {
        Config {
            n_jobs: inner.n_jobs.or(self.n_jobs),
            backend: inner.backend.or(self.backend),
            batch_size: inner.batch_size.or(self.batch_size),
            verbose: inner.verbose.or(self.verbose),
            timeout: inner.timeout.or(self.timeout),
        }
    }
}

/// `Chosen::Processes` if `of` is the process backend's type.
#[cfg(feature = "processes")]
fn processes_choice(of: TypeId) -> Option<Chosen> {
    (of == TypeId::of::<Processes>()).then_some(Chosen::Processes)
}

/// Without the feature `processes` there is no such backend to choose.
#[cfg(not(feature = "processes"))]
fn processes_choice(_: TypeId) -> Option<Chosen> {
    None
}

/// `Chosen::Mpi` when `of` is the MPI backend's type (which exists with feature `mpi`).
fn mpi_choice(of: TypeId) -> Option<Chosen> {
    #[cfg(feature = "mpi")]
    if of == TypeId::of::<crate::backend::Mpi>() {
        return Some(Chosen::Mpi);
    }
    let _ = of;
    None
}

/// The settings in force on this thread.
pub(crate) fn current() -> Config {
    SCOPES.with(|scopes| scopes.borrow().last().copied().unwrap_or_default())
}

/// Runs `body` with `config` in force on this thread: a scope, or a run's settings
/// carried to the thread that runs its tasks.
pub(crate) fn within<R>(config: Config, body: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPES.with(|scopes| scopes.borrow_mut().pop());
        }
    }
    SCOPES.with(|scopes| scopes.borrow_mut().push(config));
    let _pop = Pop;
    body()
}

// The scope decides what `Backend::Configured` is, so its resolution lives with the scope.
impl Configured {
    /// The backend in force: the scope's, or threads.
    pub(crate) fn chosen() -> Chosen {
        current().backend.unwrap_or(Chosen::Threads)
    }
}

impl ExecutionBackend for Configured {
    fn is_threaded(self) -> bool {
        true
    }

    fn effective_n_jobs(self, requested: usize) -> usize {
        match Configured::chosen() {
            Chosen::Sequential => Sequential.effective_n_jobs(requested),
            Chosen::Threads => Threads.effective_n_jobs(requested),
            #[cfg(feature = "processes")]
            Chosen::Processes => Processes.effective_n_jobs(requested),
            #[cfg(feature = "mpi")]
            Chosen::Mpi => crate::backend::Mpi.effective_n_jobs(requested),
        }
    }
}
