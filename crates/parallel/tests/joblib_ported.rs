//! Cases of joblib's own `test_parallel.py`, ported: each test names the joblib test it
//! follows and checks the same behaviour here, over every backend where it applies.
//! Where parmemo differs on purpose (the default `n_jobs`, a timeout on one job), the
//! test says so.

mod common;

use common::within_a_minute;
use parmemo_parallel::{delayed, Backend, BatchSize, Config, Error, Parallel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn square(x: u64) -> u64 {
    x * x
}

fn squares(n: u64) -> Vec<u64> {
    (0..n).map(square).collect()
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// `test_simple_parallel`: every backend, every kind of `n_jobs`, every verbosity.
#[test]
fn simple_parallel() {
    for n_jobs in [1, 2, -1, -2] {
        for verbose in [2, 11, 100] {
            let quiet = |p: Parallel| p.n_jobs(n_jobs).verbose(verbose).log_to(std::io::sink());
            let on = format!("n_jobs={n_jobs} verbose={verbose}");
            let threads = quiet(Parallel::new());
            assert_eq!(threads.map(square, 0..5), Ok(squares(5)), "threads {on}");
            let sequential = quiet(Parallel::new()).backend(Backend::Sequential);
            assert_eq!(sequential.map(square, 0..5), Ok(squares(5)), "{on}");
            let processes = quiet(Parallel::new()).backend(Backend::Processes);
            assert_eq!(processes.map(square, 0..5), Ok(squares(5)), "{on}");
        }
    }
}

/// `test_nested_loop`: a run inside each task of another, for each pair of backends.
#[test]
fn nested_loop() {
    fn inner_on_processes(_: u64) -> Result<Vec<u64>, Error> {
        Parallel::new()
            .backend(Backend::Processes)
            .n_jobs(2)
            .map(square, 0..3)
    }
    let inner_on_threads = |_: u64| Parallel::new().n_jobs(2).map(square, 0..3);
    let inner_sequential = |_: u64| {
        Parallel::new()
            .backend(Backend::Sequential)
            .map(square, 0..3)
    };
    let expected = Ok(vec![Ok(squares(3)), Ok(squares(3))]);
    let outer = Parallel::new().n_jobs(2);
    assert_eq!(outer.map(inner_on_threads, 0..2), expected);
    assert_eq!(outer.map(inner_sequential, 0..2), expected);
    assert_eq!(outer.map(inner_on_processes, 0..2), expected);
    let outer = Parallel::new().backend(Backend::Sequential);
    assert_eq!(outer.map(inner_on_threads, 0..2), expected);
    assert_eq!(outer.map(inner_on_processes, 0..2), expected);
}

/// `test_mutate_input_with_threads`: tasks on threads share the caller's data.
#[test]
fn mutate_input_with_threads() {
    let queue = Mutex::new(Vec::new());
    Parallel::new()
        .n_jobs(2)
        .run((0..5).map(|i| {
            let queue = &queue;
            delayed(move || queue.lock().unwrap().push(i))
        }))
        .unwrap();
    let mut queue = queue.into_inner().unwrap();
    queue.sort_unstable();
    assert_eq!(queue, [0, 1, 2, 3, 4]);
}

/// `test_parallel_timeout_success`: a timeout the tasks stay within changes nothing.
#[test]
fn parallel_timeout_success() {
    let timeout = Duration::from_secs(30);
    let threads = Parallel::new().n_jobs(2).timeout(timeout);
    let sequential = Parallel::new()
        .backend(Backend::Sequential)
        .timeout(timeout);
    let processes = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .timeout(timeout);
    let ten = || std::iter::repeat_n(1, 10);
    assert_eq!(threads.map(sleep_ms, ten()).map(|r| r.len()), Ok(10));
    assert_eq!(sequential.map(sleep_ms, ten()).map(|r| r.len()), Ok(10));
    assert_eq!(processes.map(sleep_ms, ten()).map(|r| r.len()), Ok(10));
}

/// `test_parallel_timeout_fail`: tasks of ten minutes under a timeout of 10 ms fail the
/// run at its deadline, on every backend. (joblib skips `n_jobs=1`, whose backend has no
/// timeout; here it returns too.)
#[test]
fn parallel_timeout_fail() {
    let outcomes = within_a_minute(|| {
        let timeout = Duration::from_millis(10);
        let long = || std::iter::repeat_n(600_000, 10);
        [
            Parallel::new()
                .n_jobs(2)
                .timeout(timeout)
                .map(sleep_ms, long()),
            Parallel::new()
                .backend(Backend::Sequential)
                .timeout(timeout)
                .map(sleep_ms, long()),
            Parallel::new()
                .backend(Backend::Processes)
                .n_jobs(2)
                .timeout(timeout)
                .map(sleep_ms, long()),
        ]
    });
    for outcome in outcomes {
        assert!(matches!(outcome, Err(Error::Timeout { .. })), "{outcome:?}");
    }
}

/// A task error of the caller's own type, as joblib's `MyExceptionWithFinickyInit`.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Finicky(u8, String);

impl std::fmt::Display for Finicky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "finicky {} {}", self.0, self.1)
    }
}

