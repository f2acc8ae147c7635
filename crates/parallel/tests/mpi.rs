//! `Backend::Mpi`, end to end. Under `cargo test --features mpi` it runs as one process
//! (tasks on local threads); CI also runs this binary under
//! `mpirun --oversubscribe -n 3`, where ranks 1 and 2 serve and rank 0 runs the checks.
//! With the argument `crash`, a task aborts its rank: the job must end, not hang. With
//! `mismatch`, rank 1 runs another executable: every run must be refused.
//!
//! A harness of its own, because every rank runs `main`: `init()` must come first, before
//! any test harness starts threads.

use parmemo_parallel::{Backend, BatchSize, Error, Parallel};
use parmemo_shared::Shared;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Set at build time by `.ci/mpi` to make two builds that differ in this one constant
/// (and so have the same size and layout): ranks of two such builds must not work
/// together.
const BUILD_TAG: Option<&str> = option_env!("PARMEMO_TEST_BUILD_TAG");

/// A named check: `Err` says what went wrong.
type Check = (&'static str, fn() -> Result<(), String>);

fn main() {
    parmemo_parallel::init();
    if std::env::args().any(|argument| argument == "mismatch") {
        // Launched as `mpirun -n 1 THIS mismatch : -n 1 OTHER_BINARY`: rank 1 runs another
        // executable, so no task may go to it.
        match Parallel::new().backend(Backend::Mpi).map(square, 0..10u64) {
            Err(Error::WorkerStart { message }) if message.contains("different executable") => {
                println!(
                    "build {}: refused as expected: {message}",
                    BUILD_TAG.unwrap_or("untagged")
                );
                return;
            }
            other => {
                eprintln!("expected the run to be refused, got {other:?}");
                std::process::exit(1);
            }
        }
    }
    if std::env::args().any(|argument| argument == "crash") {
        let outcome = Parallel::new()
            .backend(Backend::Mpi)
            .batch_size(BatchSize::Fixed(1))
            .map(abort_at_five, 0..20u32);
        // Under mpirun the job ends inside `map`; alone, the abort ends this process.
        eprintln!("the crash run returned: {outcome:?}");
        std::process::exit(0);
    }
    let checks: [Check; 15] = [
        (
            "results_come_back_in_input_order",
            results_come_back_in_input_order,
        ),
        ("streams_yield_every_result", streams_yield_every_result),
        ("as_completed_means_per_task", as_completed_means_per_task),
        (
            "a_panic_names_its_task_and_the_rank_serves_on",
            a_panic_names_its_task_and_the_rank_serves_on,
        ),
        (
            "an_error_names_its_task",
            an_error_names_its_task_and_comes_back_as_itself,
        ),
        ("a_large_argument_round_trips", a_large_argument_round_trips),
        (
            "a_shared_array_serves_every_task_of_a_rank",
            a_shared_array_serves_every_task_of_a_rank,
        ),
        (
            "a_dropped_shared_array_is_never_confused_with_a_new_one",
            a_dropped_shared_array_is_never_confused_with_a_new_one,
        ),
        ("ten_thousand_tiny_tasks", ten_thousand_tiny_tasks),
        ("tasks_run_where_they_should", tasks_run_where_they_should),
        ("a_timeout_names_its_task", a_timeout_names_its_task),
        (
            "ranks_held_by_overrun_work_count_against_the_timeout",
            ranks_held_by_overrun_work_count_against_the_timeout,
        ),
        (
            "settled_outcomes_keep_every_other_result",
            settled_outcomes_keep_every_other_result,
        ),
        ("a_context_reaches_every_rank", a_context_reaches_every_rank),
        (
            "vectors_inside_tuples_cross_whole",
            vectors_inside_tuples_cross_whole,
        ),
    ];
    let mut failed = 0;
    println!("running {} MPI checks on {}", checks.len(), mode());
    for (name, check) in checks {
        match check() {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                failed += 1;
                println!("test {name} ... FAILED\n    {why}");
            }
        }
    }
    println!(
        "test result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        checks.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

/// The number of ranks the launcher started, if any.
fn ranks() -> Option<usize> {
    std::env::var("OMPI_COMM_WORLD_SIZE")
        .or_else(|_| std::env::var("PMI_SIZE"))
        .ok()
        .and_then(|size| size.parse().ok())
}

fn mode() -> String {
    match ranks() {
        Some(ranks) if ranks > 1 => format!("{ranks} ranks"),
        _ => "one process (no launcher)".to_owned(),
    }
}

fn expect(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn square(x: u64) -> u64 {
    x * x
}

fn results_come_back_in_input_order() -> Result<(), String> {
    let squares = Parallel::new()
        .backend(Backend::Mpi)
        .map(square, 0..5_000u64)
        .map_err(|err| err.to_string())?;
    let expected: Vec<u64> = (0..5_000).map(square).collect();
    expect(squares == expected, || {
        "map's results are not the squares in order".to_owned()
    })
}

fn streams_yield_every_result() -> Result<(), String> {
    let p = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(7));
    let ordered: Result<Vec<u64>, Error> = p
        .run_iter(square, 0..300u64)
        .map_err(|err| err.to_string())?
        .collect();
    let expected: Vec<u64> = (0..300).map(square).collect();
    expect(ordered.as_ref() == Ok(&expected), || {
        format!("run_iter gave {:?}", ordered.as_ref().map(Vec::len))
    })?;
    let mut seen: Vec<(usize, u64)> = p
        .run_unordered(square, 0..300u64)
        .map_err(|err| err.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|err| err.to_string())?;
    seen.sort_unstable();
    let expected: Vec<(usize, u64)> = (0..300usize).map(|i| (i, (i * i) as u64)).collect();
    expect(seen == expected, || {
        "run_unordered missed or repeated results".to_owned()
    })
}

/// Task 5 waits until the file `release` exists: stuck, until the check says otherwise.
#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn stuck_at_5_until((i, release): (u32, String)) -> u32 {
    if i == 5 {
        while !std::path::Path::new(&release).exists() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    i
}

fn as_completed_means_per_task() -> Result<(), String> {
    // A new directory, not one named by the process id: a killed run leaves that
    // behind, with the marker that would release task 5 at once.
    let dir = tempfile::Builder::new()
        .prefix("pm-mpi-unordered")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .map_err(|err| err.to_string())?;
    let release = dir.path().join("release").display().to_string();
    let tasks: Vec<(u32, String)> = (0..10).map(|i| (i, release.clone())).collect();
    // Batched by four, without an exact length: task 5 is stuck in 4..8 on one rank,
    // and the others of its batch (each a job of its own) go to the other rank.
    let mut done = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(4))
        .run_unordered(stuck_at_5_until, tasks.into_iter().filter(|_| true))
        .map_err(|err| err.to_string())?;
    let first: Result<Vec<(usize, u32)>, Error> = done.by_ref().take(9).collect();
    std::fs::write(&release, b"").map_err(|err| err.to_string())?;
    let rest: Result<Vec<(usize, u32)>, Error> = done.collect();
    drop(dir);
    let mut first: Vec<usize> = first
        .map_err(|err| err.to_string())?
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    first.sort_unstable();
    let rest = rest.map_err(|err| err.to_string())?;
    expect(
        first == [0, 1, 2, 3, 4, 6, 7, 8, 9] && rest.len() == 1,
        || format!("the first nine results were {first:?}, then {rest:?}"),
    )
}

fn panic_at_77(x: u32) -> u32 {
    assert!(x != 77, "boom at {x}");
    x
}

fn a_panic_names_its_task_and_the_rank_serves_on() -> Result<(), String> {
    let p = Parallel::new().backend(Backend::Mpi);
    match p.map(panic_at_77, 0..200u32) {
        Err(Error::Task {
            index: 77, message, ..
        }) if message.contains("boom at 77") => {}
        other => {
            return Err(format!(
                "expected task 77 to fail with its panic, got {other:?}"
            ))
        }
    }
    let again = p
        .map(panic_at_77, 0..50u32)
        .map_err(|err| err.to_string())?;
    expect(again.len() == 50, || {
        "the ranks did not serve after a panic".to_owned()
    })
}

fn odd_is_an_error(x: u32) -> Result<u32, String> {
    if x == 33 {
        Err(format!("{x} is not welcome"))
    } else {
        Ok(x)
    }
}

fn an_error_names_its_task_and_comes_back_as_itself() -> Result<(), String> {
    match Parallel::new()
        .backend(Backend::Mpi)
        .try_map(odd_is_an_error, 0..100u32)
    {
        Err(error @ Error::Task { index: 33, .. })
            if error == Error::task(33, "33 is not welcome") =>
        {
            expect(
                error.task_error::<String>() == Some(&"33 is not welcome".to_owned()),
                || "the rank's error value did not come back".to_owned(),
            )
        }
        other => Err(format!("expected task 33's error, got {other:?}")),
    }
}

// Task arguments arrive owned: they are deserialized where the task runs.
#[allow(clippy::needless_pass_by_value)]
fn checksum(values: Vec<f64>) -> (usize, f64) {
    (values.len(), values.iter().sum())
}

fn a_large_argument_round_trips() -> Result<(), String> {
    // 8 M values = 64 MB in one argument, and a few more beside it.
    let big: Vec<f64> = (0..8_000_000).map(f64::from).collect();
    let expected_sum: f64 = big.iter().sum();
    let inputs = vec![big, vec![1.0; 10], Vec::new()];
    let sums = Parallel::new()
        .backend(Backend::Mpi)
        .map(checksum, inputs)
        .map_err(|err| err.to_string())?;
    expect(
        sums == [(8_000_000, expected_sum), (10, 10.0), (0, 0.0)],
        || format!("got {sums:?}"),
    )
}

// As `checksum`, for an array that each rank receives once and keeps.
#[allow(clippy::needless_pass_by_value)]
fn shared_checksum((values, scale): (Shared<[f64]>, f64)) -> (usize, f64) {
    (values.len(), values.iter().sum::<f64>() * scale)
}

fn a_shared_array_serves_every_task_of_a_rank() -> Result<(), String> {
    // 16 MB, named by 40 one-task batches: each rank gets its bytes with its first task
    // and the later ones by id; every task must still see the whole array.
    let array: Shared<[f64]> = Shared::from((0..2_000_000).map(f64::from).collect::<Vec<_>>());
    let expected: f64 = array.iter().sum();
    let inputs: Vec<(Shared<[f64]>, f64)> =
        (0..40).map(|i| (array.clone(), f64::from(i))).collect();
    let sums = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1))
        .map(shared_checksum, inputs)
        .map_err(|err| err.to_string())?;
    let wanted: Vec<(usize, f64)> = (0..40)
        .map(|i| (2_000_000, expected * f64::from(i)))
        .collect();
    expect(sums == wanted, || format!("got {:?}", &sums[..3]))
}

