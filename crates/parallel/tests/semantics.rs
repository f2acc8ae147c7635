//! Execution semantics a joblib user relies on, over every backend where they apply:
//! a zero timeout or batch size refused before any task runs, `n_jobs(1)` one task at a
//! time even inside another run, a panic whose payload panics again when dropped.

mod common;

use common::within_a_minute;

/// A new, empty directory for marker files under cargo's test tmp dir, removed when
/// dropped. Never one named by the process id alone: that directory can outlive a
/// killed run, and CI containers hand out the same ids run after run, so its stale
/// markers would release a test's gates before its tasks start.
fn scratch_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}
use parmemo_parallel::{delayed, Backend, BatchSize, Error, Parallel};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn a_zero_timeout_or_batch_size_is_refused_before_any_task_runs() {
    // A static, as tasks under a timeout own what they use.
    static RAN: AtomicUsize = AtomicUsize::new(0);
    let counted = |x: u64| {
        RAN.fetch_add(1, Ordering::SeqCst);
        x
    };
    let zero = Duration::ZERO;
    let sequential = Parallel::new().backend(Backend::Sequential);
    let threads = Parallel::new().n_jobs(2);
    assert_eq!(sequential.map(counted, 0..10).map(|r| r.len()), Ok(10));
    for (name, zero_timeout, zero_batch) in [
        (
            "sequential",
            sequential.clone().timeout(zero).map(counted, 0..10),
            sequential
                .clone()
                .batch_size(BatchSize::Fixed(0))
                .map(counted, 0..10),
        ),
        (
            "threads",
            threads.clone().timeout(zero).map(counted, 0..10),
            threads
                .clone()
                .batch_size(BatchSize::Fixed(0))
                .map(counted, 0..10),
        ),
    ] {
        assert_eq!(zero_timeout, Err(Error::InvalidTimeout), "{name}");
        assert_eq!(zero_batch, Err(Error::InvalidBatchSize), "{name}");
    }
    assert_eq!(RAN.load(Ordering::SeqCst), 10, "only the one valid run ran");
    let streamed = Parallel::new()
        .timeout(Duration::ZERO)
        .run_iter((0..3_u64).map(|x| delayed(move || x)));
    assert!(matches!(streamed, Err(Error::InvalidTimeout)));

    let processes = Parallel::new().backend(Backend::Processes).n_jobs(1);
    assert_eq!(
        processes.clone().timeout(Duration::ZERO).map(square, 0..10),
        Err(Error::InvalidTimeout)
    );
    assert!(matches!(
        processes
            .clone()
            .batch_size(BatchSize::Fixed(0))
            .run_unordered(square, 0..10),
        Err(Error::InvalidBatchSize)
    ));
    assert_eq!(processes.map(square, [3]), Ok(vec![9]));
}

#[test]
fn n_jobs_1_runs_one_task_at_a_time_nested_or_not() {
    let outer = Parallel::new().n_jobs(2).batch_size(BatchSize::Fixed(1));
    let most_at_once = outer
        .map(
            |_: u32| {
                let inner = Parallel::new().n_jobs(1);
                assert_eq!(inner.effective_n_jobs(), Ok(1));
                let active = AtomicUsize::new(0);
                let most = AtomicUsize::new(0);
                inner
                    .map(
                        |i: u32| {
                            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(5));
                            active.fetch_sub(1, Ordering::SeqCst);
                            i
                        },
                        0..6,
                    )
                    .unwrap();
                // The stream form too, whose tasks own their data.
                let active = Arc::new(AtomicUsize::new(0));
                let streamed_most = Arc::new(AtomicUsize::new(0));
                let (shared_active, shared_most) =
                    (Arc::clone(&active), Arc::clone(&streamed_most));
                let tasks = (0..6).map(move |i: u32| {
                    let (active, streamed_most) =
                        (Arc::clone(&shared_active), Arc::clone(&shared_most));
                    delayed(move || {
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        streamed_most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        active.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                });
                let streamed: Vec<u32> = inner
                    .run_iter(tasks)
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                assert_eq!(streamed, [0, 1, 2, 3, 4, 5]);
                most.load(Ordering::SeqCst)
                    .max(streamed_most.load(Ordering::SeqCst))
            },
            0..2,
        )
        .unwrap();
    assert_eq!(most_at_once, [1, 1], "n_jobs(1) inside a task");
}

/// A panic payload whose `Drop` panics again.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        assert!(std::thread::panicking(), "dropping a Bomb");
    }
}