fn raiser(x: u64) -> Result<u64, Finicky> {
    if x == 7 {
        Err(Finicky(7, "d".to_owned()))
    } else {
        Ok(x)
    }
}

fn division((x, y): (u64, u64)) -> Result<u64, String> {
    x.checked_div(y)
        .ok_or_else(|| "division by zero".to_owned())
}

/// `test_error_capture`: the task's own error comes back, with its type, on every
/// backend; the pool works after it.
#[test]
fn error_capture() {
    let processes = Parallel::new().backend(Backend::Processes).n_jobs(2);
    let by_zero = processes.try_map(division, [(0, 1), (1, 0)]).unwrap_err();
    assert_eq!(by_zero, Error::task(1, "division by zero"));
    assert_eq!(processes.map(square, 0..10), Ok(squares(10)));
    for outcome in [
        processes.try_map(raiser, 0..30),
        Parallel::new().n_jobs(2).try_map(raiser, 0..30),
        Parallel::new()
            .backend(Backend::Sequential)
            .try_map(raiser, 0..30),
    ] {
        let error = outcome.unwrap_err();
        assert_eq!(
            error.task_error::<Finicky>(),
            Some(&Finicky(7, "d".to_owned()))
        );
    }
}

/// `test_dispatch_one_job`: with one job, the input is pulled one batch at a time, each
/// batch consumed before the next is produced.
#[test]
fn dispatch_one_job() {
    for (batch, expected) in [
        (1, "P0 C0 P1 C1 P2 C2 P3 C3 P4 C4 P5 C5"),
        (4, "P0 P1 P2 P3 C0 C1 C2 C3 P4 P5 C4 C5"),
    ] {
        for backend in ["sequential", "threads"] {
            let log = Mutex::new(Vec::new());
            let tasks = (0..6).inspect(|i| log.lock().unwrap().push(format!("P{i}")));
            let consume = |i: u32| log.lock().unwrap().push(format!("C{i}"));
            let p = Parallel::new()
                .n_jobs(1)
                .batch_size(BatchSize::Fixed(batch));
            if backend == "sequential" {
                p.backend(Backend::Sequential).map(consume, tasks).unwrap();
            } else {
                p.map(consume, tasks).unwrap();
            }
            assert_eq!(log.into_inner().unwrap().join(" "), expected, "{backend}");
        }
    }
}

/// `test_dispatch_multiprocessing`: the input is pulled lazily, a bounded number of
/// batches ahead (joblib's `pre_dispatch`; here two batches per worker).
#[test]
fn dispatch_is_lazy() {
    let log = Mutex::new(Vec::new());
    let tasks = (0..12).inspect(|i| log.lock().unwrap().push(format!("P{i}")));
    let consume = |_: u32| {
        std::thread::sleep(Duration::from_millis(5));
        log.lock().unwrap().push("C".to_owned());
    };
    Parallel::new()
        .n_jobs(2)
        .batch_size(BatchSize::Fixed(1))
        .map(consume, tasks)
        .unwrap();
    let log = log.into_inner().unwrap();
    let first_consumed = log.iter().position(|entry| entry == "C").unwrap();
    let fifth_produced = log.iter().position(|entry| entry == "P4").unwrap();
    assert!(first_consumed < fifth_produced, "{log:?}");
    assert_eq!(log.len(), 24);
}

/// `test_exception_dispatch`: a failure while many tasks are dispatched fails the run.
#[test]
fn exception_dispatch() {
    let failed = Parallel::new().n_jobs(2).try_map(raiser, 0..30);
    assert_eq!(failed.unwrap_err(), Error::task(7, "finicky 7 d"));
}

