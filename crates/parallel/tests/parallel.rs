//! What a user of `Parallel` sees, on every in-process backend from one test body.

use parmemo_parallel::{delayed, Backend, BatchSize, Error, InProcess, Parallel};
use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `check` with a sequential and a threaded `Parallel`, so both backends are held
/// to the same behaviour.
fn on_every_backend(check: impl Fn(&str, &dyn Fn() -> Box<dyn Runner>)) {
    check("sequential", &|| {
        Box::new(Parallel::new().backend(Backend::Sequential))
    });
    check("threads", &|| Box::new(Parallel::new().n_jobs(2)));
    check("threads, n_jobs 3, fixed batches", &|| {
        Box::new(Parallel::new().n_jobs(3).batch_size(BatchSize::Fixed(7)))
    });
}

/// The calls the tests make, object-safe so one body covers every backend type.
trait Runner {
    fn squares(&self, n: u64) -> Result<Vec<u64>, Error>;
    fn run_squares(&self, n: u64) -> Result<Vec<u64>, Error>;
    fn failing_at(&self, n: usize, bad: usize) -> Result<Vec<usize>, Error>;
    fn panicking_at(&self, n: usize, bad: usize) -> Result<Vec<usize>, Error>;
    fn streamed(&self, n: u64) -> Result<Vec<u64>, Error>;
    fn unordered(&self, n: u64) -> Result<Vec<(usize, u64)>, Error>;
}

impl<B: InProcess> Runner for Parallel<B> {
    fn squares(&self, n: u64) -> Result<Vec<u64>, Error> {
        self.map(|x: u64| x * x, 0..n)
    }
    fn run_squares(&self, n: u64) -> Result<Vec<u64>, Error> {
        let inputs: Vec<u64> = (0..n).collect();
        self.run(inputs.iter().map(|x| delayed(move || x * x)))
    }
    fn failing_at(&self, n: usize, bad: usize) -> Result<Vec<usize>, Error> {
        self.try_map(
            |x: usize| {
                if x == bad {
                    Err(format!("no {x}"))
                } else {
                    Ok(x)
                }
            },
            0..n,
        )
    }
    fn panicking_at(&self, n: usize, bad: usize) -> Result<Vec<usize>, Error> {
        self.run((0..n).map(|x| {
            delayed(move || {
                assert!(x != bad, "task {x} is bad");
                x
            })
        }))
    }
    fn streamed(&self, n: u64) -> Result<Vec<u64>, Error> {
        self.run_iter((0..n).map(|x| delayed(move || x + 1)))?
            .collect()
    }
    fn unordered(&self, n: u64) -> Result<Vec<(usize, u64)>, Error> {
        self.run_unordered((0..n).map(|x| delayed(move || x * 3)))?
            .collect()
    }
}

#[test]
fn results_are_in_input_order() {
    on_every_backend(|name, parallel| {
        let p = parallel();
        let expected: Vec<u64> = (0..20_000_u64).map(|x| x * x).collect();
        assert_eq!(p.squares(20_000).as_ref(), Ok(&expected), "{name}: map");
        assert_eq!(p.run_squares(20_000).as_ref(), Ok(&expected), "{name}: run");
        let plus_one: Vec<u64> = (1..=5_000).collect();
        assert_eq!(p.streamed(5_000), Ok(plus_one), "{name}: run_iter");
    });
}

#[test]
fn unordered_results_cover_every_index_once() {
    on_every_backend(|name, parallel| {
        let mut pairs = parallel().unordered(3_000).unwrap();
        pairs.sort_unstable();
        let expected: Vec<(usize, u64)> = (0..3_000).map(|i| (i, i as u64 * 3)).collect();
        assert_eq!(pairs, expected, "{name}");
    });
}

#[test]
fn empty_input_gives_empty_output() {
    on_every_backend(|name, parallel| {
        assert_eq!(parallel().squares(0), Ok(vec![]), "{name}");
        assert_eq!(parallel().streamed(0), Ok(vec![]), "{name}");
    });
}

#[test]
fn errors_name_the_failing_task() {
    on_every_backend(|name, parallel| {
        let p = parallel();
        assert_eq!(
            p.failing_at(1_000, 137),
            Err(Error::task(137, "no 137")),
            "{name}"
        );
        match p.panicking_at(500, 321) {
            Err(Error::Task { index, message, .. }) => {
                assert_eq!(index, 321, "{name}");
                assert!(message.contains("task 321 is bad"), "{name}: {message}");
            }
            other => panic!("{name}: expected a task error, got {other:?}"),
        }
    });
}