fn explodes_at_three(x: u64) -> u64 {
    if x == 3 {
        std::panic::panic_any(Bomb);
    }
    x
}

#[test]
fn a_panic_payload_whose_drop_panics_fails_the_run_without_hanging() {
    let outcomes = within_a_minute(|| {
        let on_threads = Parallel::new().n_jobs(2).batch_size(BatchSize::Fixed(1));
        [
            Parallel::new()
                .backend(Backend::Sequential)
                .map(explodes_at_three, 0..8),
            on_threads.map(explodes_at_three, 0..8),
            on_threads
                .run_iter((0..8).map(|x| delayed(move || explodes_at_three(x))))
                .and_then(Iterator::collect),
            on_threads
                .run_unordered((0..8).map(|x| delayed(move || explodes_at_three(x))))
                .and_then(|done| done.map(|pair| pair.map(|(_, x)| x)).collect()),
        ]
    });
    for outcome in outcomes {
        assert!(
            matches!(&outcome, Err(Error::Task { index: 3, .. })),
            "{outcome:?}"
        );
    }
    // The pool still works.
    assert_eq!(Parallel::new().n_jobs(2).map(square, [4]), Ok(vec![16]));
}

/// Tasks that wait until the test releases them: stuck, as far as a run can tell.
struct Gate {
    started: AtomicUsize,
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate {
            started: AtomicUsize::new(0),
            open: std::sync::Mutex::new(false),
            opened: std::sync::Condvar::new(),
        })
    }

    fn pass(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn wait_for_started(&self, n: usize) {
        while self.started.load(Ordering::SeqCst) < n {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

#[test]
fn a_stream_starts_at_the_call() {
    let gate = Gate::new();
    let tasks = {
        let gate = Arc::clone(&gate);
        (0..4_u32).map(move |i| {
            let gate = Arc::clone(&gate);
            delayed(move || {
                gate.started.fetch_add(1, Ordering::SeqCst);
                i
            })
        })
    };
    let stream = Parallel::new().n_jobs(2).run_iter(tasks).unwrap();
    // No `next()` yet: the workers have the first batches all the same.
    within_a_minute({
        let gate = Arc::clone(&gate);
        move || gate.wait_for_started(1)
    });
    let all: Vec<u32> = stream.collect::<Result<_, _>>().unwrap();
    assert_eq!(all, [0, 1, 2, 3]);
}

#[test]
fn a_stream_starts_at_the_call_on_processes() {
    let dir = scratch_dir("pm-eager");
    let marker = dir.path().join("started").display().to_string();
    let stream = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(1)
        .run_iter(touch, [marker.clone()])
        .unwrap();
    within_a_minute(move || {
        while !std::path::Path::new(&marker).exists() {
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    assert_eq!(stream.count(), 1);
    dir.close().unwrap();
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn touch(path: String) -> bool {
    std::fs::write(path, b"").is_ok()
}

#[test]
fn tasks_left_running_by_a_dropped_or_timed_out_stream_never_delay_later_runs() {
    let gate = Gate::new();
    let later = within_a_minute({
        let gate = Arc::clone(&gate);
        move || {
            let stuck = |gate: &Arc<Gate>| {
                (0..2_u32).map({
                    let gate = Arc::clone(gate);
                    move |i| {
                        let gate = Arc::clone(&gate);
                        delayed(move || {
                            gate.pass();
                            i
                        })
                    }
                })
            };
            let p = Parallel::new().n_jobs(2).batch_size(BatchSize::Fixed(1));
            // Dropped with both of its tasks stuck on the pool's two threads.
            let dropped = p.run_iter(stuck(&gate)).unwrap();
            gate.wait_for_started(2);
            drop(dropped);
            let after_drop = p.map(square, 0..10).unwrap();
            // Past its timeout, with its tasks stuck again.
            let timed = p.clone().timeout(Duration::from_millis(50));
            let mut stream = timed.run_unordered(stuck(&gate)).unwrap();
            assert!(matches!(stream.next(), Some(Err(Error::Timeout { .. }))));
            drop(stream);
            let after_timeout = p.map(square, 0..10).unwrap();
            (after_drop, after_timeout)
        }
    });
    gate.release();
    let squares: Vec<u64> = (0..10).map(square).collect();
    assert_eq!(later, (squares.clone(), squares));
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn mark_then_sleep(marker: String) -> bool {
    let written = std::fs::write(marker, b"").is_ok();
    std::thread::sleep(Duration::from_secs(600));
    written
}

/// Gives a test a process pool of its own (pools are keyed by their initializer), so
/// that other tests running at the same time do not take its workers.
fn own_pool() {}

#[test]
fn a_dropped_stream_on_processes_never_delays_later_runs() {
    let p = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .initializer(own_pool)
        .batch_size(BatchSize::Fixed(1));
    let before = p.worker_pids().unwrap();
    let dir = scratch_dir("pm-dropped");
    let markers: Vec<String> = (0..2)
        .map(|i| dir.path().join(i.to_string()).display().to_string())
        .collect();
    let later = within_a_minute(move || {
        // Two tasks that would hold both workers for ten minutes, abandoned once both
        // have started.
        let stream = p.run_unordered(mark_then_sleep, markers.clone()).unwrap();
        while !markers.iter().all(|m| std::path::Path::new(m).exists()) {
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(stream);
        p.map(square, 0..10)
    });
    dir.close().unwrap();
    assert_eq!(later, Ok((0..10).map(square).collect::<Vec<u64>>()));
    // Each worker's parent thread sees the cancellation at its next poll (20 ms), and the
    // later run may have been served whole by a replacement before the other poll came:
    // wait for both to be killed and reaped rather than look at once.
    wait_until_reaped(before.clone());
    let after = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .initializer(own_pool)
        .worker_pids()
        .unwrap();
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "the abandoned tasks' workers were replaced: {before:?} {after:?}"
    );
}

#[test]
fn shutdown_ends_the_kept_workers_and_reaps_them() {
    let p = Parallel::new().backend(Backend::Processes).n_jobs(3);
    let pids = p.worker_pids().unwrap();
    assert_eq!(pids.len(), 3);
    parmemo_parallel::shutdown();
    wait_until_reaped(pids);
    assert_eq!(p.map(square, [5]), Ok(vec![25]), "the next run starts anew");
}

/// Waits (within a minute) until the processes `pids` are gone from the process table:
/// exited and reaped, no zombie left.
fn wait_until_reaped(pids: Vec<u32>) {
    within_a_minute(move || {
        while pids
            .iter()
            .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

static SCALE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn load_scale() {
    SCALE.store(1000, Ordering::SeqCst);
}

fn scaled(x: u64) -> u64 {
    x * SCALE.load(Ordering::SeqCst)
}

fn missing_model() {
    panic!("no model file");
}

fn aborts_at_seven(x: u64) -> u64 {
    if x == 7 {
        std::process::abort();
    }
    scaled(x)
}

#[test]
fn an_initializer_runs_in_each_worker_before_its_first_task() {
    let p = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .batch_size(BatchSize::Fixed(1))
        .initializer(load_scale);
    let thousands: Vec<u64> = (0..20).map(|x| x * 1000).collect();
    assert_eq!(p.map(scaled, 0..20).as_ref(), Ok(&thousands));
    // A worker started to replace a dead one runs it too.
    assert!(matches!(
        p.map(aborts_at_seven, [7]),
        Err(Error::WorkerDied { .. })
    ));
    assert_eq!(p.map(scaled, 0..20).as_ref(), Ok(&thousands));
    // Workers without it are another pool, and this process never ran it.
    let plain = Parallel::new().backend(Backend::Processes).n_jobs(2);
    assert_eq!(plain.map(scaled, [3]), Ok(vec![3]));
    assert_eq!(scaled(3), 3);

    match Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(1)
        .initializer(missing_model)
        .map(scaled, [1])
    {
        Err(Error::WorkerStart { message }) => {
            assert!(message.contains("no model file"), "{message}");
        }
        other => panic!("expected the initializer's failure, got {other:?}"),
    }
}

fn current_pid(_: u32) -> u32 {
    std::process::id()
}

#[test]
fn a_config_scope_sets_what_a_parallel_leaves_unset_and_reaches_its_tasks() {
    use parmemo_parallel::Config;
    let unset = || Parallel::new().effective_n_jobs().unwrap();
    assert_eq!(Config::new().n_jobs(1).scope(unset), 1);
    assert_eq!(
        Config::new()
            .n_jobs(3)
            .scope(|| (unset(), Config::new().n_jobs(2).scope(unset), unset())),
        (3, 2, 3),
        "scopes nest, and end with their block"
    );
    assert_eq!(
        Config::new()
            .n_jobs(1)
            .scope(|| Parallel::new().n_jobs(2).effective_n_jobs()),
        Ok(2)
    );
    // The tasks of a run started in the scope see it, on the pool's threads.
    let inner = Config::new().n_jobs(1).scope(|| {
        Parallel::new()
            .n_jobs(2)
            .batch_size(BatchSize::Fixed(1))
            .map(|_: u32| Parallel::new().effective_n_jobs().unwrap(), 0..8)
            .unwrap()
    });
    assert_eq!(inner, [1; 8]);
    // And the scope's timeout is checked like one set on the builder.
    assert_eq!(
        Config::new()
            .timeout(Duration::ZERO)
            .scope(|| Parallel::new().map(square, [1])),
        Err(Error::InvalidTimeout)
    );
}

#[test]
fn backend_configured_runs_where_the_application_says() {
    use parmemo_parallel::Config;
    let me = std::process::id();
    // Library code: names no backend.
    let pids = || {
        Parallel::new()
            .backend(Backend::Configured)
            .n_jobs(2)
            .map(current_pid, 0..6)
            .unwrap()
    };
    assert!(pids().iter().all(|&pid| pid == me), "threads by default");
    let on_processes = Config::new().backend(Backend::Processes).scope(pids);
    assert!(
        on_processes.iter().all(|&pid| pid != me),
        "worker processes when the application says so: {on_processes:?}"
    );
    let sequential = Config::new().backend(Backend::Sequential).scope(|| {
        Parallel::new()
            .backend(Backend::Configured)
            .run_iter(current_pid, 0..3)
            .unwrap()
            .collect::<Result<Vec<u32>, _>>()
    });
    assert_eq!(sequential, Ok(vec![me; 3]));
    let streamed = Config::new().backend(Backend::Processes).scope(|| {
        Parallel::new()
            .backend(Backend::Configured)
            .n_jobs(2)
            .run_unordered(current_pid, 0..4)
            .unwrap()
            .collect::<Result<Vec<(usize, u32)>, _>>()
    });
    assert!(streamed.unwrap().iter().all(|&(_, pid)| pid != me));
}

#[test]
fn as_completed_means_per_task_whatever_the_batching() {
    let gate = Gate::new();
    let tasks = {
        let gate = Arc::clone(&gate);
        // An input without an exact length, batched by four: task 5 is stuck in the
        // batch 4..8, and every other task must come out anyway (6 and 7 claimed from
        // its batch by the other thread).
        (0..10_u32).filter(|_| true).map(move |i| {
            let gate = Arc::clone(&gate);
            delayed(move || {
                if i == 5 {
                    gate.pass();
                }
                i
            })
        })
    };
    let (before_release, all) = within_a_minute({
        let gate = Arc::clone(&gate);
        move || {
            let mut done = Parallel::new()
                .n_jobs(2)
                .batch_size(BatchSize::Fixed(4))
                .run_unordered(tasks)
                .unwrap();
            let mut seen: Vec<usize> = done.by_ref().take(9).map(|r| r.unwrap().0).collect();
            let before_release = seen.clone();
            gate.release();
            seen.extend(done.map(|r| r.unwrap().0));
            (before_release, seen)
        }
    });
    let mut first_nine = before_release;
    first_nine.sort_unstable();
    assert_eq!(
        first_nine,
        [0, 1, 2, 3, 4, 6, 7, 8, 9],
        "a task waited for 5"
    );
    let mut all = all;
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
}

/// Task 5 waits until the file `release` exists: stuck, until the test says otherwise.
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn stuck_at_5_until((i, release): (u32, String)) -> u32 {
    if i == 5 {
        while !std::path::Path::new(&release).exists() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    i
}

#[test]
fn as_completed_means_per_task_on_processes_too() {
    let dir = scratch_dir("pm-unordered");
    let release = dir.path().join("release").display().to_string();
    let tasks: Vec<(u32, String)> = (0..10).map(|i| (i, release.clone())).collect();
    let (before_release, all) = within_a_minute({
        let release = release.clone();
        move || {
            // Without an exact length, batched by four: task 5 is stuck in 4..8.
            let mut done = Parallel::new()
                .backend(Backend::Processes)
                .n_jobs(2)
                .batch_size(BatchSize::Fixed(4))
                .run_unordered(stuck_at_5_until, tasks.into_iter().filter(|_| true))
                .unwrap();
            let mut seen: Vec<(usize, u32)> = done.by_ref().take(7).map(|r| r.unwrap()).collect();
            let before_release = seen.clone();
            std::fs::write(&release, b"").unwrap();
            seen.extend(done.map(|r| r.unwrap()));
            (before_release, seen)
        }
    });
    dir.close().unwrap();
    let mut first_seven: Vec<usize> = before_release.iter().map(|(i, _)| *i).collect();
    first_seven.sort_unstable();
    assert_eq!(first_seven, [0, 1, 2, 3, 4, 8, 9], "4 did not wait for 5");
    let mut all = all;
    all.sort_unstable();
    let expected: Vec<(usize, u32)> = (0..10_u32).map(|i| (i as usize, i)).collect();
    assert_eq!(all, expected);
}

fn panics_at_3(x: u32) -> u32 {
    assert!(x != 3, "no threes");
    x
}

fn aborts_at_6(x: u32) -> u32 {
    if x == 6 {
        std::process::abort();
    }
    x
}

#[test]
fn a_batch_answered_task_by_task_still_names_the_task_that_failed() {
    let p = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(1)
        .batch_size(BatchSize::Fixed(4));
    let failed: Vec<_> = p.run_unordered(panics_at_3, 0..8).unwrap().collect();
    assert!(failed.contains(&Ok((2, 2))), "{failed:?}");
    assert!(
        matches!(failed.last(), Some(Err(Error::Task { index: 3, .. }))),
        "{failed:?}"
    );
    let died: Vec<_> = p.run_unordered(aborts_at_6, 0..8).unwrap().collect();
    // The results of 4 and 5 may die with the worker (a worker gathers a millisecond of
    // results into one message); those of the batch before it came out.
    assert!(
        (0..4_u32).all(|i| died.contains(&Ok((i as usize, i)))),
        "{died:?}"
    );
    assert!(
        matches!(died.last(), Some(Err(Error::WorkerDied { index: 6, .. }))),
        "{died:?}"
    );
    // The pool serves on.
    assert_eq!(p.map(square, 0..3), Ok(vec![0, 1, 4]));
}

/// An error type of the caller's own, serializable so that it can come back from a
/// worker process.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Refused {
    code: u32,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused with code {}", self.code)
    }
}

fn check(x: u32) -> Result<u32, Refused> {
    if x == 7 {
        Err(Refused { code: 70 })
    } else {
        Ok(x)
    }
}

/// A task failing with a plain `String`, a serializable error of the standard library.
fn fails_at_two(x: u32) -> Result<u32, String> {
    if x == 2 {
        Err("two".to_owned())
    } else {
        Ok(x)
    }
}

#[test]
fn a_failing_task_gives_back_its_own_error_value() {
    let processes = Parallel::new().backend(Backend::Processes).n_jobs(2);
    for (name, outcome) in [
        ("processes", processes.clone().try_map(check, 0..10)),
        (
            "processes, batches of 4",
            processes
                .clone()
                .batch_size(BatchSize::Fixed(4))
                .try_map(check, 0..10),
        ),
        (
            "processes, configured",
            parmemo_parallel::Config::new()
                .backend(Backend::Processes)
                .scope(|| {
                    Parallel::new()
                        .backend(Backend::Configured)
                        .try_map(check, 0..10)
                }),
        ),
        (
            "configured on threads",
            Parallel::new()
                .backend(Backend::Configured)
                .try_map(check, 0..10),
        ),
        (
            "sequential",
            Parallel::new()
                .backend(Backend::Sequential)
                .try_map(check, 0..10),
        ),
        ("threads", Parallel::new().n_jobs(2).try_map(check, 0..10)),
        (
            "threads, try_run",
            Parallel::new()
                .n_jobs(2)
                .try_run((0..10).map(|x| delayed(move || check(x)))),
        ),
    ] {
        let error = outcome.unwrap_err();
        assert_eq!(error, Error::task(7, "refused with code 70"), "{name}");
        assert_eq!(
            error.task_error::<Refused>(),
            Some(&Refused { code: 70 }),
            "{name}"
        );
        assert_eq!(error.task_error::<String>(), None, "{name}");
    }
    // A panic has a message and no value.
    let panicked = Parallel::new().n_jobs(2).map(explodes_at_three, 0..8);
    assert_eq!(panicked.unwrap_err().task_error::<Bomb>().map(|_| ()), None);
    let from_worker = processes.try_map(fails_at_two, 0..4).unwrap_err();
    assert_eq!(from_worker.task_error::<String>(), Some(&"two".to_owned()));
    assert_eq!(from_worker.task_error::<Refused>(), None);
}

/// A task that never ends, as far as its run can tell: the gate opens when the test ends.
fn stuck_on(gate: &Arc<Gate>, at: u32) -> impl Fn(u32) -> u32 + Send + Sync + 'static {
    let gate = Arc::clone(gate);
    move |i| {
        if i == at {
            gate.pass();
        }
        i
    }
}

#[test]
fn a_timeout_returns_at_the_deadline_on_every_in_process_backend() {
    let gate = Gate::new();
    let timeout = Duration::from_millis(100);
    // The stuck tasks wait on the gate until the test ends: a run that returned did so
    // at its deadline, with its task still stuck behind it.
    within_a_minute({
        let gate = Arc::clone(&gate);
        move || {
            let backends = [
                ("threads", Parallel::new().n_jobs(2).timeout(timeout)),
                (
                    "threads, every core",
                    Parallel::new().n_jobs(-1).timeout(timeout),
                ),
            ];
            for (name, p) in backends {
                for _ in 0..3 {
                    // Three stuck runs in turn: more stuck threads than the pool has.
                    let ran = p.map(stuck_on(&gate, 3), 0..8_u32);
                    assert_eq!(ran, Err(Error::Timeout { index: 3 }), "{name}");
                    let tasks = (0..8_u32).map(|i| {
                        let stuck = stuck_on(&gate, 5);
                        delayed(move || stuck(i))
                    });
                    assert_eq!(p.run(tasks), Err(Error::Timeout { index: 5 }), "{name}");
                }
            }
            let sequential = Parallel::new()
                .backend(Backend::Sequential)
                .timeout(timeout);
            assert_eq!(
                sequential.map(stuck_on(&gate, 1), 0..4_u32),
                Err(Error::Timeout { index: 1 })
            );
            // Later runs of every size, the default included, are not held up.
            for n_jobs in [1, 2, -1] {
                let squares = Parallel::new().n_jobs(n_jobs).map(square, 0..100_u64);
                assert_eq!(squares.map(|s| s[9]), Ok(81), "n_jobs({n_jobs})");
            }
        }
    });
    gate.release();
}

#[test]
fn n_jobs_1_under_a_timeout_still_runs_one_task_at_a_time() {
    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);
    let watched = |x: u64| {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        MOST.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(5));
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        x
    };
    let one = Parallel::new().n_jobs(1).timeout(Duration::from_secs(30));
    let inner = one.clone();
    let outer = Parallel::new()
        .n_jobs(2)
        .run((0..2_u64).map(|_| delayed(|| inner.map(watched, 0..8_u64).map(|v| v.len()))));
    assert_eq!(outer, Ok(vec![Ok(8), Ok(8)]));
    assert_eq!(one.map(watched, 0..8_u64).map(|v| v.len()), Ok(8));
    // Two outer tasks each run an inner n_jobs(1) run: at most one task of each.
    assert!(MOST.load(Ordering::SeqCst) <= 2);
}

#[test]
fn a_scope_timeout_applies_to_runs_that_borrow() {
    let data: Vec<u64> = (0..6).collect();
    let borrowed = |i: usize| {
        if i == 4 {
            std::thread::sleep(Duration::from_millis(800));
        }
        data[i]
    };
    // 250 ms from the deadline either way: a loaded machine cannot blur the two.
    let ran = parmemo_parallel::Config::new()
        .timeout(Duration::from_millis(250))
        .scope(|| Parallel::new().n_jobs(2).map(borrowed, 0..6));
    // Reported at the deadline (with a warning on stderr), returned once the task ended.
    assert_eq!(ran, Err(Error::Timeout { index: 4 }));
    assert_eq!(
        Parallel::new().n_jobs(2).map(borrowed, 0..4),
        Ok(vec![0, 1, 2, 3])
    );
}
