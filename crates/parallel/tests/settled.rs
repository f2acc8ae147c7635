//! Settled runs on every backend: one outcome per item whatever becomes of the others,
//! with a timeout, a panic, an `Err` and (on processes) an aborting worker in one run.
//! Read from the outcomes, not a clock: the hung tasks sleep far longer than any run
//! takes (a run that waited for them would time out the test harness, not pass).

use parmemo_parallel::{delayed, Backend, Config, Error, Parallel};
use std::time::{Duration, Instant};

parmemo_parallel::enable_test_support!();

/// Hangs on 5 (far past any timeout here), panics on 3, refuses 7; doubles everything
/// else.
fn fragile(x: u32) -> Result<u32, String> {
    match x {
        3 => panic!("three is cursed"),
        5 => std::thread::sleep(Duration::from_secs(120)),
        7 => return Err(format!("{x} is refused")),
        _ => {}
    }
    Ok(x * 2)
}

/// [`fragile`], and aborts its process on 9.
fn aborting(x: u32) -> Result<u32, String> {
    if x == 9 {
        std::process::abort();
    }
    fragile(x)
}

/// Every outcome but the named failures is `Ok(2x)`.
fn assert_settled(settled: &[Result<u32, Error>], items: u32, aborted: bool) {
    assert_eq!(settled.len(), items as usize);
    for (index, outcome) in settled.iter().enumerate() {
        match index {
            3 => assert!(
                matches!(outcome, Err(Error::Task { index: 3, message, .. }) if message.contains("three is cursed")),
                "{outcome:?}"
            ),
            5 => assert_eq!(outcome, &Err(Error::Timeout { index: 5 })),
            7 => {
                let error = outcome.as_ref().unwrap_err();
                assert!(matches!(error, Error::Task { index: 7, .. }), "{error:?}");
                assert_eq!(
                    error.task_error::<String>().map(String::as_str),
                    Some("7 is refused")
                );
            }
            9 if aborted => assert!(
                matches!(outcome, Err(Error::WorkerDied { index: 9, .. })),
                "{outcome:?}"
            ),
            _ => assert_eq!(outcome, &Ok(2 * u32::try_from(index).unwrap())),
        }
    }
}

#[test]
fn threads_settle_a_panic_an_error_and_a_timeout() {
    let began = Instant::now();
    let settled = Parallel::new()
        .n_jobs(2)
        .timeout(Duration::from_millis(500))
        .try_map_settled(fragile, 0..40)
        .unwrap();
    assert_settled(&settled, 40, false);
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "the run waited for the hung task"
    );
}

#[test]
fn threads_go_on_when_hung_tasks_hold_every_thread() {
    // Two workers, two tasks that never end in time: the other 38 still run (on fresh
    // threads) and the call returns.
    let hang = |x: u32| {
        if x < 2 {
            std::thread::sleep(Duration::from_secs(120));
        }
        x
    };
    let settled = Parallel::new()
        .n_jobs(2)
        .timeout(Duration::from_millis(300))
        .map_settled(hang, 0..40)
        .unwrap();
    assert_eq!(settled[0], Err(Error::Timeout { index: 0 }));
    assert_eq!(settled[1], Err(Error::Timeout { index: 1 }));
    for (index, outcome) in settled.iter().enumerate().skip(2) {
        assert_eq!(outcome, &Ok(u32::try_from(index).unwrap()));
    }
}

#[test]
fn settled_runs_without_a_timeout_keep_every_result_on_threads_and_sequentially() {
    let tasks = || (0..30_u32).map(|x| delayed(move || if x == 3 { Err("no") } else { Ok(x) }));
    for settled in [
        Parallel::new().n_jobs(2).try_run_settled(tasks()).unwrap(),
        Parallel::new()
            .backend(Backend::Sequential)
            .try_run_settled(tasks())
            .unwrap(),
    ] {
        assert_eq!(settled.len(), 30);
        assert!(matches!(settled[3], Err(Error::Task { index: 3, .. })));
        assert!(settled
            .iter()
            .enumerate()
            .all(|(i, o)| i == 3 || o == &Ok(u32::try_from(i).unwrap())));
    }
    // Borrowing tasks, one panicking in each batch of a fixed size.
    let data: Vec<u32> = (0..100).collect();
    let settled = Parallel::new()
        .n_jobs(2)
        .batch_size(parmemo_parallel::BatchSize::Fixed(10))
        .map_settled(
            |i: usize| {
                assert!(i % 10 != 4, "task {i}");
                data[i]
            },
            0..100,
        )
        .unwrap();
    for (i, outcome) in settled.iter().enumerate() {
        if i % 10 == 4 {
            assert!(matches!(outcome, Err(Error::Task { index, .. }) if *index == i));
        } else {
            assert_eq!(outcome, &Ok(u32::try_from(i).unwrap()));
        }
    }
}