fn a_dropped_shared_array_is_never_confused_with_a_new_one() -> Result<(), String> {
    // Ranks keep an array by an id tied to its address on rank 0; once the program drops
    // it, a new array may take the same address, and must not be answered from the old.
    for round in 1..=6_u32 {
        let array: Shared<[f64]> = Shared::from(vec![f64::from(round); 1 << 16]);
        let inputs = vec![(array.clone(), 1.0); 6];
        drop(array);
        let sums = Parallel::new()
            .backend(Backend::Mpi)
            .batch_size(BatchSize::Fixed(1))
            .map(shared_checksum, inputs)
            .map_err(|err| err.to_string())?;
        let expected = f64::from(round) * f64::from(1_u32 << 16);
        expect(
            sums.iter()
                .all(|&(len, sum)| len == 1 << 16 && sum == expected),
            || format!("round {round}: got {sums:?}"),
        )?;
    }
    Ok(())
}

fn add_one(x: u32) -> u32 {
    x + 1
}

fn ten_thousand_tiny_tasks() -> Result<(), String> {
    let results = Parallel::new()
        .backend(Backend::Mpi)
        .map(add_one, 0..10_000u32)
        .map_err(|err| err.to_string())?;
    expect(results.iter().copied().eq(1..=10_000), || {
        "the tiny tasks' results are wrong".to_owned()
    })
}