/// `test_invalid_njobs` and `test_invalid_batch_size`: refused before any task runs.
#[test]
fn invalid_n_jobs_and_batch_size() {
    let zero = Parallel::new().n_jobs(0);
    assert_eq!(
        zero.map(square, 0..3),
        Err(Error::InvalidNJobs { n_jobs: 0 })
    );
    let sequential = zero.clone().backend(Backend::Sequential);
    // Sequential runs one at a time whatever n_jobs says, but 0 is still a mistake.
    assert_eq!(
        sequential.map(square, 0..3),
        Err(Error::InvalidNJobs { n_jobs: 0 })
    );
    let processes = zero.backend(Backend::Processes);
    assert_eq!(
        processes.map(square, 0..3),
        Err(Error::InvalidNJobs { n_jobs: 0 })
    );
    let empty_batches = Parallel::new().batch_size(BatchSize::Fixed(0));
    assert_eq!(
        empty_batches.map(square, 0..3),
        Err(Error::InvalidBatchSize)
    );
}

/// `test_dispatch_race_condition`: every mix of tasks, jobs and batch sizes gives every
/// result in order.
#[test]
fn dispatch_race_condition() {
    for (tasks, n_jobs, batch) in [
        (2, 2, BatchSize::Auto),
        (10, 2, BatchSize::Auto),
        (517, 2, BatchSize::Auto),
        (10, 4, BatchSize::Auto),
        (200, 12, BatchSize::Auto),
        (25, 12, BatchSize::Fixed(1)),
        (250, 12, BatchSize::Fixed(1)),
        (250, 12, BatchSize::Fixed(7)),
    ] {
        let p = Parallel::new().n_jobs(n_jobs).batch_size(batch);
        assert_eq!(
            p.map(square, 0..tasks),
            Ok(squares(tasks)),
            "{tasks} {n_jobs}"
        );
        let streamed: Result<Vec<u64>, Error> = p
            .run_iter((0..tasks).map(|i| delayed(move || square(i))))
            .unwrap()
            .collect();
        assert_eq!(streamed, Ok(squares(tasks)));
    }
}

/// `test_parallel_return_generator_order`: a stream yields results in input order.
#[test]
fn return_generator_order() {
    for n_jobs in [1, 2, 4] {
        let written = Arc::new(Mutex::new(vec![0; 5]));
        let shared = Arc::clone(&written);
        let tasks = (0..5).map(move |i| {
            let written = Arc::clone(&shared);
            delayed(move || {
                written.lock().unwrap()[i] = i;
                i
            })
        });
        let results: Vec<usize> = Parallel::new()
            .n_jobs(n_jobs)
            .run_iter(tasks)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(results, *written.lock().unwrap(), "n_jobs={n_jobs}");
    }
}

fn first_fails(ms: u64) -> Result<u64, String> {
    if ms == 0 {
        Err("not a duration".to_owned())
    } else {
        Ok(sleep_ms(ms))
    }
}

/// `test_abort_backend`: the first task fails while each of the others would sleep. The
/// tasks not started are cancelled; worker processes and runs under a timeout do not
/// wait for the running ones (ten minutes each here), runs whose tasks may borrow wait
/// for the few already running (50 ms each here), as joblib's threads do.
#[test]
fn abort_backend() {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let counted = |ms: u64| {
        STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        first_fails(ms)
    };
    let delays = |ms| std::iter::once(0).chain(std::iter::repeat_n(ms, 100));
    for n_jobs in [1, 2, -1, -2] {
        let p = Parallel::new()
            .n_jobs(n_jobs)
            .batch_size(BatchSize::Fixed(1));
        STARTED.store(0, std::sync::atomic::Ordering::SeqCst);
        let borrowing = p.try_map(counted, delays(50));
        assert_eq!(borrowing, Err(Error::task(0, "not a duration")));
        let workers = p.effective_n_jobs().unwrap();
        let started = STARTED.load(std::sync::atomic::Ordering::SeqCst);
        assert!(started <= 2 * workers + 1, "{started} of 101 tasks started");
        let outcomes = within_a_minute(move || {
            let timed = p.clone().timeout(Duration::from_secs(600));
            let processes = timed.clone().backend(Backend::Processes);
            [
                timed.try_map(first_fails, delays(600_000)),
                processes.try_map(first_fails, delays(600_000)),
            ]
        });
        for outcome in outcomes {
            assert_eq!(
                outcome,
                Err(Error::task(0, "not a duration")),
                "n_jobs={n_jobs}"
            );
        }
    }
}