#[test]
fn a_pool_survives_a_failed_run() {
    let p = Parallel::new().n_jobs(2);
    assert!(p.failing_at(100, 5).is_err());
    assert_eq!(p.squares(4), Ok(vec![0, 1, 4, 9]));
}

#[test]
fn a_failing_first_task_cancels_the_slow_rest() {
    {
        let p = Parallel::new().n_jobs(2);
        let started = AtomicUsize::new(0);
        let failed = p.try_map(
            |i: usize| {
                started.fetch_add(1, Ordering::SeqCst);
                if i == 0 {
                    return Err("first task fails");
                }
                std::thread::sleep(Duration::from_millis(5));
                Ok(i)
            },
            0..10_000,
        );
        assert_eq!(failed, Err(Error::task(0, "first task fails")));
        // Only the batches in flight when the failure was seen may have started.
        let started = started.load(Ordering::SeqCst);
        assert!(
            started < 100,
            "{started} of 10 000 tasks started after the failure"
        );
    }
}

#[test]
fn a_sequential_failure_stops_at_once() {
    let started = AtomicUsize::new(0);
    let failed = Parallel::new().backend(Backend::Sequential).try_map(
        |i: usize| {
            started.fetch_add(1, Ordering::SeqCst);
            if i == 3 {
                Err("stop")
            } else {
                Ok(i)
            }
        },
        0..10_000,
    );
    assert!(matches!(failed, Err(Error::Task { index: 3, .. })));
    assert_eq!(started.load(Ordering::SeqCst), 4);
}

#[test]
fn n_jobs_follows_joblib() {
    let cores = parmemo_parallel::available_cores();
    assert_eq!(Parallel::new().n_jobs(-1).effective_n_jobs(), Ok(cores));
    assert_eq!(
        Parallel::new().n_jobs(-2).effective_n_jobs(),
        Ok((cores - 1).max(1))
    );
    assert_eq!(Parallel::new().n_jobs(-1000).effective_n_jobs(), Ok(1));
    assert_eq!(Parallel::new().n_jobs(5).effective_n_jobs(), Ok(5));
    let zero = Parallel::new().n_jobs(0);
    assert_eq!(
        zero.effective_n_jobs(),
        Err(Error::InvalidNJobs { n_jobs: 0 })
    );
    assert_eq!(zero.squares(3), Err(Error::InvalidNJobs { n_jobs: 0 }));
    assert!(zero.run_iter((0..3).map(|x| delayed(move || x))).is_err());
    assert_eq!(
        Parallel::new()
            .backend(Backend::Sequential)
            .n_jobs(8)
            .effective_n_jobs(),
        Ok(1)
    );
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned()
}

#[test]
fn n_jobs_bounds_the_threads_used() {
    let names: HashSet<String> = Parallel::new()
        .n_jobs(3)
        .batch_size(BatchSize::Fixed(1))
        .map(
            |_: u32| {
                std::thread::sleep(Duration::from_millis(1));
                thread_name()
            },
            0..60,
        )
        .unwrap()
        .into_iter()
        .collect();
    assert!(names.len() <= 3, "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("parmemo-3-")),
        "{names:?}"
    );
}

#[test]
fn nested_runs_share_the_outer_pool() {
    let outer = Parallel::new().n_jobs(2).batch_size(BatchSize::Fixed(1));
    let inner_threads = outer
        .map(
            |task: u32| {
                let inner = Parallel::new().n_jobs(4).batch_size(BatchSize::Fixed(1));
                assert_eq!(inner.effective_n_jobs(), Ok(2), "the outer pool's size");
                inner
                    .map(
                        |x: u32| {
                            std::thread::sleep(Duration::from_millis(1));
                            (x + task, thread_name())
                        },
                        0..20,
                    )
                    .unwrap()
            },
            0..6,
        )
        .unwrap();
    let names: HashSet<&str> = inner_threads
        .iter()
        .flatten()
        .map(|(_, name)| name.as_str())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("parmemo-2-")),
        "inner tasks left the outer pool: {names:?}"
    );
    assert!(names.len() <= 2, "{names:?}");
    for (task, results) in (0_u32..).zip(&inner_threads) {
        let values: Vec<u32> = results.iter().map(|(v, _)| *v).collect();
        let expected: Vec<u32> = (0..20).map(|x| x + task).collect();
        assert_eq!(values, expected);
    }
}