#[test]
fn a_scoped_timeout_on_a_borrowing_run_is_an_outcome_too() {
    let settled = Config::new()
        .timeout(Duration::from_millis(200))
        .scope(|| {
            Parallel::new().n_jobs(2).map_settled(
                |ms: u64| {
                    std::thread::sleep(Duration::from_millis(ms));
                    ms
                },
                [1, 800, 2],
            )
        })
        .unwrap();
    assert_eq!(settled, [Ok(1), Err(Error::Timeout { index: 1 }), Ok(2)]);
}

#[test]
fn processes_settle_a_panic_an_error_a_timeout_and_an_aborting_worker() {
    let began = Instant::now();
    let settled = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .timeout(Duration::from_secs(2))
        .try_map_settled(aborting, 0..40)
        .unwrap();
    assert_settled(&settled, 40, true);
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "the run waited for the hung task"
    );
}

#[test]
fn processes_without_a_timeout_rerun_the_batch_of_a_dead_worker_for_its_other_results() {
    fn abort_on_17(x: u32) -> u32 {
        if x == 17 {
            std::process::abort();
        }
        x + 1
    }
    // Batches of 10: the worker dies in the second, whose other nine still have results.
    let settled = Parallel::new()
        .backend(Backend::Processes)
        .n_jobs(2)
        .batch_size(parmemo_parallel::BatchSize::Fixed(10))
        .map_settled(abort_on_17, 0..40)
        .unwrap();
    for (i, outcome) in settled.iter().enumerate() {
        if i == 17 {
            assert!(
                matches!(outcome, Err(Error::WorkerDied { index: 17, .. })),
                "{outcome:?}"
            );
        } else {
            assert_eq!(outcome, &Ok(u32::try_from(i).unwrap() + 1));
        }
    }
}

#[test]
fn the_configured_backend_settles_on_whatever_the_scope_chose() {
    fn halve(x: u32) -> u32 {
        assert!(x.is_multiple_of(2), "{x} is odd");
        x / 2
    }
    let p = Parallel::new().backend(Backend::Configured).n_jobs(2);
    for backend in ["threads", "processes"] {
        let config = if backend == "threads" {
            Config::new().backend(Backend::Threads)
        } else {
            Config::new().backend(Backend::Processes)
        };
        let settled = config.scope(|| p.map_settled(halve, [2, 3, 8])).unwrap();
        assert_eq!(settled[0], Ok(1), "{backend}");
        assert!(
            matches!(settled[1], Err(Error::Task { index: 1, .. })),
            "{backend}"
        );
        assert_eq!(settled[2], Ok(4), "{backend}");
    }
}

#[test]
fn an_invalid_setting_is_the_outer_error() {
    let run = Parallel::new()
        .timeout(Duration::ZERO)
        .map_settled(|x: u32| x, [1]);
    assert_eq!(run, Err(Error::InvalidTimeout));
}

#[test]
fn a_sequential_settled_run_goes_on_past_a_hung_task() {
    // One task at a time, on one helper thread: the hung first task holds it, and the
    // others run on a fresh one, still one at a time.
    let hang_first = |x: u32| {
        if x == 0 {
            std::thread::sleep(Duration::from_secs(120));
        }
        x * 3
    };
    let settled = Parallel::new()
        .backend(Backend::Sequential)
        .timeout(Duration::from_millis(300))
        .map_settled(hang_first, 0..6)
        .unwrap();
    assert_eq!(settled[0], Err(Error::Timeout { index: 0 }));
    assert_eq!(&settled[1..], &[Ok(3), Ok(6), Ok(9), Ok(12), Ok(15)]);
}
