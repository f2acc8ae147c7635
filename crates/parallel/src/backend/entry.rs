//! The program's entry point for the out-of-process backends.

/// The entry point of worker processes and MPI ranks: call it first thing in `main`.
///
/// In a program run the normal way it returns at once. In a worker process of
/// `Backend::Processes` it serves tasks until the parent goes away, then exits: the rest
/// of `main` never runs there. Workers are also recognised before `main` runs (a
/// constructor of this crate, on Linux, macOS and the BSDs), so a program that forgets
/// this call still works and never starts workers from its workers; where constructors
/// do not run, a worker that reaches a pool of its own exits instead, and its parent's
/// error says to call `init()`.
///
/// With the feature `mpi`, in a program started by an MPI launcher (`mpirun`, `srun`),
/// it joins the job: rank 0 returns and runs `main`, the other ranks serve its tasks
/// until it ends, then finalize MPI and exit. This part has no substitute: an MPI
/// program must call `init()`.
///
/// It changes the environment (it removes the variable that invites a worker), so call
/// it before the program starts threads. In tests, where `main` is the test harness's,
/// nothing is needed on platforms with constructors; elsewhere use
/// [`enable_test_support!`](crate::enable_test_support).
///
/// ```
/// fn main() {
///     parmemo_parallel::init();
///     // ... the program, which may use Backend::Processes
/// }
/// ```
// The example is about where the call goes: first thing in `main`.
#[allow(clippy::needless_doctest_main)]
pub fn init() {
    #[cfg(feature = "processes")]
    super::process::serve_if_invited();
    #[cfg(feature = "mpi")]
    super::mpi::join();
}

/// Ends the pools kept between runs now, thread pools and worker processes alike (their
/// threads and workers finish the runs still using them, then end); the next run starts
/// new ones. joblib ends a `Parallel`'s workers when its `with` block ends; here pools
/// are kept for reuse, released when unused for 5 minutes (worker processes, as loky) or
/// when more than four sizes are in use, and this releases them at once: before a
/// long phase without parallel work, or in a test that counts processes.
///
/// ```
/// use parmemo_parallel::Parallel;
/// assert_eq!(Parallel::new().n_jobs(2).map(|x: u8| x + 1, [1])?, [2]);
/// parmemo_parallel::shutdown();
/// assert_eq!(Parallel::new().n_jobs(2).map(|x: u8| x + 1, [2])?, [3]); // a new pool
/// # Ok::<(), parmemo_parallel::Error>(())
/// ```
pub fn shutdown() {
    crate::engine::shutdown();
    #[cfg(feature = "processes")]
    super::process::shutdown();
}
