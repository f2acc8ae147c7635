//! `Backend::Mpi` across hosts: run by `.ci/cluster` under `mpirun` on three test hosts
//! (network namespaces joined by a bridge, Open MPI over TCP), rank 0 on the first. Each
//! mode is one job:
//!
//! - `checks`: the tasks reach every serving host; the tutorial's job; tiny tasks (the
//!   cost per task over TCP is printed); a `Shared` array read on other hosts; a typed
//!   error; a timeout that names the rank and its host.
//! - `resume <cache dir>`: 120 tasks of a `#[cache]` function on a directory every host
//!   sees; prints `started`, then `hits H misses M` at the end. The script kills a host
//!   mid-run, then runs it again: only what the lost run did not finish is computed.
//! - `cut`: slow tasks under a 3 s timeout; prints `started`; the script takes a host
//!   off the network; the error names the rank and host, within 10 s.
//!
//! Without a launcher (`cargo test`), `checks` runs on local threads, as `tests/mpi.rs`.

use parmemo::memory::{last_call, CallOutcome, Memory};
use parmemo::parallel::{Backend, BatchSize, Error, Parallel};
use parmemo::stats::walsh_median;
use parmemo::Shared;
use std::io::Write;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The cache of `resume`: a directory every host sees (given by the script).
static MEMORY: LazyLock<Memory> = LazyLock::new(|| {
    Memory::new(
        std::env::var_os("PARMEMO_CLUSTER_CACHE").unwrap_or_else(|| "target/cluster-cache".into()),
    )
});

/// The host this process runs on: its UTS name (each test host sets its own).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

fn host_of_task(_: u32) -> String {
    std::thread::sleep(Duration::from_millis(5));
    host()
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn walsh_owned(sample: Vec<f32>) -> Result<f32, String> {
    walsh_median(&sample).map_err(|err| err.to_string())
}

fn add_one(x: u64) -> u64 {
    x + 1
}

#[allow(clippy::needless_pass_by_value)] // task arguments arrive owned
fn shared_sum((values, scale): (Shared<[f64]>, f64)) -> (String, f64) {
    (host(), values.iter().sum::<f64>() * scale)
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Rejected {
    sample: u32,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sample {} failed quality control", self.sample)
    }
}

fn check(sample: u32) -> Result<u32, Rejected> {
    if sample == 7 {
        Err(Rejected { sample })
    } else {
        Ok(sample)
    }
}

fn sleeps_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A task of `resume`: slow enough that a host is lost while some run.
#[parmemo::cache(MEMORY)]
fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(100));
    x * x
}

/// `slow_square` in a task, with whether its call was a hit.
fn square_and_outcome(x: u64) -> (u64, bool) {
    let square = slow_square(x);
    (square, last_call() == Some(CallOutcome::Hit))
}

fn ranks() -> usize {
    Parallel::new()
        .backend(Backend::Mpi)
        .effective_n_jobs()
        .unwrap_or(1)
}

/// Whether a launcher started this process (else `Backend::Mpi` runs on local threads).
fn under_launcher() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]
        .iter()
        .any(|name| std::env::var_os(name).is_some())
}

fn expect(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

fn tasks_reach_every_serving_host() -> Result<(), String> {
    let hosts = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1))
        .map(host_of_task, 0..100)
        .map_err(|err| err.to_string())?;
    let mut seen: Vec<String> = hosts;
    seen.sort();
    seen.dedup();
    say(&format!("  tasks ran on {seen:?}"));
    let expected: Vec<String> = std::env::var("PARMEMO_CLUSTER_SERVERS").map_or_else(
        |_| vec![host()],
        |hosts| hosts.split(',').map(str::to_owned).collect(),
    );
    expect(seen == expected, || {
        format!("expected tasks on {expected:?}")
    })
}

fn the_tutorial_job_and_tiny_tasks() -> Result<(), String> {
    let samples: Vec<Vec<f32>> = (0..100_u32)
        .map(|s| {
            (0..10_000_u32)
                .map(|i| ((i * 7919 + s * 104_729) % 10_007) as f32)
                .collect()
        })
        .collect();
    let p = Parallel::new().backend(Backend::Mpi);
    let started = Instant::now();
    let medians = p
        .try_map(walsh_owned, samples.clone())
        .map_err(|err| err.to_string())?;
    let job = started.elapsed();
    let local: Vec<f32> = samples
        .iter()
        .map(|sample| walsh_median(sample).map_err(|err| err.to_string()))
        .collect::<Result<_, _>>()?;
    expect(medians == local, || {
        "the ranks' medians differ from a local loop".to_owned()
    })?;
    let tasks = 10_000_u64;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let sums = p.map(add_one, 0..tasks).map_err(|err| err.to_string())?;
        best = best.min(started.elapsed());
        expect(sums.iter().copied().eq(1..=tasks), || {
            "wrong sums".to_owned()
        })?;
    }
    say(&format!(
        "  the tutorial's job (100 x 10 000 f32): {:.1} ms; 10 000 tiny tasks: {:.2} us per task",
        job.as_secs_f64() * 1e3,
        best.as_secs_f64() * 1e6 / tasks as f64
    ));
    Ok(())
}