fn pid_after_a_nap(_: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(20));
    std::process::id()
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tasks_run_where_they_should() -> Result<(), String> {
    let log = Log::default();
    let pids = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1))
        .verbose(1)
        .log_to(log.clone())
        .map(pid_after_a_nap, 0..40u32)
        .map_err(|err| err.to_string())?;
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let text = String::from_utf8_lossy(&log.0.lock().map_err(|_| "poisoned")?).into_owned();
    let me = std::process::id();
    match ranks() {
        Some(ranks) if ranks > 1 => {
            expect(!distinct.contains(&me), || {
                "a task ran on rank 0".to_owned()
            })?;
            expect(distinct.len() == ranks - 1, || {
                format!(
                    "tasks ran in {} processes, not on all {} serving ranks",
                    distinct.len(),
                    ranks - 1
                )
            })?;
            expect(
                text.contains(&format!("drives {} serving ranks", ranks - 1)),
                || format!("the log does not name the serving ranks: {text:?}"),
            )
        }
        _ => {
            expect(distinct == [me], || {
                "locally, tasks must run in this process".to_owned()
            })?;
            // Said once per process: only if this is the first local run to log.
            expect(text.contains("running tasks locally"), || {
                format!("the log does not say the tasks run locally: {text:?}")
            })
        }
    }
}