#[test]
fn input_is_pulled_lazily() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let tasks = (0..10_000_000_u64).map(move |x| {
        counter.fetch_add(1, Ordering::SeqCst);
        delayed(move || x * 2)
    });
    let first: Vec<u64> = Parallel::new()
        .n_jobs(2)
        .run_iter(tasks)
        .unwrap()
        .take(10)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(first, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    let pulled = pulled.load(Ordering::SeqCst);
    assert!(
        pulled < 100_000,
        "{pulled} of 10^7 tasks were pulled for 10 results"
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn verbose_lines_look_like_joblib() {
    let log = Captured::default();
    Parallel::new()
        .n_jobs(2)
        .verbose(1)
        .batch_size(BatchSize::Fixed(5))
        .log_to(log.clone())
        .map(|x: u32| x + 1, 0..40)
        .unwrap();
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "{text}");
    // joblib's lines: the count out of the known total, elapsed and remaining time.
    for line in &lines[..lines.len() - 1] {
        let rest = line
            .strip_prefix("[Parallel(n_jobs=2)]: Done ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        let (count, times) = rest.split_once(" out of  40 | elapsed: ").unwrap();
        assert!(count.trim().parse::<usize>().is_ok(), "{line}");
        let (elapsed, remaining) = times.split_once(" remaining: ").unwrap();
        assert!(elapsed.ends_with('s') && remaining.ends_with('s'), "{line}");
    }
    let last = lines[lines.len() - 1];
    assert!(
        last.starts_with("[Parallel(n_jobs=2)]: Done  40 out of  40 | elapsed: ")
            && last.ends_with(" finished"),
        "{last}"
    );
}

#[test]
fn timeouts_name_the_slow_task() {
    // Margins of 250 ms and more either side of each deadline, so that a loaded 2-core
    // machine that delays a thread for a while cannot turn a quick task into a slow one.
    let slow = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    {
        let p = Parallel::new()
            .n_jobs(2)
            .timeout(Duration::from_millis(250));
        assert_eq!(
            p.map(slow, [0, 0, 1_000, 0]),
            Err(Error::Timeout { index: 2 })
        );
        let streamed: Vec<_> = p
            .run_iter([0, 1_000, 0].map(|ms| delayed(move || slow(ms))))
            .unwrap()
            .collect();
        assert_eq!(streamed.last(), Some(&Err(Error::Timeout { index: 1 })));
        assert_eq!(p.map(slow, [1, 2, 3]), Ok(vec![(), (), ()]));
    }
    let sequential = Parallel::new()
        .backend(Backend::Sequential)
        .timeout(Duration::from_millis(250));
    assert_eq!(
        sequential.map(slow, [0, 600, 0]),
        Err(Error::Timeout { index: 1 })
    );
}

#[test]
fn dropping_a_stream_cancels_the_rest() {
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let mut stream = Parallel::new()
        .n_jobs(2)
        .batch_size(BatchSize::Fixed(1))
        .run_iter((0..1_000).map(move |x: u32| {
            let counter = Arc::clone(&counter);
            delayed(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                x
            })
        }))
        .unwrap();
    assert_eq!(stream.next(), Some(Ok(0)));
    drop(stream);
    std::thread::sleep(Duration::from_millis(50));
    let ran = ran.load(Ordering::SeqCst);
    assert!(
        ran < 50,
        "{ran} of 1 000 tasks ran after the stream was dropped"
    );
}

#[test]
fn tasks_may_borrow_from_the_caller() {
    let samples: Vec<Vec<f64>> = (1..=50).map(|n| (0..n).map(f64::from).collect()).collect();
    let means = Parallel::new()
        .run(
            samples
                .iter()
                .map(|s| delayed(move || s.iter().sum::<f64>() / s.len() as f64)),
        )
        .unwrap();
    let expected: Vec<f64> = (1..=50).map(|n| f64::from(n - 1) / 2.0).collect();
    assert_eq!(means, expected);
}

#[cfg(feature = "progress")]
#[test]
fn a_progress_bar_alone_reports_progress() {
    // No `verbose`: asking for the bar is enough. Outside a terminal (here, a writer),
    // the bar is joblib's lines.
    let log = Captured::default();
    Parallel::new()
        .n_jobs(2)
        .progress_bar()
        .log_to(log.clone())
        .map(|x: u32| x + 1, 0..40)
        .unwrap();
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("Done  40 out of  40"), "{text}");
}