fn a_shared_array_is_read_on_other_hosts() -> Result<(), String> {
    let values: Shared<[f64]> = Shared::from(vec![0.5; 1 << 20]);
    let sums = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1))
        .map(shared_sum, (0..16).map(|k| (values.clone(), f64::from(k))))
        .map_err(|err| err.to_string())?;
    for (k, (_, sum)) in sums.iter().enumerate() {
        expect(*sum == 524_288.0 * k as f64, || {
            format!("task {k}: sum {sum}")
        })?;
    }
    let mut hosts: Vec<&String> = sums.iter().map(|(host, _)| host).collect();
    hosts.sort();
    hosts.dedup();
    say(&format!("  the array was read on {hosts:?}"));
    Ok(())
}

fn a_typed_error_comes_back_as_itself() -> Result<(), String> {
    let run = Parallel::new().backend(Backend::Mpi).try_map(check, 0..20);
    let error = run.err().ok_or("expected task 7 to fail")?;
    expect(
        error.task_error::<Rejected>() == Some(&Rejected { sample: 7 }),
        || format!("got {error}"),
    )
}

fn a_timeout_names_the_rank_and_its_host() -> Result<(), String> {
    let run = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1))
        .timeout(Duration::from_millis(300))
        .map(sleeps_ms, [0, 0, 1200, 0]);
    let error = run.err().ok_or("expected task 2 to time out")?;
    say(&format!("  {error}"));
    expect(error.timed_out() == Some(2), || format!("got {error}"))?;
    if under_launcher() {
        let named = matches!(&error, Error::RankTimeout { rank: Some(_), host: Some(host), .. } if error.to_string().contains(host.as_str()));
        expect(named, || {
            format!("the error does not name a rank and host: {error}")
        })?;
        // The rank ends the task before the job does.
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

fn checks() -> i32 {
    type Check = (&'static str, fn() -> Result<(), String>);
    let checks: [Check; 5] = [
        (
            "tasks_reach_every_serving_host",
            tasks_reach_every_serving_host,
        ),
        (
            "the_tutorial_job_and_tiny_tasks",
            the_tutorial_job_and_tiny_tasks,
        ),
        (
            "a_shared_array_is_read_on_other_hosts",
            a_shared_array_is_read_on_other_hosts,
        ),
        (
            "a_typed_error_comes_back_as_itself",
            a_typed_error_comes_back_as_itself,
        ),
        (
            "a_timeout_names_the_rank_and_its_host",
            a_timeout_names_the_rank_and_its_host,
        ),
    ];
    say(&format!(
        "running {} cluster checks from {} on {} serving ranks",
        checks.len(),
        host(),
        ranks()
    ));
    let mut failed = 0;
    for (name, check) in checks {
        match check() {
            Ok(()) => say(&format!("test {name} ... ok")),
            Err(why) => {
                failed += 1;
                say(&format!("test {name} ... FAILED\n    {why}"));
            }
        }
    }
    say(&format!(
        "test result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        checks.len() - failed
    ));
    i32::from(failed > 0)
}

fn resume() -> i32 {
    say("started");
    let done = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1))
        .map(square_and_outcome, 0..120_u64);
    match done {
        Ok(results) => {
            let right = results
                .iter()
                .enumerate()
                .all(|(x, (square, _))| *square == (x * x) as u64);
            let hits = results.iter().filter(|(_, hit)| *hit).count();
            say(&format!("hits {hits} misses {}", results.len() - hits));
            i32::from(!right)
        }
        Err(error) => {
            say(&format!("failed: {error}"));
            1
        }
    }
}

fn cut() -> i32 {
    let started = Instant::now();
    say("started");
    let run = Parallel::new()
        .backend(Backend::Mpi)
        .batch_size(BatchSize::Fixed(1))
        .timeout(Duration::from_secs(3))
        .map(sleeps_ms, vec![1000; 40]);
    let elapsed = started.elapsed().as_secs_f64();
    match run {
        Err(error) => say(&format!("error after {elapsed:.1} s: {error}")),
        Ok(_) => say(&format!("no error after {elapsed:.1} s")),
    }
    // The job cannot end cleanly with a host cut off: the script ends it.
    0
}

fn main() {
    parmemo::parallel::init();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let status = match arguments.first().map(String::as_str) {
        Some("resume") => resume(),
        Some("cut") => cut(),
        _ => checks(),
    };
    std::process::exit(status);
}