fn oversleep(x: u32) -> u32 {
    if x == 3 {
        std::thread::sleep(Duration::from_millis(800));
    }
    x
}

fn a_timeout_names_its_task() -> Result<(), String> {
    match Parallel::new()
        .backend(Backend::Mpi)
        .timeout(Duration::from_millis(250))
        .map(oversleep, 0..6u32)
    {
        // On ranks the error names the rank and its host; on local threads (no
        // launcher) it is the threads' own.
        Err(Error::RankTimeout {
            index: 3,
            rank: Some(_),
            host: Some(_),
        }) if ranks().is_some_and(|ranks| ranks > 1) => Ok(()),
        Err(Error::Timeout { index: 3 }) if ranks().is_none_or(|ranks| ranks <= 1) => Ok(()),
        other => Err(format!("expected task 3 to time out, got {other:?}")),
    }
}

fn sleeps_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn ranks_held_by_overrun_work_count_against_the_timeout() -> Result<(), String> {
    let p = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1));
    let servers = p.effective_n_jobs().map_err(|err| err.to_string())?;
    // The check before this one left a rank on a task that overran by 550 ms: let it end.
    std::thread::sleep(Duration::from_secs(1));
    // Every serving rank left on a task past its timeout (a rank cannot be stopped).
    let first = p
        .clone()
        .timeout(Duration::from_millis(200))
        .map(sleeps_ms, vec![2_000; servers]);
    expect(
        first.as_ref().is_err_and(|err| err.timed_out().is_some()),
        || format!("expected the long tasks to time out, got {first:?}"),
    )?;
    // A run while they are still held: its task cannot start, and the wait counts
    // against its own deadline instead of lasting until a rank frees up.
    let second = p.timeout(Duration::from_millis(300)).map(sleeps_ms, [0]);
    if ranks().is_some_and(|ranks| ranks > 1) {
        let waited = matches!(
            second,
            Err(Error::RankTimeout {
                index: 0,
                rank: None,
                ..
            })
        );
        expect(waited, || {
            format!("expected the stalled task to time out, got {second:?}")
        })?;
        // The ranks come back once their work ends.
        std::thread::sleep(Duration::from_secs(2));
    } else {
        // One process: local threads, where the first run waited for its tasks.
        expect(second == Ok(vec![0]), || format!("got {second:?}"))?;
    }
    Ok(())
}