/// `test_deadlock_with_generator`: a stream of large results dropped after two of them
/// ends without hanging, and the next run goes ahead.
#[test]
fn dropped_generator_with_large_results() {
    fn large(i: u64) -> Vec<bool> {
        let mut result = vec![true; 500_000];
        result[0] = i.is_multiple_of(2);
        result
    }
    within_a_minute(|| {
        for n_jobs in [1, 2, -1] {
            let p = Parallel::new().n_jobs(n_jobs);
            let mut stream = p
                .run_iter((0..10).map(|i| delayed(move || large(i))))
                .unwrap();
            assert!(stream.next().is_some_and(|r| r.is_ok_and(|v| v[0])));
            assert!(stream.next().is_some_and(|r| r.is_ok_and(|v| !v[0])));
            drop(stream);
            let processes = p.backend(Backend::Processes);
            let mut stream = processes.run_iter(large, 0..10).unwrap();
            assert!(stream.next().is_some());
            drop(stream);
            assert_eq!(processes.map(square, 0..3), Ok(squares(3)));
        }
    });
}

/// `test_multiple_generator_call_separated`: two streams at once, each complete.
#[test]
fn two_generators_at_once() {
    for n_jobs in [1, 2, -1] {
        let first = Parallel::new()
            .n_jobs(n_jobs)
            .run_iter((0..10).map(|i| delayed(move || square(i))))
            .unwrap();
        let second = Parallel::new()
            .n_jobs(n_jobs)
            .run_iter((10..20).map(|i| delayed(move || square(i))))
            .unwrap();
        let second: Vec<u64> = second.map(Result::unwrap).collect();
        let first: Vec<u64> = first.map(Result::unwrap).collect();
        assert_eq!(first, squares(10));
        assert_eq!(second, (10..20).map(square).collect::<Vec<_>>());
    }
}

/// `test_backend_context_manager` and `test_effective_n_jobs_None`: inside a
/// configuration scope, a `Parallel` that sets nothing takes the scope's settings;
/// outside, its own defaults again (all cores here; joblib's default is one job).
#[test]
fn configuration_scope() {
    let cores = parmemo_parallel::available_cores();
    Config::new().n_jobs(3).scope(|| {
        assert_eq!(Parallel::new().effective_n_jobs(), Ok(3));
        assert_eq!(Parallel::new().n_jobs(2).effective_n_jobs(), Ok(2));
        assert_eq!(Parallel::new().map(square, 0..4), Ok(squares(4)));
    });
    assert_eq!(Parallel::new().effective_n_jobs(), Ok(cores));
    // Scopes are per thread: a scope on one thread changes nothing on another.
    Config::new().n_jobs(3).scope(|| {
        let elsewhere = std::thread::spawn(|| Parallel::new().effective_n_jobs())
            .join()
            .unwrap();
        assert_eq!(elsewhere, Ok(cores));
    });
}

/// `test_nested_backend_in_sequential`: a sequential run does not change what runs
/// inside its tasks; a scope's settings reach them.
#[test]
fn nested_in_sequential() {
    let cores = parmemo_parallel::available_cores();
    let inner = |_: u32| Parallel::new().effective_n_jobs();
    let outer = Parallel::new().backend(Backend::Sequential);
    assert_eq!(outer.map(inner, 0..3), Ok(vec![Ok(cores); 3]));
    let scoped = Config::new().n_jobs(2).scope(|| outer.map(inner, 0..3));
    assert_eq!(scoped, Ok(vec![Ok(2); 3]));
}

/// `test_parallel_as_context_manager`: pools can be ended explicitly (joblib's `with`
/// block), and a later run starts new ones.
#[test]
fn pools_end_on_request_and_come_back() {
    // A pool of its own (pools are keyed by their initializer): the other tests' runs
    // at the same time never touch its workers.
    fn own_pool() {}
    let processes = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .initializer(own_pool);
    let before = processes.worker_pids().unwrap();
    assert_eq!(processes.map(square, 0..10), Ok(squares(10)));
    assert_eq!(
        processes.worker_pids().unwrap(),
        before,
        "the same pool, reused"
    );
    parmemo_parallel::shutdown();
    assert_eq!(processes.map(square, 0..10), Ok(squares(10)));
    let after = processes.worker_pids().unwrap();
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "{before:?} {after:?}"
    );
}