/// Panics on 3, oversleeps on 5, refuses 7.
fn fragile(x: u32) -> Result<u32, String> {
    match x {
        3 => panic!("three is cursed"),
        5 => std::thread::sleep(Duration::from_millis(1200)),
        7 => return Err("seven is refused".to_owned()),
        _ => {}
    }
    Ok(x * 2)
}

fn settled_outcomes_keep_every_other_result() -> Result<(), String> {
    let settled = Parallel::new()
        .backend(Backend::Mpi)
        .timeout(Duration::from_millis(400))
        .try_map_settled(fragile, 0..20u32)
        .map_err(|err| err.to_string())?;
    for (index, outcome) in settled.iter().enumerate() {
        let fine = match index {
            3 => {
                matches!(outcome, Err(Error::Task { index: 3, message, .. }) if message.contains("cursed"))
            }
            5 => outcome
                .as_ref()
                .is_err_and(|err| err.timed_out() == Some(5)),
            7 => outcome.as_ref().is_err_and(|err| {
                err.task_error::<String>()
                    .is_some_and(|e| e == "seven is refused")
            }),
            _ => outcome == &Ok(2 * u32::try_from(index).unwrap_or(0)),
        };
        expect(fine, || format!("task {index}: {outcome:?}"))?;
    }
    // The rank held by task 5 ends it before the job does.
    std::thread::sleep(Duration::from_secs(1));
    Ok(())
}

#[allow(clippy::ptr_arg)] // the context's own type, as map_with hands it over
fn weighted(weights: &Vec<f64>, row: u32) -> f64 {
    weights.iter().sum::<f64>() * f64::from(row)
}

fn a_context_reaches_every_rank() -> Result<(), String> {
    let weights = vec![0.5; 1_000_000];
    let sums = Parallel::new()
        .backend(Backend::Mpi)
        .map_with(weighted, weights, 0..64u32)
        .map_err(|err| err.to_string())?;
    expect(
        sums.iter()
            .enumerate()
            .all(|(row, sum)| *sum == 500_000.0 * row as f64),
        || format!("wrong sums: {:?}", &sums[..4]),
    )
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn halves((values, counts): (Vec<f64>, Option<Vec<u32>>)) -> (Vec<f64>, usize) {
    (
        values.iter().map(|x| x / 2.0).collect(),
        counts.map_or(0, |c| c.len()),
    )
}

fn vectors_inside_tuples_cross_whole() -> Result<(), String> {
    let items: Vec<(Vec<f64>, Option<Vec<u32>>)> = (0..4_u32)
        .map(|k| (vec![f64::from(k); 1 << 20], Some(vec![k; 100_000])))
        .collect();
    let results = Parallel::new()
        .backend(Backend::Mpi)
        .map(halves, items)
        .map_err(|err| err.to_string())?;
    for (k, (values, counts)) in (0..4_u32).zip(&results) {
        expect(
            values.len() == 1 << 20 && values.iter().all(|x| *x == f64::from(k) / 2.0),
            || format!("task {k}: wrong values"),
        )?;
        expect(*counts == 100_000, || format!("task {k}: {counts} counts"))?;
    }
    Ok(())
}

fn abort_at_five(x: u32) -> u32 {
    if x == 5 {
        std::process::abort();
    }
    std::thread::sleep(Duration::from_millis(10));
    x
}
